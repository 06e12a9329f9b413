package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	minsheng "github.com/minsheng/minsheng"
)

// KafkaConfig is the connection to the Kafka cluster.
type KafkaConfig struct {
	Brokers  []string `yaml:"brokers" validate:"dive,hostname_port"`
	ClientID string   `yaml:"client_id" default:"minsheng"`
	// Linger is how long a partition's batch waits for more messages before
	// it is sent (kafka-go's BatchTimeout, whose 1 s default would make every
	// lone write take a second).
	Linger time.Duration `yaml:"linger" default:"1ms" validate:"gte=0,lte=1s"`
	// MaxBatch caps messages per produce call.
	MaxBatch int `yaml:"max_batch" default:"1000" validate:"gte=1,lte=100000"`
	// BatchBytes caps a batch's size; keep it at or below the broker's
	// message.max.bytes (1 MiB by default).
	BatchBytes int64 `yaml:"batch_bytes" default:"1MiB" validate:"gte=65536"`
	// Flushers is how many produce calls may be in flight at once.
	Flushers     int           `yaml:"flushers" default:"4" validate:"gte=1,lte=64"`
	WriteTimeout time.Duration `yaml:"write_timeout" default:"10s" validate:"gt=0"`
	Compression  string        `yaml:"compression" default:"none" validate:"oneof=none gzip snappy lz4 zstd"`
	// CreateTopics creates missing destination topics at start (for test and
	// first installs; production clusters usually create them by hand).
	CreateTopics      bool `yaml:"create_topics"`
	Partitions        int  `yaml:"partitions" default:"6" validate:"gte=1"`
	ReplicationFactor int  `yaml:"replication_factor" default:"1" validate:"gte=1"`
	TLS               struct {
		Enabled    bool   `yaml:"enabled"`
		CAFile     string `yaml:"ca_file"`
		CertFile   string `yaml:"cert_file"`
		KeyFile    string `yaml:"key_file"`
		ServerName string `yaml:"server_name"`
	} `yaml:"tls"`
	SASL struct {
		Mechanism    string `yaml:"mechanism" validate:"omitempty,oneof=plain scram-sha-256 scram-sha-512"`
		Username     string `yaml:"username"`
		PasswordEnv  string `yaml:"password_env"`
		PasswordFile string `yaml:"password_file"`
	} `yaml:"sasl"`
}

// DefaultKafkaConfig has the defaults the tags give.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{ClientID: "minsheng", Linger: time.Millisecond, MaxBatch: 1000, BatchBytes: 1 << 20,
		Flushers: 4, WriteTimeout: 10 * time.Second, Compression: "none", Partitions: 6, ReplicationFactor: 1}
}

func (c KafkaConfig) transport() (*kafka.Transport, error) {
	t := &kafka.Transport{ClientID: c.ClientID, DialTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	if c.TLS.Enabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka.tls.ca_file: no certificate in %s", c.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		t.TLS = tc
	}
	if c.SASL.Mechanism != "" {
		pw, err := minsheng.ReadSecret(c.SASL.PasswordEnv, c.SASL.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl password: %w", err)
		}
		var m sasl.Mechanism
		switch c.SASL.Mechanism {
		case "plain":
			m = plain.Mechanism{Username: c.SASL.Username, Password: pw}
		case "scram-sha-256":
			m, err = scram.Mechanism(scram.SHA256, c.SASL.Username, pw)
		case "scram-sha-512":
			m, err = scram.Mechanism(scram.SHA512, c.SASL.Username, pw)
		}
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		t.SASL = m
	}
	return t, nil
}

func (c KafkaConfig) compression() kafka.Compression {
	switch c.Compression {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

// KafkaSink writes envelopes to Kafka topics with one shared kafka-go
// Writer: acks from all in-sync replicas (RequireAll), synchronous (never
// Async, which drops errors), the item ID as the key (so repeats land on one
// partition and consumers can drop them), and headers for class, channel,
// trace, schema and model version.
//
// Concurrent Deliver calls are gathered into one produce call of up to
// MaxBatch messages, with Flushers calls in flight at once: under load the
// writer sends large batches, while a lone item waits only for Linger.
type KafkaSink struct {
	cfg   KafkaConfig
	topic func(dest string) string
	w     *kafka.Writer
	reqs  chan *kreq
	stop  chan struct{}
	done  chan struct{}
}

type kreq struct {
	msgs []kafka.Message
	err  chan error
}

// NewKafkaSink connects nothing yet: the writer dials on first use. topic
// names the topic of a destination.
func NewKafkaSink(cfg KafkaConfig, topic func(dest string) string) (*KafkaSink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	tr, err := cfg.transport()
	if err != nil {
		return nil, err
	}
	s := &KafkaSink{
		cfg:   cfg,
		topic: topic,
		w: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			Async:        false,
			BatchTimeout: cfg.Linger,
			BatchSize:    cfg.MaxBatch,
			BatchBytes:   cfg.BatchBytes,
			// A few quick attempts inside kafka-go; the router retries
			// further with its own backoff until the route timeout.
			MaxAttempts:     3,
			WriteBackoffMin: 20 * time.Millisecond,
			WriteBackoffMax: 200 * time.Millisecond,
			WriteTimeout:    cfg.WriteTimeout,
			ReadTimeout:     cfg.WriteTimeout,
			Compression:     cfg.compression(),
			Transport:       tr,
		},
		reqs: make(chan *kreq, 4096),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// EnsureTopics creates the topics that do not exist yet.
func (s *KafkaSink) EnsureTopics(ctx context.Context, topics []string) error {
	tr, err := s.cfg.transport()
	if err != nil {
		return err
	}
	client := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Timeout: 10 * time.Second, Transport: tr}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: s.cfg.Partitions, ReplicationFactor: s.cfg.ReplicationFactor})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	for t, e := range resp.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", t, e)
		}
	}
	return nil
}

// Deliver writes the envelopes and returns after the brokers acked them all.
func (s *KafkaSink) Deliver(ctx context.Context, envs []*minsheng.Envelope) error {
	r := &kreq{msgs: make([]kafka.Message, 0, len(envs)), err: make(chan error, 1)}
	for _, e := range envs {
		m, err := kafkaMessage(s.topic(e.Destination), e)
		if err != nil {
			return err
		}
		r.msgs = append(r.msgs, m)
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return minsheng.ErrStopping
	}
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		// It may still land; the caller retries under the same key.
		return ctx.Err()
	}
}

func kafkaMessage(topic string, e *minsheng.Envelope) (kafka.Message, error) {
	val, err := marshalEnvelope(e)
	if err != nil {
		return kafka.Message{}, err
	}
	h := []kafka.Header{
		{Key: "minsheng-kind", Value: []byte(e.Kind)},
		{Key: "minsheng-destination", Value: []byte(e.Destination)},
		{Key: "minsheng-schema-version", Value: []byte(e.SchemaVersion)},
	}
	if e.TraceID != "" {
		h = append(h, kafka.Header{Key: "minsheng-trace-id", Value: []byte(e.TraceID)})
	}
	if e.Decision != nil {
		h = append(h,
			kafka.Header{Key: "minsheng-class", Value: []byte(e.Decision.Class)},
			kafka.Header{Key: "minsheng-model-version", Value: []byte(e.Decision.ModelVersion)},
			kafka.Header{Key: "minsheng-discipline-lead", Value: []byte(strconv.FormatBool(e.Decision.Flags.DisciplineLead))})
	}
	if e.Item != nil {
		h = append(h, kafka.Header{Key: "minsheng-channel", Value: []byte(e.Item.Channel)})
	} else if e.Quarantine != nil {
		h = append(h, kafka.Header{Key: "minsheng-channel", Value: []byte(e.Quarantine.Channel)})
	}
	return kafka.Message{Topic: topic, Key: []byte(e.ItemID), Value: val, Headers: h, Time: e.RoutedAt}, nil
}

func (s *KafkaSink) run() {
	defer close(s.done)
	sem := make(chan struct{}, s.cfg.Flushers)
	for {
		var first *kreq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			// wait for flushes in flight
			for range s.cfg.Flushers {
				sem <- struct{}{}
			}
			return
		}
		batch := []*kreq{first}
		n := len(first.msgs)
	gather:
		for n < s.cfg.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += len(r.msgs)
			default:
				break gather
			}
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			s.flush(batch, n)
		}()
	}
}

func (s *KafkaSink) flush(batch []*kreq, n int) {
	msgs := make([]kafka.Message, 0, n)
	for _, r := range batch {
		msgs = append(msgs, r.msgs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout+time.Second)
	err := s.w.WriteMessages(ctx, msgs...)
	cancel()
	var werrs kafka.WriteErrors
	if err != nil && errors.As(err, &werrs) && len(werrs) == len(msgs) {
		i := 0
		for _, r := range batch {
			var first error
			for range r.msgs {
				if werrs[i] != nil && first == nil {
					first = werrs[i]
				}
				i++
			}
			r.err <- wrapKafka(first)
		}
		return
	}
	for _, r := range batch {
		r.err <- wrapKafka(err)
	}
}

// wrapKafka marks item-specific refusals as permanent (dead letter) and
// everything else as unavailable (retry, then refuse the source).
func wrapKafka(err error) error {
	if err == nil {
		return nil
	}
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return &PermanentError{Err: err}
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.MessageSizeTooLarge, kafka.InvalidMessageSize, kafka.RecordListTooLarge,
			kafka.InvalidRecord, kafka.InvalidTimestamp:
			return &PermanentError{Err: err}
		}
	}
	return fmt.Errorf("kafka: %w: %w", minsheng.ErrUnavailable, err)
}

// Close stops taking writes, waits for those in flight and closes the writer.
func (s *KafkaSink) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.done
	return s.w.Close()
}

// Ping checks that a broker answers (for readiness).
func (s *KafkaSink) Ping(ctx context.Context) error {
	var d net.Dialer
	for _, b := range s.cfg.Brokers {
		c, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("kafka: no broker answers: %w", minsheng.ErrUnavailable)
}

// PermanentError is a delivery the destination refuses for this item, so
// that retrying cannot help: the item goes to the dead letter destination.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
