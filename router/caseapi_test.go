package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// TestCaseAPI: a case of three items with a discipline lead (so each went
// to gov_service and to the inspectors), seen by desks that read one, the
// other, neither, and by the desk that posted one and reads gov_service.
func TestCaseAPI(t *testing.T) {
	s := openStore(t)
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, ref := range []string{"case-1", "case-2", "case-3"} {
		it := testItem(ref)
		it.Via = minsheng.ViaDesk
		d := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9, Flags: minsheng.Flags{DisciplineLead: true},
			Reasons: []minsheng.Reason{{Kind: "rule", Code: "corruption", Lead: true}}}
		if i > 0 {
			d.Case = &minsheng.CaseLink{ID: ids[0], Nearest: ids[i-1], Similarity: 0.9, Items: i + 1}
		}
		dests, err := r.Route(context.Background(), it, d)
		if err != nil || !slices.Equal(dests, []string{"gov_service", "discipline"}) {
			t.Fatalf("route: %v %v", dests, err)
		}
		if err := s.Commit(context.Background(), &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: dests}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}
	members := func(id string, max int) ([]string, int) {
		if id != ids[0] {
			return nil, 0
		}
		return ids[len(ids)-min(max, len(ids)):], len(ids)
	}
	desks := map[string]*minsheng.Principal{
		"dispatch": {Name: "dispatch", Reads: []string{"gov_service"}},
		"cdi":      {Name: "cdi", Reads: []string{"discipline"}},
		"media":    {Name: "media", Reads: []string{"media_oversight"}},
		// posted the items (testItem's source and channel) and reads 12345's queue
		"poster":      {Name: "qingdao-daily", Channel: minsheng.ChannelNewspaper, Reads: []string{"gov_service"}},
		"poster-only": {Name: "qingdao-daily", Channel: minsheng.ChannelNewspaper},
	}
	get := func(desk, id string) (int, caseAnswer, string) {
		mux := http.NewServeMux()
		NewCaseAPI(r, s, members).Register(mux, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), desks[desk])))
			})
		})
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/cases/"+id, nil))
		var a caseAnswer
		json.Unmarshal(w.Body.Bytes(), &a)
		return w.Code, a, w.Body.String()
	}
	for desk, want := range map[string][]string{"dispatch": {"gov_service"}, "cdi": {"discipline"}, "poster": {"gov_service"}} {
		code, a, raw := get(desk, ids[0])
		if code != 200 || a.Total != 3 || len(a.Items) != 3 {
			t.Errorf("%s: %d %s", desk, code, raw)
			continue
		}
		for i, ci := range a.Items {
			if ci.ID != ids[i] || !slices.Equal(ci.Destinations, want) || (i > 0) != (ci.Nearest == ids[max(i-1, 0)]) {
				t.Errorf("%s: item %d %+v, want %s with destinations %v", desk, i, ci, ids[i], want)
			}
		}
		if strings.Contains(raw, "王五") || strings.Contains(raw, "corruption") {
			t.Errorf("%s: the answer tells of the complainant or the lead: %s", desk, raw)
		}
	}
	for _, desk := range []string{"media", "poster-only"} {
		if code, _, raw := get(desk, ids[0]); code != 404 {
			t.Errorf("%s, which reads none of the case's destinations: %d %s", desk, code, raw)
		}
	}
	if code, _, raw := get("dispatch", ids[1]); code != 404 {
		t.Errorf("an item that is no case's first: %d %s", code, raw)
	}
	if code, _, raw := get("dispatch", "not-an-id"); code != 404 {
		t.Errorf("a malformed id: %d %s", code, raw)
	}
	// A long case: the newest items and the count.
	short := members
	members = func(id string, max int) ([]string, int) { return short(id, 2) }
	if code, a, raw := get("dispatch", ids[0]); code != 200 || a.Total != 3 || len(a.Items) != 2 || a.Items[0].ID != ids[1] {
		t.Errorf("the newest two: %d %s", code, raw)
	}
}

// TestCaseScope: a record's case is found among where it went, or, for an
// item a person decided, among where the decision sent it, and only when
// the item reached all of those: not pending, not dead-lettered, and not
// under routes that name more than it reached (changed since).
func TestCaseScope(t *testing.T) {
	r := &Router{cfg: withDepartments(DefaultConfig())}
	r.discipline = r.cfg.disciplineDestinations()
	gov := &minsheng.Decision{Class: minsheng.ClassGovService}
	urban := &minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设"}
	done := &minsheng.Review{Desk: "reviewers"}
	for _, c := range []struct {
		name string
		rec  *minsheng.Record
		want []string
	}{
		{"routed", &minsheng.Record{Decision: urban, Destinations: []string{"gov_service", "dept_urban"}}, []string{"gov_service", "dept_urban"}},
		{"reviewed", &minsheng.Record{Decision: gov, Review: done, Destinations: []string{"review", "gov_service"}}, []string{"gov_service"}},
		{"reviewed, a lead's inspectors before", &minsheng.Record{Decision: &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}},
			Review: done, Destinations: []string{"review", "discipline", "gov_service"}}, []string{"gov_service", "discipline"}},
		{"pending", &minsheng.Record{Decision: gov, Review: &minsheng.Review{Desk: "reviewers", Pending: true}, Destinations: []string{"review"}}, nil},
		{"dead-lettered", &minsheng.Record{Decision: gov, Review: done, Destinations: []string{"review", "dead_letter"}}, nil},
		{"routed, dead-lettered", &minsheng.Record{Decision: gov, Destinations: []string{"dead_letter"}}, nil},
		{"a lead, dead-lettered", &minsheng.Record{Decision: &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}},
			Destinations: []string{"dead_letter", "discipline_dead_letter"}}, nil},
		{"a discipline case, dead-lettered", &minsheng.Record{Decision: &minsheng.Decision{Class: minsheng.ClassDiscipline}, Destinations: []string{"discipline_dead_letter"}}, nil},
		{"routes changed", &minsheng.Record{Decision: urban, Review: done, Destinations: []string{"review", "gov_service"}}, nil},
		{"no decision", &minsheng.Record{Destinations: []string{"gov_service"}}, nil},
	} {
		if got := r.CaseScope(c.rec); !minsheng.SameDestinations(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCaseAPIFirstItemFailed: a case whose first item failed for good
// after others joined it (dead-lettered, or never recorded) lives on
// under that item's ID, which its items name: a desk that reads where they
// went sees them; the dead letter's reader, and others, do not.
func TestCaseAPIFirstItemFailed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first []string // where the first item went; nil: never recorded
		// onItsWay: the index also holds a newest item not yet recorded
		// (it is linked before it is routed); the case answers as before.
		onItsWay bool
	}{
		{"dead-lettered", []string{"dead_letter"}, false},
		{"never recorded", nil, false},
		{"newest on its way", []string{"dead_letter"}, true},
		{"newest on its way, first recorded", []string{"gov_service"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
			if err != nil {
				t.Fatal(err)
			}
			gov := func() *minsheng.Decision { return &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9} }
			first := testItem("first")
			if tc.first != nil {
				if err := s.Commit(context.Background(), &minsheng.Record{ID: first.ID, Item: first, Decision: gov(), Destinations: tc.first}); err != nil {
					t.Fatal(err)
				}
			}
			var ids []string
			for i, ref := range []string{"second", "third"} {
				it := testItem(ref)
				d := gov()
				d.Case = &minsheng.CaseLink{ID: first.ID, Nearest: first.ID, Similarity: 0.9, Items: i + 2}
				if err := s.Commit(context.Background(), &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: []string{"gov_service"}}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, it.ID)
			}
			// The index let go of the first item when it failed.
			held := ids
			if tc.onItsWay {
				held = append(append([]string(nil), ids...), testItem("fourth").ID)
			}
			members := func(id string, max int) ([]string, int) {
				if id != first.ID {
					return nil, 0
				}
				return held[len(held)-min(max, len(held)):], len(held)
			}
			for _, c := range []struct {
				desk *minsheng.Principal
				code int
			}{
				{&minsheng.Principal{Name: "dispatch", Reads: []string{"gov_service"}}, 200},
				{&minsheng.Principal{Name: "dead-letters", Reads: []string{"dead_letter"}}, 404},
				{&minsheng.Principal{Name: "media", Reads: []string{"media_oversight"}}, 404},
			} {
				mux := http.NewServeMux()
				NewCaseAPI(r, s, members).Register(mux, func(h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
						h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), c.desk)))
					})
				})
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/cases/"+first.ID, nil))
				var a caseAnswer
				json.Unmarshal(w.Body.Bytes(), &a)
				if w.Code != c.code || c.code == 200 && (a.Total != len(held) || len(a.Items) != 2 || a.Items[0].ID != ids[0] || a.Items[1].ID != ids[1]) {
					t.Errorf("%s: %d %s, want %d", c.desk.Name, w.Code, w.Body, c.code)
				}
			}
		})
	}
}
