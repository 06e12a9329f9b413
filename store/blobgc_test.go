package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// putOld stores content and backdates its blob by age, as if stored then.
func putOld(t *testing.T, s *Store, content string, age time.Duration) minsheng.BlobInfo {
	t.Helper()
	info, err := s.Blobs().PutBytes(context.Background(), []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	backdate(t, s, info, age)
	return info
}

func backdate(t *testing.T, s *Store, info minsheng.BlobInfo, age time.Duration) {
	t.Helper()
	then := time.Now().Add(-age)
	if err := os.Chtimes(s.Blobs().path(info.SHA256), then, then); err != nil {
		t.Fatal(err)
	}
}

func stored(s *Store, info minsheng.BlobInfo) bool {
	_, err := os.Stat(s.Blobs().path(info.SHA256))
	return err == nil
}

// commitOne records an item with no blob, so that the ledger is not empty.
func commitOne(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Commit(context.Background(), &minsheng.Record{ID: minsheng.ItemID(minsheng.ChannelNewspaper, "d", "1"), Destinations: []string{"petition"}}); err != nil {
		t.Fatal(err)
	}
}

func attachment(info minsheng.BlobInfo) minsheng.Attachment {
	return minsheng.Attachment{Name: "身份证.jpg", Type: "image/jpeg", Size: info.Size, SHA256: info.SHA256, Ref: info.Ref}
}

// TestCollectBlobs: blobs a ledger record or a queued message refers to
// stay, whatever refers to them (an item's attachment or raw original, a
// quarantined input's raw original, a dead letter, a superseded record);
// an unreferenced blob stays within the grace period and goes after it; a
// dry run removes nothing.
func TestCollectBlobs(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	old := 48 * time.Hour

	ledgerAtt := putOld(t, s, "attachment of a recorded item", old)
	ledgerRaw := putOld(t, s, "raw mail of a recorded item", old)
	quarantined := putOld(t, s, "raw mail that could not be parsed", old)
	supersededAtt := putOld(t, s, "attachment only the first record of an item names", old)
	queuedAtt := putOld(t, s, "attachment of an item queued, not yet recorded", old)
	deadLetterRaw := putOld(t, s, "raw mail dead-lettered, not yet recorded", old)
	deadLetterAtt := putOld(t, s, "attachment of an item dead-lettered, not yet recorded", old)
	upper := putOld(t, s, "attachment named in upper case", old)
	orphan := putOld(t, s, "ID card scan of a letter refused with 409", old)
	fresh := putOld(t, s, "attachment of an item in flight", time.Hour)

	item := func(ref string) *minsheng.Item {
		return &minsheng.Item{ID: minsheng.ItemID(minsheng.ChannelMayorMailbox, "mayor", ref), Channel: minsheng.ChannelMayorMailbox, Source: "mayor", Ref: ref}
	}
	it := item("recorded")
	it.RawRef = ledgerRaw.Ref
	it.Attachments = []minsheng.Attachment{attachment(ledgerAtt)}
	q := &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mayor", Ref: "bad", Reason: "undecodable", RawRef: quarantined.Ref}
	rev := item("revised")
	rev.Attachments = []minsheng.Attachment{attachment(supersededAtt)}
	up := item("upper")
	up.Attachments = []minsheng.Attachment{{Name: "a.png", SHA256: strings.ToUpper(upper.SHA256), Ref: "elsewhere"}}
	for _, r := range []*minsheng.Record{
		{ID: it.ID, Item: it, Destinations: []string{"gov_service"}},
		{ID: q.ID(), Quarantine: q, Destinations: []string{"dead_letter"}},
		{ID: rev.ID, Item: rev, Destinations: []string{"review"}},
		{ID: rev.ID, Item: item("revised"), Destinations: []string{"review", "petition"}}, // supersedes the first
		{ID: up.ID, Item: up, Destinations: []string{"gov_service"}},
	} {
		if err := s.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	queued := item("queued")
	queued.Attachments = []minsheng.Attachment{attachment(queuedAtt)}
	dlItem := item("dead-lettered")
	dlItem.Attachments = []minsheng.Attachment{attachment(deadLetterAtt)}
	dlq := &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mayor", Ref: "bad2", RawRef: deadLetterRaw.Ref}
	if _, err := s.Enqueue(ctx, []*minsheng.Envelope{
		{Destination: "petition", Kind: minsheng.KindItem, ItemID: queued.ID, Item: queued},
		{Destination: "dead_letter", Kind: minsheng.KindDeadLetter, ItemID: dlItem.ID, Item: dlItem, Reason: "too large"},
		{Destination: "discipline_dead_letter", Kind: minsheng.KindDeadLetter, ItemID: dlq.ID(), Quarantine: dlq},
	}); err != nil {
		t.Fatal(err)
	}

	keep := []minsheng.BlobInfo{ledgerAtt, ledgerRaw, quarantined, supersededAtt, queuedAtt, deadLetterRaw, deadLetterAtt, upper}
	rep, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := BlobGCReport{Records: 5, Messages: 3, Blobs: 10, Referenced: len(keep), Recent: 1, Removed: 1}
	if rep.Records != want.Records || rep.Messages != want.Messages || rep.Blobs != want.Blobs || rep.Referenced != want.Referenced ||
		rep.Recent != want.Recent || rep.Removed != want.Removed || rep.RemovedBytes != orphan.Size || rep.RecentBytes != fresh.Size {
		t.Fatalf("dry run: %+v, want %+v with %d bytes to remove", rep, want, orphan.Size)
	}
	for _, b := range append(keep, orphan, fresh) {
		if !stored(s, b) {
			t.Fatalf("the dry run removed a blob")
		}
	}

	rep, err = s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 1 || rep.RemovedBytes != orphan.Size || rep.Referenced != len(keep) || rep.Recent != 1 {
		t.Fatalf("collection: %+v", rep)
	}
	if stored(s, orphan) {
		t.Error("the old unreferenced blob is still stored")
	}
	if !stored(s, fresh) {
		t.Error("the unreferenced blob within the grace period was removed")
	}
	for i, b := range keep {
		if !stored(s, b) {
			t.Errorf("referenced blob %d was removed", i)
		}
	}
	// Acked and gone from the queue, with no record: its blob goes next.
	if _, err := s.Read(ctx, "petition", "desk", 10, time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Ack(ctx, "petition", "desk", []string{queued.ID}); err != nil {
		t.Fatal(err)
	}
	if rep, err = s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour}); err != nil || rep.Removed != 1 || stored(s, queuedAtt) {
		t.Fatalf("after the ack: %+v, %v", rep, err)
	}
}

// TestCollectBlobsKeepsABlobStoredAgain: content stored long ago for an
// item that failed, and stored again now for a new item in flight, is
// not collected: the second Put (or a desk's staged Commit) found it
// stored and must make it count as fresh, or the new item would be
// recorded with a reference to a blob the collector removed.
func TestCollectBlobsKeepsABlobStoredAgain(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	commitOne(t, s)
	small := putOld(t, s, "a photo sent twice", 48*time.Hour)
	large := putOld(t, s, strings.Repeat("x", smallBlob+1), 48*time.Hour)
	staged := putOld(t, s, "a scan a desk posts again", 48*time.Hour)

	if _, err := s.Blobs().PutBytes(ctx, []byte("a photo sent twice")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blobs().PutBytes(ctx, []byte(strings.Repeat("x", smallBlob+1))); err != nil {
		t.Fatal(err)
	}
	sb, err := s.Blobs().Stage(ctx, strings.NewReader("a scan a desk posts again"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Commit(); err != nil {
		t.Fatal(err)
	}
	rep, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]minsheng.BlobInfo{"small": small, "large": large, "staged": staged} {
		if !stored(s, b) {
			t.Errorf("the %s blob stored again was removed", name)
		}
	}
	if rep.Removed != 0 || rep.Recent != 3 {
		t.Fatalf("%+v", rep)
	}
}

// TestCollectBlobsRacingPut: whatever a collection does at the same
// moment, a blob a Put has returned is stored.
func TestCollectBlobsRacingPut(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	commitOne(t, s)
	for i := range 100 {
		content := fmt.Sprintf("blob %d", i%3)
		info := putOld(t, s, content, 48*time.Hour)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: time.Hour}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.Blobs().PutBytes(ctx, []byte(content)); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		r, err := s.Blobs().Open(ctx, info.Ref)
		if err != nil {
			t.Fatalf("round %d: a blob Put returned is gone: %v", i, err)
		}
		r.Close()
	}
}

// TestCollectBlobsRefusesAnEmptyLedger: with no record and no message at
// all, old blobs are not collected: a ledger moved away looks the same.
func TestCollectBlobsRefusesAnEmptyLedger(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := putOld(t, s, "a blob of a ledger that is elsewhere", 48*time.Hour)
	_, err := s.CollectBlobs(context.Background(), BlobGCOptions{Grace: 24 * time.Hour})
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("err %v", err)
	}
	if !stored(s, b) {
		t.Fatal("removed")
	}
}

// TestCollectBlobsRefusesASkippedLedger: a ledger whose damaged span was
// skipped (its records lost, a filler frame in their place) is refused
// unless told otherwise: the lost records' blobs look unreferenced.
func TestCollectBlobsRefusesASkippedLedger(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	commitOne(t, s)
	s.Close()
	// What fill leaves of a skipped span: a frame scan passes over.
	seg, err := os.OpenFile(filepath.Join(dir, "ledger", "0000000001.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seg.Write(encodeFrame(fillerID, make([]byte, 40))); err != nil {
		t.Fatal(err)
	}
	seg.Close()
	s = open(t, dir)
	defer s.Close()
	ctx := context.Background()
	b := putOld(t, s, "attachment of a record lost to damage", 48*time.Hour)
	_, err = s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour})
	if err == nil || !strings.Contains(err.Error(), "--despite-skipped-ledger") || !stored(s, b) {
		t.Fatalf("err %v, stored %v", err, stored(s, b))
	}
	rep, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour, DespiteSkippedLedger: true})
	if err != nil || rep.Removed != 1 || stored(s, b) {
		t.Fatalf("despite: %+v %v", rep, err)
	}
}

// TestCollectBlobsReadsEverySegment: references in every segment of the
// ledger count, read while records are being appended.
func TestCollectBlobsReadsEverySegment(t *testing.T) {
	old := segmentMax
	segmentMax = 4 << 10
	defer func() { segmentMax = old }()
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	var infos []minsheng.BlobInfo
	for i := range 60 {
		info := putOld(t, s, fmt.Sprintf("attachment %d", i), 48*time.Hour)
		infos = append(infos, info)
		it := &minsheng.Item{ID: minsheng.ItemID(minsheng.ChannelNewspaper, "d", fmt.Sprint(i)), Body: strings.Repeat("长", 100),
			Attachments: []minsheng.Attachment{attachment(info)}}
		if err := s.Commit(ctx, &minsheng.Record{ID: it.ID, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.ledger.segs) < 3 {
		t.Fatalf("%d segments", len(s.ledger.segs))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // appending meanwhile
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := minsheng.ItemID(minsheng.ChannelNewspaper, "more", fmt.Sprint(i))
			if err := s.Commit(ctx, &minsheng.Record{ID: id, Item: &minsheng.Item{ID: id, Body: strings.Repeat("长", 200)}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		rep, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Removed != 0 || rep.Referenced != len(infos) {
			t.Fatalf("%+v", rep)
		}
	}
	close(stop)
	<-done
}

func TestHashesIn(t *testing.T) {
	h := strings.Repeat("0123456789abcdef", 4)
	set := map[[32]byte]struct{}{}
	hashesIn([]byte(`{"ref":"sha256:`+h+`","x":"`+strings.ToUpper(h[1:])+`0","y":"`+h[:63]+`","z":"`+h+`a"}`), set)
	if len(set) != 2 {
		t.Fatalf("%d hashes, want 2 (a 64-digit run in either case; not 63, not 65)", len(set))
	}
	var sum [32]byte
	copy(sum[:], bytes.Repeat([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, 4))
	if _, ok := set[sum]; !ok {
		t.Fatal("decoded wrong")
	}
}

// TestCollectBlobsDamageInTheLastSegment: a frame that cannot be read in
// the middle of the last segment (damaged, or a read error, after the
// ledger was opened) is not a frame being written: the records after it
// are whole and may be the only ones naming a blob, so the collection
// fails and removes nothing. Before, the scan stopped there as at a frame
// being written, and its check (frames read against items held) passed
// whenever superseded records made up the count.
func TestCollectBlobsDamageInTheLastSegment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rewrite int // records of another item before the damaged one
	}{
		{"no superseded records", 0},
		{"superseded records make up the count", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			defer s.Close()
			ctx := context.Background()
			other := minsheng.ItemID(minsheng.ChannelNewspaper, "d", "other")
			for range tc.rewrite {
				if err := s.Commit(ctx, &minsheng.Record{ID: other, Destinations: []string{"petition"}}); err != nil {
					t.Fatal(err)
				}
			}
			damaged := minsheng.ItemID(minsheng.ChannelNewspaper, "d", "damaged")
			if err := s.Commit(ctx, &minsheng.Record{ID: damaged, Destinations: []string{"petition"}}); err != nil {
				t.Fatal(err)
			}
			at, _ := s.ledger.get(damaged)
			info := putOld(t, s, "attachment of the record after the damage", 48*time.Hour)
			it := &minsheng.Item{ID: minsheng.ItemID(minsheng.ChannelNewspaper, "d", "after"), Body: "信",
				Attachments: []minsheng.Attachment{attachment(info)}}
			if err := s.Commit(ctx, &minsheng.Record{ID: it.ID, Item: it, Destinations: []string{"petition"}}); err != nil {
				t.Fatal(err)
			}
			// A byte of the damaged record's checksum flipped under the
			// running gateway.
			seg, err := os.OpenFile(filepath.Join(dir, "ledger", "0000000001.log"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var b [1]byte
			if _, err := seg.ReadAt(b[:], int64(at.off)+5); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0xff
			if _, err := seg.WriteAt(b[:], int64(at.off)+5); err != nil {
				t.Fatal(err)
			}
			seg.Close()
			rep, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour})
			if err == nil || rep.Removed != 0 || !stored(s, info) {
				t.Fatalf("err %v, removed %d, stored %v: a blob a whole record after the damage names", err, rep.Removed, stored(s, info))
			}
		})
	}
}

// TestCollectBlobsRefusesALedgerCutShort: the corrupt end of a segment
// that is not the last, skipped with SkipCorruptLedger, loses its
// records like a skipped span; the collector must see that too, and keep
// the blobs those records named unless told otherwise.
func TestCollectBlobsRefusesALedgerCutShort(t *testing.T) {
	old := segmentMax
	segmentMax = 4 << 10
	defer func() { segmentMax = old }()
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	var infos []minsheng.BlobInfo
	for i := range 30 {
		info := putOld(t, s, fmt.Sprintf("attachment %d", i), 48*time.Hour)
		infos = append(infos, info)
		it := &minsheng.Item{ID: minsheng.ItemID(minsheng.ChannelNewspaper, "d", fmt.Sprint(i)), Body: strings.Repeat("长", 100),
			Attachments: []minsheng.Attachment{attachment(info)}}
		if err := s.Commit(ctx, &minsheng.Record{ID: it.ID, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.ledger.segs) < 2 {
		t.Fatalf("%d segments", len(s.ledger.segs))
	}
	s.Close()
	// A byte of the first segment's last frame flipped: no whole frame
	// after it in that segment.
	seg := filepath.Join(dir, "ledger", "0000000001.log")
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-3] ^= 0xff
	if err := os.WriteFile(seg, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{SkipCorruptLedger: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Started again without the option, as the gateway would be.
	s = open(t, dir)
	defer s.Close()
	rep, err := s.CollectBlobs(ctx, BlobGCOptions{Grace: 24 * time.Hour})
	if err == nil || !strings.Contains(err.Error(), "--despite-skipped-ledger") {
		t.Fatalf("collected %+v, err %v; want a refusal", rep, err)
	}
	for i, info := range infos {
		if !stored(s, info) {
			t.Errorf("attachment %d removed", i)
		}
	}
}
