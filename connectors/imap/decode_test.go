package imap

// Decoding of bodies and headers as mail arrives in practice: mislabelled
// charsets, broken MIME structure, lenient transfer encodings. Cases first
// written for the 2026 decoding audit (findings F1–F13).

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

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
		{"alternative with a blank plain part: the html", "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX",
			[]byte("--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n \r\n\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>只有HTML里有内容</p>\r\n--XX--\r\n"), "只有HTML里有内容", "", ""},
		{"mixed: text, inline image, text (Apple Mail)", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"",
			[]byte("--M\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n第一段：路灯坏了。\r\n--M\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--M\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n第二段：联系电话在此。\r\n--M--\r\n"),
			"第一段：路灯坏了。\n第二段：联系电话在此。", "", ""},
		{"alternative inside mixed, then a second text part", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"",
			cat([]byte("--M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n纯文本\r\n--A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n另一种写法\r\n--A--\r\n--M\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--M--\r\n")),
			"纯文本\n小区门口道路塌陷", "另一种写法", ""},
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

		// F1: UTF-7 (RFC 2152); a malformed one is kept as sent, noted.
		{"utf-7 body", "Content-Type: text/plain; charset=utf-7", []byte("+Ti1lhw-\r\n"), "中文", "+Ti1lhw-", ""},
		{"malformed utf-7 body", "Content-Type: text/plain; charset=utf-7", []byte("1 + 1\r\n"), "1 + 1", "", noteUnknownCharset},

		// F5: a mail that only forwards another one has that one's text.
		{"nested message/rfc822 only", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"O\"",
			cat([]byte("--O\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.cn\r\nSubject: =?gbk?B?"+b64(enc(t, simplifiedchinese.GBK, "路面塌陷"))+"?=\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--O--\r\n")),
			"Subject: 路面塌陷\n\n小区门口道路塌陷，张喆反映。", "", noteForwarded},
		{"top-level message/rfc822, inner html", "MIME-Version: 1.0\r\nContent-Type: message/rfc822",
			cat([]byte("From: x@y.cn\r\nContent-Type: text/html; charset=big5\r\n\r\n<p>"), b5, []byte("</p>\r\n")), "市長您好", "Subject:", noteForwarded},
		{"forwarded twice", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"O\"",
			cat([]byte("--O\r\nContent-Type: message/rfc822\r\n\r\nSubject: a\r\nContent-Type: message/rfc822\r\n\r\nSubject: b\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--O--\r\n")),
			"张喆反映", "", noteForwarded},
		{"own text and a forwarded message: own text", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"O\"",
			cat([]byte("--O\r\nContent-Type: message/rfc822\r\n\r\nSubject: fwd\r\n\r\ninner text\r\n--O\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--O--\r\n")),
			"张喆反映", "inner text", ""},

		// F6: a Content-Type with its ';' left out keeps its charset.
		{"text/plain charset missing semicolon", "Content-Type: text/plain charset=big5", b5, "市長您好", "", ""},

		// A header block over maxHeaderSize (spam filters and relays
		// stacking fields): the body is still read, and the MIME fields
		// past the cut still say what it is.
		{"header block over the limit, MIME fields last", strings.Repeat("Received: from relay.example.cn by mx.example.cn; Tue, 5 Mar 2024 09:30:00 +0800\r\n", 4000) +
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"",
			cat([]byte("--M\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"), gbk, []byte("\r\n--M--\r\n")), "张喆反映", "--M", noteHeaderCut},
		{"one header field over the limit", "To: " + strings.Repeat("someone@example.cn, ", 15000) + "\r\nContent-Type: text/plain; charset=gbk",
			gbk, "张喆反映", "", noteHeaderCut},
		{"one field folded past every bound", "X-Folded: a\r\n" + strings.Repeat(" bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", 4000) + "Content-Type: text/plain; charset=gbk",
			gbk, "张喆反映", "", noteHeaderCut},

		// F7: base64 padded line by line.
		{"base64 per-line padded", "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64",
			[]byte(b64(gbk[:10]) + "\r\n" + b64(gbk[10:]) + "\r\n"), "小区门口道路塌陷，张喆反映。", "", ""},
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
		// Short UTF-8 that happens to read cleanly as GB18030 (every byte
		// pair a GB character): the reading with more common characters
		// wins, and the label a tie.
		{"short UTF-8 that is also clean GB18030", "gb2312", []byte("你好"), "你好", noteUTF8Mislabelled},
		{"short UTF-8 subject also clean GB18030", "gbk", []byte("路灯坏了"), "路灯坏了", noteUTF8Mislabelled},
		{"short Big5 label on UTF-8 that reads as Big5", "big5", []byte("你好"), "你好", noteUTF8Mislabelled},
		// GB2312 and Big5 whose bytes are also valid UTF-8 (谢谢 is D0 BB
		// D0 BB, л twice; 纂罌 is C4 A1 C4 A2, ġĢ): the trec06c mails hold
		// 169 such lines, and every one stays GB.
		{"GB2312 that is also valid UTF-8 stays GB", "gb2312", enc(t, simplifiedchinese.GBK, "谢谢"), "谢谢", ""},
		{"GB2312 and ASCII, also valid UTF-8", "gb2312", enc(t, simplifiedchinese.GBK, "职位: 小学"), "职位: 小学", ""},
		{"Big5 that is also valid UTF-8 stays Big5", "big5", enc(t, traditionalchinese.Big5, "纂罌"), "纂罌", ""},
		// GBK under a Big5 label: read as Big5 it is rare characters
		// (紾噷價…) and often U+FFFD (GBK trail bytes 80–A0 are not Big5);
		// as GB18030 it reads cleanly into more common characters.
		{"GBK under big5", "big5", enc(t, simplifiedchinese.GBK, "朱镕基路的路灯坏了"), "朱镕基路的路灯坏了", noteGBUnderBig5("big5")},
		{"GBK under cp950", "cp950", gb, text, noteGBUnderBig5("cp950")},
		{"GBK traditional text under big5", "big5", enc(t, simplifiedchinese.GBK, "颱風過後路樹倒塌"), "颱風過後路樹倒塌", noteGBUnderBig5("big5")},
		{"GBK under big5, U+FFFD as Big5, a tie", "big5", enc(t, simplifiedchinese.GBK, "鄰里長"), "鄰里長", noteGBUnderBig5("big5")},
		// Real Big5 stays Big5: it mostly does not read cleanly as GB18030,
		// and when it does (short text), it has no more GB2312 common
		// characters than Big5 ones, and the label wins a tie.
		{"Big5 letter under big5", "big5", enc(t, traditionalchinese.Big5, "敬啟者：本人住在中山路三段，附近的排水溝堵塞已久，下雨時積水嚴重，懇請市府派員處理。"), "敬啟者：本人住在中山路三段，附近的排水溝堵塞已久，下雨時積水嚴重，懇請市府派員處理。", ""},
		{"short Big5 that reads cleanly as GB18030", "big5", enc(t, traditionalchinese.Big5, "謝謝"), "謝謝", ""},
		{"Big5 that reads cleanly as GB18030, fewer common", "big5", enc(t, traditionalchinese.Big5, "交通號誌故障"), "交通號誌故障", ""},
		{"short GBK that reads as common Big5 stays Big5 (a tie)", "big5", enc(t, simplifiedchinese.GBK, "您好"), "蠟疑", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.Contains(c.name, "also valid UTF-8") && !utf8.Valid(c.in) {
				t.Fatalf("%x is not valid UTF-8: the case tests nothing", c.in)
			}
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

// TestBig5NamesStayBig5: a name or a short subject in real Big5 whose
// bytes also read cleanly as GB18030 into GB2312's common characters
// (翊, 婕, 晟 and 珈 are in Big5's second level, and their bytes spell
// GB2312 first-level characters) is read as the label says: two or three
// characters are too few to overrule it. The complainant's name came out
// as another (陳翊翰 as 朝嘱揩) with a note saying it was GBK.
func TestBig5NamesStayBig5(t *testing.T) {
	for _, name := range []string{"陳翊翰", "黃婕", "蔡晟碩", "林珈瑩", "翊"} {
		b5 := enc(t, traditionalchinese.Big5, name)
		if got, note := decodeText(b5, "big5"); got != name || note != "" {
			t.Errorf("decodeText(%x, big5) = %q, note %q; want %q, no note", b5, got, note, name)
		}
		raw := "Message-ID: <b5@example.tw>\r\nFrom: =?big5?B?" + b64(b5) + "?= <citizen@example.tw>\r\nSubject: =?big5?B?" + b64(b5) + "?=\r\n\r\nhello\r\n"
		m := mustParse(t, []byte(raw))
		if m.FromName != name || m.Subject != name || len(m.Notes) != 0 {
			t.Errorf("From and Subject %s in Big5: name %q, subject %q, notes %q; want %q and no note", name, m.FromName, m.Subject, m.Notes, name)
		}
	}
}

// TestParseSubjects: RFC 2047 subjects as mailers write them.
func TestParseSubjects(t *testing.T) {
	gb := enc(t, simplifiedchinese.GBK, "中文")        // d6 d0 ce c4
	gbk := enc(t, simplifiedchinese.GBK, "张喆反映堃")    // GBK-only characters
	gb18 := enc(t, simplifiedchinese.GB18030, "𠀀市长") // 4-byte GB18030
	b5 := enc(t, traditionalchinese.Big5, "市長信箱")
	cases := []struct {
		name, subj, want string
	}{
		{"B split mid-char", "=?gb2312?B?" + b64(gb[:3]) + "?= =?gb2312?B?" + b64(gb[3:]) + "?=", "中文"},
		{"Q split mid-char", "=?gb2312?Q?" + qword(gb[:1]) + "?=\r\n =?gb2312?Q?" + qword(gb[1:]) + "?=", "中文"},
		{"B split, labels differ in case", "=?GB2312?B?" + b64(gb[:3]) + "?= =?gb2312?B?" + b64(gb[3:]) + "?=", "中文"},
		{"GBK chars under gb2312", "=?gb2312?B?" + b64(gbk) + "?=", "张喆反映堃"},
		{"GB18030 4-byte under gb2312", "=?gb2312?B?" + b64(gb18) + "?=", "𠀀市长"},
		{"x-gbk", "=?x-gbk?B?" + b64(gbk) + "?=", "张喆反映堃"},
		{"cp936", "=?cp936?B?" + b64(gbk) + "?=", "张喆反映堃"},
		{"CP936 upper", "=?CP936?B?" + b64(gbk) + "?=", "张喆反映堃"},
		{"windows-936", "=?windows-936?B?" + b64(gbk) + "?=", "张喆反映堃"},
		{"GB_2312-80", "=?GB_2312-80?B?" + b64(gb) + "?=", "中文"},
		{"csGB2312", "=?csGB2312?B?" + b64(gb) + "?=", "中文"},
		{"unknown charset, GBK bytes", "=?x-foo?B?" + b64(gbk) + "?=", "张喆反映堃"},
		{"big5", "=?big5?B?" + b64(b5) + "?=", "市長信箱"},
		{"x-x-big5 (Outlook)", "=?x-x-big5?B?" + b64(b5) + "?=", "市長信箱"},
		// F2: Big5 under aliases go-message does not know.
		{"big-5", "=?big-5?B?" + b64(b5) + "?=", "市長信箱"},
		{"windows-950", "=?windows-950?B?" + b64(b5) + "?=", "市長信箱"},
		{"Windows-950", "=?Windows-950?B?" + b64(b5) + "?=", "市長信箱"},
		{"ms950", "=?ms950?B?" + b64(b5) + "?=", "市長信箱"},
		{"x-big5", "=?x-big5?B?" + b64(b5) + "?=", "市長信箱"},
		{"cp950", "=?CP950?B?" + b64(b5) + "?=", "市長信箱"},
		{"utf-7", "=?utf-7?Q?+Ti1lhw-?=", "中文"},
		{"unicode-1-1-utf-7", "=?unicode-1-1-utf-7?Q?+Ti1lhw-?=", "中文"},
		{"word then text keeps space", "=?gb2312?B?" + b64(gb) + "?= abc", "中文 abc"},
		{"text then word keeps space", "abc =?gb2312?B?" + b64(gb) + "?=", "abc 中文"},
		{"two charsets adjacent", "=?gb2312?B?" + b64(gb) + "?= =?big5?B?" + b64(b5) + "?=", "中文市長信箱"},
		{"language tag", "=?gb2312*zh-cn?B?" + b64(gb) + "?=", "中文"},
		{"word in quotes", "\"=?gb2312?B?" + b64(gb) + "?=\"", "\"中文\""},
		{"raw utf-8", "中文", "中文"},
		{"raw gbk", string(gbk), "张喆反映堃"},
		{"Q with underscore", "=?gb2312?Q?" + qword(gb[:2]) + "_" + qword(gb[2:]) + "?=", "中 文"},
		{"lowercase hex in Q", "=?gb2312?Q?" + strings.ToLower(qword(gb)) + "?=", "中文"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, mailWith("Subject: "+c.subj, []byte("x\r\n")))
			if m.Subject != c.want {
				t.Errorf("subject %q (raw %q); want %q; notes %v", m.Subject, c.subj, c.want, m.Notes)
			}
		})
	}
}

// TestParseFromNames: From display names.
func TestParseFromNames(t *testing.T) {
	gb := enc(t, simplifiedchinese.GBK, "张三")
	cases := []struct{ name, from, wantName, wantEmail string }{
		{"encoded name", "=?gb2312?B?" + b64(gb) + "?= <zs@example.cn>", "张三", "zs@example.cn"},
		{"quoted encoded name", "\"=?gb2312?B?" + b64(gb) + "?=\" <zs@example.cn>", "张三", "zs@example.cn"},
		{"comment form", "zs@example.cn (=?gb2312?B?" + b64(gb) + "?=)", "张三", "zs@example.cn"},
		{"raw gbk quoted", "\"" + string(gb) + "\" <zs@example.cn>", "张三", "zs@example.cn"},
		{"bare address", "zs@example.cn", "", "zs@example.cn"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := []byte("Message-ID: <a@b.cn>\r\nFrom: " + c.from + "\r\nSubject: s\r\n\r\nx\r\n")
			m := mustParse(t, raw)
			if m.FromName != c.wantName || m.FromEmail != c.wantEmail {
				t.Errorf("from %q %q; want %q %q", m.FromName, m.FromEmail, c.wantName, c.wantEmail)
			}
		})
	}
}

// TestParseFilenames: attachment names, RFC 2231 and RFC 2047.
func TestParseFilenames(t *testing.T) {
	gbk := enc(t, simplifiedchinese.GBK, "现场照片喆.pdf")
	pct := func(b []byte) string {
		var sb strings.Builder
		for _, c := range b {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
		return sb.String()
	}
	cases := []struct{ name, disp, ctype, want string }{
		{"2231 gbk", "attachment; filename*=gbk''" + pct(gbk), "application/pdf", "现场照片喆.pdf"},
		{"2231 gb2312 w/ lang", "attachment; filename*=gb2312'zh-cn'" + pct(gbk), "application/pdf", "现场照片喆.pdf"},
		{"2231 continuation", "attachment; filename*0*=gbk''" + pct(gbk[:5]) + "; filename*1*=" + pct(gbk[5:]), "application/pdf", "现场照片喆.pdf"},
		{"2231 continuation quoted plain 2nd", "attachment; filename*0*=gbk''" + pct(gbk[:8]) + "; filename*1=\".pdf\"", "application/pdf", "现场照片.pdf"},
		{"2047 quoted", "attachment; filename=\"=?gbk?B?" + b64(gbk) + "?=\"", "application/pdf", "现场照片喆.pdf"},
		{"2047 in ct name only", "", "application/pdf; name=\"=?gb2312?B?" + b64(gbk) + "?=\"", "现场照片喆.pdf"},
		{"2047 split words quoted", "attachment; filename=\"=?gbk?B?" + b64(gbk[:7]) + "?= =?gbk?B?" + b64(gbk[7:]) + "?=\"", "application/pdf", "现场照片喆.pdf"},
		{"raw gbk quoted", "attachment; filename=\"" + string(gbk) + "\"", "application/pdf", "现场照片喆.pdf"},
		{"2231 utf-8", "attachment; filename*=UTF-8''%E7%8E%B0%E5%9C%BA.pdf", "application/pdf", "现场.pdf"},
		{"both plain and 2231 (2231 wins)", "attachment; filename=\"x.pdf\"; filename*=gbk''" + pct(gbk), "application/pdf", "现场照片喆.pdf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n正文\r\n--B\r\nContent-Type: " + c.ctype + "\r\n"
			if c.disp != "" {
				body += "Content-Disposition: " + c.disp + "\r\n"
			}
			body += "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--B--\r\n"
			m := mustParse(t, mailWith("Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"", []byte(body)))
			if len(m.Attachments) != 1 || m.Attachments[0].Name != c.want {
				var names []string
				for _, a := range m.Attachments {
					names = append(names, a.Name)
				}
				t.Errorf("attachments %q; want [%q]", names, c.want)
			}
		})
	}
}

// F5: the forwarded message stays an attachment, and its own attachments
// do not become the outer mail's.
func TestParseForwardedKeepsAttachment(t *testing.T) {
	inner := "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n--I\r\nContent-Type: text/plain\r\n\r\nthe complaint\r\n--I\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=a.png\r\n\r\npng\r\n--I--\r\n"
	m := mustParse(t, mailWith("Subject: s\r\nContent-Type: multipart/mixed; boundary=O", []byte("--O\r\nContent-Type: message/rfc822\r\n\r\n"+inner+"--O--\r\n")))
	if m.Text != "Subject: fwd\n\nthe complaint" || len(m.Attachments) != 1 || m.Attachments[0].Type != "message/rfc822" {
		t.Errorf("text %q, attachments %+v, notes %q", m.Text, m.Attachments, m.Notes)
	}
}

func TestMediaType(t *testing.T) {
	for _, c := range []struct {
		in, typ string
		params  map[string]string
	}{
		{`text/plain; charset="gb2312"`, "text/plain", map[string]string{"charset": "gb2312"}},
		{`TEXT/PLAIN;charset=big5;format=flowed`, "text/plain", map[string]string{"charset": "big5", "format": "flowed"}},
		// F6: the ';' left out.
		{`text/plain charset=big5`, "text/plain", map[string]string{"charset": "big5"}},
		{"text/html\tcharset=\"gbk\"", "text/html", map[string]string{"charset": "gbk"}},
		{`text/plain, charset=big5`, "text/plain", map[string]string{"charset": "big5"}},
		{`text/plain charset=big5 format=flowed; delsp=yes`, "text/plain", map[string]string{"charset": "big5", "format": "flowed", "delsp": "yes"}},
		{`charset=big5`, "", map[string]string{}},
		{`attachment; filename="a b.pdf"`, "attachment", map[string]string{"filename": "a b.pdf"}},
		{``, "", map[string]string{}},
	} {
		typ, params := mediaType(c.in)
		if typ != c.typ || fmt.Sprint(params) != fmt.Sprint(c.params) {
			t.Errorf("mediaType(%q) = %q %v; want %q %v", c.in, typ, params, c.typ, c.params)
		}
	}
}

func TestLenientBase64(t *testing.T) {
	for in, want := range map[string]string{
		"YWJj":                 "abc",
		"YWJjZA==":             "abcd",
		"YWJjZA":               "abcd", // padding missing
		"YW Jj\r\nZA=":         "abcd",
		"YWJjZA===":            "abcd", // padding to spare
		"YQ==\r\nYg==\r\nYw==": "abc",  // F7: every line padded
		"YWI=\nYw==":           "abc",
		"YQ==Yg==":             "ab",
		"YWJj=ZA==":            "abcd", // '=' after a full group is stray
		"YWJjZ":                "abc",  // a lone sixth of a byte is dropped
		"Y*W!J%j":              "abc",
		"":                     "",
	} {
		if got := string(lenientBase64(in)); got != want {
			t.Errorf("lenientBase64(%q) = %q, want %q", in, got, want)
		}
	}
}

// F8: a part over maxPartBytes is cut, and the cut is noted with both sizes.
func TestParseHugePartCut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 65 MiB mail")
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (65<<20)/16) // 65 MiB, 7bit
	var raw bytes.Buffer
	raw.WriteString("Message-ID: <big@x.cn>\r\nFrom: a@b.cn\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"Q\"\r\n\r\n")
	raw.WriteString("--Q\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--Q\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\nContent-Transfer-Encoding: binary\r\n\r\n")
	raw.Write(data)
	raw.WriteString("\r\n--Q--\r\n")
	m := mustParse(t, raw.Bytes())
	if len(m.Attachments) != 1 || m.Attachments[0].Size != maxPartBytes || m.Text != "see attachment" {
		t.Fatalf("text %q, %d attachments, notes %q", m.Text, len(m.Attachments), m.Notes)
	}
	want := fmt.Sprintf("a part of %d bytes (as sent) was cut to its first %d; the whole is in the raw message", len(data), maxPartBytes)
	if len(m.Notes) != 1 || m.Notes[0] != want {
		t.Errorf("notes %q; want [%q]", m.Notes, want)
	}
}

// TestMultipartWithoutBoundary: a multipart whose Content-Type names no
// boundary. When its body plainly holds MIME parts (a line --X followed by
// Content-* fields) the boundary is taken from there; otherwise the body is
// read as text. Either way a note says so.
func TestMultipartWithoutBoundary(t *testing.T) {
	const (
		recovered = "multipart with no boundary parameter; boundary taken from the body's first part delimiter"
		asText    = "multipart with no boundary parameter; read the whole as text"
	)
	parts := "--x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n路灯坏了，请修理。\r\n" +
		"--x\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--x--\r\n"
	for _, c := range []struct {
		name, ct, body string
		text           string
		attachments    int
		note           string
	}{
		{"parts with delimiters", "multipart/mixed", parts, "路灯坏了，请修理。", 1, recovered},
		{"preamble before the first part", "multipart/mixed", "This is a multi-part message in MIME format.\r\n\r\n" + parts, "路灯坏了，请修理。", 1, recovered},
		{"parameters but no boundary", "multipart/alternative; charset=utf-8", strings.ReplaceAll(parts, "--x", "--=_Part_1"), "路灯坏了，请修理。", 1, recovered},
		// Text before the first delimiter, with the boundary left out, is
		// as likely the letter itself: kept before the parts' text (it was
		// dropped as a preamble, and the letter with it).
		{"the letter before the first part", "multipart/mixed", "市长您好，我家楼下的下水道堵了三个月。\r\n\r\n" + parts, "市长您好，我家楼下的下水道堵了三个月。\n路灯坏了，请修理。", 1, recovered},
		{"the letter in GBK before the first part", "multipart/mixed; charset=gbk", string(enc(t, simplifiedchinese.GBK, "下水道堵了。")) + "\r\n" + parts, "下水道堵了。\n路灯坏了，请修理。", 1, recovered},
		// Nor does it take the place of the text the parts have when they
		// have no text/plain: an HTML part's, a forwarded mail's.
		{"the letter before an HTML part", "multipart/alternative", "市长您好：\r\n" + strings.Replace(parts, "text/plain", "text/html", 1), "市长您好：\n路灯坏了，请修理。", 1, recovered},
		{"a note before a forwarded mail", "multipart/mixed", "转给市长信箱。\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: fw\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n东门路灯坏了，请修理。\r\n--x--\r\n", "转给市长信箱。\nSubject: fw\n\n东门路灯坏了，请修理。", 1, recovered},
		{"no delimiter: read as text", "multipart/mixed", "路灯坏了，请修理。\r\n", "路灯坏了，请修理。", 0, asText},
		{"a dash line not followed by part headers", "multipart/mixed", "路灯坏了。\r\n--\r\n张三\r\n----------\r\nFrom: 李四\r\n", "路灯坏了。\n--\n张三\n----------\nFrom: 李四", 0, asText},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, mailWith("Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: "+c.ct, []byte(c.body)))
			if strings.TrimSpace(m.Text) != c.text || len(m.Attachments) != c.attachments {
				t.Errorf("text %q, %d attachments; want %q, %d", m.Text, len(m.Attachments), c.text, c.attachments)
			}
			if !slices.Contains(m.Notes, c.note) {
				t.Errorf("notes %q; want %q", m.Notes, c.note)
			}
		})
	}
}
