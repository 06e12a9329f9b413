package router

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	minsheng "github.com/minsheng/minsheng"
)

var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// inReview is triage's decision on an item it is unsure of: class cls
// below its threshold, with the reasons triage gives such an item (each
// names the class or depends on it).
func inReview(cls minsheng.Class) *minsheng.Decision {
	d := &minsheng.Decision{Class: cls, Confidence: 0.41, Department: "城乡建设", Review: true, ModelVersion: "m1",
		Flags: minsheng.Flags{Urgent: true},
		Reasons: []minsheng.Reason{{Kind: "feature", Code: string(cls), Detail: "拆迁 补偿", Weight: 0.41},
			{Kind: "rule", Code: "ask_" + string(cls), Detail: "请人工看看"},
			{Kind: "threshold", Code: "low_confidence", Detail: "confidence 0.41 below the " + string(cls) + " threshold 0.60"}}}
	if cls == minsheng.ClassDiscipline {
		d.Flags.DisciplineLead = true
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "feature", Code: "discipline_lead", Detail: "raised with the discipline class", Lead: true})
	}
	return d
}

// TestReviewClassWithheld: triage's class of an item in review, and all
// that names it, reach no destination or desk not told of discipline
// leads: not the review queue's envelope (nor its Kafka headers), not a
// dead letter's, not the item's view before or after a person decides it;
// and alike for every class, so that a blank does not name the discipline
// cases. The inspectors' destinations and desks get all of it.
func TestReviewClassWithheld(t *testing.T) {
	s := openStore(t)
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	reviewers := &minsheng.Principal{Name: "reviewers", Reads: []string{"review"}}
	cdi := &minsheng.Principal{Name: "cdi", Reads: []string{"discipline"}}
	tells := []string{`"class"`, `"confidence"`, "discipline", "petition", `"reasons":[{`, "0.41"}
	shown := map[minsheng.Class][3]string{} // review envelope, view in review, view after review
	for _, cls := range []minsheng.Class{minsheng.ClassPetition, minsheng.ClassDiscipline, minsheng.ClassGovService} {
		t.Run(string(cls), func(t *testing.T) {
			d := inReview(cls)
			orig, _ := json.Marshal(d)
			it := testItem("rc-" + string(cls))
			it.Complainant = minsheng.Complainant{Anonymous: true}
			want := []string{"review"}
			if cls == minsheng.ClassDiscipline {
				want = append(want, "discipline")
			}
			var envs [3]string
			for _, e := range routeAndRead(t, r, s, it, d, want) {
				if e.dest == "discipline" {
					if e.env.Decision.Class != cls || len(e.env.Decision.Reasons) != 4 {
						t.Errorf("the inspectors lost triage's decision: %+v", e.env.Decision)
					}
					continue
				}
				got := e.env.Decision
				if got.Class != "" || got.Confidence != 0 || len(got.Reasons) != 0 || !got.Review ||
					got.Department != "城乡建设" || !got.Flags.Urgent || got.ModelVersion != "m1" {
					t.Errorf("review gets %+v", got)
				}
				raw := strings.ReplaceAll(e.raw, it.ID, "<id>")
				raw = strings.ReplaceAll(raw, it.TraceID, "<trace>")
				raw = strings.ReplaceAll(raw, it.Ref, "<ref>")
				raw = rfc3339.ReplaceAllString(raw, "<t>")
				for _, x := range tells {
					if strings.Contains(strings.Replace(raw, `"discipline_lead":false`, "", 1), x) {
						t.Errorf("the review envelope holds %s: %s", x, raw)
					}
				}
				envs[0] = raw
				m, err := kafkaMessage("minsheng.review", e.env)
				if err != nil {
					t.Fatal(err)
				}
				if slices.ContainsFunc(m.Headers, func(h kafka.Header) bool { return h.Key == "minsheng-class" }) {
					t.Errorf("the review topic's record names the class: %v", m.Headers)
				}
			}
			if b, _ := json.Marshal(d); string(b) != string(orig) {
				t.Fatalf("Route changed the decision: %s", b)
			}

			rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: want,
				Trail: []minsheng.Event{{Step: minsheng.StepClassified, Detail: string(cls) + " (confidence 0.41, model m1), to review"},
					{Step: minsheng.StepRouted, Destinations: want}, {Step: minsheng.StepAcked}}}
			v, ok := r.View(rec, reviewers)
			if !ok {
				t.Fatal("the review desk does not see the item")
			}
			raw, _ := json.Marshal(v)
			view := strings.ReplaceAll(strings.ReplaceAll(string(raw), it.ID, "<id>"), it.TraceID, "<trace>")
			view = strings.ReplaceAll(view, it.Ref, "<ref>")
			for _, x := range tells {
				if strings.Contains(strings.Replace(view, `"discipline_lead":false`, "", 1), x) {
					t.Errorf("the review desk's view holds %s: %s", x, view)
				}
			}
			if v.Trail[0].Detail != "withheld: to review" {
				t.Errorf("classified step: %q", v.Trail[0].Detail)
			}
			envs[1] = view
			if v, _ := r.View(rec, cdi); cls == minsheng.ClassDiscipline && (v.Decision.Class != cls || v.Trail[0].Detail != rec.Trail[0].Detail) {
				t.Errorf("the inspectors' view: %+v", v)
			}

			// A person decides it petition.
			person := &minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 1, Department: d.Department, ModelVersion: "m1",
				Flags: minsheng.Flags{DisciplineLead: d.Flags.DisciplineLead}, Reasons: []minsheng.Reason{{Kind: "review", Code: "reviewed"}}}
			after := *rec
			after.Decision = person
			after.Destinations = append(slices.Clone(want), "petition")
			after.Review = &minsheng.Review{Desk: "reviewers", Triage: d}
			after.Trail = append(slices.Clone(rec.Trail), minsheng.Event{Step: minsheng.StepReviewed, Detail: "by desk reviewers: petition"},
				minsheng.Event{Step: minsheng.StepRouted, Destinations: []string{"petition"}})
			for _, p := range []*minsheng.Principal{reviewers, {Name: "bureau", Reads: []string{"petition"}}} {
				v, ok := r.View(&after, p)
				if !ok {
					t.Fatalf("%s does not see the item", p.Name)
				}
				if v.Review == nil || v.Review.Triage != nil || v.Trail[0].Detail != "withheld: decided at review" {
					t.Errorf("%s is told triage's decision after review: %+v %q", p.Name, v.Review, v.Trail[0].Detail)
				}
				if p == reviewers {
					raw, _ := json.Marshal(v)
					envs[2] = strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(string(raw), it.ID, "<id>"), it.TraceID, "<trace>"), it.Ref, "<ref>")
				}
			}
			if v, _ := r.View(&after, cdi); cls == minsheng.ClassDiscipline && (v.Review.Triage == nil || v.Review.Triage.Class != cls) {
				t.Errorf("the inspectors are not told triage's class after review: %+v", v.Review)
			}

			// Dead-lettered (the review topic refused it): the dead letter
			// is not told the class either.
			if cls != minsheng.ClassDiscipline {
				if _, err := r.deadLetter(context.Background(), it, nil, d, "refused", nil, nil); err != nil {
					t.Fatal(err)
				}
				dl := drain(t, s, "dead_letter")
				if len(dl) != 1 || dl[0].Decision.Class != "" || len(dl[0].Decision.Reasons) != 0 {
					t.Errorf("dead letter: %+v", dl)
				}
				s.Ack(context.Background(), "dead_letter", "test-desk", []string{it.ID})
			}
			shown[cls] = envs
		})
	}
	for i, what := range []string{"review envelope", "view in review", "view after review"} {
		p, d, g := shown[minsheng.ClassPetition][i], shown[minsheng.ClassDiscipline][i], shown[minsheng.ClassGovService][i]
		if p != d || p != g {
			t.Errorf("%s differs by class:\npetition    %s\ndiscipline  %s\ngov_service %s", what, p, d, g)
		}
	}
}
