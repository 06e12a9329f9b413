package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/store"
)

// redeliverDesks are the desks of the re-delivery tests, by the X-Desk
// header: the dead letter's (dl), the inspectors' (cdi), one that reads
// both dead letters (ops), 12345 dispatch, and a dead letter desk that
// also reads 12345's queue.
var redeliverDesks = map[string][]string{
	"dl": {"dead_letter"}, "cdi": {"discipline", "discipline_dead_letter"}, "ops": {"dead_letter", "discipline_dead_letter"},
	"dispatch": {"gov_service"}, "dl-dispatch": {"dead_letter", "gov_service"},
}

type redeliverFixture struct {
	r   *Router
	s   *store.Store
	api *RedeliverAPI
	mux *http.ServeMux
}

// newRedeliverFixture serves the re-delivery API over a router on cfg and
// the store s (its queues and ledger).
func newRedeliverFixture(t *testing.T, cfg Config, s *store.Store) *redeliverFixture {
	t.Helper()
	r, err := New(context.Background(), cfg, Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return redeliverOver(r, s)
}

func redeliverOver(r *Router, s *store.Store) *redeliverFixture {
	api := NewRedeliverAPI(r, s)
	api.now = func() time.Time { return time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC) }
	mux := http.NewServeMux()
	api.Register(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			name := req.Header.Get("X-Desk")
			p := &minsheng.Principal{Name: name, Reads: redeliverDesks[name]}
			h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), p)))
		})
	})
	return &redeliverFixture{r: r, s: s, api: api, mux: mux}
}

// call asks as desk: method GET previews, POST re-delivers.
func (f *redeliverFixture) call(t *testing.T, method, desk, id string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, "/v1/items/"+id+"/redeliver", nil)
	req.Header.Set("X-Desk", desk)
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func (f *redeliverFixture) post(t *testing.T, desk, id string) (int, redeliveryAnswer, string) {
	t.Helper()
	status, raw := f.call(t, "POST", desk, id)
	var a redeliveryAnswer
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatalf("%d %s: %v", status, raw, err)
	}
	return status, a, raw
}

// routeAndRecord routes an item and records it as the pipeline does.
func routeAndRecord(t *testing.T, ctx context.Context, r *Router, led minsheng.Ledger, it *minsheng.Item, d *minsheng.Decision) *minsheng.Record {
	t.Helper()
	rt, err := r.RouteItem(ctx, it, d)
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: rt.Destinations, Undelivered: rt.Undelivered, Trail: []minsheng.Event{
		{Step: minsheng.StepReceived, At: it.ReceivedAt, Detail: "newspaper/qingdao-daily"},
		{Step: minsheng.StepRouted, At: it.ReceivedAt, Destinations: rt.Destinations},
		{Step: minsheng.StepAcked, At: it.ReceivedAt},
	}}
	if err := led.Commit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func lookup(t *testing.T, led minsheng.Ledger, id string) *minsheng.Record {
	t.Helper()
	rec, err := led.Lookup(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func undeliveredNames(us []minsheng.Undelivered) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Destination)
	}
	return out
}

// copiesIn counts the copies of an item in a destination, on Kafka or on
// the embedded queue (read without acking, so counted again later).
func copiesIn(t *testing.T, ctx context.Context, k *testkafka.Cluster, s *store.Store, cfg Config, dest, id string, round int) (n int, envs []*minsheng.Envelope) {
	t.Helper()
	if cfg.Destinations[dest].Sink == SinkQueue {
		for _, e := range drain(t, s, dest) {
			if e.ItemID == id {
				n++
				envs = append(envs, e)
			}
		}
		return n, envs
	}
	msgs, err := k.Read(ctx, "minsheng."+dest, fmt.Sprintf("count-%s-%d", dest, round), 0, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if string(m.Key) == id {
			n++
			var e minsheng.Envelope
			if err := json.Unmarshal(m.Value, &e); err != nil {
				t.Fatal(err)
			}
			envs = append(envs, &e)
		}
	}
	return n, envs
}

// TestRedeliverAfterTopicLimitRaised: a topic's max.message.bytes refuses
// an item another destination took. Re-delivered before the limit is
// raised, it is refused again: 409 with the reason, the record unchanged,
// no second dead letter. Once the limit is raised it reaches the topic,
// once, with the envelope a first delivery would have had; the
// destination that had it gets no second copy; the record names it and
// no longer undelivered, and the trail says who re-delivered it. Asked
// again, nothing is sent.
func TestRedeliverAfterTopicLimitRaised(t *testing.T) {
	big := testItem("redeliver-big")
	big.Attrs = map[string]string{"scan": strings.Repeat("x", 80<<10)} // left out of redacted copies
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons()}
	dept := &minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设"}
	for _, tc := range []struct {
		name   string
		d      *minsheng.Decision
		small  string // the topic refusing the item, its limit
		limit  string
		desk   string // who re-delivers
		target string // the destination it lacks
		had    string // the destination that took it at first
		whole  bool   // the target is sent the complainant
	}{
		{name: "department's topic", d: dept, small: "dept_urban", limit: "50000", desk: "dl", target: "dept_urban", had: "gov_service", whole: true},
		{name: "inspectors' topic", d: lead, small: "discipline", limit: "50000", desk: "cdi", target: "discipline", had: "gov_service", whole: true},
		{name: "12345's topic, the inspectors took it", d: lead, small: "gov_service", limit: "300", desk: "dl", target: "gov_service", had: "discipline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testkafka.StartT(t)
			if err := k.Fake().CreateTopic("minsheng."+tc.small, 1, map[string]string{"max.message.bytes": tc.limit}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := kafkaConfig(k)
			cfg.Destinations["dept_urban"] = Destination{Sink: SinkKafka, Identity: IdentityAuto}
			cfg.Routes.Departments = map[string][]string{"城乡建设": {"dept_urban"}}
			r, s := queuedDeadLetters(t, cfg)
			f := redeliverOver(r, s)
			routeAndRecord(t, ctx, r, s, big, tc.d)
			before := lookup(t, s, big.ID)
			if !slices.Contains(undeliveredNames(before.Undelivered), tc.target) {
				t.Fatalf("the record's undelivered are %v, want %s among them", before.Undelivered, tc.target)
			}
			depth := func() int {
				n := 0
				for _, dl := range []string{"dead_letter", "discipline_dead_letter"} {
					d, err := s.QueueDepth(dl)
					if err != nil {
						t.Fatal(err)
					}
					n += d
				}
				return n
			}
			deadLetters := depth()

			// Preview: where it would go, nothing sent.
			status, raw := f.call(t, "GET", tc.desk, big.ID)
			var p previewAnswer
			if json.Unmarshal([]byte(raw), &p) != nil || status != 200 || !slices.Equal(p.RedeliverTo, []string{tc.target}) {
				t.Fatalf("preview: %d %s", status, raw)
			}

			// Refused again: the reason, nothing recorded, no dead letter.
			status, a, raw := f.post(t, tc.desk, big.ID)
			t.Logf("before the limit is raised: %d %s", status, raw)
			if status != http.StatusConflict || a.Error != "refused" || len(a.Redelivered) != 0 ||
				!slices.Equal(undeliveredNames(a.Undelivered), []string{tc.target}) || !a.Undelivered[0].Refused || !strings.Contains(a.Message, "permanent") {
				t.Errorf("refused again: %d %s", status, raw)
			}
			after := lookup(t, s, big.ID)
			if b1, b2 := mustJSON(t, before), mustJSON(t, after); b1 != b2 {
				t.Errorf("a refused re-delivery changed the record:\n%s\n%s", b1, b2)
			}
			if n := depth(); n != deadLetters {
				t.Errorf("dead letters hold %d envelopes after a refused re-delivery, %d before", n, deadLetters)
			}

			if err := k.SetTopicConfig(ctx, "minsheng."+tc.small, "max.message.bytes", "1048588"); err != nil {
				t.Fatal(err)
			}
			status, a, raw = f.post(t, tc.desk, big.ID)
			t.Logf("after: %d %s", status, raw)
			if status != 200 || !slices.Equal(a.Redelivered, []string{tc.target}) || len(a.Undelivered) != 0 {
				t.Fatalf("re-delivery: %d %s", status, raw)
			}
			rec := lookup(t, s, big.ID)
			last := rec.Trail[len(rec.Trail)-1]
			if !slices.Contains(rec.Destinations, tc.target) || slices.Contains(undeliveredNames(rec.Undelivered), tc.target) ||
				last.Step != minsheng.StepRedelivered || last.Detail != "by desk "+tc.desk || !slices.Equal(last.Destinations, []string{tc.target}) {
				t.Errorf("record after re-delivery: %s", mustJSON(t, rec))
			}
			// Again: nothing sent.
			status, a, raw = f.post(t, tc.desk, big.ID)
			if status != 200 || len(a.Redelivered) != 0 {
				t.Errorf("again: %d %s", status, raw)
			}
			if again := lookup(t, s, big.ID); len(again.Trail) != len(rec.Trail) {
				t.Errorf("a re-delivery with nothing left was recorded: %s", mustJSON(t, again))
			}

			n, envs := copiesIn(t, ctx, k, s, cfg, tc.target, big.ID, 1)
			had, _ := copiesIn(t, ctx, k, s, cfg, tc.had, big.ID, 1)
			if n != 1 || had != 1 {
				t.Fatalf("%s holds %d copies, %s %d; want 1 each", tc.target, n, tc.had, had)
			}
			e := envs[0]
			if gotWhole := e.Item.Complainant.Name != ""; gotWhole != tc.whole {
				t.Errorf("%s was sent the complainant: %v, want %v", tc.target, gotWhole, tc.whole)
			}
			if e.Kind != minsheng.KindItem || e.Decision.Flags.DisciplineLead != r.toldOfLead(tc.target) && hasLead(tc.d) {
				t.Errorf("%s's envelope: kind %s, lead %v", tc.target, e.Kind, e.Decision.Flags.DisciplineLead)
			}
			if got := testutil.ToFloat64(f.api.count.WithLabelValues("redelivered")); got != 1 {
				t.Errorf("minsheng_redeliveries_total{outcome=redelivered} = %v, want 1", got)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRedeliverFullyDeadLettered: an item no destination took, first
// because its routes sent its class nowhere, then because it was over
// kafka.batch_bytes, is re-delivered once the configuration is mended,
// by a router started on the new configuration over the same store, to
// the destinations its decision names now.
func TestRedeliverFullyDeadLettered(t *testing.T) {
	t.Run("no route for its class", func(t *testing.T) {
		s := openStore(t)
		cfg := DefaultConfig()
		broken, err := New(context.Background(), cfg, Options{Queues: s})
		if err != nil {
			t.Fatal(err)
		}
		defer broken.Close()
		// What a route table with a hole would do (Validate refuses one:
		// an old gateway, a route table edited under it).
		broken.cfg.Routes.Classes = map[minsheng.Class][]string{minsheng.ClassGovService: {"gov_service"}}
		it := testItem("redeliver-noroute")
		d := &minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 0.9}
		rec := routeAndRecord(t, context.Background(), broken, s, it, d)
		if !slices.Equal(rec.Destinations, []string{"dead_letter"}) || len(rec.Undelivered) != 0 {
			t.Fatalf("dead-lettered as %v %v", rec.Destinations, rec.Undelivered)
		}
		drain(t, s, "dead_letter")
		if status, raw := redeliverOver(broken, s).call(t, "POST", "dl", it.ID); status != http.StatusConflict || !strings.Contains(raw, "no_route") {
			t.Errorf("with the route still missing: %d %s", status, raw)
		}

		f := newRedeliverFixture(t, DefaultConfig(), s) // the mended configuration
		status, raw := f.call(t, "GET", "dl", it.ID)
		if !strings.Contains(raw, `"redeliver_to":["petition"]`) {
			t.Errorf("preview: %d %s", status, raw)
		}
		status, a, raw := f.post(t, "dl", it.ID)
		if status != 200 || !slices.Equal(a.Redelivered, []string{"petition"}) {
			t.Fatalf("re-delivery: %d %s", status, raw)
		}
		envs := drain(t, s, "petition")
		if len(envs) != 1 || envs[0].Item.Complainant.Name != it.Complainant.Name || envs[0].Decision.Class != minsheng.ClassPetition {
			t.Errorf("petition holds %d envelopes: %s", len(envs), mustJSON(t, envs))
		}
		if n := len(drain(t, s, "dead_letter")); n != 0 {
			t.Errorf("%d new dead letters", n)
		}
	})
	t.Run("over batch_bytes", func(t *testing.T) {
		k := testkafka.StartT(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s := openStore(t)
		cfg := kafkaConfig(k)
		cfg.Kafka.BatchBytes = 64 << 10
		cfg.Destinations["dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
		cfg.Destinations["discipline_dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
		small, err := New(ctx, cfg, Options{Queues: s})
		if err != nil {
			t.Fatal(err)
		}
		big := testItem("redeliver-batch")
		big.Attrs = map[string]string{"scan": strings.Repeat("x", 80<<10)}
		rec := routeAndRecord(t, ctx, small, s, big, &minsheng.Decision{Class: minsheng.ClassGovService})
		small.Close()
		if !slices.Equal(undeliveredNames(rec.Undelivered), []string{"gov_service"}) || slices.Contains(rec.Destinations, "gov_service") {
			t.Fatalf("dead-lettered as %v %v", rec.Destinations, rec.Undelivered)
		}
		cfg.Kafka.BatchBytes = 1 << 20
		f := newRedeliverFixture(t, cfg, s)
		status, a, raw := f.post(t, "dl", big.ID)
		if status != 200 || !slices.Equal(a.Redelivered, []string{"gov_service"}) {
			t.Fatalf("re-delivery: %d %s", status, raw)
		}
		if n, _ := copiesIn(t, ctx, k, s, cfg, "gov_service", big.ID, 0); n != 1 {
			t.Errorf("gov_service holds %d copies, want 1", n)
		}
		if rec := lookup(t, s, big.ID); len(rec.Undelivered) != 0 {
			t.Errorf("still undelivered: %v", rec.Undelivered)
		}
	})
}

// deadLetteredRecords are records as the router writes them for items
// dead-lettered in part or whole, a lead's beside one without, all on the
// embedded queues.
func deadLetteredRecords(it *minsheng.Item, withLead bool) map[string]*minsheng.Record {
	plain := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9, ModelVersion: "m1",
		Reasons: slices.DeleteFunc(leadReasons(), func(r minsheng.Reason) bool { return r.Lead })}
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9, ModelVersion: "m1", Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons()}
	refused := func(d string) minsheng.Undelivered {
		return minsheng.Undelivered{Destination: d, Reason: "permanent: kafka: message too large", Refused: true}
	}
	rec := func(d *minsheng.Decision, dests []string, u ...minsheng.Undelivered) *minsheng.Record {
		return &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: dests, Undelivered: u, Trail: []minsheng.Event{
			{Step: minsheng.StepReceived, At: it.ReceivedAt, Detail: "newspaper/qingdao-daily"},
			{Step: minsheng.StepClassified, At: it.ReceivedAt, Detail: "gov_service (confidence 0.90, model m1)"},
			{Step: minsheng.StepRouted, At: it.ReceivedAt, Destinations: dests},
		}}
	}
	if !withLead {
		return map[string]*minsheng.Record{
			"12345 refused":           rec(plain, []string{"dead_letter"}, refused("gov_service")),
			"12345 took it":           rec(plain, []string{"gov_service"}),
			"none took it":            rec(plain, []string{"dead_letter"}, refused("gov_service")),
			"inspectors refused only": rec(plain, []string{"gov_service"}),
		}
	}
	withTrail := func(r *minsheng.Record) *minsheng.Record {
		r.Trail[1].Detail += minsheng.TrailDisciplineLead
		return r
	}
	return map[string]*minsheng.Record{
		"12345 refused": withTrail(rec(lead, []string{"discipline", "dead_letter", "discipline_dead_letter"}, refused("gov_service"))),
		"12345 took it": withTrail(rec(lead, []string{"gov_service", "discipline"})),
		// Both topics refused it (each its own record).
		"none took it":            withTrail(rec(lead, []string{"dead_letter", "discipline_dead_letter"}, refused("gov_service"), refused("discipline"))),
		"inspectors refused only": withTrail(rec(lead, []string{"gov_service", "discipline_dead_letter"}, refused("discipline"))),
	}
}

// TestRedeliverDeadLetterDeskNotToldOfLead: whatever the dead letter's
// desks ask (preview, re-deliver, again) and whatever they then see of the
// item, the answers are the same for an item with a lead, which they are
// not told of, and for one without: they send nothing to the inspectors
// and learn of no destination of theirs. The inspectors re-deliver their
// own share, which no other desk sees in the trail.
func TestRedeliverDeadLetterDeskNotToldOfLead(t *testing.T) {
	s := openStore(t)
	queued := DefaultConfig()
	f := newRedeliverFixture(t, queued, s)
	for _, name := range []string{"12345 refused", "12345 took it", "none took it", "inspectors refused only"} {
		for _, desk := range []string{"dl", "dl-dispatch"} {
			t.Run(name+", "+desk, func(t *testing.T) {
				ref := strings.ReplaceAll(name+"-"+desk, " ", "-")
				plain, lead := testItem("plain-"+ref), testItem("lead-"+ref)
				for _, rec := range []*minsheng.Record{deadLetteredRecords(plain, false)[name], deadLetteredRecords(lead, true)[name]} {
					if err := s.Commit(context.Background(), rec); err != nil {
						t.Fatal(err)
					}
				}
				for _, ask := range []string{"GET", "POST", "POST", "GET"} {
					ps, pa := f.call(t, ask, desk, plain.ID)
					ls, la := f.call(t, ask, desk, lead.ID)
					pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID")
					t.Logf("%s: %d %s", ask, ps, pa)
					if ps != ls || pa != la {
						t.Fatalf("%s tells of the lead:\nwithout: %d %s\nwith:    %d %s", ask, ps, pa, ls, la)
					}
				}
				views := []string{}
				for _, it := range []*minsheng.Item{plain, lead} {
					v, ok := f.r.View(lookup(t, s, it.ID), &minsheng.Principal{Name: desk, Reads: redeliverDesks[desk]})
					b := "not seen"
					if ok {
						b = strings.ReplaceAll(mustJSON(t, map[string]any{"decision": v.Decision, "trail": v.Trail, "destinations": v.Destinations, "undelivered": v.Undelivered}), it.ID, "ID")
					}
					views = append(views, b)
				}
				if views[0] != views[1] {
					t.Fatalf("the views tell of the lead:\nwithout: %s\nwith:    %s", views[0], views[1])
				}
				for _, e := range drain(t, s, "discipline") {
					if e.ItemID == lead.ID {
						t.Errorf("the dead letter's desk sent the item to the inspectors")
					}
				}
				drain(t, s, "gov_service")
			})
		}
	}

	// The inspectors' share: theirs alone, and their re-delivery is in no
	// trail another desk sees.
	it := testItem("inspectors-share")
	rec := deadLetteredRecords(it, true)["none took it"]
	if err := s.Commit(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	status, a, raw := f.post(t, "cdi", it.ID)
	if status != 200 || !slices.Equal(a.Redelivered, []string{"discipline"}) {
		t.Fatalf("the inspectors' re-delivery: %d %s", status, raw)
	}
	if got := drain(t, s, "gov_service"); slices.ContainsFunc(got, func(e *minsheng.Envelope) bool { return e.ItemID == it.ID }) {
		t.Errorf("the inspectors' re-delivery sent 12345 the item: its dead letter's desk re-delivers that")
	}
	status, a, raw = f.post(t, "dl", it.ID)
	if status != 200 || !slices.Equal(a.Redelivered, []string{"gov_service"}) {
		t.Fatalf("the dead letter's re-delivery: %d %s", status, raw)
	}
	after := lookup(t, s, it.ID)
	if len(after.Undelivered) != 0 {
		t.Errorf("still undelivered: %v", after.Undelivered)
	}
	for desk, want := range map[string][]string{"dispatch": {"gov_service"}, "dl": {"gov_service"}, "cdi": {"discipline", "gov_service"}, "ops": {"discipline", "gov_service"}} {
		v, ok := f.r.View(after, &minsheng.Principal{Name: desk, Reads: redeliverDesks[desk]})
		if !ok {
			t.Fatalf("%s does not see the item", desk)
		}
		var got []string
		for _, e := range v.Trail {
			if e.Step == minsheng.StepRedelivered {
				got = append(got, e.Destinations...)
				if e.Detail != "by desk cdi" && e.Detail != "by desk dl" {
					t.Errorf("%s: trail step %+v", desk, e)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s sees re-deliveries to %v, want %v", desk, got, want)
		}
	}
}

// TestRedeliverWhoMay: only a desk that reads a dead letter the item is
// in may re-deliver it, and each answer tells a desk no more than it may
// see.
func TestRedeliverWhoMay(t *testing.T) {
	s := openStore(t)
	f := newRedeliverFixture(t, DefaultConfig(), s)
	it := testItem("who-may")
	if err := s.Commit(context.Background(), deadLetteredRecords(it, true)["12345 refused"]); err != nil {
		t.Fatal(err)
	}
	q := &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mailbox", Ref: "bad-mail", Reason: "undecodable MIME"}
	if err := s.Commit(context.Background(), &minsheng.Record{ID: q.ID(), Quarantine: q, Destinations: []string{"dead_letter"}}); err != nil {
		t.Fatal(err)
	}
	unknown := testItem("never-seen").ID
	for _, tc := range []struct {
		desk, id string
		status   int
		code     string
	}{
		{"dispatch", it.ID, 403, "forbidden"},
		{"dispatch", unknown, 403, "forbidden"},
		{"dl", unknown, 404, "not_found"},
		{"dl", "not-an-id", 404, "not_found"},
		{"dl", q.ID(), 409, "quarantined"},
		{"cdi", q.ID(), 404, "not_found"},
		{"ops", q.ID(), 409, "quarantined"},
		{"cdi", it.ID, 200, ""}, // its share, discipline, has the item
	} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(fmt.Sprint(tc.desk, " ", tc.id, " ", method), func(t *testing.T) {
				status, raw := f.call(t, method, tc.desk, tc.id)
				var e apiError
				json.Unmarshal([]byte(raw), &e)
				if status != tc.status || tc.code != "" && e.Error != tc.code {
					t.Errorf("%d %s, want %d %s", status, raw, tc.status, tc.code)
				}
				if status == 200 && strings.Contains(raw, `"redelivered":["`) {
					t.Errorf("sent: %s", raw)
				}
			})
		}
	}
}

// TestRedeliverConcurrent: desks asking at once to re-deliver one item
// send it once: one answer names the destination, the others nothing.
func TestRedeliverConcurrent(t *testing.T) {
	s := openStore(t)
	f := newRedeliverFixture(t, DefaultConfig(), s)
	it := testItem("concurrent")
	if err := s.Commit(context.Background(), deadLetteredRecords(it, false)["12345 refused"]); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	answers := make([]redeliveryAnswer, n)
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			desk := "dl"
			if i%2 == 1 {
				desk = "ops"
			}
			statuses[i], answers[i], _ = f.post(t, desk, it.ID)
		}()
	}
	wg.Wait()
	sent := 0
	for i, a := range answers {
		if statuses[i] != 200 {
			t.Errorf("answer %d: %d %+v", i, statuses[i], a)
		}
		sent += len(a.Redelivered)
	}
	if got := len(drain(t, s, "gov_service")); sent != 1 || got != 1 {
		t.Errorf("%d answers named a destination, gov_service holds %d copies; want 1 and 1", sent, got)
	}
	rec := lookup(t, s, it.ID)
	steps := 0
	for _, e := range rec.Trail {
		if e.Step == minsheng.StepRedelivered {
			steps++
		}
	}
	if steps != 1 {
		t.Errorf("%d redelivered steps in the trail, want 1", steps)
	}
	if got := testutil.ToFloat64(f.api.count.WithLabelValues("nothing")); got != n-1 {
		t.Errorf("minsheng_redeliveries_total{outcome=nothing} = %v, want %d", got, n-1)
	}
}

// newDeptRedeliverFixture is the re-delivery API over Kafka topics, a
// department's among them (dept_urban, for 城乡建设), and dead letters on
// the store's queues, with a re-delivery's time cut to 300 ms.
func newDeptRedeliverFixture(t *testing.T) (*testkafka.Cluster, *redeliverFixture) {
	t.Helper()
	k := testkafka.StartT(t)
	cfg := kafkaConfig(k)
	cfg.Destinations["dept_urban"] = Destination{Sink: SinkKafka, Identity: IdentityAuto}
	cfg.Routes.Departments = map[string][]string{"城乡建设": {"dept_urban"}}
	f := redeliverOver(queuedDeadLetters(t, cfg))
	f.api.timeout = 300 * time.Millisecond
	return k, f
}

// TestRedeliverRecordsWhatWasSentWhenAnotherTimesOut: a re-delivery sends
// the item to one destination, which takes it, while another fails in a
// way that may pass until the re-delivery's time is up. What was sent is
// recorded all the same (the answer is 503 for the other), so that the
// next re-delivery sends the item to the other alone and the first gets
// no second copy. The record was committed under the re-delivery's own
// deadline, spent by then, and so was lost about half the time.
func TestRedeliverRecordsWhatWasSentWhenAnotherTimesOut(t *testing.T) {
	k, f := newDeptRedeliverFixture(t)
	s := f.s
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := &minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设", Confidence: 0.9}
	refused := func(dest string) minsheng.Undelivered {
		return minsheng.Undelivered{Destination: dest, Reason: "permanent: kafka: message too large", Refused: true}
	}
	const n = 6 // the lost commit was a coin's toss: 1 in 64 to pass
	var items []*minsheng.Item
	for i := range n {
		it := testItem(fmt.Sprintf("timeout-%d", i))
		items = append(items, it)
		rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: []string{"dead_letter"},
			Undelivered: []minsheng.Undelivered{refused("gov_service"), refused("dept_urban")},
			Trail:       []minsheng.Event{{Step: minsheng.StepRouted, At: it.ReceivedAt, Destinations: []string{"dead_letter"}}}}
		if err := s.Commit(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	// The department's topic fails until the operator mends its ACL.
	acl := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.dept_urban", Err: kerr.TopicAuthorizationFailed, Count: -1})
	for _, it := range items {
		status, a, raw := f.post(t, "dl", it.ID)
		if status != http.StatusServiceUnavailable || !slices.Equal(a.Redelivered, []string{"gov_service"}) {
			t.Errorf("while the department's topic fails: %d %s", status, raw)
		}
		if rec := lookup(t, s, it.ID); !slices.Contains(rec.Destinations, "gov_service") || slices.Contains(undeliveredNames(rec.Undelivered), "gov_service") {
			t.Errorf("gov_service took the item but the record does not say so: %v %v", rec.Destinations, undeliveredNames(rec.Undelivered))
		}
	}
	acl.Remove()
	f.api.timeout = 10 * time.Second
	for _, it := range items {
		status, a, raw := f.post(t, "dl", it.ID)
		if status != 200 || !slices.Equal(a.Redelivered, []string{"dept_urban"}) {
			t.Errorf("once mended: %d %s", status, raw)
		}
	}
	msgs, err := k.Read(ctx, "minsheng.gov_service", "timeout", n, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]int{}
	for _, m := range msgs {
		copies[string(m.Key)]++
	}
	twice := 0
	for _, it := range items {
		if copies[it.ID] != 1 {
			twice++
		}
	}
	t.Logf("gov_service holds %d records for %d items; %d items not once", len(msgs), n, twice)
	if twice > 0 {
		t.Errorf("%d of %d items reached gov_service other than once", twice, n)
	}
}

// TestRedeliverDisciplineItemsReviewCopy: a discipline item triage was
// unsure of goes to review and to the inspectors, and, refused, to the
// discipline dead letter alone (the dead letter's desk must not learn of
// it). That dead letter's envelope names review undelivered, so its desks
// re-deliver review's copy too; before, they were told review had it, and
// no desk could send it there.
func TestRedeliverDisciplineItemsReviewCopy(t *testing.T) {
	s := openStore(t)
	q := &refusingQueues{Queues: s, dest: "review"}
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: q})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	f := redeliverOver(r, s)
	it := testItem("disc-review")
	d := &minsheng.Decision{Class: minsheng.ClassDiscipline, Confidence: 0.3, Review: true, ModelVersion: "m1"}
	rec := routeAndRecord(t, context.Background(), r, s, it, d)
	if !slices.Equal(rec.Destinations, []string{"discipline_dead_letter"}) {
		t.Fatalf("routed to %v, want the discipline dead letter alone", rec.Destinations)
	}
	if status, raw := f.call(t, "GET", "dl", it.ID); status != http.StatusNotFound {
		t.Errorf("the dead letter's desk: %d %s, want 404", status, raw)
	}
	q.dest = "none" // mended
	status, raw := f.call(t, "GET", "cdi", it.ID)
	if status != http.StatusOK || !strings.Contains(raw, `"redeliver_to":["review","discipline"]`) {
		t.Errorf("inspectors' preview: %d %s, want review and discipline", status, raw)
	}
	status, a, raw := f.post(t, "ops", it.ID)
	if status != http.StatusOK || !slices.Equal(a.Redelivered, []string{"review", "discipline"}) {
		t.Fatalf("re-delivery by a desk reading both dead letters: %d %s", status, raw)
	}
	for _, dest := range []string{"review", "discipline"} {
		if n := depth(t, s, dest); n != 1 {
			t.Errorf("%s holds %d messages, want 1", dest, n)
		}
	}
	if _, a, raw := f.post(t, "cdi", it.ID); len(a.Redelivered) != 0 {
		t.Errorf("again: %s, want nothing sent", raw)
	}
}

// TestRedeliverUnavailableSaysWhyNow: a re-delivery answered 503 lists
// the destinations still without the item with why they are without it
// now (unavailable, and what the broker last said), not the reason the
// record gave before (a refusal that may since be mended), which told the
// desk the wrong thing to mend. The record keeps its reasons. Before, the
// answer repeated the record's.
func TestRedeliverUnavailableSaysWhyNow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		undelivered []string // the record's, each refused as too large
		down        string   // the topic that fails now
		redelivered []string
	}{
		{"its one destination down", []string{"gov_service"}, "gov_service", []string{}},
		{"one takes it, the other down", []string{"gov_service", "dept_urban"}, "dept_urban", []string{"gov_service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, f := newDeptRedeliverFixture(t)
			s := f.s
			d := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9}
			if len(tc.undelivered) > 1 {
				d.Department = "城乡建设"
			}
			const old = "permanent: kafka: message too large"
			it := testItem("why-now")
			rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: []string{"dead_letter"},
				Trail: []minsheng.Event{{Step: minsheng.StepRouted, At: it.ReceivedAt, Destinations: []string{"dead_letter"}}}}
			for _, u := range tc.undelivered {
				rec.Undelivered = append(rec.Undelivered, minsheng.Undelivered{Destination: u, Reason: old, Refused: true})
			}
			if err := s.Commit(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng." + tc.down, Err: kerr.TopicAuthorizationFailed, Count: -1})
			status, a, raw := f.post(t, "dl", it.ID)
			if status != http.StatusServiceUnavailable || !slices.Equal(a.Redelivered, tc.redelivered) || len(a.Undelivered) != 1 {
				t.Fatalf("%d %s; want 503, redelivered %v, one undelivered", status, raw, tc.redelivered)
			}
			if u := a.Undelivered[0]; u.Destination != tc.down || u.Refused || !strings.Contains(u.Reason, "unavailable") || !strings.Contains(u.Reason, "Topic Authorization Failed") {
				t.Errorf("undelivered %+v; want %s, not refused, unavailable for Topic Authorization Failed now", u, tc.down)
			}
			if got := lookup(t, s, it.ID).Undelivered; !slices.ContainsFunc(got, func(u minsheng.Undelivered) bool { return u.Destination == tc.down && u.Reason == old && u.Refused }) {
				t.Errorf("the record's undelivered %+v; want %s's reason kept", got, tc.down)
			}
		})
	}
}
