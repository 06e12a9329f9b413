package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/gateway"
)

// gatewayFlags are the flags every command that runs the gateway shares
// (run, import, desk).
type gatewayFlags struct {
	config string
	data   string
	listen string
}

func (g *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.config, "config", "", "configuration file (YAML); none: the embedded default")
	fs.StringVar(&g.data, "data", "", "data directory for the state store, queues and blobs (overrides the file's data; default ./minsheng-data)")
	fs.StringVar(&g.listen, "listen", "", "HTTP listen address (overrides the file's listen; default 127.0.0.1:8080)")
}

// load reads the configuration (or the default) and applies the flags.
func (g *gatewayFlags) load() (*gateway.Config, error) {
	c, err := gateway.Load(g.config)
	if err != nil {
		return nil, err
	}
	if g.data != "" {
		c.Data = g.data
	}
	if g.listen != "" {
		c.Listen = g.listen
		if errs := c.CheckListen(); len(errs) > 0 {
			errs[0].Msg = "with --listen " + g.listen + ": " + errs[0].Msg
			return nil, errs
		}
	}
	return c, nil
}

// configError prints configuration problems, one a line, to stderr, and
// returns the exit code for them.
func configError(err error) int {
	var fes minsheng.FieldErrors
	if errors.As(err, &fes) {
		for _, fe := range fes {
			fmt.Fprintln(os.Stderr, "config:", fe.Error())
		}
	} else {
		fmt.Fprintln(os.Stderr, "config:", err)
	}
	return exitConfig
}
