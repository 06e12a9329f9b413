package imap

import (
	"bytes"
	"encoding/base64"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func init() {
	// Labels seen on Chinese mail that go-message does not know. GB2312 and
	// GBK are subsets of GB18030, so every simplified label decodes with
	// GB18030 (mail labelled gb2312 often holds GBK-only characters).
	// euc-tw has no decoder in golang.org/x/text; mail so labelled is in
	// practice Big5, which is what it is decoded as (see README).
	for _, l := range []string{"euc-cn", "x-euc-cn", "gb2312", "gbk", "x-gbk", "cp936", "gb_2312-80", "csgb2312", "chinese", "gb18030", "x-gb18030"} {
		charset.RegisterEncoding(l, simplifiedchinese.GB18030)
		commonByLabel[l] = commonGB
	}
	// For go-message and the IMAP client's word decoder; this package's own
	// decoding tries UTF-8 first for these (see decodeText).
	for _, l := range []string{"unknown-8bit", "x-unknown"} {
		charset.RegisterEncoding(l, simplifiedchinese.GB18030)
	}
	for _, l := range []string{"cp950", "x-cp950", "big5", "big-5", "big5-hkscs", "x-big5", "x-x-big5", "cn-big5", "csbig5", "windows-950", "x-windows-950", "ms950", "euc-tw", "x-euc-tw"} {
		charset.RegisterEncoding(l, traditionalchinese.Big5)
		commonByLabel[l] = commonBig5
	}
	for l, e := range sevenBit {
		charset.RegisterEncoding(l, e)
	}
}

// commonByLabel gives, for each label of a Chinese encoding, the set of its
// common characters (see common.go).
var commonByLabel = map[string]*commonSet{}

// sevenBit are the encodings whose bytes are all 7-bit: text in them looks
// like ASCII and must still be decoded. ISO-2022-JP is how Japanese mail
// is most often sent; HZ is an old 7-bit form of GB2312 (~{ … ~});
// ISO-2022-CN (GB2312 and CNS 11643) and ISO-2022-KR are the 7-bit forms
// of Chinese and Korean mail, decoded by iso2022; UTF-7 (RFC 2152) is
// decoded by utf7. The WHATWG index that golang.org/x/text follows maps HZ
// and the ISO-2022 forms to the replacement encoding and has no UTF-7, so
// registering these labels is what makes them readable.
var sevenBit = map[string]encoding.Encoding{
	"iso-2022-jp": japanese.ISO2022JP, "csiso2022jp": japanese.ISO2022JP,
	"hz-gb-2312": simplifiedchinese.HZGB2312, "hz": simplifiedchinese.HZGB2312,
	"iso-2022-cn": iso2022{}, "csiso2022cn": iso2022{}, "iso-2022-cn-ext": iso2022{},
	"iso-2022-kr": iso2022{}, "csiso2022kr": iso2022{},
	"utf-7": utf7{}, "utf7": utf7{}, "unicode-1-1-utf-7": utf7{}, "csunicode11utf7": utf7{}, "x-unicode-2-0-utf-7": utf7{},
}

// charsetNote values recorded on a message when a label could not be used
// as it stands.
const (
	noteUnknownCharset  = "unknown charset; decoded by detection"
	noteMislabelled     = "8-bit text under a Western label; decoded as GB18030"
	noteRawHeader       = "raw 8-bit header; decoded by detection"
	noteNoCharset       = "8-bit text with no charset named; decoded by detection"
	noteUTF8Mislabelled = "UTF-8 text under another charset's label; decoded as UTF-8"
)

// metaScan is how much of an HTML part is searched for a <meta> charset
// (HTML5 prescans 1,024 bytes; mailers put long <style> blocks first).
const metaScan = 2048

// metaCharsetRE finds the charset a <meta> element names, in either form:
// <meta charset="big5"> and <meta http-equiv="Content-Type"
// content="text/html; charset=gb2312">.
var metaCharsetRE = regexp.MustCompile(`(?is)<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([a-z0-9_:.()+\-]+)`)

// metaCharset is the charset label an HTML document declares in a <meta>
// element within its first metaScan bytes, or "".
func metaCharset(b []byte) string {
	if len(b) > metaScan {
		b = b[:metaScan]
	}
	m := metaCharsetRE.FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// normaliseLabel cleans a charset label as mailers write it: quotes inside
// the value ("\"gb2312\"", 'gb2312'), a "_charset" or "-charset" suffix, an
// RFC 2231 language suffix, case and spaces.
func normaliseLabel(label string) string {
	l := strings.ToLower(strings.TrimSpace(label))
	l = strings.Trim(l, "\"' \t\\")
	if i := strings.IndexByte(l, '*'); i >= 0 { // RFC 2231 language: utf-8*zh
		l = l[:i]
	}
	for _, suf := range []string{"_charset", "-charset", " charset"} {
		l = strings.TrimSuffix(l, suf)
	}
	return strings.Trim(l, "\"' \t\\")
}

// Labels that mean "nothing known about the bytes".
var unknownLabels = map[string]bool{"": true, "unknown-8bit": true, "x-unknown": true, "unknown": true, "default": true, "8bit": true}

// Western labels that Chinese mailers put on GBK text.
var westernLabels = map[string]bool{"us-ascii": true, "ascii": true, "iso-8859-1": true, "latin1": true, "windows-1252": true, "cp1252": true}

// decodeLabelled decodes b with the encoding the label names; known is
// false when no encoding has that name.
func decodeLabelled(b []byte, label string) (s string, known bool, err error) {
	r, err := charset.Reader(label, bytes.NewReader(b))
	if err != nil {
		return "", false, err
	}
	out, err := io.ReadAll(r)
	return string(out), true, err
}

// decodeText turns bytes in the labelled charset into valid UTF-8. It never
// fails: an unknown or wrong label falls back to detection (valid UTF-8
// as is, anything else as GB18030) and returns a note saying so.
func decodeText(b []byte, label string) (string, string) {
	l := normaliseLabel(label)
	if e, ok := sevenBit[l]; ok {
		if isASCII(b) {
			if out, err := e.NewDecoder().Bytes(b); err == nil && utf8.Valid(out) && !bytes.ContainsRune(out, utf8.RuneError) {
				return string(out), ""
			}
			return string(b), noteUnknownCharset
		}
		// 8-bit bytes are not in a 7-bit encoding, whatever the label says:
		// UTF-8 as is; under a Japanese label most often Shift_JIS.
		if !utf8.Valid(b) && e == japanese.ISO2022JP {
			if out, err := japanese.ShiftJIS.NewDecoder().Bytes(b); err == nil && utf8.Valid(out) && !bytes.ContainsRune(out, utf8.RuneError) {
				return string(out), noteUnknownCharset
			}
		}
		s, _ := detect(b)
		return s, noteUnknownCharset
	}
	ascii := isASCII(b)
	if ascii {
		return string(b), ""
	}
	if unknownLabels[l] {
		s, ok := detect(b)
		if l == "" || l == "default" || l == "8bit" {
			if ok {
				return s, "" // valid UTF-8, as raw headers
			}
			return s, noteNoCharset
		}
		return s, noteUnknownCharset
	}
	if westernLabels[l] {
		if utf8.Valid(b) {
			return string(b), ""
		}
		if s, ok := strictGB(b); ok {
			return s, noteMislabelled
		}
		if l == "us-ascii" || l == "ascii" {
			l = "windows-1252"
		}
	}
	if l == "utf-8" || l == "utf8" || l == "us-ascii" || l == "ascii" {
		if utf8.Valid(b) {
			return string(b), ""
		}
		s, _ := detect(b)
		return s, noteUnknownCharset
	}
	s, known, err := decodeLabelled(b, l)
	if !known || err != nil || !utf8.ValidString(s) {
		s2, _ := detect(b)
		return s2, noteUnknownCharset
	}
	// The GB18030 and Big5 decoders never fail: bytes that are not in the
	// encoding become U+FFFD. Valid UTF-8 that does not read cleanly in
	// the labelled charset is UTF-8 under a wrong label (webmail templates
	// that keep charset=gb2312 while sending UTF-8).
	if utf8.Valid(b) && !bytes.ContainsRune(b, utf8.RuneError) {
		if strings.ContainsRune(s, utf8.RuneError) {
			return string(b), noteUTF8Mislabelled
		}
		// Both read cleanly (short UTF-8 often pairs into GB18030
		// characters): the reading with more of the standard's common
		// characters is the text, and the label wins a tie.
		if c := commonByLabel[l]; c != nil && c.commonShare(string(b)) > c.commonShare(s) {
			return string(b), noteUTF8Mislabelled
		}
	}
	// GBK under a Big5 label (GB mailers that keep a traditional template's
	// label): read as Big5 it is rare characters (紾噷價…), often with
	// U+FFFD (GBK trail bytes 80–A0 are not Big5). When the bytes read
	// cleanly as GB18030 into as large a share of GB2312's common
	// characters as the Big5 reading has of Big5's while the Big5 reading
	// has U+FFFD, or, for text of at least gbUnderBig5Min characters, into
	// a larger share, they are GBK. Real Big5 mostly does not read cleanly
	// as GB18030, and when it does, into fewer common characters; but two
	// or three characters are too few to overrule the label on shares
	// alone: a name such as 陳翊翰 (翊 is in Big5's second level, and in
	// GB2312's first as bytes) reads cleanly as GB18030 (朝嘱揩) with
	// every character common.
	if commonByLabel[l] == commonBig5 && !utf8.Valid(b) {
		if gb, ok := strictGB(b); ok {
			g, b5 := commonGB.commonShare(gb), commonBig5.commonShare(s)
			if strings.ContainsRune(s, utf8.RuneError) && g >= b5 || g > b5 && nonASCII(gb) >= gbUnderBig5Min {
				return gb, noteGBUnderBig5(l)
			}
		}
	}
	return s, ""
}

// detect decodes bytes of unknown charset: valid UTF-8 as is, otherwise
// GB18030 (which maps every byte sequence to something).
func detect(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return string(b), true
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().String(string(b))
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}
	return strings.ToValidUTF8(s, "\uFFFD"), false
}

// strictGB decodes b as GB18030 when every 8-bit byte is part of a valid
// double-byte sequence, as in GBK text.
func strictGB(b []byte) (string, bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < 0x80 {
			continue
		}
		if c == 0x80 || c == 0xff || i+1 >= len(b) {
			return "", false
		}
		t := b[i+1]
		if t < 0x40 || t == 0x7f || t == 0xff {
			return "", false
		}
		i++
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().String(string(b))
	if err != nil || strings.ContainsRune(s, utf8.RuneError) {
		return "", false
	}
	return s, true
}

// gbUnderBig5Min is the fewest characters outside ASCII that text under a
// Big5 label which reads cleanly as Big5 must have for a larger share of
// common characters read as GB18030 to make it GBK.
const gbUnderBig5Min = 4

// nonASCII counts the characters of s outside ASCII.
func nonASCII(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x80 {
			n++
		}
	}
	return n
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// encodedWord matches one RFC 2047 encoded-word, tolerating what mailers
// get wrong (quotes and spaces around the label are handled by the label
// normaliser; the text may hold '=' and be empty).
var encodedWord = regexp.MustCompile(`=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=`)

// decodeHeader decodes a header value to UTF-8: raw 8-bit bytes by
// detection (UTF-8, else GB18030), then encoded-words. Adjacent
// encoded-words in the same charset are joined as bytes before decoding,
// so a character split across two words comes out whole; the white space
// between encoded-words is dropped as RFC 2047 says.
func decodeHeader(raw string) (string, string) {
	var note string
	if !isASCII([]byte(raw)) {
		s, ok := detect([]byte(raw))
		if !ok {
			note = noteRawHeader
		}
		raw = s
	}
	locs := encodedWord.FindAllStringSubmatchIndex(raw, -1)
	if len(locs) == 0 {
		return raw, note
	}
	var out strings.Builder
	var pending []byte
	var pendingLabel string
	flush := func() {
		if pending != nil {
			s, n := decodeText(pending, pendingLabel)
			out.WriteString(s)
			if n != "" && note == "" {
				note = n
			}
			pending, pendingLabel = nil, ""
		}
	}
	last := 0
	for _, m := range locs {
		between := raw[last:m[0]]
		if strings.TrimSpace(between) != "" || last == 0 {
			flush()
			out.WriteString(between)
		}
		label := normaliseLabel(raw[m[2]:m[3]])
		data := wordBytes(raw[m[4]:m[5]], raw[m[6]:m[7]])
		if pending != nil && label != pendingLabel {
			flush()
		}
		if pending == nil {
			pending = []byte{}
		}
		pending = append(pending, data...)
		pendingLabel = label
		last = m[1]
	}
	flush()
	out.WriteString(raw[last:])
	return out.String(), note
}

// wordBytes decodes the text of an encoded-word (B or Q), leniently.
func wordBytes(enc, text string) []byte {
	if enc == "B" || enc == "b" {
		return lenientBase64(text)
	}
	var b []byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '_':
			b = append(b, ' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			b = append(b, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

// lenientBase64 decodes base64 ignoring white space, stray characters and
// missing or extra padding; what cannot be decoded is dropped. Padding
// that ends a group of 2 or 3 characters ends a chunk, decoded on its own:
// some mailers encode line by line and pad every line ("...==\r\n...").
func lenientBase64(s string) []byte {
	clean := make([]byte, 0, len(s))
	out := make([]byte, 0, base64.RawStdEncoding.DecodedLen(len(s)))
	flush := func() {
		if len(clean)%4 == 1 {
			clean = clean[:len(clean)-1]
		}
		n, _ := base64.RawStdEncoding.Decode(out[len(out):cap(out)], clean)
		out = out[:len(out)+n]
		clean = clean[:0]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/':
			clean = append(clean, c)
		case c == '=' && len(clean)%4 >= 2:
			flush()
		}
	}
	flush()
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// noteGBUnderBig5 is the note of GBK text under a Big5 label.
func noteGBUnderBig5(label string) string {
	return "text labelled " + label + " reads as GBK, not Big5; decoded as GB18030"
}
