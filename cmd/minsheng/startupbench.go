package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/gateway"
	"github.com/minsheng/minsheng/store"
)

func init() {
	register(&command{name: "startup-bench", summary: "measure gateway start-up over a generated ledger: the case index rebuilt in full, then from its snapshot", run: runStartupBench})
}

// runStartupBench writes a ledger of generated records (letters of 150 to
// 450 characters, gov_service, one every 12 seconds: about Qingdao's rate),
// then times gateway.Open three ways: the store alone (its scan of the
// ledger), the gateway with no case-index snapshot (a full rebuild), and
// the gateway again after a clean close wrote one and -tail more records
// were appended (the snapshot and the tail).
func runStartupBench(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("startup-bench", flag.ContinueOnError)
	records := fs.Int("records", 90000, "records in the ledger before the first start")
	tail := fs.Int("tail", 1000, "records appended after the snapshot, before the second start")
	data := fs.String("data", "", "data directory to fill (default: a temporary one, removed after)")
	showLog := fs.Bool("log", false, "print the gateway's log (how the case index was loaded, and how long it took)")
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "startup-bench:", err)
		return exitFail
	}
	dir := *data
	if dir == "" {
		d, err := os.MkdirTemp("", "minsheng-startup-bench")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	c := gateway.DefaultConfig()
	c.Data = dir
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := benchLedger(dir, 0, *records, start); err != nil {
		return fail(err)
	}
	t := time.Now()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return fail(err)
	}
	storeOpen := time.Since(t)
	st.Close()
	fmt.Printf("startup-bench: %d records in the ledger; store alone (scan of the ledger) %s\n", *records, storeOpen.Round(time.Millisecond))

	log := slog.New(slog.DiscardHandler)
	if *showLog {
		log = gateway.NewLogger(c, os.Stderr)
	}
	open := func(what string) (time.Duration, error) {
		t := time.Now()
		g, err := gateway.Open(ctx, c, log)
		if err != nil {
			return 0, err
		}
		took := time.Since(t)
		fmt.Printf("startup-bench: %s: gateway.Open %s, case index %d items\n", what, took.Round(time.Millisecond), gatewayCaseItems(g))
		t = time.Now()
		g.Close()
		fmt.Printf("startup-bench: %s: close %s\n", what, time.Since(t).Round(time.Millisecond))
		return took, nil
	}
	// The first start rebuilds in full: there is no snapshot (one left by
	// an earlier run over this directory is removed).
	if err := os.Remove(filepath.Join(dir, "cases.snapshot")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	full, err := open("no snapshot (full rebuild)")
	if err != nil {
		return fail(err)
	}
	if err := benchLedger(dir, *records, *tail, start); err != nil {
		return fail(err)
	}
	again, err := open(fmt.Sprintf("after a clean close and %d more records", *tail))
	if err != nil {
		return fail(err)
	}
	fmt.Printf("records=%d tail=%d store_open_ms=%d full_open_ms=%d snapshot_open_ms=%d\n",
		*records, *tail, storeOpen.Milliseconds(), full.Milliseconds(), again.Milliseconds())
	return exitOK
}

// gatewayCaseItems reads minsheng_case_index_items from the gateway's
// metrics.
func gatewayCaseItems(g *gateway.Gateway) int {
	mfs, err := g.Metrics().Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == "minsheng_case_index_items" && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return -1
}

// benchLedger appends records from..from+n to the ledger in dir, as the
// pipeline writes them.
func benchLedger(dir string, from, n int, start time.Time) error {
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer st.Close()
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < from+n; i += workers {
				if err := st.Commit(context.Background(), benchRecord(i, start)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// benchRecord is record i: a letter of random characters (so that none
// links by chance), its decision and trail.
func benchRecord(i int, start time.Time) *minsheng.Record {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	body := make([]rune, 150+r.IntN(300))
	for j := range body {
		body[j] = rune(0x4E00 + r.IntN(3000))
	}
	at := start.Add(time.Duration(i) * 12 * time.Second)
	id := minsheng.ItemID(minsheng.ChannelHotline, "bench", fmt.Sprint(i))
	it := &minsheng.Item{SchemaVersion: minsheng.SchemaVersion, ID: id, TraceID: fmt.Sprintf("%032x", i), Channel: minsheng.ChannelHotline, Source: "bench",
		Ref: fmt.Sprint("WO-", i), Title: string(body[:12]), Body: string(body), SubmittedAt: at, ReceivedAt: at}
	dests := []string{"gov_service"}
	d := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.91, Department: "城乡建设", ModelVersion: "bench",
		Reasons: []minsheng.Reason{{Kind: "feature", Code: "ngram", Detail: string(body[3:9])}, {Kind: "feature", Code: "ngram", Detail: string(body[20:26])}}}
	return &minsheng.Record{ID: id, Item: it, Decision: d, Destinations: dests, Trail: []minsheng.Event{
		{Step: minsheng.StepReceived, At: at, Detail: "hotline/bench"},
		{Step: minsheng.StepScreened, At: at, Detail: "valid"},
		{Step: minsheng.StepClassified, At: at, Detail: "gov_service (confidence 0.91, model bench)"},
		{Step: minsheng.StepRouted, At: at, Destinations: dests},
		{Step: minsheng.StepAcked, At: at},
	}}
}
