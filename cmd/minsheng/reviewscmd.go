package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
)

func init() {
	register(&command{name: "reviews", summary: "write the items people decided at review as labelled JSON lines (minsheng eval --file)", run: runReviews})
}

func runReviews(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("reviews", flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	out := fs.String("out", "-", "file to write (- for standard output)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, `usage: minsheng reviews [--config FILE] [--data DIR] [--out FILE]

Writes each item a person decided at review (POST /v1/reviews/{id}) as a
JSON line with the person's class, and the department and discipline lead
when they gave them, which minsheng eval --file scores the model on. The
lines hold the letters' titles and bodies, discipline cases' among them:
keep the file where the ledger is kept. Stop the gateway first (the store
is one process's); while it runs, a review desk exports the same lines,
less the leads it is not told of, with GET /v1/reviews.
`)
		fs.PrintDefaults()
	}
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	st, err := store.Open(c.Data, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "reviews:", err)
		return exitFail
	}
	defer st.Close()
	var w io.Writer = os.Stdout
	if *out != "-" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "reviews:", err)
			return exitFail
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	n, all, err := writeReviews(bw, st)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reviews:", err)
		return exitFail
	}
	fmt.Fprintf(os.Stderr, "reviews: %d items decided at review, of %d in the ledger\n", n, all)
	return exitOK
}

// writeReviews writes a reviewLine for each reviewed item of the store and
// returns how many it wrote, of how many records.
func writeReviews(w io.Writer, st *store.Store) (n, all int, err error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err = st.Each(func(r *minsheng.Record) error {
		all++
		l, ok := minsheng.ReviewedItemOf(r)
		if !ok {
			return nil
		}
		n++
		return enc.Encode(l)
	})
	return n, all, err
}
