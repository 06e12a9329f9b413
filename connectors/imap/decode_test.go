package imap

// Decoding of bodies and headers as mail arrives in practice: mislabelled
// charsets, broken MIME structure, lenient transfer encodings. Cases first
// written for the 2026 decoding audit (findings F1–F13).

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func enc(t testing.TB, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func qword(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "=%02X", c)
	}
	return sb.String()
}

func mailWith(hdr string, body []byte) []byte {
	h := "Message-ID: <audit@example.cn>\r\nFrom: <a@example.cn>\r\nDate: Tue, 5 Mar 2024 09:30:00 +0800\r\n" + hdr
	if !strings.HasSuffix(h, "\r\n") {
		h += "\r\n"
	}
	return append([]byte(h+"\r\n"), body...)
}

func mustParse(t *testing.T, raw []byte) *Message {
	t.Helper()
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestParseBodies: the text a body comes out as, and the note it leaves.
func TestParseBodies(t *testing.T) {
	gbk := enc(t, simplifiedchinese.GBK, "小区门口道路塌陷，张喆反映。")
	b5 := enc(t, traditionalchinese.Big5, "市長您好，路燈壞了。")
	for _, c := range []struct {
		name  string
		hdr   string
		body  []byte
		want  string // the text must contain it
		avoid string // the text must not contain it
		note  string // a note must contain it ("" = no note expected nor forbidden)
	}{
		{"8bit gbk no charset", "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit", gbk, "张喆反映", "", ""},
		{"8bit gbk no content-type", "", gbk, "张喆反映", "", ""},
		{"gbk under gb2312 base64", "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64", []byte(b64(gbk)), "张喆反映", "", ""},
		{"base64 CTE upper/quoted", "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: \"BASE64\"", []byte(b64(gbk)), "张喆反映", "", ""},
		{"alternative html first, plain second", "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX",
			[]byte("--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML版本</p>\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n纯文本版本\r\n--XX--\r\n"), "纯文本版本", "", ""},
		{"missing close delimiter", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"AAAA\"",
			cat([]byte("--AAAA\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n")), "张喆反映", "", ""},
		{"boundary param case / quoting", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tBOUNDARY=\"=_Part_1\"",
			cat([]byte("--=_Part_1\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--=_Part_1--\r\n")), "张喆反映", "", ""},
		{"qp soft breaks mid gbk char", "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: quoted-printable",
			[]byte(qword(gbk[:5]) + "=\r\n" + qword(gbk[5:]) + "\r\n"), "张喆反映", "", ""},
		{"plain in mixed after inline image", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"",
			cat([]byte("--M\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--M\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--M--\r\n")), "张喆反映", "", ""},

		// F3: a boundary that matches nothing must not lose the text.
		{"wrong boundary", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"AAAA\"",
			cat([]byte("--BBBB\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--BBBB--\r\n")), "张喆反映", "", "no part matches its boundary"},
		{"multipart with no boundary lines at all", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"AAAA\"\r\nContent-Transfer-Encoding: 8bit",
			cat(gbk, []byte("\r\n")), "张喆反映", "", "no part matches its boundary"},
		{"only a close delimiter", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"AAAA\"",
			cat(gbk, []byte("\r\n--AAAA--\r\n")), "张喆反映", "", "no part matches its boundary"},
		{"nested multipart with a wrong boundary", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"O\"",
			cat([]byte("--O\r\nContent-Type: multipart/alternative; boundary=\"I\"\r\n\r\n--X\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--X--\r\n--O--\r\n")), "张喆反映", "", "no part matches its boundary"},

		// F4: an HTML part's <meta> charset is honoured when Content-Type
		// names none; with no label at all it is detected, with a note.
		{"html only, meta http-equiv big5", "Content-Type: text/html",
			cat([]byte(`<html><head><meta http-equiv="Content-Type" content="text/html; charset=big5"></head><body><p>`), b5, []byte("</p></body></html>")), "市長您好", "", ""},
		{"html only, meta charset=big5 (html5)", "Content-Type: text/html",
			cat([]byte(`<html><head><meta charset="big5"></head><body>`), b5, []byte("</body></html>")), "市長您好", "", ""},
		{"html only, meta gb2312 unquoted, upper case", "Content-Type: text/html",
			cat([]byte(`<HTML><HEAD><META HTTP-EQUIV=Content-Type CONTENT="text/html; CHARSET=GB2312"></HEAD><BODY>`), gbk, []byte("</BODY></HTML>")), "张喆反映", "", ""},
		{"html in alternative, meta big5", "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX",
			cat([]byte("--XX\r\nContent-Type: text/html\r\n\r\n<meta charset=big5><p>"), b5, []byte("</p>\r\n--XX--\r\n")), "市長您好", "", ""},
		{"html, Content-Type charset wins over meta", "Content-Type: text/html; charset=gbk",
			cat([]byte(`<meta charset="big5"><p>`), gbk, []byte("</p>")), "张喆反映", "", ""},
		{"html, meta after the first 2 KiB is not read", "Content-Type: text/html",
			cat([]byte("<html><head><style>"+strings.Repeat("p{}", 700)+`</style><meta charset="big5"></head><body>`), gbk, []byte("</body></html>")), "张喆反映", "", "no charset named"},
		{"html, no label at all, GBK bytes", "Content-Type: text/html",
			cat([]byte("<p>"), gbk, []byte("</p>")), "张喆反映", "", "no charset named"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, mailWith("Subject: s\r\n"+c.hdr, c.body))
			checkUTF8(t, m)
			if c.want != "" && !strings.Contains(m.Text, c.want) {
				t.Errorf("text %q; want it to contain %q; notes %v; attachments %d", m.Text, c.want, m.Notes, len(m.Attachments))
			}
			if c.avoid != "" && strings.Contains(m.Text, c.avoid) {
				t.Errorf("text %q contains %q", m.Text, c.avoid)
			}
			if c.note != "" && !strings.Contains(strings.Join(m.Notes, "|"), c.note) {
				t.Errorf("notes %q; want one containing %q", m.Notes, c.note)
			}
		})
	}
}

func TestMetaCharset(t *testing.T) {
	for in, want := range map[string]string{
		`<meta charset="big5">`:     "big5",
		`<meta charset='GB2312' />`: "GB2312",
		`<meta charset=gbk>`:        "gbk",
		`<META http-equiv="Content-Type" content="text/html; charset=gb2312">`: "gb2312",
		"<meta\n content='text/html;charset=x-gbk' http-equiv=content-type>":   "x-gbk",
		`<meta name="viewport" content="width=device-width">`:                  "",
		`<p>charset=big5</p>`: "",
		"":                    "",
		strings.Repeat(" ", metaScan) + `<meta charset="big5">`: "",
	} {
		if got := metaCharset([]byte(in)); got != want {
			t.Errorf("metaCharset(%.60q) = %q, want %q", in, got, want)
		}
	}
}

// decodeText on labels that do not fit the bytes.
func TestDecodeTextMislabelled(t *testing.T) {
	const text = "市长您好，我们小区的路灯坏了一个月了。"
	gb := enc(t, simplifiedchinese.GBK, text)
	b5 := enc(t, traditionalchinese.Big5, "市長您好，路燈壞了。")
	for _, c := range []struct {
		name, label string
		in          []byte
		want, note  string
	}{
		// F13: UTF-8 under a GB or Big5 label, which reads with U+FFFD.
		{"UTF-8 under gb2312", "gb2312", []byte(text), text, noteUTF8Mislabelled},
		{"UTF-8 under gbk", "GBK", []byte(text), text, noteUTF8Mislabelled},
		{"UTF-8 under big5", "big5", []byte("市長您好，路燈壞了。"), "市長您好，路燈壞了。", noteUTF8Mislabelled},
		{"GB2312 under gb2312", "gb2312", gb, text, ""},
		{"Big5 under big5", "big5", b5, "市長您好，路燈壞了。", ""},
		{"GB with a broken byte stays GB", "gb2312", cat(gb, []byte{0x81}), text + "\uFFFD", ""},
		// A known limit: short UTF-8 that happens to read cleanly as
		// GB18030 (every byte pair a GB character) is taken as GB18030.
		{"short UTF-8 that is also clean GB18030", "gb2312", []byte("你好"), "浣犲ソ", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, note := decodeText(c.in, c.label)
			if got != c.want || note != c.note {
				t.Errorf("decodeText(%q, %s) = %q, note %q; want %q, note %q", c.in, c.label, got, note, c.want, c.note)
			}
		})
	}
	// The same in a whole mail: subject and body.
	m := mustParse(t, mailWith("Subject: =?gb2312?B?"+b64([]byte("路灯坏了"))+"?=\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit", []byte(text+"\r\n")))
	if m.Text != text || m.Subject != "路灯坏了" || len(m.Notes) != 1 || m.Notes[0] != noteUTF8Mislabelled {
		t.Errorf("subject %q text %q notes %q; want %q / %q and the note", m.Subject, m.Text, m.Notes, "路灯坏了", text)
	}
}
