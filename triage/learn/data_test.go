package learn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"a mark not at the start", `{"id":"a"}` + "\n\uFEFF" + `{"id":"b"}`, "", "x.jsonl:2: invalid character"},
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
