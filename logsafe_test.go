package minsheng

import (
	"fmt"
	"strings"
	"testing"
)

func TestLogReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kafka: message of 1193155 bytes is over batch_bytes 1048576", "kafka: message of 1193155 bytes is over batch_bytes 1048576"},
		{`unrecognised time "not-a-time-13812340001"`, `unrecognised time "…"`},
		{`field title ("subject") gives "subject" twice`, `field title ("…") gives "…" twice`},
		{fmt.Sprintf("body starts with %q, not JSON", `say "hi" 张三 \ 138`), `body starts with "…", not JSON`},
		{`unterminated "13800001111 张三`, `unterminated "…"`},
		{`""`, `"…"`},
		{"", ""},
	} {
		if got := LogReason(tc.in); got != tc.want {
			t.Errorf("LogReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzLogReason: whatever a reason quotes with %q never reaches the log.
func FuzzLogReason(f *testing.F) {
	f.Add("unrecognised time", "13812340001")
	f.Add(`a "b`, `c\"d`)
	f.Fuzz(func(t *testing.T, prefix, secret string) {
		if strings.ContainsRune(prefix, '"') || secret == "" {
			t.Skip()
		}
		out := LogReason(fmt.Sprintf("%s %q", prefix, secret))
		if want := prefix + ` "…"`; out != want {
			t.Fatalf("LogReason = %q, want %q", out, want)
		}
	})
}
