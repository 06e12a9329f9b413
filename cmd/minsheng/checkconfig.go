package main

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/minsheng/minsheng/gateway"
)

func init() {
	register(&command{name: "check-config", summary: "check a configuration file; exit 2 on any error", run: runCheckConfig})
}

func runCheckConfig(_ context.Context, args []string) int {
	secrets := slices.Contains(args, "--secrets")
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--secrets" })
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: minsheng check-config [--secrets] FILE\n\n"+
			"Checks every field, and reads the inputs' secrets. --secrets also reads the desks' tokens and\n"+
			"Kafka's password and TLS files, as run does at start: use it where they are in place (the systemd unit does).")
		return exitConfig
	}
	c, err := gateway.Load(args[0])
	if err != nil {
		return configError(err)
	}
	if err := c.CheckInputs(); err != nil {
		return configError(err)
	}
	if secrets {
		if err := c.CheckSecrets(); err != nil {
			return configError(err)
		}
	}
	fmt.Printf("%s: ok (%d destinations, %d desks, %d inputs)\n", args[0], len(c.Destinations), len(c.Desks), c.InputCount())
	return exitOK
}
