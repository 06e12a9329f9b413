package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
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
	// MaxInFlight is how many produce requests may be out at once per broker.
	MaxInFlight int `yaml:"max_in_flight" default:"2" validate:"gte=1,lte=16"`
	// MaxBatch caps the messages of one partition in one produce request.
	MaxBatch int `yaml:"max_batch" default:"1000" validate:"gte=1,lte=100000"`
	// BatchBytes caps one partition's batch in a request, and so a message;
	// keep it at or below the broker's message.max.bytes (1 MiB by default).
	BatchBytes   int64         `yaml:"batch_bytes" default:"1MiB" validate:"gte=65536"`
	WriteTimeout time.Duration `yaml:"write_timeout" default:"10s" validate:"gt=0"`
	// AnswerGrace is how long a route whose time (pipeline.route_timeout)
	// has ended still waits for the broker's answer to records already
	// sent: a record the broker takes then is recorded as taken, not
	// sent again by the next attempt. Records not sent yet are dropped at
	// the deadline whatever it is; 0 waits for nothing.
	AnswerGrace time.Duration `yaml:"answer_grace" default:"2s" validate:"gte=0,lte=30s"`
	Compression string        `yaml:"compression" default:"none" validate:"oneof=none gzip snappy lz4 zstd"`
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
	return KafkaConfig{ClientID: "minsheng", MaxInFlight: 2, MaxBatch: 1000, BatchBytes: 1 << 20,
		WriteTimeout: 10 * time.Second, AnswerGrace: 2 * time.Second, Compression: "none", Partitions: 6, ReplicationFactor: 1}
}

func (c KafkaConfig) transport() (*kafka.Transport, error) {
	t := &kafka.Transport{ClientID: c.ClientID, DialTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	var err error
	if t.TLS, err = c.tlsConfig(); err != nil {
		return nil, under("kafka", err)
	}
	if t.SASL, err = c.saslMechanism(); err != nil {
		return nil, under("kafka", err)
	}
	return t, nil
}

// CheckFiles reads what the transport reads when the gateway starts (the
// TLS certificates and key, the SASL password), so that a check of the
// configuration finds what would stop run. Errors name the field under
// kafka ("tls.ca_file").
func (c KafkaConfig) CheckFiles() error {
	var all minsheng.FieldErrors
	_, terr := c.tlsConfig()
	_, serr := c.saslMechanism()
	for _, err := range []error{terr, serr} {
		var fes minsheng.FieldErrors
		if errors.As(err, &fes) {
			all = append(all, fes...)
		} else if err != nil {
			all = append(all, minsheng.FieldError{Msg: err.Error()})
		}
	}
	return all.Err()
}

// under puts the fields of a field error under path, and wraps any other.
func under(path string, err error) error {
	var fes minsheng.FieldErrors
	if errors.As(err, &fes) {
		return fes.Prefix(path)
	}
	return fmt.Errorf("%s: %w", path, err)
}

func (c KafkaConfig) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	fail := func(field, msg string) error { return minsheng.FieldErrors{{Path: "tls." + field, Msg: msg}} }
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fail("ca_file", err.Error())
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fail("ca_file", "no certificate in "+c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		return nil, fail("key_file", "required with cert_file")
	case c.TLS.KeyFile != "" && c.TLS.CertFile == "":
		return nil, fail("cert_file", "required with key_file")
	case c.TLS.CertFile != "":
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fail("cert_file", err.Error())
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// checkSASL refuses SASL settings the broker could not take: a username
// or password with no mechanism (SASL would be off, unnoticed), or a
// mechanism with no username.
func (c KafkaConfig) checkSASL() minsheng.FieldErrors {
	s := c.SASL
	switch {
	case s.Mechanism == "" && (s.Username != "" || s.PasswordEnv != "" || s.PasswordFile != ""):
		return minsheng.FieldErrors{{Path: "kafka.sasl.mechanism", Msg: "is required with a username or password (plain, scram-sha-256 or scram-sha-512); without it SASL is off"}}
	case s.Mechanism != "" && s.Username == "":
		return minsheng.FieldErrors{{Path: "kafka.sasl.username", Msg: "is required with a mechanism"}}
	}
	return nil
}

func (c KafkaConfig) saslMechanism() (sasl.Mechanism, error) {
	if c.SASL.Mechanism == "" {
		return nil, nil
	}
	pw, err := minsheng.ReadSecretField("password_env", c.SASL.PasswordEnv, "password_file", c.SASL.PasswordFile)
	if err != nil {
		return nil, under("sasl", err)
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
		return nil, minsheng.FieldErrors{{Path: "sasl.mechanism", Msg: err.Error()}}
	}
	return m, nil
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

// KafkaSink writes envelopes to Kafka topics: acks from all in-sync replicas,
// synchronous (Deliver returns once the brokers acked), the item ID as the
// key (so repeats land on one partition and consumers can drop them), and
// headers for class, channel, trace, schema and model version. Partitions
// are chosen by kafka-go's Hash balancer (FNV-1a of the key, as Sarama and
// kafka-go's Writer do). See producer.go for how requests are batched.
type KafkaSink struct {
	cfg   KafkaConfig
	topic func(dest string) string
	p     *producer
	// creating is set while kafka.create_topics' topics are not all
	// created yet (topics.go): records are refused as unavailable then,
	// not sent to a topic that a broker would create with its own
	// defaults, or not at all.
	creating atomic.Bool
}

// NewKafkaSink connects nothing yet: the producer dials on first use. topic
// names the topic of a destination.
func NewKafkaSink(cfg KafkaConfig, topic func(dest string) string) (*KafkaSink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	tr, err := cfg.transport()
	if err != nil {
		return nil, err
	}
	return &KafkaSink{cfg: cfg, topic: topic, p: newProducer(cfg, tr)}, nil
}

// EnsureTopics creates those of topics that do not exist yet. It asks on
// the producer's own transport, so that the producer sees the topics it
// created at once (kafka-go refreshes a transport's metadata after
// CreateTopics), and asks the cluster's metadata first: a broker that
// cannot be reached, or that refuses the gateway's SASL credentials, is
// reported as such (CreateTopics alone says only "Broker Not Available"),
// and topics that exist are not created again (no CREATE right needed).
// A topic the cluster refuses to create is a *TopicRefusedError.
func (s *KafkaSink) EnsureTopics(ctx context.Context, topics []string) error {
	client := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Timeout: 10 * time.Second, Transport: s.p.tr}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	exists := map[string]bool{}
	for _, t := range meta.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			exists[t.Name] = true
		}
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		if !exists[t] {
			req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: s.cfg.Partitions, ReplicationFactor: s.cfg.ReplicationFactor})
		}
	}
	if len(req.Topics) == 0 {
		return nil
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	for _, t := range slices.Sorted(maps.Keys(resp.Errors)) {
		if e := resp.Errors[t]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return &TopicRefusedError{Topic: t, Err: e}
		}
	}
	return nil
}

// TopicRefusedError is a topic the cluster answered it would not create
// (too few brokers alive for replication_factor, no right to create, a
// policy).
type TopicRefusedError struct {
	Topic string
	Err   error
}

func (e *TopicRefusedError) Error() string {
	return fmt.Sprintf("kafka: create topic %s: %v", e.Topic, e.Err)
}
func (e *TopicRefusedError) Unwrap() error { return e.Err }

// authRefused reports whether err is the brokers refusing the gateway's
// SASL credentials or mechanism.
func authRefused(err error) bool {
	return errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) ||
		errors.Is(err, kafka.IllegalSASLState)
}

// Deliver writes the envelopes and returns after the brokers acked them all.
func (s *KafkaSink) Deliver(ctx context.Context, envs []*minsheng.Envelope) error {
	msgs := make([]kafka.Message, 0, len(envs))
	for _, e := range envs {
		m, err := s.message(e)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	for _, err := range s.send(ctx, msgs) {
		if err != nil {
			return err
		}
	}
	return nil
}

// message encodes an envelope as a record; one over batch_bytes, which no
// broker would take, is refused with a *PermanentError.
func (s *KafkaSink) message(e *minsheng.Envelope) (kafka.Message, error) {
	m, err := kafkaMessage(s.topic(e.Destination), e)
	if err != nil {
		return kafka.Message{}, err
	}
	if err := s.p.checkSize(m); err != nil {
		return kafka.Message{}, err
	}
	return m, nil
}

// send writes records made by message and returns after the brokers
// answered them all: one answer per record, nil for a record acked.
func (s *KafkaSink) send(ctx context.Context, msgs []kafka.Message) []error {
	if s.creating.Load() {
		errs := make([]error, len(msgs))
		for i := range errs {
			errs[i] = errTopicsNotCreated
		}
		return errs
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	return s.p.send(wctx, msgs)
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
		if e.Decision.Class != "" { // empty where withheld (decisionFor)
			h = append(h, kafka.Header{Key: "minsheng-class", Value: []byte(e.Decision.Class)})
		}
		h = append(h,
			kafka.Header{Key: "minsheng-model-version", Value: []byte(e.Decision.ModelVersion)},
			kafka.Header{Key: "minsheng-discipline-lead", Value: []byte(strconv.FormatBool(e.Decision.Flags.DisciplineLead))})
		if e.Decision.Case != nil {
			h = append(h, kafka.Header{Key: "minsheng-case", Value: []byte(e.Decision.Case.ID)})
		}
	}
	if e.Item != nil {
		h = append(h, kafka.Header{Key: "minsheng-channel", Value: []byte(e.Item.Channel)})
	} else if e.Quarantine != nil {
		h = append(h, kafka.Header{Key: "minsheng-channel", Value: []byte(e.Quarantine.Channel)})
	}
	return kafka.Message{Topic: topic, Key: []byte(e.ItemID), Value: val, Headers: h, Time: e.RoutedAt}, nil
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

// Close answers the writes in flight and stops the producer.
func (s *KafkaSink) Close() error {
	s.p.close()
	return nil
}

// Ping checks that a broker answers and the topics create_topics asks
// for are created (for readiness).
func (s *KafkaSink) Ping(ctx context.Context) error {
	var d net.Dialer
	for _, b := range s.cfg.Brokers {
		c, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			c.Close()
			if s.creating.Load() {
				return errTopicsNotCreated
			}
			return nil
		}
	}
	return fmt.Errorf("kafka: no broker answers: %w", minsheng.ErrUnavailable)
}

var errTopicsNotCreated = fmt.Errorf("kafka: the destination topics are not created yet (create_topics; retrying): %w", minsheng.ErrUnavailable)

// PermanentError is a delivery the destination refuses for this item, so
// that retrying cannot help: the item goes to the dead letter destination.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
