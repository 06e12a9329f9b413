package router

import (
	"encoding/json"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// TestViewAckedTimeNoLeadLeak: a desk not told of a lead sees an item
// with one acked when its share was first routed, as the same item
// without a lead shows its acked step. Its time was taken from the
// routed steps the desk is shown, and a desk that reads none of the
// first route's destinations (the petition bureau, for an item triage
// sent to review and a person decided petition; the dead letter's desk)
// was shown the item acked at the zero time: only for an item with a
// lead, whose acked step is put back, not for one without.
func TestViewAckedTimeNoLeadLeak(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	type pair struct{ plain, lead *minsheng.Item }
	complete := pair{f.seed(t, "acked-plain", false), f.seed(t, "acked-lead", true)}
	incomplete := pair{f.seed(t, "acked-inc-plain", false), f.seedIncomplete(t, "acked-inc-lead")}
	for name, p := range map[string]pair{"complete": complete, "incomplete": incomplete} {
		for _, it := range []*minsheng.Item{p.plain, p.lead} {
			if status, answer := f.decide(t, "reviewers", it.ID, `{"class":"petition"}`); status != 200 {
				t.Fatalf("review: %d %s", status, answer)
			}
		}
		for _, reads := range [][]string{{"petition"}, {"review"}} {
			seen := func(id string) string {
				v, ok := f.r.View(lookup(t, s, id), &minsheng.Principal{Name: "desk", Reads: reads})
				if !ok {
					t.Fatalf("%v may not see the item", reads)
				}
				b, _ := json.Marshal(v.Trail)
				return string(b)
			}
			if pv, lv := seen(p.plain.ID), seen(p.lead.ID); pv != lv {
				t.Errorf("%s, a desk reading %v sees the lead:\nwithout: %s\nwith:    %s", name, reads, pv, lv)
			}
		}
	}
}
