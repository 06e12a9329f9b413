package imap

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"

	minsheng "github.com/minsheng/minsheng"

	"github.com/minsheng/minsheng/connectors/internal/htmltext"
	"github.com/minsheng/minsheng/internal/textenc"
)

// Limits that keep one hostile message from costing more than it should.
const (
	maxDepth      = 16  // nesting of multiparts
	maxParts      = 500 // leaf parts looked at
	maxHeaderSize = 256 << 10
	maxPartBytes  = 64 << 20 // bytes of one part as sent; the rest is cut, with a note
)

// Message is what Parse makes of one mail: every string valid UTF-8.
type Message struct {
	MessageID string    `json:"message_id,omitempty"`
	Subject   string    `json:"subject"`
	FromName  string    `json:"from_name,omitempty"`
	FromEmail string    `json:"from_email,omitempty"`
	Date      time.Time `json:"date,omitzero"`
	// Text is the whole text of the message (text/plain preferred, else
	// HTML reduced to text).
	Text string `json:"text"`
	// Body is Text with quoted replies and the signature cut off: what
	// triage should read. Equal to Text when nothing was cut.
	Body string `json:"body"`
	// Automated names why the mail looks machine generated; empty if not.
	Automated   string `json:"automated,omitempty"`
	Attachments []Part `json:"attachments,omitempty"`
	// Notes record what had to be guessed (unknown charsets, raw headers).
	Notes []string `json:"notes,omitempty"`
	// Hash is the SHA-256 of the raw bytes, hex.
	Hash string `json:"sha256"`
}

// Part is an attachment.
type Part struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Data   []byte `json:"-"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// Ref is the item reference of the message: its Message-ID (clipped) and a
// hash of its raw bytes, so the same mail re-read under another UID (after a
// UIDVALIDITY change) gets the same item ID, and two different mails with
// one Message-ID do not collide.
func (m *Message) Ref() string {
	h := m.Hash[:24]
	if m.MessageID == "" {
		return "sha256:" + h
	}
	return clipBytes(m.MessageID, 200) + "#" + h
}

// ErrUnparseable wraps the reason a message could not be read at all.
var ErrUnparseable = errors.New("unparseable message")

// quoteHeaderError restates go-message's header errors ("message:
// malformed MIME header line: <the line as sent>") with the mail's own
// bytes quoted, so that logs can leave them out (minsheng.LogReason): a
// header line may hold a name or a phone number.
func quoteHeaderError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "message: ")
	for _, what := range []string{"malformed MIME header initial line: ", "malformed MIME header line: ", "malformed MIME header key: "} {
		if rest, ok := strings.CutPrefix(msg, what); ok {
			return fmt.Sprintf("%s%q", what, strings.TrimRight(rest, "\r\n"))
		}
	}
	return msg
}

// Parse reads one RFC 5322 message. It is a pure function of its input. It
// fails (ErrUnparseable) only when the header block cannot be read or the
// message has neither a subject nor any text nor an attachment; every
// charset problem is repaired and noted instead.
func Parse(raw []byte) (*Message, error) {
	sum := sha256.Sum256(raw)
	m := &Message{Hash: hex.EncodeToString(sum[:])}
	hdr, cut := repairHeader(raw)
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(raw[headerEnd(raw):])))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %s", ErrUnparseable, quoteHeaderError(err))
	}
	if cut {
		m.note(noteHeaderCut)
	}
	if h.Len() == 0 {
		return nil, fmt.Errorf("%w: no header fields", ErrUnparseable)
	}
	if !h.Has("From") && !h.Has("Subject") && !h.Has("Message-Id") && !h.Has("Date") {
		return nil, fmt.Errorf("%w: none of From, Subject, Message-ID, Date", ErrUnparseable)
	}
	m.MessageID = messageID(rawField(h, "Message-Id"))
	if textenc.ControlAt(m.MessageID, false) >= 0 {
		m.MessageID = ""
		m.note(noteControlMessageID)
	}
	m.Subject = m.header(rawField(h, "Subject"))
	m.FromName, m.FromEmail = m.address(rawField(h, "From"))
	if d, err := mail.ParseDate(strings.TrimSpace(rawField(h, "Date"))); err == nil {
		m.Date = d.UTC()
	}
	m.Automated = automated(h)

	w := &walker{m: m}
	w.walk(h, br, 0)
	m.Text = w.text()
	m.Text = strings.ToValidUTF8(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\uFFFD")
	m.Text = strings.TrimSpace(m.Text)
	m.scrubControls()
	m.Body = Trim(m.Text)
	if m.Subject == "" && m.Text == "" && len(m.Attachments) == 0 {
		return nil, fmt.Errorf("%w: no subject, no text and no attachment", ErrUnparseable)
	}
	return m, nil
}

// scrubControls replaces, in every text the item is made of, each
// control character no item's text may hold (textenc.ControlAt: a C0
// control other than tab, line feed and carriage return, or DEL; the
// subject and text keep vertical tab and form feed, a word processor's
// line and page breaks) with U+FFFD, noting which fields gave up how many.
// A mail cannot be refused as the desk refuses such text, and they come
// in as sent (raw 8-bit header bytes, an encoded-word or a part holding
// them, an ISO-2022 escape its decoder could not read): a NUL cuts the
// text short in the programs and databases downstream, an escape redraws
// a terminal. The raw mail (raw_ref) keeps them.
func (m *Message) scrubControls() {
	var f textenc.Fields
	f.Scrub("subject", &m.Subject, true)
	f.Scrub("From name", &m.FromName, false)
	f.Scrub("text", &m.Text, true)
	f.Scrub("automated", &m.Automated, false)
	if n := f.Note(); n != "" {
		m.note("control characters replaced with U+FFFD (" + n + "); the raw mail keeps them")
	}
}

func (m *Message) note(n string) {
	if n == "" {
		return
	}
	for _, x := range m.Notes {
		if x == n {
			return
		}
	}
	m.Notes = append(m.Notes, n)
}

var unfold = strings.NewReplacer("\r\n ", " ", "\r\n\t", " ", "\n ", " ", "\n\t", " ")

// rawField is a header field's value unfolded, bytes as they came.
func rawField(h textproto.Header, k string) string {
	f := h.FieldsByKey(k)
	if !f.Next() {
		return ""
	}
	raw, err := f.Raw()
	if err != nil {
		return f.Value()
	}
	s := string(raw)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	s = unfold.Replace(s)
	return strings.TrimSpace(strings.TrimRight(s, "\r\n"))
}

func (m *Message) header(raw string) string {
	s, n := decodeHeader(raw)
	m.note(n)
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

func messageID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	return s
}

// address splits a From value into a decoded display name and an address.
// The address is kept only when it is a valid one.
func (m *Message) address(raw string) (name, email string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", ""
	}
	if i := strings.LastIndexByte(raw, '<'); i >= 0 {
		if j := strings.IndexByte(raw[i:], '>'); j > 0 {
			email = strings.TrimSpace(raw[i+1 : i+j])
			name = strings.TrimSpace(raw[:i])
		}
	} else {
		for _, f := range strings.Fields(raw) {
			if strings.Contains(f, "@") {
				email = strings.Trim(f, "<>,;\"'")
				break
			}
		}
		if a := strings.IndexByte(raw, '('); a >= 0 {
			if b := strings.LastIndexByte(raw, ')'); b > a {
				name = raw[a+1 : b]
			}
		}
	}
	name = strings.Trim(strings.TrimSpace(name), "\"'")
	name = strings.ReplaceAll(name, `\"`, `"`)
	name = m.header(name)
	name = strings.Trim(name, "\"' ")
	if a, err := mail.ParseAddress("<" + email + ">"); err == nil && len(a.Address) <= 254 && isASCII([]byte(a.Address)) &&
		minsheng.Validator().Var(a.Address, "email") == nil {
		email = a.Address
	} else {
		email = ""
	}
	if name == email {
		name = ""
	}
	return clipRunes(name, 100), email
}

// automated says why a mail looks machine generated (RFC 3834 and common
// practice), or "".
func automated(h textproto.Header) string {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return "Auto-Submitted: " + clipBytes(v, 100)
	}
	ct := strings.ToLower(h.Get("Content-Type"))
	if strings.HasPrefix(strings.TrimSpace(ct), "multipart/report") {
		return "delivery or disposition report (multipart/report)"
	}
	if t, _ := mediaType(ct); t == "message/delivery-status" || t == "message/disposition-notification" {
		return "delivery or disposition report (" + t + ")"
	}
	switch p := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); p {
	case "bulk", "junk", "list", "auto_reply":
		return "Precedence: " + p
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponse"} {
		if h.Has(k) {
			return k + " header"
		}
	}
	if h.Has("Return-Path") && strings.ReplaceAll(strings.TrimSpace(h.Get("Return-Path")), " ", "") == "<>" {
		return "empty Return-Path (bounce)"
	}
	return ""
}

// Notes on the MIME structure.
const (
	noteBrokenMultipart   = "broken multipart structure; read what could be read"
	noteNoParts           = "broken multipart structure: no part matches its boundary; read the whole as text"
	noteNoBoundary        = "multipart with no boundary parameter; read the whole as text"
	noteBoundaryRecovered = "multipart with no boundary parameter; boundary taken from the body's first part delimiter"
	noteControlMessageID  = "Message-ID holds a control character; not used (ref and message_id go without it)"
	noteHeaderCut         = "header block over 256 KiB; fields past that were not read, but for the MIME fields"
)

// prefixKeeper keeps a copy of what is written to it until stop.
type prefixKeeper struct {
	buf     []byte
	stopped bool
}

func (k *prefixKeeper) Write(p []byte) (int, error) {
	if !k.stopped {
		k.buf = append(k.buf, p...)
	}
	return len(p), nil
}

func (k *prefixKeeper) stop() { k.buf, k.stopped = nil, true }

// walker collects the text and attachments of a MIME tree.
type walker struct {
	m      *Message
	plain  string
	html   string
	leaves int
	// forward is the first message/rfc822 part, read for its text when
	// the mail has none of its own (a complaint forwarded as an
	// attachment); forwardDepth is where it was met.
	forward      []byte
	forwardDepth int
	// inAlt: the part being walked is an alternative of a
	// multipart/alternative (its text parts say the same thing again).
	inAlt bool
	// preamble is what stood before the first part delimiter of each
	// multipart whose boundary was taken from its body (the outer's
	// first): it heads the text, whichever part gives the rest.
	preamble string
}

const noteForwarded = "no text of its own; the text of the forwarded message (message/rfc822) is used"

// text is the text the walk found: the preamble of a multipart without
// a boundary, then the text/plain, else HTML reduced to text, else the
// text of the forwarded message, under its subject line.
func (w *walker) text() string {
	t := w.partsText()
	if w.preamble == "" {
		return t
	}
	return strings.TrimRight(w.preamble+"\n"+t, "\r\n")
}

// partsText is the text of the parts: text/plain, else HTML reduced to
// text, else the text of the forwarded message, under its subject line.
func (w *walker) partsText() string {
	switch {
	case strings.TrimSpace(w.plain) != "": // a blank text/plain beside HTML is not the text
		return w.plain
	case w.html != "":
		return htmltext.Text(w.html)
	case w.forward == nil || w.forwardDepth >= maxDepth:
		return ""
	}
	br := bufio.NewReader(bytes.NewReader(w.forward))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return ""
	}
	// The inner message's attachments are inside the stored
	// message/rfc822 part already: a scratch message collects them.
	inner := &walker{m: &Message{}}
	inner.walk(h, br, w.forwardDepth+1)
	text := strings.TrimSpace(inner.text())
	subject := inner.m.header(rawField(h, "Subject"))
	if text == "" && subject == "" {
		return ""
	}
	w.m.note(noteForwarded)
	for _, n := range inner.m.Notes {
		w.m.note(n)
	}
	if subject != "" {
		text = "Subject: " + subject + "\n\n" + text
	}
	return text
}

func (w *walker) walk(h textproto.Header, body io.Reader, depth int) {
	if w.leaves >= maxParts {
		return
	}
	ctRaw := rawField(h, "Content-Type")
	typ, params := mediaType(ctRaw)
	if typ == "" {
		typ = "text/plain"
	}
	var preamble string // of a multipart whose boundary was taken from its body
	if strings.HasPrefix(typ, "multipart/") && params["boundary"] == "" && depth < maxDepth {
		// No boundary named (else it would be read as text, part headers
		// and all): take it from the body's first part delimiter.
		head := make([]byte, boundaryScan)
		n, _ := io.ReadFull(body, head)
		head = head[:n]
		body = io.MultiReader(bytes.NewReader(head), body)
		if b, at := delimiterInBody(head); b != "" {
			params["boundary"] = b
			w.m.note(noteBoundaryRecovered)
			// What comes before the first delimiter is a preamble, which
			// MIME readers drop; with the boundary left out, it is as
			// likely the letter itself (the text of a mail whose parts a
			// tool flattened): kept, unless it is a mailer's notice.
			if pre := head[:at]; !mimeNotice(pre) {
				s, n := decodeText(pre, params["charset"])
				w.m.note(n)
				preamble = strings.TrimSpace(s)
			}
		} else {
			w.m.note(noteNoBoundary)
		}
	}
	if strings.HasPrefix(typ, "multipart/") && params["boundary"] != "" && depth < maxDepth {
		// Until the first part is found, keep what the multipart reader
		// consumes: a boundary that matches nothing in the body (mailers
		// and archives that re-wrap mail get it wrong) must not lose the
		// text; it is then read as the part's own text below.
		keep := &prefixKeeper{}
		mr := textproto.NewMultipartReader(io.TeeReader(body, keep), params["boundary"])
		parts := 0
		for {
			p, err := mr.NextPart()
			if err != nil {
				if parts > 0 {
					if !errors.Is(err, io.EOF) && w.leaves == 0 {
						w.m.note(noteBrokenMultipart)
					}
					if preamble != "" {
						w.preamble = strings.TrimRight(preamble+"\n"+w.preamble, "\r\n")
					}
					return
				}
				w.m.note(noteNoParts)
				body = io.MultiReader(bytes.NewReader(keep.buf), body)
				typ, params = "text/plain", map[string]string{"charset": params["charset"]}
				break
			}
			if parts == 0 {
				keep.stop()
			}
			parts++
			inAlt := w.inAlt
			w.inAlt = typ == "multipart/alternative"
			w.walk(p.Header, p, depth+1)
			w.inAlt = inAlt
		}
	}
	w.leaves++
	data, err := io.ReadAll(io.LimitReader(body, maxPartBytes+1))
	if err != nil {
		w.m.note("damaged part; kept what could be read")
	}
	if len(data) > maxPartBytes {
		rest, _ := io.Copy(io.Discard, body)
		w.m.note(fmt.Sprintf("a part of %d bytes (as sent) was cut to its first %d; the whole is in the raw message", int64(len(data))+rest, maxPartBytes))
		data = data[:maxPartBytes]
	}
	data = decodeTransfer(h.Get("Content-Transfer-Encoding"), data)
	disp, dparams := mediaType(rawField(h, "Content-Disposition"))
	name := w.filename(dparams, params)
	isAttachment := disp == "attachment" || (name != "" && !strings.HasPrefix(typ, "text/"))
	if strings.HasPrefix(typ, "multipart/") {
		typ = "text/plain" // a multipart without boundary: read as text
	}
	switch {
	case !isAttachment && typ == "text/plain" && strings.TrimSpace(w.plain) == "":
		s, n := decodeText(data, params["charset"])
		w.m.note(n)
		w.plain = s
	case !isAttachment && typ == "text/html" && w.html == "":
		label := params["charset"]
		if normaliseLabel(label) == "" {
			label = metaCharset(data)
		}
		s, n := decodeText(data, label)
		w.m.note(n)
		w.html = s
	case !isAttachment && typ == "text/plain" && !w.inAlt:
		// A further text part of a mixed multipart (text, an inline
		// image, more text, as Apple Mail sends it): more of the text.
		s, n := decodeText(data, params["charset"])
		w.m.note(n)
		w.plain = strings.TrimRight(w.plain, "\r\n") + "\n" + s
	case !isAttachment && (typ == "text/plain" || typ == "text/html") && disp != "attachment":
		// a second alternative or an inline duplicate: not an attachment
	default:
		if len(data) == 0 && name == "" {
			return
		}
		if len(w.m.Attachments) >= 50 {
			w.m.note("more than 50 attachments; the rest are only in the raw message")
			return
		}
		if (typ == "message/rfc822" || typ == "message/global") && w.forward == nil {
			w.forward, w.forwardDepth = data, depth
		}
		sum := sha256.Sum256(data)
		w.m.Attachments = append(w.m.Attachments, Part{Name: clipRunes(name, 255), Type: clipBytes(typ, 255), Data: data, Size: len(data), SHA256: hex.EncodeToString(sum[:])})
	}
}

// boundaryScan is how much of a multipart's body without a boundary
// parameter is searched for a part delimiter.
const boundaryScan = 64 << 10

// delimiterInBody finds, in the body of a multipart that names no boundary,
// the boundary of its first part delimiter: a line "--X" (X of 1 to 70
// characters, without white space, which mailers do not put in one, not
// ending in "--") followed at once by a Content-* or MIME-Version field.
// It returns "" when there is none, and the offset of the delimiter line.
func delimiterInBody(body []byte) (string, int) {
	b := body
	for len(b) > 0 {
		at := len(body) - len(b)
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		b = rest
		l := bytes.TrimRight(line, " \t\r")
		if len(l) < 3 || len(l) > 72 || !bytes.HasPrefix(l, []byte("--")) || bytes.HasSuffix(l, []byte("--")) ||
			bytes.ContainsAny(l, " \t") {
			continue
		}
		next, _, _ := bytes.Cut(b, []byte("\n"))
		if isFieldLine(next) && isMIMEField(next) {
			return string(l[2:]), at
		}
	}
	return "", 0
}

// mimeNotice reports whether a preamble holds nothing but white space or
// a mailer's notice in ASCII ("This is a multi-part message in MIME
// format.").
func mimeNotice(pre []byte) bool {
	t := bytes.TrimSpace(pre)
	return len(t) == 0 || isASCII(t) && bytes.Contains(bytes.ToLower(t), []byte("mime"))
}

// filename finds an attachment's name: Content-Disposition filename, then
// Content-Type name, each possibly RFC 2231 (filename*=gbk”%D6%D0) or
// RFC 2047 encoded (even unquoted, as name==?big5?B?...?=).
func (w *walker) filename(dparams, cparams map[string]string) string {
	for _, p := range []map[string]string{dparams, cparams} {
		for _, k := range []string{"filename", "name"} {
			if v, ok := p[k]; ok && v != "" {
				s := w.m.header(v)
				s = strings.Map(func(r rune) rune {
					if r < 0x20 || r == '/' || r == '\\' {
						return '_'
					}
					return r
				}, s)
				return strings.TrimSpace(s)
			}
		}
	}
	return ""
}

// decodeTransfer undoes a Content-Transfer-Encoding leniently. A "base64"
// body holding 8-bit bytes was never base64 (mailers and archives mangle
// this) and is returned as it is.
func decodeTransfer(cte string, data []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(strings.Trim(cte, "\"'"))) {
	case "base64":
		if !isASCII(data) {
			return data
		}
		return lenientBase64(string(data))
	case "quoted-printable":
		return lenientQP(data)
	default:
		return data
	}
}

// lenientQP decodes quoted-printable, keeping a stray '=' as it is.
func lenientQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		switch {
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		case i+1 < len(b) && b[i+1] == '\n':
			i++
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			i += 2
		case i+1 == len(b):
		default:
			// soft break with trailing white space: "=  \r\n"
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
				j++
			}
			if j < len(b) && (b[j] == '\n' || b[j] == '\r') {
				i = j
				if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
					i++
				}
				continue
			}
			out = append(out, c)
		}
	}
	return out
}

// headerEnd is the offset of the body: after the first empty line (or the
// whole input when there is none). An empty line followed by an indented
// encoded-word is a mailer's slip inside a folded field, not the end.
func headerEnd(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw)
		}
		line := raw[i : i+j]
		if len(bytes.TrimRight(line, "\r")) == 0 && !foldedWordFollows(raw[i+j+1:]) {
			return i + j + 1
		}
		i += j + 1
	}
	return len(raw)
}

func foldedWordFollows(rest []byte) bool {
	return len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') && bytes.HasPrefix(bytes.TrimLeft(rest, " \t"), []byte("=?"))
}

// repairHeader returns the header block with lines that are neither a
// field nor an indented continuation turned into continuations (mailers
// break long encoded-words without indenting the rest). A block over
// maxHeaderSize keeps its fields up to that size and, past it, only the
// MIME fields (up to maxMIMEHeader more), and still ends with its empty
// line, so the body is never read as header fields; cut says so.
func repairHeader(raw []byte) (out []byte, cut bool) {
	hdr := raw[:headerEnd(raw)]
	var b bytes.Buffer
	first, keep := true, true
	for len(hdr) > 0 {
		j := bytes.IndexByte(hdr, '\n')
		var line []byte
		if j < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:j+1], hdr[j+1:]
		}
		body := bytes.TrimRight(line, "\r\n")
		if len(body) == 0 && len(hdr) > 0 {
			continue // an empty line inside the block (see headerEnd)
		}
		if len(body) == 0 {
			b.Write(line) // the empty line that ends the block
			break
		}
		field := body[0] != ' ' && body[0] != '\t' && isFieldLine(body)
		if field || first {
			keep = b.Len()+len(line) <= maxHeaderSize || isMIMEField(body) && b.Len()+len(line) <= maxHeaderSize+maxMIMEHeader
			cut = cut || !keep
		}
		if keep && b.Len()+len(line) > maxHeaderSize+maxMIMEHeader {
			keep, cut = false, true // a field folded past every bound
		}
		if !keep {
			continue
		}
		if !first && !field && body[0] != ' ' && body[0] != '\t' {
			b.WriteByte(' ')
		}
		first = false
		b.Write(line)
	}
	return b.Bytes(), cut
}

// maxMIMEHeader bounds the MIME fields kept past maxHeaderSize.
const maxMIMEHeader = 16 << 10

func isMIMEField(l []byte) bool {
	name, _, _ := bytes.Cut(l, []byte(":"))
	name = bytes.ToLower(bytes.TrimSpace(name))
	return bytes.HasPrefix(name, []byte("content-")) || bytes.Equal(name, []byte("mime-version"))
}

func isFieldLine(l []byte) bool {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return false
	}
	for _, c := range l[:i] {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// mediaType parses a Content-Type or Content-Disposition value leniently:
// the type lower-cased, parameters by lower-cased name with quotes removed;
// RFC 2231 continuations and charset'lang'%XX values are joined and
// decoded to UTF-8; a value that is an unquoted encoded-word
// (name==?big5?B?...?=) is kept for the caller to decode. A type
// followed by parameters without the ';' keeps both.
func mediaType(v string) (string, map[string]string) {
	params := map[string]string{}
	parts := splitParams(v)
	if len(parts) == 0 {
		return "", params
	}
	typ := strings.ToLower(strings.TrimSpace(parts[0]))
	if strings.ContainsAny(typ, "= \t,") {
		// A ';' left out ("text/plain charset=big5", seen in real mail):
		// the type, then parameters separated by white space or ','.
		f := strings.FieldsFunc(parts[0], func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		typ = ""
		if len(f) > 0 && strings.Contains(f[0], "/") && !strings.Contains(f[0], "=") {
			typ = strings.ToLower(f[0])
			parts = append(f[1:], parts[1:]...)
			parts = append([]string{typ}, parts...)
		}
	}
	type cont struct {
		text    string
		encoded bool
	}
	conts := map[string]map[int]cont{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = unquote(strings.TrimSpace(val))
		if base, idx, found := strings.Cut(k, "*"); found {
			encoded := strings.HasSuffix(idx, "*") || idx == ""
			idx = strings.TrimSuffix(idx, "*")
			n := 0
			if idx != "" {
				if _, err := fmt.Sscanf(idx, "%d", &n); err != nil || n < 0 || n > 100 {
					continue
				}
			}
			if conts[base] == nil {
				conts[base] = map[int]cont{}
			}
			conts[base][n] = cont{val, encoded}
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
	for base, cs := range conts {
		var label string
		var buf []byte
		for i := 0; i <= 100; i++ {
			c, ok := cs[i]
			if !ok {
				break
			}
			text := c.text
			if c.encoded {
				if i == 0 {
					if parts := strings.SplitN(text, "'", 3); len(parts) == 3 {
						label, text = parts[0], parts[2]
					}
				}
				buf = append(buf, percentDecode(text)...)
			} else {
				buf = append(buf, text...)
			}
		}
		s, _ := decodeText(buf, label)
		params[base] = s
	}
	return typ, params
}

// splitParams splits on ';' outside double quotes.
func splitParams(v string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && quoted && i+1 < len(v):
			cur.WriteByte(c)
			cur.WriteByte(v[i+1])
			i++
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ';' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if s := cur.String(); strings.TrimSpace(s) != "" || len(out) > 0 {
		out = append(out, s)
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		s = strings.ReplaceAll(s, `\"`, `"`)
		s = strings.ReplaceAll(s, `\\`, `\`)
	}
	return s
}

func percentDecode(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}

// Trim cuts quoted replies and the signature from a mail's text: from the
// first line that opens a quoted original ("-----原始邮件-----",
// "----- Original Message -----", "在 ... 写道：", "On ... wrote:") or the
// signature separator "-- ", and every line quoted with ">". If nothing
// would be left, the text is returned whole.
func Trim(text string) string {
	lines := strings.Split(text, "\n")
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if l == "-- " || l == "--" || isQuoteHeader(t) {
			break
		}
		if strings.HasPrefix(t, ">") {
			continue
		}
		out = append(out, l)
	}
	s := strings.TrimSpace(strings.Join(out, "\n"))
	if s == "" {
		return text
	}
	return s
}

func isQuoteHeader(t string) bool {
	if strings.Contains(t, "原始邮件") && strings.HasPrefix(t, "--") ||
		strings.Contains(t, "原始郵件") && strings.HasPrefix(t, "--") ||
		strings.HasPrefix(t, "-----Original Message-----") ||
		strings.HasPrefix(t, "----- Original Message -----") {
		return true
	}
	if strings.HasPrefix(t, "在") && (strings.HasSuffix(t, "写道：") || strings.HasSuffix(t, "写道:") || strings.HasSuffix(t, "寫道：")) {
		return true
	}
	return strings.HasPrefix(t, "On ") && strings.HasSuffix(t, "wrote:")
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}
