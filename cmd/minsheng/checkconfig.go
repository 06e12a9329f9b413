package main

import (
	"context"
	"fmt"
	"os"

	"github.com/minsheng/minsheng/gateway"
)

func init() {
	register(&command{name: "check-config", summary: "check a configuration file; exit 2 on any error", run: runCheckConfig})
}

func runCheckConfig(_ context.Context, args []string) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: minsheng check-config FILE")
		return exitConfig
	}
	c, err := gateway.Load(args[0])
	if err != nil {
		return configError(err)
	}
	if err := c.CheckInputs(); err != nil {
		return configError(err)
	}
	fmt.Printf("%s: ok (%d destinations, %d desks, %d inputs)\n", args[0], len(c.Destinations), len(c.Desks), c.InputCount())
	return exitOK
}
