package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/minsheng/minsheng/gateway"
)

func init() {
	register(&command{name: "check-config", summary: "check a configuration file; exit 2 on any error", run: runCheckConfig})
}

func runCheckConfig(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	secrets := fs.Bool("secrets", false, "also read the desks' tokens and Kafka's password and TLS files, as run does at start")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: minsheng check-config [--secrets] FILE\n\n"+
			"Checks every field, and reads the inputs' secrets. --secrets also reads the desks' tokens and\n"+
			"Kafka's password and TLS files, as run does at start: use it where they are in place (the systemd unit does).")
	}
	// The flag may come after the file too (check-config FILE --secrets),
	// which the flag package alone would take for a second file.
	// A flag the package refuses there (a misspelt --secrets, -h) stops
	// it as before the file: no check runs without what was asked of it.
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitConfig
	}
	file := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "check-config: one file at a time, not %q too\n", fs.Args())
		return exitConfig
	}
	c, err := gateway.Load(file)
	if err != nil {
		return configError(err)
	}
	if err := c.CheckInputs(); err != nil {
		return configError(err)
	}
	if *secrets {
		if err := c.CheckSecrets(); err != nil {
			return configError(err)
		}
	}
	fmt.Printf("%s: ok (%d destinations, %d desks, %d inputs)\n", file, len(c.Destinations), len(c.Desks), c.InputCount())
	return exitOK
}
