package imap

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/internal/textenc"
)

// TestControlCharactersReplaced: a control character no item's text may
// hold (the desk refuses it with 400) comes out of Parse as U+FFFD, with
// a note naming the field; the subject and text keep vertical tab and
// form feed, as a desk's title and body may.
func TestControlCharactersReplaced(t *testing.T) {
	u := func(s string) string { return "=?UTF-8?B?" + b64([]byte(s)) + "?=" }
	cases := []struct {
		name      string
		raw       []byte
		check     func(m *Message) string // what is wrong, or ""
		wantNoted string
	}{
		{"NUL in an encoded-word subject", mailWith("Subject: "+u("路灯\x00坏了"), []byte("请修理。\r\n")),
			func(m *Message) string { return want(m.Subject, "路灯\uFFFD坏了") }, "subject 1 control character (U+0000)"},
		{"ESC in an encoded-word subject", mailWith("Subject: "+u("\x1b[2J投诉"), []byte("请修理。\r\n")),
			func(m *Message) string { return want(m.Subject, "\uFFFD[2J投诉") }, "subject 1 control character (U+001B)"},
		{"form feed in the subject is kept", mailWith("Subject: "+u("第一页\f第二页"), []byte("请修理。\r\n")),
			func(m *Message) string { return want(m.Subject, "第一页\f第二页") }, ""},
		{"NUL in the From name", []byte("Message-ID: <n@example.cn>\r\nFrom: " + u("张\x00三") + " <zs@example.cn>\r\nSubject: s\r\n\r\nx\r\n"),
			func(m *Message) string { return want(m.FromName, "张\uFFFD三") }, "From name 1 control character (U+0000)"},
		{"vertical tab in the From name", []byte("Message-ID: <n@example.cn>\r\nFrom: " + u("张\v三") + " <zs@example.cn>\r\nSubject: s\r\n\r\nx\r\n"),
			func(m *Message) string { return want(m.FromName, "张\uFFFD三") }, "From name 1 control character (U+000B)"},
		{"NUL and ESC in a base64 text part", mailWith("Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64", []byte(b64([]byte("路灯\x00坏了\x1b[0m\f下一页\x7f"))+"\r\n")),
			func(m *Message) string { return want(m.Body, "路灯\uFFFD坏了\uFFFD[0m\f下一页\uFFFD") }, "text 3 control characters (U+0000, U+001B, U+007F)"},
		{"escape an ISO-2022-CN decoder could not read", mailWith("Subject: s\r\nContent-Type: text/plain; charset=iso-2022-cn", []byte("\x1b$+M\x1bO!!\r\n")),
			func(m *Message) string {
				if strings.Contains(m.Text, "\x1b") {
					return "text holds ESC: " + m.Text
				}
				return ""
			}, "control character"},
		{"NUL in an attachment name (made safe as before)", mailWith("Subject: s\r\nContent-Type: multipart/mixed; boundary=b", []byte("--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\""+u("照片\x00.pdf")+"\"\r\n\r\n%PDF\r\n--b--\r\n")),
			func(m *Message) string {
				if len(m.Attachments) != 1 {
					return "no attachment"
				}
				return want(m.Attachments[0].Name, "照片_.pdf")
			}, ""},
		{"control character in the Message-ID", []byte("Message-ID: <a\x01b@example.cn>\r\nFrom: <a@example.cn>\r\nSubject: s\r\n\r\nx\r\n"),
			func(m *Message) string {
				if m.MessageID != "" || !strings.HasPrefix(m.Ref(), "sha256:") {
					return "message id " + m.MessageID + ", ref " + m.Ref()
				}
				return ""
			}, "Message-ID holds a control character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, c.raw)
			if bad := c.check(m); bad != "" {
				t.Errorf("%s; notes %q", bad, m.Notes)
			}
			for _, s := range []string{m.FromName, m.FromEmail, m.MessageID, m.Automated} {
				if i := textenc.ControlAt(s, false); i >= 0 {
					t.Errorf("%q holds a control character at %d", s, i)
				}
			}
			for _, s := range []string{m.Subject, m.Text, m.Body} {
				if i := textenc.ControlAt(s, true); i >= 0 {
					t.Errorf("%q holds a control character at %d", s, i)
				}
			}
			notes := strings.Join(m.Notes, "\n")
			if c.wantNoted == "" && strings.Contains(notes, "control character") || !strings.Contains(notes, c.wantNoted) {
				t.Errorf("notes %q; want one saying %q", m.Notes, c.wantNoted)
			}
		})
	}
}

func want(got, want string) string {
	if got != want {
		return fmt.Sprintf("got %q, want %q", got, want)
	}
	return ""
}

// TestControlCharactersMailbox: a mail read from the server whose subject,
// From name and text hold a NUL and an escape becomes an item without them,
// attrs.charset_notes saying so, and raw_ref keeps the mail as sent.
func TestControlCharactersMailbox(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	raw := []byte("Message-ID: <ctl@example.cn>\r\nFrom: =?UTF-8?B?" + b64([]byte("李\x1b[8m四")) + "?= <ls@example.cn>\r\n" +
		"Subject: =?UTF-8?B?" + b64([]byte("噪音\x00扰民")) + "?=\r\nDate: Tue, 5 Mar 2024 09:30:00 +0800\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n楼下\x1b[2J夜间施工。\r\n")
	appendMail(t, cl, "INBOX", raw)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	r := run(t, testConfig(srv.addr), st, em)
	waitFor(t, "checkpoint at UID 1", 10*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 1 })
	r.stop()
	em.Wait()
	items := em.Emitted()
	if len(items) != 1 {
		t.Fatalf("%d items, %d quarantined, %v invalid; want 1 item", len(items), len(em.Quarantined()), em.Invalid())
	}
	it := items[0]
	if it.Title != "噪音\uFFFD扰民" || it.Complainant.Name != "李\uFFFD[8m四" || it.Body != "楼下\uFFFD[2J夜间施工。" {
		t.Errorf("title %q, name %q, body %q", it.Title, it.Complainant.Name, it.Body)
	}
	if n := it.Attrs["charset_notes"]; !strings.Contains(n, "subject 1 control character (U+0000)") ||
		!strings.Contains(n, "From name 1 control character (U+001B)") || !strings.Contains(n, "text 1 control character (U+001B)") {
		t.Errorf("charset_notes %q", n)
	}
	if !bytes.Equal(blobBytes(t, st, it.RawRef), raw) {
		t.Errorf("raw blob differs from the mail")
	}
}
