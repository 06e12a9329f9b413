package router

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// TestViewIncompleteNoLeadLeak: an item with a lead went to 12345 (and,
// later or not yet, to the inspectors). What a desk not told of the lead
// sees of it must not depend on whether the inspectors' destination took
// it: the incomplete record (only theirs missing), the record finished
// later and the record of an item routed in one go look alike to 12345's
// desk, and none names a case (an incomplete record joins none). A desk
// told of the lead, and one whose own destination lacks the item, is
// told that the route is incomplete.
func TestViewIncompleteNoLeadLeak(t *testing.T) {
	r := &Router{cfg: DefaultConfig()}
	r.discipline = r.cfg.disciplineDestinations()
	it := testItem("view-incomplete")
	t0 := it.ReceivedAt
	t1, t2 := t0.Add(time.Second), t0.Add(time.Minute)
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons(),
		Case: &minsheng.CaseLink{ID: "case-1", Since: t0}}
	decided := []minsheng.Event{
		{Step: minsheng.StepReceived, At: t0, Detail: "hotline/12345"},
		{Step: minsheng.StepClassified, At: t0, Detail: "gov_service" + minsheng.TrailDisciplineLead},
	}
	trail := func(evs ...minsheng.Event) []minsheng.Event {
		return append(append([]minsheng.Event{}, decided...), evs...)
	}
	routed := func(at time.Time, ds ...string) minsheng.Event {
		return minsheng.Event{Step: minsheng.StepRouted, At: at, Destinations: ds}
	}
	acked := func(at time.Time) minsheng.Event { return minsheng.Event{Step: minsheng.StepAcked, At: at} }
	rec := func(incomplete bool, dests []string, evs ...minsheng.Event) *minsheng.Record {
		return &minsheng.Record{ID: it.ID, Item: it, Decision: lead, Destinations: dests, Incomplete: incomplete, Trail: trail(evs...)}
	}
	inspectorsMissing := rec(true, []string{"gov_service"}, routed(t1, "gov_service"))
	finished := rec(false, []string{"gov_service", "discipline"}, routed(t1, "gov_service"), routed(t2, "discipline"), acked(t2))
	oneGo := rec(false, []string{"gov_service", "discipline"}, routed(t1, "gov_service", "discipline"), acked(t1))
	dispatchMissing := rec(true, []string{"discipline"}, routed(t1, "discipline"))

	show := func(rec *minsheng.Record, reads ...string) (string, *minsheng.Record) {
		t.Helper()
		v, ok := r.View(rec, &minsheng.Principal{Name: "desk", Reads: reads})
		if !ok {
			return "", nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), v
	}
	// 12345's desk sees the same, case included, whether the inspectors
	// took the item at once, later, or not yet: a case shown only once
	// they had it would tell of the lead.
	want, _ := show(oneGo, "gov_service")
	for name, rec := range map[string]*minsheng.Record{"incomplete, inspectors' missing": inspectorsMissing, "finished later": finished} {
		got, v := show(rec, "gov_service")
		if got != want {
			t.Errorf("12345's desk, %s:\n got %s\nwant %s", name, got, want)
		}
		if v == nil || v.Decision.Case == nil {
			t.Errorf("12345's desk, %s: no case shown", name)
		}
	}
	if _, v := show(inspectorsMissing, "gov_service", "discipline"); v == nil || !v.Incomplete || v.Decision.Case == nil {
		t.Errorf("a desk told of the lead: %+v, want incomplete, with its case", v)
	}
	if got, _ := show(dispatchMissing, "gov_service"); got != "" {
		t.Errorf("12345's desk sees an item its destination lacks: %s", got)
	}
	if _, v := show(dispatchMissing, "discipline"); v == nil || !v.Incomplete {
		t.Errorf("inspectors, 12345 missing: %+v, want incomplete", v)
	}
	// Without a lead, a destination missing is told to the others.
	plain := &minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设"}
	cfg := DefaultConfig()
	cfg.Destinations["dept_urban"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	cfg.Routes.Departments = map[string][]string{"城乡建设": {"dept_urban"}}
	r2 := &Router{cfg: cfg, discipline: cfg.disciplineDestinations()}
	deptOnly := &minsheng.Record{ID: it.ID, Item: it, Decision: plain, Destinations: []string{"dept_urban"}, Incomplete: true, Trail: trail(routed(t1, "dept_urban"))}
	if v, ok := r2.View(deptOnly, &minsheng.Principal{Name: "desk", Reads: []string{"dept_urban"}}); !ok || !v.Incomplete {
		t.Errorf("department's desk, 12345 missing: %+v, want incomplete", v)
	}
	if got := r.CaseScope(inspectorsMissing); !slices.Equal(got, []string{"gov_service", "discipline"}) {
		t.Errorf("incomplete, only the inspectors' missing: case scope %v, want the one it will have once finished", got)
	}
	if got := r.CaseScope(dispatchMissing); got != nil {
		t.Errorf("incomplete, 12345 missing: case scope %v, want none", got)
	}
}
