package router

import (
	"errors"
	"net/http"
	"slices"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// CaseAPI serves the items of a case that the asking desk may see:
//
//	GET /v1/cases/{id}   the case's items, oldest first
//
// A case is named by its first item's ID (Decision.Case.ID). An item is
// listed only to a desk that reads one of the destinations its case was
// found among (Router.CaseScope: all of a case's items went to them; a
// review desk that decided an item is not told of its case), in brief, as GET
// /v1/items/{id} shows it to that desk; a case with none the desk may see
// is 404, as is an unknown one. Requests must carry an
// authenticated desk in their context (auth.Registry.Middleware).
type CaseAPI struct {
	r       *Router
	ledger  minsheng.Ledger
	members func(caseID string, max int) ([]string, int)
}

// maxCaseItems is how many of a case's items one answer lists, the
// newest.
const maxCaseItems = 200

// NewCaseAPI returns the case API; members lists the newest max of a
// case's item IDs, oldest first, and how many there are (cases.Index.Members).
func NewCaseAPI(r *Router, ledger minsheng.Ledger, members func(caseID string, max int) ([]string, int)) *CaseAPI {
	return &CaseAPI{r: r, ledger: ledger, members: members}
}

// Register adds the API's route to mux (without authentication: wrap mux).
func (a *CaseAPI) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/cases/{id}", wrap(http.HandlerFunc(a.get)))
}

// caseItem is one item of a case, in brief.
type caseItem struct {
	ID         string           `json:"id"`
	ReceivedAt time.Time        `json:"received_at"`
	Channel    minsheng.Channel `json:"channel"`
	Title      string           `json:"title"`
	Class      minsheng.Class   `json:"class"`
	// Nearest and Similarity: the earlier item it was linked to; empty
	// for the case's first item.
	Nearest      string   `json:"nearest,omitempty"`
	Similarity   float64  `json:"similarity,omitempty"`
	Destinations []string `json:"destinations"`
}

type caseAnswer struct {
	ID string `json:"id"`
	// Items are the newest of them (at most 200), oldest first; Total
	// counts the case's items the gateway holds.
	Items []caseItem `json:"items"`
	Total int        `json:"total"`
}

func (a *CaseAPI) get(w http.ResponseWriter, req *http.Request) {
	p := minsheng.PrincipalFrom(req.Context())
	id := req.PathValue("id")
	notFound := func() {
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "no case " + id + " that this desk may see"})
	}
	unavailable := func() {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the ledger could not be read"})
	}
	if !minsheng.ValidItemID(id) {
		notFound()
		return
	}
	// All of a case's items went to the same destinations: a desk that
	// reads none of those of its newest recorded item learns nothing, not
	// even how long the answer takes to make (one record is read either
	// way, once the item is recorded). Not its first item's: that one may
	// have failed for good after another joined it (dead-lettered, or never
	// recorded), and the case lives on under its ID. The newest may still
	// be on its way (the index holds an item from before it is routed),
	// so the gate is the newest one the ledger has, the case's own ID last.
	ids, total := a.members(id, maxCaseItems)
	var root *minsheng.Record
	for i := len(ids) - 1; i >= -1 && root == nil; i-- {
		gate := id
		if i >= 0 {
			gate = ids[i]
		}
		rec, err := a.ledger.Lookup(req.Context(), gate)
		switch {
		case errors.Is(err, minsheng.ErrNotFound):
			continue
		case err != nil:
			unavailable()
			return
		}
		root = rec
	}
	if root == nil || !p.ReadsAny(a.r.CaseScope(root)) {
		notFound()
		return
	}
	out := caseAnswer{ID: id, Items: []caseItem{}, Total: total}
	for _, mid := range ids {
		rec, err := a.ledger.Lookup(req.Context(), mid)
		if errors.Is(err, minsheng.ErrNotFound) {
			continue
		}
		if err != nil {
			unavailable()
			return
		}
		// Only a desk that reads one of the item's destinations: the
		// desk that submitted it sees it at /v1/items, not here, where
		// its presence would tell the desk that the case's first item,
		// which it may not have been sent, is like its own.
		if !p.ReadsAny(a.r.CaseScope(rec)) {
			continue
		}
		v, ok := a.r.View(rec, p)
		if !ok || v.Item == nil || v.Decision == nil {
			continue
		}
		ci := caseItem{ID: v.ID, ReceivedAt: v.Item.ReceivedAt, Channel: v.Item.Channel, Title: v.Item.Title,
			Class: v.Decision.Class, Destinations: []string{}}
		// Only the destinations this desk reads, even of an item it
		// submitted itself (View shows a submitter all of them): that
		// the case's items also went to the inspectors is not said.
		for _, d := range v.Destinations {
			if p.CanRead(d) {
				ci.Destinations = append(ci.Destinations, d)
			}
		}
		if c := v.Decision.Case; c != nil {
			ci.Nearest, ci.Similarity = c.Nearest, c.Similarity
		}
		out.Items = append(out.Items, ci)
	}
	if len(out.Items) == 0 {
		notFound()
		return
	}
	// Oldest first by when each was received: the index holds them in the
	// order they joined, and an item decided at review joins late.
	slices.SortStableFunc(out.Items, func(a, b caseItem) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	// No identity here; a lead where the desk sees an item's discipline
	// class, or that it went to an inspectors' destination.
	var l accessLine
	for _, ci := range out.Items {
		l.add(ci.ID, false, ci.Class == minsheng.ClassDiscipline || slices.ContainsFunc(ci.Destinations, a.r.toldOfLead))
	}
	a.r.logAccess(req, AccessCase, "", &l, "case", id)
	writeJSON(w, http.StatusOK, out)
}
