package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/store"
	"github.com/minsheng/minsheng/triage/cases"
)

const (
	liftLetter = "我们是A市A3区金桂园小区8栋的住户，电梯已经坏了三个月，物业一直推说在等配件，不肯维修。楼里有很多老人，上下二十几层楼非常困难，有位老人买菜回来在楼梯间摔倒。请有关部门督促物业尽快维修电梯。"
	roadLetter = "A7县星沙大道与开元路交叉口的红绿灯最近一直不亮，早晚高峰车辆乱成一团，行人过马路很危险，已经发生了两起剐蹭事故。希望交警部门尽快派人修复信号灯，并在高峰期安排人员疏导交通。"
)

// newIndex makes a case index with the default configuration.
func newIndex(t *testing.T) *cases.Index {
	t.Helper()
	x, err := cases.New(cases.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func letter(ch minsheng.Channel, src, ref, title, body string) *minsheng.Item {
	it := item(ref, title)
	it.Channel, it.Source, it.Body = ch, src, body
	return it
}

// The same letter through a second channel joins the first's case: the
// decision names it, explains it, and the trail records it; routing is
// unchanged. An item whose route failed is not remembered, and items of
// another class or screened out never join.
func TestCaseLinked(t *testing.T) {
	x := newIndex(t)
	rg := newRigWith(t, Config{}, x)
	e := rg.p.Emitter()

	first := emit(t, e, letter(minsheng.ChannelMayorMailbox, "mailbox", "M-1", "电梯坏了", liftLetter))
	if first.err != nil || first.out.Decision.Case != nil {
		t.Fatalf("first: err %v, case %+v; want no case", first.err, first.out.Decision.Case)
	}
	if other := emit(t, e, letter(minsheng.ChannelHotline, "12345", "H-1", "红绿灯", roadLetter)); other.out.Decision.Case != nil {
		t.Fatalf("another demand joined case %+v", other.out.Decision.Case)
	}

	rg.router.down.Store(true)
	if failed := emit(t, e, letter(minsheng.ChannelHotline, "12345", "H-2", "电梯", liftLetter+"请尽快。")); failed.err == nil {
		t.Fatal("route failure not reported")
	}
	rg.router.down.Store(false)

	again := letter(minsheng.ChannelNewspaper, "daily", "N-1", "金桂园电梯", liftLetter+"上周已经打过12345。")
	r := emit(t, e, again)
	if r.err != nil {
		t.Fatal(r.err)
	}
	c := r.out.Decision.Case
	if c == nil || c.ID != first.out.ItemID || c.Nearest != first.out.ItemID || c.Items != 2 || c.Similarity < 0.5 {
		t.Fatalf("case %+v; want case %s nearest %s, 2 items (the failed route not counted)", c, first.out.ItemID, first.out.ItemID)
	}
	var reason *minsheng.Reason
	for i := range r.out.Decision.Reasons {
		if r.out.Decision.Reasons[i].Code == "same_case" {
			reason = &r.out.Decision.Reasons[i]
		}
	}
	if reason == nil || reason.Kind != "case" || !strings.Contains(reason.Detail, first.out.ItemID) {
		t.Fatalf("reasons %+v: want a same_case reason naming %s", r.out.Decision.Reasons, first.out.ItemID)
	}
	if len(r.out.Destinations) == 0 || r.out.Destinations[0] != first.out.Destinations[0] {
		t.Fatalf("destinations %v, first's %v: linking must not change routing", r.out.Destinations, first.out.Destinations)
	}
	rec, err := rg.store.Lookup(context.Background(), r.out.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Decision.Case == nil || rec.Decision.Case.ID != c.ID {
		t.Fatalf("ledger decision case %+v, want %s", rec.Decision.Case, c.ID)
	}
	trail := ""
	for _, ev := range rec.Trail {
		if ev.Step == minsheng.StepClassified {
			trail = ev.Detail
		}
	}
	if !strings.HasSuffix(trail, ", case "+c.ID) {
		t.Fatalf("classified trail %q does not name the case", trail)
	}

	// A re-send of a handled item is a duplicate, answered as before.
	if dup := emit(t, e, again); !dup.out.Duplicate || dup.out.Decision.Case == nil || dup.out.Decision.Case.Items != 2 {
		t.Fatalf("re-send: %+v", dup.out)
	}
	// A discipline report, an item sent to review and an advert with the
	// same text stay apart.
	for _, it := range []*minsheng.Item{
		letter(minsheng.ChannelPetitionBureau, "bureau", "P-1", "贪污", liftLetter),
		letter(minsheng.ChannelVillage, "committee", "V-1", "请复核", liftLetter),
		letter(minsheng.ChannelMessageBoard, "board", "B-1", "广告", liftLetter),
	} {
		if r := emit(t, e, it); r.err != nil || r.out.Decision.Case != nil {
			t.Fatalf("%s: err %v, case %+v; want none", it.Title, r.err, r.out.Decision.Case)
		}
	}
	if n := linked(t, x, "gov_service"); n != 1 {
		t.Errorf("minsheng_items_linked_total{class=gov_service} = %g, want 1", n)
	}
	if n := x.Len(); n != 4 {
		t.Fatalf("index holds %d items, want 4 (two lift letters, the road letter, the discipline report; not the review item)", n)
	}
}

// linked reads minsheng_items_linked_total{class} off the index.
func linked(t *testing.T, x *cases.Index, class string) float64 {
	t.Helper()
	return testutil.ToFloat64(x.Collector().(*prometheus.CounterVec).WithLabelValues(class))
}

// TestCaseDeadLettered: an item linked to a case among items that reached
// gov_service, but refused there for good and dead-lettered, is recorded
// and dead-lettered without the case, and is not remembered (a real
// Kafka-protocol broker refuses the oversized batch).
func TestCaseDeadLettered(t *testing.T) {
	k := testkafka.StartT(t)
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg := router.DefaultConfig()
	cfg.Destinations["gov_service"] = router.Destination{Sink: router.SinkKafka, Identity: router.IdentityAuto}
	cfg.Kafka.Brokers, cfg.Kafka.CreateTopics, cfg.Kafka.BatchBytes = k.Addrs(), true, 64<<10
	r, err := router.New(context.Background(), cfg, router.Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	x := newIndex(t)
	p, err := New(Config{RouteTimeout: 20 * time.Second}, Options{Triager: &keywordTriager{}, Router: r, Ledger: s, Linker: x})
	if err != nil {
		t.Fatal(err)
	}
	e := p.Emitter()
	first := emit(t, e, letter(minsheng.ChannelHotline, "12345", "H-1", "来信", strings.Repeat("很长的信", 20)))
	if first.err != nil || !slices.Equal(first.out.Destinations, []string{"gov_service"}) {
		t.Fatalf("first: %v %v", first.out.Destinations, first.err)
	}
	huge := emit(t, e, letter(minsheng.ChannelHotline, "12345", "H-2", "来信", strings.Repeat("很长的信", 20000))) // 80,000 characters: within the item's limit, 240 KB over the 64 KiB batch
	if huge.err != nil || !slices.Equal(huge.out.Destinations, []string{"dead_letter"}) {
		t.Fatalf("huge: %v %v", huge.out.Destinations, huge.err)
	}
	rec, err := s.Lookup(context.Background(), huge.out.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"decision": rec.Decision, "trail": rec.Trail}) // not the 240 KB body
	if rec.Decision.Case != nil || strings.Contains(string(raw), first.out.ItemID) || strings.Contains(string(raw), "same_case") {
		t.Errorf("the dead-lettered item's record names the case: %s", raw)
	}
	if n := x.Len(); n != 1 {
		t.Errorf("index holds %d items, want only the first", n)
	}

	// The same at review: a copy of a routed letter that triage sent to
	// review, decided as the letter was routed, refused for good and
	// dead-lettered.
	lift := emit(t, e, letter(minsheng.ChannelHotline, "12345", "H-3", "电梯", liftLetter))
	if lift.err != nil || !slices.Equal(lift.out.Destinations, []string{"gov_service"}) {
		t.Fatalf("lift: %v %v", lift.out.Destinations, lift.err)
	}
	inReview := emit(t, e, letter(minsheng.ChannelHotline, "12345", "H-4", "请复核电梯", strings.Repeat(liftLetter, 300)))
	if inReview.err != nil || !slices.Equal(inReview.out.Destinations, []string{"review"}) {
		t.Fatalf("in review: %v %v", inReview.out.Destinations, inReview.err)
	}
	w := decideAt(r, s, x, inReview.out.ItemID, "gov_service")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "dead_letter") {
		t.Fatalf("decide: %d %s; want 200, sent to dead_letter", w.Code, w.Body)
	}
	if rec, err = s.Lookup(context.Background(), inReview.out.ItemID); err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(map[string]any{"decision": rec.Decision, "trail": rec.Trail})
	if rec.Decision.Case != nil || strings.Contains(string(raw), lift.out.ItemID) || strings.Contains(string(raw), "same_case") {
		t.Errorf("the dead-lettered reviewed item's record names the case: %s", raw)
	}
	if n := x.Len(); n != 2 {
		t.Errorf("index holds %d items after the review, want the two letters routed", n)
	}
	if n := linked(t, x, "gov_service"); n != 0 {
		t.Errorf("minsheng_items_linked_total{class=gov_service} = %g, want 0: neither linked item arrived", n)
	}
	// A restarted gateway holds what this one held: not the items
	// dead-lettered.
	re := newIndex(t)
	if n, err := re.Rebuild(s.Each, r.CaseScope); err != nil || n != x.Len() {
		t.Errorf("rebuilt from the ledger: %d items (err %v), want the %d held before", n, err, x.Len())
	}
}

// as authenticates every request to a handler as p.
func as(p *minsheng.Principal) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			h.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), p)))
		})
	}
}

// reviewers is a review desk: it reads only the review destination.
var reviewers = &minsheng.Principal{Name: "reviewers", Reads: []string{"review"}}

// decideAt decides item id as class through a review API over r, led and
// the case index x, as the review desk, and returns the answer.
func decideAt(r *router.Router, led minsheng.Ledger, x *cases.Index, id, class string) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	router.NewReviewAPI(r, led, nil, x).Register(mux, as(reviewers))
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/reviews/"+id, strings.NewReader(`{"class":"`+class+`"}`))
	req.Header.Set("Content-Type", "application/json")
	mux.ServeHTTP(w, req)
	return w
}

// TestCaseLinkedAfterReview: a copy of a letter that triage sent to review
// joins the first copy's case when a person decides it as the first was
// routed: the destinations it is sent on to, and the ledger, name the
// case; the review desk, which reads none of those destinations, is not
// told of it; a case API reader is shown both items; and a rebuilt index
// counts the reviewed item where the decision sent it. A copy a person
// decides into another class joins no case.
func TestCaseLinkedAfterReview(t *testing.T) {
	x := newIndex(t)
	rg := newRigWith(t, Config{}, x)
	r := rg.router.Router.(*router.Router)
	e := rg.p.Emitter()
	ctx := context.Background()

	first := emit(t, e, letter(minsheng.ChannelMayorMailbox, "mailbox", "M-1", "电梯坏了", liftLetter))
	copy1 := emit(t, e, letter(minsheng.ChannelNewspaper, "daily", "N-1", "请复核电梯", liftLetter+"上周已经打过12345。"))
	copy2 := emit(t, e, letter(minsheng.ChannelNewspaper, "daily", "N-2", "请复核：电梯", liftLetter+"请尽快。"))
	for _, c := range []result{first, copy1, copy2} {
		if c.err != nil {
			t.Fatal(c.err)
		}
	}
	if copy1.out.Decision.Case != nil || !slices.Equal(copy1.out.Destinations, []string{"review"}) {
		t.Fatalf("copy in review: case %+v, destinations %v; want no case, review", copy1.out.Decision.Case, copy1.out.Destinations)
	}

	dispatch := &minsheng.Principal{Name: "dispatch", Reads: []string{"gov_service"}}
	decide := func(id, class string) string {
		t.Helper()
		w := decideAt(r, rg.store, x, id, class)
		if w.Code != http.StatusOK {
			t.Fatalf("decide %s: %d %s", id, w.Code, w.Body)
		}
		return w.Body.String()
	}

	answer := decide(copy1.out.ItemID, "gov_service")
	if strings.Contains(answer, first.out.ItemID) || strings.Contains(answer, "same_case") {
		t.Errorf("the review desk's answer tells of the case: %s", answer)
	}
	rec, err := rg.store.Lookup(ctx, copy1.out.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	c := rec.Decision.Case
	if c == nil || c.ID != first.out.ItemID || c.Items != 2 {
		t.Fatalf("reviewed copy's case %+v; want case %s of 2 items", c, first.out.ItemID)
	}
	if got := rec.Trail[len(rec.Trail)-2].Detail; !strings.HasSuffix(got, minsheng.TrailCase(c.ID)) {
		t.Errorf("reviewed step %q does not name the case", got)
	}
	msgs, err := rg.store.Read(ctx, "gov_service", "dispatch", 10, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sent *minsheng.Envelope
	for _, m := range msgs {
		if m.Envelope.ItemID == copy1.out.ItemID {
			sent = m.Envelope
		}
	}
	if sent == nil || sent.Decision == nil || sent.Decision.Case == nil || sent.Decision.Case.ID != c.ID {
		t.Fatalf("gov_service was sent %+v; want the reviewed copy with case %s", sent, c.ID)
	}
	if v, ok := r.View(rec, reviewers); !ok || v.Decision.Case != nil || strings.Contains(v.Trail[len(v.Trail)-2].Detail, "case") {
		t.Errorf("the review desk's view names the case: %+v", v)
	}
	if v, ok := r.View(rec, dispatch); !ok || v.Decision.Case == nil {
		t.Errorf("dispatch, which reads gov_service, is not shown the case")
	}
	cmux := http.NewServeMux()
	router.NewCaseAPI(r, rg.store, x.Members).Register(cmux, as(dispatch))
	w := httptest.NewRecorder()
	cmux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/cases/"+c.ID, nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), copy1.out.ItemID) || !strings.Contains(w.Body.String(), `"total":2`) {
		t.Errorf("case API for dispatch: %d %s", w.Code, w.Body)
	}

	// Decided a petition: routed elsewhere, so no case with the service
	// items; it starts one of its own among petitions.
	decide(copy2.out.ItemID, "petition")
	if rec, err := rg.store.Lookup(ctx, copy2.out.ItemID); err != nil || rec.Decision.Case != nil {
		t.Fatalf("copy decided a petition: case %+v, err %v; want none", rec.Decision.Case, err)
	}
	if n := x.Len(); n != 3 {
		t.Errorf("index holds %d items, want 3: the first, and each copy where its decision sent it", n)
	}
	if n := linked(t, x, "gov_service"); n != 1 {
		t.Errorf("minsheng_items_linked_total{class=gov_service} = %g, want 1 (the copy decided at review)", n)
	}
	// The review desk reads neither case's destinations: both are 404 to
	// it, though each holds an item it decided.
	cmux = http.NewServeMux()
	router.NewCaseAPI(r, rg.store, x.Members).Register(cmux, as(reviewers))
	for _, id := range []string{c.ID, copy2.out.ItemID} {
		w = httptest.NewRecorder()
		cmux.ServeHTTP(w, httptest.NewRequest("GET", "/v1/cases/"+id, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("case API for the review desk, case %s: %d %s, want 404", id, w.Code, w.Body)
		}
	}

	re := newIndex(t)
	if n, err := re.Rebuild(rg.store.Each, r.CaseScope); err != nil || n != 3 {
		t.Fatalf("rebuilt %d items, err %v; want 3", n, err)
	}
	for _, s := range []struct {
		class minsheng.Class
		dests []string
		want  string
	}{
		{minsheng.ClassGovService, []string{"gov_service"}, first.out.ItemID},
		{minsheng.ClassPetition, []string{"petition"}, copy2.out.ItemID},
	} {
		next := letter(minsheng.ChannelHotline, "12345", "H-"+string(s.class), "电梯", liftLetter+"物业电话打不通。")
		got, _ := re.Link(next, &minsheng.Decision{Class: s.class}, s.dests)
		if got == nil || got.ID != s.want {
			t.Errorf("rebuilt index, %s: case %+v, want %s", s.class, got, s.want)
		}
	}
}

// failCommit fails the ledger's nth commit.
type failCommit struct {
	minsheng.Ledger
	n, fail int
}

func (f *failCommit) Commit(ctx context.Context, r *minsheng.Record) error {
	if f.n++; f.n == f.fail {
		return errors.New("disk full")
	}
	return f.Ledger.Commit(ctx, r)
}

// TestCaseReviewNotRecorded: a review decision sent on but not recorded as
// done (503) leaves the item out of the index, as the pipeline leaves out
// an item whose trail is not recorded. Deciding it the same way finishes
// it with the case it was given, and the index keeps it then (counted as
// linked once), as a restart's rebuild does.
func TestCaseReviewNotRecorded(t *testing.T) {
	x := newIndex(t)
	rg := newRigWith(t, Config{}, x)
	r := rg.router.Router.(*router.Router)
	e := rg.p.Emitter()
	first := emit(t, e, letter(minsheng.ChannelMayorMailbox, "mailbox", "M-1", "电梯坏了", liftLetter))
	cp := emit(t, e, letter(minsheng.ChannelNewspaper, "daily", "N-1", "请复核电梯", liftLetter+"请尽快。"))
	decide := func(led minsheng.Ledger) int { return decideAt(r, led, x, cp.out.ItemID, "gov_service").Code }
	if code := decide(&failCommit{Ledger: rg.store, fail: 2}); code != http.StatusServiceUnavailable {
		t.Fatalf("decide with the second commit failing: %d, want 503", code)
	}
	if n, l := x.Len(), linked(t, x, "gov_service"); n != 1 || l != 0 {
		t.Fatalf("index holds %d items, %g linked; want only the first, none linked", n, l)
	}
	if code := decide(rg.store); code != http.StatusOK {
		t.Fatalf("finishing the decision: %d", code)
	}
	rec, err := rg.store.Lookup(context.Background(), cp.out.ItemID)
	if err != nil || rec.Review.Pending || rec.Decision.Case == nil || rec.Decision.Case.ID != first.out.ItemID {
		t.Fatalf("finished record: %+v %+v, err %v; want done, in case %s", rec.Review, rec.Decision.Case, err, first.out.ItemID)
	}
	if n, l := x.Len(), linked(t, x, "gov_service"); n != 2 || l != 1 {
		t.Errorf("after finishing, the index holds %d items, %g linked; want both, one linked", n, l)
	}
	if code := decide(rg.store); code != http.StatusOK {
		t.Fatalf("a repeat of the finished decision: %d", code)
	}
	if n, l := x.Len(), linked(t, x, "gov_service"); n != 2 || l != 1 {
		t.Errorf("after a repeat, the index holds %d items, %g linked; want both, one linked", n, l)
	}
	re := newIndex(t)
	if n, err := re.Rebuild(rg.store.Each, r.CaseScope); err != nil || n != 2 {
		t.Errorf("rebuilt %d items, err %v; want both", n, err)
	}
}
