package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// queueStep is one request a desk makes to the queue API. For a read, want
// is the item IDs leased, comma-separated; for ack and release, the JSON
// answer; for a pause, nothing.
type queueStep struct {
	desk, op string // op: read, ack, release, pause
	ids      []string
	lease    string // read: the lease asked for (default 1m)
	want     string
}

// TestQueueLeaseHolders: ack and release act only on what the calling desk
// holds (a lease that ran out still counts until another desk reads the
// message), and the answer names every ID not acted on.
func TestQueueLeaseHolders(t *testing.T) {
	tests := []struct {
		name  string
		steps []queueStep
	}{
		{"lease then ack", []queueStep{
			{desk: "desk-a", op: "read", want: "m1,m2"},
			{desk: "desk-a", op: "ack", ids: []string{"m1", "m2"}, want: `{"acked":2,"not_acked":[]}`},
			{desk: "desk-a", op: "read", lease: "1ms", want: ""},
		}},
		{"ack without a lease", []queueStep{
			{desk: "desk-a", op: "ack", ids: []string{"m1"}, want: `{"acked":0,"not_acked":[{"id":"m1","reason":"not_leased"}]}`},
			{desk: "desk-a", op: "read", want: "m1,m2"},
		}},
		{"ack of another desk's lease", []queueStep{
			{desk: "desk-a", op: "read", want: "m1,m2"},
			{desk: "desk-b", op: "ack", ids: []string{"m1"}, want: `{"acked":0,"not_acked":[{"id":"m1","reason":"leased_by_other"}]}`},
			{desk: "desk-a", op: "ack", ids: []string{"m1"}, want: `{"acked":1,"not_acked":[]}`},
		}},
		{"release of another desk's lease", []queueStep{
			{desk: "desk-a", op: "read", want: "m1,m2"},
			{desk: "desk-b", op: "release", ids: []string{"m1"}, want: `{"released":0,"not_released":[{"id":"m1","reason":"leased_by_other"}]}`},
			{desk: "desk-b", op: "read", want: ""},
			{desk: "desk-a", op: "ack", ids: []string{"m1"}, want: `{"acked":1,"not_acked":[]}`},
		}},
		{"release then another desk leases", []queueStep{
			{desk: "desk-a", op: "read", want: "m1,m2"},
			{desk: "desk-a", op: "release", ids: []string{"m2"}, want: `{"released":1,"not_released":[]}`},
			{desk: "desk-b", op: "read", want: "m2"},
			{desk: "desk-a", op: "ack", ids: []string{"m2"}, want: `{"acked":0,"not_acked":[{"id":"m2","reason":"leased_by_other"}]}`},
			{desk: "desk-b", op: "ack", ids: []string{"m2"}, want: `{"acked":1,"not_acked":[]}`},
		}},
		{"unknown ids", []queueStep{
			{desk: "desk-a", op: "read", want: "m1,m2"},
			{desk: "desk-a", op: "release", ids: []string{"nope"}, want: `{"released":0,"not_released":[{"id":"nope","reason":"unknown"}]}`},
			{desk: "desk-a", op: "ack", ids: []string{"m1", "nope", "m1"}, want: `{"acked":1,"not_acked":[{"id":"nope","reason":"unknown"}]}`},
			{desk: "desk-a", op: "ack", ids: []string{"m1"}, want: `{"acked":0,"not_acked":[{"id":"m1","reason":"unknown"}]}`},
		}},
		{"ack after the lease expired, no one else having read it", []queueStep{
			{desk: "desk-a", op: "read", lease: "50ms", want: "m1,m2"},
			{op: "pause"},
			{desk: "desk-a", op: "ack", ids: []string{"m1"}, want: `{"acked":1,"not_acked":[]}`},
			{desk: "desk-a", op: "read", want: "m2"},
		}},
		{"ack after the lease expired and another desk leased it", []queueStep{
			{desk: "desk-a", op: "read", lease: "50ms", want: "m1,m2"},
			{op: "pause"},
			{desk: "desk-b", op: "read", want: "m1,m2"},
			{desk: "desk-a", op: "ack", ids: []string{"m1"}, want: `{"acked":0,"not_acked":[{"id":"m1","reason":"leased_by_other"}]}`},
			{desk: "desk-a", op: "release", ids: []string{"m2"}, want: `{"released":0,"not_released":[{"id":"m2","reason":"leased_by_other"}]}`},
			{desk: "desk-b", op: "ack", ids: []string{"m1", "m2"}, want: `{"acked":2,"not_acked":[]}`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := queueAPI(t, "m1", "m2")
			for i, st := range tc.steps {
				if st.op == "pause" {
					time.Sleep(120 * time.Millisecond)
					continue
				}
				status, got := queueCall(t, mux, st)
				if status != http.StatusOK {
					t.Fatalf("step %d (%s %s): status %d %s", i, st.desk, st.op, status, got)
				}
				if st.op == "read" {
					got = leasedIDs(t, got)
				} else {
					got = canonicalJSON(t, got)
					st.want = canonicalJSON(t, st.want)
				}
				if got != st.want {
					t.Fatalf("step %d (%s %s %v): got %s, want %s", i, st.desk, st.op, st.ids, got, st.want)
				}
			}
		})
	}
}

// queueAPI serves the queue API over a fresh store whose petition queue
// holds the given items, to desks named in the X-Desk header (desk-a and
// desk-b read petition).
func queueAPI(t *testing.T, ids ...string) http.Handler {
	t.Helper()
	s := openStore(t)
	var envs []*minsheng.Envelope
	for _, id := range ids {
		envs = append(envs, &minsheng.Envelope{SchemaVersion: "1", Destination: "petition", Kind: minsheng.KindItem, ItemID: id})
	}
	if _, err := s.Enqueue(context.Background(), envs); err != nil {
		t.Fatal(err)
	}
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	NewQueueAPI(r).Register(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			p := &minsheng.Principal{Name: req.Header.Get("X-Desk"), Reads: []string{"petition"}}
			h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), p)))
		})
	})
	return mux
}

func queueCall(t *testing.T, mux http.Handler, st queueStep) (int, string) {
	t.Helper()
	var req *http.Request
	if st.op == "read" {
		lease := st.lease
		if lease == "" {
			lease = "1m"
		}
		req = httptest.NewRequest("GET", "/v1/queues/petition?max=10&lease="+lease, nil)
	} else {
		body, _ := json.Marshal(map[string][]string{"ids": st.ids})
		req = httptest.NewRequest("POST", "/v1/queues/petition/"+st.op, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Desk", st.desk)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func leasedIDs(t *testing.T, body string) string {
	t.Helper()
	var got struct {
		Messages []minsheng.QueuedMessage `json:"messages"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var ids []string
	for _, m := range got.Messages {
		ids = append(ids, m.Envelope.ItemID)
	}
	return strings.Join(ids, ",")
}

func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// TestLongPollEndsWithAnswer: a long poll that the gateway ends before
// its wait (on shutdown it cancels every request's context) answers 503
// with Retry-After and a JSON reason, not an empty 200 that a reader
// would fail to parse or take for "no messages"; nothing is leased, so
// the next read gets the message.
func TestLongPollEndsWithAnswer(t *testing.T) {
	mux := queueAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/v1/queues/petition?max=10&wait=30s", nil).WithContext(ctx)
	req.Header.Set("X-Desk", "desk-a")
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { mux.ServeHTTP(w, req); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not end when its context was cancelled")
	}
	var body struct{ Error, Message string }
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error != "unavailable" {
		t.Fatalf("%d Retry-After %q: %q", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
}
