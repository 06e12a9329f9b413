package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/triage"
)

// TestIncompleteRouteAcrossRestart: a press complaint with a lead goes to
// the media desk's topic and the inspectors'. The inspectors' topic fails
// (TOPIC_AUTHORIZATION_FAILED) past route_timeout: the desk gets 503, the
// media topic has the item, and the record says so (incomplete), to a
// desk told of the lead; the media desk sees it as it will once finished
// and nothing of the inspectors. The gateway is restarted, the desk posts
// again (503 while the topic fails) and again once it is mended: 202,
// and each topic holds the item once.
func TestIncompleteRouteAcrossRestart(t *testing.T) {
	k, c, body, id := leadSetup(t, triage.Rule{Name: "press", Any: []string{"请记者曝光"}, Class: minsheng.ClassMediaOversight, Force: true, Weight: 1},
		"LEAD-INC-1", "道路塌陷无人修", "小区门口道路塌陷多日无人修复，社区主任收受施工方好处费，对居民反映置之不理，请记者曝光。")
	r := start(t, c)
	// Created by the gateway at start: fail produce to it from now on.
	fault := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: kerr.TopicAuthorizationFailed, Count: -1})
	if a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", body); a.status != http.StatusServiceUnavailable {
		t.Fatalf("posted while the inspectors' topic fails: %d %s", a.status, a.body)
	}
	if a := call(t, "GET", r.url+"/v1/items/"+id, readerToken, "", nil); a.status != 200 || !strings.Contains(string(a.body), `"incomplete":true`) {
		t.Errorf("a desk reading every destination: %d %s, want incomplete", a.status, a.body)
	}
	a := call(t, "GET", r.url+"/v1/items/"+id, mediaToken, "", nil)
	if a.status != 200 {
		t.Fatalf("media desk: %d %s", a.status, a.body)
	}
	for _, s := range []string{"incomplete", `"discipline"`, "discipline_lead\":true", "好处费\"", "吴某"} {
		if strings.Contains(string(a.body), s) {
			t.Errorf("the media desk's view holds %s: %s", s, a.body)
		}
	}
	if !strings.Contains(string(a.body), `"step":"acked"`) {
		t.Errorf("the media desk's view is not as it will be once finished (acked): %s", a.body)
	}
	if a := call(t, "GET", r.url+"/v1/items/"+id, cdiToken, "", nil); a.status != http.StatusNotFound {
		t.Errorf("the inspectors' desk, whose topic lacks the item: %d %s", a.status, a.body)
	}

	r.stop()
	r = start(t, c)
	if a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", body); a.status != http.StatusServiceUnavailable {
		t.Fatalf("posted again after a restart, the topic still failing: %d %s", a.status, a.body)
	}
	fault.Remove()
	a = call(t, "POST", r.url+"/v1/items", deskToken, "application/json", body)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted || acc.ID != id {
		t.Fatalf("posted once the topic is mended: %d %s", a.status, a.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, topic := range []string{"minsheng.media_oversight", "minsheng.discipline"} {
		n, err := k.Copies(ctx, topic, "incomplete-check", id, 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s holds %d copies", topic, n)
		if n != 1 {
			t.Errorf("%s holds %d copies of the item, want 1", topic, n)
		}
	}
	if a := call(t, "GET", r.url+"/v1/items/"+id, readerToken, "", nil); a.status != 200 || strings.Contains(string(a.body), "incomplete") {
		t.Errorf("finished: %d %s", a.status, a.body)
	}
}

// leadSetup is a Kafka cluster and a gateway configuration with rule added
// and a route_timeout of 500 ms, and the desk's post of a letter with a
// lead (ref, title, text, a named complainant) and the item's ID.
func leadSetup(t *testing.T, rule triage.Rule, ref, title, text string) (*testkafka.Cluster, *Config, []byte, string) {
	t.Helper()
	k := testkafka.StartT(t)
	c := testConfig(t, k)
	c.Pipeline.RouteTimeout = 500 * time.Millisecond
	c.Triage.Rules = append(c.Triage.Rules, rule)
	body, _ := json.Marshal(map[string]any{"ref": ref, "title": title, "body": text, "submitted_at": "2026-11-21T09:30:00+08:00",
		"complainant": map[string]any{"name": "吴某", "phone": "13000000001", "anonymous": false, "consent_to_publish": false}})
	return k, c, body, minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", ref)
}

// TestIncompleteFinishedWithoutOffer: a service request with a discipline
// lead goes to 12345's topic and the inspectors'. The inspectors' topic
// fails (TOPIC_AUTHORIZATION_FAILED) past route_timeout: the desk gets
// 503, 12345's topic has the item, the record is incomplete, and the desk
// gives up. The topic comes back, and with no offer from the source the
// gateway sends the item to the inspectors itself: once, 12345's topic
// still holding one copy, the record complete. The desk posting it later
// is answered from the record (202, a repeat) and nothing is sent.
// Before the finisher the inspectors never got the item.
func TestIncompleteFinishedWithoutOffer(t *testing.T) {
	k, c, body, id := leadSetup(t, triage.Rule{Name: "lamp-with-lead", Any: []string{"路灯坏了"}, Class: minsheng.ClassGovService, DisciplineLead: true, Force: true, Weight: 1},
		"LEAD-FIN-1", "路灯坏了", "小区路灯坏了三个月，街道办主任收了维修款不办事。")
	c.Pipeline.FinishInterval = 200 * time.Millisecond
	var log logBuffer
	r := startLogged(t, c, log.logger())
	ctx := context.Background()
	// The router's lock of the item, which the finisher takes before it
	// sends, held until the topic is back: no attempt of the finisher's is
	// in transit when it comes back, which might land after the attempt
	// gave up at route_timeout and be sent again at the next pass (a
	// repeat under the same key, as an offer's attempt may make).
	unlock := r.g.Router().LockItem(id)
	fault := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: kerr.TopicAuthorizationFailed, Count: -1})
	if a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", body); a.status != http.StatusServiceUnavailable {
		t.Fatalf("posted while the inspectors' topic fails: %d %s", a.status, a.body)
	}
	rec, err := r.g.Store().Lookup(ctx, id)
	if err != nil || !rec.Incomplete || !slices.Equal(rec.Destinations, []string{"gov_service"}) {
		t.Fatalf("record while the inspectors' topic fails: %+v %v; want incomplete, gov_service", rec, err)
	}
	if got := r.g.Store().Incomplete(); !slices.Equal(got, []string{id}) {
		t.Errorf("the store's incomplete IDs %v, want %s", got, id)
	}

	// The desk gave up. The topic comes back; nobody offers the item.
	fault.Remove()
	unlock()
	if !waitUntil(60*time.Second, func() bool {
		rec, err = r.g.Store().Lookup(ctx, id)
		return err == nil && !rec.Incomplete
	}) {
		t.Fatalf("the record is still incomplete a minute after the inspectors' topic came back: %+v %v", rec, err)
	}
	if got := slices.Sorted(slices.Values(rec.Destinations)); !slices.Equal(got, []string{"discipline", "gov_service"}) || rec.Trail[len(rec.Trail)-1].Step != minsheng.StepAcked {
		t.Errorf("finished record: destinations %v, trail %+v; want both, acked", rec.Destinations, rec.Trail)
	}
	if got := r.g.Store().Incomplete(); len(got) != 0 {
		t.Errorf("the store's incomplete IDs %v after the finish, want none", got)
	}
	copies := func(group string) map[string]int {
		t.Helper()
		n := map[string]int{}
		for _, topic := range []string{"minsheng.gov_service", "minsheng.discipline"} {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			c, err := k.Copies(rctx, topic, group, id, 1, time.Second)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			n[topic] = c
		}
		return n
	}
	want := map[string]int{"minsheng.gov_service": 1, "minsheng.discipline": 1}
	if got := copies("finisher-check"); !maps.Equal(got, want) {
		t.Errorf("copies after the finish %v, want %v", got, want)
	}
	trail := len(rec.Trail)

	// The desk posts it again after all: a repeat, acked, nothing sent.
	a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", body)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted || acc.ID != id || !acc.Duplicate {
		t.Errorf("posted again after the finish: %d %s; want 202, a repeat", a.status, a.body)
	}
	if got := copies("finisher-check-again"); !maps.Equal(got, want) {
		t.Errorf("copies after the post again %v, want %v", got, want)
	}
	if rec, err = r.g.Store().Lookup(ctx, id); err != nil || len(rec.Trail) != trail || rec.Incomplete {
		t.Errorf("record after the post again: %+v %v; want it unchanged", rec, err)
	}
	// One line for the finish, naming the item and what was sent, and no
	// text or identity of the letter's.
	var finished []string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "incomplete route finished") {
			finished = append(finished, l)
		}
	}
	if len(finished) != 1 || !strings.Contains(finished[0], "by=finisher") || !strings.Contains(finished[0], "id="+id) || !strings.Contains(finished[0], "sent=discipline") {
		t.Errorf("log lines of the finish %q, want one by the finisher naming the item and the inspectors' destination", finished)
	}
	for _, secret := range []string{"路灯", "维修款", "吴某", "13000000001"} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log holds %s", secret)
		}
	}
	mf, err := r.g.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var complete, gauge float64 = -1, -1
	for _, f := range mf {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "minsheng_incomplete_finished_total":
				if m.GetLabel()[0].GetValue() == "complete" {
					complete = m.GetCounter().GetValue()
				}
			case "minsheng_incomplete_items":
				gauge = m.GetGauge().GetValue()
			}
		}
	}
	if complete != 1 || gauge != 0 {
		t.Errorf("minsheng_incomplete_finished_total{outcome=complete} %v, minsheng_incomplete_items %v; want 1, 0", complete, gauge)
	}
}

// TestFinishIntervalConfigError: a finish_interval that would have the
// finisher retry a down destination without pause is refused, naming it.
func TestFinishIntervalConfigError(t *testing.T) {
	for _, tc := range []struct {
		interval string
		ok       bool
	}{{"1ns", false}, {"99ms", false}, {"100ms", true}, {"1m", true}} {
		f := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(f, []byte("pipeline:\n  finish_interval: "+tc.interval+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(f)
		if tc.ok != (err == nil) || !tc.ok && !strings.Contains(err.Error(), "pipeline.finish_interval: must be at least 100ms") {
			t.Errorf("finish_interval %s: %v", tc.interval, err)
		}
	}
}

// TestAnswerGraceConfigError: a kafka.answer_grace below 0, or over 30s
// (a route, and so a stopping gateway, would wait that long after
// route_timeout), is refused, naming it.
func TestAnswerGraceConfigError(t *testing.T) {
	for _, tc := range []struct {
		grace, want string
	}{{"-1s", "kafka.answer_grace: must be at least 0"}, {"31s", "kafka.answer_grace: must be at most 30s"}, {"0s", ""}, {"2s", ""}, {"30s", ""}} {
		f := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(f, []byte("kafka:\n  answer_grace: "+tc.grace+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(f)
		if (tc.want == "") != (err == nil) || tc.want != "" && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("answer_grace %s: %v, want %q", tc.grace, err, tc.want)
		}
	}
}
