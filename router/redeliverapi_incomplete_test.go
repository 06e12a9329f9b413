package router

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/pipeline"
)

// seedIncompleteDeadLettered records, through the review API, an item
// whose route is incomplete and that is in both dead letters: triage sent
// it to review with a lead, the inspectors' destination was not reached
// (seedIncomplete), and the review desk decided it gov_service, which
// refuses it for good. The decision does not send it to the inspectors
// (the desk's own decision does not name them: the pipeline finishes that,
// by its finisher or when the source offers the item again), and 12345's refusal sends it to
// the dead letter and, whole, to the inspectors' dead letter. It returns
// the item and one without a lead decided the same way.
func seedIncompleteDeadLettered(t *testing.T, f *reviewFixture, ref string) (lead, plain *minsheng.Item) {
	t.Helper()
	lead, plain = f.seedIncomplete(t, "lead-"+ref), f.seed(t, "plain-"+ref, false)
	for _, it := range []*minsheng.Item{lead, plain} {
		if status, answer := f.decide(t, "reviewers", it.ID, `{"class":"gov_service"}`); status != 200 {
			t.Fatalf("review: %d %s", status, answer)
		}
	}
	rec := lookup(t, f.led, lead.ID)
	if !rec.Incomplete || !slices.Equal(rec.Destinations, []string{"review", "dead_letter", "discipline_dead_letter"}) ||
		!slices.Equal(undeliveredNames(rec.Undelivered), []string{"gov_service"}) || !slices.Equal(f.r.missing(rec), []string{"discipline"}) {
		t.Fatalf("seeded as incomplete %v, %v, undelivered %v, missing %v", rec.Incomplete, rec.Destinations, undeliveredNames(rec.Undelivered), f.r.missing(rec))
	}
	return lead, plain
}

// TestRedeliverIncomplete: a desk whose share of an item in its dead
// letter includes a destination the item's incomplete route has yet to
// reach (the inspectors', for the inspectors' desk) re-delivers the item
// there: the source may never offer it again for the pipeline to finish
// the route. It goes there once, as the pipeline would have sent it (the
// lead and the complainant told to the inspectors), never again to those
// that hold it; the record stays incomplete (its source is not acked)
// with nothing left to reach, and the pipeline, offered the item again,
// sends nothing and records it complete. The dead letter's desk, whose
// share lacks no destination but the one that refused the item, is
// answered, before and after, as for the same item without a lead, and
// sees it alike. Until 2026-12-03 the inspectors' desk was answered 409
// incomplete and could not send it.
func TestRedeliverIncomplete(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), &refusingQueues{Queues: s, dest: "gov_service"}, s)
	rd := redeliverOver(f.r, s)
	lead, plain := seedIncompleteDeadLettered(t, f, "incomplete")
	dlAlike := func(when string) {
		t.Helper()
		for _, method := range []string{"GET", "POST"} {
			ps, pa := rd.call(t, method, "dl", plain.ID)
			ls, la := rd.call(t, method, "dl", lead.ID)
			pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID")
			// 12345 still refuses it: the preview names it, the re-delivery
			// is refused again.
			want := map[string]int{"GET": 200, "POST": 409}[method]
			if ps != ls || pa != la || ps != want || !strings.Contains(pa, `gov_service refuses the item`) {
				t.Errorf("%s, %s by the dead letter's desk: want the same %d:\nwithout: %d %s\nwith:    %d %s", when, method, want, ps, pa, ls, la)
			}
		}
		if pv, lv := deskView(t, f, plain.ID, "dl"), deskView(t, f, lead.ID, "dl"); pv != lv {
			t.Errorf("%s, the dead letter's desk sees the lead:\nwithout: %s\nwith:    %s", when, pv, lv)
		}
	}
	dlAlike("before")

	status, raw := rd.call(t, "GET", "cdi", lead.ID)
	if status != 200 || !strings.Contains(raw, `"redeliver_to":["discipline"]`) || !strings.Contains(raw, "route is incomplete") || !strings.Contains(raw, "the finisher's next pass") {
		t.Errorf("preview by the inspectors' desk: %d %s", status, raw)
	}
	if n := depth(t, s, "discipline"); n != 0 {
		t.Fatalf("the preview sent the item to the inspectors (%d)", n)
	}
	if status, a, raw := rd.post(t, "cdi", lead.ID); status != 200 || !slices.Equal(a.Redelivered, []string{"discipline"}) {
		t.Errorf("re-delivery by the inspectors' desk: %d %s", status, raw)
	}
	if status, a, raw := rd.post(t, "cdi", lead.ID); status != 200 || len(a.Redelivered) != 0 {
		t.Errorf("again: %d %s, want 200 with nothing sent", status, raw)
	}
	if status, _, raw := rd.post(t, "ops", lead.ID); status != 409 || !strings.Contains(raw, `"error":"refused"`) {
		t.Errorf("by a desk that reads both dead letters: %d %s, want 409 refused (12345 alone is left)", status, raw)
	}
	envs := drain(t, s, "discipline")
	if len(envs) != 1 {
		t.Fatalf("the inspectors' destination holds %d copies, want 1", len(envs))
	}
	if e := envs[0]; e.ItemID != lead.ID || !e.Decision.Flags.DisciplineLead || e.Item.Complainant.Name == "" || e.Kind != minsheng.KindItem {
		t.Errorf("the inspectors were sent %s %s, lead %v, complainant %q", e.ItemID, e.Kind, e.Decision.Flags.DisciplineLead, e.Item.Complainant.Name)
	}
	rec := lookup(t, s, lead.ID)
	if !rec.Incomplete || !slices.Contains(rec.Destinations, "discipline") || len(f.r.missing(rec)) != 0 || rec.Trail[len(rec.Trail)-1].Step != minsheng.StepRedelivered {
		t.Errorf("recorded: incomplete %v, %v, missing %v, trail %v", rec.Incomplete, rec.Destinations, f.r.missing(rec), rec.Trail)
	}
	dlAlike("after")

	// Offered again, the pipeline finds nothing left to send.
	if err := offerAgain(t, f.r, f.led, testItem("lead-incomplete")); err != nil {
		t.Fatalf("offered again: %v", err)
	}
	if rec := lookup(t, s, lead.ID); rec.Incomplete || rec.Trail[len(rec.Trail)-1].Step != minsheng.StepAcked {
		t.Errorf("offered again: incomplete %v, trail %v", rec.Incomplete, rec.Trail)
	}
	if n := len(drain(t, s, "discipline")); n != 0 {
		t.Errorf("offered again, the inspectors were sent the item %d times more", n)
	}
	if got := testutil.ToFloat64(rd.api.count.WithLabelValues("redelivered")); got != 1 {
		t.Errorf("minsheng_redeliveries_total{outcome=redelivered} = %v, want 1", got)
	}
}

// deskView is what a desk reading reads may see of the item's record, as
// JSON, without the item itself (whose ID and ref differ between two).
func deskView(t *testing.T, f *reviewFixture, id string, desk string) string {
	t.Helper()
	v, ok := f.r.View(lookup(t, f.led, id), &minsheng.Principal{Name: desk, Reads: redeliverDesks[desk]})
	if !ok {
		return "not seen"
	}
	b, err := json.Marshal(map[string]any{"decision": v.Decision, "review": v.Review, "trail": v.Trail, "destinations": v.Destinations,
		"undelivered": v.Undelivered, "incomplete": v.Incomplete})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRedeliverIncompleteNotDeadLettered: an incomplete record the
// pipeline made (a destination unavailable past its route timeout) names
// no dead letter, so no desk may re-deliver it: a desk that reads a dead
// letter and none of the destinations that took the item does not see it
// (404), one that reads one of those is answered 409 not_dead_lettered, as
// for the same item complete and without a lead. It is finished only when
// its source offers it again (left open: docs/design-notes.md).
func TestRedeliverIncompleteNotDeadLettered(t *testing.T) {
	s := openStore(t)
	f := newRedeliverFixture(t, DefaultConfig(), s)
	lead, plain := testItem("pipeline-incomplete-lead"), testItem("pipeline-incomplete-plain")
	recs := deadLetteredRecords(lead, true)
	inc := recs["12345 took it"] // 12345 took it, the inspectors' topic was unavailable
	inc.Destinations, inc.Incomplete = []string{"gov_service"}, true
	inc.Trail[2].Destinations = inc.Destinations
	for _, rec := range []*minsheng.Record{inc, deadLetteredRecords(plain, false)["12345 took it"]} {
		if err := s.Commit(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	for desk, want := range map[string]int{"cdi": 404, "ops": 404, "dl": 404, "dispatch": 403, "dl-dispatch": 409} {
		for _, method := range []string{"GET", "POST"} {
			ls, la := f.call(t, method, desk, lead.ID)
			if ls != want {
				t.Errorf("%s %s: %d %s, want %d", desk, method, ls, la, want)
			}
			if desk == "dl-dispatch" {
				ps, pa := f.call(t, method, desk, plain.ID)
				if pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID"); ps != ls || pa != la {
					t.Errorf("%s %s tells of the lead:\nwithout: %d %s\nwith:    %d %s", desk, method, ps, pa, ls, la)
				}
			}
		}
	}
	if n := depth(t, s, "discipline"); n != 0 {
		t.Errorf("the inspectors' destination was sent the item %d times", n)
	}
}

// TestRedeliverWhilePipelineFinishes: the inspectors' desk re-delivers an
// incomplete item at the moment its source offers it again and the
// pipeline finishes the route. The two take the item's lock in turn and
// read its record under it: the inspectors get the item once, and the
// record ends complete.
func TestRedeliverWhilePipelineFinishes(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), &refusingQueues{Queues: s, dest: "gov_service"}, s)
	rd := redeliverOver(f.r, s)
	lead, _ := seedIncompleteDeadLettered(t, f, "finish-race")
	var status int
	var raw string
	redelivered := make(chan struct{})
	var once sync.Once
	hook := func() {
		once.Do(func() {
			go func() {
				defer close(redelivered)
				status, _, raw = rd.post(t, "cdi", lead.ID)
			}()
			waitForWaiters(&f.r.items, lead.ID, 2) // the re-delivery waits for the pipeline
		})
	}
	if err := offerAgain(t, hookedRouter{f.r, hook}, f.led, testItem("lead-finish-race")); err != nil {
		t.Fatalf("offered again: %v", err)
	}
	<-redelivered
	if status != 200 || !strings.Contains(raw, `"redelivered":[]`) {
		t.Errorf("re-delivery after the pipeline finished the route: %d %s, want 200 with nothing sent", status, raw)
	}
	if n := depth(t, s, "discipline"); n != 1 {
		t.Errorf("the inspectors' destination holds %d copies, want 1", n)
	}
	if rec := lookup(t, s, lead.ID); rec.Incomplete {
		t.Errorf("record incomplete after the source was acked: %v", rec.Destinations)
	}
}

// offerAgain has a pipeline over r and led handle the item, as its source
// offering it again, and returns the error its source is answered.
func offerAgain(t *testing.T, r minsheng.Router, led minsheng.Ledger, it *minsheng.Item) error {
	t.Helper()
	p, err := pipeline.New(pipeline.Config{RouteTimeout: 5 * time.Second}, pipeline.Options{Triager: noTriage{}, Router: r, Ledger: led})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := p.Emitter().Emit(context.Background(), it, func(_ minsheng.Outcome, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	return <-done
}
