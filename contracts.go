package minsheng

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"
)

// Errors shared across packages. Wrap them with %w; test with errors.Is.
var (
	// ErrNotFound: no such item, blob, checkpoint or queue entry.
	ErrNotFound = errors.New("not found")
	// ErrStopping: the pipeline is shutting down and takes no new items.
	ErrStopping = errors.New("gateway is stopping")
	// ErrTooLarge: an input is over its configured size cap.
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable: a destination cannot accept items now; try again later.
	ErrUnavailable = errors.New("destination unavailable")
)

// AckFunc is a source's acknowledgement callback. The pipeline calls it
// exactly once for every item it accepted:
//
//   - err == nil: the item is durably handled — every destination its
//     decision names has accepted it, or it went to the rejected, review or
//     dead letter destination. The source may now advance its checkpoint,
//     answer 202, ack the sequence number.
//   - err != nil: the item was not durably handled (a destination was
//     unavailable, the gateway is stopping). The source must not advance
//     past it and should offer it again later.
//
// Acks may arrive out of order and on any goroutine.
type AckFunc func(Outcome, error)

// Outcome is what happened to an item.
type Outcome struct {
	ItemID   string    `json:"id"`
	TraceID  string    `json:"trace_id,omitempty"`
	Decision *Decision `json:"decision,omitempty"`
	// Destinations that durably accepted the item.
	Destinations []string `json:"destinations,omitempty"`
	// Duplicate: the item ID had been handled before; nothing was routed
	// again and Decision and Destinations are those of the first time.
	Duplicate bool `json:"duplicate,omitempty"`
	// Conflict: a desk's Duplicate (Item.Via) whose content differs from the item handled
	// under that ID before (Item.SameContent): its reference was reused for
	// other content. Nothing was routed; the source must send the new
	// content under a new reference (with revision_of for a correction),
	// or it is lost.
	Conflict bool `json:"conflict,omitempty"`
}

// Emitter is how a source hands items to the pipeline.
type Emitter interface {
	// Emit hands an item over. It blocks while the source has its maximum
	// number of items in flight (back-pressure). If it returns an error
	// (ctx ended, ErrStopping) the item was not taken and ack is never
	// called; otherwise ack is called exactly once, possibly before Emit
	// returns. The pipeline fills in ID, TraceID and SchemaVersion when empty.
	Emit(ctx context.Context, it *Item, ack AckFunc) error
	// Quarantine hands over an input the source could not turn into an item
	// (an undecodable mail, a malformed record). It goes to the dead letter
	// destination with its reason and raw bytes; ack is as for Emit.
	Quarantine(ctx context.Context, q *Quarantined, ack AckFunc) error
}

// Source is a connector that reads from a channel. Run reads until ctx is
// cancelled, emitting each item with an ack, and returns after it has
// stopped reading. It must not return before every ack it is owed has
// arrived or ctx is done; the pipeline drains in-flight items on shutdown.
type Source interface {
	Run(ctx context.Context, out Emitter) error
}

// Quarantined is an input a source could not turn into an item.
type Quarantined struct {
	Channel    Channel   `json:"channel"`
	Source     string    `json:"source"`
	Ref        string    `json:"ref"`
	ReceivedAt time.Time `json:"received_at"`
	// Reason the input could not be parsed.
	Reason string `json:"reason"`
	// RawRef references the stored raw bytes in the blob store.
	RawRef string `json:"raw_ref,omitempty"`
	// Raw holds the raw bytes when they are small enough to travel with the
	// dead letter envelope (the connector decides; see its README).
	Raw []byte `json:"raw,omitempty"`
}

// ID is the quarantined input's stable ID, derived like an item's.
func (q *Quarantined) ID() string { return ItemID(q.Channel, q.Source, q.Ref) }

// Triager screens, classifies and explains one item. It must not change the
// item.
type Triager interface {
	Decide(ctx context.Context, it *Item) (Decision, error)
}

// Linker finds the case an item belongs to among the items handled before
// it (triage's "dedupe / link cases" step).
type Linker interface {
	// Link returns the case the item joins (nil for none) among earlier
	// items routed to exactly the destinations it is about to be routed
	// to (dests), so that no destination is named an item it was not sent.
	// The item is held from then on, so that a like item handled at the
	// same moment joins its case. The caller must call remember, never
	// nil, once: with the destinations the item reached when its trail is
	// recorded, or nil when its handling failed; unless they are dests,
	// the item is forgotten.
	Link(it *Item, d *Decision, dests []string) (c *CaseLink, remember func(reached []string))
	// Keep remembers an item linked before, under the case its decision
	// names (its own when none), as having reached dests, without looking
	// for a case again: a decision at review that a later request finished,
	// after the first request's hold was let go.
	Keep(it *Item, d *Decision, dests []string)
	// Drop forgets the item with this ID, if held: an incomplete item
	// held since its first route (only the inspectors' destinations
	// lacked it) whose finishing route dead-lettered it, which a
	// restarted gateway does not hold either.
	Drop(id string)
}

// Envelope kinds: what a destination receives.
const (
	KindItem       = "item"        // a valid item routed by its class or flags
	KindRejected   = "rejected"    // an invalid item, with the screen's reason
	KindReview     = "review"      // a decision below threshold, for a person to check
	KindDeadLetter = "dead_letter" // undeliverable or unparseable input, with the reason
)

// Envelope is the message a destination receives, on Kafka and on the
// embedded queues alike (JSON, schema_version "1").
type Envelope struct {
	SchemaVersion string    `json:"schema_version"`
	Destination   string    `json:"destination"`
	Kind          string    `json:"kind"`
	ItemID        string    `json:"id"`
	TraceID       string    `json:"trace_id,omitempty"`
	RoutedAt      time.Time `json:"routed_at"`
	// Item as this destination may see it: identity removed when the
	// destination is not entitled to it.
	Item     *Item     `json:"item,omitempty"`
	Decision *Decision `json:"decision,omitempty"`
	// Reason for rejected and dead letter envelopes.
	Reason     string       `json:"reason,omitempty"`
	Quarantine *Quarantined `json:"quarantine,omitempty"`
	// Reached and Undelivered (dead letter envelopes of an item some of
	// whose destinations took it before another refused it for good): the
	// destinations that hold the item already, and those this dead
	// letter's reader is to re-deliver it to (only those), with why they
	// do not have it. A dead letter not told of a discipline lead names
	// none of the inspectors' destinations.
	Reached     []string      `json:"reached,omitempty"`
	Undelivered []Undelivered `json:"undelivered,omitempty"`
}

// Undelivered is a destination an item's decision names that does not
// have the item, and why: refused by it for good (an item dead-lettered
// after others took it: every destination that did not refuse it took
// it), or, in a re-delivery's preview, not sent, the item having gone to
// the dead letter before it was sent anywhere.
type Undelivered struct {
	Destination string `json:"destination"`
	Reason      string `json:"reason"`
	// Refused: the destination refused the item for good (too large for
	// its topic, an invalid record): re-delivered as it is, it would be
	// refused again unless what refused it is mended. Otherwise it was
	// not sent.
	Refused bool `json:"refused,omitempty"`
}

// Routing is where a routed item went.
type Routing struct {
	// Destinations that durably accepted the item, the dead letters
	// among them.
	Destinations []string
	// Undelivered, for an item that went to a dead letter after a
	// destination refused it for good: each destination its decision
	// names that does not have it. Destinations then holds those that do.
	Undelivered []Undelivered
}

// Sink delivers envelopes to one kind of destination (Kafka topics, the
// embedded queues).
type Sink interface {
	// Deliver returns nil only after the destination has durably accepted
	// every envelope. On error some envelopes may have landed: a retry can
	// repeat them, under the same item ID.
	Deliver(ctx context.Context, envs []*Envelope) error
	// Close flushes and releases the sink.
	Close() error
}

// Router sends a decided item to its destinations.
type Router interface {
	// RouteItem delivers the item to every destination its decision names
	// (or to the dead letter destination when one refuses it for good) and
	// returns the destinations that accepted it, and those that did not
	// when it was dead-lettered. An error means the item is not durably
	// handled; the caller must not ack the source. Routing.Destinations
	// then names the destinations that took the item before the error
	// (they keep it), none when it was not said.
	RouteItem(ctx context.Context, it *Item, d *Decision) (Routing, error)
	// RouteExcept is RouteItem to the destinations the decision names but
	// those in reached, which hold the item already (an incomplete route
	// finished). It returns the destinations it delivered to.
	RouteExcept(ctx context.Context, it *Item, d *Decision, reached []string) (Routing, error)
	// RouteQuarantined delivers an unparseable input to the dead letter
	// destination.
	RouteQuarantined(ctx context.Context, q *Quarantined) ([]string, error)
	// DestinationsFor returns where an item with this decision would go,
	// and the envelope kind, without sending anything.
	DestinationsFor(d *Decision) ([]string, string)
}

// Trail steps.
const (
	StepReceived   = "received"
	StepScreened   = "screened"
	StepClassified = "classified"
	StepRouted     = "routed"
	StepAcked      = "acked"
	// StepReviewed: a person at a desk that reads the review destination
	// decided the class of an item triage sent there (Record.Review).
	StepReviewed = "reviewed"
	// StepRedelivered: a desk that reads a dead letter the item went to
	// re-delivered it to destinations that did not have it (Destinations;
	// Detail names the desk).
	StepRedelivered = "redelivered"
)

// TrailDisciplineLead ends the classified step's detail of an item with a
// discipline lead. The router takes it out of the trail shown to a desk
// that is not told of the lead.
const TrailDisciplineLead = ", discipline lead"

// Event is one step of an item's trail.
type Event struct {
	Step         string    `json:"step"`
	At           time.Time `json:"at"`
	Detail       string    `json:"detail,omitempty"`
	Destinations []string  `json:"destinations,omitempty"`
}

// Record is what the gateway keeps of a handled item: the item, its
// decision, where it went and its trail.
type Record struct {
	ID           string       `json:"id"`
	Item         *Item        `json:"item,omitempty"`
	Quarantine   *Quarantined `json:"quarantine,omitempty"`
	Decision     *Decision    `json:"decision,omitempty"`
	Destinations []string     `json:"destinations"`
	// Undelivered: the destinations its decision names that refused it
	// when it was dead-lettered; Destinations holds those that took it,
	// and the dead letters.
	Undelivered []Undelivered `json:"undelivered,omitempty"`
	// Incomplete: some of the destinations its decision names took the
	// item (Destinations) and another could not be reached before
	// pipeline.route_timeout, in a way that may pass. The source was not
	// acked; when it offers the item again, or at the pipeline's finisher's
	// next pass (pipeline.finish_interval) if that comes first, the
	// pipeline sends the recorded item, with the recorded decision, to the
	// destinations that do not hold it and records it complete. Such a record is no
	// repeat's answer, joins no case and is neither in review nor
	// dead-lettered.
	Incomplete bool    `json:"incomplete,omitempty"`
	Trail      []Event `json:"trail"`
	// Review is set once a person has decided an item that triage sent to
	// review; Decision is then theirs.
	Review *Review `json:"review,omitempty"`
}

// Lacking returns those of named (the destinations the record's decision
// names) that neither hold the item nor refused it for good: where an
// incomplete route is yet to send it.
func (r *Record) Lacking(named []string) []string {
	var out []string
	for _, d := range named {
		if !slices.Contains(r.Destinations, d) && !slices.ContainsFunc(r.Undelivered, func(u Undelivered) bool { return u.Destination == d }) {
			out = append(out, d)
		}
	}
	return out
}

// Review is a person's decision on an item triage sent to review: who made
// it, when, and triage's decision before it.
type Review struct {
	Desk   string    `json:"desk"`
	At     time.Time `json:"at"`
	Triage *Decision `json:"triage,omitempty"`
	// Department is the sector the person named, "" when they kept
	// triage's; RaisedLead, that they raised a discipline lead.
	Department string `json:"department,omitempty"`
	RaisedLead bool   `json:"raised_lead,omitempty"`
	// Pending: the decision is written down but the item not yet sent on
	// to all it names; only the same decision again may finish it.
	Pending bool `json:"pending,omitempty"`
}

// Ledger keeps records of handled items; it is how repeats are recognised
// and items traced.
type Ledger interface {
	// Lookup returns the record of a handled item, or ErrNotFound.
	Lookup(ctx context.Context, id string) (*Record, error)
	// Commit stores a record durably before it returns.
	Commit(ctx context.Context, r *Record) error
}

// Checkpoints is durable key/value state for connectors: IMAP (UIDVALIDITY,
// UID), feed cursors, hotline sequence numbers. Keys are namespaced by the
// connector ("imap/<mailbox>").
type Checkpoints interface {
	// Get returns the value, or nil and no error when the key is absent.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores the value durably before it returns.
	Put(ctx context.Context, key string, value []byte) error
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Ref    string // "sha256:<hex>"
	SHA256 string // hex
	Size   int64
}

// Blobs is a content-addressed store for raw originals and attachments.
type Blobs interface {
	// Put stores what r yields, at most max bytes (ErrTooLarge beyond, and
	// nothing is kept), durably before it returns.
	Put(ctx context.Context, r io.Reader, max int64) (BlobInfo, error)
	// Open returns the blob's content, or ErrNotFound.
	Open(ctx context.Context, ref string) (io.ReadCloser, error)
	// Stage writes what r yields, at most max bytes (ErrTooLarge beyond,
	// and nothing is kept), without storing it yet: no Open finds it, and
	// Discard removes it without touching a blob of the same content
	// stored by anyone else. For a request that may yet be refused.
	Stage(ctx context.Context, r io.Reader, max int64) (StagedBlob, error)
}

// StagedBlob is a blob written by Blobs.Stage and not stored yet.
type StagedBlob interface {
	// Info is what Put would have returned.
	Info() BlobInfo
	// Commit stores the blob, durably, as Put does.
	Commit() error
	// Discard removes the staged copy; after Commit it does nothing.
	Discard()
}

// QueuedMessage is an envelope handed to a reader of an embedded queue.
type QueuedMessage struct {
	Seq uint64 `json:"seq"`
	// Deliveries counts how many times the message has been handed out
	// since the gateway started, this time included.
	Deliveries int       `json:"deliveries"`
	Envelope   *Envelope `json:"envelope"`
}

// Refusal names an item ID that an ack or a release of an embedded queue did
// not act on, and why (one of the Refused… reasons).
type Refusal struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Why an ack or a release refused an ID: only messages the caller holds
// (under a live lease, or one that ran out with no other reader since) are
// acked or released.
const (
	// RefusedUnknown: no such message waits in the queue (never queued, or
	// acked already).
	RefusedUnknown = "unknown"
	// RefusedNotLeased: the message waits but the caller does not hold it
	// (not read by the caller since the gateway started, or released). A
	// caller whose lease ran out still holds the message until another
	// desk reads it.
	RefusedNotLeased = "not_leased"
	// RefusedLeasedByOther: another desk holds it under a live lease.
	RefusedLeasedByOther = "leased_by_other"
)
