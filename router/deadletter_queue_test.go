package router

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
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
