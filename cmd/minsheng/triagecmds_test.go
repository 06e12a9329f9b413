package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/triage"
)

func TestClassify(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		`{"id":"a1","title":"举报村支书贪污","body":"村党支部书记虚报冒领低保金，还用公款吃喝，请纪委调查。"}`,
		`{"id":7,"title":"","body":"测试测试"}`,
		`{"id":"bad",`,
		``,
		`{"id":"c3","title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。"}`,
	}, "\n")
	var out bytes.Buffer
	if err := classify(e, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d output lines for 4 non-empty inputs:\n%s", len(lines), out.String())
	}
	var got []classified
	for _, l := range lines {
		var c classified
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		got = append(got, c)
	}
	if got[0].ID != "a1" || got[0].Class != minsheng.ClassDiscipline || !got[0].DisciplineLead || len(got[0].Reasons) == 0 || got[0].Department == "" {
		t.Errorf("line 1: %+v", got[0])
	}
	if got[1].ID != "7" || got[1].Class != minsheng.ClassInvalid {
		t.Errorf("line 2: %+v", got[1])
	}
	if got[2].Error == "" || got[2].Class != "" {
		t.Errorf("malformed line 3 without an error: %+v", got[2])
	}
	if got[3].ID != "c3" || got[3].Class != minsheng.ClassGovService || got[3].Department == "" {
		t.Errorf("line 5: %+v", got[3])
	}
}

func TestEvalFile(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := dir + "/good.jsonl"
	os.WriteFile(good, []byte(strings.Join([]string{
		`{"id":"1","title":"举报村支书贪污","body":"村党支部书记虚报冒领低保金，还用公款吃喝。","class":"discipline","discipline_lead":true}`,
		``,
		`{"id":"2","title":"","body":"测试测试","class":"invalid","discipline_lead":false}`,
		`{"id":"3","title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","class":"gov_service","department":"城乡建设"}`,
	}, "\n")), 0o644)
	var out bytes.Buffer
	if err := evalFile(&out, e, good); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"n=3", "discipline lead (recall of yes 1.000)", "department:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out.String())
		}
	}
	bad := dir + "/bad.jsonl"
	os.WriteFile(bad, []byte(`{"id":"1","body":"x","class":"urgent"}`+"\n"), 0o644)
	if err := evalFile(&out, e, bad); err == nil || !strings.Contains(err.Error(), `unknown class "urgent"`) {
		t.Errorf("unknown class: %v", err)
	}
	os.WriteFile(bad, []byte("{\n"), 0o644)
	if err := evalFile(&out, e, bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
		t.Errorf("malformed line: %v", err)
	}
}
