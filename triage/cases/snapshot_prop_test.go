package cases

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// randomLedger generates a ledger as a gateway writes one: items routed
// (received mostly in order, some long before), sent to review and decided
// later (written down, then sent on), dead-lettered and re-delivered,
// written again late (a repeat's trail), written again with another time
// received, and quarantined inputs (records without an item). Texts are
// variations of a few demands, so that cases form.
func randomLedger(r *rand.Rand, n int) *ledgerSim {
	gov, pet := minsheng.ClassGovService, minsheng.ClassPetition
	bases := []string{lift, liftToo, road, string(randomText(r, 90)), string(randomText(r, 90))}
	l := &ledgerSim{}
	var items, reviews, dead []*minsheng.Record
	latest := func(rec *minsheng.Record) *minsheng.Record { return l.recs[l.latest[rec.ID]-1] }
	clock := time.Duration(0)
	for i := 0; len(l.recs) < n; i++ {
		clock += time.Duration(r.IntN(20)) * time.Hour
		at := clock
		if r.IntN(8) == 0 {
			at -= time.Duration(r.IntN(40*24)) * time.Hour // received long before, written now
		}
		body := bases[r.IntN(len(bases))] + strings.Repeat("又", r.IntN(6))
		if r.IntN(6) == 0 {
			body = string(randomText(r, 30+r.IntN(80)))
		}
		class := gov
		if r.IntN(3) == 0 {
			class = pet
		}
		id := fmt.Sprint("i", i)
		switch k := r.IntN(100); {
		case k < 45 || len(items) == 0:
			rec := routed(id, body, class, at)
			l.add(rec)
			items = append(items, rec)
		case k < 55:
			rec := inReview(id, body, at)
			l.add(rec)
			reviews = append(reviews, rec)
		case k < 65 && len(reviews) > 0:
			j := r.IntN(len(reviews))
			rec := latest(reviews[j])
			if rec.Review != nil && !rec.Review.Pending {
				continue
			}
			c := minsheng.Class(rec.Decision.Class)
			if rec.Review == nil {
				c = []minsheng.Class{gov, pet, minsheng.ClassInvalid}[r.IntN(3)]
			}
			l.add(decided(reviews[j], c, r.IntN(2) == 0))
		case k < 72:
			rec := latest(items[r.IntN(len(items))])
			l.add(rerouted(rec, append(slices.Clone(rec.Destinations), "dead_letter")...))
			dead = append(dead, rec)
		case k < 77 && len(dead) > 0:
			rec := latest(dead[r.IntN(len(dead))])
			l.add(rerouted(rec, string(rec.Decision.Class))) // re-delivered
		case k < 90:
			l.add(rerouted(latest(items[r.IntN(len(items))]), string(latest(items[r.IntN(len(items))]).Decision.Class)))
		case k < 93:
			rec := *latest(items[r.IntN(len(items))])
			it := *rec.Item
			it.ReceivedAt = it.ReceivedAt.Add(time.Duration(r.IntN(100)-50) * time.Hour)
			rec.Item = &it
			l.add(&rec)
		case k < 96:
			l.add(&minsheng.Record{ID: "q" + id})
		default:
			l.add(withCase(routed(id, body, class, at), items[r.IntN(len(items))].ID, at-time.Hour))
		}
	}
	return l
}

// TestSnapshotReplayEqualsRebuildRandom: over generated ledgers, a chain
// of snapshots (written at random points, each written, read back and
// replayed on, as a gateway does at start and every ten minutes, the clock running on
// or set back between them) either is
// refused (the gateway then rebuilds) or loads the index a rebuild from the
// whole ledger gives. Refusals are counted, so that the test is seen to
// compare more often than not.
func TestSnapshotReplayEqualsRebuildRandom(t *testing.T) {
	seeds := 300
	defer func(m int) { snapshotMargin = m }(snapshotMargin)
	compared, refused := 0, map[string]int{}
	bounded, nonEmpty := 0, 0
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 77))
		maxItems := []int{3, 6, 20, 100000}[r.IntN(4)]
		window := []time.Duration{5 * 24 * time.Hour, 30 * 24 * time.Hour}[r.IntN(2)]
		snapshotMargin = []int{0, 1, 4, 1024}[r.IntN(4)]
		l := randomLedger(r, 20+r.IntN(120))
		now := t0.Add(time.Duration(r.IntN(90*24)) * time.Hour)
		fresh := func() *Index {
			x := newIndex(t, func(c *Config) { c.MaxItems, c.Window = maxItems, window })
			x.now = func() time.Time { return now }
			return x
		}
		var want *Index
		marks := []int{0}
		for range 1 + r.IntN(4) {
			marks = append(marks, r.IntN(len(l.recs)+1))
		}
		slices.Sort(marks)
		marks = append(marks, len(l.recs))
		w := fresh()
		s := w.NewSnapshot("routes")
		why := ""
		for i := 1; i < len(marks) && why == ""; i++ {
			if _, err := w.Replay(s, l.since(marks[i-1], marks[i]), simScope); err != nil {
				t.Fatal(err)
			}
			// The clock runs on between writes, and now and then is set back.
			now = now.Add(time.Duration(r.IntN(48)-4) * time.Hour)
			if i == len(marks)-1 {
				break
			}
			if err := w.CheckSnapshot(s); err != nil {
				why = err.Error()
				break
			}
			var buf bytes.Buffer
			if err := w.WriteSnapshot(&buf, s); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			back, err := fresh().ReadSnapshot(&buf, "routes")
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			s = back
		}
		got := fresh()
		want = fresh()
		if _, err := want.Rebuild(l.each, simScope); err != nil {
			t.Fatal(err)
		}
		if why == "" {
			if _, err := got.Load(s); err != nil {
				why = err.Error()
			}
		}
		if why != "" {
			kind, _, _ := strings.Cut(why, " (")
			refused[kind]++
			continue
		}
		compared++
		if s.bounded {
			bounded++
		}
		if want.Len() > 0 {
			nonEmpty++
		}
		if diff := indexDiff(got, want); diff != "" {
			t.Errorf("seed %d (max_items %d, window %s, margin %d, %d records, marks %v): %s",
				seed, maxItems, window, snapshotMargin, len(l.recs), marks, diff)
		}
	}
	t.Logf("compared %d (%d bounded, %d not empty), refused %v", compared, bounded, nonEmpty, refused)
	if compared < seeds/2 || bounded < seeds/10 || nonEmpty < seeds/2 {
		t.Errorf("compared only %d ledgers", compared)
	}
}
