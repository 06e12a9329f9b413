// Package connectors holds one folder per intake channel and the registry
// through which each connector makes itself known from its init function.
//
// A connector is configured in the gateway's YAML under inputs:
//
//	inputs:
//	  - name: mayor-mailbox      # instance name, unique
//	    imap:                    # connector type, as registered
//	      address: imap.example.gov.cn:993
//
// cmd/minsheng imports every connector package (see connectors/all) so that
// their init functions run.
package connectors

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
)

// Env is what the gateway lends a connector.
type Env struct {
	// Logger is already labelled with the connector's type and name.
	Logger *slog.Logger
	// Checkpoints is the durable state store for cursors and checkpoints.
	Checkpoints minsheng.Checkpoints
	// Blobs stores raw originals and attachments content-addressed.
	Blobs minsheng.Blobs
	// Metrics is where the connector registers its collectors. Label them
	// with the instance name: several instances of a type may run.
	Metrics prometheus.Registerer
}

// Decoder fills a connector's config struct from its section of the
// configuration file, applying `default` tags and checking `validate` tags;
// its error is a minsheng.FieldErrors naming each bad field by its path.
type Decoder func(cfg any) error

// Factory builds a connector instance. name is the instance name from the
// configuration. A factory only decodes and checks its configuration and
// resolves its secrets: it must not connect, read state or start goroutines
// (that is Run's work), because `minsheng check-config` calls it with an
// Env holding nothing but a Logger.
type Factory func(name string, decode Decoder, env Env) (minsheng.Source, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a connector type known. It is called from init functions
// and panics on a duplicate name, which is a programming error.
func Register(typ string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[typ]; dup {
		panic(fmt.Sprintf("connectors: %q registered twice", typ))
	}
	factories[typ] = f
}

// RegisterConfig registers a connector whose factory is "decode the config
// struct C, then call newFn": the common case.
func RegisterConfig[C any, S minsheng.Source](typ string, newFn func(name string, cfg C, env Env) (S, error)) {
	Register(typ, func(name string, decode Decoder, env Env) (minsheng.Source, error) {
		var cfg C
		if err := decode(&cfg); err != nil {
			return nil, err
		}
		src, err := newFn(name, cfg, env)
		if err != nil {
			return nil, err
		}
		return src, nil
	})
}

// Drainer is a source that, when stopped, waits up to a time of its own
// configuration for the acks its pipeline still owes it. The gateway
// refuses a wait set longer than its shutdown_timeout, which bounds the
// whole stop, and shortens a default wait to it.
type Drainer interface {
	// DrainTimeout is the wait, the name of its field in the source's
	// section ("drain_timeout"), and whether the configuration set it
	// (false: the source's default).
	DrainTimeout() (field string, d time.Duration, set bool)
	// LimitDrain shortens the wait to at most d.
	LimitDrain(d time.Duration)
}

// Lookup returns the factory registered for typ.
func Lookup(typ string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := factories[typ]
	return f, ok
}

// Types lists the registered connector types, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
