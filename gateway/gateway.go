// Package gateway assembles the whole gateway from its configuration: the
// state store, desk authentication, triage, the router and its sinks, the
// pipeline, the desk API, the configured inputs and the HTTP server with
// /metrics, /healthz and /readyz. cmd/minsheng parses flags and signals and
// calls it; tests run the same assembly in-process.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/config"
	"github.com/minsheng/minsheng/connectors"
	_ "github.com/minsheng/minsheng/connectors/all"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/connectors/importfile"
	"github.com/minsheng/minsheng/pipeline"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/store"
	"github.com/minsheng/minsheng/triage"
	"github.com/minsheng/minsheng/triage/cases"
)

// Config is the whole configuration file: the sections each package
// defines, composed. See docs/config.md.
type Config struct {
	Data   string `yaml:"data"`
	Listen string `yaml:"listen" default:"127.0.0.1:8080" validate:"hostname_port"`
	// MetricsListen serves /metrics on its own address (an internal
	// network) instead of beside the desk API.
	MetricsListen string `yaml:"metrics_listen" validate:"omitempty,hostname_port"`
	Log           struct {
		Level  string `yaml:"level" default:"info" validate:"oneof=debug info warn error"`
		Format string `yaml:"format" default:"json" validate:"oneof=json text"`
	} `yaml:"log"`
	Store struct {
		// NoSync skips fsync of the queues and checkpoints: they survive a
		// crash of the gateway, not of the machine. For tests and benchmarks.
		NoSync bool `yaml:"no_sync"`
		// LedgerSyncInterval: how often the ledger (trails) is fsynced.
		LedgerSyncInterval time.Duration `yaml:"ledger_sync_interval" default:"200ms" validate:"gt=0,lte=10s"`
		// SkipCorruptLedger: open a ledger damaged in mid-segment by
		// skipping the damaged span (minsheng run --skip-corrupt-ledger, for
		// one start; never from the file, so that it is not left on).
		SkipCorruptLedger bool `yaml:"-"`
		// BlobGC collects blobs nothing refers to (store.CollectBlobs).
		BlobGC BlobGCConfig `yaml:"blob_gc"`
	} `yaml:"store"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" default:"30s" validate:"gt=0"`

	Pipeline pipeline.Config   `yaml:"pipeline"`
	Intake   desk.Config       `yaml:"intake"`
	Desks    []auth.DeskConfig `yaml:"desks"`
	Triage   triage.Config     `yaml:"triage"`
	// Cases links an item to earlier items with the same demand.
	Cases cases.Config `yaml:"cases"`

	Destinations map[string]router.Destination `yaml:"destinations"`
	Routes       router.Routes                 `yaml:"routes"`
	Kafka        router.KafkaConfig            `yaml:"kafka"`
	Retry        router.RetryConfig            `yaml:"retry"`

	Inputs []config.Node `yaml:"inputs"`

	// filled by Validate
	inputs []inputSpec
	// filled by Load: lines for errors found after loading
	lines config.Lines
}

// BlobGCConfig is store.blob_gc: removing raw originals and attachments
// that no record or queued message refers to (those of items whose
// routing failed for good), by the running gateway or by `minsheng blobs
// gc` on a stopped one.
type BlobGCConfig struct {
	// Interval: how often the running gateway collects, the first time at
	// start; 0, the default, never (the command alone).
	Interval time.Duration `yaml:"interval" validate:"omitempty,gte=1m"`
	// Grace: a blob stored, or stored again, less than this long ago is
	// kept even when nothing refers to it, as an item in flight may.
	Grace time.Duration `yaml:"grace" default:"24h" validate:"gte=1h"`
}

// maxSourceName is the item schema's cap on source (minsheng.Item.Source).
const maxSourceName = 128

type inputSpec struct {
	Name, Type string
	Node       *yaml.Node
	Path       string
}

func (c *Config) RouterConfig() router.Config {
	return router.Config{Destinations: c.Destinations, Routes: c.Routes, Kafka: c.Kafka, Retry: c.Retry}
}

// DefaultConfig is what an empty file (or none) gives: the embedded
// default, every destination an embedded queue.
func DefaultConfig() *Config {
	c := &Config{Triage: triage.DefaultConfig(), Cases: cases.DefaultConfig()}
	rc := router.DefaultConfig()
	c.Destinations, c.Routes, c.Kafka, c.Retry = rc.Destinations, rc.Routes, rc.Kafka, rc.Retry
	return c
}

// Validate checks the routing as a whole and the inputs against their
// connectors' own config types.
func (c *Config) Validate() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	errs = append(errs, c.RouterConfig().Validate()...)
	known := map[string]bool{}
	for i, d := range c.Desks {
		for j, r := range d.Reads {
			if _, ok := c.Destinations[r]; !ok {
				errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("desks[%d].reads[%d]", i, j), Msg: fmt.Sprintf("destination %q is not defined", r)})
			}
		}
	}
	c.inputs = nil
	for i, n := range c.Inputs {
		path := fmt.Sprintf("inputs[%d]", i)
		if n.Kind != yaml.MappingNode {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: "must be a mapping with a name and one connector type"})
			continue
		}
		spec := inputSpec{}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			if k.Value == "name" {
				spec.Name = v.Value
				continue
			}
			if spec.Type != "" {
				errs = append(errs, minsheng.FieldError{Path: path + "." + k.Value, Line: k.Line, Msg: fmt.Sprintf("an input has one connector type; %q is already given", spec.Type)})
				continue
			}
			if _, ok := connectors.Lookup(k.Value); !ok {
				errs = append(errs, minsheng.FieldError{Path: path + "." + k.Value, Line: k.Line, Msg: fmt.Sprintf("unknown connector type (known: %s)", strings.Join(connectors.Types(), ", "))})
				continue
			}
			spec.Type, spec.Node, spec.Path = k.Value, v, path+"."+k.Value
		}
		if spec.Name == "" {
			errs = append(errs, minsheng.FieldError{Path: path + ".name", Line: n.Line, Msg: "is required"})
		} else if utf8.RuneCountInString(spec.Name) > maxSourceName {
			// the item schema's cap on source, which the name becomes
			errs = append(errs, minsheng.FieldError{Path: path + ".name", Line: n.Line, Msg: fmt.Sprintf("is longer than %d characters: the source of its items may be no longer", maxSourceName)})
		}
		if spec.Type == "" {
			continue
		}
		if known[spec.Name] {
			errs = append(errs, minsheng.FieldError{Path: path + ".name", Line: n.Line, Msg: fmt.Sprintf("%q names another input too", spec.Name)})
		}
		known[spec.Name] = true
		c.inputs = append(c.inputs, spec)
	}
	errs = append(errs, c.CheckListen()...)
	errs = append(errs, c.checkDeskNames()...)
	return append(errs, c.checkDepartments()...)
}

// CheckListen refuses a metrics_listen that takes listen's port on an
// address listen also covers: the second server could not listen, and the
// gateway would stop just after it started. Run it again after a flag
// changes listen.
func (c *Config) CheckListen() minsheng.FieldErrors {
	h1, p1, err1 := net.SplitHostPort(c.Listen)
	h2, p2, err2 := net.SplitHostPort(c.MetricsListen)
	if c.MetricsListen == "" || err1 != nil || err2 != nil {
		return nil
	}
	// The ports as numbers, as Go listens on them (08080 is 8080).
	if n := listenPort(p1); n < 0 || n != listenPort(p2) {
		return nil
	}
	wild := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	if listenHost(h1) != listenHost(h2) && !wild(h1) && !wild(h2) {
		return nil
	}
	return minsheng.FieldErrors{{Path: "metrics_listen", Msg: fmt.Sprintf("takes port %s of listen (%s) too; give /metrics a port of its own", p2, c.Listen)}}
}

// listenPort is the number of port p as a listener takes it (a decimal
// number, leading zeros aside, or a service name), -1 when it is none.
func listenPort(p string) int {
	n, err := net.LookupPort("tcp", p)
	if err != nil {
		return -1
	}
	return n
}

// listenHost is the address a listener on host takes, as far as it can be
// told without asking DNS: an IP literal in its canonical form (::0001 is
// ::1, ::ffff:127.0.0.1 is 127.0.0.1), localhost as 127.0.0.1 (Go listens
// on a name's first IPv4 address), other names in lower case.
func listenHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// checkDeskNames checks that desk names are unique and that none is the
// source name of an input or of imports (SourceNames). It needs c.inputs.
func (c *Config) checkDeskNames() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	first := map[string]int{}
	for i, d := range c.Desks {
		path := fmt.Sprintf("desks[%d].name", i)
		if j, ok := first[d.Name]; ok {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: fmt.Sprintf("%q names desks[%d] too; desk names must be unique", d.Name, j)})
			continue
		}
		first[d.Name] = i
		if err := auth.CheckName(d.Name, c.SourceNames()); err != nil {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: err.Error()})
		}
	}
	return errs
}

// SourceNames are the source names that items from the configured inputs
// and from `minsheng import` (by default) carry; no desk may take one.
// Validate must have run.
func (c *Config) SourceNames() []string {
	names := []string{importfile.DefaultSource}
	for _, in := range c.inputs {
		names = append(names, in.Name)
	}
	return names
}

// checkDepartments checks that triage.model loads, as it must at start, and
// that every sector routes.departments names is a department of the triage
// model: a misspelt one would never match, and its items would reach only
// the gov_service destinations.
func (c *Config) checkDepartments() minsheng.FieldErrors {
	if len(c.Routes.Departments) == 0 && c.Triage.Model == "" {
		return nil
	}
	m, err := triage.LoadModel(c.Triage.Model)
	if err != nil {
		return minsheng.FieldErrors{{Path: "triage.model", Msg: err.Error()}}
	}
	if len(c.Routes.Departments) == 0 {
		return nil
	}
	h := m.Head(triage.HeadDepartment)
	if h == nil {
		return minsheng.FieldErrors{{Path: "triage.model", Msg: fmt.Sprintf("model %s has no department head", m.Version)}}
	}
	var errs minsheng.FieldErrors
	for _, k := range slices.Sorted(maps.Keys(c.Routes.Departments)) {
		if !slices.Contains(h.Labels, k) {
			errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("routes.departments[%s]", k),
				Msg: fmt.Sprintf("is not a department of the triage model (%s)", strings.Join(h.Labels, ", "))})
		}
	}
	return errs
}

func NewLogger(c *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Gateway is the whole gateway, assembled: store, triage, router, pipeline,
// the desk API, the configured inputs and the HTTP server.
type Gateway struct {
	cfg      *Config
	log      *slog.Logger
	metrics  *prometheus.Registry
	store    *store.Store
	auth     *auth.Registry
	triage   *triage.Engine
	cases    *cases.Index
	router   *router.Router
	pipeline *pipeline.Pipeline
	desk     *desk.Desk
	blobGC   *blobGC
	sources  map[string]minsheng.Source
	mux      *http.ServeMux

	// The case index's snapshot (snapshot.go): snapshotting once the index
	// is loaded; snap, the start's, until first written (snapCurrent: the
	// file holds it); stopSnaps ends the periodic writer.
	snapshotting bool
	snapMu       sync.Mutex
	snap         *cases.Snapshot
	snapCurrent  bool
	stopSnaps    func()
}

// Open assembles the gateway without starting anything that reads.
func Open(ctx context.Context, c *Config, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{cfg: c, log: log, metrics: prometheus.NewRegistry(), sources: map[string]minsheng.Source{}, mux: http.NewServeMux()}
	g.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if !log.Enabled(ctx, slog.LevelInfo) {
		// The access trail is logged at info (router/access.go): a
		// bureau that must say who was handed an informant's identity
		// would find nothing. At error level, so that it is seen at any.
		log.Error("log.level is above info: the access trail (which desk was handed complainants' identities and discipline leads) is not logged")
	}
	var err error
	if g.store, err = store.Open(c.Data, store.Options{NoSync: c.Store.NoSync, LedgerSyncInterval: c.Store.LedgerSyncInterval, SkipCorruptLedger: c.Store.SkipCorruptLedger, Metrics: g.metrics, Logger: log}); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			g.Close()
		}
	}()
	if g.auth, err = auth.NewRegistry(c.Desks, filepath.Join(c.Data, "desks.json"), c.SourceNames(), log); err != nil {
		if errors.As(err, new(minsheng.FieldErrors)) {
			return nil, c.located(err)
		}
		return nil, fmt.Errorf("desks: %w", err)
	}
	g.metrics.MustRegister(g.auth.Collector())
	if g.triage, err = triage.New(c.Triage); err != nil {
		return nil, fmt.Errorf("triage: %w", err)
	}
	if g.router, err = router.New(ctx, c.RouterConfig(), router.Options{Logger: log, Queues: g.store, Metrics: g.metrics}); err != nil {
		if errors.As(err, new(minsheng.FieldErrors)) {
			return nil, c.located(err)
		}
		return nil, fmt.Errorf("router: %w", err)
	}
	if g.cases, err = cases.New(c.Cases); err != nil {
		return nil, c.located(err)
	}
	// Also with cases disabled: a snapshot left of the records a repair
	// lost would be trusted at the next start with cases on.
	g.dropSnapshotOfRepairedLedger()
	if !c.Cases.Disabled {
		g.loadCases()
		g.snapshotting = true
		g.metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "minsheng_case_index_items",
			Help: "Items the case index remembers (at most cases.max_items)."}, func() float64 { return float64(g.cases.Len()) }))
	}
	g.metrics.MustRegister(g.cases.Collector()) // 0 with cases disabled, as before
	if g.pipeline, err = pipeline.New(c.Pipeline, pipeline.Options{Triager: g.triage, Router: g.router, Ledger: g.store, Logger: log, Metrics: g.metrics, Linker: g.cases}); err != nil {
		return nil, err
	}
	g.blobGC = newBlobGC(c.Store.BlobGC, g.store, log.With("component", "blob_gc"), g.metrics)
	g.desk = desk.New(c.Intake, desk.Options{Logger: log.With("connector", "desk"), Blobs: g.store.Blobs(), Ledger: g.store, View: g.router.View, Accessed: g.router.Accessed})
	for _, in := range c.inputs {
		f, _ := connectors.Lookup(in.Type)
		env := connectors.Env{Logger: log.With("connector", in.Type, "input", in.Name), Checkpoints: g.store, Blobs: g.store.Blobs(), Metrics: g.metrics}
		src, err := f(in.Name, func(v any) error { return config.DecodeNode(in.Node, in.Path, v) }, env)
		if err != nil {
			if errors.As(err, new(minsheng.FieldErrors)) {
				return nil, c.inputErrors(in, err)
			}
			return nil, fmt.Errorf("inputs %s (%s): %w", in.Name, in.Type, err)
		}
		if errs := c.checkDrain(in, src); len(errs) > 0 {
			return nil, errs
		}
		g.sources[in.Name] = src
	}
	g.routes()
	ok = true
	return g, nil
}

func (g *Gateway) routes() {
	g.desk.Register(g.mux, g.auth.Middleware)
	router.NewQueueAPI(g.router).Register(g.mux, g.auth.Middleware)
	router.NewCaseAPI(g.router, g.store, g.cases.Members).Register(g.mux, g.auth.Middleware)
	reviews := router.NewReviewAPI(g.router, g.store, g.triage.Model().Head(triage.HeadDepartment).Labels, g.cases)
	reviews.Register(g.mux, g.auth.Middleware)
	g.metrics.MustRegister(reviews.Collector())
	redeliveries := router.NewRedeliverAPI(g.router, g.store)
	redeliveries.Register(g.mux, g.auth.Middleware)
	g.metrics.MustRegister(redeliveries.Collector())
	if g.cfg.MetricsListen == "" {
		// Beside the desk API, /metrics needs the token of a desk told of
		// discipline leads (one that reads an inspectors' destination):
		// its counts by destination tell when an item goes to the
		// inspectors, which no one outside, nor a desk not told of the
		// lead watching them beside its queue, should be able to watch.
		// On metrics_listen (an internal address) it needs none.
		metrics := promhttp.HandlerFor(g.metrics, promhttp.HandlerOpts{})
		g.mux.Handle("GET /metrics", g.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if p := minsheng.PrincipalFrom(req.Context()); !g.router.ToldOfLeads(p) {
				g.log.Warn("request refused: desk not told of discipline leads may not read metrics", "desk", p.Name, "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
				auth.WriteError(w, http.StatusForbidden, "forbidden", "desk "+p.Name+" reads none of the inspectors' destinations, so it may not read /metrics (serve it on metrics_listen for monitoring)")
				return
			}
			metrics.ServeHTTP(w, req)
		})))
	}
	g.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	g.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if g.pipeline.Stopping() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		if !g.desk.Taking() { // Serve has not started the desk yet
			http.Error(w, "not ready: the desk API is starting", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := g.router.Health(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
}

// Serve runs the gateway until ctx ends, then shuts down in order: stop
// reading (sources, then new HTTP requests), drain the items in flight and
// their acks, flush and close the sinks, close the store.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	baseCtx, cancelBase := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           g.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // multipart attachments on slow links
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	srcCtx, stopSources := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := func(name string, s minsheng.Source) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(srcCtx, g.pipeline.Emitter()); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Error("input stopped", "input", name, "err", err)
			}
		}()
	}
	start("desk", g.desk)
	names := make([]string, 0, len(g.sources))
	for n := range g.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		start(n, g.sources[n])
	}
	gcCtx, stopGC := context.WithCancel(context.Background())
	gcDone := make(chan struct{})
	if g.cfg.Store.BlobGC.Interval > 0 {
		go func() { defer close(gcDone); g.blobGC.run(gcCtx) }()
	} else {
		close(gcDone)
	}
	// Incomplete routes finished without waiting for their sources: at
	// start and every pipeline.finish_interval (pipeline/finisher.go).
	finCtx, stopFinisher := context.WithCancel(context.Background())
	finDone := make(chan struct{})
	go func() { defer close(finDone); g.pipeline.RunFinisher(finCtx) }()
	srvErr := make(chan error, 2)
	go func() { srvErr <- srv.Serve(ln) }()
	if g.snapshotting {
		stop, done := make(chan struct{}), make(chan struct{})
		go g.snapshots(stop, done)
		g.stopSnaps = sync.OnceFunc(func() {
			close(stop)
			<-done
		})
	}
	if g.cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics, promhttp.HandlerOpts{}))
		msrv := &http.Server{Addr: g.cfg.MetricsListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { srvErr <- msrv.ListenAndServe() }()
		defer msrv.Close()
	}
	g.log.Info("minsheng running", "listen", ln.Addr().String(), "data", g.cfg.Data, "inputs", len(names),
		"destinations", strings.Join(g.router.Destinations(), ","), "model", g.triage.ModelVersion())

	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
		g.log.Error("http server failed", "err", err)
	}
	g.log.Info("shutting down: stop reading")
	deadline, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	stopSources()
	stopGC()
	cancelBase() // new requests are refused, long polls return
	stopFinisher()
	if perr := g.pipeline.Stop(deadline); perr != nil {
		g.log.Error("shutdown", "err", perr)
	}
	<-finDone // a route it is finishing ends within route_timeout, or when Stop gives up
	g.log.Info("shutting down: items drained; closing connections")
	srv.Shutdown(deadline)
	wg.Wait()
	<-gcDone // a collection stops between two blobs; the store stays open until it has
	g.Close()
	g.log.Info("stopped")
	return err
}

func (g *Gateway) Close() {
	if g.snapshotting {
		// The last records folded in, before the store closes: the next
		// start reads none of the ledger.
		if g.stopSnaps != nil {
			g.stopSnaps()
		}
		g.writeSnapshot("at close")
		g.snapshotting = false
	}
	if g.router != nil {
		if err := g.router.Close(); err != nil {
			g.log.Error("closing sinks", "err", err)
		}
	}
	if g.store != nil {
		if err := g.store.Close(); err != nil {
			g.log.Error("closing store", "err", err)
		}
	}
}

// Load reads a configuration file over the defaults; path "" gives the
// embedded default. The error is a minsheng.FieldErrors naming every
// problem with its line.
func Load(path string) (*Config, error) {
	c := DefaultConfig()
	var err error
	if path != "" {
		err = config.LoadFile(path, c)
	} else {
		err = config.Decode(nil, c)
	}
	if err != nil {
		return nil, err
	}
	if path != "" {
		raw, _ := os.ReadFile(path)
		c.lines = config.ParseLines(raw)
	}
	if c.Data == "" {
		c.Data = "minsheng-data"
	}
	return c, nil
}

// CheckInputs builds every configured input without starting it, so that
// each connector checks its own section.
func (c *Config) CheckInputs() error {
	var errs minsheng.FieldErrors
	for _, in := range c.inputs {
		f, _ := connectors.Lookup(in.Type)
		env := connectors.Env{Logger: slog.New(slog.DiscardHandler)}
		src, err := f(in.Name, func(v any) error { return config.DecodeNode(in.Node, in.Path, v) }, env)
		if err != nil {
			errs = append(errs, c.inputErrors(in, err)...)
			continue
		}
		errs = append(errs, c.checkDrain(in, src)...)
	}
	return errs.Err()
}

// checkDrain refuses an input configured to wait longer to drain when
// stopping (connectors.Drainer) than shutdown_timeout, which bounds the
// whole stop: the gateway would take longer to stop than it is configured
// to, and a supervisor that allows shutdown_timeout would kill it
// mid-drain. A wait left to the input's default is shortened to
// shutdown_timeout instead, so that a shorter shutdown_timeout alone
// does not refuse a configuration that named no drain_timeout.
func (c *Config) checkDrain(in inputSpec, src minsheng.Source) minsheng.FieldErrors {
	d, ok := src.(connectors.Drainer)
	if !ok {
		return nil
	}
	field, wait, set := d.DrainTimeout()
	if wait <= c.ShutdownTimeout {
		return nil
	}
	if !set {
		d.LimitDrain(c.ShutdownTimeout)
		return nil
	}
	return c.lines.Locate(minsheng.FieldErrors{{Path: in.Path + "." + field,
		Msg: fmt.Sprintf("is %s, longer than shutdown_timeout (%s), which bounds the whole stop; set it at most %s, or raise shutdown_timeout", wait, c.ShutdownTimeout, c.ShutdownTimeout)}})
}

// CheckSecrets reads the desks' tokens, Kafka's SASL password and Kafka's
// TLS certificates and key as run does at start, which CheckInputs and Load
// do not: they are files that often exist only where the gateway runs
// (minsheng check-config --secrets).
func (c *Config) CheckSecrets() error {
	var errs minsheng.FieldErrors
	// A secret's error names its field (ReadSecretField), under path.
	add := func(path string, err error) {
		var fes minsheng.FieldErrors
		if errors.As(err, &fes) {
			errs = append(errs, fes.Prefix(path)...)
		} else if err != nil {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: err.Error()})
		}
	}
	for i, d := range c.Desks {
		add(fmt.Sprintf("desks[%d]", i), d.CheckSecret())
	}
	if c.RouterConfig().UsesKafka() {
		add("kafka", c.Kafka.CheckFiles())
	}
	return c.lines.Locate(errs).Err()
}

// inputErrors names an input's fields in an error of its connector by their
// whole path and line ("line 7: inputs[0].board.token_env").
func (c *Config) inputErrors(in inputSpec, err error) minsheng.FieldErrors {
	var fes minsheng.FieldErrors
	if !errors.As(err, &fes) {
		return minsheng.FieldErrors{{Path: in.Path, Line: c.lines.Of(in.Path), Msg: err.Error()}}
	}
	out := make(minsheng.FieldErrors, 0, len(fes))
	for _, fe := range fes {
		if fe.Path != in.Path && !strings.HasPrefix(fe.Path, in.Path+".") && !strings.HasPrefix(fe.Path, in.Path+"[") {
			fe = minsheng.FieldErrors{fe}.Prefix(in.Path)[0]
		}
		out = append(out, fe)
	}
	return c.lines.Locate(out)
}

// located gives the field errors in err, if any, their lines in the file.
func (c *Config) located(err error) error {
	var fes minsheng.FieldErrors
	if errors.As(err, &fes) {
		return c.lines.Locate(fes)
	}
	return err
}

// InputCount is how many inputs the configuration declares.
func (c *Config) InputCount() int { return len(c.inputs) }

// Handler is the gateway's HTTP handler (desk API, queues, metrics, health).
func (g *Gateway) Handler() http.Handler { return g.mux }

// Emitter returns a new emitter into the pipeline, with its own in-flight
// bound, for a source driven from outside (bulk import, tests).
func (g *Gateway) Emitter() minsheng.Emitter { return g.pipeline.Emitter() }

// Store is the gateway's state store.
func (g *Gateway) Store() *store.Store { return g.store }

// Router is the gateway's router.
func (g *Gateway) Router() *router.Router { return g.router }

// Pipeline is the gateway's pipeline.
func (g *Gateway) Pipeline() *pipeline.Pipeline { return g.pipeline }

// Metrics is the gateway's Prometheus registry.
func (g *Gateway) Metrics() *prometheus.Registry { return g.metrics }

// Desks is the gateway's desk registry.
func (g *Gateway) Desks() *auth.Registry { return g.auth }
