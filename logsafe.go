package minsheng

import "strings"

// LogReason returns a quarantine or dead-letter reason fit for a log line.
// Reasons quote the input they refuse (`unrecognised time "…"`, `body
// starts with "…"`) so that staff reading the quarantined item see what
// was wrong; a log line must not carry a complainant's words or number, so
// each double-quoted span, as %q writes it (escaped quotes included), is
// replaced by "…". The stored reason is left whole. An unterminated quote
// hides the rest of the reason.
func LogReason(reason string) string {
	if !strings.Contains(reason, `"`) {
		return reason
	}
	var b strings.Builder
	b.Grow(len(reason))
	for {
		i := strings.IndexByte(reason, '"')
		if i < 0 {
			b.WriteString(reason)
			return b.String()
		}
		b.WriteString(reason[:i])
		b.WriteString(`"…"`)
		reason = reason[i+1:]
		end := closingQuote(reason)
		if end < 0 {
			return b.String()
		}
		reason = reason[end+1:]
	}
}

// closingQuote returns the index in s of the double quote that ends a
// quoted span opened just before s, skipping backslash escapes, or -1.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
