package pipeline

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

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
	x, err := cases.New(cases.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
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
	if n := testutil.ToFloat64(rg.p.linked.WithLabelValues("gov_service")); n != 1 {
		t.Errorf("minsheng_items_linked_total{class=gov_service} = %g, want 1", n)
	}
	if n := x.Len(); n != 4 {
		t.Fatalf("index holds %d items, want 4 (two lift letters, the road letter, the discipline report; not the review item)", n)
	}
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
	x, err := cases.New(cases.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
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
}
