package router

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
)

// seedIncompleteDeadLettered records, through the review API, an item
// whose route is incomplete and that is in both dead letters: triage sent
// it to review with a lead, the inspectors' destination was not reached
// (seedIncomplete), and the review desk decided it gov_service, which
// refuses it for good. The decision does not send it to the inspectors
// (the desk's own decision does not name them: the pipeline finishes that
// when the source offers the item again), and 12345's refusal sends it to
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
// reach (the inspectors', for the inspectors' desk) is answered 409
// incomplete, on preview and on re-delivery: the source offers the item
// again and the pipeline sends it on then. Nothing is sent and nothing
// recorded. The dead letter's desk, whose share lacks no destination but
// the one that refused the item, is answered as for the same item
// without a lead: nothing tells it of the inspectors' share.
func TestRedeliverIncomplete(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), &refusingQueues{Queues: s, dest: "gov_service"}, s)
	rd := redeliverOver(f.r, s)
	lead, plain := seedIncompleteDeadLettered(t, f, "incomplete")
	before := lookup(t, s, lead.ID)
	for _, desk := range []string{"cdi", "ops"} {
		for _, method := range []string{"GET", "POST"} {
			status, raw := rd.call(t, method, desk, lead.ID)
			if status != 409 || !strings.Contains(raw, `"error":"incomplete"`) || !strings.Contains(raw, "its source offers it again") {
				t.Errorf("%s %s: %d %s, want 409 incomplete", desk, method, status, raw)
			}
		}
	}
	if n := depth(t, s, "discipline"); n != 0 {
		t.Errorf("the inspectors' destination was sent the item %d times", n)
	}
	if after := lookup(t, s, lead.ID); len(after.Trail) != len(before.Trail) || !slices.Equal(after.Destinations, before.Destinations) {
		t.Errorf("the record changed: %v %v", after.Destinations, after.Trail)
	}
	for _, method := range []string{"GET", "POST"} {
		ps, pa := rd.call(t, method, "dl", plain.ID)
		ls, la := rd.call(t, method, "dl", lead.ID)
		pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID")
		if ps != ls || pa != la || strings.Contains(la, "incomplete") {
			t.Errorf("%s by the dead letter's desk tells of the lead:\nwithout: %d %s\nwith:    %d %s", method, ps, pa, ls, la)
		}
	}
	if got := testutil.ToFloat64(rd.api.count.WithLabelValues("redelivered")); got != 0 {
		t.Errorf("minsheng_redeliveries_total{outcome=redelivered} = %v, want 0", got)
	}
}
