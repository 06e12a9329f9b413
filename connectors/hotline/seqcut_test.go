package hotline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// TestOversizeFrameCutInItsSeqDoesNotStall: seqs 1..9 good, seq 10 an
// oversize frame (its seq written after the order, as some serializers
// order fields) whose cut at max_message_bytes falls between the 1 and
// the 0 of "seq":10, seq 11 good. The cut seq is unknown, not read as 1
// (which took the frame for a protocol violation, seq 1 after 9, dragged
// the checkpoint back and ended every connection the same way): the feed
// gets past it.
func TestOversizeFrameCutInItsSeqDoesNotStall(t *testing.T) {
	const limit = 4096
	head := `{"type":"order","order":{"order_no":"O-10","received_at":"2024-03-06 09:15:27","description":"`
	tail := `"},"seq":`
	pad := strings.Repeat("x", limit-len(head)-len(tail)-1) // the cut falls after "1"
	big := []byte(head + pad + tail + "10}")
	if string(big[:limit][limit-len(tail)-1:]) != tail+"1" {
		t.Fatalf("bad setup: %q", big[limit-20:limit])
	}
	var frames [][]byte
	for seq := uint64(1); seq <= 9; seq++ {
		frames = append(frames, goodFrame(seq, fmt.Sprintf("O-%d", seq)))
	}
	frames = append(frames, big, goodFrame(11, "O-11"))
	log := newFeedLog()
	url := playFrames(t, log, frames)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(url)
	cfg.MaxMessageBytes = limit
	cfg.Window = 16
	r := start(t, "12345", cfg, st, em)
	ok := waitFor(3*time.Second, func() bool { return log.isAcked(11) })
	r.stop(t)
	em.Wait()
	if !ok {
		t.Errorf("seq 11 never acked: %d connections, resume_after %v", log.connections(), log.resumesAfter())
	}
}
