package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/config"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/connectors/importfile"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/triage"
)

const (
	deskToken   = "desk-token-qingdao-daily-0123456789"
	readerToken = "reader-token-all-queues-0123456789"
	cdiToken    = "reader-token-inspectors-0123456789"
	mediaToken  = "reader-token-media-desk-0123456789"
)

// letters the tests post: a mix that exercises every path.
var letters = []struct{ title, body string }{
	{"小区门口道路塌陷多日无人修复", "小区东门外的人行道塌陷，形成一个大坑，已经有老人摔倒受伤，请市政部门尽快修复。"},
	{"村干部虚报冒领扶贫资金", "村委会主任和会计虚报冒领扶贫资金，把工程交给亲戚，请纪检监察机关调查。"},
	{"征地补偿款多年未落实", "二〇一八年征地后补偿款至今未发放到位，多次上访无果，请求领导过问。"},
	{"餐馆后厨卫生差希望曝光", "美食街多家餐馆后厨脏乱，投诉后走过场，希望记者暗访曝光。"},
	{"代开发票 优惠多多", "诚信代开各类发票，联系电话 13000000000，微信同号，欢迎来电。"},
}

func testConfig(t *testing.T, kafka *testkafka.Cluster) *Config {
	t.Helper()
	t.Setenv("MS_TEST_DESK", deskToken)
	t.Setenv("MS_TEST_READER", readerToken)
	t.Setenv("MS_TEST_CDI", cdiToken)
	t.Setenv("MS_TEST_MEDIA", mediaToken)
	c := DefaultConfig()
	all := []string{"media_oversight", "petition", "gov_service", "discipline", "rejected", "review", "dead_letter"}
	c.Desks = []auth.DeskConfig{
		{Name: "qingdao-daily", Channel: minsheng.ChannelNewspaper, TokenEnv: "MS_TEST_DESK"},
		{Name: "ops", Reads: all, TokenEnv: "MS_TEST_READER"},
		{Name: "inspectors", Reads: []string{"discipline"}, TokenEnv: "MS_TEST_CDI"},
		{Name: "tv-desk", Reads: []string{"media_oversight"}, TokenEnv: "MS_TEST_MEDIA"},
	}
	if kafka != nil {
		for name := range c.Destinations {
			c.Destinations[name] = router.Destination{Sink: router.SinkKafka, Identity: router.IdentityAuto}
		}
		c.Kafka.Brokers = kafka.Addrs()
		c.Kafka.CreateTopics = true
	}
	if err := config.Decode(nil, c); err != nil { // defaults and validation, as a file would get
		t.Fatal(err)
	}
	c.Data = t.TempDir()
	c.Pipeline.RouteTimeout = 2 * time.Second
	return c
}

type running struct {
	g    *Gateway
	url  string
	stop func()
}

func start(t *testing.T, c *Config) *running {
	t.Helper()
	return startLogged(t, c, slog.New(slog.DiscardHandler))
}

// startLogged is start with the gateway logging to log.
func startLogged(t *testing.T, c *Config, log *slog.Logger) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := Open(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	once := sync.Once{}
	r := &running{g: g, url: "http://" + ln.Addr().String(), stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}}
	t.Cleanup(r.stop)
	// Wait until ready, as a load balancer would: the desk answers 503
	// until Serve has started it, which a loaded machine can delay.
	var a answer
	if !waitUntil(10*time.Second, func() bool {
		a = call(t, "GET", r.url+"/readyz", "", "", nil)
		return a.status == http.StatusOK
	}) {
		t.Fatalf("not ready after 10 s: %d %s %v", a.status, a.body, a.err)
	}
	return r
}

// waitUntil polls cond until it holds or d has passed, and says which.
func waitUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // when no answer came
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("status %d body %q: %v", a.status, a.body, err)
	}
}

func call(t *testing.T, method, url, token, ctype string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func submission(ref string, i int) []byte {
	l := letters[i%len(letters)]
	b, _ := json.Marshal(map[string]any{"ref": ref, "title": l.title, "body": l.body,
		"submitted_at": "2026-11-21T09:30:00+08:00",
		"complainant":  map[string]any{"name": "赵六", "phone": "13600000000", "anonymous": false, "consent_to_publish": false}})
	return b
}

func post(t *testing.T, base, ref string, i int) answer {
	return call(t, "POST", base+"/v1/items", deskToken, "application/json", submission(ref, i))
}

// TestEndToEndThroughKafka posts items over HTTP and consumes every
// destination topic with consumer groups: each item is in exactly the
// topics its decision names, keyed by its ID, with its headers.
func TestEndToEndThroughKafka(t *testing.T) {
	k := testkafka.StartT(t)
	c := testConfig(t, k)
	r := start(t, c)
	want := map[string][]string{} // topic → item IDs
	accepted := map[string]desk.Accepted{}
	for i := range 25 {
		a := post(t, r.url, fmt.Sprintf("E2E-%03d", i), i)
		if a.status != http.StatusAccepted {
			t.Fatalf("post %d: %d %s", i, a.status, a.body)
		}
		var acc desk.Accepted
		a.decode(t, &acc)
		if acc.Decision == nil || acc.Duplicate || acc.ID != minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", fmt.Sprintf("E2E-%03d", i)) {
			t.Fatalf("202 body %s", a.body)
		}
		dests, _ := r.g.Router().DestinationsFor(acc.Decision)
		if !slices.Equal(dests, acc.Destinations) {
			t.Fatalf("item %s: answered destinations %v, decision names %v", acc.ID, acc.Destinations, dests)
		}
		for _, d := range dests {
			want["minsheng."+d] = append(want["minsheng."+d], acc.ID)
		}
		accepted[acc.ID] = acc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	classes := map[minsheng.Class]bool{}
	for _, acc := range accepted {
		classes[acc.Decision.Class] = true
	}
	if len(classes) < 3 {
		t.Fatalf("the letters reached only classes %v; the test needs a mix", classes)
	}
	for _, dest := range r.g.Router().Destinations() {
		topic := "minsheng." + dest
		msgs, err := k.Read(ctx, topic, "e2e-"+dest, len(want[topic]), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, string(m.Key))
			acc := accepted[string(m.Key)]
			if testkafka.Header(m, "minsheng-class") != string(acc.Decision.Class) ||
				testkafka.Header(m, "minsheng-trace-id") != acc.TraceID ||
				testkafka.Header(m, "minsheng-channel") != "newspaper" {
				t.Errorf("%s: headers of %s: %v", topic, m.Key, m.Headers)
			}
		}
		sort.Strings(got)
		exp := want[topic]
		sort.Strings(exp)
		if !slices.Equal(got, exp) {
			t.Errorf("%s holds %v, want %v", topic, got, exp)
		}
	}
}

// TestBrokerLostMidRun stops the broker while desks are posting: they get
// 503 with Retry-After (or are held); when the broker returns everything
// that got a 202 is delivered, and retried items land once.
func TestBrokerLostMidRun(t *testing.T) {
	k := testkafka.StartT(t)
	c := testConfig(t, k)
	r := start(t, c)
	const n = 60
	var mu sync.Mutex
	status := map[string]int{}
	ids := map[string]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 6 {
				ref := fmt.Sprintf("LOST-%03d", i)
				a := post(t, r.url, ref, 0) // a service request: one topic
				mu.Lock()
				status[ref] = a.status
				if a.status == http.StatusAccepted {
					var acc desk.Accepted
					json.Unmarshal(a.body, &acc)
					ids[ref] = acc.ID
				} else if a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
				mu.Unlock()
				time.Sleep(30 * time.Millisecond)
			}
		}()
	}
	time.Sleep(120 * time.Millisecond)
	k.Stop()
	time.Sleep(2500 * time.Millisecond)
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	refused := 0
	for ref, st := range status {
		switch st {
		case http.StatusAccepted:
		case http.StatusServiceUnavailable:
			refused++
			// the desk retries, as the 503 asks
			var a answer
			for try := 0; try < 20; try++ {
				if a = post(t, r.url, ref, 0); a.status == http.StatusAccepted {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if a.status != http.StatusAccepted {
				t.Fatalf("%s still refused after the broker returned: %d %s", ref, a.status, a.body)
			}
			var acc desk.Accepted
			a.decode(t, &acc)
			ids[ref] = acc.ID
		default:
			t.Fatalf("%s: status %d", ref, st)
		}
	}
	if refused == 0 {
		t.Log("no request was refused during the outage (all were held until the broker returned)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := k.Read(ctx, "minsheng.gov_service", "lost-check", n, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		seen[string(m.Key)]++
	}
	for ref, id := range ids {
		if seen[id] == 0 {
			t.Errorf("%s (%s) got a 202 but is not in the topic", ref, id)
		}
	}
	if len(ids) != n {
		t.Fatalf("%d of %d items accepted in the end", len(ids), n)
	}
	t.Logf("%d items, %d refused during the outage and accepted on retry, %d messages in the topic (repeats under the same key: %d)",
		n, refused, len(msgs), len(msgs)-len(seen))
}

// TestBadInput: each bad request gets the right status and names the
// problem, and nothing is routed or recorded.
func TestBadInput(t *testing.T) {
	c := testConfig(t, nil)
	r := start(t, c)
	good := submission("BAD-0", 0)
	huge := bytes.Repeat([]byte("长"), 10<<20/3)
	tests := []struct {
		name   string
		token  string
		ctype  string
		body   []byte
		status int
		want   string
	}{
		{"no token", "", "application/json", good, 401, "token"},
		{"unknown token", "not-a-desk-token-000000000000", "application/json", good, 401, "token"},
		{"reader cannot submit", readerToken, "application/json", good, 403, "reads queues only"},
		{"wrong content type", deskToken, "text/plain", good, 415, "application/json"},
		{"malformed JSON", deskToken, "application/json", []byte(`{"ref": "x", "title": `), 400, "ends in the middle"},
		{"wrong type", deskToken, "application/json", bytes.Replace(good, []byte(`"ref":"BAD-0"`), []byte(`"ref":7`), 1), 400, `"field":"ref"`},
		{"missing fields", deskToken, "application/json", []byte(`{"title":"只有标题"}`), 400, `"field":"submitted_at"`},
		{"unknown field", deskToken, "application/json", bytes.Replace(good, []byte(`"ref"`), []byte(`"priority":1,"ref"`), 1), 400, `"field":"priority"`},
		{"invalid UTF-8", deskToken, "application/json", bytes.Replace(good, []byte("塌陷"), []byte{0xcb, 0xfa, 0xcf}, 1), 400, "UTF-8"},
		{"10 MB body", deskToken, "application/json", append(append([]byte(`{"ref":"big","body":"`), huge...), `"}`...), 413, "over"},
		{"body over the schema's limit", deskToken, "application/json", []byte(`{"ref":"long","body":"` + strings.Repeat("长", 100001) + `","submitted_at":"2026-11-21T09:30:00Z","complainant":{}}`), 400, `"field":"body"`},
		{"empty batch", deskToken, "application/json", []byte(`{"items":[]}`), 400, "items"},
		{"batch of a non-object", deskToken, "application/json", []byte(`{"items":[1]}`), 400, `"field":"items[0]",`},
		{"a field twice", deskToken, "application/json", bytes.Replace(good, []byte(`"ref"`), []byte(`"Body":"前一封信的正文","ref"`), 1), 400, `"field":"Body","message":"is given twice`},
		{"batch with two lists", deskToken, "application/json", []byte(fmt.Sprintf(`{"items":[%s],"items":[%s]}`, submission("TWICE-1", 0), submission("TWICE-2", 0))), 400, `"field":"items","message":"is given twice`},
		{"batch with a field twice in an item", deskToken, "application/json", []byte(fmt.Sprintf(`{"items":[%s,%s]}`, submission("TWICE-3", 0), bytes.Replace(submission("TWICE-4", 0), []byte(`"ref"`), []byte(`"ref":"TWICE-5","ref"`), 1))), 400, `"field":"items[1].ref","message":"is given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := r.url + "/v1/items"
			if strings.Contains(tc.name, "batch") {
				url += "/batch"
			}
			a := call(t, "POST", url, tc.token, tc.ctype, tc.body)
			if a.status != tc.status || !strings.Contains(string(a.body), tc.want) {
				t.Fatalf("status %d body %s; want %d containing %q", a.status, a.body, tc.status, tc.want)
			}
		})
	}
	// a batch with one bad item routes none of them
	batch := fmt.Sprintf(`{"items":[%s,%s]}`, submission("BATCH-1", 0), `{"ref":"BATCH-2","title":"x","submitted_at":"yesterday","complainant":{}}`)
	a := call(t, "POST", r.url+"/v1/items/batch", deskToken, "application/json", []byte(batch))
	if a.status != 400 || !strings.Contains(string(a.body), `items[1].submitted_at`) {
		t.Fatalf("bad batch: %d %s", a.status, a.body)
	}
	// an item over max_body_bytes is refused in a batch as it is alone,
	// before it is decoded
	big := fmt.Sprintf(`{"ref":"BATCH-3","body":"%s","submitted_at":"2026-11-22T09:30:00+08:00","complainant":{"anonymous":true,"consent_to_publish":false}}`, strings.Repeat("长", 400_000))
	a = call(t, "POST", r.url+"/v1/items/batch", deskToken, "application/json", []byte(fmt.Sprintf(`{"items":[%s,%s]}`, submission("BATCH-1", 0), big)))
	if a.status != 400 || !strings.Contains(string(a.body), `"items[1]"`) || !strings.Contains(string(a.body), "over intake.max_body_bytes") {
		t.Fatalf("batch with an item over max_body_bytes: %d %.300s", a.status, a.body)
	}
	if n, _ := r.g.Store().CountItems(); n != 0 {
		t.Fatalf("%d items recorded after bad input only", n)
	}
	for _, d := range r.g.Router().Destinations() {
		if n, _ := r.g.Store().QueueDepth(d); n != 0 {
			t.Fatalf("queue %s holds %d after bad input only", d, n)
		}
	}
}

// TestComplainantFlagsRequired: a complainant without "anonymous" or
// "consent_to_publish" (or with null) is refused naming the flag, as a
// single item, in a batch and in multipart, rather than read as "not
// anonymous", which would share the identity. The README's example passes.
func TestComplainantFlagsRequired(t *testing.T) {
	c := testConfig(t, nil)
	r := start(t, c)
	withComplainant := func(ref, complainant string) []byte {
		return []byte(`{"ref":"` + ref + `","title":"小区噪音扰民","body":"楼下商铺夜间施工，噪音很大。",` +
			`"submitted_at":"2026-11-21T09:30:00+08:00","complainant":` + complainant + `}`)
	}
	flags := []struct {
		name        string
		complainant string
		field       string
	}{
		{"anonymous missing", `{"name":"吴某","phone":"13000000001","consent_to_publish":false}`, "complainant.anonymous"},
		{"anonymous null", `{"name":"吴某","phone":"13000000001","anonymous":null,"consent_to_publish":false}`, "complainant.anonymous"},
		{"consent missing", `{"name":"吴某","phone":"13000000001","anonymous":false}`, "complainant.consent_to_publish"},
		{"both missing", `{"name":"吴某","phone":"13000000001"}`, "complainant.anonymous"},
	}
	for i, f := range flags {
		item := withComplainant(fmt.Sprint("FLAG-", i), f.complainant)
		mct, mbody := multipartItem(item, nil)
		for _, via := range []struct {
			name, path, ctype, field string
			body                     []byte
		}{
			{"single", "/v1/items", "application/json", f.field, item},
			{"batch", "/v1/items/batch", "application/json", "items[1]." + f.field,
				[]byte(fmt.Sprintf(`{"items":[%s,%s]}`, submission(fmt.Sprint("FLAG-OK-", i), 0), item))},
			{"multipart", "/v1/items", mct, f.field, mbody},
		} {
			t.Run(f.name+"/"+via.name, func(t *testing.T) {
				a := call(t, "POST", r.url+via.path, deskToken, via.ctype, via.body)
				if a.status != 400 || !strings.Contains(string(a.body), `"field":"`+via.field+`"`) {
					t.Fatalf("status %d body %s; want 400 naming %s", a.status, a.body, via.field)
				}
			})
		}
	}
	if n, _ := r.g.Store().CountItems(); n != 0 {
		t.Fatalf("%d items recorded after refused posts only", n)
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(readme), "-H 'Content-Type: application/json' -d '")
	example, _, ok2 := strings.Cut(example, "'")
	if !ok || !ok2 {
		t.Fatal("README: no curl -d example found")
	}
	if a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", []byte(example)); a.status != 202 {
		t.Fatalf("the README's example: %d %s", a.status, a.body)
	}
}

// TestMediaDeskNotToldOfTheLead: a media case with a discipline lead goes
// to the media desk and the inspectors. The media desk's queue message and
// its GET /v1/items/{id} say nothing of the lead (flag, the rule that raised
// it, the trail's ", discipline lead") nor of the inspectors; the
// inspectors and the submitting desk see all of it.
func TestMediaDeskNotToldOfTheLead(t *testing.T) {
	c := testConfig(t, nil)
	// A rule makes the class certain, whatever the model says.
	c.Triage.Rules = append(c.Triage.Rules, triage.Rule{Name: "press", Any: []string{"请记者曝光"},
		Class: minsheng.ClassMediaOversight, Force: true, Weight: 1})
	r := start(t, c)
	body, _ := json.Marshal(map[string]any{"ref": "LEAD-MEDIA-1", "title": "道路塌陷无人修",
		"body": "小区门口道路塌陷多日无人修复，社区主任收受施工方好处费，对居民反映置之不理，请记者曝光。", "submitted_at": "2026-11-21T09:30:00+08:00",
		"complainant": map[string]any{"name": "吴某", "phone": "13000000001", "anonymous": false, "consent_to_publish": false}})
	a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", body)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != 202 || !slices.Equal(acc.Destinations, []string{"media_oversight", "discipline"}) || !acc.Decision.Flags.DisciplineLead {
		t.Fatalf("post: %d %s", a.status, a.body)
	}
	// What tells of the lead, the inspectors or the whistle-blower.
	lead := []string{`"discipline_lead":true`, `"code":"corruption","detail":"好处费"`, `"discipline"`, "吴某", "13000000001"}
	trail := ", discipline lead" // in views only: a queue message has no trail
	tests := []struct {
		name, token, path string
		told              bool
	}{
		{"media desk's queue", mediaToken, "/v1/queues/media_oversight?max=10&lease=30s", false},
		{"media desk's view", mediaToken, "/v1/items/" + acc.ID, false},
		{"inspectors' queue", cdiToken, "/v1/queues/discipline?max=10&lease=30s", true},
		{"inspectors' view", cdiToken, "/v1/items/" + acc.ID, true},
		{"submitting desk's view", deskToken, "/v1/items/" + acc.ID, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, "GET", r.url+tc.path, tc.token, "", nil)
			if a.status != 200 || !strings.Contains(string(a.body), acc.ID) {
				t.Fatalf("%d %s", a.status, a.body)
			}
			check := lead
			if strings.Contains(tc.path, "/items/") {
				check = append(slices.Clip(lead), trail)
			}
			for _, s := range check {
				if strings.Contains(string(a.body), s) != tc.told {
					t.Errorf("holds %s = %v, want %v: %s", s, !tc.told, tc.told, a.body)
				}
			}
			for _, keep := range []string{`"class":"media_oversight"`, `"confidence":0.99`} {
				if !strings.Contains(string(a.body), keep) {
					t.Errorf("lost %s: %s", keep, a.body)
				}
			}
		})
	}
}

// TestRepostTrailAndWhoSeesWhat: idempotent re-posting, the trail, and
// access to items and queues by desk.
func TestRepostTrailAndWhoSeesWhat(t *testing.T) {
	c := testConfig(t, nil)
	r := start(t, c)
	a := post(t, r.url, "LEAD-1", 1) // a discipline case with a named cadre
	if a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var first desk.Accepted
	a.decode(t, &first)
	a = post(t, r.url, "LEAD-1", 1)
	var again desk.Accepted
	a.decode(t, &again)
	if a.status != 202 || !again.Duplicate || again.ID != first.ID || !slices.Equal(again.Destinations, first.Destinations) {
		t.Fatalf("re-post: %d %s", a.status, a.body)
	}
	total := 0
	for _, d := range r.g.Router().Destinations() {
		n, _ := r.g.Store().QueueDepth(d)
		total += n
	}
	if total != len(first.Destinations) {
		t.Fatalf("%d queue entries for an item routed to %v", total, first.Destinations)
	}

	// The submitting desk sees the whole trail.
	a = call(t, "GET", r.url+"/v1/items/"+first.ID, deskToken, "", nil)
	var rec minsheng.Record
	a.decode(t, &rec)
	var steps []string
	for _, e := range rec.Trail {
		steps = append(steps, e.Step)
	}
	if a.status != 200 || !slices.Equal(steps, []string{"received", "screened", "classified", "routed", "acked"}) || rec.Item.Complainant.Name != "赵六" {
		t.Fatalf("submitter's view: %d %s", a.status, a.body)
	}
	// A desk that reads none of its destinations is told nothing.
	reads := func(tok string, d string) bool {
		switch tok {
		case cdiToken:
			return d == "discipline"
		case mediaToken:
			return d == "media_oversight"
		}
		return true
	}
	for _, tok := range []string{cdiToken, mediaToken} {
		entitled := false
		for _, d := range first.Destinations {
			entitled = entitled || reads(tok, d)
		}
		a = call(t, "GET", r.url+"/v1/items/"+first.ID, tok, "", nil)
		if entitled != (a.status == 200) {
			t.Errorf("token %s… reading %v: status %d", tok[:12], first.Destinations, a.status)
		}
		if a.status == 200 {
			var v minsheng.Record
			a.decode(t, &v)
			for _, d := range v.Destinations {
				if !reads(tok, d) {
					t.Errorf("token %s… was shown destination %s", tok[:12], d)
				}
			}
		}
	}
	if a := call(t, "GET", r.url+"/v1/items/ms1aaaaaaaaaaaaaaaaaaaaaaaaaa", deskToken, "", nil); a.status != 404 {
		t.Fatalf("unknown item: %d", a.status)
	}

	// Queues: the inspectors may read discipline only.
	if a := call(t, "GET", r.url+"/v1/queues/petition", cdiToken, "", nil); a.status != 403 {
		t.Fatalf("inspectors reading petition: %d", a.status)
	}
	if a := call(t, "GET", r.url+"/v1/queues/discipline", mediaToken, "", nil); a.status != 403 {
		t.Fatalf("media reading discipline: %d", a.status)
	}
	if a := call(t, "GET", r.url+"/v1/queues/discipline", "", "", nil); a.status != 401 {
		t.Fatalf("anonymous reading discipline: %d", a.status)
	}
	for _, d := range first.Destinations {
		tok := readerToken
		if d == "discipline" {
			tok = cdiToken
		}
		a := call(t, "GET", r.url+"/v1/queues/"+d+"?max=10&lease=30s", tok, "", nil)
		var got struct {
			Messages []minsheng.QueuedMessage `json:"messages"`
		}
		a.decode(t, &got)
		if a.status != 200 || len(got.Messages) != 1 || got.Messages[0].Envelope.ItemID != first.ID {
			t.Fatalf("queue %s: %d %s", d, a.status, a.body)
		}
		identified := got.Messages[0].Envelope.Item.Complainant.Identified()
		if want := r.g.Router().Entitled(d, got.Messages[0].Envelope.Item, got.Messages[0].Envelope.Decision) || d == "discipline"; identified != want && d == "discipline" {
			t.Errorf("queue %s: identity shown = %v", d, identified)
		}
		if d != "discipline" && (first.Decision.Flags.DisciplineLead || first.Decision.Class == minsheng.ClassDiscipline) && identified {
			t.Errorf("queue %s got the identity of a discipline lead's complainant", d)
		}
		ack := call(t, "POST", r.url+"/v1/queues/"+d+"/ack", tok, "application/json", []byte(`{"ids":["`+first.ID+`"]}`))
		if ack.status != 200 || !strings.Contains(string(ack.body), `"acked":1`) {
			t.Fatalf("ack %s: %d %s", d, ack.status, ack.body)
		}
	}
}

// multipartItem is a multipart/form-data body: the "item" part, then the
// files in name order. It returns the content type and the body.
func multipartItem(item []byte, files map[string][]byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="item"`)
	h.Set("Content-Type", "application/json")
	w, _ := mw.CreatePart(h)
	w.Write(item)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fw, _ := mw.CreateFormFile("file", n)
		fw.Write(files[n])
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func TestMultipartAttachments(t *testing.T) {
	c := testConfig(t, nil)
	c.Intake.MaxAttachmentBytes = 64 << 10
	r := start(t, c)
	form := func(files map[string][]byte) (string, []byte) {
		return multipartItem(submission("ATT-"+fmt.Sprint(len(files)), 0), files)
	}
	ct, body := form(map[string][]byte{"现场照片.jpg": bytes.Repeat([]byte{0xff, 0xd8}, 1000), "说明.txt": []byte("附件说明")})
	a := call(t, "POST", r.url+"/v1/items", deskToken, ct, body)
	if a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var acc desk.Accepted
	a.decode(t, &acc)
	rec, err := r.g.Store().Lookup(context.Background(), acc.ID)
	if err != nil || len(rec.Item.Attachments) != 2 {
		t.Fatalf("%+v %v", rec, err)
	}
	for _, att := range rec.Item.Attachments {
		rc, err := r.g.Store().Blobs().Open(context.Background(), att.Ref)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if int64(len(b)) != att.Size {
			t.Fatalf("attachment %s: %d bytes stored, %d recorded", att.Name, len(b), att.Size)
		}
	}
	if rec.Item.Attachments[0].Name != "现场照片.jpg" && rec.Item.Attachments[1].Name != "现场照片.jpg" {
		t.Fatalf("attachment names %+v", rec.Item.Attachments)
	}
	ct, body = form(map[string][]byte{"big.bin": make([]byte, 65<<10)})
	if a := call(t, "POST", r.url+"/v1/items", deskToken, ct, body); a.status != 413 || !strings.Contains(string(a.body), "big.bin") {
		t.Fatalf("oversized attachment: %d %s", a.status, a.body)
	}
}

// TestGracefulShutdownLosesNothing stops the gateway while desks post: every
// request gets 202 or 503, and every 202'd item is in a queue after restart.
func TestGracefulShutdownLosesNothing(t *testing.T) {
	c := testConfig(t, nil)
	r := start(t, c)
	var mu sync.Mutex
	accepted := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				a := post(t, r.url, fmt.Sprintf("SHUT-%d-%d", w, i), i)
				switch a.status {
				case 202:
					var acc desk.Accepted
					json.Unmarshal(a.body, &acc)
					mu.Lock()
					accepted[acc.ID] = true
					mu.Unlock()
				case 503, 0: // refused while stopping, or the listener is gone
					t.Logf("worker %d stops at post %d: status %d %s", w, i, a.status, a.err)
					return
				default:
					t.Errorf("status %d %s", a.status, a.body)
					return
				}
			}
		}()
	}
	// Stop once some items are through and more are in flight; a fixed
	// sleep let a loaded machine stop before the first 202.
	waitUntil(10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= 50
	})
	r.stop()
	wg.Wait()
	c2 := *c
	g, err := Open(context.Background(), &c2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for id := range accepted {
		rec, err := g.Store().Lookup(context.Background(), id)
		if err != nil {
			t.Fatalf("%s got a 202 but is not in the ledger after restart: %v", id, err)
		}
		if len(rec.Destinations) == 0 {
			t.Fatalf("%s has no destinations", id)
		}
	}
	queued := 0
	for _, d := range g.Router().Destinations() {
		n, _ := g.Store().QueueDepth(d)
		queued += n
	}
	if len(accepted) == 0 || queued < len(accepted) {
		t.Fatalf("%d accepted, %d queue entries", len(accepted), queued)
	}
	t.Logf("%d items accepted before shutdown, all recorded and queued", len(accepted))
}

// TestNotReadyUntilServing: an opened gateway whose Serve has not started
// the desk answers /readyz 503, so that a load balancer sends nothing the
// desk would refuse; once serving, it answers 200.
func TestNotReadyUntilServing(t *testing.T) {
	c := testConfig(t, nil)
	g, err := Open(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "desk") {
		t.Fatalf("before Serve: %d %q, want 503 naming the desk", rec.Code, rec.Body.String())
	}
	c2 := testConfig(t, nil)
	r := start(t, c2) // waits for 200 on /readyz
	if a := post(t, r.url, "READY-1", 1); a.status != http.StatusAccepted {
		t.Fatalf("first post after ready: %d %s", a.status, a.body)
	}
}

// TestSecretErrorsNameFieldAndLine: a desk's or Kafka's secret that cannot
// be read is reported, when the gateway opens, with its field path and line.
func TestSecretErrorsNameFieldAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"desk token_env", "desks:\n  - name: qingdao-daily\n    channel: newspaper\n    token_env: MINSHENG_TEST_NEVER_SET\n",
			"line 4: desks[0].token_env: environment variable MINSHENG_TEST_NEVER_SET is not set"},
		{"kafka password_file", "kafka:\n  brokers: [127.0.0.1:1]\n  sasl:\n    mechanism: plain\n    username: minsheng\n    password_file: /nonexistent/minsheng-kafka\ndestinations:\n  petition: {sink: kafka}\n",
			"line 6: kafka.sasl.password_file: secret file /nonexistent/minsheng-kafka cannot be read: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := dir + "/minsheng.yaml"
			if err := os.WriteFile(f, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			c.Data = dir + "/data"
			g, err := Open(context.Background(), c, slog.New(slog.DiscardHandler))
			if err == nil {
				g.Close()
			}
			var fes minsheng.FieldErrors
			if !errors.As(err, &fes) || err.Error() != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// TestImportedUnderADesksNameIsNotTheDesks: `minsheng import --source
// qingdao-daily` (any source name may be given) files items under a desk's
// name. They are not the desk's: it is told nothing of them (404), and a
// reader of one of their destinations sees them as that destination would,
// without the identity of a discipline lead's complainant. The desk's own
// post, through the desk API, it sees whole.
func TestImportedUnderADesksNameIsNotTheDesks(t *testing.T) {
	c := testConfig(t, nil)
	r := start(t, c)
	file := filepath.Join(t.TempDir(), "export.csv")
	csv := "信件编号,来电人,联系电话,来电时间,诉求内容\n" +
		"QD-1,赵六,13600000000,2026/11/21 09:30:00," + letters[1].body + "\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := importfile.Run(context.Background(), file, r.g.Emitter(), importfile.Options{
		Channel: minsheng.ChannelNewspaper, Source: "qingdao-daily", RejectsPath: file + ".rejected", Progress: io.Discard})
	if err != nil || sum.Imported != 1 {
		t.Fatalf("import: %+v %v", sum, err)
	}
	id := minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", "QD-1")
	if a := call(t, "GET", r.url+"/v1/items/"+id, deskToken, "", nil); a.status != 404 {
		t.Fatalf("the desk named like the import's source: %d %s", a.status, a.body)
	}
	a := call(t, "GET", r.url+"/v1/items/"+id, mediaToken, "", nil)
	var rec minsheng.Record
	if a.status == 200 {
		a.decode(t, &rec)
	}
	if a.status == 200 && rec.Item.Complainant.Identified() {
		t.Fatalf("a media reader was shown a discipline lead's complainant: %s", a.body)
	}
	a = post(t, r.url, "QD-2", 1)
	var own desk.Accepted
	a.decode(t, &own)
	a = call(t, "GET", r.url+"/v1/items/"+own.ID, deskToken, "", nil)
	rec = minsheng.Record{}
	a.decode(t, &rec)
	if a.status != 200 || rec.Item.Complainant.Name != "赵六" || rec.Item.Via != minsheng.ViaDesk {
		t.Fatalf("the desk's own post: %d %s", a.status, a.body)
	}
}

// TestReusedRefConflict: the same ref with other content is not a retry:
// 409 naming what to do, nothing routed, alone or in a batch (whose other
// items are accepted); the same content again is still a 202 repeat.
func TestReusedRefConflict(t *testing.T) {
	r := start(t, testConfig(t, nil))
	depth := func() (n int) {
		for _, d := range r.g.Router().Destinations() {
			k, _ := r.g.Store().QueueDepth(d)
			n += k
		}
		return n
	}
	if a := post(t, r.url, "REF-1", 1); a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	before := depth()
	if a := post(t, r.url, "REF-1", 1); a.status != http.StatusAccepted {
		t.Fatalf("same content again: %d %s", a.status, a.body)
	}
	a := post(t, r.url, "REF-1", 2)
	if a.status != http.StatusConflict || !strings.Contains(string(a.body), "revision_of") {
		t.Fatalf("same ref, other content: %d %s", a.status, a.body)
	}
	if depth() != before {
		t.Fatalf("the conflicting item was routed: %d queue entries, %d before", depth(), before)
	}
	batch := []byte(`{"items":[` + string(submission("REF-1", 3)) + `,` + string(submission("REF-2", 0)) + `]}`)
	a = call(t, "POST", r.url+"/v1/items/batch", deskToken, "application/json", batch)
	var br struct {
		Items []desk.BatchResult `json:"items"`
	}
	a.decode(t, &br)
	if a.status != http.StatusConflict || len(br.Items) != 2 || br.Items[0].Status != http.StatusConflict || br.Items[1].Status != http.StatusAccepted {
		t.Fatalf("batch with a reused ref: %d %s", a.status, a.body)
	}
	if depth() != before+len(br.Items[1].Destinations) {
		t.Fatalf("after the batch: %d queue entries, want %d", depth(), before+len(br.Items[1].Destinations))
	}
}

// TestRevisionOfPosted: the correction a 409 asks for can be posted. The
// answer names revision_of; a post under a new ref with revision_of the
// first item's ID is accepted and its record names the item it corrects,
// a repeat of it is a repeat, the same ref with another revision_of is a
// conflict, and a revision_of that is no item ID is refused naming it.
// Before, every desk post with revision_of was refused with 400
// ("revision_of: is not a field of the item schema").
func TestRevisionOfPosted(t *testing.T) {
	r := start(t, testConfig(t, nil))
	a := post(t, r.url, "REV-1", 1)
	var first desk.Accepted
	a.decode(t, &first)
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if a = post(t, r.url, "REV-1", 2); a.status != http.StatusConflict || !strings.Contains(string(a.body), "revision_of "+first.ID) {
		t.Fatalf("same ref, other content: %d %s", a.status, a.body)
	}
	correction := func(ref, of string) []byte {
		var m map[string]any
		if err := json.Unmarshal(submission(ref, 2), &m); err != nil {
			t.Fatal(err)
		}
		m["revision_of"] = of
		b, _ := json.Marshal(m)
		return b
	}
	a = call(t, "POST", r.url+"/v1/items", deskToken, "application/json", correction("REV-1-R1", first.ID))
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted || acc.Duplicate {
		t.Fatalf("the correction: %d %s", a.status, a.body)
	}
	a = call(t, "GET", r.url+"/v1/items/"+acc.ID, deskToken, "", nil)
	var rec minsheng.Record
	a.decode(t, &rec)
	if a.status != 200 || rec.Item.RevisionOf != first.ID {
		t.Fatalf("the correction's record: %d %s", a.status, a.body)
	}
	if a = call(t, "POST", r.url+"/v1/items", deskToken, "application/json", correction("REV-1-R1", first.ID)); a.status != http.StatusAccepted || !strings.Contains(string(a.body), `"duplicate":true`) {
		t.Fatalf("the correction again: %d %s", a.status, a.body)
	}
	other := minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", "REV-0")
	if a = call(t, "POST", r.url+"/v1/items", deskToken, "application/json", correction("REV-1-R1", other)); a.status != http.StatusConflict {
		t.Fatalf("the correction's ref correcting another item: %d %s", a.status, a.body)
	}
	if a = call(t, "POST", r.url+"/v1/items", deskToken, "application/json", correction("REV-1-R2", "QD-2026-0001")); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), `"field":"revision_of"`) {
		t.Fatalf("revision_of not an item ID: %d %s", a.status, a.body)
	}
}

// TestReviewDecision: a person at a desk that reads review decides an item
// triage sent there; the item goes on to the class the person chose (and
// its department), not again where it went before; the ledger keeps who
// decided and what triage had said; deciding again the same way repeats
// the answer, another way is refused; a desk that does not read review may
// not decide, and a lead the review desk is not told of stays raised.
func TestReviewDecision(t *testing.T) {
	c := testConfig(t, nil)
	c.Triage.Rules = append(c.Triage.Rules, triage.Rule{Name: "ask", Any: []string{"请人工复核"}, Review: true, Weight: 1})
	r := start(t, c)
	postReview := func(ref, body string) desk.Accepted {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"ref": ref, "title": "反映问题", "body": body, "submitted_at": "2026-11-21T09:30:00+08:00",
			"complainant": map[string]any{"name": "钱某", "phone": "13000000002", "anonymous": false, "consent_to_publish": false}})
		a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", b)
		var acc desk.Accepted
		a.decode(t, &acc)
		if a.status != 202 || !slices.Contains(acc.Destinations, "review") {
			t.Fatalf("post %s: %d %s", ref, a.status, a.body)
		}
		return acc
	}
	decide := func(token, id, body string) (int, map[string]any) {
		t.Helper()
		a := call(t, "POST", r.url+"/v1/reviews/"+id, token, "application/json", []byte(body))
		var v map[string]any
		a.decode(t, &v)
		return a.status, v
	}
	plain := postReview("REV-1", "小区门口的路灯坏了两个月，晚上很黑，请人工复核后转相关部门处理。")
	if slices.Contains(plain.Destinations, "discipline") {
		t.Fatalf("plain item went to the inspectors: %v", plain.Destinations)
	}

	// The ops desk reads review: it leases the message, then decides.
	a := call(t, "GET", r.url+"/v1/queues/review?max=10&lease=30s", readerToken, "", nil)
	if a.status != 200 || !strings.Contains(string(a.body), plain.ID) {
		t.Fatalf("review queue: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		name, token, body string
		status            int
		want              string
	}{
		{"desk that does not read review", mediaToken, `{"class":"petition"}`, 403, "forbidden"},
		{"unknown class", readerToken, `{"class":"petitions"}`, 400, `class: \"petitions\" is not one of`},
		{"unknown department", readerToken, `{"class":"gov_service","department":"城建"}`, 400, "department"},
		{"unknown field", readerToken, `{"class":"petition","klass":1}`, 400, "klass"},
	} {
		if status, v := decide(tc.token, plain.ID, tc.body); status != tc.status || !strings.Contains(mustJSON(v), tc.want) {
			t.Errorf("%s: %d %v", tc.name, status, v)
		}
	}
	status, v := decide(readerToken, plain.ID, `{"class":"gov_service","department":"城乡建设"}`)
	if status != 200 || v["class"] != "gov_service" || v["review_message"] != "acked" || fmt.Sprint(v["destinations"]) != "[gov_service]" {
		t.Fatalf("decide: %d %v", status, v)
	}
	// The item is in the gov_service queue now, and out of review.
	a = call(t, "GET", r.url+"/v1/queues/gov_service?max=100&lease=30s", readerToken, "", nil)
	if !strings.Contains(string(a.body), plain.ID) || !strings.Contains(string(a.body), `"code":"reviewed"`) {
		t.Errorf("gov_service queue lacks the reviewed item: %s", a.body)
	}
	a = call(t, "GET", r.url+"/v1/queues/review?max=10&lease=1s", readerToken, "", nil)
	if strings.Contains(string(a.body), plain.ID) {
		t.Errorf("review queue still holds the decided item: %s", a.body)
	}
	// The ledger: who decided, what triage said, the trail.
	rec, err := r.g.store.Lookup(context.Background(), plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Review == nil || rec.Review.Desk != "ops" || rec.Review.Triage == nil || !rec.Review.Triage.Review || rec.Decision.Class != minsheng.ClassGovService ||
		rec.Decision.Confidence != 1 || rec.Decision.Review || rec.Decision.Department != "城乡建设" {
		t.Errorf("record: %+v %+v", rec.Review, rec.Decision)
	}
	if n := len(rec.Trail); n < 2 || rec.Trail[n-2].Step != minsheng.StepReviewed || rec.Trail[n-1].Step != minsheng.StepRouted ||
		!slices.Contains(rec.Trail[n-1].Destinations, "gov_service") || slices.Contains(rec.Trail[n-1].Destinations, "review") {
		t.Errorf("trail: %+v", rec.Trail)
	}
	// Again the same way: the same answer; another way: 409.
	if status, v := decide(readerToken, plain.ID, `{"class":"gov_service"}`); status != 200 || v["repeat"] != true {
		t.Errorf("repeat: %d %v", status, v)
	}
	if status, v := decide(readerToken, plain.ID, `{"class":"petition"}`); status != 409 || v["error"] != "already_reviewed" {
		t.Errorf("other way: %d %v", status, v)
	}
	// An item that did not go to review, and one that does not exist.
	a = post(t, r.url, "REV-NOT", 0)
	var acc desk.Accepted
	a.decode(t, &acc)
	if slices.Contains(acc.Destinations, "review") {
		t.Fatalf("the road letter went to review: %s", a.body)
	}
	if status, v := decide(readerToken, acc.ID, `{"class":"petition"}`); status != 409 || v["error"] != "not_in_review" {
		t.Errorf("not in review: %d %v", status, v)
	}
	if status, _ := decide(readerToken, "newspaper:qingdao-daily:nope", `{"class":"petition"}`); status != 404 {
		t.Errorf("unknown item: %d", status)
	}

	// A lead triage raised: the item went to review and to the inspectors
	// at once. The review desk, not told of it, decides gov_service; the
	// lead stays, the inspectors do not get the item twice, and the answer
	// does not tell the review desk of them.
	c2 := testConfig(t, nil)
	c2.Desks = append(c2.Desks, auth.DeskConfig{Name: "reviewers", Reads: []string{"review"}, TokenEnv: "MS_TEST_REVIEWERS"},
		auth.DeskConfig{Name: "dispatch", Reads: []string{"gov_service"}, TokenEnv: "MS_TEST_DISPATCH"})
	t.Setenv("MS_TEST_REVIEWERS", "reviewers-token-0123456789abcdef")
	t.Setenv("MS_TEST_DISPATCH", "dispatch-token-0123456789abcdef")
	c2.Triage.Rules = append(slices.Clip(c.Triage.Rules), triage.Rule{Name: "ask-cdi", Any: []string{"请纪委复核"},
		Class: minsheng.ClassDiscipline, Force: true, Review: true, Weight: 1})
	r2 := start(t, c2)
	r = r2 // postReview and decide post to the second gateway now
	leadItem := postReview("REV-LEAD", "小区门口的路灯坏了两个月，社区主任收受施工方好处费不管，请人工复核。")
	if !slices.Contains(leadItem.Destinations, "discipline") {
		t.Fatalf("lead item did not reach the inspectors: %v", leadItem.Destinations)
	}
	status, v = decide("reviewers-token-0123456789abcdef", leadItem.ID, `{"class":"gov_service","discipline_lead":false}`)
	body := mustJSON(v)
	if status != 200 || strings.Contains(body, `"discipline"`) || strings.Contains(body, `"discipline_lead":true`) || strings.Contains(body, "好处费") || strings.Contains(body, "钱某") {
		t.Errorf("review desk's answer: %d %s", status, body)
	}
	rec, err = r2.g.store.Lookup(context.Background(), leadItem.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := rec.Trail[len(rec.Trail)-1]
	if !rec.Decision.Flags.DisciplineLead || slices.Contains(last.Destinations, "discipline") || !slices.Contains(last.Destinations, "gov_service") {
		t.Errorf("lead record: lead %v, routed now %v", rec.Decision.Flags.DisciplineLead, last.Destinations)
	}
	a = call(t, "GET", r2.url+"/v1/queues/discipline?max=100&lease=30s", cdiToken, "", nil)
	if n := strings.Count(string(a.body), `"envelope":{`); n != 1 || !strings.Contains(string(a.body), leadItem.ID) {
		t.Errorf("inspectors hold the item %d times: %s", n, a.body)
	}
	a = call(t, "GET", r2.url+"/v1/items/"+leadItem.ID, "reviewers-token-0123456789abcdef", "", nil)
	if a.status != 200 || strings.Contains(string(a.body), `"discipline"`) || strings.Contains(string(a.body), `"discipline_lead":true`) ||
		strings.Contains(string(a.body), "discipline lead") || !strings.Contains(string(a.body), `"step":"reviewed"`) {
		t.Errorf("review desk's view after the decision: %d %s", a.status, a.body)
	}
	a = call(t, "GET", r2.url+"/v1/queues/gov_service?max=100&lease=30s", readerToken, "", nil)
	if !strings.Contains(string(a.body), leadItem.ID) || strings.Contains(string(a.body), "13000000002") {
		t.Errorf("gov_service gets the item without the complainant's identity: %s", a.body)
	}

	// Triage called it a discipline case, to review: the person decides
	// gov_service. The dispatcher gets it, but neither its queue message
	// nor its view tells that triage thought it a discipline case.
	cdi := postReview("REV-CDI", "小区门口的路灯坏了两个月，请纪委复核。")
	if !slices.Contains(cdi.Destinations, "discipline") {
		t.Fatalf("discipline-class item did not reach the inspectors: %v", cdi.Destinations)
	}
	if status, v := decide("reviewers-token-0123456789abcdef", cdi.ID, `{"class":"gov_service"}`); status != 200 {
		t.Fatalf("decide: %d %v", status, v)
	}
	if status, v := decide("reviewers-token-0123456789abcdef", leadItem.ID, `{"class":"petition"}`); status != 409 ||
		strings.Contains(mustJSON(v), "好处费") || strings.Contains(mustJSON(v), `"discipline_lead":true`) {
		t.Errorf("409 to the review desk tells of the lead: %d %s", status, mustJSON(v))
	}
	rec, err = r2.g.store.Lookup(context.Background(), cdi.ID)
	if err != nil || rec.Review.Triage.Class != minsheng.ClassDiscipline || !rec.Decision.Flags.DisciplineLead {
		t.Fatalf("record: %v %+v %+v", err, rec.Review, rec.Decision)
	}
	dispatch := "dispatch-token-0123456789abcdef"
	for _, path := range []string{"/v1/queues/gov_service?max=100&lease=30s", "/v1/items/" + cdi.ID} {
		a = call(t, "GET", r2.url+path, dispatch, "", nil)
		if a.status != 200 || !strings.Contains(string(a.body), cdi.ID) {
			t.Fatalf("%s: %d %s", path, a.status, a.body)
		}
		for _, tell := range []string{`"discipline"`, `"discipline_lead":true`, "discipline lead", "纪委", "钱某"} {
			if tell == "纪委" && strings.Contains(path, "queues") {
				continue // the letter's own words, which the dispatcher must read
			}
			if strings.Contains(strings.ReplaceAll(string(a.body), "请纪委复核", ""), tell) {
				t.Errorf("%s tells the dispatcher %s: %s", path, tell, a.body)
			}
		}
	}
	// The review desk exports the decisions while the gateway runs: the
	// person's class, not triage's discipline class, no complainant.
	a = call(t, "GET", r2.url+"/v1/reviews", "reviewers-token-0123456789abcdef", "", nil)
	if a.status != 200 || !strings.Contains(string(a.body), `"id":"`+cdi.ID+`","title"`) || !strings.Contains(string(a.body), `"class":"gov_service"`) ||
		strings.Contains(string(a.body), `"triage_class":"discipline"`) || strings.Contains(string(a.body), "钱某") {
		t.Errorf("GET /v1/reviews: %d %s", a.status, a.body)
	}
	if a = call(t, "GET", r2.url+"/v1/reviews", dispatch, "", nil); a.status != 403 {
		t.Errorf("GET /v1/reviews as the dispatcher: %d %s", a.status, a.body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRedeliverDeadLetter: every item topic refuses an item for its size
// (max.message.bytes), so the item goes to the dead letter. The dead
// letter's desk re-delivers it over HTTP: refused again while the topics
// are small, delivered once each when they are raised, and the trail that
// GET /v1/items/{id} shows says so. A desk that reads no dead letter may
// not ask.
func TestRedeliverDeadLetter(t *testing.T) {
	k := testkafka.StartT(t)
	c := testConfig(t, k)
	for name := range c.Destinations {
		if name == "dead_letter" || name == "discipline_dead_letter" {
			c.Destinations[name] = router.Destination{Sink: router.SinkQueue, Identity: router.IdentityAuto}
			continue
		}
		if err := k.Fake().CreateTopic("minsheng."+name, 1, map[string]string{"max.message.bytes": "200"}); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, c)
	a := post(t, r.url, "REDELIVER-1", 0)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted || !slices.Contains(acc.Destinations, "dead_letter") {
		t.Fatalf("post: %d %s, want it dead-lettered", a.status, a.body)
	}
	named, _ := r.g.Router().DestinationsFor(acc.Decision)
	var want []string // the dead letter's share: all but the inspectors'
	for _, d := range named {
		if d != "discipline" {
			want = append(want, d)
		}
	}
	url := r.url + "/v1/items/" + acc.ID + "/redeliver"
	if a := call(t, "POST", url, mediaToken, "", nil); a.status != http.StatusForbidden {
		t.Errorf("a desk that reads no dead letter: %d %s", a.status, a.body)
	}
	if a := call(t, "POST", url, readerToken, "", nil); a.status != http.StatusConflict || !strings.Contains(string(a.body), "refused") {
		t.Errorf("re-delivered to topics still too small: %d %s", a.status, a.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, d := range named {
		if err := k.SetTopicConfig(ctx, "minsheng."+d, "max.message.bytes", "1048588"); err != nil {
			t.Fatal(err)
		}
	}
	a = call(t, "POST", url, readerToken, "", nil)
	var got struct {
		Redelivered []string `json:"redelivered"`
	}
	a.decode(t, &got)
	if a.status != http.StatusOK || !slices.Equal(got.Redelivered, want) {
		t.Fatalf("re-delivery: %d %s, want it sent to %v", a.status, a.body, want)
	}
	if a := call(t, "POST", url, readerToken, "", nil); a.status != http.StatusOK || !strings.Contains(string(a.body), `"redelivered":[]`) {
		t.Errorf("again: %d %s", a.status, a.body)
	}
	rec, raw := viewOf(t, r.url, readerToken, acc.ID)
	last := rec.Trail[len(rec.Trail)-1]
	if last.Step != minsheng.StepRedelivered || last.Detail != "by desk ops" || !slices.Equal(last.Destinations, want) {
		t.Errorf("GET /v1/items/%s: %s", acc.ID, raw)
	}
	for _, d := range want {
		msgs, err := k.Read(ctx, "minsheng."+d, "redeliver-"+d, 1, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || string(msgs[0].Key) != acc.ID {
			t.Errorf("minsheng.%s holds %d messages, want the item once", d, len(msgs))
		}
	}
	m := call(t, "GET", r.url+"/metrics", readerToken, "", nil)
	if !strings.Contains(string(m.body), `minsheng_redeliveries_total{outcome="redelivered"} 1`) {
		t.Errorf("/metrics does not count the re-delivery")
	}
}

// TestMetricsOnlyToDesksToldOfLeads: beside the desk API, /metrics is for
// desks told of discipline leads (those that read an inspectors'
// destination). Its counts by destination (minsheng_routed_total
// {destination="discipline"}, minsheng_reviews_total{triage_class=
// "discipline"}) tick when an item goes to the inspectors, so a 12345 or
// media desk that watched them beside its queue could tell which of its
// items has a lead.
func TestMetricsOnlyToDesksToldOfLeads(t *testing.T) {
	r := start(t, testConfig(t, nil))
	if a := post(t, r.url, "METRICS-LEAD", 1); a.status != http.StatusAccepted || !strings.Contains(string(a.body), `"discipline"`) {
		t.Fatalf("post: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		desk, token string
		status      int
	}{{"ops (reads discipline too)", readerToken, 200}, {"tv-desk", mediaToken, 403}, {"qingdao-daily (submits)", deskToken, 403}, {"inspectors", cdiToken, 200}} {
		a := call(t, "GET", r.url+"/metrics", tc.token, "", nil)
		if a.status != tc.status {
			t.Errorf("/metrics to %s: %d, want %d", tc.desk, a.status, tc.status)
		}
		if told := strings.Contains(string(a.body), `destination="discipline"`); told != (tc.status == 200) {
			t.Errorf("/metrics to %s tells of the inspectors' destination: %v", tc.desk, told)
		}
	}
}

// TestInputNameFitsASource: an input's name is the source of its items,
// which the item schema caps at 128 characters; a longer one made every
// item it read invalid (quarantined) at run time.
func TestInputNameFitsASource(t *testing.T) {
	for n, ok := range map[int]bool{128: true, 129: false} {
		f := t.TempDir() + "/minsheng.yaml"
		yaml := "inputs:\n  - name: " + strings.Repeat("图", n) + "\n    hotline: {url: wss://cc.example/feed, token_file: /run/secrets/hotline}\n"
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(f)
		if ok && err != nil {
			t.Errorf("name of %d characters: %v", n, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "inputs[0].name: ")) {
			t.Errorf("name of %d characters: err %v, want one on inputs[0].name", n, err)
		}
	}
}

// TestMetricsListenOwnPort: a metrics_listen on listen's port, on an
// address listen covers too, was accepted and then stopped the gateway just
// after it started ("bind: address already in use").
func TestMetricsListenOwnPort(t *testing.T) {
	for _, tc := range []struct {
		listen, metrics string
		refused         bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"0.0.0.0:8080", "10.0.0.5:8080", true},
		{"127.0.0.1:8080", "[::]:8080", true},
		{":8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:9090", false},
		{"127.0.0.1:8080", "10.0.0.5:8080", false},
		// The same address written another way: Go listens on
		// localhost's IPv4 address.
		{"127.0.0.1:8080", "localhost:8080", true},
		{"LOCALHOST:8080", "127.0.0.1:8080", true},
		{"[::1]:8080", "[0:0::1]:8080", true},
		{"gw.internal:8080", "GW.internal:8080", true},
		{"localhost:8080", "[::1]:8080", false},
		{"localhost:8080", "localhost:9090", false},
		// One port written another way: Go listens on 08080 as 8080.
		{"127.0.0.1:8080", "127.0.0.1:08080", true},
		{"[::1]:8080", "[::1]:008080", true},
	} {
		f := t.TempDir() + "/minsheng.yaml"
		if err := os.WriteFile(f, []byte("listen: '"+tc.listen+"'\nmetrics_listen: '"+tc.metrics+"'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(f)
		if refused := err != nil && strings.Contains(err.Error(), "line 2: metrics_listen: "); refused != tc.refused || err != nil && !refused {
			t.Errorf("listen %s, metrics_listen %s: err %v, want refused %v", tc.listen, tc.metrics, err, tc.refused)
		}
	}
}

// TestErrorsReadAsWritten: an error answer's message is read by people,
// often as curl prints it, so its <placeholders> come as written, not as
// \u003c…\u003e (encoding/json's escaping for JSON put inside HTML), from
// each part that answers errors: the token check, the desk intake and the
// review API. Before, a 401 read "Bearer \u003ctoken\u003e".
func TestErrorsReadAsWritten(t *testing.T) {
	r := start(t, testConfig(t, nil))
	if a := post(t, r.url, "ESC-2", 0); a.status != http.StatusAccepted { // a review body is looked at for an item the desk may see
		t.Fatalf("post: %d %s", a.status, a.body)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("item", "letter.json")
	w.Write(submission("ESC-1", 0))
	mw.Close()
	for _, a := range []struct {
		name string
		ans  answer
		want string
	}{
		{"unknown token", call(t, "GET", r.url+"/v1/queues", "no-such-token", "", nil), "Bearer <token>"},
		{"item part sent as a file", call(t, "POST", r.url+"/v1/items", deskToken, mw.FormDataContentType(), body.Bytes()), "item=<letter.json"},
		{"review body", call(t, "POST", r.url+"/v1/reviews/"+minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", "ESC-2"), readerToken, "application/json", []byte(`{"klass":"petition"}`)), `<class>`},
	} {
		if a.ans.status < 400 || !strings.Contains(string(a.ans.body), a.want) {
			t.Errorf("%s: %d %s, want %s in it", a.name, a.ans.status, a.ans.body, a.want)
		}
	}
}
