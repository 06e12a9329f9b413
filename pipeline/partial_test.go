package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/store"
)

// leadTriager decides every item a service request with a discipline lead:
// 12345 dispatch and the inspectors.
type leadTriager struct{}

func (leadTriager) Decide(context.Context, *minsheng.Item) (minsheng.Decision, error) {
	return minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9, ModelVersion: "lead-test",
		Flags: minsheng.Flags{DisciplineLead: true}}, nil
}

// TestPartlyRefusedItemAckedOnceAndNotRoutedAgain: the inspectors' topic
// refuses an item for good (its max.message.bytes) after 12345's queue
// took it. The source is acked once, without error; the record names
// 12345 as holding the item and the inspectors' destination as not, with
// why; and the source offering the item again is answered from the
// record: 12345 does not get it twice, nor the dead letter.
func TestPartlyRefusedItemAckedOnceAndNotRoutedAgain(t *testing.T) {
	k := testkafka.StartT(t)
	if err := k.Fake().CreateTopic("minsheng.discipline", 1, map[string]string{"max.message.bytes": "50000"}); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg := router.DefaultConfig()
	cfg.Destinations["discipline"] = router.Destination{Sink: router.SinkKafka, Identity: router.IdentityAuto}
	cfg.Kafka.Brokers = k.Addrs()
	r, err := router.New(context.Background(), cfg, router.Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := New(Config{}, Options{Triager: leadTriager{}, Router: r, Ledger: s})
	if err != nil {
		t.Fatal(err)
	}
	it := item("P-1", "路灯坏了")
	it.Attrs = map[string]string{} // 80 KB that only the inspectors' copy carries
	for i := range 40 {
		it.Attrs[fmt.Sprint("scan-", i)] = strings.Repeat("x", 2000)
	}
	var acks atomic.Int64
	e := countingEmitter{p.Emitter(), &acks}
	offer := func() result { return emit(t, e, it) }
	first := offer()
	if first.err != nil {
		t.Fatalf("ack: %v", first.err)
	}
	t.Logf("acked with %v", first.out.Destinations)
	if want := []string{"gov_service", "discipline_dead_letter"}; !slices.Equal(first.out.Destinations, want) {
		t.Errorf("acked with destinations %v, want %v (12345 holds the item)", first.out.Destinations, want)
	}
	rec, err := s.Lookup(context.Background(), first.out.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Destinations []string `json:"destinations"`
		Undelivered  []struct {
			Destination string `json:"destination"`
			Reason      string `json:"reason"`
		} `json:"undelivered"`
	}
	b, _ := json.Marshal(rec)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Destinations, first.out.Destinations) || len(got.Undelivered) != 1 ||
		got.Undelivered[0].Destination != "discipline" || !strings.Contains(got.Undelivered[0].Reason, "Too Large") {
		t.Errorf("record: destinations %v, undelivered %+v; want the ack's and the inspectors' refusal", got.Destinations, got.Undelivered)
	}
	again := offer()
	if again.err != nil || !again.out.Duplicate {
		t.Errorf("offered again: %+v %v, want a repeat", again.out, again.err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := acks.Load(); n != 2 {
		t.Errorf("%d acks for two offers", n)
	}
	for dest, want := range map[string]int{"gov_service": 1, "dead_letter": 0, "discipline_dead_letter": 1} {
		if n := depth(t, s, dest); n != want {
			t.Errorf("%s holds %d messages, want %d", dest, n, want)
		}
	}
}

// countingEmitter counts the acks its items are given.
type countingEmitter struct {
	minsheng.Emitter
	acks *atomic.Int64
}

func (e countingEmitter) Emit(ctx context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	return e.Emitter.Emit(ctx, it, func(o minsheng.Outcome, err error) {
		e.acks.Add(1)
		ack(o, err)
	})
}
