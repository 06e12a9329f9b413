package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRefusedCredentials: a broker that answers that it refuses the SASL
// credentials or mechanism (Apache Kafka's SASL_AUTHENTICATION_FAILED,
// UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE) stops the start, as
// before: no retry can pass, the password being read at start only.
// kfake answers no such error (it closes the connection on a wrong
// password, which kafka-go reports as an unexpected EOF, as for a broker
// that drops the connection): the router built against it starts, and
// retries in the background. So the errors are checked as EnsureTopics
// returns them, and kfake's behaviour as it is.
func TestRefusedCredentials(t *testing.T) {
	for _, e := range []error{kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState} {
		err := fmt.Errorf("kafka: create topics: kafka.(*Client).Metadata: %w", fmt.Errorf("%w: bad credentials", e))
		if !authRefused(err) || topicsState(err) != "credentials refused" {
			t.Errorf("%v: not taken for refused credentials", err)
		}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "minsheng", "right"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfig()
	for name := range cfg.Destinations {
		cfg.Destinations[name] = Destination{Sink: SinkKafka, Identity: IdentityAuto}
	}
	cfg.Kafka.Brokers = c.ListenAddrs()
	cfg.Kafka.CreateTopics = true
	cfg.Kafka.SASL.Mechanism = "plain"
	cfg.Kafka.SASL.Username = "minsheng"
	t.Setenv("MS_TEST_KAFKA_PW", "wrong")
	cfg.Kafka.SASL.PasswordEnv = "MS_TEST_KAFKA_PW"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, cfg, Options{})
	if err != nil {
		t.Fatalf("kfake drops the connection on a wrong password (no refusal answered): %v", err)
	}
	if r.creator == nil || r.Health(ctx) == nil {
		t.Error("ready, and no topics being created, with a password kfake refuses")
	}
	r.Close()
	t.Setenv("MS_TEST_KAFKA_PW", "right")
	r, err = New(ctx, cfg, Options{})
	if err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	defer r.Close()
	if r.creator != nil || c.TopicInfo("minsheng.gov_service") == nil {
		t.Error("right credentials: the topics were not created at start")
	}
}
