package hotline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/timefmt"
	"github.com/minsheng/minsheng/internal/jsonkeys"
	"github.com/minsheng/minsheng/internal/textenc"
)

// Protocol constants. See README.md for the specification.
const (
	// Subprotocol is offered in Sec-WebSocket-Protocol.
	Subprotocol = "minsheng-hotline.v1"
	// ProtocolVersion is the version this build speaks.
	ProtocolVersion = 1
)

// Message types.
const (
	TypeHello   = "hello"
	TypeWelcome = "welcome"
	TypeOrder   = "order"
	TypeAck     = "ack"
	TypeError   = "error"
)

// Error codes.
const (
	CodeUnauthorized        = "unauthorized"
	CodeUnsupportedProtocol = "unsupported_protocol"
	CodeBadRequest          = "bad_request"
	CodeBadMessage          = "bad_message"
	CodeWindowExceeded      = "window_exceeded"
	CodeInternal            = "internal"
	CodeShuttingDown        = "shutting_down"
)

// Message is every message of the protocol; Type says which fields apply.
type Message struct {
	Type string `json:"type"`
	// hello, welcome
	Protocol int    `json:"protocol,omitempty"`
	Client   string `json:"client,omitempty"`
	Server   string `json:"server,omitempty"`
	Token    string `json:"token,omitempty"`
	Stream   string `json:"stream,omitempty"`
	// hello: resume after this sequence number (0: from the start).
	ResumeAfter uint64 `json:"resume_after,omitempty"`
	// hello: most orders the server may have sent and not had acked.
	Window int `json:"window,omitempty"`
	// welcome: the first sequence number the server will send.
	NextSeq uint64 `json:"next_seq,omitempty"`
	// order
	Seq   uint64          `json:"seq,omitempty"`
	Order json.RawMessage `json:"order,omitempty"`
	// ack
	Seqs []uint64 `json:"seqs,omitempty"`
	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// DecodeMessage reads one frame. It fails on anything that is not a JSON
// object with a type, and on an order without a positive seq.
func DecodeMessage(b []byte) (*Message, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	var m Message
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed message: %w", err)
	}
	if d.More() {
		return nil, errors.New("malformed message: data after the JSON object")
	}
	// Two orders (or two seqs) in one frame would be read as the last.
	if k, twice := jsonkeys.RepeatedTop(b, true); twice {
		return nil, fmt.Errorf("malformed message: %q is given twice", k)
	}
	if m.Type == "" {
		return nil, errors.New("malformed message: no type")
	}
	if m.Type == TypeOrder {
		if m.Seq == 0 {
			return nil, errors.New("malformed order message: no seq")
		}
		if len(m.Order) == 0 || string(m.Order) == "null" {
			return &m, errors.New("order message without an order")
		}
	}
	return &m, nil
}

// FrameSeq reads, as leniently as it can, the seq of an order frame that
// DecodeMessage refuses or that is too large to read whole (b is then its
// first bytes), so that the gateway can acknowledge the seq once the frame
// is quarantined. It walks the members of the frame's outermost object in
// order, up to the object's end or to where the bytes stop being JSON, and
// reports the seq if it met "type":"order" and exactly one seq, a positive
// integer written as a JSON number or as a string of decimal digits (names
// in any case, as encoding/json matches them). A seq given twice, or none
// before the bytes run out, is not read.
func FrameSeq(b []byte) (uint64, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return 0, false
	}
	var seq uint64
	seqs, types, order := 0, 0, false
	for d.More() {
		t, err := d.Token()
		if err != nil {
			break
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			break
		}
		switch {
		case jsonkeys.Same(k, "type"):
			types++
			var typ string
			order = json.Unmarshal(v, &typ) == nil && typ == TypeOrder
		case jsonkeys.Same(k, "seq"):
			seqs++
			if len(v) > 0 && v[0] != '"' && d.InputOffset() >= int64(len(b)) {
				// A bare number that runs to the end of the bytes may have
				// been cut (a frame kept to max_message_bytes): 12345 read
				// as 123. Unknown, not guessed.
				seq = 0
				continue
			}
			digits := string(v)
			if len(v) > 0 && v[0] == '"' {
				if json.Unmarshal(v, &digits) != nil {
					digits = ""
				}
			}
			if n, err := strconv.ParseUint(digits, 10, 64); err == nil {
				seq = n
			} else {
				seq = 0
			}
		}
	}
	if types != 1 || !order || seqs != 1 || seq == 0 {
		return 0, false
	}
	return seq, true
}

// WorkOrder is a 12345 work order as the call centre sends it.
type WorkOrder struct {
	// OrderNo is the call centre's work-order number; required.
	OrderNo string `json:"order_no"`
	// Revision > 0 marks an amended order; it becomes an item naming the
	// original (RevisionOf).
	Revision int `json:"revision,omitempty"`
	// ReceivedAt is when the call was taken (RFC 3339, or
	// "2006-01-02 15:04:05" in China Standard Time); required.
	ReceivedAt string `json:"received_at"`
	Caller     Caller `json:"caller"`
	// Category is the operator's category (e.g. "城乡建设/市政设施").
	Category    string       `json:"category,omitempty"`
	District    string       `json:"district,omitempty"`
	Address     string       `json:"address,omitempty"`
	Title       string       `json:"title,omitempty"`
	Description string       `json:"description"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Attrs are further facts, as strings.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Caller is who phoned.
type Caller struct {
	Name             string `json:"name,omitempty"`
	Phone            string `json:"phone,omitempty"`
	Anonymous        bool   `json:"anonymous,omitempty"`
	ConsentToPublish bool   `json:"consent_to_publish,omitempty"`
}

// Attachment is a reference to a file the call centre holds.
type Attachment struct {
	Name   string `json:"name,omitempty"`
	Type   string `json:"type,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	URL    string `json:"url"`
}

// DecodeOrder reads and checks a work order.
func DecodeOrder(b []byte, loc *time.Location) (*WorkOrder, time.Time, error) {
	// Checked on the bytes: encoding/json replaces invalid UTF-8 with
	// U+FFFD, so GBK text would be read as garbage (two GBK order numbers
	// of one length as the same one), not refused.
	if !utf8.Valid(b) {
		return nil, time.Time{}, errors.New("invalid work order: text is not valid UTF-8")
	}
	if at := textenc.LoneSurrogateAt(b); at >= 0 {
		return nil, time.Time{}, fmt.Errorf("invalid work order: a \\u escape at byte %d is half a UTF-16 surrogate pair", at)
	}
	var o WorkOrder
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&o); err != nil {
		return nil, time.Time{}, fmt.Errorf("malformed work order: %w", err)
	}
	var problems []string
	o.OrderNo = strings.TrimSpace(o.OrderNo)
	switch {
	case o.OrderNo == "":
		problems = append(problems, "order_no is required")
	case len(o.OrderNo) > 200:
		problems = append(problems, "order_no is longer than 200 bytes")
	case strings.ContainsRune(o.OrderNo, '#') || textenc.ControlAt(o.OrderNo, false) >= 0:
		// The number is the item's identity, which cannot be mended as
		// its text is (Item): the order is set aside whole.
		problems = append(problems, "order_no contains # or a control character")
	}
	if o.Revision < 0 {
		problems = append(problems, "revision is negative")
	}
	if strings.TrimSpace(o.Description) == "" && strings.TrimSpace(o.Title) == "" {
		problems = append(problems, "description is required")
	}
	at, err := timefmt.Parse(o.ReceivedAt, "", loc)
	if err != nil {
		problems = append(problems, "received_at: "+err.Error())
	}
	// encoding/json keeps the last of a field given twice (in any case):
	// an order that says two things is set aside whole, not half read.
	// A repeat inside a field the order does not have is ignored, as the
	// decoder ignores the field.
	if ps := jsonkeys.Find(b, jsonkeys.Options{Fold: orderFold, Keep: orderField, Max: 1}); len(ps) > 0 {
		problems = append(problems, ps[0]+" is given twice")
	}
	for i, a := range o.Attachments {
		if strings.TrimSpace(a.URL) == "" {
			problems = append(problems, fmt.Sprintf("attachments[%d].url is required", i))
		}
	}
	if len(problems) > 0 {
		return &o, at, errors.New("invalid work order: " + strings.Join(problems, "; "))
	}
	return &o, at, nil
}

// orderField reports whether a name is a field of WorkOrder.
var orderField = jsonkeys.FieldsOf[WorkOrder]()

// orderFold tells jsonkeys.Repeated which objects of an order are
// structs (names matched in any case): all but attrs, a map.
func orderFold(depth int, under string) bool { return depth != 1 || !jsonkeys.Same(under, "attrs") }

// Ref is the item reference of the order: its number, and "#r<revision>"
// for an amendment.
func (o *WorkOrder) Ref() string {
	if o.Revision > 0 {
		return fmt.Sprintf("%s#r%d", o.OrderNo, o.Revision)
	}
	return o.OrderNo
}

// Item turns a decoded order into an item of channel ch from source.
func (o *WorkOrder) Item(ch minsheng.Channel, source string, submitted, now time.Time) *minsheng.Item {
	it := &minsheng.Item{
		SchemaVersion: minsheng.SchemaVersion,
		ID:            minsheng.ItemID(ch, source, o.Ref()),
		Channel:       ch,
		Source:        source,
		Ref:           o.Ref(),
		ReceivedAt:    now,
		SubmittedAt:   submitted,
		Title:         strings.TrimSpace(o.Title),
		Body:          strings.TrimSpace(o.Description),
		Complainant: minsheng.Complainant{
			Name: strings.TrimSpace(o.Caller.Name), Phone: strings.TrimSpace(o.Caller.Phone),
			Anonymous: o.Caller.Anonymous, ConsentToPublish: o.Caller.ConsentToPublish,
		},
		Attrs: map[string]string{"order_no": o.OrderNo},
	}
	if o.Revision > 0 {
		it.RevisionOf = minsheng.ItemID(ch, source, o.OrderNo)
	}
	if o.District != "" || o.Address != "" {
		it.Location = &minsheng.Location{District: strings.TrimSpace(o.District), Address: strings.TrimSpace(o.Address)}
	}
	if o.Category != "" {
		it.Attrs["category"] = o.Category
	}
	for k, v := range o.Attrs {
		if len(it.Attrs) >= 40 {
			break
		}
		if _, taken := it.Attrs[k]; !taken && k != "" && len(k) <= 64 {
			it.Attrs[k] = clip(v, 2000)
		}
	}
	if refs := attachmentRefs(o.Attachments); refs != "" {
		it.Attrs["attachment_refs"] = refs
	}
	if n := it.ScrubControls(); n != "" {
		it.Attrs[TextNotesAttr] = clip("control characters replaced with U+FFFD ("+n+"); the order as sent is at raw_ref", 2000)
	}
	return it
}

// TextNotesAttr is the attribute that says which of an item's fields had
// control characters replaced (Item); the item's raw_ref then holds the
// order as sent.
const TextNotesAttr = "text_notes"

// attachmentRefs encodes the attachment references as a JSON array that
// fits one attribute (2000 bytes), dropping those that do not fit.
func attachmentRefs(as []Attachment) string {
	for n := len(as); n > 0; n-- {
		b, _ := json.Marshal(as[:n])
		if len(b) <= 2000 {
			return string(b)
		}
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
