package router

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/store"
)

// deadLetterView is what a dead letter envelope says of where its item
// went, read through its JSON as a reader of the dead letter would.
type deadLetterView struct {
	Reached     []string `json:"reached"`
	Undelivered []struct {
		Destination string `json:"destination"`
		Reason      string `json:"reason"`
		Refused     bool   `json:"refused"`
	} `json:"undelivered"`
}

func viewDeadLetter(t *testing.T, e *minsheng.Envelope) deadLetterView {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var v deadLetterView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// queuedDeadLetters starts a router with the dead letters, and the
// destinations named, on the embedded queue (as deployments keep them),
// closed at the test's end.
func queuedDeadLetters(t *testing.T, cfg Config, queues ...string) (*Router, *store.Store) {
	t.Helper()
	for _, n := range append([]string{"dead_letter", "discipline_dead_letter"}, queues...) {
		cfg.Destinations[n] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	}
	s := openStore(t)
	r, err := New(context.Background(), cfg, Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, s
}

// TestKafkaPartlyRefusedItem: the broker takes one of an item's records
// and refuses another for good (a topic's max.message.bytes, a record it
// calls invalid). The item is then in the topic that took it and in the
// dead letter. The route must answer the destinations that hold it (the
// pipeline records them), and each dead letter envelope must name those
// and the ones its reader is to re-deliver it to (with why they do not
// have it), so that re-delivering it reaches no destination twice and
// misses none: each destination without the item is named by one dead
// letter, and the dead letter is not sent an item it has nothing to
// re-deliver of (the inspectors' is sent every lead). No dead letter but
// the inspectors' names an inspectors' destination (it would tell of the
// lead).
func TestKafkaPartlyRefusedItem(t *testing.T) {
	big := testItem("partly-big")
	big.Attrs = map[string]string{"scan": strings.Repeat("x", 80<<10)} // left out of redacted copies
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}}
	dept := &minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设"}
	type dl struct{ reached, undelivered []string }
	for _, tc := range []struct {
		name       string
		d          *minsheng.Decision
		queues     []string // destinations on the embedded queue besides the dead letters
		small      string   // a topic with max.message.bytes 50,000
		invalid    string   // a topic whose produce the broker answers INVALID_RECORD
		flaky      string   // a topic whose first two produces fail in a way that may pass
		batchBytes int64
		want       map[string]int
		wantDL     map[string]dl
	}{
		{name: "inspectors' topic too small", d: lead, small: "minsheng.discipline",
			want:   map[string]int{"gov_service": 1, "discipline": 0},
			wantDL: map[string]dl{"discipline_dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"discipline"}}}},
		{name: "inspectors' topic refuses the record as invalid", d: lead, invalid: "minsheng.discipline",
			want:   map[string]int{"gov_service": 1, "discipline": 0},
			wantDL: map[string]dl{"discipline_dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"discipline"}}}},
		{name: "12345 on the queue, inspectors' topic too small", d: lead, queues: []string{"gov_service"}, small: "minsheng.discipline",
			want:   map[string]int{"gov_service": 1, "discipline": 0},
			wantDL: map[string]dl{"discipline_dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"discipline"}}}},
		{name: "12345's topic refuses, the inspectors take it", d: lead, invalid: "minsheng.gov_service",
			want:   map[string]int{"gov_service": 0, "discipline": 1},
			wantDL: map[string]dl{"dead_letter": {undelivered: []string{"gov_service"}}, "discipline_dead_letter": {reached: []string{"discipline"}}}},
		// Refused by our own check, before any record is handed over, the
		// inspectors' record is dead-lettered as if the broker had refused
		// it, and 12345 is sent its own: held back, it would reach the dead
		// letter refused by nobody the dead letter names, which an item
		// without a lead never does.
		{name: "inspectors' record over batch_bytes", d: lead, batchBytes: 64 << 10,
			want:   map[string]int{"gov_service": 1, "discipline": 0},
			wantDL: map[string]dl{"discipline_dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"discipline"}}}},
		{name: "12345 on the queue, inspectors' record over batch_bytes", d: lead, queues: []string{"gov_service"}, batchBytes: 64 << 10,
			want:   map[string]int{"gov_service": 1, "discipline": 0},
			wantDL: map[string]dl{"discipline_dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"discipline"}}}},
		// 12345's topic fails twice in a way that may pass while the
		// inspectors' refuses for good: 12345's is retried until taken,
		// not given up on and dead-lettered (which, again, an item without
		// a lead never is).
		{name: "12345's topic fails for a while, the inspectors' refuses", d: lead, invalid: "minsheng.discipline", flaky: "minsheng.gov_service",
			want:   map[string]int{"gov_service": 1, "discipline": 0},
			wantDL: map[string]dl{"discipline_dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"discipline"}}}},
		{name: "department's topic too small", d: dept, small: "minsheng.dept_urban",
			want:   map[string]int{"gov_service": 1, "dept_urban": 0},
			wantDL: map[string]dl{"dead_letter": {reached: []string{"gov_service"}, undelivered: []string{"dept_urban"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testkafka.StartT(t)
			fk := k.Fake()
			if tc.small != "" {
				if err := fk.CreateTopic(tc.small, 1, map[string]string{"max.message.bytes": "50000"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.invalid != "" {
				fk.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: tc.invalid, Err: kerr.InvalidRecord, Count: -1})
			}
			if tc.flaky != "" {
				fk.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: tc.flaky, Err: kerr.TopicAuthorizationFailed, Count: 2})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := kafkaConfig(k)
			cfg.Destinations["dept_urban"] = Destination{Sink: SinkKafka, Identity: IdentityAuto}
			cfg.Routes.Departments = map[string][]string{"城乡建设": {"dept_urban"}}
			if tc.batchBytes > 0 {
				cfg.Kafka.BatchBytes = tc.batchBytes
			}
			r, s := queuedDeadLetters(t, cfg, tc.queues...)
			dests, err := r.Route(ctx, big, tc.d)
			if err != nil {
				t.Fatalf("route: %v", err)
			}
			var wantDests []string
			for dest, n := range tc.want {
				if n > 0 {
					wantDests = append(wantDests, dest)
				}
			}
			for dest := range tc.wantDL {
				wantDests = append(wantDests, dest)
			}
			sort.Strings(wantDests)
			sort.Strings(dests)
			if !slices.Equal(dests, wantDests) {
				t.Errorf("route answered %v, want the destinations that hold the item, %v", dests, wantDests)
			}
			copies := map[string]int{}
			for dest := range tc.want {
				if cfg.Destinations[dest].Sink == SinkQueue {
					copies[dest] = len(drain(t, s, dest))
					continue
				}
				msgs, err := k.Read(ctx, "minsheng."+dest, "partly", 0, 500*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if string(m.Key) == big.ID {
						copies[dest]++
					}
				}
			}
			refused := strings.TrimPrefix(tc.small+tc.invalid, "minsheng.")
			if tc.batchBytes > 0 {
				refused = "discipline"
			}
			for _, name := range []string{"dead_letter", "discipline_dead_letter"} {
				envs := drain(t, s, name)
				w, ok := tc.wantDL[name]
				if !ok {
					if len(envs) > 0 {
						t.Errorf("%s holds %d envelopes, want none", name, len(envs))
					}
					continue
				}
				if len(envs) != 1 {
					t.Errorf("%s holds %d envelopes, want 1", name, len(envs))
					continue
				}
				v := viewDeadLetter(t, envs[0])
				var undelivered []string
				for _, u := range v.Undelivered {
					undelivered = append(undelivered, u.Destination)
					if u.Reason == "" || u.Refused != (u.Destination == refused) {
						t.Errorf("%s: %s undelivered, refused %v, reason %q", name, u.Destination, u.Refused, u.Reason)
					}
					if name != "discipline_dead_letter" && r.toldOfLead(u.Destination) {
						t.Errorf("%s names the inspectors' %s", name, u.Destination)
					}
				}
				t.Logf("%s: reached %v, undelivered %v", name, v.Reached, v.Undelivered)
				if !slices.Equal(v.Reached, w.reached) || !slices.Equal(undelivered, w.undelivered) {
					t.Errorf("%s: reached %v and undelivered %v, want %v and %v", name, v.Reached, undelivered, w.reached, w.undelivered)
				}
			}
			t.Logf("copies %v, route answered %v", copies, dests)
			for dest, n := range tc.want {
				if copies[dest] != n {
					t.Errorf("%s holds %d copies, want %d", dest, copies[dest], n)
				}
			}
		})
	}
}

// TestKafkaRetrySendsOnlyRecordsNotTaken: the broker takes 12345's record
// of an item and answers the inspectors' with an error it may recover
// from (TOPIC_AUTHORIZATION_FAILED, until an operator mends the ACL). The
// router retries until the route's deadline, and each retry sends the
// inspectors' record alone: 12345's topic holds one copy, not one per
// attempt.
func TestKafkaRetrySendsOnlyRecordsNotTaken(t *testing.T) {
	k := testkafka.StartT(t)
	k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: kerr.TopicAuthorizationFailed, Count: -1})
	ctx := context.Background()
	r, s := queuedDeadLetters(t, kafkaConfig(k))
	it := testItem("retry-auth")
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	dests, err := r.Route(short, it, &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}})
	if !errors.Is(err, minsheng.ErrUnavailable) {
		t.Fatalf("route: %v %v, want unavailable", dests, err)
	}
	msgs, err := k.Read(ctx, "minsheng.gov_service", "retry", 1, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gov_service holds %d copies after 2 s of retries", len(msgs))
	if len(msgs) != 1 {
		t.Errorf("gov_service holds %d copies, want 1", len(msgs))
	}
	if n := len(drain(t, s, "dead_letter")) + len(drain(t, s, "discipline_dead_letter")); n != 0 {
		t.Errorf("%d dead letters for an item the broker may yet take", n)
	}
}

// TestViewTellsUndeliveredToDeadLetterReaders: the record of an item some
// destinations took before another refused it tells where it is missing
// to a desk that reads the dead letter it went to, not to a desk that
// reads only a destination that has it; and the inspectors' destinations
// only to a desk told of the lead.
func TestViewTellsUndeliveredToDeadLetterReaders(t *testing.T) {
	r := &Router{cfg: DefaultConfig()}
	r.discipline = r.cfg.disciplineDestinations()
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}}
	it := testItem("view-undelivered")
	inspectorsRefused := &minsheng.Record{ID: it.ID, Item: it, Decision: lead, Destinations: []string{"gov_service", "discipline_dead_letter"},
		Undelivered: []minsheng.Undelivered{{Destination: "discipline", Reason: "permanent: too large", Refused: true}}}
	dispatchRefused := &minsheng.Record{ID: it.ID, Item: it, Decision: lead, Destinations: []string{"discipline", "dead_letter", "discipline_dead_letter"},
		Undelivered: []minsheng.Undelivered{{Destination: "gov_service", Reason: "permanent: invalid record", Refused: true}}}
	for _, tc := range []struct {
		name  string
		rec   *minsheng.Record
		reads []string
		want  []string // undelivered shown; nil with seen false: 404
		seen  bool
	}{
		{"12345 has it", inspectorsRefused, []string{"gov_service"}, nil, true},
		{"inspectors' dead letter", inspectorsRefused, []string{"discipline_dead_letter"}, []string{"discipline"}, true},
		{"dead letter, not told of the lead", dispatchRefused, []string{"dead_letter"}, []string{"gov_service"}, true},
		{"inspectors", dispatchRefused, []string{"discipline"}, nil, true},
		{"12345 does not have it", dispatchRefused, []string{"gov_service"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := r.View(tc.rec, &minsheng.Principal{Name: "desk", Reads: tc.reads})
			if ok != tc.seen {
				t.Fatalf("seen %v, want %v", ok, tc.seen)
			}
			if !ok {
				return
			}
			var got []string
			for _, u := range v.Undelivered {
				got = append(got, u.Destination)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("undelivered shown %v, want %v", got, tc.want)
			}
		})
	}
}
