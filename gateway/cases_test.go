package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/triage"
)

const tvPostToken = "desk-token-city-broadcaster-0123456"

const liftLetter = "我们是A市A3区金桂园小区8栋的住户，电梯已经坏了三个月，物业一直推说在等配件，不肯维修。楼里有很多老人，上下二十几层楼非常困难，有位老人买菜回来在楼梯间摔倒。请有关部门督促物业尽快维修电梯。"

func postLetter(t *testing.T, base, token, ref, body string) desk.Accepted {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"ref": ref, "title": "金桂园8栋电梯坏了三个月", "body": body,
		"submitted_at": "2026-11-21T09:30:00+08:00",
		"complainant":  map[string]any{"name": "钱七", "phone": "13500000000", "anonymous": false, "consent_to_publish": false}})
	a := call(t, "POST", base+"/v1/items", token, "application/json", b)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted {
		t.Fatalf("post %s: %d %s", ref, a.status, a.body)
	}
	return acc
}

func viewOf(t *testing.T, base, token, id string) (minsheng.Record, string) {
	t.Helper()
	a := call(t, "GET", base+"/v1/items/"+id, token, "", nil)
	var rec minsheng.Record
	a.decode(t, &rec)
	if a.status != http.StatusOK {
		t.Fatalf("view of %s: %d %s", id, a.status, a.body)
	}
	return rec, string(a.body)
}

// TestCaseAcrossChannelsAndRestart: one letter sent by a newspaper desk
// and again by a broadcaster's desk is one case. The desk that reads the
// item's destinations sees the case; the submitting desks, which read
// none, are not told of the other's item. A restarted gateway rebuilds
// its index from the ledger and links a third copy to the same case.
func TestCaseAcrossChannelsAndRestart(t *testing.T) {
	c := testConfig(t, nil)
	t.Setenv("MS_TEST_TV_POST", tvPostToken)
	c.Desks = append(c.Desks, auth.DeskConfig{Name: "city-tv", Channel: minsheng.ChannelBroadcaster, TokenEnv: "MS_TEST_TV_POST"})
	r := start(t, c)

	first := postLetter(t, r.url, deskToken, "CASE-1", liftLetter)
	if first.Decision.Case != nil {
		t.Fatalf("first letter joined case %+v", first.Decision.Case)
	}
	second := postLetter(t, r.url, tvPostToken, "TV-7", liftLetter+"我们上周已经打过12345。")
	if second.Decision.Class != first.Decision.Class {
		t.Fatalf("classes %s and %s: the test needs one class", first.Decision.Class, second.Decision.Class)
	}
	if second.Decision.Case != nil {
		t.Errorf("the broadcaster's desk, which reads no queue, was told of case %+v", second.Decision.Case)
	}
	rec, raw := viewOf(t, r.url, readerToken, second.ID)
	if rec.Decision.Case == nil || rec.Decision.Case.ID != first.ID || rec.Decision.Case.Items != 2 {
		t.Fatalf("ops view of the second: case %+v, want %s with 2 items: %s", rec.Decision.Case, first.ID, raw)
	}
	if !strings.Contains(raw, `"code":"same_case"`) || !strings.Contains(raw, ", case "+first.ID) {
		t.Errorf("ops view lacks the same_case reason or the trail's case: %s", raw)
	}
	if _, raw := viewOf(t, r.url, tvPostToken, second.ID); strings.Contains(raw, first.ID) || strings.Contains(raw, "same_case") {
		t.Errorf("submitting desk's view names the other item: %s", raw)
	}

	r.stop()
	r = start(t, c)
	third := postLetter(t, r.url, deskToken, "CASE-2", liftLetter+"物业电话一直打不通。")
	rec, raw = viewOf(t, r.url, readerToken, third.ID)
	if rec.Decision.Case == nil || rec.Decision.Case.ID != first.ID || rec.Decision.Case.Items != 3 {
		t.Fatalf("after a restart: case %+v, want %s with 3 items: %s", rec.Decision.Case, first.ID, raw)
	}
	// The case's items, as each desk may see them.
	var whole struct {
		ID    string `json:"id"`
		Items []struct {
			ID      string `json:"id"`
			Nearest string `json:"nearest"`
		} `json:"items"`
	}
	a := call(t, "GET", r.url+"/v1/cases/"+first.ID, readerToken, "", nil)
	a.decode(t, &whole)
	if a.status != 200 || len(whole.Items) != 3 || whole.Items[0].ID != first.ID || whole.Items[1].ID != second.ID ||
		whole.Items[2].ID != third.ID || whole.Items[1].Nearest != first.ID || whole.Items[0].Nearest != "" {
		t.Errorf("ops' view of the case: %d %s", a.status, a.body)
	}
	// A desk that reads none of the case's destinations is told nothing,
	// the broadcaster's desk that posted one of its letters included.
	for tok, reads := range map[string]string{cdiToken: "discipline", mediaToken: "media_oversight", tvPostToken: "", deskToken: ""} {
		if slices.Contains(first.Destinations, reads) {
			continue // the model gave the letter a lead, or called it media oversight
		}
		if a := call(t, "GET", r.url+"/v1/cases/"+first.ID, tok, "", nil); a.status != 404 {
			t.Errorf("a desk that reads none of the case's destinations: %d %s", a.status, a.body)
		}
	}
	if a := call(t, "GET", r.url+"/v1/cases/ms1nosuchcase", readerToken, "", nil); a.status != 404 {
		t.Errorf("unknown case: %d %s", a.status, a.body)
	}

	if a := call(t, "GET", r.url+"/metrics", "", "", nil); a.status != 401 {
		t.Errorf("metrics without a token beside the desk API: %d", a.status)
	}
	m := call(t, "GET", r.url+"/metrics", readerToken, "", nil)
	for _, want := range []string{"minsheng_case_index_items 3", `minsheng_items_linked_total{class="` + string(third.Decision.Class) + `"} 1`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

const hotlineReviewToken = "desk-token-hotline-reviewer-0123456"

// TestCaseAfterReview: a copy of a letter that a rule sends to review
// joins the letter's case when a person decides it as the letter was
// routed. A desk that posted the copy and reads review (not the case's
// destinations) is told of the case neither in its view nor when it posts
// the copy again; a reader of those destinations sees the case's items in
// the order received, not joined; the links are counted; and a restart
// links another copy to the case.
func TestCaseAfterReview(t *testing.T) {
	c := testConfig(t, nil)
	t.Setenv("MS_TEST_HOTLINE_REVIEW", hotlineReviewToken)
	c.Desks = append(c.Desks, auth.DeskConfig{Name: "hotline-review", Channel: minsheng.ChannelHotline, Reads: []string{"review"}, TokenEnv: "MS_TEST_HOTLINE_REVIEW"})
	c.Triage.Rules = append(c.Triage.Rules, triage.Rule{Name: "ask_review", Any: []string{"请复核"}, Review: true, Weight: 1})
	r := start(t, c)

	first := postLetter(t, r.url, deskToken, "CASE-R1", liftLetter)
	cp := postLetter(t, r.url, hotlineReviewToken, "H-R1", liftLetter+"请复核。")
	if !slices.Contains(cp.Destinations, "review") || cp.Decision.Case != nil {
		t.Fatalf("the copy: destinations %v, case %+v; want review, no case", cp.Destinations, cp.Decision.Case)
	}
	// Routed while the copy waits in review: it joins the case before the
	// copy, though received after it.
	mid := postLetter(t, r.url, deskToken, "CASE-R3", liftLetter+"我们上周已经打过12345。")
	a := call(t, "POST", r.url+"/v1/reviews/"+cp.ID, hotlineReviewToken, "application/json", []byte(`{"class":"`+string(first.Decision.Class)+`"}`))
	if a.status != 200 || strings.Contains(string(a.body), first.ID) {
		t.Fatalf("decide: %d %s (must not name the case)", a.status, a.body)
	}
	rec, raw := viewOf(t, r.url, readerToken, cp.ID)
	if rec.Decision.Case == nil || rec.Decision.Case.ID != first.ID {
		t.Fatalf("ops view of the reviewed copy: case %+v, want %s: %s", rec.Decision.Case, first.ID, raw)
	}
	if _, raw := viewOf(t, r.url, hotlineReviewToken, cp.ID); strings.Contains(raw, first.ID) || strings.Contains(raw, "same_case") {
		t.Errorf("the posting reviewer's view names the case: %s", raw)
	}
	again := postLetter(t, r.url, hotlineReviewToken, "H-R1", liftLetter+"请复核。")
	if !again.Duplicate || again.Decision.Case != nil {
		t.Errorf("the posting reviewer's repeat: duplicate %v, case %+v; want a duplicate without the case", again.Duplicate, again.Decision.Case)
	}
	var whole struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	a = call(t, "GET", r.url+"/v1/cases/"+first.ID, readerToken, "", nil)
	a.decode(t, &whole)
	if a.status != 200 || len(whole.Items) != 3 || whole.Items[0].ID != first.ID || whole.Items[1].ID != cp.ID || whole.Items[2].ID != mid.ID {
		t.Errorf("ops' view of the case, oldest first (first, the copy, mid): %d %s", a.status, a.body)
	}
	if a := call(t, "GET", r.url+"/v1/cases/"+first.ID, hotlineReviewToken, "", nil); a.status != 404 {
		t.Errorf("the posting reviewer's view of the case: %d %s", a.status, a.body)
	}
	m := call(t, "GET", r.url+"/metrics", readerToken, "", nil)
	if want := `minsheng_items_linked_total{class="` + string(first.Decision.Class) + `"} 2`; !strings.Contains(string(m.body), want) {
		t.Errorf("metrics lack %q", want)
	}

	r.stop()
	r = start(t, c)
	third := postLetter(t, r.url, deskToken, "CASE-R2", liftLetter+"物业电话一直打不通。")
	if rec, raw := viewOf(t, r.url, readerToken, third.ID); rec.Decision.Case == nil || rec.Decision.Case.ID != first.ID || rec.Decision.Case.Items != 4 {
		t.Fatalf("after a restart: case %+v, want %s with 4 items: %s", rec.Decision.Case, first.ID, raw)
	}
}
