package cases

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"slices"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// A Snapshot is what a rebuild of the index makes of a prefix of the
// ledger: the items it would consider (their sketches, IDs, cases,
// classes, scopes and times, never their texts), each with its position in
// the ledger. The index is built from it (Load) as Rebuild builds it from
// the whole ledger; records written after the prefix are folded into it
// first (Replay), so that a restart reads only those. Kept in a file
// (WriteSnapshot, ReadSnapshot), it is refused when the configuration,
// the scope rules or the sketch it was made under differ.
//
// What Rebuild keeps depends only on the set of the latest records, not on
// their order: of the items that take part (linkable, held under a scope),
// those received within the window before the ledger's newest item
// (counted as at most an hour past the clock), at most MaxItems, the
// newest by (time received, position). A snapshot holds those of its
// prefix and a margin more (capacity), and remembers the best item it let
// go for want of room (its bound); every item above the bound is in it. A
// record written later for an item it holds replaces it (a review decided,
// a decision sent on). Load refuses a snapshot that no longer holds
// MaxItems items above its bound, which only happens when more than the
// margin of its items were rewritten to take no part.
type Snapshot struct {
	// Ledger is the caller's mark of the last ledger record the snapshot
	// covers (opaque here; see store.LedgerMark).
	Ledger json.RawMessage

	scope   string // the caller's key of the scope rules
	entries map[string]*entry
	// maxAt is when the newest item of the prefix was received (maxID);
	// what the window runs back from.
	maxAt time.Time
	maxID string
	// pruned is the latest time the window was measured back from to let
	// items go: a clock set back before it would keep items already gone.
	pruned time.Time
	// bounded: items were let go for want of room, the best of them bound.
	bounded bool
	bound   key
	// lost says why the snapshot no longer stands for the ledger ("": it
	// does).
	lost string
}

// key orders items as a rebuild does: by time received, then by position
// in the ledger.
type key struct {
	at  time.Time
	pos uint64
}

func (a key) compare(b key) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

type entry struct {
	id, kase, scope string
	class           minsheng.Class
	at, since       time.Time
	pos             uint64
	min             [K]uint32
}

func (e *entry) key() key { return key{e.at, e.pos} }

// NewSnapshot returns an empty snapshot (of an empty ledger) under the
// scope rules named by scopeKey (router.Router.CaseScopeKey): a snapshot
// read back under other rules is refused.
func (x *Index) NewSnapshot(scopeKey string) *Snapshot {
	return &Snapshot{scope: scopeKey, entries: map[string]*entry{}}
}

// Len returns how many items the snapshot holds.
func (s *Snapshot) Len() int { return len(s.entries) }

// capacity is how many items a snapshot keeps: MaxItems and a margin for
// items rewritten later to take no part (an eighth more, and
// snapshotMargin).
func (x *Index) capacity() int { return x.cfg.MaxItems + x.cfg.MaxItems/8 + snapshotMargin }

// snapshotMargin is a variable for tests.
var snapshotMargin = 1024

// Replay folds records into s, as Rebuild reads them: each yields the
// latest record of every item written after s's prefix, in the order
// written, with its position (growing with each record written; a
// record's position comes after every position s holds). It returns how
// many records it was given; on an error, those before it are folded in.
func (x *Index) Replay(s *Snapshot, each func(func(pos uint64, r *minsheng.Record) error) error, scope func(*minsheng.Record) []string) (int, error) {
	n := 0
	err := each(func(pos uint64, r *minsheng.Record) error {
		n++
		x.fold(s, pos, r, scope)
		return nil
	})
	return n, err
}

// fold takes one record into s.
func (x *Index) fold(s *Snapshot, pos uint64, r *minsheng.Record, scope func(*minsheng.Record) []string) {
	delete(s.entries, r.ID) // an item written again: its latest record counts
	if r.ID == s.maxID && (r.Item == nil || !r.Item.ReceivedAt.Equal(s.maxAt)) {
		s.lost = "the record of the newest item it covers was written again with another time received"
	}
	if r.Item == nil {
		return
	}
	at := r.Item.ReceivedAt
	if s.maxID == "" || at.After(s.maxAt) {
		s.maxAt, s.maxID = at, r.ID
	}
	// Items still in review and decisions a person made that are not yet
	// sent on in full are left out, as they are while the gateway runs;
	// so are items whose route is incomplete (the pipeline finishes it
	// when the source offers the item again) unless scope gives them one.
	if r.Decision == nil || (r.Incomplete && scope == nil) || (r.Review != nil && r.Review.Pending) {
		return
	}
	sk := MakeSketch(text(r.Item))
	if !x.linkable(r.Decision, &sk) {
		return
	}
	dests := r.Destinations
	if scope != nil {
		if dests = scope(r); len(dests) == 0 {
			return // no case is found among no destinations
		}
	}
	s.entries[r.ID] = &entry{id: r.ID, kase: caseRoot(r.Item, r.Decision), scope: scopeOf(dests), class: r.Decision.Class,
		at: at, since: caseSince(r.Item, r.Decision), pos: pos, min: sk.Min}
	if len(s.entries) >= 2*x.capacity() {
		x.trim(s)
	}
}

// trim lets go of the items of s outside the window and, beyond its
// capacity, the oldest.
func (x *Index) trim(s *Snapshot) {
	if s.maxID == "" {
		return
	}
	ref := x.clamp(s.maxAt)
	for id, e := range s.entries {
		if ref.Sub(e.at) > x.cfg.Window {
			delete(s.entries, id)
		}
	}
	if ref.After(s.pruned) {
		s.pruned = ref
	}
	if len(s.entries) <= x.capacity() {
		return
	}
	all := s.sorted()
	gone := all[:len(all)-x.capacity()]
	if b := gone[len(gone)-1].key(); !s.bounded || b.compare(s.bound) > 0 {
		s.bounded, s.bound = true, b
	}
	for _, e := range gone {
		delete(s.entries, e.id)
	}
}

// sorted returns the items of s, oldest first.
func (s *Snapshot) sorted() []*entry {
	all := make([]*entry, 0, len(s.entries))
	for _, e := range s.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int { return a.key().compare(b.key()) })
	return all
}

// Load fills the empty index from s as Rebuild would from the records s
// covers: the newest MaxItems items within the window, inserted oldest
// first. It refuses (loading nothing) a snapshot that no longer stands
// for the ledger (CheckSnapshot); the caller then rebuilds from the whole
// ledger. s is trimmed and may be written again.
func (x *Index) Load(s *Snapshot) (int, error) {
	if x.cfg.Disabled {
		return 0, nil
	}
	if err := x.CheckSnapshot(s); err != nil {
		return 0, err
	}
	all := s.sorted()
	held := all[max(len(all)-x.cfg.MaxItems, 0):]
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range held {
		x.insert(e.id, e.kase, e.class, e.scope, e.at, e.since, &Sketch{Min: e.min})
	}
	return len(x.byID), nil
}

// CheckSnapshot trims s and tells whether it still stands for the ledger
// it was folded from: not when the record of its newest item was written
// again with another time, the clock is set back before the time it let
// items go by, or fewer than MaxItems of its items are above its bound
// (more than its margin were written again to take no part).
func (x *Index) CheckSnapshot(s *Snapshot) error {
	if s.lost != "" {
		return fmt.Errorf("cases: snapshot: %s", s.lost)
	}
	if s.maxID != "" {
		if ref := x.clamp(s.maxAt); ref.Before(s.pruned) {
			return fmt.Errorf("cases: snapshot: the clock (%s) is behind the time the snapshot let items go by (%s)",
				x.now().UTC().Format(time.RFC3339), s.pruned.UTC().Format(time.RFC3339))
		}
	}
	x.trim(s)
	all := s.sorted()
	held := all[max(len(all)-x.cfg.MaxItems, 0):]
	if s.bounded && x.clamp(s.maxAt).Sub(s.bound.at) <= x.cfg.Window && (len(held) < x.cfg.MaxItems || held[0].key().compare(s.bound) <= 0) {
		return fmt.Errorf("cases: snapshot: %d of its items are above the ones it let go, fewer than the %d the index holds (items it held were written again since)",
			len(all)-sortedAbove(all, s.bound), x.cfg.MaxItems)
	}
	return nil
}

// sortedAbove returns the index of the first item of all (sorted) above b.
func sortedAbove(all []*entry, b key) int {
	i, _ := slices.BinarySearchFunc(all, b, func(e *entry, b key) int {
		if e.key().compare(b) <= 0 {
			return -1
		}
		return 1
	})
	return i
}

// snapshotMagic begins a snapshot file; snapshotVersion is its layout
// and the rules it was made by. Change the version when what a rebuild
// keeps changes (linkable, the scope of a record, the window's
// reference), so that older snapshots are refused.
//
// Version 2: incomplete records are indexed (under the scope they will have
// once finished) when only the inspectors' destinations lack the item;
// version 1 left them out.
const (
	snapshotMagic   = "minsheng case index snapshot\n"
	snapshotVersion = 2
)

// snapshotHeader is the JSON header of a snapshot file.
type snapshotHeader struct {
	Version   int             `json:"version"`
	Window    time.Duration   `json:"window"`
	MaxItems  int             `json:"max_items"`
	MinRuns   int             `json:"min_runs"`
	Threshold float64         `json:"threshold"`
	Scope     string          `json:"scope"`
	Sketch    uint64          `json:"sketch"`
	Ledger    json.RawMessage `json:"ledger,omitempty"`
	MaxAt     time.Time       `json:"max_at"`
	MaxID     string          `json:"max_id,omitempty"`
	Pruned    time.Time       `json:"pruned"`
	Bounded   bool            `json:"bounded,omitempty"`
	BoundAt   time.Time       `json:"bound_at"`
	BoundPos  uint64          `json:"bound_pos,omitempty"`
	Entries   int             `json:"entries"`
}

// sketchProbe is a text whose sketch names the sketching in use: a change
// to it (normalisation, hashing, the bins) changes the sketch, and a
// snapshot made by the old one is refused.
const sketchProbe = "关于ＡＢＣ小区電梯長期故障的投訴：<p>您好！</p>我們是8棟住戶，电梯已经坏了三个月，物业一直推说在等配件。12345 Ｔｅｌ：０５３２"

func sketchFingerprint() uint64 {
	sk := MakeSketch(sketchProbe)
	h := fnv.New64a()
	binary.Write(h, binary.LittleEndian, sk.Min)
	binary.Write(h, binary.LittleEndian, [3]int64{int64(sk.Runs), K, bands})
	return h.Sum64()
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes s: a magic line, a JSON header (the configuration
// and scope rules it was made under, its ledger mark, its bounds), the
// items in binary, oldest first, and a CRC-32C of all before it.
func (x *Index) WriteSnapshot(w io.Writer, s *Snapshot) error {
	if s.lost != "" {
		return fmt.Errorf("cases: snapshot: %s", s.lost)
	}
	x.trim(s)
	all := s.sorted()
	h := snapshotHeader{Version: snapshotVersion, Window: x.cfg.Window, MaxItems: x.cfg.MaxItems, MinRuns: x.cfg.MinRuns,
		Threshold: x.cfg.Threshold, Scope: s.scope, Sketch: sketchFingerprint(), Ledger: s.Ledger, MaxAt: s.maxAt, MaxID: s.maxID,
		Pruned: s.pruned, Bounded: s.bounded, BoundAt: s.bound.at, BoundPos: s.bound.pos, Entries: len(all)}
	head, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("cases: snapshot: %w", err)
	}
	sum := crc32.New(crcTable)
	out := io.MultiWriter(w, sum)
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, snapshotMagic...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(head)))
	buf = append(buf, head...)
	for _, e := range all {
		buf = binary.BigEndian.AppendUint64(buf, e.pos)
		for _, t := range []time.Time{e.at, e.since} {
			if buf, err = appendTime(buf, t); err != nil {
				return fmt.Errorf("cases: snapshot: item %s: %w", e.id, err)
			}
		}
		for _, str := range []string{e.id, e.kase, string(e.class), e.scope} {
			buf = binary.AppendUvarint(buf, uint64(len(str)))
			buf = append(buf, str...)
		}
		for _, v := range e.min {
			buf = binary.LittleEndian.AppendUint32(buf, v)
		}
		if len(buf) >= 60<<10 {
			if _, err := out.Write(buf); err != nil {
				return fmt.Errorf("cases: snapshot: %w", err)
			}
			buf = buf[:0]
		}
	}
	if _, err := out.Write(buf); err != nil {
		return fmt.Errorf("cases: snapshot: %w", err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, sum.Sum32())); err != nil {
		return fmt.Errorf("cases: snapshot: %w", err)
	}
	return nil
}

// appendTime appends t as time.Time's binary form (its offset kept, as a
// record's JSON keeps it), after its length.
func appendTime(buf []byte, t time.Time) ([]byte, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return buf, err
	}
	buf = append(buf, byte(len(b)))
	return append(buf, b...), nil
}

// ErrSnapshotMismatch is wrapped by ReadSnapshot when a whole snapshot was
// made under another version, configuration, scope rules or sketch.
var ErrSnapshotMismatch = errors.New("made under other rules")

// ReadSnapshot reads a snapshot WriteSnapshot wrote. It refuses one that is
// cut short or damaged (its checksum), of another version, or made under
// another configuration (window, max_items, min_runs, threshold), other
// scope rules (scopeKey) or another sketch, naming what differs.
func (x *Index) ReadSnapshot(r io.Reader, scopeKey string) (*Snapshot, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cases: snapshot: %w", err)
	}
	if !bytes.HasPrefix(raw, []byte(snapshotMagic)) {
		return nil, fmt.Errorf("cases: snapshot: not a case index snapshot")
	}
	if len(raw) < len(snapshotMagic)+8 || crc32.Checksum(raw[:len(raw)-4], crcTable) != binary.BigEndian.Uint32(raw[len(raw)-4:]) {
		return nil, fmt.Errorf("cases: snapshot: cut short or damaged (its checksum does not match)")
	}
	b := raw[len(snapshotMagic) : len(raw)-4]
	n := int(binary.BigEndian.Uint32(b))
	if n > len(b)-4 {
		return nil, fmt.Errorf("cases: snapshot: damaged header")
	}
	var h snapshotHeader
	if err := json.Unmarshal(b[4:4+n], &h); err != nil {
		return nil, fmt.Errorf("cases: snapshot: header: %w", err)
	}
	b = b[4+n:]
	for _, d := range []struct {
		what      string
		was, want any
	}{
		{"version", h.Version, snapshotVersion},
		{"cases.window", h.Window, x.cfg.Window},
		{"cases.max_items", h.MaxItems, x.cfg.MaxItems},
		{"cases.min_runs", h.MinRuns, x.cfg.MinRuns},
		{"cases.threshold", h.Threshold, x.cfg.Threshold},
		{"the routes (scope rules)", h.Scope, scopeKey},
		{"the sketch", h.Sketch, sketchFingerprint()},
	} {
		if d.was != d.want {
			return nil, fmt.Errorf("cases: snapshot: %w: %s was %v, is %v", ErrSnapshotMismatch, d.what, d.was, d.want)
		}
	}
	s := &Snapshot{Ledger: h.Ledger, scope: h.Scope, entries: make(map[string]*entry, h.Entries), maxAt: h.MaxAt, maxID: h.MaxID,
		pruned: h.Pruned, bounded: h.Bounded, bound: key{h.BoundAt, h.BoundPos}}
	es := make([]entry, h.Entries)
	bad := func(i int) error { return fmt.Errorf("cases: snapshot: item %d of %d is damaged", i+1, h.Entries) }
	for i := range es {
		e := &es[i]
		if len(b) < 8 {
			return nil, bad(i)
		}
		e.pos, b = binary.BigEndian.Uint64(b), b[8:]
		for _, t := range []*time.Time{&e.at, &e.since} {
			if len(b) < 1 || len(b) < 1+int(b[0]) {
				return nil, bad(i)
			}
			if err := t.UnmarshalBinary(b[1 : 1+int(b[0])]); err != nil {
				return nil, bad(i)
			}
			b = b[1+int(b[0]):]
		}
		var class string
		for _, str := range []*string{&e.id, &e.kase, &class, &e.scope} {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return nil, bad(i)
			}
			*str, b = string(b[k:k+int(l)]), b[k+int(l):]
		}
		e.class = minsheng.Class(class)
		if len(b) < 4*K {
			return nil, bad(i)
		}
		for j := range e.min {
			e.min[j] = binary.LittleEndian.Uint32(b[4*j:])
		}
		b = b[4*K:]
		s.entries[e.id] = e
	}
	if len(b) != 0 || len(s.entries) != h.Entries {
		return nil, fmt.Errorf("cases: snapshot: damaged (%d bytes after its items, %d items of %d distinct)", len(b), len(s.entries), h.Entries)
	}
	return s, nil
}
