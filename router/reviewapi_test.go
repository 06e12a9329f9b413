package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
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

// reviewFixture serves the review API over a router and a store, to desks
// named in the X-Desk header: reviewers (reads review), cdi (discipline),
// dispatch (gov_service).
type reviewFixture struct {
	r   *Router
	q   Queues
	led minsheng.Ledger
	api *ReviewAPI
	mux *http.ServeMux
}

var reviewDesks = map[string][]string{"reviewers": {"review"}, "cdi": {"discipline"}, "dispatch": {"gov_service"},
	"review-cdi": {"review", "discipline"}, "reviewers-b": {"review"}, "review-dl": {"review", "dead_letter"}}

func newReviewFixture(t *testing.T, cfg Config, q Queues, led minsheng.Ledger) *reviewFixture {
	t.Helper()
	r, err := New(context.Background(), cfg, Options{Queues: q})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	api := NewReviewAPI(r, led, []string{"城乡建设"}, nil)
	api.now = func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	mux := http.NewServeMux()
	api.Register(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			name := req.Header.Get("X-Desk")
			p := &minsheng.Principal{Name: name, Reads: reviewDesks[name]}
			h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), p)))
		})
	})
	return &reviewFixture{r: r, q: q, led: led, api: api, mux: mux}
}

// seed routes an item triage sent to review (with a lead, when lead) and
// records it as the pipeline does (with the destinations that refused it,
// when one did).
func (f *reviewFixture) seed(t *testing.T, ref string, lead bool) *minsheng.Item {
	t.Helper()
	it := testItem(ref)
	reasons := leadReasons()
	if !lead {
		reasons = slices.DeleteFunc(reasons, func(r minsheng.Reason) bool { return r.Lead })
	}
	d := &minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 0.3, Review: true, ModelVersion: "m1",
		Flags: minsheng.Flags{DisciplineLead: lead}, Reasons: reasons}
	rt, err := f.r.RouteItem(context.Background(), it, d)
	if err != nil {
		t.Fatal(err)
	}
	dests := rt.Destinations
	classified := "petition (confidence 0.30, model m1)"
	if lead {
		classified += minsheng.TrailDisciplineLead
	}
	at := it.ReceivedAt
	rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: dests, Undelivered: rt.Undelivered, Trail: []minsheng.Event{
		{Step: minsheng.StepReceived, At: at, Detail: "newspaper/qingdao-daily"},
		{Step: minsheng.StepScreened, At: at, Detail: "valid"},
		{Step: minsheng.StepClassified, At: at, Detail: classified + ", to review"},
		{Step: minsheng.StepRouted, At: at, Destinations: dests},
		{Step: minsheng.StepAcked, At: at},
	}}
	if err := f.led.Commit(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return it
}

func (f *reviewFixture) decideCtx(t *testing.T, ctx context.Context, desk, id, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/v1/reviews/"+id, strings.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Desk", desk)
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func (f *reviewFixture) decide(t *testing.T, desk, id, body string) (int, string) {
	t.Helper()
	return f.decideCtx(t, context.Background(), desk, id, body)
}

// reviewDeskView is what the review desk may read of the item's record, as
// JSON, without the item itself (whose ID differs between two items).
func (f *reviewFixture) reviewDeskView(t *testing.T, id string) string {
	t.Helper()
	rec, err := f.led.Lookup(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := f.r.View(rec, &minsheng.Principal{Name: "reviewers", Reads: reviewDesks["reviewers"]})
	if !ok {
		t.Fatal("the review desk may not see the item")
	}
	b, _ := json.Marshal(map[string]any{"decision": v.Decision, "review": v.Review, "trail": v.Trail, "destinations": v.Destinations})
	return string(b)
}

// TestReviewDeskNotToldOfLead: whatever the review desk asks, the answers
// (200, repeat, 409, destinations) and its view afterwards are the same
// for an item with a lead triage raised, which the desk is not told of,
// and for one without: nothing it can do tells it of the lead.
func TestReviewDeskNotToldOfLead(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	for i, seq := range [][]string{
		{`{"class":"discipline"}`},
		{`{"class":"petition"}`, `{"class":"petition","discipline_lead":true}`},
		{`{"class":"petition"}`, `{"class":"petition","discipline_lead":false}`, `{"class":"petition"}`},
		{`{"class":"gov_service","discipline_lead":true}`, `{"class":"gov_service","discipline_lead":true}`, `{"class":"gov_service"}`},
		{`{"class":"media_oversight"}`, `{"class":"petition"}`},
		{`{"class":"invalid"}`, `{"class":"invalid","discipline_lead":true}`},
	} {
		t.Run(strings.Join(seq, " "), func(t *testing.T) {
			plain := f.seed(t, fmt.Sprint("told-plain-", i), false)
			lead := f.seed(t, fmt.Sprint("told-lead-", i), true)
			f.decideAlike(t, plain, lead, seq)
		})
	}
}

// TestReviewRaisedLeadReachesInspectors: a lead the review desk raises
// reaches the inspectors, whatever class it chooses; it is refused rather
// than dropped where the class cannot carry one (invalid).
func TestReviewRaisedLeadReachesInspectors(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	for i, class := range minsheng.Classes {
		it := f.seed(t, fmt.Sprint("raise-", i), false)
		status, answer := f.decide(t, "reviewers", it.ID, `{"class":"`+string(class)+`","discipline_lead":true}`)
		held := slices.ContainsFunc(drain(t, s, "discipline"), func(e *minsheng.Envelope) bool { return e.ItemID == it.ID })
		switch {
		case status == 200 && !held:
			t.Errorf("%s: the lead the desk raised did not reach the inspectors: %s", class, answer)
		case status != 200 && status != 400:
			t.Errorf("%s: %d %s", class, status, answer)
		case status == 400 && class != minsheng.ClassInvalid:
			t.Errorf("%s: refused: %s", class, answer)
		}
		// The answer tells the desk of the lead it raised, in the decision
		// as in the destinations, on an item triage had flagged too.
		flagged := f.seed(t, fmt.Sprint("raise-flagged-", i), true)
		for _, id := range []string{it.ID, flagged.ID} {
			var a reviewAnswer
			status, raw := f.decide(t, "reviewers", id, `{"class":"`+string(class)+`","discipline_lead":true}`)
			if status != 200 {
				continue
			}
			if json.Unmarshal([]byte(raw), &a) != nil || a.Decision == nil || !a.Decision.Flags.DisciplineLead ||
				a.Review == nil || !a.Review.RaisedLead || !slices.Contains(a.Destinations, "discipline") {
				t.Errorf("%s, %s: the answer does not say the lead the desk raised: %s", class, id, raw)
			}
		}
	}
}

// TestReviewUncertainDepartment: a sector triage was unsure of
// (Flags.DepartmentUncertain) stays unsure when the desk confirms
// gov_service without naming one, so the item goes to 12345 only; a sector
// the desk names is sent to, even triage's own.
func TestReviewUncertainDepartment(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"class":"gov_service"}`, []string{"gov_service"}},
		{`{"class":"gov_service","department":"城乡建设"}`, []string{"gov_service", "dept_urban"}},
	} {
		it := f.seed(t, "unsure-"+c.body, false)
		rec, err := f.led.Lookup(context.Background(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		rec.Decision.Department, rec.Decision.Flags.DepartmentUncertain = "城乡建设", true
		if err := f.led.Commit(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		var a reviewAnswer
		status, raw := f.decide(t, "reviewers", it.ID, c.body)
		if status != 200 || json.Unmarshal([]byte(raw), &a) != nil {
			t.Fatalf("%s: %d %s", c.body, status, raw)
		}
		if !slices.Equal(a.Destinations, c.want) {
			t.Errorf("%s: sent to %q, want %q", c.body, a.Destinations, c.want)
		}
		if got := slices.ContainsFunc(drain(t, s, "dept_urban"), func(e *minsheng.Envelope) bool { return e.ItemID == it.ID }); got != (len(c.want) == 2) {
			t.Errorf("%s: in the department's queue: %v", c.body, got)
		}
	}
}

// TestReviewRepeatAnswersAsFirst: deciding again the same way answers as
// the first time, destinations included, and acks the review message when
// the desk now holds it.
func TestReviewRepeatAnswersAsFirst(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	it := f.seed(t, "repeat-1", false)
	var first, again reviewAnswer
	status, raw := f.decide(t, "reviewers", it.ID, `{"class":"gov_service","department":"城乡建设"}`)
	if status != 200 || json.Unmarshal([]byte(raw), &first) != nil || !slices.Equal(first.Destinations, []string{"gov_service", "dept_urban"}) {
		t.Fatalf("decide: %d %s", status, raw)
	}
	for _, body := range []string{`{"class":"gov_service","department":"城乡建设"}`, `{"class":"gov_service"}`} {
		status, raw = f.decide(t, "reviewers", it.ID, body)
		if status != 200 || json.Unmarshal([]byte(raw), &again) != nil || !again.Repeat || !slices.Equal(again.Destinations, first.Destinations) ||
			!strings.Contains(again.Message, "nothing was sent on again; not acked: not_leased") {
			t.Errorf("%s again: %d %s, first %v", body, status, raw, first.Destinations)
		}
	}
	// Decided without holding its message, the item is still in the
	// review queue; the desk that is handed it settles it by deciding it
	// the same way: acked.
	if n, _ := s.QueueDepth("review"); n != 1 {
		t.Fatalf("review queue depth %d, want 1 (decided without being held)", n)
	}
	if msgs, err := s.Read(context.Background(), "review", "reviewers", 10, time.Minute, 0); err != nil || len(msgs) != 1 {
		t.Fatalf("read review: %v %v", msgs, err)
	}
	status, raw = f.decide(t, "reviewers", it.ID, `{"class":"gov_service"}`)
	if status != 200 || json.Unmarshal([]byte(raw), &again) != nil || !again.Repeat || again.Message != "a repeat: nothing was sent on again; acked" {
		t.Errorf("repeat while holding the message: %d %s", status, raw)
	}
	if n, _ := s.QueueDepth("review"); n != 0 {
		t.Errorf("review queue depth %d after the repeat acked it, want 0", n)
	}
	if n := len(drain(t, s, "dept_urban")); n != 1 {
		t.Errorf("the department holds the item %d times", n)
	}
	// A colleague's repeat without the lead the first desk raised is not
	// told of it: not in the decision, the review or the destinations.
	raised := f.seed(t, "repeat-2", false)
	if status, raw := f.decide(t, "reviewers", raised.ID, `{"class":"gov_service","discipline_lead":true}`); status != 200 {
		t.Fatalf("decide: %d %s", status, raw)
	}
	status, raw = f.decide(t, "reviewers-b", raised.ID, `{"class":"gov_service"}`)
	if status != 200 || json.Unmarshal([]byte(raw), &again) != nil || !again.Repeat || again.Decision.Flags.DisciplineLead ||
		again.Review == nil || again.Review.RaisedLead || slices.Contains(again.Destinations, "discipline") {
		t.Errorf("a repeat without the lead tells of it: %d %s", status, raw)
	}
}

// TestReviewBodyIsOneObject: a body with more than the one decision (or
// anything after it) is refused, not read as its first part.
func TestReviewBodyIsOneObject(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	it := f.seed(t, "body-1", false)
	for _, body := range []string{`{"class":"petition"}{"class":"discipline"}`, `{"class":"petition"} x`, `{"class":"petition"}]`} {
		if status, answer := f.decide(t, "reviewers", it.ID, body); status != 400 {
			t.Errorf("%s: %d %s", body, status, answer)
		}
	}
	if status, answer := f.decide(t, "reviewers", it.ID, "{\"class\":\"petition\"}\n"); status != 200 {
		t.Errorf("one object and a newline: %d %s", status, answer)
	}
}

// leavingQueues cancels the request's context once the item has reached
// the destination dest, as a reviewer's client that gives up then.
type leavingQueues struct {
	Queues
	dest   string
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (q *leavingQueues) Enqueue(ctx context.Context, envs []*minsheng.Envelope) ([]bool, error) {
	n, err := q.Queues.Enqueue(ctx, envs)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil && q.cancel != nil && slices.ContainsFunc(envs, func(e *minsheng.Envelope) bool { return e.Destination == q.dest }) {
		q.cancel()
	}
	return n, err
}

// TestReviewCompletesWhenClientLeaves: a decision that has sent the item
// on is recorded though the reviewer's client has gone: else the item sat
// in review, already with the petition bureau, and another decision would
// send it to a second body.
func TestReviewCompletesWhenClientLeaves(t *testing.T) {
	s := openStore(t)
	q := &leavingQueues{Queues: s, dest: "petition"}
	f := newReviewFixture(t, withDepartments(DefaultConfig()), q, s)
	for i := range 12 {
		it := f.seed(t, fmt.Sprint("leave-", i), false)
		ctx, cancel := context.WithCancel(context.Background())
		q.mu.Lock()
		q.cancel = cancel
		q.mu.Unlock()
		f.decideCtx(t, ctx, "reviewers", it.ID, `{"class":"petition"}`)
		cancel()
		rec, err := s.Lookup(context.Background(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Review == nil {
			t.Fatalf("item %d: routed to petition but the decision was not recorded", i)
		}
	}
}

// TestReviewConcurrentDecisions: reviewers deciding one item at once: one
// decision wins, each destination gets the item once.
func TestReviewConcurrentDecisions(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	it := f.seed(t, "race-1", true)
	classes := []string{"petition", "media_oversight", "gov_service", "invalid", "petition", "gov_service"}
	statuses := make([]int, len(classes))
	var wg sync.WaitGroup
	for i, c := range classes {
		wg.Go(func() { statuses[i], _ = f.decide(t, "reviewers", it.ID, `{"class":"`+c+`"}`) })
	}
	wg.Wait()
	rec, err := s.Lookup(context.Background(), it.ID)
	if err != nil || rec.Review == nil {
		t.Fatalf("%v %+v", err, rec)
	}
	for _, dest := range []string{"petition", "media_oversight", "gov_service", "rejected", "discipline"} {
		n := len(drain(t, s, dest))
		want := 0
		if slices.Contains(rec.Destinations, dest) {
			want = 1
		}
		if n != want {
			t.Errorf("%s holds the item %d times, want %d (statuses %v)", dest, n, want, statuses)
		}
	}
}

// TestReviewOverKafka: review and the other destinations on Kafka. The
// item goes on once, without the lead in the envelope or the headers of a
// destination not told of it; the answer says why the review message was
// not acked (the desk commits its offset as usual).
func TestReviewOverKafka(t *testing.T) {
	k := testkafka.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := openStore(t)
	f := newReviewFixture(t, kafkaConfig(k), nil, s)
	it := f.seed(t, "kafka-review-1", true)
	status, raw := f.decide(t, "reviewers", it.ID, `{"class":"petition"}`)
	var a reviewAnswer
	if status != 200 || json.Unmarshal([]byte(raw), &a) != nil || !slices.Equal(a.Destinations, []string{"petition"}) {
		t.Fatalf("decide: %d %s", status, raw)
	}
	if !strings.Contains(a.Message, "not acked") {
		t.Errorf("the answer does not say why the review message was not acked: %q", a.Message)
	}
	msgs, err := k.Read(ctx, "minsheng.petition", "test-petition", 1, 500*time.Millisecond)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("petition: %d messages, %v", len(msgs), err)
	}
	m := msgs[0]
	if got := testkafka.Header(m, "minsheng-discipline-lead"); got != strconv.FormatBool(false) {
		t.Errorf("petition's header minsheng-discipline-lead = %q", got)
	}
	for _, tell := range []string{`"discipline_lead":true`, `"lead":true`, `"code":"corruption"`, "王五", "13900000000"} {
		if strings.Contains(string(m.Value), tell) {
			t.Errorf("petition's envelope holds %s: %s", tell, m.Value)
		}
	}
	msgs, err = k.Read(ctx, "minsheng.discipline", "test-discipline", 1, 500*time.Millisecond)
	if err != nil || len(msgs) != 1 {
		t.Errorf("the inspectors hold %d messages of the item, want 1 (%v)", len(msgs), err)
	}
}

// downQueues fails every delivery to dest while down, as a destination
// that is unavailable.
type downQueues struct {
	Queues
	dest string
	down bool
}

func (q *downQueues) Enqueue(ctx context.Context, envs []*minsheng.Envelope) ([]bool, error) {
	if q.down && slices.ContainsFunc(envs, func(e *minsheng.Envelope) bool { return e.Destination == q.dest }) {
		return nil, fmt.Errorf("queue %s: %w", q.dest, minsheng.ErrUnavailable)
	}
	return q.Queues.Enqueue(ctx, envs)
}

// refusingQueues refuses every delivery to dest for good, as Kafka
// refuses a record over batch_bytes.
type refusingQueues struct {
	Queues
	dest string
}

func (q *refusingQueues) Enqueue(ctx context.Context, envs []*minsheng.Envelope) ([]bool, error) {
	if slices.ContainsFunc(envs, func(e *minsheng.Envelope) bool { return e.Destination == q.dest }) {
		return nil, &PermanentError{Err: fmt.Errorf("queue %s refuses the item", q.dest)}
	}
	return q.Queues.Enqueue(ctx, envs)
}

// TestReviewDeskNotToldOfLeadWhenDeadLettered: a decision whose
// destination refuses the item dead-letters it; the answer is the same
// for an item with a lead triage raised (which also goes to the
// inspectors' dead letter) and for one without.
func TestReviewDeskNotToldOfLeadWhenDeadLettered(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, DefaultConfig(), &refusingQueues{Queues: s, dest: "petition"}, s)
	plain, lead := f.seed(t, "dl-plain", false), f.seed(t, "dl-lead", true)
	ps, pa := f.decide(t, "reviewers", plain.ID, `{"class":"petition"}`)
	ls, la := f.decide(t, "reviewers", lead.ID, `{"class":"petition"}`)
	pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID")
	if ps != 200 || ps != ls || pa != la || !strings.Contains(pa, `"destinations":["dead_letter"]`) {
		t.Fatalf("the answers tell of the lead:\nwithout: %d %s\nwith:    %d %s", ps, pa, ls, la)
	}
	if got := drain(t, s, "discipline_dead_letter"); len(got) != 1 || got[0].ItemID != lead.ID {
		t.Errorf("the inspectors' dead letter holds %d envelopes, want the lead's item", len(got))
	}
}

// TestReviewPendingIsFinishedNotReplaced: a decision whose destination is
// down is written down but not sent on (503); another decision is then
// refused, since the first may have reached some destinations; the same
// decision again finishes it, once.
func TestReviewPendingIsFinishedNotReplaced(t *testing.T) {
	s := openStore(t)
	q := &downQueues{Queues: s, dest: "gov_service", down: true}
	f := newReviewFixture(t, withDepartments(DefaultConfig()), q, s)
	f.api.timeout = 300 * time.Millisecond
	it := f.seed(t, "pending-1", false)
	if status, raw := f.decide(t, "reviewers", it.ID, `{"class":"gov_service"}`); status != http.StatusServiceUnavailable || !strings.Contains(raw, "decide it the same way again") {
		t.Fatalf("with gov_service down: %d %s", status, raw)
	}
	rec, err := s.Lookup(context.Background(), it.ID)
	if err != nil || rec.Review == nil || !rec.Review.Pending || rec.Decision.Class != minsheng.ClassGovService || slices.Contains(rec.Destinations, "gov_service") {
		t.Fatalf("record after the failed try: %v %+v %v", err, rec.Review, rec.Destinations)
	}
	if status, raw := f.decide(t, "reviewers", it.ID, `{"class":"petition"}`); status != http.StatusConflict || !strings.Contains(raw, "is sending on") {
		t.Errorf("another decision while pending: %d %s", status, raw)
	}
	q.down = false
	status, raw := f.decide(t, "reviewers", it.ID, `{"class":"gov_service"}`)
	var a reviewAnswer
	if status != 200 || json.Unmarshal([]byte(raw), &a) != nil || !slices.Equal(a.Destinations, []string{"gov_service"}) || a.Repeat {
		t.Fatalf("finishing: %d %s", status, raw)
	}
	rec, err = s.Lookup(context.Background(), it.ID)
	if err != nil || rec.Review.Pending || !slices.Contains(rec.Destinations, "gov_service") {
		t.Fatalf("record after finishing: %v %+v %v", err, rec.Review, rec.Destinations)
	}
	steps := map[string]int{}
	for _, e := range rec.Trail {
		steps[e.Step]++
	}
	if steps[minsheng.StepReviewed] != 1 || steps[minsheng.StepRouted] != 2 {
		t.Errorf("trail: %+v", rec.Trail)
	}
	if n, err := s.QueueDepth("gov_service"); err != nil || n != 1 {
		t.Errorf("gov_service holds %d messages, want 1 (%v)", n, err)
	}
	if status, raw := f.decide(t, "reviewers", it.ID, `{"class":"gov_service"}`); status != 200 || !strings.Contains(raw, `"repeat":true`) {
		t.Errorf("after finishing, the same decision: %d %s", status, raw)
	}
	// Counted once, when finished: not for the failed try, the 409 or the repeat.
	if n := testutil.ToFloat64(f.api.decided.WithLabelValues("petition", "gov_service")); n != 1 {
		t.Errorf("minsheng_reviews_total{triage_class=petition,class=gov_service} = %v, want 1", n)
	}
	if n := testutil.CollectAndCount(f.api.Collector()); n != 1 {
		t.Errorf("%d series, want 1", n)
	}
}

// TestReviewExport: GET /v1/reviews lists the items people decided, as
// the asking desk may see them: the review desk learns of no lead (neither
// triage's nor the one it raised, which only the ledger's owner exports:
// minsheng reviews) and never the complainant; a desk that also reads the
// inspectors' destination sees the lead raised; ?since keeps the later
// decisions; other desks get 403.
func TestReviewExport(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	plain, lead := f.seed(t, "export-plain", false), f.seed(t, "export-lead", true)
	f.seed(t, "export-undecided", false)
	for id, body := range map[string]string{plain.ID: `{"class":"gov_service","department":"城乡建设","discipline_lead":true}`, lead.ID: `{"class":"media_oversight"}`} {
		if status, answer := f.decide(t, "reviewers", id, body); status != 200 {
			t.Fatalf("decide %s: %d %s", body, status, answer)
		}
	}
	get := func(desk, query string) (int, []map[string]any, string) {
		req := httptest.NewRequest("GET", "/v1/reviews"+query, nil)
		req.Header.Set("X-Desk", desk)
		w := httptest.NewRecorder()
		f.mux.ServeHTTP(w, req)
		var lines []map[string]any
		if w.Code == 200 {
			for _, l := range strings.Split(strings.TrimSpace(w.Body.String()), "\n") {
				if l == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				lines = append(lines, m)
			}
		}
		return w.Code, lines, w.Body.String()
	}
	show := func(lines []map[string]any) map[string]string {
		out := map[string]string{}
		for _, m := range lines {
			out[fmt.Sprint(m["id"])] = fmt.Sprintf("class=%v department=%v lead=%v triage=%v", m["class"], m["department"], m["discipline_lead"], m["triage_class"])
		}
		return out
	}
	for _, tc := range []struct {
		desk, query string
		status      int
		want        map[string]string
	}{
		// Not told of leads: no lead and no triage class on any line, so
		// that no line stands out as a discipline case's.
		{"reviewers", "", 200, map[string]string{
			plain.ID: "class=gov_service department=城乡建设 lead=<nil> triage=<nil>",
			lead.ID:  "class=media_oversight department=<nil> lead=<nil> triage=<nil>"}},
		{"review-cdi", "", 200, map[string]string{
			plain.ID: "class=gov_service department=城乡建设 lead=true triage=petition",
			lead.ID:  "class=media_oversight department=<nil> lead=<nil> triage=petition"}},
		{"reviewers", "?since=2026-12-01T09:00:00Z", 200, map[string]string{
			plain.ID: "class=gov_service department=城乡建设 lead=<nil> triage=<nil>",
			lead.ID:  "class=media_oversight department=<nil> lead=<nil> triage=<nil>"}},
		{"reviewers", "?since=2026-12-01T17:00:01%2B08:00", 200, map[string]string{}},
		// The offset's + as typed, which the query decodes to a space: the
		// time the 400's own example gives. It was refused with that
		// example, which a desk pasting it could not get past.
		{"reviewers", "?since=2026-12-01T17:00:01+08:00", 200, map[string]string{}},
		{"reviewers", "?since=2026-12-01T09:00:00+00:00", 200, map[string]string{
			plain.ID: "class=gov_service department=城乡建设 lead=<nil> triage=<nil>",
			lead.ID:  "class=media_oversight department=<nil> lead=<nil> triage=<nil>"}},
		{"reviewers", "?since=yesterday", 400, nil},
		{"dispatch", "", 403, nil},
		{"cdi", "", 403, nil},
	} {
		status, lines, raw := get(tc.desk, tc.query)
		if status != tc.status {
			t.Errorf("%s %s: %d %s", tc.desk, tc.query, status, raw)
			continue
		}
		if strings.Contains(raw, "王五") || strings.Contains(raw, "13900000000") {
			t.Errorf("%s %s: the export names the complainant: %s", tc.desk, tc.query, raw)
		}
		if tc.want != nil && !maps.Equal(show(lines), tc.want) {
			t.Errorf("%s %s:\n got %v\nwant %v", tc.desk, tc.query, show(lines), tc.want)
		}
	}
}

// cutShort is a ledger whose Each fails after its fortieth record.
type cutShort struct{ *store.Store }

func (c cutShort) Each(fn func(*minsheng.Record) error) error {
	n := 0
	return c.Store.Each(func(r *minsheng.Record) error {
		if n++; n > 40 {
			return errors.New("disk read error")
		}
		return fn(r)
	})
}

// TestReviewExportCutShort: an export the ledger fails in the middle of
// is broken off, so that the reader sees an error and never takes the
// lines it got for the whole.
func TestReviewExportCutShort(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, cutShort{s})
	// More lines than the answer's buffer holds, so that the 200 and the
	// first lines are sent before the ledger fails.
	for i := range 50 {
		it := f.seed(t, fmt.Sprint("cut-", i), false)
		if status, answer := f.decide(t, "reviewers", it.ID, `{"class":"petition"}`); status != 200 {
			t.Fatalf("decide: %d %s", status, answer)
		}
	}
	srv := httptest.NewServer(f.mux)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/reviews", nil)
	req.Header.Set("X-Desk", "reviewers")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the headers were not sent: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"class":"petition"`) {
		t.Fatalf("%d %.200s: want a 200 and the first lines before the break", resp.StatusCode, body)
	}
	if err == nil {
		t.Errorf("the export read whole after the ledger failed: %d %s", resp.StatusCode, body)
	}
}

// TestReviewDeskNotToldOfLeadTheInspectorsRefused: triage sent an item
// with a lead to review and to the inspectors, whose topic refused it for
// good, so that it is in their dead letter, whole. A review decision then
// sends it where the desk's decision names, and not to the inspectors'
// destinations the desk is not told of: those are the inspectors' share
// of their dead letter to re-deliver. Sent there again, their state at
// that moment decided the answer: 503 while the inspectors' topic failed
// for a while, where the same item without a lead answered 200. A
// decision that itself names the inspectors (class discipline) sends it
// there, lead or not.
func TestReviewDeskNotToldOfLeadTheInspectorsRefused(t *testing.T) {
	k := testkafka.StartT(t)
	fk := k.Fake()
	cfg := kafkaConfig(k)
	for name := range cfg.Destinations {
		if name != "discipline" {
			cfg.Destinations[name] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
		}
	}
	s := openStore(t)
	f := newReviewFixture(t, cfg, s, s)
	f.api.timeout = 500 * time.Millisecond
	for i, tc := range []struct {
		mode   kerr.Error // the inspectors' topic at review time: a failure that may pass, a refusal, or none
		body   string
		status int
	}{
		{*kerr.TopicAuthorizationFailed, `{"class":"petition"}`, 200},
		{*kerr.InvalidRecord, `{"class":"petition"}`, 200},
		{kerr.Error{}, `{"class":"petition"}`, 200},
		{*kerr.TopicAuthorizationFailed, `{"class":"discipline"}`, 503},
		{*kerr.InvalidRecord, `{"class":"discipline"}`, 200},
		{kerr.Error{}, `{"class":"discipline"}`, 200},
	} {
		t.Run(fmt.Sprint(tc.mode.Message, " ", tc.body), func(t *testing.T) {
			refused := fk.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: kerr.InvalidRecord, Count: -1})
			plain, lead := f.seed(t, fmt.Sprint("refused-plain-", i), false), f.seed(t, fmt.Sprint("refused-lead-", i), true)
			refused.Remove()
			before := lookup(t, s, lead.ID)
			if !slices.Equal(before.Destinations, []string{"review", "discipline_dead_letter"}) || !slices.Equal(undeliveredNames(before.Undelivered), []string{"discipline"}) {
				t.Fatalf("seeded as %v %v", before.Destinations, undeliveredNames(before.Undelivered))
			}
			drain(t, s, "discipline_dead_letter")
			if tc.mode.Code != 0 {
				mode := tc.mode
				h := fk.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: &mode, Count: -1})
				defer h.Remove()
			}
			ps, pa := f.decide(t, "reviewers", plain.ID, tc.body)
			ls, la := f.decide(t, "reviewers", lead.ID, tc.body)
			pa, la = strings.ReplaceAll(pa, plain.ID, "ID"), strings.ReplaceAll(la, lead.ID, "ID")
			t.Logf("without: %d %s\nwith:    %d %s", ps, pa, ls, la)
			if ps != tc.status || ps != ls || pa != la {
				t.Errorf("the answers tell of the lead:\nwithout: %d %s\nwith:    %d %s", ps, pa, ls, la)
			}
			if pv, lv := f.reviewDeskView(t, plain.ID), f.reviewDeskView(t, lead.ID); pv != lv {
				t.Errorf("the views tell of the lead:\nwithout: %s\nwith:    %s", pv, lv)
			}
			if tc.body != `{"class":"petition"}` {
				return
			}
			// Their topic was not sent the item, and the record still names
			// it undelivered, for the inspectors to re-deliver.
			if n := len(drain(t, s, "discipline_dead_letter")); n != 0 {
				t.Errorf("the inspectors' dead letter was sent the item %d times more", n)
			}
			after := lookup(t, s, lead.ID)
			if !slices.Equal(undeliveredNames(after.Undelivered), []string{"discipline"}) || slices.Contains(after.Destinations, "discipline") || !slices.Contains(after.Destinations, "petition") {
				t.Errorf("the record after the decision: %v %v", after.Destinations, undeliveredNames(after.Undelivered))
			}
		})
	}
}
