package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
)

// TestReviewsExport: `minsheng reviews` writes the items people decided
// at review, and only those, with the person's labels and without the
// complainant; `minsheng eval --file` scores the model on that file.
func TestReviewsExport(t *testing.T) {
	data := t.TempDir()
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	item := func(ref, title, body string) *minsheng.Item {
		return &minsheng.Item{ID: minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", ref), Channel: minsheng.ChannelNewspaper,
			Source: "qingdao-daily", Ref: ref, Title: title, Body: body, Complainant: minsheng.Complainant{Name: "孙某", Phone: "13000000003"}}
	}
	triaged := &minsheng.Decision{Class: minsheng.ClassMediaOversight, Confidence: 0.41, Review: true, ModelVersion: "m1"}
	recs := []*minsheng.Record{
		{Item: item("A", "征地补偿款多年未落实", "二〇一八年征地后补偿款至今未发放，多次上访无果，请求领导过问。"),
			Decision: &minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 1},
			Review:   &minsheng.Review{Desk: "ops", At: at, Triage: triaged}},
		{Item: item("B", "路灯坏了", "小区门口路灯坏了两个月，村主任收了钱也不管。"),
			Decision: &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 1, Department: "城乡建设", Flags: minsheng.Flags{DisciplineLead: true}},
			Review:   &minsheng.Review{Desk: "ops", At: at, Triage: triaged, Department: "城乡建设", RaisedLead: true}},
		{Item: item("C", "噪音扰民", "工地夜间施工噪音扰民，请处理。"), // not reviewed
			Decision: &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9}},
	}
	for _, r := range recs {
		r.ID = r.Item.ID
		if err := st.Commit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	out := filepath.Join(t.TempDir(), "reviews.jsonl")
	_, stderr, code := runCmd(t, "reviews", "--data", data, "--out", out)
	if code != 0 || !strings.Contains(stderr, "2 items decided at review, of 3") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "孙某") || strings.Contains(string(raw), "13000000003") || strings.Contains(string(raw), "噪音") {
		t.Errorf("export holds the complainant or an item not reviewed:\n%s", raw)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, m)
	}
	want := []string{
		`class=petition department=<nil> discipline_lead=<nil> triage_class=media_oversight desk=ops`,
		`class=gov_service department=城乡建设 discipline_lead=true triage_class=media_oversight desk=ops`,
	}
	for i, m := range lines {
		got := "class=" + str(m["class"]) + " department=" + str(m["department"]) + " discipline_lead=" + str(m["discipline_lead"]) +
			" triage_class=" + str(m["triage_class"]) + " desk=" + str(m["desk"])
		if i >= len(want) || got != want[i] {
			t.Errorf("line %d: %s", i+1, got)
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	stdout, stderr, code := runCmd(t, "eval", "--file", out)
	if code != 0 || !strings.Contains(stdout, "(2 items)") || !strings.Contains(stdout, "discipline lead") || !strings.Contains(stdout, "department:") {
		t.Fatalf("eval on the export: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func str(v any) string {
	if v == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
