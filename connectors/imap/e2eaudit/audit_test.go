package e2eaudit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/imap/internal/dovetest"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/store"
)

var kafkaDests = []string{"media_oversight", "petition", "gov_service", "discipline", "rejected", "review"}

// TestMailboxToKafkaThroughCrashes: mails in a real Dovecot go through the
// built gateway (a process) to kfake while the gateway is SIGTERMed and
// SIGKILLed mid-batch, SIGKILLed while the broker is down (before and after
// route_timeout), one class topic refuses records (auth, for a while;
// max.message.bytes below the long petitions), and every mail must end up in
// the destinations its ledger record names, and only there, under one key.
// It fails, 30 of 240 mails lost, when the checkpoint advances at fetch
// rather than after the pipeline's ack. About 15 s; E2E_FULL=1 runs 1,200
// mails (E2E_MAILS, plus E2E_CORPUS trec06c mails) and restarts Dovecot too;
// MINSHENG_E2E_BIN uses a built binary instead of building one.
func TestMailboxToKafkaThroughCrashes(t *testing.T) {
	full := os.Getenv("E2E_FULL") != ""
	if _, err := dovetest.Binary(); err != nil {
		if os.Getenv("MINSHENG_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("MINSHENG_REQUIRE_DOVECOT=1 but %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	bin := os.Getenv("MINSHENG_E2E_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "minsheng")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/minsheng/minsheng/cmd/minsheng").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	total, _ := strconv.Atoi(os.Getenv("E2E_MAILS"))
	if total == 0 {
		total = 240
		if full {
			total = 1200
		}
	}
	nCorpus, _ := strconv.Atoi(os.Getenv("E2E_CORPUS"))
	began := time.Now()
	dir := t.TempDir()
	dv, err := dovetest.Start(filepath.Join(dir, "dovecot"))
	if err != nil {
		t.Fatal(err)
	}
	defer dv.Stop()
	{
		cl, err := imapclient.DialInsecure(dv.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		cl.Login(dovetest.User, dovetest.Password).Wait()
		if err := cl.Create("Archive", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	k, err := testkafka.Start(1, 3, filepath.Join(dir, "kafka"))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	topics := make([]string, len(kafkaDests))
	for i, d := range kafkaDests {
		topics[i] = "minsheng." + d
	}
	if err := k.CreateTopics(topics...); err != nil {
		t.Fatal(err)
	}
	if err := k.SetTopicConfig(context.Background(), "minsheng.petition", "max.message.bytes", "6000"); err != nil {
		t.Fatal(err)
	}

	// The mails.
	var mails []*mail
	for n := 1; n <= total; n++ {
		var m *mail
		switch {
		case n%97 == 0:
			m = &mail{n: n, raw: []byte(fmt.Sprintf("X-Junk: %d\r\nX-More-Junk: 2\r\n\r\n\xff\xfe garbage %d\r\n", n, n))}
		default:
			m = genMail(n, n%40 == 0)
		}
		mails = append(mails, finish(m))
	}
	mails = append(mails, corpus(t, nCorpus)...)
	byHash := map[string]*holding{}
	mailOf := map[string]*mail{}
	for _, m := range mails {
		if _, ok := mailOf[m.hash]; ok {
			t.Fatalf("two mails share hash %s", m.hash)
		}
		mailOf[m.hash] = m
		byHash[m.hash] = &holding{topicCopies: map[string]int{}, queues: map[string]int{}, keys: map[string]bool{}}
	}
	t.Logf("%d mails (%d generated, %d from trec06c)", len(mails), total, len(mails)-total)

	pw := filepath.Join(dir, "imap-pass")
	os.WriteFile(pw, []byte(dovetest.Password), 0o600)
	cfg := filepath.Join(dir, "minsheng.yaml")
	metricsAddr := freeAddr(t)
	os.WriteFile(cfg, []byte(fmt.Sprintf(configTmpl, k.Addrs()[0], dv.Addr, dovetest.User, pw, metricsAddr)), 0o644)
	logf, _ := os.Create(filepath.Join(dir, "gateway.log"))
	defer logf.Close()
	g := &gw{bin: bin, cfg: cfg, data: filepath.Join(dir, "data"), listen: freeAddr(t), metrics: metricsAddr, log: logf}

	inbox := func() uint32 {
		for {
			n, err := inboxCount(dv.Addr)
			if err == nil {
				return n
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitBelow := func(what string, n uint32, limit time.Duration) {
		deadline := time.Now().Add(limit)
		for inbox() > n {
			if time.Now().After(deadline) {
				t.Logf("%s: inbox still %d after %v", what, inbox(), limit)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitItems := func(what string, n float64) float64 {
		deadline := time.Now().Add(60 * time.Second)
		for {
			v, _ := g.metric("minsheng_items_total")
			if v >= n || time.Now().After(deadline) {
				return v
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	q := len(mails) / 4
	batches := [][]*mail{mails[:q], mails[q : 2*q], mails[2*q : 3*q], mails[3*q:]}

	// 1. SIGTERM mid-batch.
	appendAll(t, dv.Addr, batches[0])
	g.start(t)
	got := waitItems("sigterm", float64(len(batches[0])/3))
	left := inbox()
	d := g.signal(t, syscall.SIGTERM)
	t.Logf("phase 1: SIGTERM with %d of %d in the inbox; stopped in %v, %d left; %v offered", left, len(batches[0]), d, inbox(), got)

	// 2. SIGKILL mid-batch.
	appendAll(t, dv.Addr, batches[1])
	g.start(t)
	got = waitItems("sigkill", float64(len(batches[1])/2))
	left = inbox()
	g.signal(t, syscall.SIGKILL)
	t.Logf("phase 2: SIGKILL with %d in the inbox; %v offered", left, got)

	// 3. The broker down before the batch comes in; the gateway fetches
	// it, retries (route_timeout not reached) past checkpoint_every, and is
	// SIGKILLed; then a media_oversight refusing (auth, may pass) past
	// route_timeout and a broker stop past it with a SIGKILL in the outage.
	k.Stop()
	appendAll(t, dv.Addr, batches[2][:len(batches[2])/2])
	g.start(t)
	time.Sleep(1500 * time.Millisecond)
	g.signal(t, syscall.SIGKILL)
	t.Logf("phase 3: SIGKILL with the broker down, %d in the inbox", inbox())
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	fault := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.media_oversight", Err: kerr.TopicAuthorizationFailed, Count: -1})
	g.start(t)
	appendAll(t, dv.Addr, batches[2][len(batches[2])/2:])
	got, _ = g.metric("minsheng_items_total")
	got = waitItems("broker", got+float64(len(batches[2])/4))
	if full {
		time.Sleep(2500 * time.Millisecond)
	}
	fault.Remove()
	k.Stop()
	t.Logf("phase 3: broker stopped with %d in the inbox", inbox())
	time.Sleep(3 * time.Second)
	inc, _ := g.metric("minsheng_incomplete_items")
	g.signal(t, syscall.SIGKILL)
	t.Logf("phase 3: gateway SIGKILLed in the outage (%v incomplete), %d in the inbox", inc, inbox())
	if full {
		time.Sleep(3 * time.Second)
	}
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	g.start(t)

	// 4. Dovecot restarted mid-batch, then a SIGTERM during a broker outage.
	if !full {
		appendAll(t, dv.Addr, batches[3])
	} else {
		phase4(t, g, k, dv, batches[3], inbox, waitBelow)
	}
	_ = waitBelow

	// Quiesce: inbox empty (after_ack move), no incomplete route.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n := inbox()
		inc, ok := g.metric("minsheng_incomplete_items")
		if n == 0 && ok && inc == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("not quiescent: inbox %d, incomplete %v (%v)", n, inc, ok)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	d = g.signal(t, syscall.SIGTERM)
	t.Logf("all handled at %v; stopped in %v", time.Since(began), d)

	// Accounting.
	keyHash := map[string]string{}
	dups := readTopics(t, k, kafkaDests, byHash, keyHash)
	st, err := store.Open(g.data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, qd := range []string{"dead_letter", "discipline_dead_letter"} {
		msgs, err := st.Read(context.Background(), qd, "audit", 100000, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, qm := range msgs {
			h := envHash(qm.Envelope)
			hd := byHash[h]
			if hd == nil {
				t.Errorf("%s: message of no known mail %s", qd, qm.Envelope.ItemID)
				continue
			}
			hd.queues[qd]++
			hd.keys[qm.Envelope.ItemID] = true
		}
	}
	recs := map[string]int{}
	recOf := map[string]string{}
	incomplete := 0
	problems := map[string]int{}
	places := map[string]int{}
	err = st.Each(func(r *minsheng.Record) error {
		ref := ""
		if r.Item != nil {
			ref = r.Item.Ref
		} else if r.Quarantine != nil {
			ref = r.Quarantine.Ref
		}
		h := ref
		if i := strings.LastIndexAny(ref, "#:"); i >= 0 {
			h = ref[i+1:]
		}
		hd := byHash[h]
		if hd == nil {
			t.Errorf("ledger record %s of no known mail (ref %q)", r.ID, ref)
			return nil
		}
		recs[h]++
		recOf[h] = r.ID
		if r.Incomplete {
			incomplete++
		}
		var held []string
		for d, c := range hd.topicCopies {
			if c > 0 {
				held = append(held, d)
			}
		}
		for d, c := range hd.queues {
			if c > 0 {
				held = append(held, d)
			}
		}
		sort.Strings(held)
		dests := slices.Clone(r.Destinations)
		sort.Strings(dests)
		if !slices.Equal(held, dests) {
			problems["ledger destinations != held"]++
			if problems["ledger destinations != held"] <= 10 {
				t.Errorf("mail %d (%s): ledger says %v, held by %v (incomplete %v, undelivered %v)", mailOf[h].n, r.ID, dests, held, r.Incomplete, r.Undelivered)
			}
		}
		if len(hd.keys) > 1 || (len(hd.keys) == 1 && !hd.keys[r.ID]) {
			problems["keys differ"]++
			t.Errorf("mail %d: keys %v, ledger id %s", mailOf[h].n, hd.keys, r.ID)
		}
		if r.Decision != nil && r.Decision.Flags.DisciplineLead && !slices.Contains(held, "discipline") && !slices.Contains(held, "discipline_dead_letter") {
			problems["lead not at the inspectors"]++
			t.Errorf("mail %d: lead, held by %v", mailOf[h].n, held)
		}
		if len(held) == 0 {
			problems["only in the ledger"]++
			t.Errorf("mail %d (%s): only in the ledger %v", mailOf[h].n, r.ID, r.Destinations)
		}
		for _, c := range hd.queues {
			if c > 1 {
				problems["queue duplicates"]++
			}
		}
		places[strings.Join(held, "+")]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for h, hd := range byHash {
		m := mailOf[h]
		if recs[h] == 0 {
			problems["no ledger record"]++
			if len(hd.topicCopies)+len(hd.queues) == 0 {
				problems["LOST (nowhere)"]++
				t.Errorf("mail %d (%s) lost: no record, no destination", m.n, h)
			} else {
				t.Errorf("mail %d held by %v %v but no ledger record", m.n, hd.topicCopies, hd.queues)
			}
		}
	}
	// Logs: no body, no complainant.
	logb, _ := os.ReadFile(filepath.Join(dir, "gateway.log"))
	leaks := 0
	for _, m := range mails {
		for _, s := range []string{m.from, m.token, m.phone} {
			if s != "" && strings.Contains(string(logb), s) {
				leaks++
				if leaks <= 5 {
					t.Errorf("log holds %q of mail %d", s, m.n)
				}
			}
		}
	}
	for _, s := range []string{"扶贫款", "塌陷成坑", "市长您好"} {
		if strings.Contains(string(logb), s) {
			t.Errorf("log holds body text %q", s)
		}
	}
	t.Logf("ACCOUNT: mails in %d; ledger records %d (incomplete %d); places: %s", len(mails), len(recs), incomplete, summary(places))
	t.Logf("ACCOUNT: Kafka duplicates (same key, extra copies) %d; problems: %s; log leaks %d; log lines %d; time %v",
		dups, summary(problems), leaks, strings.Count(string(logb), "\n"), time.Since(began))
}

func phase4(t *testing.T, g *gw, k *testkafka.Cluster, dv *dovetest.Server, batch []*mail, inbox func() uint32, waitBelow func(string, uint32, time.Duration)) {
	half := len(batch) / 2
	appendAll(t, dv.Addr, batch[:half])
	waitBelow("dovecot", uint32(inbox()*2/3), 60*time.Second)
	if err := dv.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("phase 4: dovecot restarted")
	appendAll(t, dv.Addr, batch[half:])
	k.Stop()
	time.Sleep(3 * time.Second)
	inc, _ := g.metric("minsheng_incomplete_items")
	d := g.signal(t, syscall.SIGTERM)
	t.Logf("phase 4: SIGTERM in a broker outage (%v incomplete, %d in the inbox), stopped in %v", inc, inbox(), d)
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	g.start(t)

}
