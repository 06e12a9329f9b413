package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// How kafka.create_topics creates the topics: a first try at start, bounded
// so that brokers whose hosts do not answer at all delay the start by
// topicsTry at most, then tries in the background, topicsBackoff apart at
// first and doubling up to topicsMaxBackoff, each bounded by topicsTry.
var (
	topicsTry        = 5 * time.Second
	topicsBackoff    = 250 * time.Millisecond
	topicsMaxBackoff = 5 * time.Second
)

// topicCreator creates the destination topics in the background when they
// could not be created at start (the brokers down or not all up yet), so
// that the gateway starts and serves every intake meanwhile: what goes to
// Kafka is refused as unavailable (KafkaSink.creating), as when a broker
// is down, until the topics exist.
type topicCreator struct {
	sink   *KafkaSink
	topics []string
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// createTopics creates the topics, trying once at start. A broker that
// answers and refuses the gateway's SASL credentials stops the start (the
// error is returned): no retry can pass, since the password is read at
// start only. Any other failure (no broker answers, a topic refused, ctx's
// time) leaves the sink refusing records and a creator trying again in the
// background, which the caller stops (stop) before closing the sink; nil
// when the topics were created at once. The error is returned too when
// ctx itself ended (the start was called off).
func createTopics(ctx context.Context, s *KafkaSink, topics []string, log *slog.Logger) (*topicCreator, error) {
	tctx, cancel := context.WithTimeout(ctx, topicsTry)
	err := s.EnsureTopics(tctx, topics)
	cancel()
	switch {
	case err == nil:
		return nil, nil
	case ctx.Err() != nil:
		return nil, err
	case authRefused(err):
		return nil, fmt.Errorf("%w (the brokers refuse the SASL credentials: check kafka.sasl and the password)", err)
	}
	s.creating.Store(true)
	bg, stop := context.WithCancel(context.Background())
	c := &topicCreator{sink: s, topics: topics, log: log, cancel: stop, done: make(chan struct{})}
	state := topicsState(err)
	c.logState(state, err, 1)
	go c.run(bg, state)
	return c, nil
}

// run tries until the topics are created or ctx ends, logging once per
// change of state, not once per try.
func (c *topicCreator) run(ctx context.Context, state string) {
	defer close(c.done)
	start := time.Now()
	wait := topicsBackoff
	for tries := 2; ; tries++ {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, topicsMaxBackoff)
		tctx, cancel := context.WithTimeout(ctx, topicsTry)
		err := c.sink.EnsureTopics(tctx, c.topics)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			c.sink.creating.Store(false)
			c.log.Info("kafka: destination topics created; items go to Kafka again", "topics", len(c.topics), "tries", tries,
				"after", time.Since(start).Round(time.Millisecond).String())
			return
		}
		if s := topicsState(err); s != state {
			state = s
			c.logState(state, err, tries)
		}
	}
}

func (c *topicCreator) logState(state string, err error, tries int) {
	msg := "kafka: cannot create the destination topics yet (create_topics): items for Kafka are refused as unavailable (503 to desks, left unacknowledged at their sources) until they are created; trying again in the background"
	lvl := slog.LevelWarn
	if state == "credentials refused" {
		lvl = slog.LevelError
		msg = "kafka: the brokers refuse the SASL credentials: the destination topics cannot be created, and nothing goes to Kafka until they accept them; trying again in the background"
	}
	c.log.Log(context.Background(), lvl, msg, "state", state, "tries", tries, "err", err)
}

// stop ends the background tries and waits for the one under way, which
// ends with ctx.
func (c *topicCreator) stop() {
	c.cancel()
	<-c.done
}

// topicsState is what a failure says of the cluster, for logging once per
// change: no broker reached, the credentials refused, or a topic refused
// with the broker's error.
func topicsState(err error) string {
	var refused *TopicRefusedError
	switch {
	case authRefused(err):
		return "credentials refused"
	case errors.As(err, &refused):
		var ke kafka.Error
		if errors.As(err, &ke) {
			return "topic refused: " + ke.Title()
		}
		return "topic refused"
	}
	return "unreachable"
}
