package learn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestReadJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.jsonl")
	for _, tc := range []struct {
		name, in string
		want     string // the ids, joined by |
		wantErr  string
	}{
		{"plain", `{"id":"a"}` + "\n" + `{"id":"b"}`, "a|b", ""},
		{"byte order mark", "\uFEFF" + `{"id":"a"}` + "\r\n\r\n" + `{"id":"b"}` + "\r\n", "a|b", ""},
		{"blank lines", "\n  \n" + `{"id":"a"}` + "\n\n", "a", ""},
		{"a mark on a later line (files joined)", `{"id":"a"}` + "\n\uFEFF" + `{"id":"b"}`, "a|b", ""},
		{"bad line", `{"id":"a"}` + "\n{", "", "x.jsonl:2: unexpected end of JSON input"},
	} {
		os.WriteFile(path, []byte(tc.in), 0o644)
		got, err := ReadJSONLines[Example](path)
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
		} else if err != nil || strings.Join(ids, "|") != tc.want {
			t.Errorf("%s: ids %q, error %v; want %s", tc.name, ids, err, tc.want)
		}
	}
}

// TestReadLabelRefs: a class or lead that cannot be read is an error naming
// the file, the line and the value, so that a misspelt class cannot drop a
// row and shift the rows after it against their held-out predictions.
func TestReadLabelRefs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fourway.tsv")
	for _, tc := range []struct {
		row     string // class<TAB>discipline_lead
		class   string
		lead    bool
		wantErr string
	}{
		{"petition\t0", "petition", false, ""},
		{"discipline\t1", "discipline", true, ""},
		{"舆论监督\tno", "media_oversight", false, ""},
		{"Gov Service\tyes", "gov_service", true, ""},
		{"petition\tTRUE", "petition", true, ""},
		{"petition\t 1", "petition", true, ""},
		{"petition\t是", "petition", true, ""},
		{"petition\t否\r", "petition", false, ""},
		{"petiton\t0", "", false, `fourway.tsv:3: class "petiton": want one of media_oversight, petition`},
		{"\t0", "", false, `fourway.tsv:3: class "": want one of`},
		{"petition\tmaybe", "", false, `fourway.tsv:3: discipline_lead "maybe": want true or false`},
		{"petition\t\tnote", "", false, "fourway.tsv:3: discipline_lead is empty"},
	} {
		os.WriteFile(path, []byte("file\tid\tclass\tdiscipline_lead\tnote\n"+
			"附件3_全部_4326.csv\t1\tgov_service\t0\tx\n"+
			"附件3_全部_4326.csv\t2\t"+tc.row+"\n"), 0o644)
		refs, err := ReadLabelRefs(path)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tc.row, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.row, err)
		case len(refs) != 2 || refs[1].Class != tc.class || refs[1].Lead != tc.lead:
			t.Errorf("%q: %+v, want class %s lead %v", tc.row, refs, tc.class, tc.lead)
		}
	}
}

// TestReadTipdmCSVEncodings: the board's CSV is read alike in UTF-8, in
// UTF-8 with a byte order mark, and in GBK as Chinese Excel saves it.
func TestReadTipdmCSVEncodings(t *testing.T) {
	text := "留言编号,留言主题,留言详情,一级分类\n7,小区路灯坏了,\"路灯坏了三个月，晚上很黑。\",城乡建设\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{"utf-8": text, "bom": "\uFEFF" + text, "gbk": gbk} {
		path := filepath.Join(t.TempDir(), name+".csv")
		if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
			t.Fatal(err)
		}
		recs, err := ReadTipdmCSV(path, "")
		if err != nil || len(recs) != 1 || recs[0].ID != "7" || recs[0].Title != "小区路灯坏了" || recs[0].Body != "路灯坏了三个月，晚上很黑。" || recs[0].Label != "城乡建设" {
			t.Errorf("%s: %+v, %v", name, recs, err)
		}
	}
}
