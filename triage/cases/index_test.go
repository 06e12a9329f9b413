package cases

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
)

// Letters of our own: two about one lift (the second re-sent through
// another channel with a line added), one about something else, and one
// written from the same template about another estate.
const (
	lift    = "我们是A市A3区金桂园小区8栋的住户，电梯已经坏了三个月，物业一直推说在等配件，不肯维修。楼里有很多老人，上下二十几层楼非常困难，有位老人买菜回来在楼梯间摔倒。请有关部门督促物业尽快维修电梯。"
	liftToo = "我们是A市A3区金桂园小区8栋的住户，电梯已经坏了三个月，物业一直推说在等配件，不肯维修。楼里有很多老人，上下二十几层楼非常困难，有位老人买菜回来在楼梯间摔倒。请有关部门督促物业尽快维修电梯。上周已经打过12345。"
	road    = "A7县星沙大道与开元路交叉口的红绿灯最近一直不亮，早晚高峰车辆乱成一团，行人过马路很危险，已经发生了两起剐蹭事故。希望交警部门尽快派人修复信号灯，并在高峰期安排人员疏导交通。"
	short   = "小区电梯坏了，请维修。"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func item(id, body string, at time.Duration) *minsheng.Item {
	return &minsheng.Item{ID: id, Body: body, ReceivedAt: t0.Add(at)}
}

func decision(c minsheng.Class) *minsheng.Decision { return &minsheng.Decision{Class: c} }

// handle is what the pipeline does: link, then remember under the link.
func handle(x *Index, it *minsheng.Item, c minsheng.Class) *minsheng.CaseLink {
	return handleTo(x, it, decision(c), []string{string(c)})
}

// handleTo is handle with the decision and the destinations given.
func handleTo(x *Index, it *minsheng.Item, d *minsheng.Decision, dests []string) *minsheng.CaseLink {
	var remember func([]string)
	d.Case, remember = x.Link(it, d, dests)
	remember(dests)
	return d.Case
}

func newIndex(t *testing.T, mod func(*Config)) *Index {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestLink(t *testing.T) {
	gov, disc := minsheng.ClassGovService, minsheng.ClassDiscipline
	type step struct {
		id    string
		body  string
		class minsheng.Class
		at    time.Duration
		want  string // the case joined, "" for none
		items int
	}
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		steps []step
	}{
		{"re-sent letter joins the first", nil, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", road, gov, time.Hour, "", 0},
			{"c", liftToo, gov, 2 * time.Hour, "a", 2},
		}},
		{"a third joins the first's case through the second", nil, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", liftToo, gov, time.Hour, "a", 2},
			{"c", liftToo + "物业电话一直打不通。", gov, 2 * time.Hour, "a", 3},
		}},
		{"other class is never linked", nil, []step{
			{"a", lift, disc, 0, "", 0},
			{"b", liftToo, gov, time.Hour, "", 0},
		}},
		{"invalid is never remembered", nil, []step{
			{"a", lift, minsheng.ClassInvalid, 0, "", 0},
			{"b", liftToo, minsheng.ClassInvalid, time.Hour, "", 0},
			{"c", liftToo, gov, 2 * time.Hour, "", 0},
		}},
		{"short texts are not linked", nil, []step{
			{"a", short, gov, 0, "", 0},
			{"b", short, gov, time.Hour, "", 0},
		}},
		{"the same ID again is not its own case", nil, []step{
			{"a", lift, gov, 0, "", 0},
			{"a", lift, gov, time.Hour, "", 0},
		}},
		{"outside the window", func(c *Config) { c.Window = 24 * time.Hour }, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", liftToo, gov, 25 * time.Hour, "", 0},
		}},
		{"inside the window", func(c *Config) { c.Window = 24 * time.Hour }, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", liftToo, gov, 23 * time.Hour, "a", 2},
		}},
		{"forgotten beyond max_items", func(c *Config) { c.MaxItems = 2 }, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", road, gov, time.Minute, "", 0},
			{"c", road + "今天又出事了。", gov, 2 * time.Minute, "b", 2},
			{"d", liftToo, gov, 3 * time.Minute, "", 0},
		}},
		{"a strict threshold", func(c *Config) { c.Threshold = 0.99 }, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", liftToo, gov, time.Hour, "", 0},
			{"c", lift, gov, 2 * time.Hour, "a", 2},
		}},
		{"disabled", func(c *Config) { c.Disabled = true }, []step{
			{"a", lift, gov, 0, "", 0},
			{"b", lift, gov, time.Hour, "", 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newIndex(t, tc.mod)
			first := map[string]time.Time{}
			for _, s := range tc.steps {
				if _, ok := first[s.id]; !ok {
					first[s.id] = t0.Add(s.at)
				}
				c := handle(x, item(s.id, s.body, s.at), s.class)
				switch {
				case s.want == "" && c != nil:
					t.Errorf("%s: joined case %s (nearest %s, %.2f), want none", s.id, c.ID, c.Nearest, c.Similarity)
				case s.want != "" && c == nil:
					t.Errorf("%s: joined no case, want %s", s.id, s.want)
				case c != nil && (c.ID != s.want || c.Items != s.items || c.Similarity < 0.5 || c.Similarity > 1 || !c.Since.Equal(first[s.want])):
					t.Errorf("%s: %+v, want case %s of %d items since %s", s.id, *c, s.want, s.items, first[s.want])
				}
			}
		})
	}
}

// TestLinkScope: items are linked only with items routed to exactly the
// same destinations; an item sent to review is neither linked nor
// remembered; an item that did not reach its destinations (dead letter)
// is not remembered.
func TestLinkScope(t *testing.T) {
	gov := minsheng.ClassGovService
	urban := []string{"dept_urban", "gov_service"}
	x := newIndex(t, nil)
	handleTo(x, item("a", lift, 0), decision(gov), urban)
	if c := handleTo(x, item("b", liftToo, time.Minute), decision(gov), []string{"gov_service"}); c != nil {
		t.Errorf("an item for 12345 alone joined %+v, a case that went to a department", c)
	}
	if c := handleTo(x, item("c", liftToo, 2*time.Minute), decision(gov), []string{"gov_service", "dept_urban"}); c == nil || c.ID != "a" {
		t.Errorf("same destinations in another order: %+v, want a's case", c)
	}
	review := decision(gov)
	review.Review = true
	if c := handleTo(x, item("d", lift, 3*time.Minute), review, []string{"review"}); c != nil {
		t.Errorf("an item in review joined %+v", c)
	}
	dl, remember := x.Link(item("e", liftToo+"第五封。", 4*time.Minute), decision(gov), urban)
	remember([]string{"dead_letter"})
	if dl == nil || x.Len() != 3 {
		t.Errorf("link %+v, %d items held; want a link, and a, b and c held (not d in review, not e dead-lettered)", dl, x.Len())
	}
}

// TestMembers lists a case's items, oldest first, and forgets those that
// left the index.
func TestMembers(t *testing.T) {
	gov := minsheng.ClassGovService
	x := newIndex(t, func(c *Config) { c.MaxItems = 4 })
	handle(x, item("a", lift, 0), gov)
	handle(x, item("b", liftToo, time.Minute), gov)
	handle(x, item("r", road, 2*time.Minute), gov)
	handle(x, item("c", liftToo+"物业电话一直打不通。", 3*time.Minute), gov)
	for id, want := range map[string][]string{"a": {"a", "b", "c"}, "r": {"r"}, "b": nil, "nothing": nil} {
		if got, n := x.Members(id, 10); !slices.Equal(got, want) || n != len(want) {
			t.Errorf("Members(%s) = %q of %d, want %q", id, got, n, want)
		}
	}
	if got, n := x.Members("a", 2); !slices.Equal(got, []string{"b", "c"}) || n != 3 {
		t.Errorf("the newest two of a's case: %q of %d, want b and c of 3", got, n)
	}
	handle(x, item("s", short+road, 4*time.Minute), gov) // the fourth: a is forgotten
	if got, n := x.Members("a", 10); !slices.Equal(got, []string{"b", "c"}) || n != 2 {
		t.Errorf("after a was forgotten, Members(a) = %q of %d, want b and c", got, n)
	}
}

// TestKeep: an item linked and then let go (its handling failed part way)
// is kept under the case it was given when its handling is finished
// later; a second Keep changes nothing, and an item of another scope, an
// invalid one or one to no destination is not kept.
func TestKeep(t *testing.T) {
	gov := minsheng.ClassGovService
	x := newIndex(t, nil)
	handle(x, item("a", lift, 0), gov)
	b := item("b", liftToo, time.Minute)
	d := decision(gov)
	var remember func([]string)
	d.Case, remember = x.Link(b, d, []string{"gov_service"})
	remember(nil)
	if d.Case == nil || d.Case.ID != "a" || x.Len() != 1 {
		t.Fatalf("b linked to %+v, index holds %d; want case a, b let go", d.Case, x.Len())
	}
	for range 2 {
		x.Keep(b, d, []string{"gov_service"})
		if got, n := x.Members("a", 10); !slices.Equal(got, []string{"a", "b"}) || n != 2 {
			t.Errorf("after Keep, Members(a) = %q of %d, want a and b", got, n)
		}
		if l := testutil.ToFloat64(x.linked.WithLabelValues("gov_service")); l != 1 {
			t.Errorf("linked counter %g, want 1", l)
		}
	}
	// Kept with no case of its own, an item roots one; other scopes and
	// invalid items are not held.
	x.Keep(item("r", road, 2*time.Minute), decision(gov), []string{"gov_service"})
	x.Keep(item("s", road+"又坏了。", 3*time.Minute), decision(minsheng.ClassInvalid), []string{"rejected"})
	x.Keep(item("n", road+"还没修。", 4*time.Minute), decision(gov), nil)
	if x.Len() != 3 {
		t.Errorf("index holds %d items, want a, b and r", x.Len())
	}
	if c := handle(x, item("r2", road+"今天又出事了。", 5*time.Minute), gov); c == nil || c.ID != "r" {
		t.Errorf("a copy of r joined %+v, want case r", c)
	}
	off := newIndex(t, func(c *Config) { c.Disabled = true })
	off.Keep(b, d, []string{"gov_service"})
	if off.Len() != 0 {
		t.Errorf("a disabled index holds %d items", off.Len())
	}
}

// TestSimultaneousCopies: copies linked before any of them is handled
// (an import's rows in flight together) still join one case; one whose
// handling then fails is forgotten, and taken again when it is retried.
func TestSimultaneousCopies(t *testing.T) {
	gov := []string{"gov_service"}
	x := newIndex(t, nil)
	var remember []func([]string)
	for i := range 5 {
		c, r := x.Link(item(fmt.Sprint("copy-", i), liftToo, time.Duration(i)*time.Millisecond), decision(minsheng.ClassGovService), gov)
		if i > 0 && (c == nil || c.ID != "copy-0" || c.Items != i+1) {
			t.Fatalf("copy %d linked %+v before any was handled, want copy-0's case of %d", i, c, i+1)
		}
		remember = append(remember, r)
	}
	for i, r := range remember {
		if i == 3 {
			r(nil) // its route failed
			continue
		}
		r(gov)
	}
	if got, n := x.Members("copy-0", 10); !slices.Equal(got, []string{"copy-0", "copy-1", "copy-2", "copy-4"}) || n != 4 || x.Len() != 4 {
		t.Errorf("members %q of %d, %d held; want the four that were handled", got, n, x.Len())
	}
	// The source offers copy-3 again, and this time it is handled.
	c, r := x.Link(item("copy-3", liftToo, time.Second), decision(minsheng.ClassGovService), gov)
	r(gov)
	if c == nil || c.ID != "copy-0" || c.Items != 5 || x.Len() != 5 {
		t.Errorf("the retried copy linked %+v with %d held; want copy-0's case of 5", c, x.Len())
	}
}

// TestDropAndForget: with items dropped (handling failed) and the ring
// turning over them, the cases' counts stay those of the items held.
func TestDropAndForget(t *testing.T) {
	gov := []string{"gov_service"}
	x := newIndex(t, func(c *Config) { c.MaxItems = 7 })
	for i := range 200 {
		body := []string{lift, liftToo, road}[i%3] + strings.Repeat("又", i%5)
		_, r := x.Link(item(fmt.Sprint(i), body, time.Duration(i)*time.Second), decision(minsheng.ClassGovService), gov)
		if i%4 == 1 {
			r(nil)
		} else {
			r(gov)
		}
		total := 0
		for _, ci := range x.cases {
			total += ci.items
		}
		if total != x.Len() || x.Len() > 7 {
			t.Fatalf("after item %d: cases count %d items, %d held", i, total, x.Len())
		}
	}
}

// TestLinkNoDestinations: an item the routes send nowhere (a class they
// do not name, dead-lettered) is neither linked nor held, whether its
// handling then fails or it reaches the dead letter destination, so the
// index stays within max_items.
func TestLinkNoDestinations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		planned []string
		reached []string
	}{
		{"failed", nil, nil},
		{"dead-lettered", nil, []string{"dead_letter"}},
		{"empty list, failed", []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newIndex(t, func(c *Config) { c.MaxItems = 5 })
			for i := range 20 {
				c, remember := x.Link(item(fmt.Sprint(i), lift, time.Duration(i)*time.Second), decision(minsheng.ClassGovService), tc.planned)
				remember(tc.reached)
				if c != nil {
					t.Fatalf("item %d joined %+v among no destinations", i, c)
				}
			}
			if x.Len() != 0 || len(x.cases) != 0 {
				t.Errorf("%d items held in %d cases, want none", x.Len(), len(x.cases))
			}
		})
	}
}

// TestClockAhead: one item stamped a year ahead does not make the index
// forget the items before it or after it.
func TestClockAhead(t *testing.T) {
	x := newIndex(t, func(c *Config) { c.Window = 24 * time.Hour })
	x.now = func() time.Time { return t0 }
	handle(x, item("a", lift, 0), minsheng.ClassGovService)
	handle(x, item("ahead", road, 365*24*time.Hour), minsheng.ClassGovService)
	if c := handle(x, item("b", liftToo, time.Minute), minsheng.ClassGovService); c == nil || c.ID != "a" || x.Len() != 3 {
		t.Errorf("after an item a year ahead: %+v, %d held; want a's case, three held", c, x.Len())
	}
}

// TestLinkNearest: of two earlier items, the more alike is named.
func TestLinkNearest(t *testing.T) {
	x := newIndex(t, nil)
	handle(x, item("far", lift[:len(lift)/2]+road, 0), minsheng.ClassGovService)
	handle(x, item("near", liftToo, time.Minute), minsheng.ClassGovService)
	c, _ := x.Link(item("new", lift, time.Hour), decision(minsheng.ClassGovService), []string{"gov_service"})
	if c == nil || c.Nearest != "near" || c.ID != "near" {
		t.Fatalf("linked %+v, want the item near", c)
	}
}

// TestCampaign: hundreds of copies of one letter (more than one band's
// walk) all join the first's case.
func TestCampaign(t *testing.T) {
	x := newIndex(t, nil)
	for i := range 3 * maxWalk {
		c := handle(x, item(fmt.Sprint("copy-", i), lift+strings.Repeat("！", i%3), time.Duration(i)*time.Second), minsheng.ClassGovService)
		if i > 0 && (c == nil || c.ID != "copy-0" || c.Items != i+1) {
			t.Fatalf("copy %d joined %+v, want copy-0's case of %d items", i, c, i+1)
		}
	}
}

func TestForgetKeepsIndexSmall(t *testing.T) {
	x := newIndex(t, func(c *Config) { c.MaxItems = 50 })
	for i := range 500 {
		body := fmt.Sprintf("%s第%d号。%s", road, i, strings.Repeat(string(rune(0x4E00+i)), 3))
		handle(x, item(fmt.Sprint(i), body, time.Duration(i)*time.Minute), minsheng.ClassGovService)
	}
	chunks := 0
	for _, c := range x.slots {
		if c != nil {
			chunks++
		}
	}
	if x.Len() > 50 || chunks != 1 {
		t.Errorf("%d items remembered in %d chunks, want at most 50 in one", x.Len(), chunks)
	}
	if len(x.heads) > 50*bands {
		t.Errorf("%d band keys kept for 50 items", len(x.heads))
	}
	total := 0
	for _, ci := range x.cases {
		total += ci.items
	}
	if total != x.Len() {
		t.Errorf("cases count %d items, the index holds %d", total, x.Len())
	}
}

// TestRebuild: an index rebuilt from the records of handled items, given
// in another order than received, links as the one that handled them; a
// record a person reviewed into another class counts under that class and
// where it sent the item, one not yet sent on not at all, and records
// outside the window are forgotten.
func TestRebuild(t *testing.T) {
	gov, pet := minsheng.ClassGovService, minsheng.ClassPetition
	live := newIndex(t, func(c *Config) { c.Window = 48 * time.Hour })
	var recs []*minsheng.Record
	for _, s := range []struct {
		id, body string
		class    minsheng.Class
		at       time.Duration
	}{
		{"old", road, gov, -72 * time.Hour},
		{"a", lift, gov, 0},
		{"b", liftToo, gov, time.Hour},
		{"r", road + "今天又出事了。", gov, 2 * time.Hour},
		{"spam", lift, minsheng.ClassInvalid, 3 * time.Hour},
	} {
		it := item(s.id, s.body, s.at)
		d := decision(s.class)
		dests := []string{string(s.class)}
		var remember func([]string)
		d.Case, remember = live.Link(it, d, dests)
		remember(dests)
		recs = append(recs, &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: dests})
	}
	// A person decided r (triage had sent it to review) as a petition:
	// counted where that decision sent it (scope), not where triage's
	// did. q's decision is written down but not yet sent on: left out.
	recs[3].Decision = &minsheng.Decision{Class: pet}
	recs[3].Destinations = []string{"review", string(pet)}
	recs[3].Review = &minsheng.Review{Desk: "reviewers"}
	q := item("q", road+"今天又出事了。", 2*time.Hour+time.Minute)
	recs = append(recs, &minsheng.Record{ID: "q", Item: q, Decision: &minsheng.Decision{Class: pet},
		Destinations: []string{"review"}, Review: &minsheng.Review{Desk: "reviewers", Pending: true}})
	// dl's decision was dead-lettered: its scope is none, and it is left
	// out (were it held under no scope, the index could never forget it).
	dl := item("dl", road+"今天又出事了。", 2*time.Hour+2*time.Minute)
	recs = append(recs, &minsheng.Record{ID: "dl", Item: dl, Decision: &minsheng.Decision{Class: pet},
		Destinations: []string{"review", "dead_letter"}, Review: &minsheng.Review{Desk: "reviewers"}})
	recs = append(recs, &minsheng.Record{ID: "no-item"})
	// inc's route is incomplete (a destination other than the
	// inspectors' was down; the source offers it again): its scope is
	// none, and it is left out.
	inc := item("inc", lift, 2*time.Hour+3*time.Minute)
	recs = append(recs, &minsheng.Record{ID: "inc", Item: inc, Decision: decision(gov), Destinations: []string{string(gov)}, Incomplete: true})
	scope := func(r *minsheng.Record) []string {
		switch {
		case r.ID == "dl", r.Incomplete:
			return nil
		case r.Review != nil:
			return []string{string(r.Decision.Class)}
		}
		return r.Destinations
	}

	re := newIndex(t, func(c *Config) { c.Window = 48 * time.Hour })
	n, err := re.Rebuild(func(fn func(*minsheng.Record) error) error {
		for _, i := range []int{4, 2, 8, 5, 0, 6, 3, 7, 1} {
			if err := fn(recs[i]); err != nil {
				return err
			}
		}
		return nil
	}, scope)
	if err != nil || n != 3 {
		t.Fatalf("rebuilt %d items, err %v; want a, b and r (old beyond the window, q pending, dl dead-lettered, spam invalid, inc incomplete)", n, err)
	}
	gd := []string{"gov_service"}
	next := item("c", liftToo+"物业电话一直打不通。", 4*time.Hour)
	got, _ := re.Link(next, decision(gov), gd)
	want, _ := live.Link(next, decision(gov), gd)
	if got == nil || want == nil || *got != *want || got.ID != "a" || got.Items != 3 {
		t.Fatalf("rebuilt index links %+v, the live one %+v; want case a of 3 items", got, want)
	}
	road2 := item("r2", road+"今天又出事了，请尽快。", 5*time.Hour)
	if l, _ := re.Link(road2, decision(gov), gd); l != nil {
		t.Errorf("under gov_service linked to %+v, an item a person decided a petition", l)
	}
	if l, _ := re.Link(road2, decision(pet), []string{string(pet)}); l == nil || l.ID != "r" {
		t.Errorf("under petition linked to %+v; want case r, the petition a person decided", l)
	}
	// A ledger that fails part way: the error, and what was read before.
	boom := errors.New("disk")
	part := newIndex(t, nil)
	n, err = part.Rebuild(func(fn func(*minsheng.Record) error) error {
		fn(recs[1])
		return boom
	}, nil)
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("%d items, error %v; want a's record kept and the error wrapped", n, err)
	}
}

// TestRebuildSince: a case's first item left the window; a new item
// links to the case as begun when that first item came, before a restart
// and after it (the rebuilt index reads it from the records' cases), in
// whatever order the ledger yields the records, and when its size makes
// the rebuild leave the oldest out before the window does.
func TestRebuildSince(t *testing.T) {
	gov, gd := minsheng.ClassGovService, []string{"gov_service"}
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		steps    []time.Duration // a, then copies, received these days after t0
		reverse  bool            // the ledger yields the newest first
		maxItems int
	}{
		{"the first forgotten", []time.Duration{0, 20 * day, 40 * day}, true, 100},
		{"two forgotten", []time.Duration{0, 10 * day, 25 * day, 45 * day}, true, 100},
		{"none forgotten", []time.Duration{0, day}, true, 100},
		{"the first beyond max_items", []time.Duration{0, day, 2 * day, 3 * day, 4 * day}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mod := func(c *Config) { c.MaxItems = tc.maxItems }
			clock := func() time.Time { return t0.Add(100 * day) }
			live := newIndex(t, mod)
			live.now = clock
			var recs []*minsheng.Record
			for i, at := range tc.steps {
				it := item(fmt.Sprint("l", i), liftToo+strings.Repeat("又", i), at)
				d := decision(gov)
				var remember func([]string)
				d.Case, remember = live.Link(it, d, gd)
				remember(gd)
				recs = append(recs, &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: gd})
			}
			if tc.reverse {
				slices.Reverse(recs)
			}
			re := newIndex(t, mod)
			re.now = clock
			if _, err := re.Rebuild(func(fn func(*minsheng.Record) error) error {
				for _, r := range recs {
					if err := fn(r); err != nil {
						return err
					}
				}
				return nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			next := item("next", lift, tc.steps[len(tc.steps)-1]+time.Hour)
			want, _ := live.Link(next, decision(gov), gd)
			got, _ := re.Link(next, decision(gov), gd)
			if want == nil || got == nil || *got != *want || !want.Since.Equal(t0) {
				t.Errorf("after a restart %+v, before %+v; want case l0 since %s", got, want, t0)
			}
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	_, err := New(Config{Threshold: 1.5, MinRuns: 1, Window: 0, MaxItems: 0})
	var fe minsheng.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 4 {
		t.Fatalf("error %v, want four field errors", err)
	}
	for i, f := range []string{"cases.threshold", "cases.min_runs", "cases.window", "cases.max_items"} {
		if fe[i].Path != f {
			t.Errorf("error %d names %s, want %s", i, fe[i].Path, f)
		}
	}
}

// TestConcurrent is for the race detector: links and remembers from many
// goroutines, then checks that every item was remembered once.
func TestConcurrent(t *testing.T) {
	x := newIndex(t, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				handle(x, item(fmt.Sprint(g, "-", i), liftToo+fmt.Sprint(i), time.Duration(i)*time.Second), minsheng.ClassGovService)
			}
		}()
	}
	wg.Wait()
	if x.Len() != 400 {
		t.Errorf("%d items remembered, want 400", x.Len())
	}
}
