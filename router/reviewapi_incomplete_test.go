package router

import (
	"context"
	"fmt"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// seedIncomplete records an item triage sent to review with a lead as the
// pipeline does when the review destination took it and the inspectors'
// could not be reached in time: incomplete, naming review alone.
func (f *reviewFixture) seedIncomplete(t *testing.T, ref string) *minsheng.Item {
	t.Helper()
	it := testItem(ref)
	d := &minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 0.3, Review: true, ModelVersion: "m1",
		Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons()}
	rt, err := f.r.RouteExcept(context.Background(), it, d, []string{"discipline"})
	if err != nil {
		t.Fatal(err)
	}
	at := it.ReceivedAt
	rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: rt.Destinations, Incomplete: true, Trail: []minsheng.Event{
		{Step: minsheng.StepReceived, At: at, Detail: "newspaper/qingdao-daily"},
		{Step: minsheng.StepScreened, At: at, Detail: "valid"},
		{Step: minsheng.StepClassified, At: at, Detail: "petition (confidence 0.30, model m1)" + minsheng.TrailDisciplineLead + ", to review"},
		{Step: minsheng.StepRouted, At: at, Destinations: rt.Destinations},
	}}
	if err := f.led.Commit(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return it
}

// TestReviewIncompleteNotToldOfLead: an item whose route is incomplete
// because the inspectors' destination alone lacks it is, to the review
// desk, as an item without a lead: the same answers and view. Its
// decision does not send the item to the inspectors (unless the desk
// raises a lead or decides a discipline case, as for any item): that is
// left to the pipeline, which finishes the route, with the person's
// decision, when the source offers the item again; the record stays
// incomplete until then.
func TestReviewIncompleteNotToldOfLead(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	for i, seq := range [][]string{
		{`{"class":"petition"}`, `{"class":"petition"}`, `{"class":"media_oversight"}`},
		{`{"class":"gov_service","department":"城乡建设"}`},
		{`{"class":"invalid"}`},
		{`{"class":"petition","discipline_lead":true}`},
		{`{"class":"discipline"}`},
	} {
		t.Run(strings.Join(seq, " "), func(t *testing.T) {
			plain := f.seed(t, fmt.Sprint("inc-plain-", i), false)
			lead := f.seedIncomplete(t, fmt.Sprint("inc-lead-", i))
			before := depth(t, s, "discipline")
			f.decideAlike(t, plain, lead, seq)
			rec, err := f.led.Lookup(context.Background(), lead.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := 0 // the plain item's and the lead's
			if strings.Contains(seq[0], "discipline") {
				want = 2
			}
			if sent := depth(t, s, "discipline") - before; sent != want {
				t.Errorf("the reviews sent %d items to the inspectors, want %d", sent, want)
			}
			if !rec.Incomplete {
				t.Errorf("record complete after the review (destinations %v): its source is not acked yet", rec.Destinations)
			}
		})
	}
}

func depth(t *testing.T, q Queues, dest string) int {
	t.Helper()
	n, err := q.QueueDepth(dest)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// decideAlike has the review desk decide plain (without a lead) and lead
// (with one) by each body of seq in turn, and fails when an answer, or
// its view of the item afterwards, differs between the two.
func (f *reviewFixture) decideAlike(t *testing.T, plain, lead *minsheng.Item, seq []string) {
	t.Helper()
	for _, body := range seq {
		ps, pa := f.decide(t, "reviewers", plain.ID, body)
		ls, la := f.decide(t, "reviewers", lead.ID, body)
		pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID")
		if ps != ls || pa != la {
			t.Fatalf("%s: the answers tell of the lead:\nwithout: %d %s\nwith:    %d %s", body, ps, pa, ls, la)
		}
	}
	if pv, lv := f.reviewDeskView(t, plain.ID), f.reviewDeskView(t, lead.ID); pv != lv {
		t.Fatalf("the views tell of the lead:\nwithout: %s\nwith:    %s", pv, lv)
	}
}
