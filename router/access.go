package router

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
)

// The access trail: every answer that hands a desk a complainant's
// identity (an item not withheld: Item.Identifying) or an item with a
// discipline lead or class it can see is logged, one line per request at
// info level with the message "access", naming the desk, what it did, the
// destination read and the items, and which of the two it was given. An
// answer that hands neither is not logged: at thousands of items a
// second those lines would bury the ones an inquiry looks for, and they
// would answer no question the ledger cannot (which destinations an item
// went to). Never the identity, the text or the token.
const accessMessage = "access"

// maxAccessIDs bounds the item IDs one access line lists: the most a
// lease hands out (max=1000), so that every lease, view, case and review
// answer lists every item it handed. Only a review export can hand more;
// its line keeps the count and the first maxAccessIDs IDs, and says how
// many it left out (ids_omitted) and its since: with the line's time that
// names the decisions exported, which the ledger holds.
const maxAccessIDs = 1000

// What a desk did to be handed an item, as the access line names it.
const (
	AccessLease      = "lease"             // GET /v1/queues/{dest}
	AccessView       = "view"              // GET /v1/items/{id}
	AccessSubmit     = "submit"            // the answer to POST /v1/items (a lead the submitter is told of)
	AccessCase       = "case"              // GET /v1/cases/{id}
	AccessReview     = "review"            // the answer to POST /v1/reviews/{id}
	AccessExport     = "export"            // GET /v1/reviews
	AccessRedeliver  = "redeliver"         // POST /v1/items/{id}/redeliver
	AccessRedeliverQ = "redeliver_preview" // GET /v1/items/{id}/redeliver
)

// handed is what one answer gave a desk of one item.
type handed struct {
	id             string
	identity, lead bool
}

// accessLine gathers what one answer hands a desk of items carrying an
// identity or a lead.
type accessLine struct {
	items          []handed // the first maxAccessIDs
	n              int      // all of them
	identity, lead int      // how many were given each
}

// add notes that the answer hands item id, with or without the identity
// and a lead; one with neither is not noted.
func (l *accessLine) add(id string, identity, lead bool) {
	if !identity && !lead {
		return
	}
	l.n++
	if identity {
		l.identity++
	}
	if lead {
		l.lead++
	}
	if len(l.items) < maxAccessIDs {
		l.items = append(l.items, handed{id, identity, lead})
	}
}

// record notes a record as the desk is shown it (View's answer).
func (l *accessLine) record(v *minsheng.Record) {
	if v == nil {
		return
	}
	lead := hasLead(v.Decision) || v.Review != nil && (v.Review.RaisedLead || hasLead(v.Review.Triage))
	l.add(v.ID, v.Item != nil && v.Item.Identifying() || rawHanded(v.Quarantine), lead)
}

// rawHanded reports whether an input that could not be parsed is handed
// with its raw bytes or the reference to them (a mail's From header may
// be in them), which is never withheld: it counts as an identity, on a
// queue message and on the ledger record alike.
func rawHanded(q *minsheng.Quarantined) bool {
	return q != nil && (len(q.Raw) > 0 || q.RawRef != "")
}

// envelope notes a queue message's envelope. An input that could not be
// parsed travels raw (or as raw_ref) in its dead letter, never withheld:
// it counts as an identity handed, as a mail's From header may be one.
func (l *accessLine) envelope(e *minsheng.Envelope) {
	if e == nil {
		return
	}
	l.add(e.ItemID, e.Item != nil && e.Item.Identifying() || rawHanded(e.Quarantine), hasLead(e.Decision))
}

// newAccessCounter is minsheng_sensitive_reads_total. By desk and kind
// only, never by item or destination: /metrics is read only by desks told
// of leads (or on metrics_listen), and a count per desk tells no more
// than minsheng_routed_total's per destination does.
func newAccessCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_sensitive_reads_total",
		Help: "Items handed to desks with the complainant's identity (kind=identity) or a discipline lead they see (kind=lead), by desk."},
		[]string{"desk", "kind"})
}

// logAccess writes the access line of the answer to req (its desk, its
// remote address), when it handed any item with an identity or a lead,
// and counts them. dest is the destination read, "" for none; extra are
// more key-value pairs.
func (r *Router) logAccess(req *http.Request, what, dest string, l *accessLine, extra ...any) {
	if l.n == 0 {
		return
	}
	desk := ""
	if p := minsheng.PrincipalFrom(req.Context()); p != nil {
		desk = p.Name
	}
	if l.identity > 0 {
		r.sensitive.WithLabelValues(desk, "identity").Add(float64(l.identity))
	}
	if l.lead > 0 {
		r.sensitive.WithLabelValues(desk, "lead").Add(float64(l.lead))
	}
	ids := make([]string, len(l.items))
	var noIdentity, noLead []string
	for i, h := range l.items {
		ids[i] = h.id
		if l.identity > 0 && !h.identity {
			noIdentity = append(noIdentity, h.id)
		}
		if l.lead > 0 && !h.lead {
			noLead = append(noLead, h.id)
		}
	}
	args := make([]any, 0, 20+len(extra))
	args = append(args, "desk", desk, "remote", req.RemoteAddr, "what", what)
	if dest != "" {
		args = append(args, "destination", dest)
	}
	args = append(args, "items", l.n, "ids", ids, "identity", l.identity > 0, "lead", l.lead > 0)
	// A batch that mixes: which of the IDs listed were not given the
	// identity, or the lead (none listed: all were).
	if len(noIdentity) > 0 {
		args = append(args, "ids_without_identity", noIdentity)
	}
	if len(noLead) > 0 {
		args = append(args, "ids_without_lead", noLead)
	}
	if l.n > len(l.items) {
		args = append(args, "ids_omitted", l.n-len(l.items))
	}
	r.log.Info(accessMessage, append(args, extra...)...)
}

// Accessed logs the access line of the answer to req that showed its desk
// these records (as View shows them, or a submitter's answer: a record
// with the decision alone), for an answer the router does not write
// itself (the desk API's). what is one of the Access… names.
func (r *Router) Accessed(req *http.Request, what string, views ...*minsheng.Record) {
	var l accessLine
	for _, v := range views {
		l.record(v)
	}
	r.logAccess(req, what, "", &l)
}
