package imap

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/textenc"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestParseGolden parses every testdata/*.eml and compares with its
// .golden.json (go test -run TestParseGolden -update to accept changes).
func TestParseGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) < 20 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(raw)
			var got []byte
			if err != nil {
				if !errors.Is(err, ErrUnparseable) {
					t.Fatalf("error %v does not wrap ErrUnparseable", err)
				}
				got, _ = json.MarshalIndent(map[string]string{"error": err.Error()}, "", "  ")
			} else {
				checkUTF8(t, m)
				got, _ = json.MarshalIndent(m, "", "  ")
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".eml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("differs from %s (run with -update to accept):\n%s", golden, got)
			}
		})
	}
}

func checkUTF8(t testing.TB, m *Message) {
	t.Helper()
	for _, s := range []string{m.Subject, m.Text, m.Body, m.FromName, m.FromEmail, m.MessageID, m.Automated} {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8: %q", s)
		}
	}
	for _, a := range m.Attachments {
		if !utf8.ValidString(a.Name) || !utf8.ValidString(a.Type) {
			t.Errorf("invalid UTF-8 attachment name %q", a.Name)
		}
	}
}

// The fixtures' decoded content, checked by eye once and pinned here too so
// that a careless -update cannot accept mojibake.
func TestParseCharsets(t *testing.T) {
	cases := map[string][2]string{ // file: subject, text contains
		"gb2312_base64":        {"小区门口道路塌陷多日无人修复", "人行道塌陷"},
		"gbk_in_gb2312_qp":     {"王喆反映噪音扰民", "李堃"},
		"big5_8bit":            {"臺北市道路坑洞請盡速修補", "機車騎士"},
		"gb18030_4byte":        {"生僻字𠮷姓居民户籍问题", "𠮷先生"},
		"split_encoded_word":   {"供暖温度不达标", "十四度"},
		"raw8bit_header":       {"垃圾清运不及时", "垃圾桶满了"},
		"label_euc_cn":         {"路灯坏了", "晚上很黑"},
		"label_cp950":          {"路燈壞了", "晚上很黑"},
		"label_euc_tw":         {"路燈壞了", "晚上很黑"},
		"label_unknown_8bit":   {"路灯坏了", "晚上很黑"},
		"label_quotes_inside":  {"路灯坏了", "晚上很黑"},
		"label_single_quotes":  {"路灯坏了", "晚上很黑"},
		"label_gb2312_charset": {"路灯坏了", "晚上很黑"},
		"label_unknown":        {"路灯坏了", "晚上很黑"},
		"label_ascii_but_gbk":  {"路灯坏了", "晚上很黑"},
		"html_only":            {"网页表单来信", "请城管处理<谢谢>"},
		"alternative":          {"公交线路调整建议", "建议增加早高峰班次。"},
		"iso2022cn":            {"中山路路燈壞了", "已經壞了一個月"},
		"iso2022kr":            {"도로 파손 신고", "파손되어 있습니다"},
		// The 2026 decoding audit's findings.
		"wrong_boundary":     {"井盖丢失", "人民路口的井盖丢了"},
		"html_meta_big5":     {"路燈不亮", "中正路的路燈壞了兩週"},
		"utf8_under_gb2312":  {"路灯坏了", "路灯坏了一个月"},
		"utf7":               {"中文来信", "公园的长椅坏了 (1 + 1 = 2)"},
		"label_windows_950":  {"路燈壞了", "晚上很黑"},
		"no_semicolon":       {"路燈壞了", "晚上很黑"},
		"forwarded_only":     {"Fwd: 噪音投诉", "噪音很大"},
		"base64_line_padded": {"站台漏雨", "顶棚漏雨"},
	}
	for name, want := range cases {
		raw, _ := os.ReadFile("testdata/" + name + ".eml")
		m, err := Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if m.Subject != want[0] || !strings.Contains(m.Text, want[1]) || strings.ContainsRune(m.Text+m.Subject, utf8.RuneError) {
			t.Errorf("%s: subject %q text %q", name, m.Subject, m.Text)
		}
	}
	attach := map[string]string{"rfc2231_filename": "现场照片.pdf", "big5_unquoted_name": "陳情書.doc"}
	for name, want := range attach {
		raw, _ := os.ReadFile("testdata/" + name + ".eml")
		m, err := Parse(raw)
		if err != nil || len(m.Attachments) != 1 || m.Attachments[0].Name != want {
			t.Errorf("%s: %+v %v", name, m, err)
		}
	}
	for name, want := range map[string]string{"autoreply": "Auto-Submitted", "bulk": "Precedence", "bounce": "report"} {
		raw, _ := os.ReadFile("testdata/" + name + ".eml")
		m, err := Parse(raw)
		if err != nil || !strings.Contains(m.Automated, want) {
			t.Errorf("%s: automated %q, %v", name, m.Automated, err)
		}
	}
}

func TestTrim(t *testing.T) {
	for in, want := range map[string]string{
		"问题仍未解决。\n\n-- \n赵六":                        "问题仍未解决。",
		"还是不够。\n在 2024年3月1日，市长信箱 写道：\n> 已转交":        "还是不够。",
		"ok\n----- Original Message -----\nFrom: x": "ok",
		"see below\n> quoted\nmine":                 "see below\nmine",
		"> only quoted":                             "> only quoted",
		"正文\n-----原始邮件-----\n发件人: a":                "正文",
	} {
		if got := Trim(in); got != want {
			t.Errorf("Trim(%q) = %q, want %q", in, got, want)
		}
	}
}

// corpusDir is the shared data folder: $MINSHENG_SHARED, else /work/shared/data
// reached from this package as ../../../shared/data.
func corpusDir() string {
	if d := os.Getenv("MINSHENG_SHARED"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

// TestCorpusTrec06c parses the CCERT subset of the TREC 2006 Chinese spam
// corpus: no panic, valid UTF-8 everywhere, and almost no U+FFFD.
func TestCorpusTrec06c(t *testing.T) {
	dir := filepath.Join(corpusDir(), "trec06c-ccert-subset")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not present (%v); set MINSHENG_SHARED to the shared data folder", err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md") && !strings.HasSuffix(p, ".tsv") {
			files = append(files, p)
		}
		return nil
	})
	var parsed, failed, withFFFD, fffd, noted, automated int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(raw)
		if err != nil {
			failed++
			continue
		}
		parsed++
		checkUTF8(t, m)
		it := buildItem("corpus", "INBOX", 1, 1, m, time.Now())
		it.Prepare(time.Now())
		if errs := it.Validate(); len(errs) > 0 {
			t.Errorf("%s: not a valid item: %v", f, errs)
		}
		n := strings.Count(m.Subject, "\uFFFD") + strings.Count(m.Text, "\uFFFD")
		fffd += n
		if n > 0 {
			withFFFD++
		}
		if len(m.Notes) > 0 {
			noted++
		}
		if m.Automated != "" {
			automated++
		}
	}
	t.Logf("trec06c: %d files, %d parsed, %d unparseable, %d with notes, %d automated; U+FFFD: %d in %d messages",
		len(files), parsed, failed, noted, automated, fffd, withFFFD)
	if len(files) != 5339 {
		t.Errorf("expected 5339 mails, found %d", len(files))
	}
	if failed > 5 {
		t.Errorf("%d mails unparseable", failed)
	}
	if withFFFD > 10 {
		t.Errorf("%d mails hold U+FFFD (bound: 10)", withFFFD)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrUnparseable) {
				t.Fatalf("error does not wrap ErrUnparseable: %v", err)
			}
			return
		}
		checkUTF8(t, m)
		for _, s := range []string{m.FromName, m.FromEmail, m.MessageID, m.Automated} {
			if textenc.ControlAt(s, false) >= 0 {
				t.Fatalf("control character in %q", s)
			}
		}
		for _, s := range []string{m.Subject, m.Text, m.Body} {
			if textenc.ControlAt(s, true) >= 0 {
				t.Fatalf("control character in %q", s)
			}
		}
		if m.Ref() == "" || len(m.Ref()) > 256 {
			t.Fatalf("bad ref %q", m.Ref())
		}
	})
}

// The labels registered for go-message are known to its charset package.
func TestRegisteredLabels(t *testing.T) {
	for _, l := range []string{"euc-cn", "cp950", "euc-tw", "unknown-8bit", "gbk", "gb18030", "big5", "big-5", "windows-950", "utf-7", "iso-2022-cn"} {
		if _, err := charset.Reader(l, strings.NewReader("")); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
}

// TestParseHeaderErrorQuotesTheLine: an unreadable header line is named in
// the reason (for the staff who read the quarantined mail) in quotes, so
// that a log line leaves it out.
func TestParseHeaderErrorQuotesTheLine(t *testing.T) {
	raw := []byte("13800001111 张三\r\nSubject: test\r\n\r\nbody\r\n") // a bad first line; later ones are folded in
	_, err := Parse(raw)
	if !errors.Is(err, ErrUnparseable) || !strings.Contains(err.Error(), `"13800001111 张三"`) {
		t.Fatalf("Parse = %v, want ErrUnparseable quoting the line", err)
	}
	if logged := minsheng.LogReason(err.Error()); strings.Contains(logged, "13800001111") || !strings.Contains(logged, "malformed") {
		t.Fatalf("logged as %q", logged)
	}
}
