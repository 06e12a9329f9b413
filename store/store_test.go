package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	minsheng "github.com/minsheng/minsheng"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckpointsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	if v, err := s.Get(ctx, "imap/mayor"); err != nil || v != nil {
		t.Fatalf("absent key: %q, %v", v, err)
	}
	if err := s.Put(ctx, "imap/mayor", []byte("42:17")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	v, err := s.Get(ctx, "imap/mayor")
	if err != nil || string(v) != "42:17" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("second Open of a locked store succeeded")
	}
}

func TestGroupCommitManyWriters(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := minsheng.ItemID(minsheng.ChannelHotline, "feed", fmt.Sprint(i))
			if err := s.Commit(ctx, &minsheng.Record{ID: id, Destinations: []string{"gov_service"}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, _ := s.CountItems(); n != 200 {
		t.Fatalf("ledger holds %d records, want 200", n)
	}
	r, err := s.Lookup(ctx, minsheng.ItemID(minsheng.ChannelHotline, "feed", "7"))
	if err != nil || r.Destinations[0] != "gov_service" {
		t.Fatalf("lookup: %+v, %v", r, err)
	}
	if _, err := s.Lookup(ctx, "ms1nothere"); !errors.Is(err, minsheng.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
}

func TestFailingWriteDoesNotSinkItsBatch(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.update(ctx, func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucketCheckpoints).Put([]byte(fmt.Sprint("item-", i)), []byte("{}")); err != nil {
					return err
				}
				if i%10 == 0 {
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Fatalf("write %d: err %v", i, err)
		}
	}
	n := 0
	s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketCheckpoints).Stats().KeyN; return nil })
	if n != 45 {
		t.Fatalf("%d keys, want 45: a failed write's changes leaked or others were lost", n)
	}
}

func env(dest, id string) *minsheng.Envelope {
	return &minsheng.Envelope{SchemaVersion: "1", Destination: dest, Kind: minsheng.KindItem, ItemID: id}
}

func TestQueueLeaseAckAndDedupe(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	q, err := s.Enqueue(ctx, []*minsheng.Envelope{env("petition", "a"), env("petition", "b"), env("discipline", "a")})
	if err != nil || !slices.Equal(q, []bool{true, true, true}) {
		t.Fatalf("enqueue: %v, %v", q, err)
	}
	// the same item again is not queued twice, and the answer says which
	// envelope was queued (in the order given)
	if q, _ := s.Enqueue(ctx, []*minsheng.Envelope{env("media_oversight", "c"), env("petition", "a")}); !slices.Equal(q, []bool{true, false}) {
		t.Fatalf("re-enqueue queued %v, want c alone", q)
	}
	msgs, err := s.Read(ctx, "petition", "desk", 10, time.Minute, 0)
	if err != nil || len(msgs) != 2 || msgs[0].Envelope.ItemID != "a" || msgs[1].Envelope.ItemID != "b" {
		t.Fatalf("read: %+v, %v", msgs, err)
	}
	// leased: a second reader sees nothing
	if msgs, _ := s.Read(ctx, "petition", "desk", 10, time.Minute, 0); len(msgs) != 0 {
		t.Fatalf("leased messages handed out twice: %+v", msgs)
	}
	n, refused, err := s.Ack(ctx, "petition", "desk", []string{"a", "zzz"})
	if err != nil || n != 1 || !slices.Equal(refused, []minsheng.Refusal{{ID: "zzz", Reason: minsheng.RefusedUnknown}}) {
		t.Fatalf("ack: %d %v, %v", n, refused, err)
	}
	// restart: leases are forgotten, unacked b comes back, acked a does not
	s.Close()
	s = open(t, dir)
	defer s.Close()
	msgs, err = s.Read(ctx, "petition", "desk", 10, time.Minute, 0)
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.ItemID != "b" {
		t.Fatalf("after restart: %+v, %v", msgs, err)
	}
	if d, _ := s.QueueDepth("discipline"); d != 1 {
		t.Fatalf("discipline depth %d", d)
	}
	// still waiting after the restart: not queued twice
	if q, _ := s.Enqueue(ctx, []*minsheng.Envelope{env("petition", "b")}); q[0] {
		t.Fatal("an item waiting in the queue was queued again after a restart")
	}
	// an acked item offered again is queued again, under the same ID
	if q, _ := s.Enqueue(ctx, []*minsheng.Envelope{env("petition", "a")}); !q[0] {
		t.Fatal("a re-delivered item was not queued")
	}
	if msgs, _ := s.Read(ctx, "petition", "desk", 10, time.Minute, 0); len(msgs) != 1 || msgs[0].Envelope.ItemID != "a" {
		t.Fatalf("re-delivered item read: %+v", msgs)
	}
	if n, _, _ := s.Ack(ctx, "petition", "desk", []string{"a", "b"}); n != 2 {
		t.Fatalf("acked %d", n)
	}
	if d, _ := s.QueueDepth("petition"); d != 0 {
		t.Fatalf("petition depth %d after acking all", d)
	}
}

func TestLedgerIndexSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = minsheng.ItemID(minsheng.ChannelVillage, "c", fmt.Sprint(i))
		if err := s.Commit(ctx, &minsheng.Record{ID: ids[i], Destinations: []string{fmt.Sprint("d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// a later record for the same item supersedes the first
	s.Commit(ctx, &minsheng.Record{ID: ids[7], Destinations: []string{"newer"}})
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if n, _ := s.CountItems(); n != 300 {
		t.Fatalf("%d items after reopen", n)
	}
	for i, id := range ids {
		r, err := s.Lookup(ctx, id)
		want := fmt.Sprint("d", i)
		if i == 7 {
			want = "newer"
		}
		if err != nil || r.Destinations[0] != want {
			t.Fatalf("%s: %+v %v", id, r, err)
		}
	}
	if s.Seen(minsheng.ItemID(minsheng.ChannelVillage, "c", "nope")) {
		t.Fatal("Seen an item never committed")
	}
}

func TestQueueLeaseExpiryAndRelease(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	s.Enqueue(ctx, []*minsheng.Envelope{env("review", "x")})
	if _, err := s.Read(ctx, "review", "", 1, time.Minute, 0); err == nil || !strings.Contains(err.Error(), "holder") {
		t.Fatalf("read without a holder: %v, want an error naming the holder", err)
	}
	m, _ := s.Read(ctx, "review", "desk", 1, 50*time.Millisecond, 0)
	if len(m) != 1 || m[0].Deliveries != 1 {
		t.Fatalf("first read %+v", m)
	}
	m, _ = s.Read(ctx, "review", "desk", 1, time.Minute, 2*time.Second)
	if len(m) != 1 || m[0].Deliveries != 2 {
		t.Fatalf("after lease expiry %+v", m)
	}
	if n, refused := s.Release("review", "desk", []string{"x"}); n != 1 || len(refused) != 0 {
		t.Fatalf("release: %d %v", n, refused)
	}
	// Released, its holder is no one: an ack or release without a holder
	// must not match it.
	if n, refused := s.Release("review", "", []string{"x"}); n != 0 || len(refused) != 1 {
		t.Fatalf("release by no one: %d %v", n, refused)
	}
	if n, refused, err := s.Ack(ctx, "review", "", []string{"x"}); n != 0 || len(refused) != 1 || err != nil {
		t.Fatalf("ack by no one: %d %v %v", n, refused, err)
	}
	m, _ = s.Read(ctx, "review", "desk", 1, time.Minute, 0)
	if len(m) != 1 || m[0].Deliveries != 3 {
		t.Fatalf("after release %+v", m)
	}
}

func TestQueueLongPollWakesOnEnqueue(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	got := make(chan []minsheng.QueuedMessage, 1)
	go func() {
		m, _ := s.Read(ctx, "media_oversight", "desk", 5, time.Minute, 10*time.Second)
		got <- m
	}()
	time.Sleep(50 * time.Millisecond)
	s.Enqueue(ctx, []*minsheng.Envelope{env("media_oversight", "late")})
	select {
	case m := <-got:
		if len(m) != 1 || m[0].Envelope.ItemID != "late" {
			t.Fatalf("long poll got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not wake on enqueue")
	}
}

func TestBlobsContentAddressedAndCapped(t *testing.T) {
	b, err := OpenBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, err := b.Put(ctx, strings.NewReader("附件内容"), 100)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := b.PutBytes(ctx, []byte("附件内容"))
	if again.Ref != info.Ref || info.Size != int64(len("附件内容")) {
		t.Fatalf("same content, refs %s %s", info.Ref, again.Ref)
	}
	r, err := b.Open(ctx, info.Ref)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r)
	r.Close()
	if string(body) != "附件内容" {
		t.Fatalf("read back %q", body)
	}
	if _, err := b.Put(ctx, bytes.NewReader(make([]byte, 101)), 100); !errors.Is(err, minsheng.ErrTooLarge) {
		t.Fatalf("over cap: %v", err)
	}
	if _, err := b.Open(ctx, "sha256:../../etc/passwd"); !errors.Is(err, minsheng.ErrNotFound) {
		t.Fatalf("bad ref: %v", err)
	}
}

// Concurrent Puts share their syncs; every blob is whole and readable once
// its Put has returned.
func TestBlobsConcurrentPuts(t *testing.T) {
	b, err := OpenBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	refs := make([]string, 200)
	for i := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := b.PutBytes(ctx, []byte(fmt.Sprintf("blob %d", i%150))) // some repeats
			if err != nil {
				t.Error(err)
				return
			}
			refs[i] = info.Ref
		}()
	}
	wg.Wait()
	for i, ref := range refs {
		r, err := b.Open(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		r.Close()
		if string(body) != fmt.Sprintf("blob %d", i%150) {
			t.Fatalf("blob %d reads %q", i, body)
		}
	}
	left := 0
	filepath.WalkDir(b.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), ".put-") || strings.HasPrefix(d.Name(), "put-")) {
			left++
		}
		return nil
	})
	if left != 0 {
		t.Fatalf("%d temporary files left", left)
	}
}

// TestQueueReadWhileEnqueueing: a desk that reads while items are being
// queued one by one, and acks each message at once, has every ack taken:
// a message is never handed out before the queue knows its ID (its ack
// would be refused as unknown and the message handed out again).
func TestQueueReadWhileEnqueueing(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	const n = 2000
	go func() {
		for i := range n {
			if _, err := s.Enqueue(ctx, []*minsheng.Envelope{env("gov_service", fmt.Sprintf("ms1-%05d", i))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	acked := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(acked) < n && time.Now().Before(deadline) {
		msgs, err := s.Read(ctx, "gov_service", "desk", 50, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if acked[m.Envelope.ItemID] {
				t.Fatalf("%s handed out again after its ack", m.Envelope.ItemID)
			}
			k, refused, err := s.Ack(ctx, "gov_service", "desk", []string{m.Envelope.ItemID})
			if err != nil || k != 1 || len(refused) > 0 {
				t.Fatalf("ack of %s just read: %d acked, refused %v, %v", m.Envelope.ItemID, k, refused, err)
			}
			acked[m.Envelope.ItemID] = true
		}
	}
	if len(acked) != n {
		t.Fatalf("%d of %d acked", len(acked), n)
	}
	if d, _ := s.QueueDepth("gov_service"); d != 0 {
		t.Fatalf("depth %d after every ack", d)
	}
}

// TestQueueSameItemEnqueuedAtOnce: two writers queueing the same items to
// one queue at the same moment queue each once.
func TestQueueSameItemEnqueuedAtOnce(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	newly := make([]int, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				q, err := s.Enqueue(ctx, []*minsheng.Envelope{env("petition", fmt.Sprintf("ms1-%04d", i))})
				if err != nil {
					t.Error(err)
					return
				}
				if q[0] {
					newly[w]++
				}
			}
		}()
	}
	wg.Wait()
	if d, _ := s.QueueDepth("petition"); d != n || newly[0]+newly[1] != n {
		t.Fatalf("depth %d, newly queued %d + %d, want %d in all", d, newly[0], newly[1], n)
	}
	// The same item twice in one call is queued once, without waiting on itself.
	q, err := s.Enqueue(ctx, []*minsheng.Envelope{env("petition", "ms1-twice"), env("petition", "ms1-twice")})
	if err != nil || !slices.Equal(q, []bool{true, false}) {
		t.Fatalf("one call, one item twice: %v queued, %v; want the first", q, err)
	}
}

// TestBlobsOpenRemovesWhatACrashLeft: the temporary files of Puts killed
// part way are removed at open; stored blobs are not.
func TestBlobsOpenRemovesWhatACrashLeft(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	small, _ := b.PutBytes(ctx, []byte("小附件"))
	large, err := b.Put(ctx, bytes.NewReader(bytes.Repeat([]byte("大"), 100_000)), 0)
	if err != nil {
		t.Fatal(err)
	}
	left := []string{filepath.Join(dir, "tmp", "put-123"), filepath.Join(dir, "tmp", "stage-789"), filepath.Join(dir, small.SHA256[:2], ".put-456")}
	for _, name := range left {
		if err := os.WriteFile(name, []byte("half a blob"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err = OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range left {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", name, err)
		}
	}
	for _, ref := range []string{small.Ref, large.Ref} {
		r, err := b.Open(ctx, ref)
		if err != nil {
			t.Fatalf("stored blob gone: %v", err)
		}
		r.Close()
	}
}

// TestOpenRefusesACutStateFile: a state.db shorter than its last
// transaction left it is refused with an error naming the file, not opened
// (bbolt would die of SIGBUS reading past its end).
func TestOpenRefusesACutStateFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	for i := range 50 {
		if _, err := s.Enqueue(ctx, []*minsheng.Envelope{env("petition", fmt.Sprintf("ms1-%03d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	path := filepath.Join(dir, "state.db")
	if err := checkBoltSize(path); err != nil {
		t.Fatalf("whole file refused: %v", err)
	}
	// bbolt grows the file ahead of its pages: cut into the pages it wrote.
	if err := os.Truncate(path, 3*int64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "state.db") || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("Open of a cut state.db = %v", err)
	}
}

// TestQueueEnqueueOppositeOrders: two Enqueues of one item to the same two
// queues, naming them in opposite orders, both finish (each claiming one
// queue and waiting for the other's claim would never end).
func TestQueueEnqueueOppositeOrders(t *testing.T) {
	s := open(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for round := range 500 {
		id := fmt.Sprintf("ms1-%04d", round)
		a, b := env("petition", id), env("gov_service", id)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w, envs := range [][]*minsheng.Envelope{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[w] = s.Enqueue(ctx, envs)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v / %v", round, errs[0], errs[1])
		}
	}
	for _, dest := range []string{"petition", "gov_service"} {
		if d, _ := s.QueueDepth(dest); d != 500 {
			t.Errorf("%s holds %d, want 500", dest, d)
		}
	}
}
