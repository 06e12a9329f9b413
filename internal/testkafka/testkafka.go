// Package testkafka runs a real Kafka-protocol broker in process for tests
// and benchmarks (franz-go's kfake cluster) and reads topics back with
// kafka-go consumer groups, the way a downstream desk would.
package testkafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is an in-process kfake cluster that can be stopped and started
// again on the same port, keeping its data (to simulate a broker outage).
type Cluster struct {
	c       *kfake.Cluster
	port    int
	dataDir string
	brokers int
	parts   int32
}

// Start starts a cluster of n brokers with topics of parts partitions,
// persisting to dataDir ("" keeps data in memory only, and Restart then
// starts empty; kfake's memory mode grows costly as data accumulates, so
// benchmarks should give a directory).
func Start(n int, parts int32, dataDir string) (*Cluster, error) {
	k := &Cluster{brokers: n, dataDir: dataDir, parts: parts}
	if err := k.start(); err != nil {
		return nil, err
	}
	return k, nil
}

// StartT starts a 1-broker, 6-partition cluster for a test and stops it at
// the test's end.
func StartT(t testing.TB) *Cluster {
	t.Helper()
	k, err := Start(1, 6, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	return k
}

// StartDownT is StartT's cluster stopped at once: nothing listens on its
// addresses (a broker outage, or brokers not up yet) until Restart, which
// brings it back without topics.
func StartDownT(t testing.TB) *Cluster {
	t.Helper()
	k := StartT(t)
	k.Stop()
	return k
}

func (k *Cluster) start() error {
	opts := []kfake.Opt{kfake.NumBrokers(k.brokers), kfake.DefaultNumPartitions(int(k.parts)), kfake.AllowAutoTopicCreation()}
	if k.dataDir != "" {
		opts = append(opts, kfake.DataDir(k.dataDir))
	}
	if k.port != 0 {
		ports := make([]int, k.brokers)
		for i := range ports {
			ports[i] = k.port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	k.c = c
	if k.port == 0 {
		_, p, _ := net.SplitHostPort(c.ListenAddrs()[0])
		k.port, _ = strconv.Atoi(p)
	}
	return nil
}

// Addrs are the brokers' addresses.
func (k *Cluster) Addrs() []string {
	out := make([]string, k.brokers)
	for i := range out {
		out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port+i))
	}
	return out
}

// Fake is the running kfake cluster, for tests that control requests
// (kfake.Cluster.ControlKey) or set topic configs; nil while stopped.
func (k *Cluster) Fake() *kfake.Cluster { return k.c }

// Stop stops the brokers; clients see connections refused.
func (k *Cluster) Stop() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// Restart starts the brokers again on the same ports and data directory.
// The port may take a moment to be free again.
func (k *Cluster) Restart() error {
	k.Stop()
	var err error
	for range 50 {
		if err = k.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// CreateTopics creates topics with the cluster's partition count.
func (k *Cluster) CreateTopics(topics ...string) error {
	for _, t := range topics {
		if err := k.c.CreateTopic(t, k.parts, nil); err != nil && !errors.Is(err, kfakeExists) {
			if k.c.TopicInfo(t) == nil {
				return fmt.Errorf("create %s: %w", t, err)
			}
		}
	}
	return nil
}

var kfakeExists = errors.New("exists")

// SetTopicConfig sets one of a topic's configs (max.message.bytes, say)
// through the admin protocol, as an operator's kafka-configs.sh would.
func (k *Cluster) SetTopicConfig(ctx context.Context, topic, name, value string) error {
	c := &kafka.Client{Addr: kafka.TCP(k.Addrs()...)}
	resp, err := c.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: name, Value: value, ConfigOperation: kafka.ConfigOperationSet}},
	}}})
	if err != nil {
		return fmt.Errorf("set %s of %s: %w", name, topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return fmt.Errorf("set %s of %s: %w", name, topic, r.Error)
		}
	}
	return nil
}

// Read consumes a topic from the start with a consumer group, committing
// offsets as a real consumer would, until it has want messages and then no
// further message arrives for linger (so surplus messages are caught too),
// or ctx ends.
func (k *Cluster) Read(ctx context.Context, topic, group string, want int, linger time.Duration) ([]kafka.Message, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.Addrs(), Topic: topic, GroupID: group,
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20,
		MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	var out []kafka.Message
	for {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		if len(out) >= want {
			fctx, cancel = context.WithTimeout(ctx, linger)
		}
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if len(out) >= want && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return out, nil
			}
			return out, fmt.Errorf("read %s: got %d of %d: %w", topic, len(out), want, err)
		}
		out = append(out, m)
		if err := r.CommitMessages(ctx, m); err != nil {
			return out, err
		}
	}
}

// Copies reads a topic as Read does and counts the messages keyed key (an
// item's ID): how many copies of the item the topic holds.
func (k *Cluster) Copies(ctx context.Context, topic, group, key string, want int, linger time.Duration) (int, error) {
	msgs, err := k.Read(ctx, topic, group, want, linger)
	n := 0
	for _, m := range msgs {
		if string(m.Key) == key {
			n++
		}
	}
	return n, err
}

// Header returns a message header's value.
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
