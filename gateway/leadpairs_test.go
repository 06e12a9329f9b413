package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/auth"
	"github.com/minsheng/minsheng/connectors/desk"
	"github.com/minsheng/minsheng/triage"
)

// probe desks: tokens by name.
var probeDesks = map[string][]string{
	"media":     {"media_oversight"},
	"petition":  {"petition"},
	"dispatch":  {"gov_service"},
	"reviewers": {"review"},
	"dl":        {"dead_letter"},
	"ops2":      {"media_oversight", "petition", "gov_service", "review", "rejected", "dead_letter"},
	"cdi":       {"discipline", "discipline_dead_letter"},
}

func probeToken(name string) string { return "probe-token-" + name + "-0123456789abcdef" }

func probeGateway(t *testing.T, logs *logBuffer, more ...func(c *Config)) *running {
	t.Helper()
	c := testConfig(t, nil)
	t.Setenv("MS_PROBE_SUBMIT", probeToken("submit"))
	c.Desks = append(c.Desks, auth.DeskConfig{Name: "submit", Channel: minsheng.ChannelNewspaper, TokenEnv: "MS_PROBE_SUBMIT"})
	for name, reads := range probeDesks {
		env := "MS_PROBE_" + strings.ToUpper(name)
		t.Setenv(env, probeToken(name))
		c.Desks = append(c.Desks, auth.DeskConfig{Name: name, Reads: reads, TokenEnv: env})
	}
	c.Triage.LeadThreshold = 1 // only the rule raises a lead
	c.Triage.LeadShortThreshold = 1
	c.Triage.Rules = append(c.Triage.Rules,
		triage.Rule{Name: "press", Any: []string{"请记者曝光"}, Class: minsheng.ClassMediaOversight, Force: true, Weight: 1},
		triage.Rule{Name: "ask", Any: []string{"请人工看看"}, Class: minsheng.ClassPetition, Review: true, Weight: 1},
		triage.Rule{Name: "bribe", Any: []string{"甲乙丙丁"}, DisciplineLead: true, Weight: 1})
	for _, f := range more {
		f(c)
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return startLogged(t, c, log)
}

// norm replaces what differs between two items of a pair by nature (ID,
// trace ID, ref, the word that raised the lead, times) with placeholders.
var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

func norm(s string, acc desk.Accepted, ref, word string) string {
	s = strings.ReplaceAll(s, acc.ID, "<id>")
	if acc.TraceID != "" {
		s = strings.ReplaceAll(s, acc.TraceID, "<trace>")
	}
	s = strings.ReplaceAll(s, ref, "<ref>")
	s = strings.ReplaceAll(s, word, "<word>")
	s = rfc3339.ReplaceAllString(s, "<t>")
	return modelish.ReplaceAllString(s, "<m>")
}

// modelish are the model's figures, which differ with the text.
var modelish = regexp.MustCompile(`"confidence":[0-9.e-]+|"weight":[0-9.e-]+|"detail":"[^"]*\\"[^}]*?"(,|})|城乡建设 0\.\d\d|confidence 0\.\d\d`)

func probePost(t *testing.T, base, ref, body string, anonymous bool) desk.Accepted {
	t.Helper()
	c := map[string]any{"anonymous": anonymous, "consent_to_publish": false}
	if !anonymous {
		c["name"], c["phone"] = "孙八", "13700000008"
	}
	return probePostWith(t, base, ref, "小区道路塌陷", body, c)
}

// probePostWith posts an item with this title and complainant as the
// probe's submitting desk.
func probePostWith(t *testing.T, base, ref, title, body string, c map[string]any) desk.Accepted {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"ref": ref, "title": title, "body": body,
		"submitted_at": "2026-11-21T09:30:00+08:00", "complainant": c})
	a := call(t, "POST", base+"/v1/items", probeToken("submit"), "application/json", b)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted {
		t.Fatalf("post %s: %d %s", ref, a.status, a.body)
	}
	return acc
}

// probeQueue leases desk every message of queue dest (for a second) into
// msgs, by dest/item ID, with the queue's sequence number masked.
func probeQueue(t *testing.T, base, desk, dest string, msgs map[string]string) {
	t.Helper()
	a := call(t, "GET", base+"/v1/queues/"+dest+"?max=100&lease=1s", probeToken(desk), "", nil)
	var got struct {
		Messages []json.RawMessage `json:"messages"`
	}
	a.decode(t, &got)
	for _, m := range got.Messages {
		var q minsheng.QueuedMessage
		json.Unmarshal(m, &q)
		msgs[dest+"/"+q.Envelope.ItemID] = queueSeq.ReplaceAllString(string(m), `"seq":N`)
	}
}

var queueSeq = regexp.MustCompile(`"seq":\d+`)

// TestLeadPairsLookAlike posts pairs of items identical but for a word
// that a rule makes a discipline lead (anonymous, so that the identity
// withheld does not tell them apart), and compares, byte for byte once
// what differs by nature is masked (IDs, times, the model's figures),
// everything each desk not told of the lead reads of them through the
// running gateway: item views, queue messages, review answers (200,
// repeat, 409) and views after review, re-delivery and case answers
// (404/403/409 alike). The gateway's log must carry neither the
// complainant nor the text.
func TestLeadPairsLookAlike(t *testing.T) {
	logs := &logBuffer{}
	r := probeGateway(t, logs)
	type item struct {
		acc       desk.Accepted
		ref, word string
	}
	type pair struct{ plain, lead item }
	mk := func(name, text string, anonymous bool) pair {
		p := pair{plain: item{ref: name + "-P", word: "戊己庚辛"}, lead: item{ref: name + "-L", word: "甲乙丙丁"}}
		p.plain.acc = probePost(t, r.url, p.plain.ref, fmt.Sprintf(text, p.plain.word), anonymous)
		p.lead.acc = probePost(t, r.url, p.lead.ref, fmt.Sprintf(text, p.lead.word), anonymous)
		if len(p.plain.acc.Destinations) != 1 || len(p.lead.acc.Destinations) != 2 {
			t.Fatalf("%s: plain to %v, lead to %v", name, p.plain.acc.Destinations, p.lead.acc.Destinations)
		}
		return p
	}
	media := mk("MEDIA", "小区门口道路塌陷多日无人修复，%s，物业置之不理，请记者曝光。", true)
	review := mk("REVIEW", "小区门口道路塌陷多日无人修复，%s，物业置之不理，请人工看看。", true)
	withID := mk("MEDIAID", "小区门口的路灯坏了很久没有人修理，%s，晚上很黑，请记者曝光。", false)

	compare := func(what string, p pair, get func(it item) (int, string)) {
		t.Helper()
		ps, pb := get(p.plain)
		ls, lb := get(p.lead)
		pn, ln := norm(pb, p.plain.acc, p.plain.ref, p.plain.word), norm(lb, p.lead.acc, p.lead.ref, p.lead.word)
		if ps != ls || pn != ln {
			t.Errorf("%s differs:\nplain %d %s\nlead  %d %s", what, ps, pn, ls, ln)
		}
	}
	view := func(desk string) func(it item) (int, string) {
		return func(it item) (int, string) {
			a := call(t, "GET", r.url+"/v1/items/"+it.acc.ID, probeToken(desk), "", nil)
			return a.status, string(a.body) + fmt.Sprint(a.header["Etag"], a.header["Retry-After"])
		}
	}
	msgs := map[string]string{}
	for _, d := range []string{"media_oversight", "review"} {
		probeQueue(t, r.url, "ops2", d, msgs)
	}
	inQueue := func(dest string) func(it item) (int, string) {
		return func(it item) (int, string) {
			s, ok := msgs[dest+"/"+it.acc.ID]
			if !ok {
				return 0, ""
			}
			return 200, s
		}
	}
	for _, d := range []string{"media", "ops2", "dispatch", "petition", "reviewers", "dl"} {
		compare("view by "+d+" of media pair", media, view(d))
		compare("view by "+d+" of review pair", review, view(d))
	}
	compare("media queue", media, inQueue("media_oversight"))
	compare("review queue", review, inQueue("review"))
	// Decide both items of the review pair as petition.
	for _, it := range []item{review.plain, review.lead} {
		if a := call(t, "POST", r.url+"/v1/reviews/"+it.acc.ID, probeToken("reviewers"), "application/json", []byte(`{"class":"petition"}`)); a.status != 200 {
			t.Fatalf("review %s: %d %s", it.ref, a.status, a.body)
		}
	}
	for _, d := range []string{"media", "ops2", "dispatch", "petition", "reviewers", "dl"} {
		compare("view after review by "+d, review, view(d))
	}
	compare("review answer repeat", review, func(it item) (int, string) {
		a := call(t, "POST", r.url+"/v1/reviews/"+it.acc.ID, probeToken("reviewers"), "application/json", []byte(`{"class":"petition"}`))
		return a.status, string(a.body)
	})
	compare("review answer 409", review, func(it item) (int, string) {
		a := call(t, "POST", r.url+"/v1/reviews/"+it.acc.ID, probeToken("reviewers"), "application/json", []byte(`{"class":"gov_service"}`))
		return a.status, string(a.body)
	})
	compare("review answer 409 by ops", media, func(it item) (int, string) {
		a := call(t, "POST", r.url+"/v1/reviews/"+it.acc.ID, probeToken("ops2"), "application/json", []byte(`{"class":"gov_service"}`))
		return a.status, string(a.body)
	})
	for _, d := range []string{"media", "ops2", "dl"} {
		compare("redeliver preview by "+d, media, func(it item) (int, string) {
			a := call(t, "GET", r.url+"/v1/items/"+it.acc.ID+"/redeliver", probeToken(d), "", nil)
			return a.status, string(a.body)
		})
		compare("redeliver by "+d, media, func(it item) (int, string) {
			a := call(t, "POST", r.url+"/v1/items/"+it.acc.ID+"/redeliver", probeToken(d), "", nil)
			return a.status, string(a.body)
		})
		compare("case by "+d, media, func(it item) (int, string) {
			a := call(t, "GET", r.url+"/v1/cases/"+it.acc.ID, probeToken(d), "", nil)
			return a.status, string(a.body)
		})
	}
	// The identity reaches the media desk only without a lead (README,
	// "Who sees complainants' identities"); the inspectors get it.
	for _, c := range []struct {
		desk string
		it   item
		want bool
	}{{"media", withID.plain, true}, {"media", withID.lead, false}, {"cdi", withID.lead, true}} {
		if _, b := view(c.desk)(c.it); strings.Contains(b, "13700000008") != c.want {
			t.Errorf("%s's view of %s holds the phone: %v", c.desk, c.it.ref, !c.want)
		}
	}
	for _, s := range []string{"孙八", "13700000008", "道路塌陷", "甲乙丙丁", "路灯"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log carries %q", s)
		}
	}
}
