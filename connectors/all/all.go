// Package all imports every connector so that each registers itself.
// cmd/minsheng imports it; add a line here for a new connector.
package all

import (
	_ "github.com/minsheng/minsheng/connectors/board"
	_ "github.com/minsheng/minsheng/connectors/hotline"
	_ "github.com/minsheng/minsheng/connectors/imap"
)
