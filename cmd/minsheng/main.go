// Command minsheng is the Minsheng gateway: it takes in citizens' demands
// from every channel, screens and classifies them, and routes them to the
// queues of the bodies that must act.
//
// Each subcommand lives in its own file and registers itself from init().
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1 // runtime failure
	exitConfig = 2 // bad flags or configuration
)

type command struct {
	name    string
	summary string
	// run gets the arguments after the subcommand's name and returns the
	// exit code. ctx is cancelled on SIGINT/SIGTERM.
	run func(ctx context.Context, args []string) int
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("minsheng: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: minsheng <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'minsheng <command> -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(exitConfig)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "minsheng: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(exitConfig)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := c.run(ctx, os.Args[2:])
	stop()
	os.Exit(code)
}
