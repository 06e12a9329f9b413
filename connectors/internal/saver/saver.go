// Package saver writes a connector's checkpoint periodically while it runs
// and once more when it stops, even after its context has ended, so that
// what was acknowledged before a shutdown is kept.
package saver

import (
	"context"
	"log/slog"
	"time"
)

// Start calls save every interval until the returned stop is called; stop
// waits for a save in progress, then saves a last time (with up to ten
// seconds, outside ctx's cancellation). Errors are logged, not returned:
// the next save tries again.
func Start(ctx context.Context, every time.Duration, save func(context.Context) error, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if err := save(sctx); err != nil {
					log.Warn("checkpoint not written", "err", err)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer fcancel()
		if err := save(fctx); err != nil {
			log.Error("final checkpoint not written", "err", err)
		}
	}
}
