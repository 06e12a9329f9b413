package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
)

// RedeliverAPI lets a desk that reads a dead letter send the item in it
// on to the destinations that do not have it, once what refused it is
// mended (a topic's max.message.bytes raised, a topic created, a route
// added):
//
//	GET  /v1/items/{id}/redeliver   where a re-delivery would send the item; nothing is sent
//	POST /v1/items/{id}/redeliver   re-deliver it
//
// Only a desk that reads the dead letter or the discipline dead letter may
// ask (403 otherwise); the item must be one it may see (404 otherwise, as
// for an unknown ID) and in a dead letter it reads (409 otherwise). An
// item whose route is incomplete is re-delivered to the destinations of
// the share it has yet to reach as well (see plan). Each
// dead letter re-delivers its own share of the destinations the item's
// decision names (see share): the dead letter all but the inspectors',
// the discipline dead letter the inspectors'. So the dead letter's desk
// neither sends an item to the inspectors nor learns, from any answer,
// that it has a lead.
//
// The item is sent from its ledger record, with its recorded decision, to
// the destinations of the desk's share that its decision names now and
// that do not hold it: the record's undelivered ones, or, for an item
// dead-lettered before any destination took it, all of them (the routes
// may have been mended since). It goes through the router's own path
// (sendTo), so its envelopes, identity policy and redaction are those
// of a first delivery; but a destination refusing it again does not send
// it to a dead letter again: the answer says why (409), and nothing is
// recorded unless another destination took it. A re-delivery that sent
// anything commits a new record: those destinations added, undelivered
// reduced, and a redelivered step in the trail naming the desk. Asking
// again when nothing is left answers 200 with nothing sent; changes to one
// item (re-deliveries, review decisions) are made one at a time.
//
// The dead letter's message stays in its queue until the desk acks it, as
// any message.
type RedeliverAPI struct {
	r       *Router
	ledger  minsheng.Ledger
	now     func() time.Time
	timeout time.Duration // for one re-delivery: look up, send, record
	count   *prometheus.CounterVec
}

// NewRedeliverAPI returns the re-delivery API over the router and the
// ledger of handled items.
func NewRedeliverAPI(r *Router, ledger minsheng.Ledger) *RedeliverAPI {
	return &RedeliverAPI{r: r, ledger: ledger, now: time.Now, timeout: 10 * time.Second,
		count: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_redeliveries_total",
			Help: "Re-deliveries of dead letters asked for, by outcome: redelivered, refused (again, by a destination), unavailable, nothing (nothing left to send)."},
			[]string{"outcome"})}
}

// Collector exports minsheng_redeliveries_total.
func (a *RedeliverAPI) Collector() prometheus.Collector { return a.count }

// Register adds the API's routes to mux (without authentication: wrap mux).
func (a *RedeliverAPI) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/items/{id}/redeliver", wrap(http.HandlerFunc(a.preview)))
	mux.Handle("POST /v1/items/{id}/redeliver", wrap(http.HandlerFunc(a.redeliver)))
}

// redeliveryAnswer is the answer to a re-delivery. Its lists name only
// destinations of the asking desk's share.
type redeliveryAnswer struct {
	ID string `json:"id"`
	// Redelivered: where this re-delivery sent the item (empty: nowhere).
	Redelivered []string `json:"redelivered"`
	// Undelivered: the destinations still without it, with why.
	Undelivered []minsheng.Undelivered `json:"undelivered"`
	Message     string                 `json:"message,omitempty"`
	Error       string                 `json:"error,omitempty"`
}

// previewAnswer is the answer to a preview: where a re-delivery would send
// the item now (RedeliverTo, with why each lacks it in Undelivered), and
// the destinations that hold it, as the desk's dead letter names them.
type previewAnswer struct {
	ID          string                 `json:"id"`
	RedeliverTo []string               `json:"redeliver_to"`
	Reached     []string               `json:"reached"`
	Undelivered []minsheng.Undelivered `json:"undelivered"`
	Message     string                 `json:"message,omitempty"`
}

// redelivery is what a desk may re-deliver of one item.
type redelivery struct {
	rec     *minsheng.Record
	to      []string // the share's destinations named now that do not hold the item
	kind    string   // their envelope kind (DestinationsFor)
	reached []string // as the desk's dead letter envelope names them
	missing []string // those of to that an incomplete route has yet to reach
	// seesLead: the desk reads the discipline dead letter the item is in,
	// and its answers name the inspectors' destinations (a lead).
	seesLead bool
}

// share returns which destinations of rec a desk re-delivers: for each
// dead letter the item went to that the desk reads, the destinations that
// dead letter's envelope names as undelivered (see deadLetter): the dead
// letter all but the inspectors' (all, without a discipline dead letter),
// the discipline dead letter the inspectors' (all, when it is the only
// dead letter of the item's decision: a discipline item, whose review
// copy, say, no one else could then send on). It returns nil when the
// item is in no dead letter the desk reads. seesLead reports whether the
// desk reads the discipline dead letter the item is in.
func (r *Router) share(rec *minsheng.Record, p *minsheng.Principal) (mine func(string) bool, seesLead bool) {
	dl, ddl := r.cfg.Routes.DeadLetter, r.cfg.Routes.DisciplineDeadLetter
	viaDL := dl != "" && p.CanRead(dl) && slices.Contains(rec.Destinations, dl)
	viaDDL := ddl != "" && p.CanRead(ddl) && slices.Contains(rec.Destinations, ddl)
	if !viaDL && !viaDDL {
		return nil, false
	}
	alone := viaDDL && rec.Decision != nil && slices.Equal(r.deadLetterTo(rec.Decision), []string{ddl})
	return func(dest string) bool {
		told := r.toldOfLead(dest)
		return viaDL && (ddl == "" || !told) || viaDDL && (told || alone)
	}, viaDDL
}

// desk returns the asking desk when it reads a dead letter; otherwise it
// answers 403, logged. That depends on the desk alone, never on the item.
func (a *RedeliverAPI) desk(w http.ResponseWriter, req *http.Request) (*minsheng.Principal, bool) {
	p := minsheng.PrincipalFrom(req.Context())
	dl, ddl := a.r.cfg.Routes.DeadLetter, a.r.cfg.Routes.DisciplineDeadLetter
	if p.CanRead(dl) || ddl != "" && p.CanRead(ddl) {
		return p, true
	}
	name := ""
	if p != nil {
		name = p.Name
	}
	a.r.log.Warn("request refused: desk reads no dead letter", "desk", name, "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
	writeJSON(w, http.StatusForbidden, apiError{"forbidden", fmt.Sprintf("desk %s reads no dead letter (%s), so it may not re-deliver one", name, strings.Join(slices.DeleteFunc([]string{dl, ddl}, func(s string) bool { return s == "" }), ", "))})
	return nil, false
}

// plan looks the item up and works out what the desk may re-deliver of
// it, or answers why it may not and returns false.
func (a *RedeliverAPI) plan(ctx context.Context, w http.ResponseWriter, p *minsheng.Principal, id string) (*redelivery, bool) {
	notFound := func() {
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "no item " + id + " that this desk may see"})
	}
	if !minsheng.ValidItemID(id) {
		notFound()
		return nil, false
	}
	rec, err := a.ledger.Lookup(ctx, id)
	if errors.Is(err, minsheng.ErrNotFound) {
		notFound()
		return nil, false
	}
	if err != nil {
		a.r.log.Warn("re-delivery: the ledger could not be read", "id", id, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the ledger could not be read"})
		return nil, false
	}
	// Told nothing of an item it may not see, a lead's among them: the
	// dead letter's desk does not see an item only the inspectors' dead
	// letter holds.
	if _, ok := a.r.View(rec, p); !ok {
		notFound()
		return nil, false
	}
	mine, seesLead := a.r.share(rec, p)
	switch {
	case mine == nil:
		writeJSON(w, http.StatusConflict, apiError{"not_dead_lettered", "item " + id + " is in no dead letter this desk reads: there is nothing for it to re-deliver"})
		return nil, false
	case rec.Item == nil || rec.Decision == nil:
		writeJSON(w, http.StatusConflict, apiError{"quarantined", id + " is an input that could not be parsed into an item: there is no item to re-deliver. The dead letter holds its reason and raw bytes (or raw_ref): have the source send it again, mended, under a new reference"})
		return nil, false
	case rec.Review != nil && rec.Review.Pending:
		writeJSON(w, http.StatusConflict, apiError{"review_pending", "a review decision on item " + id + " is being sent on: the review desk finishes it by deciding it the same way again"})
		return nil, false
	}
	// An incomplete route's destinations that have yet to be reached are
	// sent the item as the share's others are (they do not hold it): the
	// source may never offer it again for the pipeline to. Such an item is
	// in a dead letter only when a review decision sent it there on the
	// way, with the inspectors' destinations left to the pipeline; those
	// are the inspectors' desk's to send, as the item is whole in their
	// dead letter. The record stays incomplete until the pipeline
	// completes it (its finisher's next pass, or the source's next offer).
	named, kind := a.r.DestinationsFor(rec.Decision)
	named = slices.DeleteFunc(named, func(d string) bool { return !mine(d) })
	if !rec.Decision.Class.Valid() || len(named) == 0 {
		writeJSON(w, http.StatusConflict, apiError{"no_route", fmt.Sprintf("the routes send an item of class %q to no destination this desk re-delivers to: mend routes in the configuration, restart the gateway, and re-deliver it", rec.Decision.Class)})
		return nil, false
	}
	rd := &redelivery{rec: rec, kind: kind, seesLead: seesLead}
	for _, d := range named {
		if !slices.Contains(rec.Destinations, d) {
			rd.to = append(rd.to, d)
		}
	}
	rd.missing = slices.DeleteFunc(a.r.missing(rec), func(d string) bool { return !slices.Contains(rd.to, d) })
	// As the dead letter envelope names them: the inspectors' only to
	// their own dead letter's desk.
	for _, d := range rec.Destinations {
		if d == a.r.cfg.Routes.DeadLetter || d == a.r.cfg.Routes.DisciplineDeadLetter {
			continue
		}
		if seesLead || !a.r.toldOfLead(d) {
			rd.reached = append(rd.reached, d)
		}
	}
	return rd, true
}

// accessed logs the access line of an answer about rd's item: none
// hands the item itself, but one to a desk reading the discipline dead
// letter it is in names the inspectors' destinations, which tells of its
// lead. Every answer once the plan is made does (200, and the 409 or 503
// of a re-delivery refused again or unavailable).
func (rd *redelivery) accessed(r *Router, req *http.Request, what string) {
	var l accessLine
	l.add(rd.rec.ID, false, rd.seesLead && hasLead(rd.rec.Decision))
	r.logAccess(req, what, r.cfg.Routes.DisciplineDeadLetter, &l)
}

// undelivered lists the destinations of the desk's share that its
// decision names and that do not hold the item (to), with the record's
// reason, or why they were not sent it when the record has none.
func (rd *redelivery) undelivered(to []string) []minsheng.Undelivered {
	out := []minsheng.Undelivered{}
	for _, d := range to {
		i := slices.IndexFunc(rd.rec.Undelivered, func(u minsheng.Undelivered) bool { return u.Destination == d })
		if i >= 0 {
			out = append(out, rd.rec.Undelivered[i])
			continue
		}
		reason := "not sent: the item went to the dead letter before it was sent here"
		if slices.Contains(rd.missing, d) {
			reason = "not sent yet: the item's route is incomplete (this destination was unavailable, or left to the finisher's next pass or the source's next offer)"
		}
		out = append(out, minsheng.Undelivered{Destination: d, Reason: reason})
	}
	return out
}

// preview answers where a re-delivery would send the item, sending nothing.
func (a *RedeliverAPI) preview(w http.ResponseWriter, req *http.Request) {
	p, ok := a.desk(w, req)
	if !ok {
		return
	}
	id := req.PathValue("id")
	rd, ok := a.plan(req.Context(), w, p, id)
	if !ok {
		return
	}
	rd.accessed(a.r, req, AccessRedeliverQ)
	ans := previewAnswer{ID: id, RedeliverTo: orEmpty(rd.to), Reached: orEmpty(rd.reached), Undelivered: rd.undelivered(rd.to)}
	if len(rd.to) == 0 {
		ans.Message = "nothing to re-deliver: the destinations this desk re-delivers to have the item"
	}
	writeJSON(w, http.StatusOK, ans)
}

func (a *RedeliverAPI) redeliver(w http.ResponseWriter, req *http.Request) {
	p, ok := a.desk(w, req)
	if !ok {
		return
	}
	id := req.PathValue("id")
	if !minsheng.ValidItemID(id) {
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "no item " + id + " that this desk may see"})
		return
	}
	// One change to the item at a time: a second request waits, then finds
	// the first's record and sends nothing.
	defer a.r.items.lock(id)()
	// Not cancelled when the client leaves: what was sent must be recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), a.timeout)
	defer cancel()
	rd, ok := a.plan(ctx, w, p, id)
	if !ok {
		return
	}
	rd.accessed(a.r, req, AccessRedeliver)
	rec := rd.rec
	if len(rd.to) == 0 {
		a.count.WithLabelValues("nothing").Inc()
		writeJSON(w, http.StatusOK, redeliveryAnswer{ID: id, Redelivered: []string{}, Undelivered: []minsheng.Undelivered{},
			Message: "nothing to re-deliver: the destinations this desk re-delivers to have the item; nothing was sent"})
		return
	}
	rt, err := a.r.sendTo(ctx, rec.Item, rec.Decision, rd.to, rd.kind)
	took := rt.Destinations
	left := slices.DeleteFunc(slices.Clone(rd.to), func(d string) bool { return slices.Contains(took, d) })
	var perm *PermanentError
	refused := errors.As(err, &perm)

	if len(took) > 0 {
		next := *rec
		next.Destinations = append(slices.Clip(rec.Destinations), took...)
		// The destinations it reached leave undelivered; those that
		// refused it again say so now. One unavailable now keeps its
		// reason: whether it still refuses the item is not known.
		refusedNow := slices.DeleteFunc(slices.Clone(rt.Undelivered), func(n minsheng.Undelivered) bool { return !n.Refused })
		next.Undelivered = nil
		for _, u := range rec.Undelivered {
			if !slices.Contains(took, u.Destination) && !slices.ContainsFunc(refusedNow, func(n minsheng.Undelivered) bool { return n.Destination == u.Destination }) {
				next.Undelivered = append(next.Undelivered, u)
			}
		}
		next.Undelivered = append(next.Undelivered, refusedNow...)
		next.Trail = append(slices.Clip(rec.Trail), minsheng.Event{Step: minsheng.StepRedelivered, At: a.now().UTC(), Detail: "by desk " + p.Name, Destinations: took})
		// Recorded under a deadline of its own: a destination that failed
		// until the send's deadline has spent that one, and what the others
		// took must still be recorded, or the next re-delivery sends it to
		// them again.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
		cerr := a.ledger.Commit(cctx, &next)
		ccancel()
		if cerr != nil {
			a.r.log.Error("re-delivered but not recorded; re-delivering again sends it again (destinations drop the repeat by ID)", "id", id, "desk", p.Name, "destinations", took, "err", cerr)
			a.count.WithLabelValues("unavailable").Inc()
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the item was re-delivered to " + strings.Join(took, ", ") + " but that could not be recorded: re-deliver it again (they drop the repeat by ID)"})
			return
		}
		rd.rec = &next
	}
	ans := redeliveryAnswer{ID: id, Redelivered: orEmpty(took), Undelivered: []minsheng.Undelivered{}}
	if err != nil {
		// Those left are listed with why they lack it now (unavailable,
		// or refused again), not with the record's older reason: that is
		// what to mend or wait for.
		ans.Undelivered = rt.Undelivered
	}
	switch {
	case refused:
		a.count.WithLabelValues("refused").Inc()
		a.r.log.Warn("re-delivery refused", "id", id, "trace_id", rec.Item.TraceID, "desk", p.Name, "redelivered", took, "undelivered", left, "reason", minsheng.LogReason(perm.Error()))
		ans.Error = "refused"
		ans.Message = "refused again: " + perm.Error() + "; mend the destination and re-deliver again"
		if len(took) == 0 {
			ans.Message += " (nothing was sent or recorded)"
		}
		writeJSON(w, http.StatusConflict, ans)
	case err != nil:
		a.count.WithLabelValues("unavailable").Inc()
		a.r.log.Warn("re-delivery: destination unavailable", "id", id, "trace_id", rec.Item.TraceID, "desk", p.Name, "redelivered", took, "undelivered", left, "err", err)
		ans.Error = "unavailable"
		ans.Message = "not re-delivered to " + strings.Join(left, ", ") + ": a destination is unavailable; re-deliver it again later"
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, ans)
	default:
		a.count.WithLabelValues("redelivered").Inc()
		a.r.log.Info("re-delivered", "id", id, "trace_id", rec.Item.TraceID, "desk", p.Name, "destinations", strings.Join(took, ","))
		ans.Message = "re-delivered; the dead letter's message stays in its queue until this desk acks it"
		writeJSON(w, http.StatusOK, ans)
	}
}

// orEmpty returns l, or an empty list for none: the answers always carry
// their lists.
func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
