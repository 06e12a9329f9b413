package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
)

// takeLog returns what was logged to buf since the last take. The
// handlers run in the test's goroutine (httptest), and so does the log.
func takeLog(buf *bytes.Buffer) string {
	s := buf.String()
	buf.Reset()
	return s
}

// accessLog is an access line's fields as the JSON log writes them.
type accessLog struct {
	Desk            string   `json:"desk"`
	Remote          string   `json:"remote"`
	What            string   `json:"what"`
	Destination     string   `json:"destination"`
	Items           int      `json:"items"`
	IDs             []string `json:"ids"`
	Identity        bool     `json:"identity"`
	Lead            bool     `json:"lead"`
	WithoutIdentity []string `json:"ids_without_identity"`
	WithoutLead     []string `json:"ids_without_lead"`
	Omitted         int      `json:"ids_omitted"`
}

func accessLogs(t *testing.T, log string) []accessLog {
	t.Helper()
	var out []accessLog
	for _, s := range strings.Split(log, "\n") {
		var l struct {
			Msg string `json:"msg"`
			accessLog
		}
		if json.Unmarshal([]byte(s), &l) == nil && l.Msg == "access" {
			out = append(out, l.accessLog)
		}
	}
	return out
}

// loggedRouter is a router over s logging JSON to a buffer.
func loggedRouter(t *testing.T, s Queues, reg prometheus.Registerer) (*Router, *bytes.Buffer) {
	t.Helper()
	buf := &bytes.Buffer{}
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s, Metrics: reg,
		Logger: slog.New(slog.NewJSONHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, buf
}

// TestAccessTrailRedeliver: a re-delivery's answers hand no item, but to
// the desk of the discipline dead letter the item is in they name the
// inspectors' destinations, which tells of the lead: each writes an
// access line. The dead letter's desk, not told of the lead, writes none,
// nor does anyone for an item without a lead.
func TestAccessTrailRedeliver(t *testing.T) {
	s := openStore(t)
	r, logs := loggedRouter(t, s, nil)
	f := redeliverOver(r, s)
	plain, lead := testItem("access-plain"), testItem("access-lead")
	for _, rec := range []*minsheng.Record{deadLetteredRecords(plain, false)["none took it"], deadLetteredRecords(lead, true)["none took it"]} {
		if err := s.Commit(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	line := func(desk, what, id string) []accessLog {
		return []accessLog{{Desk: desk, Remote: "192.0.2.1:1234", What: what, Destination: "discipline_dead_letter", Items: 1, IDs: []string{id}, Lead: true}}
	}
	for _, tc := range []struct {
		method, desk string
		it           *minsheng.Item
		want         []accessLog
	}{
		{"GET", "dl", plain, nil},
		{"GET", "dl", lead, nil},
		{"GET", "cdi", lead, line("cdi", "redeliver_preview", lead.ID)},
		{"POST", "dl", plain, nil},
		{"POST", "dl", lead, nil},
		{"POST", "cdi", lead, line("cdi", "redeliver", lead.ID)},
		{"POST", "ops", lead, line("ops", "redeliver", lead.ID)},
	} {
		t.Run(tc.method+" "+tc.desk+" "+tc.it.Ref, func(t *testing.T) {
			takeLog(logs)
			if status, body := f.call(t, tc.method, tc.desk, tc.it.ID); status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			log := takeLog(logs)
			if got := accessLogs(t, log); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("access lines %+v, want %+v", got, tc.want)
			}
			for _, s := range []string{"王五", "13900000000", "w@example.cn", "反映问题", "正文"} {
				if strings.Contains(log, s) {
					t.Errorf("the log carries %q", s)
				}
			}
		})
	}
}

// TestAccessTrailLeaseBounded: a lease's line lists every item handed with
// an identity (an unparsed input's raw bytes count as one), none without,
// and counts them on /metrics; a line over maxAccessIDs items lists the
// first of them and says how many it left out.
func TestAccessTrailLeaseBounded(t *testing.T) {
	s := openStore(t)
	reg := prometheus.NewRegistry()
	r, logs := loggedRouter(t, s, reg)
	api := NewQueueAPI(r)
	mux := http.NewServeMux()
	api.Register(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			p := &minsheng.Principal{Name: "dl", Reads: []string{"dead_letter"}}
			h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), p)))
		})
	})
	ctx := context.Background()
	q := &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mailbox", Ref: "uid-7", Reason: "not a mail", Raw: []byte("From: 王五 <w@example.cn>")}
	if _, err := r.RouteQuarantined(ctx, q); err != nil {
		t.Fatal(err)
	}
	anon := testItem("access-anonymous")
	anon.Complainant = minsheng.Complainant{Anonymous: true}
	if _, err := r.deadLetter(ctx, anon, nil, &minsheng.Decision{Class: minsheng.ClassPetition}, "refused", nil, nil); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1/queues/dead_letter?max=10", nil)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("lease: %d %s", w.Code, w.Body)
	}
	log := takeLog(logs)
	want := []accessLog{{Desk: "dl", Remote: req.RemoteAddr, What: "lease", Destination: "dead_letter", Items: 1, IDs: []string{q.ID()}, Identity: true}}
	if got := accessLogs(t, log); !reflect.DeepEqual(got, want) {
		t.Errorf("access lines %+v, want %+v", got, want)
	}
	if strings.Contains(log, "王五") || strings.Contains(log, "w@example.cn") {
		t.Errorf("the log carries the raw input: %s", log)
	}
	if n := testutil.ToFloat64(r.sensitive.WithLabelValues("dl", "identity")); n != 1 {
		t.Errorf("minsheng_sensitive_reads_total{desk=dl,kind=identity} = %v, want 1", n)
	}

	// More than a line lists: a review export's, say.
	var l accessLine
	var ids []string
	for i := range maxAccessIDs + 5 {
		id := fmt.Sprintf("id-%d", i)
		ids = append(ids, id)
		l.add(id, false, true)
		l.add("neither-"+id, false, false)
	}
	export := httptest.NewRequest("GET", "/v1/reviews", nil)
	r.logAccess(export.WithContext(minsheng.WithPrincipal(export.Context(), &minsheng.Principal{Name: "cdi"})), AccessExport, "", &l)
	want = []accessLog{{Desk: "cdi", Remote: export.RemoteAddr, What: "export", Items: maxAccessIDs + 5, IDs: ids[:maxAccessIDs], Lead: true, Omitted: 5}}
	if got := accessLogs(t, takeLog(logs)); !reflect.DeepEqual(got, want) {
		t.Errorf("a long line: %d lines, want the first %d IDs and 5 omitted", len(got), maxAccessIDs)
	}
	if n := testutil.ToFloat64(r.sensitive.WithLabelValues("cdi", "lead")); n != maxAccessIDs+5 {
		t.Errorf("minsheng_sensitive_reads_total{desk=cdi,kind=lead} = %v, want %d", n, maxAccessIDs+5)
	}
}
