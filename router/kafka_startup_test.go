package router

import (
	"context"
	"errors"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
)

// TestStartsWithBrokerDownAndCreatesTopicsLater: with create_topics, a
// router built while no broker answers is built (before, New failed and
// the gateway did not start), refuses what goes to Kafka as unavailable,
// and creates the topics once the broker is back, after which items flow.
func TestStartsWithBrokerDownAndCreatesTopicsLater(t *testing.T) {
	k := testkafka.StartDownT(t)
	cfg := kafkaConfig(k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := New(ctx, cfg, Options{})
	if err != nil {
		t.Fatalf("New with the broker down: %v", err)
	}
	defer r.Close()
	if err := r.Health(ctx); err == nil {
		t.Error("healthy with the broker down")
	}
	d := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9}
	rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = r.Route(rctx, testItem("down-1"), d)
	rcancel()
	if !errors.Is(err, minsheng.ErrUnavailable) {
		t.Fatalf("route with the broker down: %v, want ErrUnavailable", err)
	}
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { return k.Fake().TopicInfo("minsheng.gov_service") != nil }) {
		t.Fatal("minsheng.gov_service not created 20 s after the broker came back")
	}
	if !waitFor(10*time.Second, func() bool { return r.Health(ctx) == nil }) {
		t.Errorf("not healthy after the topics were created: %v", r.Health(ctx))
	}
	it := testItem("down-2")
	if _, err := r.Route(ctx, it, d); err != nil {
		t.Fatalf("route after the broker came back: %v", err)
	}
	n, err := k.Copies(ctx, "minsheng.gov_service", "startup", it.ID, 1, 500*time.Millisecond)
	if err != nil || n != 1 {
		t.Fatalf("%d copies of %s in minsheng.gov_service (%v), want 1", n, it.ID, err)
	}
}

// TestCloseBoundedWhileCreatingTopics: closing a router whose topics are
// still being created in the background (the broker down) returns at once.
func TestCloseBoundedWhileCreatingTopics(t *testing.T) {
	k := testkafka.StartDownT(t)
	r, err := New(context.Background(), kafkaConfig(k), Options{})
	if err != nil {
		t.Fatalf("New with the broker down: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // a few tries in
	start := time.Now()
	r.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v while the topics were being created", took)
	}
}

func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
