package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
	"github.com/minsheng/minsheng/triage/learn"
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
	// train --extra-labels reads the export as the people decided it: a
	// lead only where one was raised (the review desk cannot clear one).
	// Read twice, as two exports of one ledger, each item counts once.
	var log strings.Builder
	got, err := readExtra(&log, []string{out, out})
	if err != nil {
		t.Fatal(err)
	}
	wantRecs := []learn.Record{
		{Source: "reviews.jsonl", ID: recs[0].ID, Title: recs[0].Item.Title, Body: recs[0].Item.Body, Label: "petition", NoLead: true},
		{Source: "reviews.jsonl", ID: recs[1].ID, Title: recs[1].Item.Title, Body: recs[1].Item.Body, Label: "gov_service", Lead: true, Department: "城乡建设"},
	}
	if !reflect.DeepEqual(got, wantRecs) {
		t.Errorf("readExtra:\n got %+v\nwant %+v", got, wantRecs)
	}
	if !strings.Contains(log.String(), "2 items\n") || !strings.Contains(log.String(), "0 items; 2 left out, their id came before") {
		t.Errorf("readExtra's log:\n%s", log.String())
	}
	// A review desk's export (no leads) read before the owner's: the lead
	// raised in the second is kept.
	noLeads := filepath.Join(t.TempDir(), "desk.jsonl")
	os.WriteFile(noLeads, []byte(strings.ReplaceAll(string(raw), `"discipline_lead":true,`, "")), 0o600)
	got, err = readExtra(&log, []string{noLeads, out})
	for i := range wantRecs {
		wantRecs[i].Source = "desk.jsonl" // the first file's, where each item was first read
	}
	if err != nil || !reflect.DeepEqual(got, wantRecs) {
		t.Errorf("readExtra, the export without leads first: %v\n got %+v\nwant %+v", err, got, wantRecs)
	}
}

// TestReadExtra: what train --extra-labels refuses, and what it reads but
// does not use for the department head.
func TestReadExtra(t *testing.T) {
	for _, tc := range []struct {
		name, file, lines, err, log string
	}{
		{"unknown class", "a.jsonl", `{"id":"1","title":"t","body":"b","class":"complaint"}`, `a.jsonl: line 1 (id 1): class "complaint": want one of`, ""},
		{"no class", "a.jsonl", `{"id":"1","title":"t","body":"b","department":"城乡建设"}`, `a.jsonl: line 1 (id 1): class ""`, ""},
		{"bad lead", "a.jsonl", `{"id":"1","title":"t","body":"b","class":"petition","discipline_lead":"maybe"}`, `line 1 (id 1): discipline_lead "maybe"`, ""},
		{"a city's department", "a.jsonl", `{"id":"1","title":"t","body":"b","class":"gov_service","department":"市北区城管局"}`, "", "1 departments are not among the model's sectors"},
		{"Chinese class, table", "a.tsv", "id\ttitle\tbody\tclass\tdiscipline_lead\n7\t标题\t正文\t纪检监察\t是", "", "a.tsv: 1 items\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.lines+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			recs, err := readExtra(&log, []string{path})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(recs) != 1 || !strings.Contains(log.String(), tc.log) {
				t.Fatalf("%v, %+v, log %q", err, recs, log.String())
			}
			if recs[0].Department != "" {
				t.Errorf("department %q: not a sector of the model, it must not train the department head", recs[0].Department)
			}
		})
	}
}

func str(v any) string {
	if v == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
