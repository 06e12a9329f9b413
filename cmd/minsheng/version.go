package main

import (
	"context"
	"fmt"
	"runtime/debug"

	minsheng "github.com/minsheng/minsheng"
)

func init() {
	register(&command{name: "version", summary: "print the build and schema versions", run: runVersion})
}

func runVersion(_ context.Context, _ []string) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Printf("minsheng %s, item schema %s\n", v, minsheng.SchemaVersion)
	return exitOK
}
