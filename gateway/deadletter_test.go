package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/triage"
)

// deadLetters reads up to 10 messages of the dead letter queue as desk
// token, leasing them for lease.
func deadLetters(t *testing.T, base, token, lease string) []minsheng.QueuedMessage {
	t.Helper()
	a := call(t, "GET", base+"/v1/queues/dead_letter?max=10&lease="+lease, token, "", nil)
	var got struct {
		Messages []minsheng.QueuedMessage `json:"messages"`
	}
	a.decode(t, &got)
	if a.status != http.StatusOK {
		t.Fatalf("read dead_letter: %d %s", a.status, a.body)
	}
	return got.Messages
}

// TestDeadLetteredAgainWhileInTheDeadLetter: an item for review is
// refused by the review topic (too large) and dead-lettered. The dead
// letter's desk has the topic mended and re-delivers it to review, and
// has not acked the dead letter when the reviewer decides gov_service,
// whose topic refuses it too: the item is dead-lettered a second time,
// for gov_service. Whether the desk had read the first dead letter or
// not, it must be handed one that tells of gov_service, or nothing
// prompts anyone to re-deliver the item there: read before, the first
// stays, and the desk's ack of it leaves the second; not read, the second
// takes its place. (Until 2026-12-03 the queue skipped the second dead
// letter, the item's first waiting there still: the desk was handed the
// first, telling of review, and after its ack the queue held nothing,
// while the record named gov_service undelivered.)
func TestDeadLetteredAgainWhileInTheDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		readFirst bool // the desk read the first dead letter before the second came
	}{
		{"first read", true},
		{"first not read", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testkafka.StartT(t)
			c := testConfig(t, k)
			c.Triage.Rules = append(c.Triage.Rules, triage.Rule{Name: "ask", Any: []string{"请人工复核"}, Review: true, Weight: 1})
			for _, name := range []string{"dead_letter", "discipline_dead_letter"} {
				c.Destinations[name] = router.Destination{Sink: router.SinkQueue, Identity: router.IdentityAuto}
			}
			for _, name := range []string{"review", "gov_service"} {
				if err := k.Fake().CreateTopic("minsheng."+name, 1, map[string]string{"max.message.bytes": "200"}); err != nil {
					t.Fatal(err)
				}
			}
			r := start(t, c)
			b, _ := json.Marshal(map[string]any{"ref": "DL-AGAIN-1", "title": "反映问题", "body": "小区门口的路灯坏了两个月，晚上很黑，请人工复核后转相关部门处理。",
				"submitted_at": "2026-11-21T09:30:00+08:00",
				"complainant":  map[string]any{"name": "钱某", "phone": "13000000002", "anonymous": false, "consent_to_publish": false}})
			a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", b)
			var acc desk.Accepted
			a.decode(t, &acc)
			if a.status != http.StatusAccepted || !slices.Equal(acc.Destinations, []string{"dead_letter"}) {
				t.Fatalf("post: %d %s, want it dead-lettered (review refused it)", a.status, a.body)
			}
			if tc.readFirst {
				first := deadLetters(t, r.url, readerToken, "5m")
				if len(first) != 1 || !slices.Equal(undeliveredNames(first[0].Envelope.Undelivered), []string{"review"}) {
					t.Fatalf("dead letter: %+v, want the item once, undelivered to review", first)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := k.SetTopicConfig(ctx, "minsheng.review", "max.message.bytes", "1048588"); err != nil {
				t.Fatal(err)
			}
			if a := call(t, "POST", r.url+"/v1/items/"+acc.ID+"/redeliver", readerToken, "", nil); a.status != http.StatusOK {
				t.Fatalf("re-deliver to review: %d %s", a.status, a.body)
			}
			a = call(t, "POST", r.url+"/v1/reviews/"+acc.ID, readerToken, "application/json", []byte(`{"class":"gov_service"}`))
			if a.status != http.StatusOK || !strings.Contains(string(a.body), `"destinations":["dead_letter"]`) {
				t.Fatalf("review decision: %d %s, want it dead-lettered", a.status, a.body)
			}
			rec, err := r.g.store.Lookup(ctx, acc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := undeliveredNames(rec.Undelivered); !slices.Equal(got, []string{"gov_service"}) {
				t.Fatalf("record: undelivered %v, want gov_service", got)
			}
			if tc.readFirst {
				// The desk acks what it read (it told of review, now done).
				a = call(t, "POST", r.url+"/v1/queues/dead_letter/ack", readerToken, "application/json", []byte(`{"ids":["`+acc.ID+`"]}`))
				if a.status != http.StatusOK || !strings.Contains(string(a.body), `"acked":1`) {
					t.Fatalf("ack: %d %s, want the one message read acked", a.status, a.body)
				}
			}
			next := deadLetters(t, r.url, readerToken, "5m")
			if len(next) != 1 || next[0].Envelope.ItemID != acc.ID || !slices.Equal(undeliveredNames(next[0].Envelope.Undelivered), []string{"gov_service"}) {
				t.Fatalf("the dead letter hands out %d messages (%s), want the item once, undelivered to gov_service", len(next), mustJSON(next))
			}
		})
	}
}

func undeliveredNames(us []minsheng.Undelivered) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Destination)
	}
	return out
}
