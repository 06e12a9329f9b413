package board

import (
	"encoding/json"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// A page that lists one post twice (a pinned copy above the post in its
// place, as boards pin posts and some APIs repeat them) gives one item,
// of the newer copy: the one with the later edit time where the board
// gives one (json.updated, Atom <updated>), else the one lower on the
// page, as the pinned copy heads it. An edit is then taken as it is
// across polls: a new version of an acknowledged post is a revision
// naming the original, and an unchanged one is nothing new, on every poll.
func TestPostListedTwiceOnAPage(t *testing.T) {
	type copy struct{ body, edited string }
	post := func(c copy) map[string]any {
		m := map[string]any{"id": "9", "title": "小区路灯不亮", "content": c.body, "time": "2024-05-01T10:09:00+08:00"}
		if c.edited != "" {
			m["edited"] = c.edited
		}
		return m
	}
	page := func(copies ...copy) []byte {
		list := []map[string]any{}
		for _, c := range copies {
			list = append(list, post(c))
		}
		list = append(list, map[string]any{"id": "8", "title": "噪音扰民", "content": "夜里施工", "time": "2024-05-01T10:08:00+08:00"})
		b, _ := json.Marshal(map[string]any{"list": list, "next": ""})
		return b
	}
	const old, edit = "东门路灯不亮。", "东门路灯不亮。补充：已有老人摔倒。"
	for _, tc := range []struct {
		name   string
		before []copy // the page of an earlier poll, acknowledged; none: a new board
		now    []copy // post 9's copies on the page now, top first
		want   string // the body taken in for post 9 now
		revise bool   // as a revision of the acknowledged version
	}{
		{"new post, pinned stale copy above", nil, []copy{{body: old}, {body: edit}}, edit, false},
		{"edited post, pinned stale copy above", []copy{{body: old}}, []copy{{body: old}, {body: edit}}, edit, true},
		{"edit times decide over the place", []copy{{body: old, edited: "2024-05-01 10:09:00"}},
			[]copy{{body: edit, edited: "2024-05-02 08:00:00"}, {body: old, edited: "2024-05-01 10:09:00"}}, edit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t)
			cur := tc.now
			if tc.before != nil {
				cur = tc.before
			}
			f.set("/api", bytesHandler(page(cur...), "application/json", ""))
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			cfg := quick(f.srv.URL + "/api")
			cfg.Format = FormatJSON
			// As configured in YAML; "updated" names the post's edit time.
			if err := json.Unmarshal([]byte(`{"items":"list","next":"next","updated":"edited"}`), &cfg.JSON); err != nil {
				t.Fatal(err)
			}
			start(t, "pinned", cfg, st, em)
			waitFor(t, "the first poll's posts", func() bool { return em.Acked() >= 2 })
			if tc.before != nil {
				f.set("/api", bytesHandler(page(tc.now...), "application/json", ""))
			}
			n := len(f.requests("/api"))
			waitFor(t, "four more polls", func() bool { return len(f.requests("/api")) >= n+4 })
			em.Wait()

			var nine []*minsheng.Item
			for _, it := range em.Emitted() {
				if it.Attrs["post_id"] == "9" {
					nine = append(nine, it)
				}
			}
			want := 1
			if tc.revise {
				want = 2
			}
			var got []string
			for _, it := range nine {
				got = append(got, it.Ref+" "+it.Body)
			}
			if len(nine) != want {
				t.Fatalf("post 9 taken in as %d items %q, want %d", len(nine), got, want)
			}
			last := nine[len(nine)-1]
			if last.Body != edit {
				t.Errorf("post 9 taken in as %q, want the body %q", got, edit)
			}
			origID := minsheng.ItemID(minsheng.ChannelMessageBoard, "pinned", "9")
			if tc.revise && (!strings.HasPrefix(last.Ref, "9#") || last.RevisionOf != origID) {
				t.Errorf("edit taken in as ref %q revision_of %q, want 9#<hash> naming %s", last.Ref, last.RevisionOf, origID)
			}
			if h := checkpoint(t, st, "pinned").Posts["9"].H; h != contentHash(Post{Title: last.Title, Body: edit}) {
				t.Errorf("checkpoint holds hash %s for post 9, not the edited version's", h)
			}
		})
	}
}
