package router

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
)

// ReviewAPI lets a person decide an item that triage sent to review, and
// sends it on:
//
//	POST /v1/reviews/{id}  {"class": "petition", "discipline_lead": true, "department": "城乡建设"}
//
// The desk must read the review destination (403 otherwise); the item must
// be one triage sent there (404 when the desk cannot see it, 409 when it
// was not sent to review). The item then goes to the destinations the new
// decision names (its class, the department for gov_service, the
// inspectors for a lead, rejected for invalid) but those it reached before:
// a possible discipline case was with the inspectors at once. The decision
// becomes the reviewer's (confidence 1, a "review" reason), the ledger
// keeps who decided, when and triage's decision (Record.Review), and the
// trail gains a
// reviewed and a routed step. A discipline class triage gave becomes a
// lead, as the inspectors have the item.
//
// discipline_lead can raise a lead but not clear one: the review desk is
// not told of a lead triage raised (see toldOfLead), so it cannot judge
// it, and the inspectors have the item already. It cannot be raised on an
// invalid item (400), which goes to rejected only. department is optional
// (triage's is kept) and must be one of triage's sectors or of
// routes.departments.
//
// Deciding an item again the same way (class, department, the lead the
// desk raised) answers as the first time (200, "repeat": true); another
// way answers 409 with the first decision. Neither answer, nor the
// destinations shown, depends on a lead the desk is not told of. When
// the review destination is the embedded queue and the desk holds the
// item's message, the message is acked; otherwise the answer says why not
// (the desk acks it, or commits its Kafka offset, as usual).
type ReviewAPI struct {
	r           *Router
	ledger      minsheng.Ledger
	departments []string // known: triage's sectors and routes.departments' keys
	now         func() time.Time
	timeout     time.Duration // for one decision: look up, record, send on, record
	decided     *prometheus.CounterVec
	linker      minsheng.Linker // nil: items decided at review join no case
}

// Collector exports minsheng_reviews_total: the decisions people made, by
// triage's class and theirs, so that how often they overturn the model
// can be watched (a count per pair of classes, no item).
func (a *ReviewAPI) Collector() prometheus.Collector { return a.decided }

// NewReviewAPI returns the review API over the router and the ledger of
// handled items. A reviewer may name one of departments (triage's sectors)
// or of routes.departments. With a linker, an item a person decides joins
// the case of like items routed where the decision sends it, as the
// pipeline links items triage decided alone (nil: no case).
func NewReviewAPI(r *Router, ledger minsheng.Ledger, departments []string, linker minsheng.Linker) *ReviewAPI {
	known := slices.Clone(departments)
	for k := range r.cfg.Routes.Departments {
		if !slices.Contains(known, k) {
			known = append(known, k)
		}
	}
	return &ReviewAPI{r: r, ledger: ledger, departments: known, now: time.Now, timeout: 10 * time.Second, linker: linker,
		decided: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_reviews_total",
			Help: "Items people decided at review, by triage's class and the class they chose."}, []string{"triage_class", "class"})}
}

// Register adds the API's route to mux (without authentication: wrap mux).
func (a *ReviewAPI) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("POST /v1/reviews/{id}", wrap(http.HandlerFunc(a.decide)))
	mux.Handle("GET /v1/reviews", wrap(http.HandlerFunc(a.export)))
}

// reviewDesk returns the asking desk and the review destination when the
// desk reads that destination; otherwise it answers 403, logged, saying
// the desk may not do what.
func (a *ReviewAPI) reviewDesk(w http.ResponseWriter, req *http.Request, what string) (*minsheng.Principal, string, bool) {
	p := minsheng.PrincipalFrom(req.Context())
	review := a.r.cfg.Routes.Review
	if !p.CanRead(review) {
		a.r.log.Warn("request refused: desk may not read the review destination", "desk", p.Name, "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
		writeJSON(w, http.StatusForbidden, apiError{"forbidden", fmt.Sprintf("desk %s may not read %q, so it may not %s", p.Name, review, what)})
		return nil, "", false
	}
	return p, review, true
}

// ledgerScanner is a ledger that can read every record (store.Store).
type ledgerScanner interface {
	Each(fn func(*minsheng.Record) error) error
}

// export writes, as JSON lines (minsheng.ReviewedItem), every item a
// person decided at review, as the asking desk may see it (View): never
// the complainant; for a desk not told of leads, no lead and no triage
// class on any line (see below).
// ?since=RFC 3339 time keeps the decisions made at or after it. It is
// what `minsheng reviews` writes, without stopping the gateway, for
// `minsheng eval --file` and `minsheng train --extra-labels`; it reads
// the whole ledger, so run it now and then, not in a loop. Only desks
// that read the review destination may ask (403 otherwise).
func (a *ReviewAPI) export(w http.ResponseWriter, req *http.Request) {
	p, _, ok := a.reviewDesk(w, req, "read review decisions")
	if !ok {
		return
	}
	var since time.Time
	if s := req.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if n := len(s) - len("+08:00"); err != nil && n > 0 && s[n] == ' ' {
			// An offset's + typed into the URL as it is, which the query
			// decodes to a space: nothing else puts one there.
			t, err = time.Parse(time.RFC3339, s[:n]+"+"+s[n+1:])
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{"bad_request", "since: must be an RFC 3339 time, e.g. 2026-12-01T00:00:00+08:00 or 2026-11-30T16:00:00Z"})
			return
		}
		since = t
	}
	scan, ok := a.ledger.(ledgerScanner)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{"not_implemented", "this ledger cannot list its records"})
		return
	}
	// A desk not told of leads gets no line with triage's class: a line
	// without it among lines with it would name exactly the items that
	// went to the inspectors. View leaves triage's decision out for such
	// a desk on every reviewed item; the line is cleared here as well, so
	// that the export does not hang on View alone.
	told := a.r.readsLeads(p)
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	var access accessLine
	err := scan.Each(func(rec *minsheng.Record) error {
		if err := req.Context().Err(); err != nil {
			return err // the reader left
		}
		if rec.Review == nil || rec.Review.At.Before(since) {
			return nil
		}
		v, ok := a.r.View(rec, p)
		if !ok {
			return nil
		}
		l, ok := minsheng.ReviewedItemOf(v)
		if !ok {
			return nil
		}
		if !told {
			l.TriageClass, l.TriageConfidence, l.ModelVersion = "", 0, ""
		}
		n++
		// Never a complainant; a lead where the line shows one.
		access.add(l.ID, false, l.DisciplineLead != nil && *l.DisciplineLead ||
			l.Class == minsheng.ClassDiscipline || l.TriageClass == minsheng.ClassDiscipline)
		return enc.Encode(l)
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The 200 is sent: the connection is broken off instead of ended,
		// so that the reader sees an incomplete answer (curl exits 18),
		// not a shorter export.
		a.r.log.Warn("review export cut short", "desk", p.Name, "lines", n, "err", err)
		// What was written may have reached the desk.
		a.r.logAccess(req, AccessExport, "", &access, "since", req.URL.Query().Get("since"), "cut_short", true)
		panic(http.ErrAbortHandler)
	}
	a.r.logAccess(req, AccessExport, "", &access, "since", req.URL.Query().Get("since"))
	a.r.log.Info("review export", "desk", p.Name, "lines", n, "since", req.URL.Query().Get("since"))
}

// reviewRequest is the body of a review decision.
type reviewRequest struct {
	Class          minsheng.Class `json:"class"`
	DisciplineLead *bool          `json:"discipline_lead"`
	Department     string         `json:"department"`
}

// reviewAnswer is the answer to a review decision.
type reviewAnswer struct {
	ID           string             `json:"id"`
	Class        minsheng.Class     `json:"class"`
	Destinations []string           `json:"destinations"` // where the decision sent the item now
	Repeat       bool               `json:"repeat,omitempty"`
	Review       *minsheng.Review   `json:"review"`
	Message      string             `json:"review_message,omitempty"` // acked, or why not
	Decision     *minsheng.Decision `json:"decision"`
}

func (a *ReviewAPI) decide(w http.ResponseWriter, req *http.Request) {
	p, review, ok := a.reviewDesk(w, req, "decide reviews")
	if !ok {
		return
	}
	id := req.PathValue("id")
	notFound := func() {
		writeJSON(w, http.StatusNotFound, apiError{"not_found", "no item " + id + " that this desk may see"})
	}
	if !minsheng.ValidItemID(id) {
		notFound()
		return
	}
	// An item this desk may not see is 404 before its body is looked at,
	// as an unknown ID is, so that a desk fixing its body is not first
	// told 400 and then 404. The two 404s are the same answer, and a bad
	// body is 400 for every ID alike, so neither order tells the desk
	// whether an item it may not see exists. Looked up again below, under
	// the item's lock, which is not held while the body is read.
	switch rec, err := a.ledger.Lookup(req.Context(), id); {
	case errors.Is(err, minsheng.ErrNotFound), err == nil && !a.maySee(rec, p, review):
		notFound()
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the ledger could not be read"})
		return
	}
	body, ok := a.readRequest(w, req)
	if !ok {
		return
	}

	// One change to the item at a time (decisions, re-deliveries, the
	// pipeline finishing its route), from looking it up to recording what
	// was sent: a second decision waits, then finds the first's record and
	// answers as a repeat or 409, so exactly one decision sends the item
	// on. Decisions on other items go on meanwhile: a lock over every
	// item would hold them all while one item's destination is slow.
	defer a.r.items.lock(id)()
	// Not cancelled when the client leaves: a decision that has sent the
	// item on must be recorded, or the item would wait in review for
	// another decision that could send it to a second body.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), a.timeout)
	defer cancel()
	rec, err := a.ledger.Lookup(ctx, id)
	if errors.Is(err, minsheng.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the ledger could not be read"})
		return
	}
	if !reviewable(rec, review) {
		if !a.maySee(rec, p, review) {
			notFound()
			return
		}
		writeJSON(w, http.StatusConflict, apiError{"not_in_review", "item " + id + " was not sent to " + review})
		return
	}
	raised := body.DisciplineLead != nil && *body.DisciplineLead
	// A decision is written down (Review.Pending) before it is sent on, so
	// that one left half done (a destination down, the ledger failing) can
	// only be finished, never replaced by another that would send the item
	// to a second body. rec.Destinations stay where the item had gone
	// before the review until the decision is done.
	if rec.Review != nil {
		// The same decision is the same class, department and raised lead
		// as the desk gave, never as the record's lead flag, which may be
		// triage's lead the desk is not told of.
		same := rec.Decision.Class == body.Class && (body.Department == "" || body.Department == rec.Decision.Department) &&
			(body.DisciplineLead == nil || raised == rec.Review.RaisedLead)
		switch {
		case same && !rec.Review.Pending:
			// The lead shown is the one this body raises (same made sure
			// it matches the record's): a repeat without one must not tell
			// another review desk of a lead a colleague raised. The review
			// message is acked if this desk holds it now: one decided by a
			// desk that did not hold it stays in the queue, and whoever is
			// handed it again settles it by deciding it the same way.
			a.answer(w, req, http.StatusOK, rec, p, reviewedTo(rec), true, "a repeat: nothing was sent on again; "+a.ack(ctx, review, p, id), raised)
			return
		case !same:
			var shown *minsheng.Review // as this desk may see it
			if v, ok := a.r.View(rec, p); ok {
				shown = v.Review
			}
			// The answer names the person's class and shows the review
			// as this desk may see it: a lead where they tell of one.
			var l accessLine
			l.record(&minsheng.Record{ID: id, Decision: &minsheng.Decision{Class: rec.Decision.Class}, Review: shown})
			a.r.logAccess(req, AccessReview, "", &l)
			state := "decided"
			if rec.Review.Pending {
				state = "is sending on (decide it the same way to finish)"
			}
			writeJSON(w, http.StatusConflict, map[string]any{"error": "already_reviewed",
				"message": fmt.Sprintf("desk %s %s item %s as %s at %s", rec.Review.Desk, state, id, rec.Decision.Class, rec.Review.At.Format(time.RFC3339)),
				"review":  shown})
			return
		}
		raised = rec.Review.RaisedLead // finishing the pending decision as it was written
	}

	// The case index holds the item from Link on; it keeps it only if the
	// item reaches all the decision sends it to (reached = planned).
	remember, reached, planned := func([]string) {}, []string(nil), []string(nil)
	defer func() { remember(reached) }()
	pending := rec
	if rec.Review == nil {
		machine := rec.Decision
		// Triage's reasons stay with its decision (Record.Review), not in the
		// person's: they may tell of a lead (a discipline class, a lead rule)
		// that the destinations now told of the item must not learn.
		d := minsheng.Decision{Class: body.Class, Confidence: 1, Department: machine.Department, Flags: machine.Flags,
			ModelVersion: machine.ModelVersion,
			Reasons:      []minsheng.Reason{{Kind: "review", Code: "reviewed", Detail: "decided by desk " + p.Name}}}
		// A discipline class triage gave stays a lead: the inspectors have
		// the item, and the desks it goes to now are not told of it.
		d.Flags.DisciplineLead = machine.Flags.DisciplineLead || machine.Class == minsheng.ClassDiscipline || raised
		d.Flags.WeakLead = machine.Flags.WeakLead && !raised && machine.Class != minsheng.ClassDiscipline
		if body.Department != "" {
			// A person's sector is certain, whatever triage thought of its own.
			d.Department, d.Flags.DepartmentUncertain = body.Department, false
		}
		reviewed := fmt.Sprintf("by desk %s: %s", p.Name, d.Class)
		// Linked among the items routed exactly where this decision sends
		// the item, so that none of them is named to a body it was not
		// sent; written down with the decision, so that finishing it later
		// sends the same case.
		if a.linker != nil && d.Class != minsheng.ClassInvalid {
			planned, _ = a.r.DestinationsFor(&d)
			var c *minsheng.CaseLink
			if c, remember = a.linker.Link(rec.Item, &d, planned); c != nil {
				d.Case = c
				d.Reasons = append(d.Reasons, c.Reason())
				reviewed += minsheng.TrailCase(c.ID)
			}
		}
		now := a.now().UTC()
		next := *rec
		next.Decision = &d
		next.Review = &minsheng.Review{Desk: p.Name, At: now, Triage: machine, Department: body.Department, RaisedLead: raised, Pending: true}
		next.Trail = append(slices.Clip(rec.Trail), minsheng.Event{Step: minsheng.StepReviewed, At: now, Detail: reviewed})
		if err := a.ledger.Commit(ctx, &next); err != nil {
			a.r.log.Warn("review decision not recorded; nothing sent on", "id", id, "desk", p.Name, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the decision could not be recorded; nothing was sent on: decide it again"})
			return
		}
		pending = &next
	}
	d := pending.Decision

	// Sent on to all the decision names but where the item had gone before
	// the review (a destination that has it already from a half-done try
	// drops the repeat by ID), and but the inspectors' destinations that
	// triage's lead alone names and that refused it then (see held).
	except, held := a.held(rec, d, raised)
	rt, err := a.r.RouteExcept(ctx, pending.Item, d, except)
	dests := rt.Destinations
	if err != nil {
		a.r.log.Warn("review decision recorded but not sent on; deciding it the same way again finishes it", "id", id, "desk", p.Name, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the decision is recorded but the item could not be sent on: decide it the same way again to finish"})
		return
	}
	next := *pending
	// The item is kept in the case index, and its case holds, if it now
	// has all the decision names; not if it was dead-lettered instead.
	named, _ := a.r.DestinationsFor(d)
	want := slices.DeleteFunc(slices.Clone(named), func(x string) bool { return slices.Contains(rec.Destinations, x) })
	arrived := minsheng.SameDestinations(dests, want)
	if !arrived && d.Case != nil {
		next = *withoutCase(&next)
		d = next.Decision
	}
	done := *pending.Review
	done.Pending = false
	next.Review = &done
	for _, x := range dests {
		if !slices.Contains(next.Destinations, x) {
			next.Destinations = append(next.Destinations, x)
		}
	}
	next.Undelivered = append(held, rt.Undelivered...)
	next.Trail = append(slices.Clip(next.Trail), minsheng.Event{Step: minsheng.StepRouted, At: a.now().UTC(), Destinations: dests})
	// An incomplete record stays so (its source not yet acked): the
	// pipeline finishes it, with this decision, at its finisher's next
	// pass or when the source offers the item again, sending it to the inspectors' destinations held
	// above, or nowhere when this decision reached all it names.
	// Recorded under a deadline of its own: a Kafka route may end after
	// ctx did (it waits kafka.answer_grace for records already sent), and
	// what took the item must be recorded, or deciding it again sends it
	// there again.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer ccancel()
	if err := a.ledger.Commit(cctx, &next); err != nil {
		a.r.log.Error("review decision sent on but not recorded as done; deciding it the same way again finishes it (destinations drop the repeat by ID)", "id", id, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the item was sent on but that could not be recorded: decide it the same way again to finish"})
		return
	}
	switch {
	case !arrived:
	case rec.Review == nil:
		reached = planned // kept: its trail is recorded, as the pipeline keeps an item
	case a.linker != nil && d.Class != minsheng.ClassInvalid:
		// Finishing a decision an earlier request linked and wrote down:
		// that request let go of the item when it failed, so it is kept
		// now, under the case written down.
		a.linker.Keep(next.Item, d, named)
	}
	machine := next.Review.Triage
	a.decided.WithLabelValues(string(machine.Class), string(d.Class)).Inc()
	a.r.log.Info("review decided", "id", id, "trace_id", next.Item.TraceID, "desk", p.Name, "class", d.Class, "from", machine.Class, "destinations", strings.Join(dests, ","))
	a.answer(w, req, http.StatusOK, &next, p, dests, false, a.ack(cctx, review, p, id), raised)
}

// held returns where a review decision d (raised: the lead the desk
// raised) is not to send the item rec holds: where it had gone before the
// review, and the inspectors' destinations that refused it then, when the
// item is in the discipline dead letter and the desk's own decision does
// not name them (only triage's lead, which the desk is not told of, does).
// Those stay undelivered (held) for the inspectors to re-deliver from
// their dead letter, which holds the item whole. Sent there again, whether
// they took it now would decide this desk's answer: 503 while their topic
// fails for a while, where the same item without a lead answers 200.
func (a *ReviewAPI) held(rec *minsheng.Record, d *minsheng.Decision, raised bool) (except []string, held []minsheng.Undelivered) {
	except = slices.Clone(rec.Destinations)
	// Where the desk's own decision sends the item: d with the lead it
	// raised, not triage's.
	own := *d
	own.Flags.DisciplineLead = raised
	named, _ := a.r.DestinationsFor(&own)
	if rec.Incomplete {
		// The inspectors' destinations an incomplete route has yet to
		// reach are the pipeline's to finish (its finisher, or the
		// source's next offer), unless the desk's own decision names
		// them: sent now, whether they took it would decide this desk's
		// answer.
		for _, x := range a.r.missing(rec) {
			if a.r.toldOfLead(x) && !slices.Contains(named, x) {
				except = append(except, x)
			}
		}
	}
	if ddl := a.r.cfg.Routes.DisciplineDeadLetter; ddl == "" || !slices.Contains(rec.Destinations, ddl) {
		return except, nil
	}
	for _, u := range rec.Undelivered {
		if a.r.toldOfLead(u.Destination) && !slices.Contains(named, u.Destination) {
			except = append(except, u.Destination)
			held = append(held, u)
		}
	}
	return except, held
}

// ack acks the review message of item id when the desk holds it, and says
// what became of it.
func (a *ReviewAPI) ack(ctx context.Context, review string, p *minsheng.Principal, id string) string {
	if a.r.cfg.Destinations[review].Sink != SinkQueue {
		return "not acked: " + review + " is a Kafka topic (commit its offset as usual)"
	}
	n, refused, err := a.r.queues.Ack(ctx, review, p.Name, []string{id})
	switch {
	case err != nil:
		return "not acked: " + err.Error()
	case n > 0:
		return "acked"
	case len(refused) > 0:
		return "not acked: " + refused[0].Reason
	}
	return "not acked"
}

// reviewedTo returns where the review decision of rec sent the item: the
// routed step after the reviewed one.
func reviewedTo(rec *minsheng.Record) []string {
	for i, e := range rec.Trail {
		if e.Step == minsheng.StepReviewed {
			if i+1 < len(rec.Trail) && rec.Trail[i+1].Step == minsheng.StepRouted {
				return rec.Trail[i+1].Destinations
			}
			break
		}
	}
	return nil
}

// reviewable reports whether rec is an item triage sent to review, with the
// item and decision a review decides on.
func reviewable(rec *minsheng.Record, review string) bool {
	return slices.Contains(rec.Destinations, review) && rec.Item != nil && rec.Decision != nil
}

// maySee reports whether desk p, which reads the review destination, may
// be told that rec exists: an item in review, or one it may view.
func (a *ReviewAPI) maySee(rec *minsheng.Record, p *minsheng.Principal, review string) bool {
	if reviewable(rec, review) {
		return true
	}
	_, ok := a.r.View(rec, p)
	return ok
}

// reviewShape is what a review decision's body must be.
const reviewShape = `{"class": "<class>", "discipline_lead": true|false, "department": "<sector>"}`

// readRequest decodes and checks a review decision's body, or answers 415
// or 400 naming every bad field, and returns false.
func (a *ReviewAPI) readRequest(w http.ResponseWriter, req *http.Request) (reviewRequest, bool) {
	var body reviewRequest
	fields := map[string]any{"class": &body.Class, "discipline_lead": &body.DisciplineLead, "department": &body.Department}
	errs, ok := readObject(w, req, 64<<10, fields, reviewShape)
	if !ok {
		return body, false
	}
	bad := func(f string) bool {
		return slices.ContainsFunc(errs, func(e minsheng.FieldError) bool { return e.Path == f })
	}
	switch {
	case bad("class"):
	case body.Class == "":
		errs = append(errs, minsheng.FieldError{Path: "class", Msg: "is required: one of " + strings.Join(minsheng.ClassNames(), ", ")})
	case !body.Class.Valid():
		errs = append(errs, minsheng.FieldError{Path: "class", Msg: fmt.Sprintf("%q is not one of %s", body.Class, strings.Join(minsheng.ClassNames(), ", "))})
	}
	if body.Class == minsheng.ClassInvalid && body.DisciplineLead != nil && *body.DisciplineLead {
		// An invalid item goes to rejected only: the lead would be lost.
		errs = append(errs, minsheng.FieldError{Path: "discipline_lead", Msg: "a lead cannot be raised on an item decided invalid, which goes to rejected only, where the lead would be lost; choose the class of the case the lead is in"})
	}
	if !bad("department") && body.Department != "" && !slices.Contains(a.departments, body.Department) {
		errs = append(errs, minsheng.FieldError{Path: "department", Msg: fmt.Sprintf("%q is not one of %s", body.Department, strings.Join(a.departments, ", "))})
	}
	if badFields(w, reviewShape, errs) {
		return body, false
	}
	return body, true
}

// answer writes the record as the desk may see it: the decision without a
// lead the review desk is not told of, and where the decision sent the
// item (dests) as the desk may be told of it.
func (a *ReviewAPI) answer(w http.ResponseWriter, req *http.Request, status int, rec *minsheng.Record, p *minsheng.Principal, dests []string, repeat bool, msg string, raised bool) {
	v, ok := a.r.View(rec, p)
	if !ok { // the desk reads the review destination, which the item went to
		v = &minsheng.Record{Decision: withoutLead(rec.Decision)}
	}
	shown := []string{}
	if a.r.readsLeads(p) {
		shown = append(shown, dests...)
	} else {
		// Not told of leads: the inspectors' destinations are shown as
		// the desk's own decision names them (the discipline class, a lead
		// it raised), whether or not triage's lead had sent the item there
		// before, so that neither their presence nor their absence tells
		// of that lead; and so for an item without a lead too, whose
		// answer is the one an item with a lead would get (its discipline
		// class refused by their topic is shown as theirs, not as their
		// dead letter, which a lead's item already there would not show).
		// The others are where the item went now.
		known := *v.Decision
		known.Review = false
		known.Flags.DisciplineLead = raised
		named, _ := a.r.DestinationsFor(&known)
		for _, d := range named {
			if a.r.toldOfLead(d) || slices.Contains(dests, d) {
				shown = append(shown, d)
			}
		}
		// Dead-lettered, the item went to the dead letter (and, for its
		// lead, to the inspectors' one): shown as it would be without.
		if dl := a.r.cfg.Routes.DeadLetter; slices.Contains(dests, dl) && !slices.Contains(shown, dl) {
			shown = append(shown, dl)
		}
		// A lead the desk raised itself it knows of: the decision and
		// review shown say so, as the destinations do.
		if raised {
			d := *v.Decision
			d.Flags.DisciplineLead = true
			v.Decision = &d
			if v.Review != nil {
				r := *v.Review
				r.RaisedLead = true
				v.Review = &r
			}
		}
	}
	ans := reviewAnswer{ID: rec.ID, Class: rec.Decision.Class, Destinations: shown, Repeat: repeat,
		Review: v.Review, Message: msg, Decision: v.Decision}
	// No item in the answer: a lead where its decision or review shows one
	// (a desk told of leads, or the lead or discipline class it chose).
	var l accessLine
	l.record(&minsheng.Record{ID: rec.ID, Decision: ans.Decision, Review: ans.Review})
	a.r.logAccess(req, AccessReview, "", &l)
	writeJSON(w, status, ans)
}
