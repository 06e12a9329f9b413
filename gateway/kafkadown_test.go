package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/router"
)

// TestStartsWithKafkaDown: a gateway whose destinations are partly on Kafka
// starts while no broker answers (before, with create_topics it exited at
// start: router: kafka: create topics: ... Broker Not Available), serves
// the desks: an item for Kafka is answered 503 with Retry-After, one for
// the embedded queue is routed; and when the broker comes back (empty:
// the topics missing) the topics are created without a restart, the next
// post and the refused one posted again are routed, each once.
func TestStartsWithKafkaDown(t *testing.T) {
	for _, create := range []bool{true, false} {
		t.Run(map[bool]string{true: "create_topics", false: "topics_by_hand"}[create], func(t *testing.T) {
			k := testkafka.StartDownT(t)
			c := testConfig(t, k)
			c.Kafka.CreateTopics = create
			for _, d := range []string{"rejected", "dead_letter", "discipline_dead_letter"} {
				c.Destinations[d] = router.Destination{Sink: router.SinkQueue, Identity: router.IdentityAuto}
			}
			logs := &logBuffer{}
			g, url, stop := serveDown(t, c, logs.logger())
			defer stop()
			var a answer
			if !waitUntil(10*time.Second, func() bool {
				a = call(t, "GET", url+"/readyz", "", "", nil)
				return a.status == http.StatusServiceUnavailable && strings.Contains(string(a.body), "kafka")
			}) {
				t.Fatalf("/readyz: %d %s, want 503 for Kafka", a.status, a.body)
			}

			// Bound for Kafka: 503, nothing acknowledged.
			if a = post(t, url, "KD-1", 0); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
				t.Fatalf("post for Kafka with the broker down: %d %s (Retry-After %q), want 503 with Retry-After", a.status, a.body, a.header.Get("Retry-After"))
			}
			// Bound for the embedded queue: routed.
			a = post(t, url, "KD-2", 4)
			if a.status != http.StatusAccepted {
				t.Fatalf("post for the embedded queue with Kafka down: %d %s", a.status, a.body)
			}
			var acc desk.Accepted
			a.decode(t, &acc)
			if !slices.Equal(acc.Destinations, []string{"rejected"}) {
				t.Fatalf("the spam went to %v, the test wants rejected (an embedded queue)", acc.Destinations)
			}
			if n, err := g.Store().QueueDepth("rejected"); err != nil || n != 1 {
				t.Fatalf("rejected queue holds %d (%v), want 1", n, err)
			}

			if err := k.Restart(); err != nil {
				t.Fatal(err)
			}
			if !create {
				for name, d := range c.Destinations {
					if d.Sink == router.SinkKafka {
						if err := k.CreateTopics("minsheng." + name); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if !waitUntil(20*time.Second, func() bool {
				a = call(t, "GET", url+"/readyz", "", "", nil)
				return a.status == http.StatusOK
			}) {
				t.Fatalf("/readyz 20 s after the broker came back: %d %s", a.status, a.body)
			}
			if create && k.Fake().TopicInfo("minsheng.gov_service") == nil {
				t.Fatal("ready, and minsheng.gov_service not created")
			}
			ids := map[string]bool{}
			for _, ref := range []string{"KD-3", "KD-1"} { // the next post, and the refused one again
				a := post(t, url, ref, 0)
				// A topic created by hand reaches the producer with its
				// transport's next metadata refresh (within 6 s): until
				// then the desk posts again, as the 503 asks. Those the
				// gateway creates it sees at once.
				for try := 0; !create && a.status == http.StatusServiceUnavailable && try < 10; try++ {
					time.Sleep(time.Second)
					a = post(t, url, ref, 0)
				}
				if a.status != http.StatusAccepted {
					t.Fatalf("post %s after the broker came back: %d %s", ref, a.status, a.body)
				}
				var acc desk.Accepted
				a.decode(t, &acc)
				ids[acc.ID] = true
			}
			rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer rcancel()
			msgs, err := k.Read(rctx, "minsheng.gov_service", "kafkadown", len(ids), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, m := range msgs {
				seen[string(m.Key)]++
			}
			for id := range ids {
				if seen[id] != 1 {
					t.Errorf("%s: %d copies in minsheng.gov_service, want 1", id, seen[id])
				}
			}
			if len(msgs) != len(ids) {
				t.Errorf("minsheng.gov_service holds %d records, want %d", len(msgs), len(ids))
			}
			if n, err := g.Store().QueueDepth("rejected"); err != nil || n != 1 {
				t.Errorf("rejected queue holds %d (%v), want 1", n, err)
			}
			stop()
			if create {
				// Once at start, not once a try; once when done.
				if n := strings.Count(logs.String(), "cannot create the destination topics yet"); n != 1 {
					t.Errorf("warned %d times that the topics could not be created, want 1", n)
				}
				if n := strings.Count(logs.String(), "destination topics created"); n != 1 {
					t.Errorf("logged %d times that the topics were created, want 1", n)
				}
			}
		})
	}
}

// TestStopWhileCreatingTopics: a gateway stopped while its topics are
// still being created in the background (the broker down) stops at once.
func TestStopWhileCreatingTopics(t *testing.T) {
	_, _, stop := serveDown(t, testConfig(t, testkafka.StartDownT(t)), slog.New(slog.DiscardHandler))
	time.Sleep(1500 * time.Millisecond) // a few tries in
	start := time.Now()
	stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stopping took %v", took)
	}
}

// serveDown opens and serves a gateway that may not be ready (start waits
// for /readyz), and returns its URL and a stop that waits for Serve to
// end (10 s at most), once however often it is called.
func serveDown(t *testing.T, c *Config, log *slog.Logger) (*Gateway, string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := Open(ctx, c, log)
	if err != nil {
		cancel()
		t.Fatalf("start with Kafka down: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		g.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("not stopped 10 s after asked")
		}
	})
	t.Cleanup(stop)
	return g, "http://" + ln.Addr().String(), stop
}
