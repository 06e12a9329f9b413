package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minsheng/minsheng/store"
)

func init() {
	register(&command{name: "blobs", summary: "collect raw originals and attachments no record refers to (blobs gc --dry-run)", run: runBlobs})
}

func blobsUsage() {
	fmt.Fprint(os.Stderr, `usage: minsheng blobs gc [--config FILE] [--data DIR] [--grace DURATION] [--dry-run] [--despite-skipped-ledger]

Removes from the data directory's blobs/ the raw originals and attachments
that no ledger record and no queued message refers to (those of items whose
routing failed for good, such as a letter refused with 409) and that were
stored, or stored again, longer than the grace period ago (default
store.blob_gc.grace, 24h). --dry-run counts them and removes nothing. It
prints counts and bytes, never names. Stop the gateway first: the store is
one process's, and the command refuses a data directory in use. A running
gateway collects by itself with store.blob_gc.interval. A ledger that lost
records to damage (run --skip-corrupt-ledger) is refused: the blobs those
records referred to look unreferenced, and a restored ledger would want
them; --despite-skipped-ledger collects them too.
`)
}

func runBlobs(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] != "gc" {
		blobsUsage()
		return exitConfig
	}
	fs := flag.NewFlagSet("blobs gc", flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	grace := fs.Duration("grace", -1, "keep unreferenced blobs stored within this (default: store.blob_gc.grace)")
	dry := fs.Bool("dry-run", false, "count what would be removed; remove nothing")
	despite := fs.Bool("despite-skipped-ledger", false, "collect even though the ledger lost records to damage (run --skip-corrupt-ledger); their blobs go too")
	fs.Usage = func() {
		blobsUsage()
		fs.PrintDefaults()
	}
	if c := parseFlags(fs, args[1:]); c >= 0 {
		return c
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	if *grace < 0 {
		*grace = c.Store.BlobGC.Grace
	}
	if err := isDataDir(c.Data); err != nil {
		fmt.Fprintln(os.Stderr, "blobs gc:", err)
		return exitFail
	}
	st, err := store.Open(c.Data, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "blobs gc:", err)
		return exitFail
	}
	defer st.Close()
	rep, err := st.CollectBlobs(ctx, store.BlobGCOptions{Grace: *grace, DryRun: *dry, DespiteSkippedLedger: *despite})
	writeBlobGCReport(os.Stdout, rep, *grace, *dry)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitFail
	}
	return exitOK
}

// isDataDir refuses a directory that holds no gateway's state: opening
// the store would make an empty ledger there, and every blob beside it
// would look unreferenced.
func isDataDir(dir string) error {
	for _, name := range []string{"state.db", "ledger", "blobs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s is not a gateway's data directory (no %s)", dir, name)
			}
			return err
		}
	}
	return nil
}

func writeBlobGCReport(w io.Writer, rep store.BlobGCReport, grace time.Duration, dry bool) {
	fmt.Fprintf(w, "read %d ledger records and %d queued messages; took %s\n", rep.Records, rep.Messages, rep.Took.Round(time.Millisecond))
	line := func(what string, n int, bytes int64, note string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-30s %9d %11s  %s", what, n, size(bytes), note), " "))
	}
	line("blobs", rep.Blobs, rep.Bytes, "")
	line("referenced", rep.Referenced, rep.ReferencedBytes, "kept")
	line("unreferenced, within "+grace.String(), rep.Recent, rep.RecentBytes, "kept")
	if dry {
		line("unreferenced, older", rep.Removed, rep.RemovedBytes, "to remove (dry run: nothing removed)")
	} else {
		line("unreferenced, older", rep.Removed, rep.RemovedBytes, "removed")
	}
}

// size is n bytes, with a binary unit beyond a KiB.
func size(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/(1<<10), "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1<<10 {
			break
		}
		v, unit = v/(1<<10), u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
