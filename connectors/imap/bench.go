package imap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/imap/internal/dovetest"
)

// BenchOptions configure an ingest throughput run against a private
// Dovecot.
type BenchOptions struct {
	// Messages to load (the corpus is cycled; each copy gets a unique
	// Message-ID).
	Messages int
	// Corpus is a folder of .eml files (read recursively), e.g. the
	// trec06c subset.
	Corpus string
	// Dir holds Dovecot's configuration, mail and logs.
	Dir string
	// Workers and FetchBatch of the connector (0: defaults).
	Workers, FetchBatch int
}

// BenchServer is a private Dovecot loaded with the benchmark's mail.
type BenchServer struct {
	srv      *dovetest.Server
	Messages int
	Bytes    int64
	LoadTime time.Duration
}

// Stop stops Dovecot.
func (b *BenchServer) Stop() { b.srv.Stop() }

// LoadBench starts Dovecot under o.Dir and appends o.Messages mails to its
// INBOX over IMAP (four connections).
func LoadBench(o BenchOptions) (*BenchServer, error) {
	corpus, err := readCorpus(o.Corpus)
	if err != nil {
		return nil, err
	}
	srv, err := dovetest.Start(o.Dir)
	if err != nil {
		return nil, err
	}
	b := &BenchServer{srv: srv, Messages: o.Messages}
	start := time.Now()
	var next, total atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := imapclient.DialInsecure(srv.Addr, nil)
			if err != nil {
				errs[w] = err
				return
			}
			defer cl.Close()
			if err := cl.Login(dovetest.User, dovetest.Password).Wait(); err != nil {
				errs[w] = err
				return
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Messages {
					return
				}
				raw := uniqueMessageID(corpus[i%len(corpus)], i)
				total.Add(int64(len(raw)))
				if err := appendRaw(cl, "INBOX", raw); err != nil {
					errs[w] = fmt.Errorf("append %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		srv.Stop()
		return nil, err
	}
	b.LoadTime, b.Bytes = time.Since(start), total.Load()
	// Start the measurements with nothing of the load left to write back.
	syscall.Sync()
	return b, nil
}

func readCorpus(dir string) ([][]byte, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(p, ".md") && !strings.HasSuffix(p, ".tsv") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("corpus %s: no files", dir)
	}
	out := make([][]byte, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// uniqueMessageID puts a fresh Message-ID first and renames the mail's own.
func uniqueMessageID(raw []byte, i int) []byte {
	end := headerEnd(raw)
	hdr := bytes.ReplaceAll(raw[:end], []byte("\nMessage-ID:"), []byte("\nX-Original-Message-ID:"))
	hdr = bytes.ReplaceAll(hdr, []byte("\nMessage-Id:"), []byte("\nX-Original-Message-ID:"))
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <bench-%d@minsheng.test>\r\n", i)
	b.Write(hdr)
	b.Write(raw[end:])
	return b.Bytes()
}

// BenchResult is what an ingest run measured.
type BenchResult struct {
	Messages int
	Elapsed  time.Duration
}

// PerSecond is the measured throughput in messages per second.
func (r BenchResult) PerSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// Bench runs a connector against the loaded server into out and measures
// the time from its start until every message has been acknowledged by out
// (for the gateway: routed to every destination).
func (b *BenchServer) Bench(ctx context.Context, o BenchOptions, out minsheng.Emitter, env connectors.Env) (BenchResult, error) {
	const envVar = "MINSHENG_IMAP_BENCH_PASSWORD"
	os.Setenv(envVar, dovetest.Password)
	defer os.Unsetenv(envVar)
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := New("bench", Config{
		Address: b.srv.Addr, TLS: TLSNone, Username: dovetest.User, PasswordEnv: envVar,
		Workers: o.Workers, FetchBatch: o.FetchBatch, PollInterval: time.Hour,
	}, env)
	if err != nil {
		return BenchResult{}, err
	}
	ce := &countingEmitter{inner: out, all: make(chan struct{})}
	ce.want.Store(int64(b.Messages))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(rctx, ce) }()
	var werr error
	select {
	case <-ce.all:
	case <-ctx.Done():
		werr = ctx.Err()
	case err := <-done:
		werr = fmt.Errorf("connector stopped: %w", err)
		done <- err
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return BenchResult{}, fmt.Errorf("%w (acked %d of %d)", werr, ce.acked.Load(), b.Messages)
	}
	if f := ce.failed.Load(); f > 0 {
		return BenchResult{}, fmt.Errorf("%d acks carried errors", f)
	}
	return BenchResult{Messages: b.Messages, Elapsed: elapsed}, nil
}

// countingEmitter passes items on and closes all when want acks have come
// back without error.
type countingEmitter struct {
	inner         minsheng.Emitter
	want          atomic.Int64
	acked, failed atomic.Int64
	all           chan struct{}
	once          sync.Once
}

func (e *countingEmitter) wrap(ack minsheng.AckFunc) minsheng.AckFunc {
	return func(o minsheng.Outcome, err error) {
		if err != nil {
			e.failed.Add(1)
		} else if e.acked.Add(1) == e.want.Load() {
			e.once.Do(func() { close(e.all) })
		}
		ack(o, err)
	}
}

func (e *countingEmitter) Emit(ctx context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	return e.inner.Emit(ctx, it, e.wrap(ack))
}

func (e *countingEmitter) Quarantine(ctx context.Context, q *minsheng.Quarantined, ack minsheng.AckFunc) error {
	return e.inner.Quarantine(ctx, q, e.wrap(ack))
}

// Mbsync runs isync's mbsync (the reference) to copy the loaded INBOX into
// a new maildir under dir with its default, durable settings (FSync yes),
// and measures it.
func (b *BenchServer) Mbsync(ctx context.Context, dir string) (BenchResult, error) {
	bin, err := exec.LookPath("mbsync")
	if err != nil {
		return BenchResult{}, errors.New("mbsync is not installed (apt-get install -y isync)")
	}
	md := filepath.Join(dir, "maildir")
	if err := os.MkdirAll(md, 0o700); err != nil {
		return BenchResult{}, err
	}
	_, port, _ := strings.Cut(b.srv.Addr, ":")
	conf := fmt.Sprintf(`IMAPAccount bench
Host 127.0.0.1
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
`, port, dovetest.User, dovetest.Password, md, md)
	cf := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return BenchResult{}, err
	}
	logf, err := os.Create(filepath.Join(dir, "mbsync.log"))
	if err != nil {
		return BenchResult{}, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, bin, "-c", cf, "bench")
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(logf.Name())
		return BenchResult{}, fmt.Errorf("mbsync: %w: %s", err, log)
	}
	elapsed := time.Since(start)
	got, _ := os.ReadDir(filepath.Join(md, "INBOX", "new"))
	cur, _ := os.ReadDir(filepath.Join(md, "INBOX", "cur"))
	if n := len(got) + len(cur); n != b.Messages {
		return BenchResult{}, fmt.Errorf("mbsync copied %d of %d messages", n, b.Messages)
	}
	return BenchResult{Messages: b.Messages, Elapsed: elapsed}, nil
}

// appendRaw appends one message with IMAP APPEND.
func appendRaw(cl *imapclient.Client, mailbox string, raw []byte) error {
	cmd := cl.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}
