package router

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
)

// TestKafkaRefusalSendsNothingElse: an item one of whose topics is
// missing is reported unavailable, and its retries leave no copies in the
// topics that exist (the producer checks every record of a request before
// handing any over). An item one of whose records is refused for good is
// another matter: its other destinations are sent theirs, and the dead
// letter names them (TestKafkaPartlyRefusedItem).
func TestKafkaRefusalSendsNothingElse(t *testing.T) {
	// A service request with a lead, for 12345 and the inspectors.
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}}
	for _, tc := range []struct {
		name    string
		queues  []string // destinations on the embedded queue; the others on Kafka
		missing bool     // only minsheng.gov_service exists (create_topics off)
		it      *minsheng.Item
	}{
		{name: "topic missing", queues: []string{"dead_letter", "discipline_dead_letter"}, missing: true, it: testItem("refused-missing")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testkafka.StartT(t)
			if err := k.CreateTopics("minsheng.gov_service"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := kafkaConfig(k)
			cfg.Kafka.CreateTopics = !tc.missing
			cfg.Kafka.BatchBytes = 64 << 10
			for _, n := range tc.queues {
				cfg.Destinations[n] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
			}
			s := openStore(t)
			r, err := New(ctx, cfg, Options{Queues: s})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for range 3 {
				short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
				dests, err := r.Route(short, tc.it, lead)
				stop()
				if err == nil {
					t.Fatalf("route: %v, want unavailable", dests)
				}
			}
			n := len(drain(t, s, "gov_service"))
			if cfg.Destinations["gov_service"].Sink == SinkKafka {
				msgs, err := k.Read(ctx, "minsheng.gov_service", "refusal-"+tc.name, 0, 500*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if string(m.Key) == tc.it.ID {
						n++
					}
				}
			}
			if n != 0 {
				t.Errorf("gov_service holds %d copies of an item it was not delivered", n)
			}
		})
	}
}

// TestKafkaRefusedBatchDeadLettersOnlyItsItem: a record the broker refuses
// for its size (a topic's max.message.bytes below batch_bytes) goes to the
// dead letter alone; the items whose records shared its produce request
// are delivered, whole.
func TestKafkaRefusedBatchDeadLettersOnlyItsItem(t *testing.T) {
	k, err := testkafka.Start(1, 1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	if err := k.Fake().CreateTopic("minsheng.gov_service", 1, map[string]string{"max.message.bytes": "100000"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := kafkaConfig(k)
	cfg.Destinations["dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	cfg.Kafka.MaxInFlight = 1 // records gather while the one request is out
	s := openStore(t)
	r, err := New(ctx, cfg, Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const rounds, small = 3, 40
	var mu sync.Mutex
	dead := map[string]bool{}
	var wg sync.WaitGroup
	route := func(it *minsheng.Item) {
		defer wg.Done()
		dests, err := r.Route(ctx, it, &minsheng.Decision{Class: minsheng.ClassGovService})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		dead[it.ID] = slices.Contains(dests, "dead_letter")
		mu.Unlock()
	}
	bodies := map[string]string{}
	for i := range rounds {
		for j := range small {
			it := testItem(fmt.Sprint("batch-", i, "-", j))
			it.Body = fmt.Sprint("第", i, "轮第", j, "封信")
			bodies[it.ID] = it.Body
			wg.Add(1)
			go route(it)
		}
		big := testItem(fmt.Sprint("batch-big-", i))
		big.Body = strings.Repeat("很长的信", 12000) // ~144 KB, over the topic's 100,000 bytes
		wg.Add(1)
		go route(big)
		wg.Wait()
		if !dead[big.ID] {
			t.Errorf("round %d: the record the broker refuses was not dead-lettered", i)
		}
	}
	var innocent int
	for id, d := range dead {
		if d && bodies[id] != "" {
			innocent++
		}
	}
	if innocent > 0 {
		t.Errorf("%d of %d small items dead-lettered for sharing a request with a large one", innocent, rounds*small)
	}
	msgs, err := k.Read(ctx, "minsheng.gov_service", "batch", rounds*small-innocent, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		var env minsheng.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil || env.Item == nil || env.Item.Body != bodies[string(m.Key)] {
			t.Fatalf("record %s is not its envelope (%d bytes): %v", m.Key, len(m.Value), err)
		}
	}
	if len(msgs) != rounds*small-innocent {
		t.Errorf("the topic holds %d records, want %d", len(msgs), rounds*small-innocent)
	}
}

// TestKafkaRecordOfCallerGoneIsNotSent: with a slow broker, a record whose
// caller stopped waiting (its route timed out: the source was told the
// item was not delivered and offers it again) and that is not sent yet is
// dropped, not sent late: it would land unrecorded, and come again when
// the source re-sends the item; and closing the sink would wait for the
// slow broker to take every such record.
func TestKafkaRecordOfCallerGoneIsNotSent(t *testing.T) {
	k := testkafka.StartT(t)
	ctx := context.Background()
	r, err := New(ctx, kafkaConfig(k), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fk := k.Fake()
	var produces atomic.Int64
	// The records in the requests the broker gets while some caller still
	// waits, which may land after their callers gave up; and in those it
	// gets once every caller has given up, which must hold none. (The
	// first max_in_flight requests go out at once, the later ones a second
	// on, each after one is answered; by then every caller has given up
	// unless starting the hundred took longer, as under -race and load.)
	var waiting atomic.Bool
	waiting.Store(true)
	var whileWaiting, afterAll atomic.Int64
	fk.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		fk.KeepControl()
		produces.Add(1)
		count := &afterAll
		if waiting.Load() {
			count = &whileWaiting
		}
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, pp := range tp.Partitions {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(pp.Records); err == nil {
					count.Add(int64(b.NumRecords))
				}
			}
		}
		fk.SleepControl(func() { time.Sleep(time.Second) }) // then handled as usual
		return nil, nil, false
	})
	const items = 100
	var wg sync.WaitGroup
	var delivered atomic.Int64
	for i := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			if _, err := r.Route(c, testItem(fmt.Sprint("gone-", i)), &minsheng.Decision{Class: minsheng.ClassPetition}); err == nil {
				delivered.Add(1)
			}
		}()
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	waiting.Store(false)
	start := time.Now()
	r.Close()
	t.Logf("Close took %v", time.Since(start))
	msgs, err := k.Read(ctx, "minsheng.petition", "gone", 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The records out while their callers waited may land after those
	// gave up; the others were dropped. How many went out so depends on
	// how busy the machine is (19 in the first two requests seen under
	// load; under -race, requests after the first two while the last
	// callers still waited), so the bound is read from the requests.
	t.Logf("%d of %d items delivered per the router; %d records in the topic, %d produce requests, %d records sent while callers waited, %d after",
		delivered.Load(), items, len(msgs), produces.Load(), whileWaiting.Load(), afterAll.Load())
	if n := afterAll.Load(); n > 0 {
		t.Errorf("%d records sent after every caller had been told they were not delivered", n)
	}
	if late := len(msgs) - int(delivered.Load()); late > int(whileWaiting.Load()) {
		t.Errorf("%d records landed after their callers were told they were not delivered, more than the %d sent while callers waited", late, whileWaiting.Load())
	}
}

// TestKafkaRefusedBatchResendDropsCallersGone: the records of a batch
// refused for good are sent again one request after another; with a slow
// broker a record's caller may stop waiting before its turn, and then it
// is dropped, not sent after its route was answered "not delivered".
func TestKafkaRefusedBatchResendDropsCallersGone(t *testing.T) {
	k := testkafka.StartT(t)
	fk := k.Fake()
	if err := fk.CreateTopic("minsheng.gov_service", 1, map[string]string{"max.message.bytes": "100000"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := kafkaConfig(k)
	cfg.Destinations["dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	cfg.Kafka.MaxInFlight = 1
	r, err := New(ctx, cfg, Options{Queues: openStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fk.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		fk.KeepControl()
		fk.SleepControl(func() { time.Sleep(200 * time.Millisecond) })
		return nil, nil, false
	})
	const small = 20
	var wg sync.WaitGroup
	var delivered atomic.Int64
	route := func(it *minsheng.Item) {
		defer wg.Done()
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if dests, err := r.Route(c, it, &minsheng.Decision{Class: minsheng.ClassGovService}); err == nil && slices.Contains(dests, "gov_service") {
			delivered.Add(1)
		}
	}
	big := testItem("resend-big")
	big.Body = strings.Repeat("很长的信", 12000) // over the topic's 100,000 bytes
	wg.Add(1)
	go route(big)
	for j := range small {
		wg.Add(1)
		go route(testItem(fmt.Sprint("resend-", j)))
	}
	wg.Wait()
	time.Sleep(time.Duration(small+2) * 200 * time.Millisecond) // every resend the old code would make
	msgs, err := k.Read(ctx, "minsheng.gov_service", "resend", 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d small items delivered per the router; %d records in the topic", delivered.Load(), small, len(msgs))
	if late := len(msgs) - int(delivered.Load()); late > 5 { // those out when the callers gave up land
		t.Errorf("%d records landed after their callers were told they were not delivered", late)
	}
}
