package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/connectors/desk"
)

// accessLine is an access trail line as the JSON log writes it.
type accessLine struct {
	Desk            string   `json:"desk"`
	What            string   `json:"what"`
	Destination     string   `json:"destination,omitempty"`
	Items           int      `json:"items"`
	IDs             []string `json:"ids"`
	Identity        bool     `json:"identity"`
	Lead            bool     `json:"lead"`
	WithoutIdentity []string `json:"ids_without_identity,omitempty"`
	WithoutLead     []string `json:"ids_without_lead,omitempty"`
}

// accessLines returns the access lines of a JSON log.
func accessLines(t *testing.T, log string) []accessLine {
	t.Helper()
	var out []accessLine
	for _, s := range strings.Split(log, "\n") {
		var head struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(s), &head) != nil || head.Msg != "access" {
			continue
		}
		var l struct {
			accessLine
			Remote string `json:"remote"`
		}
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("access line %s: %v", s, err)
		}
		if !strings.HasPrefix(l.Remote, "127.0.0.1:") {
			t.Errorf("access line without the desk's address: %s", s)
		}
		out = append(out, l.accessLine)
	}
	return out
}

// The complainant and texts of TestAccessTrail's items: none may be in
// the log.
const (
	accessName  = "周九"
	accessPhone = "13600000009"
	accessEmail = "zhoujiu@example.cn"
	accessTitle = "东门外人行道塌陷"
)

// accessPost posts an item as the probe's submitting desk, identified or
// anonymous.
func accessPost(t *testing.T, base, ref, body string, anonymous bool) desk.Accepted {
	t.Helper()
	c := map[string]any{"anonymous": anonymous, "consent_to_publish": false}
	if !anonymous {
		c["name"], c["phone"], c["email"] = accessName, accessPhone, accessEmail
	}
	return probePostWith(t, base, ref, accessTitle, body, c)
}

// TestAccessTrail goes through every path by which the gateway hands a
// desk items (posts' answers, queue leases, item views, cases, review
// answers and the review export) and checks the access lines each
// request writes: one naming the desk and the items, when it handed a
// complainant's identity or a discipline lead the desk sees; none when it
// handed neither (an identity withheld, a lead not told). No line carries
// the complainant, the text or a token. (Re-delivery answers: router
// TestAccessTrailRedeliver.)
func TestAccessTrail(t *testing.T) {
	logs := &logBuffer{}
	r := probeGateway(t, logs, func(c *Config) {
		t.Setenv("MS_PROBE_CDI_REVIEW", probeToken("cdi-review"))
		c.Desks = append(c.Desks, auth.DeskConfig{Name: "cdi-review", Reads: []string{"review", "discipline"}, TokenEnv: "MS_PROBE_CDI_REVIEW"})
	})
	const (
		media  = "东门外人行道塌陷成坑已经一个多月，老人孩子出入很不方便，%s，物业和街道互相推诿置之不理，请记者曝光。"
		review = "东门外的路灯坏了两个多月没有人修理，晚上很黑，居民出行很不安全，%s，反映多次没有回音，请人工看看。"
	)
	var plain, lead, anon, inReview, inReview2 desk.Accepted
	var caseID string
	do := func(method, path, token string, body string) answer {
		t.Helper()
		ctype := ""
		if body != "" {
			ctype = "application/json"
		}
		a := call(t, method, r.url+path, probeToken(token), ctype, []byte(body))
		if a.status != http.StatusOK {
			t.Fatalf("%s %s as %s: %d %s", method, path, token, a.status, a.body)
		}
		return a
	}
	steps := []struct {
		name string
		do   func()
		want func() []accessLine
	}{
		{"post without a lead", func() { plain = accessPost(t, r.url, "ACC-P", fmt.Sprintf(media, "戊己庚辛"), false) },
			func() []accessLine { return nil }},
		{"post with a lead: the submitter is told of it", func() { lead = accessPost(t, r.url, "ACC-L", fmt.Sprintf(media, "甲乙丙丁"), false) },
			func() []accessLine {
				return []accessLine{{Desk: "submit", What: "submit", Items: 1, IDs: []string{lead.ID}, Lead: true}}
			}},
		{"anonymous post with a lead", func() { anon = accessPost(t, r.url, "ACC-A", fmt.Sprintf(media, "甲乙丙丁"), true) },
			func() []accessLine {
				return []accessLine{{Desk: "submit", What: "submit", Items: 1, IDs: []string{anon.ID}, Lead: true}}
			}},
		{"posts for review", func() {
			inReview = accessPost(t, r.url, "ACC-R", fmt.Sprintf(review, "戊己庚辛"), false)
			inReview2 = accessPost(t, r.url, "ACC-R2", fmt.Sprintf(review, "壬癸子丑"), false)
		}, func() []accessLine { return nil }},
		{"media lease: the identity without a lead only", func() { do("GET", "/v1/queues/media_oversight?max=100", "media", "") },
			func() []accessLine {
				return []accessLine{{Desk: "media", What: "lease", Destination: "media_oversight", Items: 1, IDs: []string{plain.ID}, Identity: true}}
			}},
		{"inspectors' lease: leads, the identity where not anonymous", func() { do("GET", "/v1/queues/discipline?max=100", "cdi", "") },
			func() []accessLine {
				return []accessLine{{Desk: "cdi", What: "lease", Destination: "discipline", Items: 2, IDs: []string{lead.ID, anon.ID},
					Identity: true, Lead: true, WithoutIdentity: []string{anon.ID}}}
			}},
		{"media views the lead's item: withheld, no line", func() { do("GET", "/v1/items/"+lead.ID, "media", "") },
			func() []accessLine { return nil }},
		{"media views the item without a lead", func() { do("GET", "/v1/items/"+plain.ID, "media", "") },
			func() []accessLine {
				return []accessLine{{Desk: "media", What: "view", Items: 1, IDs: []string{plain.ID}, Identity: true}}
			}},
		{"inspectors view the lead's item", func() { do("GET", "/v1/items/"+lead.ID, "cdi", "") },
			func() []accessLine {
				return []accessLine{{Desk: "cdi", What: "view", Items: 1, IDs: []string{lead.ID}, Identity: true, Lead: true}}
			}},
		{"the submitter views the lead's item", func() { do("GET", "/v1/items/"+lead.ID, "submit", "") },
			func() []accessLine {
				return []accessLine{{Desk: "submit", What: "view", Items: 1, IDs: []string{lead.ID}, Identity: true, Lead: true}}
			}},
		{"inspectors view the anonymous lead", func() {
			var rec minsheng.Record
			do("GET", "/v1/items/"+anon.ID, "cdi", "").decode(t, &rec)
			if rec.Decision == nil || rec.Decision.Case == nil {
				t.Fatalf("the anonymous lead is in no case: %+v", rec.Decision)
			}
			caseID = rec.Decision.Case.ID
		}, func() []accessLine {
			return []accessLine{{Desk: "cdi", What: "view", Items: 1, IDs: []string{anon.ID}, Lead: true}}
		}},
		{"inspectors read the case", func() { do("GET", "/v1/cases/"+caseID, "cdi", "") },
			func() []accessLine {
				return []accessLine{{Desk: "cdi", What: "case", Items: 2, IDs: []string{lead.ID, anon.ID}, Lead: true}}
			}},
		{"media reads the case: no lead told", func() { do("GET", "/v1/cases/"+caseID, "media", "") },
			func() []accessLine { return nil }},
		// The review destination gets no identity (it decides a class and
		// a sector), so its lease hands out nothing to log.
		{"review lease: no identity given", func() { do("GET", "/v1/queues/review?max=100", "reviewers", "") },
			func() []accessLine { return nil }},
		{"review decision raising a lead", func() {
			do("POST", "/v1/reviews/"+inReview.ID, "reviewers", `{"class":"petition","discipline_lead":true}`)
		}, func() []accessLine {
			return []accessLine{{Desk: "reviewers", What: "review", Items: 1, IDs: []string{inReview.ID}, Lead: true}}
		}},
		{"another decision, 409, to a desk not told of leads: none shown", func() {
			reviewConflict(t, r.url, inReview.ID, "reviewers")
		}, func() []accessLine { return nil }},
		{"another decision, 409, to a desk told of leads: the lead raised", func() {
			reviewConflict(t, r.url, inReview.ID, "cdi-review")
		}, func() []accessLine {
			return []accessLine{{Desk: "cdi-review", What: "review", Items: 1, IDs: []string{inReview.ID}, Lead: true}}
		}},
		{"review decision without a lead", func() { do("POST", "/v1/reviews/"+inReview2.ID, "reviewers", `{"class":"petition"}`) },
			func() []accessLine { return nil }},
		{"review export to a desk not told of leads: none on its lines", func() { do("GET", "/v1/reviews", "reviewers", "") },
			func() []accessLine { return nil }},
		{"review export to a desk told of leads", func() { do("GET", "/v1/reviews", "cdi-review", "") },
			func() []accessLine {
				return []accessLine{{Desk: "cdi-review", What: "export", Items: 1, IDs: []string{inReview.ID}, Lead: true}}
			}},
		{"petition bureau leases the reviewed items: the lead's withheld", func() { do("GET", "/v1/queues/petition?max=100", "petition", "") },
			func() []accessLine {
				return []accessLine{{Desk: "petition", What: "lease", Destination: "petition", Items: 1, IDs: []string{inReview2.ID}, Identity: true}}
			}},
	}
	for _, st := range steps {
		before := len(logs.String())
		st.do()
		got := accessLines(t, logs.String()[before:])
		if want := st.want(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: access lines\n%+v\nwant\n%+v", st.name, got, want)
		}
	}
	log := logs.String()
	secrets := []string{accessName, accessPhone, accessEmail, accessTitle, "人行道塌陷成坑", "路灯坏了", "甲乙丙丁", "probe-token-"}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log carries %q", s)
		}
	}
}

// TestAccessTrailLostWarned: a log level above info, which drops the
// access trail, is told at start (at error level, seen at any).
func TestAccessTrailLostWarned(t *testing.T) {
	for _, tc := range []struct {
		level string
		warns bool
	}{{"debug", false}, {"info", false}, {"warn", true}, {"error", true}} {
		t.Run(tc.level, func(t *testing.T) {
			c := testConfig(t, nil)
			c.Log.Level = tc.level
			var logs logBuffer
			g, err := Open(context.Background(), c, NewLogger(c, &logs))
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			if got := strings.Contains(logs.String(), "the access trail"); got != tc.warns {
				t.Errorf("warned: %v, want %v (log: %s)", got, tc.warns, logs.String())
			}
		})
	}
}

// reviewConflict decides item id as gov_service as desk, which must be
// answered 409 already_reviewed.
func reviewConflict(t *testing.T, base, id, desk string) {
	t.Helper()
	a := call(t, "POST", base+"/v1/reviews/"+id, probeToken(desk), "application/json", []byte(`{"class":"gov_service"}`))
	if a.status != http.StatusConflict || !strings.Contains(string(a.body), "already_reviewed") {
		t.Fatalf("decided again: %d %s, want 409 already_reviewed", a.status, a.body)
	}
}

// TestAccessTrailQuarantinedView: an input the gateway could not parse
// lies in the dead letter with a reference to its raw bytes (a mail's From
// header among them), which counts as an identity handed: the dead letter
// desk's lease of it writes an access line, and so must its view of the
// same input by ID, which shows that reference too.
func TestAccessTrailQuarantinedView(t *testing.T) {
	logs := &logBuffer{}
	r := probeGateway(t, logs)
	q := &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mailbox", Ref: "uid-9",
		Reason: "not a mail", Raw: []byte("From: " + accessName + " <" + accessEmail + ">\r\n\r\n?")}
	// As a connector does: the raw bytes in the blob store, and inline.
	info, err := r.g.store.Blobs().Put(context.Background(), bytes.NewReader(q.Raw), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	q.RawRef = info.Ref
	acked := make(chan error, 1)
	if err := r.g.pipeline.Emitter().Quarantine(context.Background(), q, func(_ minsheng.Outcome, err error) { acked <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-acked; err != nil {
		t.Fatal("the quarantined input was not routed:", err)
	}
	want := func(what, dest string) []accessLine {
		return []accessLine{{Desk: "dl", What: what, Destination: dest, Items: 1, IDs: []string{q.ID()}, Identity: true}}
	}
	for _, step := range []struct{ name, path, what, dest string }{
		{"view", "/v1/items/" + q.ID(), "view", ""},
		{"lease", "/v1/queues/dead_letter?max=10", "lease", "dead_letter"},
	} {
		before := len(logs.String())
		a := call(t, "GET", r.url+step.path, probeToken("dl"), "", nil)
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", step.name, a.status, a.body)
		}
		if !strings.Contains(string(a.body), `"raw_ref":"sha256:`) {
			t.Errorf("%s: no raw_ref in the answer: %s", step.name, a.body)
		}
		if got := accessLines(t, logs.String()[before:]); !reflect.DeepEqual(got, want(step.what, step.dest)) {
			t.Errorf("%s: access lines %+v, want %+v", step.name, got, want(step.what, step.dest))
		}
	}
	if log := logs.String(); strings.Contains(log, accessName) || strings.Contains(log, accessEmail) {
		t.Error("the log carries the raw input")
	}
}
