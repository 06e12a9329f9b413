package minsheng

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"maps"
	"path"
	"strings"
	"time"
)

// SchemaVersion is the version of the unified item schema this build writes.
// It changes only when a field changes meaning or a required field is added;
// docs/item-schema.md records each version.
const SchemaVersion = "1"

// Channel is one of the intake channels of the "6+N+1" model.
type Channel string

// The channels. The first six are Qingdao's six merged channels; department
// and village are the "N" and the "1".
const (
	ChannelHotline        Channel = "hotline"         // 12345 government-service hotline work orders
	ChannelNewspaper      Channel = "newspaper"       // newspaper letter desk
	ChannelBroadcaster    Channel = "broadcaster"     // broadcaster (radio/TV) letter desk
	ChannelMessageBoard   Channel = "message_board"   // online message boards (留言板)
	ChannelMayorMailbox   Channel = "mayor_mailbox"   // the government (mayor's) mailbox, by e-mail
	ChannelPetitionBureau Channel = "petition_bureau" // the letters-and-visits (petition) bureau
	ChannelDepartment     Channel = "department"      // functional departments (the "N")
	ChannelVillage        Channel = "village"         // village and residents' committees (the "1")
)

// ViaDesk is Item.Via for an item posted through the desk API.
const ViaDesk = "desk"

// Channels lists every channel, in documentation order.
var Channels = []Channel{
	ChannelHotline, ChannelNewspaper, ChannelBroadcaster, ChannelMessageBoard,
	ChannelMayorMailbox, ChannelPetitionBureau, ChannelDepartment, ChannelVillage,
}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	for _, k := range Channels {
		if c == k {
			return true
		}
	}
	return false
}

// Item is one citizen demand in the unified schema, whatever channel it came
// from. Connectors fill it in; the pipeline validates it on entry
// (see Validate), gives it its ID and trace ID if missing, and never changes
// Title or Body afterwards: triage normalises a copy.
type Item struct {
	// SchemaVersion is SchemaVersion at the time the item was made.
	SchemaVersion string `json:"schema_version" validate:"required,eq=1"`
	// ID is the stable item ID: ItemID(Channel, Source, Ref). Re-ingesting the
	// same native item gives the same ID, which is also the Kafka key.
	ID string `json:"id" validate:"required,max=64"`
	// TraceID follows the item through logs and trails.
	TraceID string `json:"trace_id" validate:"required,max=64"`
	// Channel the item came in on.
	Channel Channel `json:"channel" validate:"required,oneof=hotline newspaper broadcaster message_board mayor_mailbox petition_bureau department village"`
	// Source is the source instance: the desk's name, the mailbox's name, the feed's name.
	Source string `json:"source" validate:"required,max=128"`
	// Via is ViaDesk for an item a desk posted through the desk API; the
	// gateway sets it, with Channel and Source, from the desk's token, and
	// the desk cannot choose it. Inputs and imports leave it empty. Only
	// with it does Source name the desk that submitted the item, which
	// may see it whole (router.View): an import, a mailbox or a feed may
	// carry any source name, a desk's among them.
	Via string `json:"via,omitempty" validate:"omitempty,oneof=desk"`
	// Ref is the source's own reference (desk letter number, Message-ID, work-order number, post id).
	Ref string `json:"ref" validate:"required,max=256"`
	// ReceivedAt is when the gateway received the item.
	ReceivedAt time.Time `json:"received_at" validate:"required"`
	// SubmittedAt is when the citizen submitted it, as the source reports.
	SubmittedAt time.Time `json:"submitted_at" validate:"required"`
	// Title (subject) of the demand, UTF-8.
	Title string `json:"title" validate:"max=500"`
	// Body of the demand, UTF-8, as received (after transfer decoding).
	Body string `json:"body" validate:"required_without=Title,max=100000"`
	// Complainant is who raised the demand. Identities are redacted for
	// destinations not entitled to them (see Redacted).
	Complainant Complainant `json:"complainant"`
	// Location the demand is about, when known.
	Location *Location `json:"location,omitempty"`
	// Attachments, stored content-addressed; the item holds references only.
	Attachments []Attachment `json:"attachments,omitempty" validate:"max=50,dive"`
	// RawRef references the stored original (e.g. the RFC 822 bytes of a mail).
	RawRef string `json:"raw_ref,omitempty" validate:"max=128"`
	// Automated is set by a connector that recognised the item as machine
	// generated (auto-reply, bounce, bulk mail); triage rejects such items
	// with this as the reason, so auto-replies never loop.
	Automated string `json:"automated,omitempty" validate:"max=200"`
	// RevisionOf is the ID of an earlier item this one amends (an edited
	// board post); empty for an original.
	RevisionOf string `json:"revision_of,omitempty" validate:"max=64"`
	// Attrs holds channel-specific facts (operator's category, board URL,
	// likes) as strings. Triage may read them; routing does not.
	Attrs map[string]string `json:"attrs,omitempty" validate:"max=50,dive,keys,max=64,endkeys,max=2000"`
}

// Complainant identifies the person who raised a demand.
type Complainant struct {
	Name  string `json:"name,omitempty" validate:"max=100"`
	Phone string `json:"phone,omitempty" validate:"max=40"`
	Email string `json:"email,omitempty" validate:"omitempty,max=254,email"`
	// Anonymous: the complainant asked not to be identified. Identity fields
	// are then withheld from every destination.
	Anonymous bool `json:"anonymous"`
	// ConsentToPublish: the complainant agrees that media may publish the case.
	ConsentToPublish bool `json:"consent_to_publish"`
}

// Identified reports whether any identifying field is set.
func (c Complainant) Identified() bool {
	return c.Name != "" || c.Phone != "" || c.Email != ""
}

// Location is where the demand is about.
type Location struct {
	District string `json:"district,omitempty" validate:"max=100"`
	Address  string `json:"address,omitempty" validate:"max=300"`
}

// Attachment is a file that came with an item, stored content-addressed.
type Attachment struct {
	Name   string `json:"name" validate:"max=255"`
	Type   string `json:"type" validate:"max=255"`
	Size   int64  `json:"size" validate:"min=0"`
	SHA256 string `json:"sha256" validate:"required,len=64,hexadecimal"`
	// Ref is the blob store's reference, e.g. "sha256:<hex>".
	Ref string `json:"ref" validate:"required,max=128"`
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ItemID derives the stable item ID from the channel, the source instance and
// the source's own reference. The same three always give the same ID, so a
// re-sent or re-fetched item is recognised, and Kafka consumers can drop
// repeats by key. The ID is "ms1" followed by 26 base32 characters
// (130 bits of SHA-256).
func ItemID(ch Channel, source, ref string) string {
	h := sha256.New()
	h.Write([]byte(ch))
	h.Write([]byte{0})
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(ref))
	sum := h.Sum(nil)
	return "ms1" + idEncoding.EncodeToString(sum[:17])[:26]
}

// ValidItemID reports whether s has the form ItemID produces.
func ValidItemID(s string) bool {
	if len(s) != 29 || !strings.HasPrefix(s, "ms1") {
		return false
	}
	for _, r := range s[3:] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// RedactedAttrs are the attrs a destination not entitled to the
// complainant's identity still receives. Attrs are free-form (a desk's own
// keys, every unmapped column of an import, a hotline vendor's extras) and
// may hold an ID-card number, a second phone or a home address, so Redacted
// keeps only these keys, which describe the case and never the person:
// the operator's category, the work-order and desk case numbers, a board
// post's reply status and how its time was known, and where a mail was read
// from. Anything else reaches only destinations entitled to the identity.
var RedactedAttrs = map[string]bool{
	"category":     true, // operator's or export's category (hotline, import)
	"order_no":     true, // 12345 work-order number (hotline)
	"desk_case_no": true, // a desk's case number
	"reply_status": true, // whether a board post was answered (board)
	"submitted_at": true, // "unknown; time first seen" (board)
	"body_trimmed": true, // a quoted reply or signature was cut (imap)
	"mailbox":      true, // the gateway's own mailbox (imap)
	"imap_uid":     true, // UIDVALIDITY/UID in that mailbox (imap)
	"import_row":   true, // row number in the imported file (import)
}

// SameContent reports whether o says what it says: the same title, body,
// complainant, location, attachments (by content), attrs and the item it
// corrects (revision_of). A repeat of
// an item under its ID that differs here is not a retry but other content
// under a reused reference (see Outcome.Conflict). Times and trace IDs are
// not content.
func (it *Item) SameContent(o *Item) bool {
	if it.Title != o.Title || it.Body != o.Body || it.Complainant != o.Complainant ||
		(it.Location == nil) != (o.Location == nil) || it.Location != nil && *it.Location != *o.Location ||
		!maps.Equal(it.Attrs, o.Attrs) || it.RevisionOf != o.RevisionOf || len(it.Attachments) != len(o.Attachments) {
		return false
	}
	for i, a := range it.Attachments {
		if a.SHA256 != o.Attachments[i].SHA256 || a.Name != o.Attachments[i].Name {
			return false
		}
	}
	return true
}

// Redacted returns a copy of the item for a destination not entitled to the
// complainant's identity. It removes the complainant's name, phone and
// e-mail (the anonymous and consent flags stay) and everything else that
// may identify the complainant outside the text itself:
//
//   - attrs, except the keys in RedactedAttrs;
//   - raw_ref, which points at the original (a mail's From header);
//   - a mail's Message-ID in ref (redactedRef);
//   - attachments' file names (a scan called 张三身份证.jpg), which become
//     attachment-1.jpg, … (type, size, hash and blob reference stay).
//
// Location stays: it is the place the demand is about (the pothole's
// address), which the departments need, not the complainant's; connectors
// must not put a caller's home address there (the importer withholds such
// columns). Title and body stay as written. The original is not changed;
// Attrs and Attachments of the copy are new.
func (it *Item) Redacted() *Item {
	c := *it
	c.Complainant = Complainant{
		Anonymous:        it.Complainant.Anonymous,
		ConsentToPublish: it.Complainant.ConsentToPublish,
	}
	c.RawRef = ""
	c.Ref = redactedRef(it.Ref)
	c.Attrs = nil
	for k, v := range it.Attrs {
		if RedactedAttrs[k] {
			if c.Attrs == nil {
				c.Attrs = map[string]string{}
			}
			c.Attrs[k] = v
		}
	}
	if len(it.Attachments) > 0 {
		c.Attachments = make([]Attachment, len(it.Attachments))
		for i, a := range it.Attachments {
			a.Name = redactedName(i, a.Name)
			c.Attachments[i] = a
		}
	}
	return &c
}

// redactedRef is the ref a redacted copy has. A mail's ref is its
// Message-ID and the first 24 hex digits of its content hash
// ("id@host#<hash>", connectors/imap): the Message-ID's right side names
// the sender's mail domain or host (a unit's own mail server), and some
// clients put the sender's address on its left. The copy keeps the hash
// alone, as a mail without a Message-ID has it ("sha256:<hash>"), also for
// a Message-ID without '@' (some mail systems write their host in it
// without one; one longer than the ref keeps is cut before its '@'). Any
// other ref holding '@' becomes "withheld". Other refs (a desk's letter
// number, a work order's, a post's) stay.
func redactedRef(ref string) string {
	if i := len(ref) - len("#") - mailHashDigits; i > 0 && ref[i] == '#' && lowerHex(ref[i+1:]) {
		return "sha256:" + ref[i+1:]
	}
	if !strings.Contains(ref, "@") {
		return ref
	}
	if i := strings.LastIndexByte(ref, '#'); i >= 0 && !strings.Contains(ref[i:], "@") {
		return "sha256:" + ref[i+1:]
	}
	return "withheld"
}

// mailHashDigits is how many hex digits of a mail's content hash its ref
// ends with (connectors/imap Message.Ref).
const mailHashDigits = 24

// lowerHex reports whether s is lower-case hexadecimal digits only.
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// redactedName is the name the i-th attachment, called name, has in a
// redacted copy.
func redactedName(i int, name string) string {
	return fmt.Sprintf("attachment-%d%s", i+1, safeExt(name))
}

// Identifying reports whether the item carries anything Redacted
// withholds: the complainant's name, phone or e-mail, attrs other than
// RedactedAttrs, raw_ref, a mail's Message-ID, or an attachment's own
// file name. A redacted
// copy never does; a copy handed out with it gives away the identity (the
// access trail records which desk was handed it).
func (it *Item) Identifying() bool {
	if it.Complainant.Identified() || it.RawRef != "" || it.Ref != redactedRef(it.Ref) {
		return true
	}
	for k := range it.Attrs {
		if !RedactedAttrs[k] {
			return true
		}
	}
	for i, a := range it.Attachments {
		if a.Name != redactedName(i, a.Name) {
			return true
		}
	}
	return false
}

// safeExt is name's extension when it is short and plain ASCII (".jpg"),
// else "".
func safeExt(name string) string {
	ext := path.Ext(name)
	if len(ext) < 2 || len(ext) > 8 {
		return ""
	}
	for _, r := range ext[1:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return ext
}

// NewTraceID returns a random 128-bit trace ID in hex.
func NewTraceID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Prepare fills in what the gateway owns when a source left it empty: schema
// version, ID, trace ID, the time received (and the time submitted, when the
// source does not know it). It is idempotent.
func (it *Item) Prepare(now time.Time) {
	if it.SchemaVersion == "" {
		it.SchemaVersion = SchemaVersion
	}
	if it.ID == "" {
		it.ID = ItemID(it.Channel, it.Source, it.Ref)
	}
	if it.TraceID == "" {
		it.TraceID = NewTraceID()
	}
	if it.ReceivedAt.IsZero() {
		it.ReceivedAt = now.UTC()
	}
	if it.SubmittedAt.IsZero() {
		it.SubmittedAt = it.ReceivedAt
	}
}
