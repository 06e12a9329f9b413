package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
)

func init() {
	register(&command{name: "desk", summary: "add, list or remove desks (tokens for submitting and reading queues)", run: runDesk})
}

func deskUsage() {
	fmt.Fprint(os.Stderr, `usage:
  minsheng desk add    --data DIR --name NAME [--channel CHANNEL] [--reads DEST,...] [--config FILE]
  minsheng desk list   --data DIR
  minsheng desk remove --data DIR --name NAME

add prints the new desk's token once; only its hash is kept, in DIR/desks.json,
which a running gateway re-reads. A desk with --channel submits items on that
channel; a desk with --reads reads those destinations' queues. NAME may not be
a configured desk's or input's name, nor "import" (imported items' source).
Channels: `+channelList()+`
`)
}

func channelList() string {
	var cs []string
	for _, c := range minsheng.Channels {
		cs = append(cs, string(c))
	}
	return strings.Join(cs, ", ")
}

func runDesk(_ context.Context, args []string) int {
	if len(args) == 0 {
		deskUsage()
		return exitConfig
	}
	sub := args[0]
	fs := flag.NewFlagSet("desk "+sub, flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	name := fs.String("name", "", "desk name: lower-case letters, digits, '.', '_', '-'")
	channel := fs.String("channel", "", "channel the desk submits on: "+channelList())
	reads := fs.String("reads", "", "comma-separated destinations whose queues the desk may read")
	if err := fs.Parse(args[1:]); err != nil {
		return exitConfig
	}
	// A file given as check-config takes it would be left unread, with
	// every flag after it, and the default data directory written.
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "desk %s: unexpected arguments %q (the configuration file is given with --config FILE)\n", sub, fs.Args())
		return exitConfig
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	file := filepath.Join(c.Data, "desks.json")
	switch sub {
	case "add":
		d := auth.DeskConfig{Name: *name, Channel: minsheng.Channel(*channel)}
		if *channel != "" && !d.Channel.Valid() {
			fmt.Fprintf(os.Stderr, "desk add: --channel %q is not a channel (%s)\n", *channel, channelList())
			return exitConfig
		}
		if *reads != "" {
			for _, r := range strings.Split(*reads, ",") {
				r = strings.TrimSpace(r)
				if _, ok := c.Destinations[r]; !ok {
					fmt.Fprintf(os.Stderr, "desk add: --reads: no destination %q (have: %s)\n", r, strings.Join(sortedKeys(c.Destinations), ", "))
					return exitConfig
				}
				d.Reads = append(d.Reads, r)
			}
		}
		if err := auth.CheckName(d.Name, c.SourceNames()); err != nil {
			fmt.Fprintf(os.Stderr, "desk add: --name: %v\n", err)
			return exitConfig
		}
		for _, x := range c.Desks {
			if x.Name == d.Name {
				fmt.Fprintf(os.Stderr, "desk add: --name: %q is a desk in the configuration already\n", d.Name)
				return exitConfig
			}
		}
		tok, err := auth.AddDesk(file, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "desk add:", err)
			return exitConfig
		}
		fmt.Fprintf(os.Stderr, "desk %s added; its token (shown once, keep it secret):\n", d.Name)
		fmt.Println(tok)
	case "list":
		desks, err := auth.ReadDesksFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "desk list:", err)
			return exitFail
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCHANNEL\tREADS\tADDED")
		for _, d := range desks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Channel, strings.Join(d.Reads, ","), d.Added.Format("2006-01-02 15:04"))
		}
		for _, d := range c.Desks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t(config)\n", d.Name, d.Channel, strings.Join(d.Reads, ","))
		}
		tw.Flush()
	case "remove":
		if err := auth.RemoveDesk(file, *name); err != nil {
			fmt.Fprintln(os.Stderr, "desk remove:", err)
			return exitConfig
		}
		fmt.Fprintf(os.Stderr, "desk %s removed; its token no longer works\n", *name)
	default:
		deskUsage()
		return exitConfig
	}
	return exitOK
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
