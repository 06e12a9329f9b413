package imap

import (
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// A national standard puts its most used characters first: GB2312's first
// level (rows 16–55, 3,755 hanzi) and Big5's first level (lead bytes
// A4–C6, 5,401). Text in Chinese is nearly all of them; the characters
// that bytes of another encoding happen to spell are mostly not. So when
// one run of bytes reads cleanly two ways (valid UTF-8 that also pairs
// into GB18030 characters: 你好 is E4 BD A0 E5 A5 BD, which reads as
// 浣犲ソ), the reading with more of them is the text.

// commonSet is the set of one standard's common characters and its
// punctuation rows.
type commonSet struct {
	once sync.Once
	set  map[rune]bool
	// leads are the lead bytes of its common characters and punctuation,
	// trails the trail bytes; build decodes each pair with enc.
	leads  [][2]byte
	trails [][2]byte
	enc    encoding.Encoding
}

func (c *commonSet) build() {
	c.set = make(map[rune]bool, 6000)
	dec := c.enc.NewDecoder()
	for _, l := range c.leads {
		for lead := int(l[0]); lead <= int(l[1]); lead++ {
			for _, t := range c.trails {
				for trail := int(t[0]); trail <= int(t[1]); trail++ {
					out, err := dec.Bytes([]byte{byte(lead), byte(trail)})
					if r, n := utf8.DecodeRune(out); err == nil && n == len(out) && r != utf8.RuneError && r >= 0x80 {
						c.set[r] = true
					}
				}
			}
		}
	}
}

var (
	// GB2312: row 1 (A1, punctuation), row 3 (A3, full-width ASCII), rows
	// 16–55 (B0–D7, the first level).
	commonGB = &commonSet{leads: [][2]byte{{0xA1, 0xA1}, {0xA3, 0xA3}, {0xB0, 0xD7}},
		trails: [][2]byte{{0xA1, 0xFE}}, enc: simplifiedchinese.GBK}
	// Big5: A1–A3 (punctuation and symbols), A4–C6 (the first level).
	commonBig5 = &commonSet{leads: [][2]byte{{0xA1, 0xA3}, {0xA4, 0xC6}},
		trails: [][2]byte{{0x40, 0x7E}, {0xA1, 0xFE}}, enc: traditionalchinese.Big5}
)

// commonShare is the share of s's characters outside ASCII that are in c:
// 0 when s has none.
func (c *commonSet) commonShare(s string) float64 {
	c.once.Do(c.build)
	var n, in int
	for _, r := range s {
		if r < 0x80 {
			continue
		}
		n++
		if c.set[r] {
			in++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(in) / float64(n)
}
