package gateway

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/triage"
)

// TestReviewUnseenItemNotFoundBeforeBody: POST /v1/reviews/{id} by a desk
// that reads only review answers 404 for an item it may not see before it
// looks at the body, as for an unknown ID, and both answers are the same
// but for the ID: a desk learns nothing of an item it may not see,
// whether its body is good or bad. An item in review is still answered
// for its body (400, 415).
func TestReviewUnseenItemNotFoundBeforeBody(t *testing.T) {
	c := testConfig(t, nil)
	c.Triage.Rules = append(c.Triage.Rules, triage.Rule{Name: "ask", Any: []string{"请人工复核"}, Review: true, Weight: 1})
	t.Setenv("MS_TEST_REVIEWERS", "reviewers-token-0123456789abcdef")
	c.Desks = append(c.Desks, auth.DeskConfig{Name: "reviewers", Reads: []string{"review"}, TokenEnv: "MS_TEST_REVIEWERS"})
	r := start(t, c)
	const reviewers = "reviewers-token-0123456789abcdef"
	inReview := postLetter(t, r.url, deskToken, "RNF-1", "小区门口的路灯坏了两个月，晚上很黑，请人工复核后转相关部门处理。")
	unseen := postLetter(t, r.url, deskToken, "RNF-2", "小区东门外的人行道塌陷，形成一个大坑，已经有老人摔倒受伤，请市政部门尽快修复。")
	if !slices.Contains(inReview.Destinations, "review") || slices.Contains(unseen.Destinations, "review") {
		t.Fatalf("destinations: %v and %v, want the first in review and the second not", inReview.Destinations, unseen.Destinations)
	}
	if a := call(t, "GET", r.url+"/v1/items/"+unseen.ID, reviewers, "", nil); a.status != http.StatusNotFound {
		t.Fatalf("the review desk may see %s: %d %s", unseen.ID, a.status, a.body)
	}
	unknown := minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", "RNF-NEVER")

	for _, b := range []struct {
		name, ctype, body string
		status            int // for the item in review
	}{
		{"unknown field", "application/json", `{"klass":"petition"}`, 400},
		{"unknown class", "application/json", `{"class":"petitions"}`, 400},
		{"not JSON", "text/plain", `petition`, 415},
		{"charset", "application/json; charset=utf-16", `{"class":"petition"}`, 415},
		{"good", "application/json", `{"class":"petition"}`, 0},
	} {
		ofUnknown := call(t, "POST", r.url+"/v1/reviews/"+unknown, reviewers, b.ctype, []byte(b.body))
		ofUnseen := call(t, "POST", r.url+"/v1/reviews/"+unseen.ID, reviewers, b.ctype, []byte(b.body))
		if ofUnknown.status != http.StatusNotFound || ofUnseen.status != http.StatusNotFound {
			t.Errorf("%s body: unknown ID %d %s; item the desk may not see %d %s; want 404 for both", b.name, ofUnknown.status, ofUnknown.body, ofUnseen.status, ofUnseen.body)
		} else if strings.ReplaceAll(string(ofUnseen.body), unseen.ID, unknown) != string(ofUnknown.body) {
			t.Errorf("%s body: the 404s differ: %s and %s", b.name, ofUnseen.body, ofUnknown.body)
		}
		if b.status == 0 {
			continue
		}
		if a := call(t, "POST", r.url+"/v1/reviews/"+inReview.ID, reviewers, b.ctype, []byte(b.body)); a.status != b.status {
			t.Errorf("%s body on the item in review: %d %s, want %d", b.name, a.status, a.body, b.status)
		}
	}
}
