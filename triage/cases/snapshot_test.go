package cases

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// ledgerSim is a ledger as the store keeps it: records in the order
// written, an item's latest record the one that counts.
type ledgerSim struct {
	recs   []*minsheng.Record
	latest map[string]int // ID → position (1-based) of its latest record
}

func (l *ledgerSim) add(rs ...*minsheng.Record) {
	if l.latest == nil {
		l.latest = map[string]int{}
	}
	for _, r := range rs {
		l.recs = append(l.recs, r)
		l.latest[r.ID] = len(l.recs)
	}
}

// since yields, as store.EachSince does, the latest record of every item
// written after position p and up to end.
func (l *ledgerSim) since(p, end int) func(func(uint64, *minsheng.Record) error) error {
	return func(fn func(uint64, *minsheng.Record) error) error {
		for i := p; i < end; i++ {
			r := l.recs[i]
			if at := l.latest[r.ID]; at == i+1 || at > end && l.lastBefore(r.ID, end) == i+1 {
				if err := fn(uint64(i+1), r); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// lastBefore is the position of id's latest record up to end.
func (l *ledgerSim) lastBefore(id string, end int) int {
	for i := end - 1; i >= 0; i-- {
		if l.recs[i].ID == id {
			return i + 1
		}
	}
	return 0
}

func (l *ledgerSim) each(fn func(*minsheng.Record) error) error {
	return l.since(0, len(l.recs))(func(_ uint64, r *minsheng.Record) error { return fn(r) })
}

// simScope is router.Router.CaseScope under routes that send each class to
// the queue of its name: none for an item dead-lettered; for an item a
// person decided, its class's queue once the item reached it.
func simScope(r *minsheng.Record) []string {
	switch {
	case r.Decision == nil, slices.Contains(r.Destinations, "dead_letter"):
		return nil
	case r.Review != nil:
		if d := string(r.Decision.Class); slices.Contains(r.Destinations, d) {
			return []string{d}
		}
		return nil
	}
	return r.Destinations
}

func routed(id, body string, c minsheng.Class, at time.Duration) *minsheng.Record {
	return &minsheng.Record{ID: id, Item: item(id, body, at), Decision: decision(c), Destinations: []string{string(c)}}
}

func inReview(id, body string, at time.Duration) *minsheng.Record {
	return &minsheng.Record{ID: id, Item: item(id, body, at), Decision: &minsheng.Decision{Class: minsheng.ClassGovService, Review: true},
		Destinations: []string{"review"}}
}

// decided is r once a person decided it: pending (written down, not yet
// sent on), or sent on to the class's queue.
func decided(r *minsheng.Record, c minsheng.Class, pending bool) *minsheng.Record {
	n := *r
	n.Decision = decision(c)
	n.Review = &minsheng.Review{Desk: "reviewers", Pending: pending}
	n.Destinations = []string{"review"}
	if !pending {
		n.Destinations = append(n.Destinations, string(c))
	}
	return &n
}

// rerouted is r written again with other destinations.
func rerouted(r *minsheng.Record, dests ...string) *minsheng.Record {
	n := *r
	n.Destinations = dests
	return &n
}

// withCase is r as linked to case kase since since.
func withCase(r *minsheng.Record, kase string, since time.Duration) *minsheng.Record {
	d := *r.Decision
	d.Case = &minsheng.CaseLink{ID: kase, Since: t0.Add(since), Items: 2}
	r.Decision = &d
	return r
}

// snapshotScenarios are ledgers with the records a restart must get right:
// a review decided long after newer items were written (late), a
// decision written down and only later sent on, an item written again
// under another scope (dead-lettered, or decided into another class), an
// item received long before others but written after them, the window
// moving on past items, and a full index.
func snapshotScenarios() []struct {
	name   string
	mod    func(*Config)
	margin int
	ledger *ledgerSim
} {
	gov, pet := minsheng.ClassGovService, minsheng.ClassPetition
	day := 24 * time.Hour
	reviews := func(l *ledgerSim) {
		o := inReview("o", liftToo+"一楼也是。", time.Hour)
		s := routed("s", road+"今天又出事了。", gov, 4*time.Hour)
		q := inReview("q", road+"今天又出事了，请尽快。", 2*day+time.Hour)
		l.add(
			routed("a", lift, gov, 0),
			o,
			routed("b", liftToo, gov, 2*time.Hour),
			routed("r", road, gov, 3*time.Hour),
			s,
			routed("spam", lift, minsheng.ClassInvalid, 5*time.Hour),
			withCase(routed("c", liftToo+"二楼也是。", gov, day), "a", 0),
			routed("p", road+"请尽快修复信号灯。", pet, 2*day),
			q,
			decided(o, gov, true), // a person decided o: written down
			routed("short", short, gov, 2*day+2*time.Hour),
			decided(o, gov, false),            // and sent on, after newer items
			rerouted(s, "dead_letter"),        // s refused for good: no scope
			decided(q, pet, false),            // q decided a petition: p's scope
			routed("x", lift+"三楼", gov, -day), // received before a, written late
			&minsheng.Record{ID: "no-item"},
			routed("n", string(randomText(rand.New(rand.NewPCG(9, 9)), 120)), gov, 3*day),
		)
	}
	simple := &ledgerSim{}
	reviews(simple)

	moving := &ledgerSim{}
	reviews(moving)
	moving.add(
		routed("late", liftToo+"五楼也是。", gov, 25*day),
		routed("later", road+"信号灯还是不亮。", gov, 31*day+3*time.Hour),
		decided(inReview("old", lift+"四楼", 2*time.Hour), gov, false), // decided out of the window
		routed("latest", lift+"六楼", gov, 33*day),
	)

	full := &ledgerSim{}
	r := rand.New(rand.NewPCG(5, 6))
	var held []*minsheng.Record
	for i := range 30 {
		body := string(randomText(r, 80))
		if i%4 == 0 {
			body = liftToo + strings.Repeat("又", i)
		}
		rec := routed(fmt.Sprint("f", i), body, gov, time.Duration(i)*time.Hour)
		full.add(rec)
		held = append(held, rec)
		if i%7 == 6 {
			// A held item written again, to the same scope (a repeat's
			// trail), and an old one decided late.
			full.add(rerouted(held[i-2], "gov_service"))
			full.add(decided(inReview(fmt.Sprint("rv", i), liftToo+strings.Repeat("再", i), time.Duration(i-5)*time.Hour), gov, false))
		}
	}
	full.add(rerouted(held[29], "dead_letter")) // one held item leaves: the margin covers it

	return []struct {
		name   string
		mod    func(*Config)
		margin int
		ledger *ledgerSim
	}{
		{"reviews and rewrites", nil, 1024, simple},
		{"the window moves on", nil, 1024, moving},
		{"a full index, the snapshot trimmed", func(c *Config) { c.MaxItems = 6 }, 1, full},
	}
}

// TestSnapshotReplayEqualsRebuild: for every point of each ledger, a
// snapshot of the records up to it, written and read back, with the
// records after it replayed, loads the same index as a rebuild from the
// whole ledger: the same items, cases and members, and the same links for
// new items.
func TestSnapshotReplayEqualsRebuild(t *testing.T) {
	clock := func() time.Time { return t0.Add(40 * 24 * time.Hour) }
	for _, tc := range snapshotScenarios() {
		t.Run(tc.name, func(t *testing.T) {
			defer func(m int) { snapshotMargin = m }(snapshotMargin)
			snapshotMargin = tc.margin
			l := tc.ledger
			fresh := func() *Index {
				x := newIndex(t, tc.mod)
				x.now = clock
				return x
			}
			want := fresh()
			if _, err := want.Rebuild(l.each, simScope); err != nil {
				t.Fatal(err)
			}
			if want.Len() < 3 {
				t.Fatalf("the rebuilt index holds %d items: the scenario tests little", want.Len())
			}
			for split := 0; split <= len(l.recs); split++ {
				w := fresh()
				s := w.NewSnapshot("routes")
				if _, err := w.Replay(s, l.since(0, split), simScope); err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := w.WriteSnapshot(&buf, s); err != nil {
					t.Fatal(err)
				}
				got := fresh()
				back, err := got.ReadSnapshot(&buf, "routes")
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if _, err := got.Replay(back, l.since(split, len(l.recs)), simScope); err != nil {
					t.Fatal(err)
				}
				if _, err := got.Load(back); err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if diff := indexDiff(got, want); diff != "" {
					t.Fatalf("snapshot of the first %d records and the rest replayed: %s", split, diff)
				}
			}
			// The same holds for the index a snapshot is loaded into while
			// the clock runs on: links of new items, compared last (a link
			// remembers the item).
			got := fresh()
			s := got.NewSnapshot("routes")
			if _, err := got.Replay(s, l.since(0, len(l.recs)/2), simScope); err != nil {
				t.Fatal(err)
			}
			if _, err := got.Replay(s, l.since(len(l.recs)/2, len(l.recs)), simScope); err != nil {
				t.Fatal(err)
			}
			if _, err := got.Load(s); err != nil {
				t.Fatal(err)
			}
			last := l.recs[len(l.recs)-1].Item.ReceivedAt.Sub(t0)
			for i, p := range []struct {
				body  string
				class minsheng.Class
			}{
				{liftToo + "我们还在等。", minsheng.ClassGovService},
				{lift + "三楼也是", minsheng.ClassGovService},
				{road + "今天又出事了，请尽快处理。", minsheng.ClassPetition},
				{road + "今天又出事了。", minsheng.ClassGovService},
				{"f" + liftToo + strings.Repeat("又", 8), minsheng.ClassGovService},
			} {
				it := item(fmt.Sprint("probe", i), p.body, last+time.Hour)
				dests := []string{string(p.class)}
				a, _ := got.Link(it, decision(p.class), dests)
				b, _ := want.Link(it, decision(p.class), dests)
				if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
					t.Errorf("probe %d links %s after snapshot and replay, %s after a rebuild", i, ja, jb)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// indexDiff says how two indexes differ in what they hold ("" when they
// do not): items, in order, and cases with their members, sizes and
// beginnings.
func indexDiff(got, want *Index) string {
	if got.Len() != want.Len() {
		return fmt.Sprintf("%d items, want %d", got.Len(), want.Len())
	}
	order := func(x *Index) []string {
		var ids []string
		for s := x.oldest; s <= x.seq; s++ {
			if e, m := x.at(s); e.seq == s && m.scope != "" {
				ids = append(ids, m.id+"@"+m.scope+"/"+string(m.class))
			}
		}
		return ids
	}
	if g, w := order(got), order(want); !slices.Equal(g, w) {
		return fmt.Sprintf("items %v, want %v", g, w)
	}
	if len(got.cases) != len(want.cases) {
		return fmt.Sprintf("%d cases, want %d", len(got.cases), len(want.cases))
	}
	for id, w := range want.cases {
		g := got.cases[id]
		if g == nil || g.items != w.items || !g.since.Equal(w.since) {
			return fmt.Sprintf("case %s: %+v, want %+v", id, g, w)
		}
		gm, gn := got.Members(id, 100)
		wm, wn := want.Members(id, 100)
		if !slices.Equal(gm, wm) || gn != wn {
			return fmt.Sprintf("case %s: members %v (%d), want %v (%d)", id, gm, gn, wm, wn)
		}
	}
	return ""
}

// TestSnapshotRefused: a snapshot is not used when it does not stand for
// the ledger and the configuration: made under another configuration,
// other routes or another version, damaged or cut short; or, when loaded,
// its newest item's record rewritten, the clock set back, or more of its
// items rewritten than its margin.
func TestSnapshotRefused(t *testing.T) {
	gov := minsheng.ClassGovService
	l := &ledgerSim{}
	for i := range 12 {
		l.add(routed(fmt.Sprint("i", i), liftToo+strings.Repeat("又", i), gov, time.Duration(i)*time.Hour))
	}
	now := func() time.Time { return t0.Add(24 * time.Hour) }
	written := func(t *testing.T, mod func(*Config)) []byte {
		x := newIndex(t, mod)
		x.now = now
		s := x.NewSnapshot("routes")
		if _, err := x.Replay(s, l.since(0, len(l.recs)), simScope); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := x.WriteSnapshot(&buf, s); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	good := written(t, nil)
	// patched is the file with its header changed by f, checksum made
	// right, as a snapshot of another version would be.
	patched := func(f func(*snapshotHeader)) []byte {
		b := good[len(snapshotMagic):]
		n := int(binary.BigEndian.Uint32(b))
		var h snapshotHeader
		if err := json.Unmarshal(b[4:4+n], &h); err != nil {
			t.Fatal(err)
		}
		f(&h)
		head, _ := json.Marshal(h)
		out := append([]byte(snapshotMagic), binary.BigEndian.AppendUint32(nil, uint32(len(head)))...)
		out = append(out, head...)
		out = append(out, b[4+n:len(b)-4]...)
		return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, crcTable))
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 1
	for _, tc := range []struct {
		name  string
		file  []byte
		mod   func(*Config)
		scope string
		want  string
	}{
		{"another window", good, func(c *Config) { c.Window = time.Hour }, "routes", "cases.window was 720h0m0s, is 1h0m0s"},
		{"another max_items", good, func(c *Config) { c.MaxItems = 7 }, "routes", "cases.max_items"},
		{"another min_runs", good, func(c *Config) { c.MinRuns = 50 }, "routes", "cases.min_runs"},
		{"another threshold", good, func(c *Config) { c.Threshold = 0.6 }, "routes", "cases.threshold"},
		{"other routes", good, nil, "other routes", "the routes (scope rules)"},
		{"another version", patched(func(h *snapshotHeader) { h.Version = 99 }), nil, "routes", "version was 99, is 2"},
		{"another sketch", patched(func(h *snapshotHeader) { h.Sketch++ }), nil, "routes", "the sketch"},
		{"a damaged byte", flipped, nil, "routes", "checksum"},
		{"cut short", good[:len(good)-100], nil, "routes", "checksum"},
		{"empty", nil, nil, "routes", "not a case index snapshot"},
		{"another file", []byte("{}"), nil, "routes", "not a case index snapshot"},
		{"items damaged under a right checksum", patched(func(h *snapshotHeader) { h.Entries++ }), nil, "routes", "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newIndex(t, tc.mod)
			_, err := x.ReadSnapshot(bytes.NewReader(tc.file), tc.scope)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("read: %v; want an error naming %q", err, tc.want)
			}
		})
	}

	loadAfter := func(t *testing.T, mod func(*Config), tail []*minsheng.Record, loadNow time.Time) error {
		x := newIndex(t, mod)
		x.now = now
		s := x.NewSnapshot("routes")
		x.Replay(s, l.since(0, len(l.recs)), simScope)
		if _, err := x.Load(s); err != nil { // as the gateway loads, then writes
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := x.WriteSnapshot(&buf, s); err != nil {
			t.Fatal(err)
		}
		y := newIndex(t, mod)
		y.now = func() time.Time { return loadNow }
		back, err := y.ReadSnapshot(&buf, "routes")
		if err != nil {
			t.Fatal(err)
		}
		m := &ledgerSim{}
		m.add(l.recs...)
		m.add(tail...)
		y.Replay(back, m.since(len(l.recs), len(m.recs)), simScope)
		_, err = y.Load(back)
		return err
	}
	newest := l.recs[len(l.recs)-1]
	moved := *newest.Item
	moved.ReceivedAt = moved.ReceivedAt.Add(-time.Hour)
	gone := make([]*minsheng.Record, 0, 3)
	for _, r := range l.recs[9:] {
		gone = append(gone, rerouted(r, "dead_letter"))
	}
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		margin int
		tail   []*minsheng.Record
		now    time.Time
		want   string
	}{
		{"the newest item's record written again with another time", nil, 1024,
			[]*minsheng.Record{{ID: newest.ID, Item: &moved, Decision: newest.Decision, Destinations: newest.Destinations}}, now(), "another time received"},
		{"the clock set back", nil, 1024, nil, t0, "the clock"},
		{"more items rewritten than the margin", func(c *Config) { c.MaxItems = 4 }, 1, gone, now(), "fewer than the 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(m int) { snapshotMargin = m }(snapshotMargin)
			snapshotMargin = tc.margin
			if err := loadAfter(t, tc.mod, tc.tail, tc.now); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load: %v; want an error naming %q", err, tc.want)
			}
		})
	}
	// The margin covers fewer: loaded, as a rebuild would.
	defer func(m int) { snapshotMargin = m }(snapshotMargin)
	snapshotMargin = 1
	if err := loadAfter(t, func(c *Config) { c.MaxItems = 4 }, gone[:1], now()); err != nil {
		t.Errorf("one item rewritten within the margin: %v", err)
	}
}
