package router

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/internal/testlog"
)

// TestDisciplineDeadLetterInTheInspectorsQueue: the discipline dead
// letter may be the inspectors' own destination. An item with a lead that
// their queue took and 12345's topic refused is dead-lettered there too:
// the queue must go on holding the item as the inspectors' item, once,
// not its dead letter in its place (a dead letter of an item waiting in
// a queue replaces only the item's dead letters there).
func TestDisciplineDeadLetterInTheInspectorsQueue(t *testing.T) {
	k := testkafka.StartT(t)
	if err := k.Fake().CreateTopic("minsheng.gov_service", 1, map[string]string{"max.message.bytes": "300"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := kafkaConfig(k)
	cfg.Routes.DisciplineDeadLetter = "discipline"
	delete(cfg.Destinations, "discipline_dead_letter")
	r, s := queuedDeadLetters(t, cfg, "discipline")
	it := testItem("lead-refused")
	rt, err := r.RouteItem(ctx, it, &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons()})
	if err != nil || !slices.Contains(rt.Destinations, "dead_letter") || !slices.Contains(undeliveredNames(rt.Undelivered), "gov_service") {
		t.Fatalf("route: %+v, %v; want it dead-lettered for gov_service", rt, err)
	}
	var kinds []string
	for _, e := range drain(t, s, "discipline") {
		kinds = append(kinds, e.ItemID+" "+e.Kind)
	}
	if want := []string{it.ID + " " + minsheng.KindItem}; !slices.Equal(kinds, want) {
		t.Errorf("the inspectors' queue holds %s, want %s", strings.Join(kinds, ", "), strings.Join(want, ", "))
	}
	if n, _ := s.QueueDepth("dead_letter"); n != 1 {
		t.Errorf("dead_letter holds %d messages, want the item once", n)
	}
}

// TestDeadLetteredCountsWhatWasQueued: with the inspectors' queue as
// their dead letter, an item that queue holds is not queued there again
// as its dead letter. minsheng_dead_lettered_total and the "dead
// lettered" line count and name only the dead letters queued: an item
// whose every dead letter held it already (a discipline case under
// review, the review topic refusing it) is not counted, and its line says
// nothing was queued. Before, both told of a dead letter the store had
// not queued.
func TestDeadLetteredCountsWhatWasQueued(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refuses string // the topic with max.message.bytes 300
		d       minsheng.Decision
		counted float64
		line    string // the log line's message and destinations
	}{
		{"a lead 12345 refuses: its dead letter, and the inspectors hold it", "gov_service",
			minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons()},
			1, `msg="dead lettered" id=ID trace_id=TRACE destinations=[dead_letter] held=[discipline]`},
		{"a discipline case under review that review refuses: the inspectors hold it", "review",
			minsheng.Decision{Class: minsheng.ClassDiscipline, Confidence: 0.3, Review: true},
			0, `msg="dead letter not queued: its queue holds the item already" id=ID trace_id=TRACE destinations=[] held=[discipline]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testkafka.StartT(t)
			if err := k.Fake().CreateTopic("minsheng."+tc.refuses, 1, map[string]string{"max.message.bytes": "300"}); err != nil {
				t.Fatal(err)
			}
			cfg := kafkaConfig(k)
			cfg.Routes.DisciplineDeadLetter = "discipline"
			delete(cfg.Destinations, "discipline_dead_letter")
			r, s := queuedDeadLetters(t, cfg, "discipline")
			log := make(testlog.Lines, 1000)
			r.log = log.Logger()
			it := testItem("held-" + tc.refuses)
			rt, err := r.RouteItem(context.Background(), it, &tc.d)
			if err != nil || !slices.Contains(rt.Destinations, "discipline") || !slices.Equal(undeliveredNames(rt.Undelivered), []string{tc.refuses}) {
				t.Fatalf("route: %+v, %v; want it dead-lettered for %s, the inspectors holding it", rt, err, tc.refuses)
			}
			if n := depth(t, s, "discipline"); n != 1 {
				t.Errorf("the inspectors' queue holds %d messages, want the item once", n)
			}
			if got := testutil.ToFloat64(r.deadLtr); got != tc.counted {
				t.Errorf("minsheng_dead_lettered_total %v, want %v", got, tc.counted)
			}
			want := strings.NewReplacer("ID", it.ID, "TRACE", it.TraceID).Replace(tc.line)
			if l := log.Line("dead letter"); !strings.Contains(l, want) {
				t.Errorf("log line %q, want it to hold %q", l, want)
			}
		})
	}
}
