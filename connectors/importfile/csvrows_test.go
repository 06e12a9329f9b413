package importfile

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// readRows reads every record of text: a row as its first field (the
// ref), a rejected one as "!" and its first field.
func readRows(t *testing.T, text string) []string {
	t.Helper()
	c := newCSVRows(strings.NewReader(text), ',')
	var out []string
	for range 1000 {
		row, err := c.next()
		if err == io.EOF {
			return out
		}
		var bad *RowError
		switch {
		case errors.As(err, &bad):
			if len(bad.Row) == 0 || bad.Reason == "" {
				t.Fatalf("a rejected row without its fields or reason: %+v", bad)
			}
			out = append(out, "!"+bad.Row[0])
		case err != nil:
			t.Fatalf("after %v: %v", out, err)
		default:
			out = append(out, row[0])
		}
	}
	t.Fatal("no end")
	return nil
}

// TestCSVRowsRecovers: a quoted field never closed on its line loses only
// its own row; the rows it would have swallowed are read. Quotes out of
// place within a line are read leniently; well-formed fields over several
// lines stay one field.
func TestCSVRowsRecovers(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"closed by a later quoted field", "1,a,x\n2,\"b,y\n3,c,z\n4,d,w\n5,\"e\",v\n6,f,u\n", []string{"1", "!2", "3", "4", "5", "6"}},
		{"never closed", "1,a,x\n2,\"b,y\n3,c,z\n4,d,w\n", []string{"1", "!2", "3", "4"}},
		{"two never closed", "1,\"a,x\n2,\"b,y\n3,c,z\n", []string{"!1", "!2", "3"}},
		{"a blank line before", "1,a,x\n\n2,\"b,y\n3,c,z\n4,d,w\n5,\"e\",v\n6,f,u\n", []string{"1", "!2", "3", "4", "5", "6"}},
		{"a blank CRLF line before", "1,a,x\r\n\r\n2,\"b,y\r\n3,c,z\r\n4,\"e\",v\r\n", []string{"1", "!2", "3", "4"}},
		{"paragraphs after the rejected row", "1,a,x\n2,\"b,y\n3,c,z\n4,\"第一段\n第二段\",w\n5,e,f\n", []string{"1", "!2", "3", "4", "5"}},
		{"never closed on a record's second line", "1,\"第一段\n第二段\",x,\"b\n2,c,z\n3,d,w\n4,\"e\",v\n", []string{"!1", "2", "3", "4"}},
		{"the last row never closed", "1,a,x\n2,\"b,y\n", []string{"1", "2"}},
		{"paragraphs in a quoted field", "1,\"第一段\n第二段\",x\n2,b,y\n", []string{"1", "2"}},
		{"bare quote in a field", "1,他说\"太吵\"了,x\n2,b,y\n", []string{"1", "2"}},
		{"text after a closing quote", "1,\"a\"b,x\n2,b,y\n", []string{"1", "2"}},
		{"doubled quotes", "1,\"他说\"\"太吵\"\"\",x\n2,b,y\n", []string{"1", "2"}},
		{"CRLF", "1,a,x\r\n2,\"b,y\r\n3,c,z\r\n", []string{"1", "!2", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readRows(t, tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
	// A paragraph field read again after a rejected row is whole.
	c0 := newCSVRows(strings.NewReader("1,a,x\n2,\"b,y\n3,c,z\n4,\"第一段\n第二段\",w\n5,e,f\n"), ',')
	for {
		row, err := c0.next()
		if err == io.EOF {
			break
		}
		if err == nil && row[0] == "4" && (len(row) != 3 || row[1] != "第一段\n第二段") {
			t.Errorf("row 4 read again as %q", row)
		}
	}
	// The fields of a multi-line field and a lenient one are as meant.
	c := newCSVRows(strings.NewReader("1,\"第一段\n第二段\",他说\"太吵\"了\n"), ',')
	if row, err := c.next(); err != nil || row[1] != "第一段\n第二段" || row[2] != `他说"太吵"了` {
		t.Errorf("row %q, %v", row, err)
	}
}

// FuzzCSVRows: no input stalls or panics the reader, a rejected row always
// says why, and a file without quotes reads as encoding/csv reads it.
func FuzzCSVRows(f *testing.F) {
	f.Add("1,a,x\n2,\"b,y\n3,c,z\n")
	f.Add("1,\"a\"b,\"\"\"\n\"")
	f.Add("a,b\r\n\"c\r\nd\",e")
	f.Fuzz(func(t *testing.T, text string) {
		c := newCSVRows(strings.NewReader(text), ',')
		var got [][]string
		for range len(text) + 2 {
			row, err := c.next()
			if err == io.EOF {
				break
			}
			var bad *RowError
			if errors.As(err, &bad) {
				if bad.Reason == "" {
					t.Fatal("a rejected row without a reason")
				}
				continue
			}
			if err != nil {
				return // not CSV at all (a bare \r, say): reported, not guessed at
			}
			got = append(got, row)
		}
		if strings.ContainsRune(text, '"') {
			return
		}
		r := csv.NewReader(strings.NewReader(text))
		r.FieldsPerRecord = -1
		want, err := r.ReadAll()
		if err == nil && !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("without quotes: %q, encoding/csv: %q", got, want)
		}
	})
}

// TestImportRowsAfterAnUnclosedQuote: through the importer, the row with
// the unclosed quote is rejected with its reason and every other row is
// imported; a row with text past the header's columns is rejected, not cut.
func TestImportRowsAfterAnUnclosedQuote(t *testing.T) {
	text := "留言编号,留言主题,留言详情,留言时间\n" +
		"1,路灯坏了,晚上很黑,2024-05-01 10:00:00\n" +
		"2,\"噪音扰民,楼下烧烤店营业到凌晨,2024-05-01 11:00:00\n" +
		"3,下水道堵塞,污水漫到路面,2024-05-01 12:00:00\n" +
		"4,拖欠工资,公司两个月没发工资,2024-05-01 13:00:00\n" +
		"5,\"公交站牌\",站牌被撞坏,2024-05-01 14:00:00\n" +
		"6,幼儿园收费,擅自提高伙食费,老人摔倒了,2024-05-01 15:00:00\n" +
		"7,幼儿园收费,擅自提高伙食费,2024-05-01 15:00:00,,\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "letters.csv")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	em := &conntest.Emitter{Ledger: openStore(t, filepath.Join(dir, "state"))}
	rejects := filepath.Join(dir, "rejected.csv")
	s, err := Run(context.Background(), path, em, Options{Channel: minsheng.ChannelMessageBoard, RejectsPath: rejects})
	em.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, it := range em.Emitted() {
		refs = append(refs, it.Ref)
		if it.Ref == "5" && (it.Title != "公交站牌" || it.Body != "站牌被撞坏") {
			t.Errorf("row 5: %q / %q", it.Title, it.Body)
		}
	}
	slices.Sort(refs)
	if s.Rows != 7 || s.Imported != 5 || s.Rejected != 2 || !slices.Equal(refs, []string{"1", "3", "4", "5", "7"}) {
		t.Errorf("rows %d imported %d rejected %d, refs %v; want 7, 5, 2 and 1 3 4 5 7", s.Rows, s.Imported, s.Rejected, refs)
	}
	b, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"never closed", "header has 4 columns"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("rejects file lacks %q:\n%s", want, b)
		}
	}
}

// TestImportTabSeparated: a tab-separated export (.tsv, or .txt as Excel's
// "Text (Tab delimited)" saves it) is read by its tabs; commas in its
// text are text.
func TestImportTabSeparated(t *testing.T) {
	for _, name := range []string{"letters.tsv", "letters.txt"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			text := "留言编号\t留言主题\t留言详情\t留言时间\n" +
				"1\t路灯坏了\t晚上很黑，老人摔倒了, 请修\t2024-05-01 10:00:00\n" +
				"2\t\"噪音\"\t楼下烧烤店\t2024-05-01 11:00:00\n"
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			em := &conntest.Emitter{Ledger: openStore(t, filepath.Join(dir, "state"))}
			s, err := Run(context.Background(), path, em, Options{Channel: minsheng.ChannelMessageBoard, RejectsPath: filepath.Join(dir, "r.csv")})
			em.Wait()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]*minsheng.Item{}
			for _, it := range em.Emitted() {
				got[it.Ref] = it
			}
			if s.Imported != 2 || got["1"] == nil || got["1"].Body != "晚上很黑，老人摔倒了, 请修" || got["2"] == nil || got["2"].Title != "噪音" {
				t.Errorf("imported %d: %+v", s.Imported, got)
			}
		})
	}
}

// TestTSVAlwaysByTabs: a .tsv is read by its tabs even when a header name
// holds a comma.
func TestTSVAlwaysByTabs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "letters.tsv")
	text := "留言编号\t留言主题\t留言详情(地点,经过)\t留言时间\n1\t路灯坏了\t晚上很黑\t2024-05-01 10:00:00\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	em := &conntest.Emitter{Ledger: openStore(t, filepath.Join(dir, "state"))}
	s, err := Run(context.Background(), path, em, Options{Channel: minsheng.ChannelMessageBoard, RejectsPath: filepath.Join(dir, "r.csv"),
		Columns: map[Field]string{FieldBody: "留言详情(地点,经过)"}})
	em.Wait()
	if err != nil || s.Imported != 1 {
		t.Fatalf("imported %v, %v", s, err)
	}
}
