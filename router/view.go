package router

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// View returns a handled item's record as a desk may see it, or false when
// the desk may not see it at all.
//
//   - The desk that submitted the item sees all of it: an item posted
//     through the desk API (Via) with the desk's channel and name. A source
//     name alone proves nothing: an import, a mailbox or a feed may carry
//     any, a desk's among them. No desk submits a quarantined input.
//   - A desk that reads one of the destinations the item went to sees the
//     item as that destination received it (identity withheld where the
//     destination is not entitled to it), and only the destinations it
//     reads: a media desk is not told that a case also went to the
//     discipline inspectors. Unless one of those destinations is the
//     inspectors', the decision and trail do not say that the item has a
//     discipline lead either (see toldOfLead); and for an item triage
//     sent to review, in review or decided, they do not say triage's
//     class (withoutTriageClass), whatever it was.
//   - Anyone else is told nothing (the caller answers 404, not 403, so that
//     the existence of a case is not disclosed either).
func (r *Router) View(rec *minsheng.Record, p *minsheng.Principal) (*minsheng.Record, bool) {
	if p == nil || rec == nil {
		return nil, false
	}
	// A case is told only to a desk that reads one of the destinations
	// its items were all sent (CaseScope): not to a submitter that reads
	// none of them, nor to a review desk that decided an item into it.
	if it := rec.Item; it != nil && it.Via == minsheng.ViaDesk && it.Source == p.Name && it.Channel == p.Channel {
		if p.ReadsAny(r.CaseScope(rec)) {
			return rec, true
		}
		return withoutCase(rec), true
	}
	var readable []string
	entitled, toldOfLead := false, false
	for _, d := range rec.Destinations {
		if p.CanRead(d) {
			readable = append(readable, d)
			if rec.Item != nil && r.Entitled(d, rec.Item, rec.Decision) {
				entitled = true
			}
			toldOfLead = toldOfLead || r.toldOfLead(d)
		}
	}
	if len(readable) == 0 {
		return nil, false
	}
	if rec.Decision != nil && rec.Decision.Case != nil && !p.ReadsAny(r.CaseScope(rec)) {
		rec = withoutCase(rec)
	}
	v := *rec
	v.Destinations = readable
	// Where a dead-lettered item is missing is told to a desk that reads
	// the dead letter it went to, or the missing destination itself; the
	// inspectors' only to a desk told of the lead.
	v.Undelivered = nil
	readsDL := slices.ContainsFunc(readable, func(d string) bool {
		return d == r.cfg.Routes.DeadLetter || d == r.cfg.Routes.DisciplineDeadLetter
	})
	for _, u := range rec.Undelivered {
		if (readsDL || p.CanRead(u.Destination)) && (toldOfLead || !r.toldOfLead(u.Destination)) {
			v.Undelivered = append(v.Undelivered, u)
		}
	}
	if v.Item != nil && !entitled {
		v.Item = v.Item.Redacted()
	}
	hide := !toldOfLead && hasLead(rec.Decision)
	// An incomplete route is told as missing only the destinations this
	// desk may be told of: to a desk not told of the lead (and reading
	// none of the inspectors' destinations that lack the item), an item
	// the inspectors' destinations alone lack is as one it holds
	// (complete, acked when its own share was routed), so that nothing it
	// sees depends on whether the inspectors' destination took the item.
	v.Incomplete = rec.Incomplete && (!hide || r.missesShown(rec, p))
	acked := false
	if hide {
		v.Decision = withoutLead(rec.Decision)
	}
	// An item triage sent to review: a desk not told of leads does not
	// learn triage's class (nor its confidence, the reasons that name it,
	// the classified step), before a person decides it or after, on any
	// such item: a class of discipline is what sent it to the inspectors
	// too, and a class withheld on those items alone would name them.
	classWithheld := ""
	switch {
	case toldOfLead:
	case rec.Review != nil:
		classWithheld = trailWithheldReviewed
		r := *rec.Review
		if hide {
			r.RaisedLead = false
		}
		r.Triage = nil
		v.Review = &r
	case v.Decision != nil && v.Decision.Review:
		classWithheld = trailWithheldInReview
		v.Decision = withoutTriageClass(v.Decision)
	}
	v.Trail = make([]minsheng.Event, 0, len(rec.Trail))
	for _, e := range rec.Trail {
		if hide && e.Step == minsheng.StepClassified {
			e.Detail = strings.Replace(e.Detail, minsheng.TrailDisciplineLead, "", 1)
		}
		if classWithheld != "" && e.Step == minsheng.StepClassified {
			e.Detail = classWithheld
		}
		if hide && e.Step == minsheng.StepAcked {
			acked = true // put back below
			continue
		}
		if len(e.Destinations) > 0 {
			var keep []string
			for _, d := range e.Destinations {
				// A re-delivery is told as undelivered destinations are:
				// to the dead letter's readers too.
				if slices.Contains(readable, d) || e.Step == minsheng.StepRedelivered && readsDL && (toldOfLead || !r.toldOfLead(d)) {
					keep = append(keep, d)
				}
			}
			e.Destinations = keep
			// One that sent the item nowhere this desk may be told of is
			// left out: the desk that did it (the inspectors', re-delivering
			// their own) would tell of the lead.
			if e.Step == minsheng.StepRedelivered && len(keep) == 0 {
				continue
			}
		}
		// Nor is a route to no destination this desk reads (an
		// incomplete item's route finished, a review decision's): whether
		// there is one must not tell of the inspectors'.
		if e.Step == minsheng.StepRouted && len(e.Destinations) == 0 {
			continue
		}
		v.Trail = append(v.Trail, e)
	}
	if acked || hide && rec.Incomplete && !v.Incomplete {
		// Acked, to a desk not told of the lead, when its share was
		// first routed (before any review or re-delivery), not when
		// the inspectors' destination took the item later, nor only
		// once it did.
		i := slices.IndexFunc(v.Trail, func(e minsheng.Event) bool {
			return e.Step == minsheng.StepReviewed || e.Step == minsheng.StepRedelivered
		})
		if i < 0 {
			i = len(v.Trail)
		}
		v.Trail = slices.Insert(v.Trail, i, minsheng.Event{Step: minsheng.StepAcked, At: r.shareRouted(rec.Trail)})
	}
	return &v, true
}

// shareRouted is when an item's share, as a desk not told of its lead
// sees it, was routed: at the last routed step naming a destination other
// than the inspectors' before any review or re-delivery step, where the
// same item without a lead has its acked step. It is read from the
// whole trail, not from the routed steps the desk is shown: a desk that
// reads none of the first route's destinations (the petition bureau, for
// an item triage sent to review and a person decided petition) was shown
// such an item acked at the zero time until 2026-12-03, which an item
// without a lead, whose acked step is its own, never is.
func (r *Router) shareRouted(trail []minsheng.Event) time.Time {
	var at time.Time
	for _, e := range trail {
		if e.Step == minsheng.StepReviewed || e.Step == minsheng.StepRedelivered {
			break
		}
		if e.Step == minsheng.StepRouted && slices.ContainsFunc(e.Destinations, func(d string) bool { return !r.toldOfLead(d) }) {
			at = e.At
		}
	}
	return at
}

// missesShown reports whether an incomplete record lacks a destination
// its decision names that is not the inspectors', or that desk p reads.
func (r *Router) missesShown(rec *minsheng.Record, p *minsheng.Principal) bool {
	return slices.ContainsFunc(r.missing(rec), func(d string) bool { return !r.toldOfLead(d) || p.CanRead(d) })
}

// missing lists the destinations an incomplete record's decision names
// that neither hold the item nor refused it for good: those the pipeline
// sends it to when the source offers it again or its finisher gets to it.
func (r *Router) missing(rec *minsheng.Record) []string {
	if !rec.Incomplete || rec.Decision == nil {
		return nil
	}
	named, _ := r.DestinationsFor(rec.Decision)
	return rec.Lacking(named)
}

// toldOfLead reports whether a destination may learn that an item has a
// discipline lead: only the discipline inspectors' destinations. Any other
// (a media desk, the petition bureau, review, dead letter) gets the
// decision without the lead flag and the reasons that raised it, so it
// cannot tell that the case also went to the inspectors. The class,
// confidence and other reasons stay.
func (r *Router) toldOfLead(dest string) bool { return r.discipline[dest] }

// readsLeads reports whether desk p reads one of the inspectors'
// destinations, and so is told of discipline leads.
func (r *Router) readsLeads(p *minsheng.Principal) bool {
	for d := range r.discipline {
		if p.CanRead(d) {
			return true
		}
	}
	return false
}

// ToldOfLeads reports whether desk p is told of discipline leads: it
// reads one of the inspectors' destinations.
func (r *Router) ToldOfLeads(p *minsheng.Principal) bool { return p != nil && r.readsLeads(p) }

// hasLead reports whether a decision sends the item to the inspectors.
func hasLead(d *minsheng.Decision) bool {
	return d != nil && (d.Flags.DisciplineLead || d.Class == minsheng.ClassDiscipline)
}

// withoutLead returns a copy of d without the discipline lead flag and the
// reasons that raised it (those marked Lead, and the lead head's reason in
// records written before reasons were marked).
func withoutLead(d *minsheng.Decision) *minsheng.Decision {
	c := *d
	c.Flags.DisciplineLead, c.Flags.WeakLead = false, false
	c.Reasons = make([]minsheng.Reason, 0, len(d.Reasons))
	for _, rs := range d.Reasons {
		if !rs.Lead && rs.Code != "discipline_lead" {
			c.Reasons = append(c.Reasons, rs)
		}
	}
	return &c
}

// The classified step's detail, to a desk not told of leads, of an item
// triage sent to review: triage's class is withheld (View).
const (
	trailWithheldInReview = "withheld: to review"
	trailWithheldReviewed = "withheld: decided at review"
)

// withoutTriageClass returns a copy of d, a decision triage sent to
// review, as a destination or desk not told of discipline leads gets it:
// without triage's class and its confidence in it (left empty, so that
// they are left out of the JSON, as the review export leaves out
// triage_class), and without any reason, since every reason triage gives
// an item in review names its class or depends on it (the class's
// features, the department's only for gov_service, the rule that chose
// the class, the threshold it fell below, "kept as <class>"). What a
// person needs to decide stays: the item itself, the department triage
// guessed (for any class) and whether it is sure of it, the urgent flag,
// that it is in review and the model that decided. Applied to every item
// in review, not only to those of class discipline, whose blank would
// name them.
func withoutTriageClass(d *minsheng.Decision) *minsheng.Decision {
	c := *d
	c.Class, c.Confidence = "", 0
	c.Reasons = []minsheng.Reason{}
	return &c
}

// CaseScope returns the destinations rec's case was found among, all of
// which every item of the case was sent: where the item went, or, for an
// item a person decided at review, where that decision sent it (the
// review destination holds no case). For a reviewed item that did not
// reach all of those (its decision pending, dead-lettered, or the routes
// changed since) it is none: such an item joins no case, and no desk is
// told of one through it. Nor is it for an item triage sent to a dead
// letter destination its routes do not name (refused for good): the
// pipeline let go of it then, and a restarted gateway must not hold it.
// Nor for an incomplete record (its route to be finished) that another
// destination than the inspectors' lacks: the pipeline let go of it when
// the route failed, and holds it again once finished. One only the
// inspectors' destinations lack has the scope it will have then, as desks
// not told of the lead see it complete (View): were its case held back
// until the inspectors took it, those desks would see it gain one later,
// which an item without a lead never does.
func (r *Router) CaseScope(rec *minsheng.Record) []string {
	if rec == nil || rec.Decision == nil {
		return nil
	}
	if rec.Review == nil && r.deadLettered(rec) {
		return nil
	}
	if rec.Incomplete {
		if rec.Review != nil {
			return nil
		}
		named, _ := r.DestinationsFor(rec.Decision)
		for _, d := range r.missing(rec) {
			if !r.toldOfLead(d) {
				return nil
			}
		}
		return named
	}
	if rec.Review != nil {
		dests, _ := r.DestinationsFor(rec.Decision)
		for _, d := range dests {
			if !slices.Contains(rec.Destinations, d) {
				return nil
			}
		}
		return dests
	}
	return rec.Destinations
}

// deadLettered reports whether rec went to a dead letter destination its
// decision's routes do not name.
func (r *Router) deadLettered(rec *minsheng.Record) bool {
	named, _ := r.DestinationsFor(rec.Decision)
	for _, dl := range []string{r.cfg.Routes.DeadLetter, r.cfg.Routes.DisciplineDeadLetter} {
		if dl != "" && slices.Contains(rec.Destinations, dl) && !slices.Contains(named, dl) {
			return true
		}
	}
	return false
}

// withoutCase is the record as a desk sees it when it reads none of the
// destinations of the item's case (CaseScope): without the case triage
// linked it to (its ID, its size), which tells of items the desk was not
// sent.
func withoutCase(rec *minsheng.Record) *minsheng.Record {
	if rec.Decision == nil || rec.Decision.Case == nil {
		return rec
	}
	v := *rec
	v.Decision = rec.Decision.WithoutCase()
	v.Trail = slices.Clone(rec.Trail)
	for i := range v.Trail {
		if step := v.Trail[i].Step; step == minsheng.StepClassified || step == minsheng.StepReviewed {
			v.Trail[i].Detail = strings.Replace(v.Trail[i].Detail, minsheng.TrailCase(rec.Decision.Case.ID), "", 1)
		}
	}
	return &v
}

// CaseScopeKey names the rules CaseScope follows (the routes): a case
// index snapshot made under other routes is not used.
func (r *Router) CaseScopeKey() string {
	b, err := json.Marshal(r.cfg.Routes)
	if err != nil {
		return "" // never: the routes are strings
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
