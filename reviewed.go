package minsheng

import "time"

// ReviewedItem is an item a person decided at review, as one labelled
// line that `minsheng eval --file` scores a model on and `minsheng train
// --extra-labels` trains one on: the person's class; the department only
// when they named one; discipline_lead only when they raised one (the
// review desk is not told of triage's leads, so it cannot clear one: a
// missing lead is no label). Triage's class and confidence follow, for
// reading where the model and the people part. The complainant is never
// in it.
type ReviewedItem struct {
	ID               string    `json:"id"`
	Title            string    `json:"title"`
	Body             string    `json:"body"`
	Class            Class     `json:"class"`
	DisciplineLead   *bool     `json:"discipline_lead,omitempty"`
	Department       string    `json:"department,omitempty"`
	TriageClass      Class     `json:"triage_class,omitempty"`
	TriageConfidence float64   `json:"triage_confidence,omitempty"`
	ModelVersion     string    `json:"model_version,omitempty"`
	Desk             string    `json:"desk"`
	ReviewedAt       time.Time `json:"reviewed_at"`
}

// ReviewedItemOf returns r as a ReviewedItem, and false when no person
// decided it. r is taken as it is: pass the view a desk may see (its
// Review without triage's decision, or without the lead it raised) and
// the line says no more than that view.
func ReviewedItemOf(r *Record) (ReviewedItem, bool) {
	if r == nil || r.Review == nil || r.Item == nil || r.Decision == nil {
		return ReviewedItem{}, false
	}
	l := ReviewedItem{ID: r.ID, Title: r.Item.Title, Body: r.Item.Body, Class: r.Decision.Class,
		Department: r.Review.Department, Desk: r.Review.Desk, ReviewedAt: r.Review.At}
	if r.Review.RaisedLead {
		yes := true
		l.DisciplineLead = &yes
	}
	if t := r.Review.Triage; t != nil {
		l.TriageClass, l.TriageConfidence, l.ModelVersion = t.Class, t.Confidence, t.ModelVersion
	}
	return l, true
}
