package gateway

import (
	"context"
	"encoding/json"
	"net/http"
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
	k := testkafka.StartT(t)
	c := testConfig(t, k)
	c.Pipeline.RouteTimeout = 500 * time.Millisecond
	c.Triage.Rules = append(c.Triage.Rules, triage.Rule{Name: "press", Any: []string{"请记者曝光"},
		Class: minsheng.ClassMediaOversight, Force: true, Weight: 1})
	body, _ := json.Marshal(map[string]any{"ref": "LEAD-INC-1", "title": "道路塌陷无人修",
		"body": "小区门口道路塌陷多日无人修复，社区主任收受施工方好处费，对居民反映置之不理，请记者曝光。", "submitted_at": "2026-11-21T09:30:00+08:00",
		"complainant": map[string]any{"name": "吴某", "phone": "13000000001", "anonymous": false, "consent_to_publish": false}})
	id := minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", "LEAD-INC-1")
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
		msgs, err := k.Read(ctx, topic, "incomplete-check", 1, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			if string(m.Key) == id {
				n++
			}
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
