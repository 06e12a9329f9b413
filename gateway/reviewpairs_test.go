package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/triage"
)

// TestReviewClassPairsLookAlike posts pairs of anonymous items identical
// but for a word that makes triage's class discipline in one and petition
// in the other, both below their class's threshold, so both go to review
// (the discipline one also to the inspectors). Every desk not told of
// leads must read the same of both once IDs, times, the word and the
// model's figures are masked: the review queue's message, the item's view
// before and after a person decides it, the review answer and the review
// export. Triage's class is withheld from such desks on every item in
// review, not only on the discipline ones (a blank there alone would name
// them). The inspectors still see triage's class.
func TestReviewClassPairsLookAlike(t *testing.T) {
	t.Run("anonymous", func(t *testing.T) { reviewPairs(t, true) })
	t.Run("named", func(t *testing.T) { reviewPairs(t, false) })
}

// reviewPairs is TestReviewClassPairsLookAlike with complainants anonymous
// or named. Named, a desk that the decided items reach tells them apart
// after review by the identity withheld on the lead's (the documented
// price of whistle-blower protection: README), so after review only the
// reviewers' view is compared; before it, what every desk not told of
// leads reads must be alike: the review destination gets no identity.
func reviewPairs(t *testing.T, anonymous bool) {
	logs := &logBuffer{}
	const discWord, petWord = "子丑寅卯", "辰巳午未"
	r := probeGateway(t, logs, func(c *Config) {
		// Not forced: the class head chooses, with the rule's weight, at
		// a confidence of its own (0.86 petition, 0.71 discipline), below
		// the threshold of either class.
		c.Triage.Rules = append(c.Triage.Rules,
			triage.Rule{Name: "k" + discWord, Any: []string{discWord}, Class: minsheng.ClassDiscipline, Weight: 5},
			triage.Rule{Name: "k" + petWord, Any: []string{petWord}, Class: minsheng.ClassPetition, Weight: 1})
		c.Triage.Thresholds = map[minsheng.Class]float64{minsheng.ClassDiscipline: 0.99, minsheng.ClassPetition: 0.99}
	})
	type item struct {
		acc       desk.Accepted
		ref, word string
	}
	text := "我家在东城区幸福路十八号院，去年拆迁时签的补偿协议至今没有兑现，%s，先后去了街道和区里六次，每次都说再等等，" +
		"一家五口租房住了一年多，房租全靠借钱，希望有关部门尽快按协议把补偿款发下来，给我们一个明确的答复和时间表。"
	post := func(ref, word string) item {
		return item{acc: probePost(t, r.url, ref, fmt.Sprintf(text, word), anonymous), ref: ref, word: word}
	}
	pet, disc := post("RC-P", petWord), post("RC-D", discWord)
	for _, c := range []struct {
		it   item
		want minsheng.Class
	}{{pet, minsheng.ClassPetition}, {disc, minsheng.ClassDiscipline}} {
		if d := c.it.acc.Decision; d == nil || d.Class != c.want || !d.Review {
			t.Fatalf("%s: triage gave %+v, want %s in review", c.it.ref, d, c.want)
		}
	}
	// What tells triage's class: the class field, the classified step,
	// the rules that chose it (named with the word, which is masked), and
	// after review triage's decision beside the person's.
	before := []string{`"class":"discipline"`, `"class":"petition"`, "discipline (", "petition (", `"code":"k`}
	after := []string{`"triage":`, "discipline (", "petition (", `"code":"k`, `"triage_class"`}
	compare := func(what string, tells []string, get func(it item) (int, string)) {
		t.Helper()
		ps, pb := get(pet)
		ds, db := get(disc)
		pn, dn := norm(pb, pet.acc, pet.ref, pet.word), norm(db, disc.acc, disc.ref, disc.word)
		if ps != ds || pn != dn {
			t.Errorf("%s differs:\npetition   %d %s\ndiscipline %d %s", what, ps, pn, ds, dn)
		}
		// Withheld on every item, not only on the discipline one.
		for _, s := range tells {
			if strings.Contains(pb, s) || strings.Contains(db, s) {
				t.Errorf("%s tells triage's class (%s)", what, s)
			}
		}
	}
	view := func(name string) func(it item) (int, string) {
		return func(it item) (int, string) {
			a := call(t, "GET", r.url+"/v1/items/"+it.acc.ID, probeToken(name), "", nil)
			return a.status, string(a.body) + fmt.Sprint(a.header["Etag"])
		}
	}
	msgs := map[string]string{}
	probeQueue(t, r.url, "reviewers", "review", msgs)
	compare("review queue message", before, func(it item) (int, string) {
		s, ok := msgs["review/"+it.acc.ID]
		if !ok {
			return 0, ""
		}
		return 200, s
	})
	notTold := []string{"reviewers", "ops2", "media", "petition", "dispatch", "dl"}
	for _, d := range notTold {
		compare("view by "+d, before, view(d))
	}
	// The inspectors see triage's class.
	if _, b := view("cdi")(disc); !strings.Contains(b, `"class":"discipline"`) {
		t.Errorf("the inspectors' view does not name triage's class: %s", b)
	}
	compare("review answer", after, func(it item) (int, string) {
		a := call(t, "POST", r.url+"/v1/reviews/"+it.acc.ID, probeToken("reviewers"), "application/json", []byte(`{"class":"petition"}`))
		return a.status, string(a.body)
	})
	compare("review answer repeat", after, func(it item) (int, string) {
		a := call(t, "POST", r.url+"/v1/reviews/"+it.acc.ID, probeToken("reviewers"), "application/json", []byte(`{"class":"petition"}`))
		return a.status, string(a.body)
	})
	afterDesks := notTold
	if !anonymous {
		afterDesks = []string{"reviewers"}
	}
	for _, d := range afterDesks {
		compare("view after review by "+d, after, view(d))
	}
	if _, b := view("cdi")(disc); !strings.Contains(b, `"triage":{"class":"discipline"`) {
		t.Errorf("the inspectors' view after review does not name triage's class: %s", b)
	}
	lines := map[string]string{}
	ex := call(t, "GET", r.url+"/v1/reviews", probeToken("reviewers"), "", nil)
	sc := bufio.NewScanner(bytes.NewReader(ex.body))
	for sc.Scan() {
		var l minsheng.ReviewedItem
		json.Unmarshal(sc.Bytes(), &l)
		lines[l.ID] = sc.Text()
	}
	compare("review export line", after, func(it item) (int, string) { return ex.status, lines[it.acc.ID] })
	if t.Failed() {
		return
	}
	if _, ok := msgs["review/"+pet.acc.ID]; !ok || len(lines) != 2 {
		t.Fatalf("queue messages %d, export lines %d", len(msgs), len(lines))
	}
}
