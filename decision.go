package minsheng

import (
	"fmt"
	"slices"
	"time"
)

// Class is the primary category an item is put in at initial screening (初筛).
type Class string

// The classes, per ../shared/TRIAGE-LABELS.md.
const (
	ClassMediaOversight Class = "media_oversight" // 舆论监督: media desks follow it up in public
	ClassPetition       Class = "petition"        // 信访事项: petition bureau
	ClassGovService     Class = "gov_service"     // 政务服务: 12345 dispatch to a department
	ClassDiscipline     Class = "discipline"      // 纪检监察: discipline inspection commission
	ClassInvalid        Class = "invalid"         // 无效: spam, empty, test, auto-reply; rejected with a reason
)

// Classes lists the classes; the four valid ones first.
var Classes = []Class{ClassMediaOversight, ClassPetition, ClassGovService, ClassDiscipline, ClassInvalid}

// ClassNames are the names of Classes, in their order.
func ClassNames() []string {
	out := make([]string, len(Classes))
	for i, c := range Classes {
		out[i] = string(c)
	}
	return out
}

// Valid reports whether c is a known class.
func (c Class) Valid() bool {
	for _, k := range Classes {
		if c == k {
			return true
		}
	}
	return false
}

// Flags are yes/no marks carried next to the class.
type Flags struct {
	// DisciplineLead: the text accuses an identifiable official, cadre or
	// public body's staff of misconduct. Items with a lead are also sent to
	// the discipline destination (fan-out, 一信多转).
	DisciplineLead bool `json:"discipline_lead"`
	// WeakLead: the lead was raised by the lead model alone, below the
	// bureau's triage.identity_lead_threshold (no lead rule, not the
	// discipline class). The inspectors get it as any lead, but the item's
	// other destinations keep the complainant's identity, so that a
	// service request can be called back. Never set unless a bureau sets
	// that threshold; told, like the lead, only to the inspectors.
	WeakLead bool `json:"weak_lead,omitempty"`
	// Urgent: a threat to life, health or safety that needs action now.
	Urgent bool `json:"urgent"`
	// DepartmentUncertain: triage's sector (Decision.Department) is below
	// the bureau's triage.department_threshold. A gov_service item then
	// goes to 12345 dispatch only, which assigns it, and not also to the
	// sector's department queue, where a wrong guess would cost that
	// department a letter it must send back. A reviewer who names the
	// department clears it.
	DepartmentUncertain bool `json:"department_uncertain,omitempty"`
}

// Decision is triage's verdict on one item, with its explanation.
type Decision struct {
	// Class is empty (and left out of the JSON) only where it is withheld:
	// triage's class of an item in review, to a destination or desk not
	// told of discipline leads (README, "Who sees complainants'
	// identities").
	Class Class `json:"class,omitempty"`
	// Confidence in Class, in [0,1], calibrated where the model allows;
	// 0 (and left out) where Class is withheld.
	Confidence float64 `json:"confidence,omitempty"`
	Flags      Flags   `json:"flags"`
	// Department is the responsible sector the item concerns (e.g. 城乡建设);
	// routing uses it for gov_service items.
	Department string `json:"department,omitempty"`
	// Review: the decision is below its class's confidence threshold (or a
	// rule asked for it) and a person should check it. Reviewed items go to
	// the review destination instead of the class destination.
	Review bool `json:"review"`
	// Reasons explain the decision: rules that fired, features that weighed
	// most, thresholds applied. The first reason of an invalid item says why
	// it was rejected.
	Reasons []Reason `json:"reasons"`
	// ModelVersion names the triage model (or rule set) that decided.
	ModelVersion string `json:"model_version"`
	// Case links the item to earlier items of the same class, routed to
	// the same destinations, that carry the same demand (one letter sent
	// through two channels, residents of one block writing about one
	// problem), so that one body answers them. Nil when the item starts no
	// known case, and for items sent to review until a person decides
	// them (then it links among the items routed where the person's
	// decision sends it). It names items only by ID,
	// and only items its destinations were also sent: none learns another
	// item's text or complainant from it.
	Case *CaseLink `json:"case,omitempty"`
}

// WithoutCase returns a copy of d without its case link (d itself when it
// has none): a desk that submitted an item but reads none of the
// destinations it went to is not told of the other items of its case.
func (d *Decision) WithoutCase() *Decision {
	if d == nil || d.Case == nil {
		return d
	}
	c := *d
	c.Case = nil
	c.Reasons = make([]Reason, 0, len(d.Reasons))
	for _, r := range d.Reasons {
		if r.Kind != ReasonCase {
			c.Reasons = append(c.Reasons, r)
		}
	}
	return &c
}

// SameDestinations reports whether a and b name the same destinations, in
// any order.
func SameDestinations(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// ReasonCase is the Kind of the reason that explains a case link.
const ReasonCase = "case"

// CaseLink names the case an item joins.
type CaseLink struct {
	// ID names the case: the ID of its first item the gateway holds.
	ID string `json:"id"`
	// Nearest is the earlier item most like this one, and Similarity the
	// estimated share of the two texts' three-character runs that they
	// have in common (Jaccard, in [0,1]).
	Nearest    string  `json:"nearest"`
	Similarity float64 `json:"similarity"`
	// Items counts the case's items in the gateway's window, this one
	// included; Since is when the case's first item was received (it may
	// have left the window since).
	Items int       `json:"items"`
	Since time.Time `json:"since"`
}

// Reason explains the link to the destinations: the nearest item, how
// alike, and the case's size and age.
func (c *CaseLink) Reason() Reason {
	return Reason{Kind: ReasonCase, Code: "same_case", Detail: fmt.Sprintf(
		"like item %s (%.2f of three-character runs shared); case %s, %d items since %s",
		c.Nearest, c.Similarity, c.ID, c.Items, c.Since.UTC().Format(time.RFC3339))}
}

// TrailCase is what a trail's classified step (or reviewed step, for an
// item a person decided) ends with when the item joined case id.
func TrailCase(id string) string { return ", case " + id }

// Reason is one element of a decision's explanation.
type Reason struct {
	// Kind: "screen" (why an item is invalid), "rule" (a configured keyword
	// rule fired), "feature" (a model feature that weighed for the class),
	// "threshold" (why the item goes to review), "schema" (validation),
	// "case" (the item joins the case of an earlier, like item).
	Kind string `json:"kind"`
	// Code is a short stable identifier: the rule name, the feature, the
	// screen reason ("spam", "empty", "auto_reply").
	Code string `json:"code"`
	// Detail is a human-readable explanation.
	Detail string `json:"detail,omitempty"`
	// Weight is the feature's contribution, where it has one.
	Weight float64 `json:"weight,omitempty"`
	// Lead: the reason raised the discipline lead (a lead rule, the lead
	// head). Destinations that are not told of the lead (all but the
	// discipline inspectors) receive the decision without such reasons.
	Lead bool `json:"lead,omitempty"`
}
