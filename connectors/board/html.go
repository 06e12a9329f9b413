package board

import "github.com/minsheng/minsheng/connectors/internal/htmltext"

// htmlText reduces an HTML fragment to plain text (see htmltext.Text).
func htmlText(s string) string { return htmltext.Text(s) }
