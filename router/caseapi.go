package router

import (
	"errors"
	"net/http"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// CaseAPI serves the items of a case that the asking desk may see:
//
//	GET /v1/cases/{id}   the case's items, oldest first
//
// A case is named by its first item's ID (Decision.Case.ID). An item is
// listed only to a desk that reads one of the destinations it went to
// (all of a case's items went to the same ones), in brief, as GET
// /v1/items/{id} shows it to that desk; a case with none the desk may see
// is 404, as is an unknown one. Requests must carry an
// authenticated desk in their context (auth.Registry.Middleware).
type CaseAPI struct {
	r       *Router
	ledger  minsheng.Ledger
	members func(caseID string) []string
}

// NewCaseAPI returns the case API; members lists a case's item IDs,
// oldest first (cases.Index.Members).
func NewCaseAPI(r *Router, ledger minsheng.Ledger, members func(caseID string) []string) *CaseAPI {
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
	ID    string     `json:"id"`
	Items []caseItem `json:"items"`
}

func (a *CaseAPI) get(w http.ResponseWriter, req *http.Request) {
	p := minsheng.PrincipalFrom(req.Context())
	id := req.PathValue("id")
	out := caseAnswer{ID: id, Items: []caseItem{}}
	if minsheng.ValidItemID(id) {
		for _, mid := range a.members(id) {
			rec, err := a.ledger.Lookup(req.Context(), mid)
			if errors.Is(err, minsheng.ErrNotFound) {
				continue
			}
			if err != nil {
				writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the ledger could not be read"})
				return
			}
			// Only a desk that reads one of the item's destinations: the
			// desk that submitted it sees it at /v1/items, not here, where
			// its presence would tell the desk that the case's first item,
			// which it may not have been sent, is like its own.
			if !p.ReadsAny(rec.Destinations) {
				continue
			}
			v, ok := a.r.View(rec, p)
			if !ok || v.Item == nil || v.Decision == nil {
				continue
			}
			ci := caseItem{ID: v.ID, ReceivedAt: v.Item.ReceivedAt, Channel: v.Item.Channel, Title: v.Item.Title,
				Class: v.Decision.Class, Destinations: v.Destinations}
			if c := v.Decision.Case; c != nil {
				ci.Nearest, ci.Similarity = c.Nearest, c.Similarity
			}
			out.Items = append(out.Items, ci)
		}
	}
	if len(out.Items) == 0 {
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "no case " + id + " that this desk may see"})
		return
	}
	writeJSON(w, http.StatusOK, out)
}
