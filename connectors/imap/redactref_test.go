package imap

import (
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// TestRedactedRefAnyMessageID: a copy with the identity withheld keeps
// no part of a mail's Message-ID in ref, only the mail's content hash, as
// a mail without a Message-ID has it: also a Message-ID with no '@' in
// the part the ref keeps (none at all, as some in-house mail systems
// write them, naming their host; or one longer than the ref keeps, cut
// before its '@').
func TestRedactedRefAnyMessageID(t *testing.T) {
	for _, c := range []struct{ name, id, secret string }{
		{"with @", "20261122093000.GA1234@jiwei-pc.xx-bureau.gov.cn", "xx-bureau"},
		{"no @", "20261122093000.GA1234.jiwei-pc.xx-bureau.gov.cn", "xx-bureau"},
		{"cut before its @", "zhangsan.xx-bureau." + strings.Repeat("7", 190) + "@mail.xx-bureau.gov.cn", "zhangsan"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustParse(t, []byte("Message-ID: <"+c.id+">\r\nFrom: <a@example.cn>\r\nSubject: test\r\n\r\n路灯坏了\r\n"))
			it := &minsheng.Item{Ref: m.Ref()}
			if !strings.Contains(it.Ref, c.secret) {
				t.Fatalf("ref %q does not hold the Message-ID", it.Ref)
			}
			if got, want := it.Redacted().Ref, "sha256:"+m.Hash[:24]; got != want {
				t.Errorf("redacted ref %q, want %q", got, want)
			}
			if !it.Identifying() {
				t.Error("an item whose ref holds a Message-ID is not Identifying")
			}
		})
	}
}
