package cases

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
)

// Config tunes case linking (the gateway's `cases:` section).
type Config struct {
	// Disabled turns linking off: no item carries a case.
	Disabled bool `yaml:"disabled"`
	// Threshold is the least similarity (estimated share of three-character
	// runs in common) at which an item joins an earlier item's case. On 附件3
	// of the 泰迪杯 board, pairs at 0.5 and above were the same demand about
	// five times in six; below it, letters of one template about different
	// places come in.
	Threshold float64 `yaml:"threshold" default:"0.5" validate:"gt=0,lte=1"`
	// MinRuns: a text with fewer three-character runs (about as many
	// letters and digits) is never linked, nor linked to: short orders such
	// as "小区停水" are alike without being one case.
	MinRuns int `yaml:"min_runs" default:"40" validate:"gte=3,lte=100000"`
	// Window: items received longer ago than this before the newest are
	// forgotten (the newest counted as at most an hour past the clock).
	Window time.Duration `yaml:"window" default:"720h" validate:"gt=0"`
	// MaxItems bounds the items remembered, the oldest forgotten first.
	// Each costs about 1.3 KiB of memory (BenchmarkLinkRemember), so the
	// default holds at most about 130 MiB.
	MaxItems int `yaml:"max_items" default:"100000" validate:"gte=1,lte=50000000"`
}

// DefaultConfig returns the defaults the tags above give.
func DefaultConfig() Config {
	return Config{Threshold: 0.5, MinRuns: 40, Window: 720 * time.Hour, MaxItems: 100000}
}

// slot is what the search reads of a remembered item. It holds no
// pointer, so the collector does not scan the ring of slots (about 0.4 KiB
// an item); what does hold pointers is in meta.
type slot struct {
	seq uint64 // 0: free
	min [K]uint32
	// next[b] is the seq of the previous item with the same key in band
	// b, 0 when none.
	next [bands]uint64
	// prevInCase is the seq of the case's previous item, 0 when none.
	prevInCase uint64
}

type meta struct {
	id    string
	kase  string
	class minsheng.Class
	scope string // the destinations it was routed to, sorted and joined
	at    time.Time
}

// chunkSize is how many items a chunk of the ring holds; chunks are
// allocated as the ring fills, so a small window costs little memory and
// a growing one is never copied.
const chunkSize = 1024

// maxWalk bounds the items of one band looked at, newest first: when a
// campaign sends one letter hundreds of times, a new copy is compared
// with the latest of them, not with all. Once a case is found and four
// bands' worth of items were looked at, the other bands are not walked.
const maxWalk = 64

type caseInfo struct {
	items int
	since time.Time
	last  uint64 // the seq of its newest item
}

// Index remembers the items of its window and finds the case of a new one.
// It is safe for concurrent use.
type Index struct {
	cfg Config

	mu sync.Mutex
	// seq s lives at position (s-1) % MaxItems of the ring, in chunks.
	slots  []*[chunkSize]slot
	metas  []*[chunkSize]meta
	seq    uint64 // the last seq given
	oldest uint64 // the oldest seq remembered; > seq when none
	heads  map[uint64]uint64
	byID   map[string]uint64
	cases  map[string]*caseInfo
	scopes map[string]string
	newest time.Time
	now    func() time.Time // the clock (tests)
	linked *prometheus.CounterVec
}

// Collector exports minsheng_items_linked_total{class}: the items that
// joined a case and reached where it was found, whether triage or a
// person at review decided them.
func (x *Index) Collector() prometheus.Collector { return x.linked }

// New makes an empty index.
func New(cfg Config) (*Index, error) {
	var errs minsheng.FieldErrors
	if !(cfg.Threshold > 0 && cfg.Threshold <= 1) {
		errs = append(errs, minsheng.FieldError{Path: "cases.threshold", Msg: fmt.Sprintf("must be in (0,1], is %g", cfg.Threshold)})
	}
	if cfg.MinRuns < 3 {
		errs = append(errs, minsheng.FieldError{Path: "cases.min_runs", Msg: fmt.Sprintf("must be at least 3, is %d", cfg.MinRuns)})
	}
	if cfg.Window <= 0 {
		errs = append(errs, minsheng.FieldError{Path: "cases.window", Msg: fmt.Sprintf("must be positive, is %s", cfg.Window)})
	}
	if cfg.MaxItems < 1 {
		errs = append(errs, minsheng.FieldError{Path: "cases.max_items", Msg: fmt.Sprintf("must be at least 1, is %d", cfg.MaxItems)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	n := (cfg.MaxItems + chunkSize - 1) / chunkSize
	return &Index{cfg: cfg, oldest: 1, slots: make([]*[chunkSize]slot, n), metas: make([]*[chunkSize]meta, n),
		heads: map[uint64]uint64{}, byID: map[string]uint64{}, cases: map[string]*caseInfo{}, scopes: map[string]string{}, now: time.Now,
		linked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_items_linked_total",
			Help: "Items that joined the case of earlier like items and reached where it was found, by class."}, []string{"class"})}, nil
}

// linkable reports whether an item of this decision takes part: valid,
// not sent to review, and long enough. An item in review goes to the
// review desk alone (and the inspectors) until a person decides its class;
// until then it is neither linked nor remembered, so that no case ever
// names an item whose class a person may change. The person's decision is
// linked like any other (router.ReviewAPI).
func (x *Index) linkable(d *minsheng.Decision, sk *Sketch) bool {
	return d != nil && d.Class != minsheng.ClassInvalid && d.Class != "" && !d.Review && sk.Runs >= x.cfg.MinRuns
}

// scopeOf is the key of a set of destinations: sorted, joined. Items are
// linked only within one scope.
func scopeOf(dests []string) string {
	if len(dests) == 1 {
		return dests[0]
	}
	ds := slices.Clone(dests)
	slices.Sort(ds)
	return strings.Join(slices.Compact(ds), ",")
}

func text(it *minsheng.Item) string { return it.Title + "\n" + it.Body }

// Link returns the case the item joins: the case of the most alike
// earlier item of the same class, routed to exactly the same destinations
// (dests), when that is at least Threshold alike and within the window.
// So no destination learns of an item it was not sent: a discipline report
// is never named to a 12345 desk, nor an item that went to one department
// to another. The item is recorded at once, so that a like item handled
// at the same moment (an import's rows, a campaign's copies) joins its
// case; remember must then be called once, with the destinations the item
// reached when its trail is recorded, or nil when its handling failed: an
// item that did not reach dests (failed, dead-lettered) is forgotten.
func (x *Index) Link(it *minsheng.Item, d *minsheng.Decision, dests []string) (*minsheng.CaseLink, func(reached []string)) {
	nothing := func([]string) {}
	if x.cfg.Disabled {
		return nil, nothing
	}
	if len(dests) == 0 {
		// No route (a class the routes do not name): no case is found
		// among no destinations, and an item held under none would be
		// neither dropped when it fails nor forgotten in its turn.
		return nil, nothing
	}
	sk := MakeSketch(text(it))
	if !x.linkable(d, &sk) {
		return nil, nothing
	}
	scope := scopeOf(dests)
	dests = slices.Clone(dests) // the caller's slice may change before remember
	var keys [bands]uint64
	for b := range keys {
		keys[b] = sk.band(b)
	}
	x.mu.Lock()
	c := x.find(it, d.Class, scope, &sk, &keys)
	kase, since := it.ID, it.ReceivedAt
	if c != nil {
		kase = c.ID
		if c.Since.Before(since) {
			since = c.Since
		}
	}
	class := d.Class
	seq := x.insert(it.ID, kase, class, scope, it.ReceivedAt, since, &sk)
	x.mu.Unlock()
	return c, func(reached []string) {
		if minsheng.SameDestinations(reached, dests) {
			if c != nil {
				x.linked.WithLabelValues(string(class)).Inc()
			}
			return
		}
		if seq == 0 {
			return
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		x.drop(seq)
	}
}

// Keep remembers an item whose case was found before (d.Case, or none),
// as having reached dests: a review decision finished by a later request,
// whose first request let go of its hold when it failed part way. An item
// the index holds already is left as it is.
func (x *Index) Keep(it *minsheng.Item, d *minsheng.Decision, dests []string) {
	if x.cfg.Disabled {
		return
	}
	sk := MakeSketch(text(it))
	if !x.linkable(d, &sk) || len(dests) == 0 {
		return
	}
	x.mu.Lock()
	seq := x.insert(it.ID, caseRoot(it, d), d.Class, scopeOf(dests), it.ReceivedAt, caseSince(it, d), &sk)
	x.mu.Unlock()
	if seq != 0 && d.Case != nil {
		x.linked.WithLabelValues(string(d.Class)).Inc()
	}
}

// Drop forgets the item with this ID, if the index holds it: an
// incomplete item held since its first route whose finishing route
// dead-lettered it.
func (x *Index) Drop(id string) {
	if x.cfg.Disabled {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if seq, ok := x.byID[id]; ok {
		x.drop(seq)
	}
}

// find returns the case of the nearest earlier item of the class and
// scope: the most alike, the earliest of equals, but the first copy met
// (the newest) when its sketch is the same; x.mu is held.
func (x *Index) find(it *minsheng.Item, class minsheng.Class, scope string, sk *Sketch, keys *[bands]uint64) *minsheng.CaseLink {
	var best *meta
	bestSeq, bestSim := uint64(0), 0.0
	var seen candidates
	steps := 0
walk:
	for b, k := range keys {
		if best != nil && steps >= 4*maxWalk {
			break // a campaign: its copies fill every band, and one is found
		}
		walked := 0
		for s := x.heads[k]; s >= x.oldest && s != 0 && walked < maxWalk; walked++ {
			steps++
			e, m := x.at(s)
			if e.seq != s {
				break // the slot holds a newer item: the chain is forgotten from here
			}
			if seen.add(s) && m.id != it.ID && m.class == class && m.scope == scope && x.inWindow(m.at, it.ReceivedAt) {
				if sim := similarity(&sk.Min, &e.min); sim >= x.cfg.Threshold && (sim > bestSim || sim == bestSim && s < bestSeq) {
					best, bestSeq, bestSim = m, s, sim
					if sim == 1 {
						break walk // a copy: none can be more alike (the newest copy is named)
					}
				}
			}
			s = e.next[b]
		}
	}
	if best == nil {
		return nil
	}
	c := &minsheng.CaseLink{ID: best.kase, Nearest: best.id, Similarity: bestSim, Items: 1, Since: best.at}
	if ci := x.cases[best.kase]; ci != nil {
		c.Items, c.Since = ci.items+1, ci.since
	}
	return c
}

// candidates is the set of items a search has looked at: a few in a
// slice, a map once there are many (a campaign's copies meet in every band).
type candidates struct {
	few  [16]uint64
	n    int
	many map[uint64]struct{}
}

// add reports whether s is new, and records it.
func (c *candidates) add(s uint64) bool {
	if c.many != nil {
		if _, ok := c.many[s]; ok {
			return false
		}
		c.many[s] = struct{}{}
		return true
	}
	for _, v := range c.few[:c.n] {
		if v == s {
			return false
		}
	}
	if c.n < len(c.few) {
		c.few[c.n] = s
		c.n++
		return true
	}
	c.many = make(map[uint64]struct{}, 4*len(c.few))
	for _, v := range c.few {
		c.many[v] = struct{}{}
	}
	c.many[s] = struct{}{}
	return true
}

func (x *Index) inWindow(earlier, now time.Time) bool {
	if now.IsZero() {
		return true
	}
	return now.Sub(earlier) <= x.cfg.Window && earlier.Sub(now) <= x.cfg.Window
}

// at returns the slot and meta of seq s, allocating their chunk when
// first used.
func (x *Index) at(s uint64) (*slot, *meta) {
	p := (s - 1) % uint64(x.cfg.MaxItems)
	c, o := p/chunkSize, p%chunkSize
	if x.slots[c] == nil {
		x.slots[c], x.metas[c] = new([chunkSize]slot), new([chunkSize]meta)
	}
	return &x.slots[c][o], &x.metas[c][o]
}

// caseRoot is the case an item is remembered under: the one its decision
// names, else its own.
func caseRoot(it *minsheng.Item, d *minsheng.Decision) string {
	if d.Case != nil && d.Case.ID != "" {
		return d.Case.ID
	}
	return it.ID
}

// caseSince is when the case an item is remembered under began, as far as
// its decision tells: the Since of the case it names (its first item may
// have left the window since), else the item's own time.
func caseSince(it *minsheng.Item, d *minsheng.Decision) time.Time {
	if d.Case != nil && d.Case.ID != "" && !d.Case.Since.IsZero() && d.Case.Since.Before(it.ReceivedAt) {
		return d.Case.Since
	}
	return it.ReceivedAt
}

// Rebuild fills the empty index from the records of handled items, which
// each yields in the order written (a ledger's Each), each under the
// destinations its case was found among: scope(record), or where it went
// when scope is nil (see router.Router.CaseScope, which for an item a
// person decided gives where the decision sent it). The index lives in
// memory, and a restarted gateway links new items to those it handled
// before. Items still in review, and decisions a person made that are not
// yet sent on in full, are left out, as they are while the gateway runs.
// What it keeps depends on the records, not on their order (see
// Snapshot): of the items that take part, those received within the
// window before the newest item, at most MaxItems, the newest, inserted
// in the order received. It returns how many items the index holds, also
// when each fails part way (the items read before are kept).
func (x *Index) Rebuild(each func(func(*minsheng.Record) error) error, scope func(*minsheng.Record) []string) (int, error) {
	if x.cfg.Disabled {
		return 0, nil
	}
	s := x.NewSnapshot("")
	var pos uint64
	_, err := x.Replay(s, func(fn func(uint64, *minsheng.Record) error) error {
		return each(func(r *minsheng.Record) error {
			pos++
			return fn(pos, r)
		})
	}, scope)
	// What was read before an error is kept: linking is advice, and a
	// part of the index is better than none.
	n, lerr := x.Load(s)
	if err = errors.Join(err, lerr); err != nil {
		return n, fmt.Errorf("cases: rebuild: %w", err)
	}
	return n, nil
}

// clamp bounds a time the window runs back from to an hour past the
// clock: an item stamped by a clock set far ahead must not make the index
// forget every item before it.
func (x *Index) clamp(at time.Time) time.Time {
	if lim := x.now().Add(time.Hour); at.After(lim) {
		return lim
	}
	return at
}

// insert remembers one item, of a case that began at since (at or
// before at); x.mu is held.
func (x *Index) insert(id, kase string, class minsheng.Class, scope string, at, since time.Time, sk *Sketch) uint64 {
	if _, ok := x.byID[id]; ok {
		return 0
	}
	if ref := x.clamp(at); ref.After(x.newest) {
		x.newest = ref
	}
	for x.oldest <= x.seq {
		if _, m := x.at(x.oldest); x.seq-x.oldest+1 < uint64(x.cfg.MaxItems) && x.newest.Sub(m.at) <= x.cfg.Window {
			break
		}
		x.forget()
	}
	x.seq++
	e, m := x.at(x.seq)
	if s, ok := x.scopes[scope]; ok {
		scope = s // one copy of each destination list
	} else {
		x.scopes[scope] = scope
	}
	*m = meta{id: id, kase: kase, class: class, scope: scope, at: at}
	e.seq, e.min = x.seq, sk.Min
	for b := range bands {
		k := sk.band(b)
		e.next[b] = x.heads[k]
		x.heads[k] = x.seq
	}
	x.byID[id] = x.seq
	ci := x.cases[kase]
	if ci == nil {
		ci = &caseInfo{since: since}
		x.cases[kase] = ci
	}
	e.prevInCase, ci.last = ci.last, x.seq
	ci.items++
	if since.Before(ci.since) {
		ci.since = since
	}
	return x.seq
}

// drop forgets item seq before its time (its handling failed): it stays
// in its slot until the ring moves past it, but matches nothing and is
// counted in no case; x.mu is held.
func (x *Index) drop(seq uint64) {
	e, m := x.at(seq)
	if seq < x.oldest || e.seq != seq || m.scope == "" {
		return
	}
	x.uncount(seq, m)
	m.scope = "" // no item has an empty scope: it never matches
}

// uncount takes item seq out of byID and its case's count.
func (x *Index) uncount(seq uint64, m *meta) {
	if x.byID[m.id] == seq {
		delete(x.byID, m.id)
	}
	if ci := x.cases[m.kase]; ci != nil {
		if ci.items--; ci.items <= 0 {
			delete(x.cases, m.kase)
		}
	}
}

// forget drops the oldest item.
func (x *Index) forget() {
	e, m := x.at(x.oldest)
	sk := Sketch{Min: e.min}
	for b := range bands {
		if k := sk.band(b); x.heads[k] == e.seq {
			delete(x.heads, k)
		}
	}
	if m.scope != "" { // a dropped item was uncounted then
		x.uncount(e.seq, m)
	}
	*e, *m = slot{}, meta{}
	x.oldest++
}

// Members returns the IDs of the newest max items of the case that the
// index remembers, oldest first, and how many it remembers in all (an item
// is its own case's first when it joined none). It walks the case's own
// chain, so it costs what it returns.
func (x *Index) Members(caseID string, max int) ([]string, int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ci := x.cases[caseID]
	if ci == nil {
		return nil, 0
	}
	var out []string
	for s := ci.last; s >= x.oldest && s != 0 && len(out) < max; {
		e, m := x.at(s)
		if e.seq != s {
			break
		}
		if m.scope != "" {
			out = append(out, m.id)
		}
		s = e.prevInCase
	}
	slices.Reverse(out)
	return out, ci.items
}

// Len returns how many items the index remembers.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byID)
}

var _ minsheng.Linker = (*Index)(nil)
