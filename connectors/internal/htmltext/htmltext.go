// Package htmltext reduces HTML to plain text for connectors whose sources
// send HTML (board feeds, HTML-only mail).
package htmltext

import (
	"strings"

	"golang.org/x/net/html"
)

// Text reduces an HTML fragment to plain text: tags dropped, entities
// decoded, block elements and <br> turned into line breaks, script and style
// removed, blank lines squeezed. Plain text passes through with its lines
// trimmed.
func Text(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return squeeze(s)
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return squeeze(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style":
				skip++
			case "br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote":
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style":
				if skip > 0 {
					skip--
				}
			case "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote":
				b.WriteByte('\n')
			}
		}
	}
}

// squeeze trims every line and drops empty ones.
func squeeze(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := lines[:0]
	for _, l := range lines {
		l = strings.TrimSpace(strings.ReplaceAll(l, "\u00a0", " "))
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
