// Package imap is the mayor's-mailbox connector (type "imap"): it reads one
// or more IMAP mailboxes, turns each mail into an item of the
// mayor_mailbox channel, and advances a durable per-mailbox checkpoint
// (UIDVALIDITY and the highest contiguously acknowledged UID) only after
// the pipeline has acknowledged the mail.
//
// See README.md in this folder for the configuration, the checkpoint and
// UIDVALIDITY policy, what happens after an ack, and charset handling.
package imap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
)

// Type is the connector type name used in configuration.
const Type = "imap"

func init() {
	connectors.RegisterConfig(Type, New)
}

// TLS modes.
const (
	TLSImplicit = "implicit" // TLS from the first byte (port 993)
	TLSStartTLS = "starttls" // plaintext, then STARTTLS (port 143)
	TLSNone     = "none"     // no TLS at all: only when set explicitly
)

// After-ack actions.
const (
	AfterAckNone = "none" // leave the mail as it is (the checkpoint is the record)
	AfterAckSeen = "seen" // set \Seen
	AfterAckMove = "move" // move to MoveTo
)

// Config is the imap connector's configuration section.
type Config struct {
	// Address of the server, host:port.
	Address string `yaml:"address" json:"address" validate:"required,hostname_port"`
	// TLS: implicit, starttls or none.
	TLS string `yaml:"tls" json:"tls" default:"implicit" validate:"oneof=implicit starttls none"`
	// InsecureSkipVerify turns off certificate checks (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
	// ServerName for certificate checks, when not the address's host.
	ServerName string `yaml:"server_name" json:"server_name"`
	// Username to log in with.
	Username string `yaml:"username" json:"username" validate:"required,max=256"`
	// PasswordEnv / PasswordFile name where the password is kept (never
	// put the password itself in the configuration).
	PasswordEnv  string `yaml:"password_env" json:"password_env"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// Mailboxes to read, each on a connection of its own.
	Mailboxes []string `yaml:"mailboxes" json:"mailboxes" default:"INBOX" validate:"min=1,max=64,unique,dive,required,max=256"`
	// PollInterval: how often a mailbox is polled when IDLE is off or not
	// offered; with IDLE, how often it is re-checked anyway.
	PollInterval time.Duration `yaml:"poll_interval" json:"poll_interval" default:"1m" validate:"gt=0"`
	// Idle: wait for new mail with IDLE where the server offers it
	// (default true).
	Idle *bool `yaml:"idle" json:"idle"`
	// MaxMessageBytes: a larger mail is quarantined with the reason, its
	// body never fetched.
	MaxMessageBytes int64 `yaml:"max_message_bytes" json:"max_message_bytes" default:"25MiB" validate:"gte=1024"`
	// FetchTimeout bounds the fetch of one message.
	FetchTimeout time.Duration `yaml:"fetch_timeout" json:"fetch_timeout" default:"2m" validate:"gt=0"`
	// FetchBatch: messages asked for in one UID FETCH.
	FetchBatch int `yaml:"fetch_batch" json:"fetch_batch" default:"200" validate:"gte=1,lte=10000"`
	// Workers parse and store fetched mail concurrently (blob writes share
	// their syncs, so more workers mean fewer syncs per mail).
	Workers int `yaml:"workers" json:"workers" default:"128" validate:"gte=1,lte=1024"`
	// BufferBytes bounds the fetched mail held in memory awaiting the
	// workers (one larger message still passes, alone).
	BufferBytes int64 `yaml:"buffer_bytes" json:"buffer_bytes" default:"64MiB" validate:"gte=65536"`
	// AfterAck: none, seen or move.
	AfterAck string `yaml:"after_ack" json:"after_ack" default:"none" validate:"oneof=none seen move"`
	// MoveTo is the folder acknowledged mail goes to (after_ack: move).
	MoveTo string `yaml:"move_to" json:"move_to" validate:"required_if=AfterAck move,max=256"`
	// MinBackoff and MaxBackoff bound the reconnect backoff.
	MinBackoff time.Duration `yaml:"min_backoff" json:"min_backoff" default:"1s" validate:"gt=0"`
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff" default:"5m" validate:"gtefield=MinBackoff"`
	// CheckpointEvery: how often acknowledged progress is written.
	CheckpointEvery time.Duration `yaml:"checkpoint_every" json:"checkpoint_every" default:"1s" validate:"gt=0"`
	// QuarantineRawMax: raw bytes of a quarantined mail up to this size
	// travel with the dead letter record; all of it goes to the blob store.
	// -1: never inline.
	QuarantineRawMax int `yaml:"quarantine_raw_max" json:"quarantine_raw_max" default:"65536" validate:"gte=-1"`
	// FetchAttempts: a message whose fetch times out or breaks the
	// connection this many times in a row is quarantined unread, so the
	// mailbox never stalls.
	FetchAttempts int `yaml:"fetch_attempts" json:"fetch_attempts" default:"3" validate:"gte=1"`
}

// Validate refuses after_ack move into a mailbox the connector reads: the
// server refuses the move after every ack (or the mail would come back
// under a new UID). INBOX is INBOX in any case (RFC 3501).
func (c *Config) Validate() minsheng.FieldErrors {
	if c.AfterAck != AfterAckMove || c.MoveTo == "" {
		return nil
	}
	mailboxes := c.Mailboxes
	if len(mailboxes) == 0 {
		mailboxes = []string{"INBOX"}
	}
	for _, mb := range mailboxes {
		if mb == c.MoveTo || strings.EqualFold(mb, "INBOX") && strings.EqualFold(c.MoveTo, "INBOX") {
			return minsheng.FieldErrors{{Path: "move_to", Msg: fmt.Sprintf("%q is a mailbox this input reads (mailboxes); move acknowledged mail to another", c.MoveTo)}}
		}
	}
	return nil
}

func (c *Config) applyDefaults() {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.TLS, TLSImplicit)
	def(&c.AfterAck, AfterAckNone)
	if len(c.Mailboxes) == 0 {
		c.Mailboxes = []string{"INBOX"}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defDur(&c.PollInterval, time.Minute)
	defDur(&c.FetchTimeout, 2*time.Minute)
	defDur(&c.MinBackoff, time.Second)
	defDur(&c.MaxBackoff, 5*time.Minute)
	defDur(&c.CheckpointEvery, time.Second)
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&c.FetchBatch, 200)
	defInt(&c.Workers, 128)
	defInt(&c.QuarantineRawMax, 64<<10)
	defInt(&c.FetchAttempts, 3)
	if c.BufferBytes == 0 {
		c.BufferBytes = 64 << 20
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 25 << 20
	}
}

// Connector is a running imap connector.
type Connector struct {
	name     string
	cfg      Config
	env      connectors.Env
	log      *slog.Logger
	password string
	idle     bool

	fetched     *prometheus.CounterVec
	parsed      *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	lag         *prometheus.GaugeVec
	lastFetch   *prometheus.GaugeVec
	resets      *prometheus.CounterVec
}

// New builds an imap connector named name. Zero config fields take their
// defaults.
func New(name string, cfg Config, env connectors.Env) (*Connector, error) {
	cfg.applyDefaults()
	if err := minsheng.Validator().Struct(cfg); err != nil {
		return nil, minsheng.ValidationErrors(err, "Config")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	pw, err := minsheng.ReadSecretField("password_env", cfg.PasswordEnv, "password_file", cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	c := &Connector{name: name, cfg: cfg, env: env, log: env.Logger, password: pw, idle: cfg.Idle == nil || *cfg.Idle}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	labels := prometheus.Labels{"instance": name}
	mb := []string{"mailbox"}
	c.fetched = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_imap_fetched_total", Help: "Messages fetched, per mailbox.", ConstLabels: labels}, mb)
	c.parsed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_imap_parsed_total", Help: "Messages parsed and emitted as items, per mailbox.", ConstLabels: labels}, mb)
	c.quarantined = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_imap_quarantined_total", Help: "Messages quarantined, per mailbox and reason kind (unparseable, too_large, fetch_failed).", ConstLabels: labels}, []string{"mailbox", "reason"})
	c.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "minsheng_imap_lag_messages", Help: "Server's highest UID (UIDNEXT-1, or the highest seen) minus the checkpoint's UID, per mailbox.", ConstLabels: labels}, mb)
	c.lastFetch = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "minsheng_imap_last_fetch_timestamp_seconds", Help: "Unix time of the last successful fetch pass, per mailbox.", ConstLabels: labels}, mb)
	c.resets = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_imap_uidvalidity_changes_total", Help: "UIDVALIDITY changes seen (the mailbox is then read again from the start), per mailbox.", ConstLabels: labels}, mb)
	if env.Metrics != nil {
		for _, col := range []prometheus.Collector{c.fetched, c.parsed, c.quarantined, c.lag, c.lastFetch, c.resets} {
			if err := env.Metrics.Register(col); err != nil {
				return nil, fmt.Errorf("imap %s: metrics: %w", name, err)
			}
		}
	}
	return c, nil
}

// Run reads every configured mailbox until ctx is cancelled.
func (c *Connector) Run(ctx context.Context, out minsheng.Emitter) error {
	if c.env.Checkpoints == nil || c.env.Blobs == nil {
		return errors.New("imap: needs a checkpoint store and a blob store")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.cfg.Mailboxes))
	for i, name := range c.cfg.Mailboxes {
		m := &mailbox{c: c, name: name, key: "imap/" + c.name + "/" + name, log: c.log.With("mailbox", name), attempts: map[uint32]int{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.run(ctx, out)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
