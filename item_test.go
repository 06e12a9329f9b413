package minsheng

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestItemIDStableAndDistinct(t *testing.T) {
	a := ItemID(ChannelNewspaper, "qingdao-daily", "QD-2026-0001")
	if a != ItemID(ChannelNewspaper, "qingdao-daily", "QD-2026-0001") {
		t.Fatal("same inputs gave different IDs")
	}
	if !ValidItemID(a) {
		t.Fatalf("ItemID produced %q, which ValidItemID refuses", a)
	}
	others := []string{
		ItemID(ChannelBroadcaster, "qingdao-daily", "QD-2026-0001"),
		ItemID(ChannelNewspaper, "qingdao-daily2", "QD-2026-0001"),
		ItemID(ChannelNewspaper, "qingdao-daily", "QD-2026-0002"),
		// the separator keeps field boundaries: "ab"+"c" differs from "a"+"bc"
		ItemID(ChannelNewspaper, "qingdao-dailyQ", "D-2026-0001"),
	}
	for _, o := range others {
		if o == a {
			t.Fatalf("different inputs gave the same ID %s", a)
		}
	}
}

func TestValidItemID(t *testing.T) {
	for _, s := range []string{"", "ms1", "ms1AAAAAAAAAAAAAAAAAAAAAAAAAA", "xx1aaaaaaaaaaaaaaaaaaaaaaaaaa", "ms1aaaaaaaaaaaaaaaaaaaaaaaaa1"} {
		if ValidItemID(s) {
			t.Errorf("ValidItemID(%q) = true", s)
		}
	}
}

func validItem() *Item {
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	return &Item{
		SchemaVersion: SchemaVersion, ID: ItemID(ChannelNewspaper, "d", "r"), TraceID: "t",
		Channel: ChannelNewspaper, Source: "d", Ref: "r", ReceivedAt: now, SubmittedAt: now,
		Title: "小区噪音扰民", Body: "楼下商铺夜间施工，噪音很大。",
	}
}

func TestValidateNamesFields(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Item)
		field string
	}{
		{"ok", func(*Item) {}, ""},
		{"bad channel", func(it *Item) { it.Channel = "fax" }, "channel"},
		{"no ref", func(it *Item) { it.Ref = "" }, "ref"},
		{"bad email", func(it *Item) { it.Complainant.Email = "not-an-address" }, "complainant.email"},
		{"no title no body", func(it *Item) { it.Title, it.Body = "", "" }, "body"},
		{"title only is fine", func(it *Item) { it.Body = "" }, ""},
		{"long title", func(it *Item) { it.Title = strings.Repeat("长", 501) }, "title"},
		{"invalid utf-8", func(it *Item) { it.Body = "ab\xffcd" }, "body"},
		{"bad attachment hash", func(it *Item) {
			it.Attachments = []Attachment{{Name: "a.jpg", SHA256: "xyz", Ref: "sha256:xyz"}}
		}, "attachments[0].sha256"},
		{"missing submitted_at", func(it *Item) { it.SubmittedAt = time.Time{} }, "submitted_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := validItem()
			tc.edit(it)
			errs := it.Validate()
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			for _, e := range errs {
				if e.Path == tc.field {
					return
				}
			}
			t.Fatalf("want an error naming %q, got %v", tc.field, errs)
		})
	}
}

func TestRedactedKeepsFlagsDropsIdentity(t *testing.T) {
	it := validItem()
	it.Complainant = Complainant{Name: "张三", Phone: "13800000000", Email: "z@example.cn", ConsentToPublish: true}
	it.Location = &Location{District: "市南区", Address: "香港中路 1 号"}
	it.RawRef = "sha256:rawmail"
	it.Attrs = map[string]string{"身份证号": "370202199001011234", "备用电话": "13911112222", "来电人住址": "市北区某路 8 号",
		"url": "https://bbs.example.cn/u/zhangsan", "category": "城市管理", "order_no": "GD0001"}
	it.Attachments = []Attachment{{Name: "张三身份证.jpg", Type: "image/jpeg", SHA256: strings.Repeat("a", 64), Ref: "sha256:" + strings.Repeat("a", 64)},
		{Name: "举报材料", SHA256: strings.Repeat("b", 64), Ref: "sha256:" + strings.Repeat("b", 64)}}
	r := it.Redacted()
	if r.Complainant.Identified() || !r.Complainant.ConsentToPublish {
		t.Fatalf("redacted complainant = %+v", r.Complainant)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"attrs keep only the allow-list", r.Attrs, map[string]string{"category": "城市管理", "order_no": "GD0001"}},
		{"raw_ref dropped", r.RawRef, ""},
		{"attachment name with extension", r.Attachments[0].Name, "attachment-1.jpg"},
		{"attachment name without extension", r.Attachments[1].Name, "attachment-2"},
		{"attachment ref kept", r.Attachments[0].Ref, it.Attachments[0].Ref},
		{"the problem's location kept", *r.Location, Location{District: "市南区", Address: "香港中路 1 号"}},
	}
	for _, tc := range tests {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !it.Complainant.Identified() || len(it.Attrs) != 6 || it.Attachments[0].Name != "张三身份证.jpg" || it.RawRef == "" {
		t.Fatal("Redacted changed the original")
	}
}

// TestIdentifying: an item carries the identity when it holds anything
// Redacted withholds, and a redacted copy never does.
func TestIdentifying(t *testing.T) {
	att := func(name string) []Attachment {
		return []Attachment{{Name: name, SHA256: strings.Repeat("a", 64), Ref: "sha256:" + strings.Repeat("a", 64)}}
	}
	tests := []struct {
		name string
		edit func(it *Item)
		want bool
	}{
		{"nothing", func(it *Item) {}, false},
		{"anonymous", func(it *Item) { it.Complainant = Complainant{Anonymous: true, ConsentToPublish: true} }, false},
		{"name", func(it *Item) { it.Complainant.Name = "张三" }, true},
		{"phone", func(it *Item) { it.Complainant.Phone = "13800000000" }, true},
		{"e-mail", func(it *Item) { it.Complainant.Email = "z@example.cn" }, true},
		{"raw_ref", func(it *Item) { it.RawRef = "sha256:rawmail" }, true},
		{"an attr redaction keeps", func(it *Item) { it.Attrs = map[string]string{"order_no": "GD0001"} }, false},
		{"an attr redaction drops", func(it *Item) { it.Attrs = map[string]string{"身份证号": "370202199001011234"} }, true},
		{"an attachment's own name", func(it *Item) { it.Attachments = att("张三身份证.jpg") }, true},
		{"an attachment named as redacted", func(it *Item) { it.Attachments = att("attachment-1.jpg") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := validItem()
			it.Complainant = Complainant{}
			tc.edit(it)
			if got := it.Identifying(); got != tc.want {
				t.Errorf("Identifying() = %v, want %v", got, tc.want)
			}
			if it.Redacted().Identifying() {
				t.Error("a redacted copy is identifying")
			}
		})
	}
}

// TestRedactedWithholdsMessageID: a mail's ref holds its Message-ID, whose
// right side names the sender's mail domain or host (a unit's own mail
// server, for an official reporting a superior) and some clients' left
// side the address itself. A redacted copy keeps the mail's content hash
// alone, as a mail without a Message-ID has it; other refs stay.
func TestRedactedWithholdsMessageID(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"<tencent_0A1B2C@qq.com>#0123456789abcdef01234567", "sha256:0123456789abcdef01234567"},
		{"<20261122093000.GA1234@jiwei-pc.xx-bureau.gov.cn>#89abcdef0123456789abcdef", "sha256:89abcdef0123456789abcdef"},
		{"<zhangsan.13800000000@example.cn>", "withheld"},
		{"sha256:0123456789abcdef01234567", "sha256:0123456789abcdef01234567"},
		{"QD-2026-0001", "QD-2026-0001"},
		{"GD2023000011", "GD2023000011"},
		{"9#abc", "9#abc"},
		{"20261122093000.GA1234.jiwei-pc.xx-bureau.gov.cn#89abcdef0123456789abcdef", "sha256:89abcdef0123456789abcdef"},
		{"GD2023000011#r2", "GD2023000011#r2"},
		{"QD-7#89ABCDEF0123456789ABCDEF", "QD-7#89ABCDEF0123456789ABCDEF"},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			it := validItem()
			it.Complainant = Complainant{}
			it.Ref = tc.ref
			if got := it.Redacted().Ref; got != tc.want {
				t.Errorf("redacted ref %q, want %q", got, tc.want)
			}
			if it.Ref != tc.ref {
				t.Error("Redacted changed the original")
			}
			if withheld := tc.want != tc.ref; it.Identifying() != withheld {
				t.Errorf("Identifying() = %v, want %v", !withheld, withheld)
			}
		})
	}
}

// SameContent compares what an item says, not when or how it was received.
func TestSameContent(t *testing.T) {
	base := func() *Item {
		return &Item{Title: "路灯坏了", Body: "小区门口路灯坏了一个月", Complainant: Complainant{Name: "李四"},
			Location: &Location{Address: "东门"}, Attrs: map[string]string{"category": "市政"},
			Attachments: []Attachment{{Name: "a.jpg", SHA256: strings.Repeat("a", 64)}}, TraceID: "t1"}
	}
	for _, tc := range []struct {
		name string
		edit func(*Item)
		same bool
	}{
		{"identical", func(*Item) {}, true},
		{"another trace and time", func(it *Item) { it.TraceID, it.ReceivedAt = "t2", time.Now() }, true},
		{"body", func(it *Item) { it.Body += "。" }, false},
		{"title", func(it *Item) { it.Title = "路灯" }, false},
		{"complainant", func(it *Item) { it.Complainant.Anonymous = true }, false},
		{"no location", func(it *Item) { it.Location = nil }, false},
		{"location", func(it *Item) { it.Location = &Location{Address: "西门"} }, false},
		{"attrs", func(it *Item) { it.Attrs = map[string]string{"category": "交通"} }, false},
		{"attachment content", func(it *Item) { it.Attachments = []Attachment{{Name: "a.jpg", SHA256: strings.Repeat("b", 64)}} }, false},
		{"no attachment", func(it *Item) { it.Attachments = nil }, false},
	} {
		o := base()
		tc.edit(o)
		if got := base().SameContent(o); got != tc.same {
			t.Errorf("%s: SameContent = %v, want %v", tc.name, got, tc.same)
		}
	}
}

func TestRecordLacking(t *testing.T) {
	rec := &Record{Destinations: []string{"gov_service", "dead_letter"}, Undelivered: []Undelivered{{Destination: "dept_urban", Refused: true}}}
	got := rec.Lacking([]string{"gov_service", "dept_urban", "discipline", "review"})
	if !slices.Equal(got, []string{"discipline", "review"}) {
		t.Errorf("Lacking = %v, want [discipline review]: neither held nor refused", got)
	}
}
