package learn

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/transform"

	"github.com/minsheng/minsheng/internal/textenc"
)

// Record is one labelled text.
type Record struct {
	Source string // file base name or "own"
	ID     string
	Title  string
	Body   string
	Label  string
	Lead   bool
	// NoLead is set when the record carries no lead label: the lead head
	// does not train on it. (Lead is then false.)
	NoLead bool
	// Department is the sector a person gave the record, on an extra
	// labelled file (Data.Extra); the 495's sector is its Label.
	Department string
}

// reserved names files that ../shared/data/INDEX.md keeps for evaluation:
// they are never used to train or tune.
var reserved = []string{"附件2_留出测试集_921", "附件2_已标注并集_1380", "附件4_全部_2816", "作品测试数据_2801"}

// Reserved reports whether path is a file kept for evaluation only.
func Reserved(path string) bool {
	b := filepath.Base(path)
	for _, r := range reserved {
		if strings.HasPrefix(b, r) {
			return true
		}
	}
	return false
}

// ReadTipdmCSV reads a 泰迪杯 message file: 留言编号, 留言主题, 留言详情 and,
// when present, 一级分类 or 一级标签 (or labelCol).
func ReadTipdmCSV(path, labelCol string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, _, err := textenc.Reader(f, true) // UTF-8, or GB18030 as Chinese Excel saves CSV
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := csv.NewReader(src)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	if labelCol == "" {
		labelCol = "一级分类"
	}
	need := []string{"留言编号", "留言主题", "留言详情"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("%s: no column %s", path, n)
		}
	}
	li, hasLabel := col[labelCol]
	if !hasLabel && labelCol == "一级分类" {
		li, hasLabel = col["一级标签"]
	}
	var out []Record
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		get := func(i int) string {
			if i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		rec := Record{Source: filepath.Base(path), ID: get(col["留言编号"]), Title: get(col["留言主题"]), Body: get(col["留言详情"])}
		if hasLabel {
			rec.Label = get(li)
		}
		out = append(out, rec)
	}
	return out, nil
}

// ReadTrec reads the trec06c subset through its labels.tsv (label<TAB>path).
func ReadTrec(dir string) ([]Record, error) {
	lf, err := os.ReadFile(filepath.Join(dir, "labels.tsv"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, line := range strings.Split(strings.TrimSpace(string(lf)), "\n") {
		label, rel, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return nil, err
		}
		title, body := MailText(raw)
		out = append(out, Record{Source: "trec06c", ID: rel, Title: title, Body: body, Label: label})
	}
	return out, nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.Trim(cs, `"' `)) {
	case "big5", "cp950":
		return transform.NewReader(r, traditionalchinese.Big5.NewDecoder()), nil
	default:
		return transform.NewReader(r, simplifiedchinese.GB18030.NewDecoder()), nil
	}
}}

// MailText is a small reader of a raw mail's subject and body text for
// training only (the IMAP connector has the full MIME parser): bodies that
// are not UTF-8 are read as GB18030, which covers GB2312 and GBK.
func MailText(raw []byte) (subject, body string) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", toUTF8(raw)
	}
	subject, err = wordDecoder.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !utf8.ValidString(subject) {
		subject = toUTF8([]byte(msg.Header.Get("Subject")))
	}
	b, _ := io.ReadAll(msg.Body)
	return subject, toUTF8(b)
}

func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	s, _, err := transform.Bytes(simplifiedchinese.GB18030.NewDecoder(), b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}

// Example is a labelled text written by the team, one JSON object a line
// in triage/labels/examples.jsonl.
type Example struct {
	ID             string `json:"id"`
	Title          string `json:"title"`
	Body           string `json:"body"`
	Class          string `json:"class"`
	DisciplineLead bool   `json:"discipline_lead"`
}

// ReadExamples reads a JSON-lines file of examples.
func ReadExamples(path string) ([]Record, error) {
	exs, err := ReadJSONLines[Example](path)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(exs))
	for i, e := range exs {
		out[i] = Record{Source: "own", ID: e.ID, Title: e.Title, Body: e.Body, Label: e.Class, Lead: e.DisciplineLead}
	}
	return out, nil
}

// MaxJSONLine is the longest line ReadJSONLines reads, as classify does.
const MaxJSONLine = 16 << 20

// ReadJSONLines reads one T per non-blank line of path, after a UTF-8 byte
// order mark at its start if there is one; an error names the line. The
// text must be UTF-8, and a \u escape may not be half a surrogate pair:
// encoding/json would read either as U+FFFD without a word, so that a GBK
// file would be scored, or trained on, as garbage.
func ReadJSONLines[T any](path string) ([]T, error) {
	out, _, err := ReadJSONLinesAt[T](path)
	return out, err
}

// ReadJSONLinesAt is ReadJSONLines that also returns the line each value
// was on, for messages about it.
func ReadJSONLinesAt[T any](path string) ([]T, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []T
	var at []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), MaxJSONLine+2)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if n == 1 {
			if bytes.HasPrefix(line, []byte{0xFF, 0xFE}) || bytes.HasPrefix(line, []byte{0xFE, 0xFF}) {
				return nil, nil, fmt.Errorf("%s: the file is UTF-16: save it as UTF-8 JSON lines (iconv -f UTF-16 -t UTF-8)", path)
			}
		}
		line = bytes.TrimPrefix(line, []byte("\uFEFF")) // on any line: files joined
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := CheckJSONText(line); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out, at = append(out, v), append(at, n)
	}
	if err := sc.Err(); err != nil {
		last := 0
		if len(at) > 0 {
			last = at[len(at)-1]
		}
		return nil, nil, fmt.Errorf("%s: after line %d: %w", path, last, err)
	}
	return out, at, nil
}

// CheckJSONText reports JSON text that encoding/json would read as other
// text without a word: bytes that are not UTF-8 (a line saved as GBK) and
// \u escapes that are half a UTF-16 surrogate pair, which it reads as
// U+FFFD. The error gives the offset in line.
func CheckJSONText(line []byte) error {
	if !utf8.Valid(line) {
		return fmt.Errorf("not UTF-8 (first bad byte at offset %d; is it GBK? iconv -f GB18030 -t UTF-8)", textenc.InvalidAt(line))
	}
	if at := textenc.LoneSurrogateAt(line); at >= 0 {
		return fmt.Errorf("the \\u escape at offset %d is half a UTF-16 surrogate pair and would be read as U+FFFD: give the character, or both halves", at)
	}
	return nil
}

// LabelRef is one row of triage/labels/fourway.tsv: a reference to a
// message in ../shared/data and its label (the text stays there).
type LabelRef struct {
	File, ID, Class string
	Lead            bool
}

// ReadLabelRefs reads fourway.tsv (file, id, class, discipline_lead, note).
// The class is read by ClassOf and kept under its own name, the lead by
// LeadOf; a class or lead it cannot read, or an empty lead, is an error
// naming the file, the line and the value. (Training aligns each row with
// its held-out prediction by position among the rows of a known class, so
// a row of a misspelt class must not be dropped on the way.)
func ReadLabelRefs(path string) ([]LabelRef, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []LabelRef
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 && len(f) > 0 && f[0] == "file" {
			continue
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("%s:%d: want file, id, class, discipline_lead", path, i+1)
		}
		if Reserved(f[0]) {
			return nil, fmt.Errorf("%s:%d: %s is reserved for evaluation", path, i+1, f[0])
		}
		c, ok := ClassOf(f[2])
		if !ok {
			return nil, fmt.Errorf("%s:%d: class %q: want one of %s, or its Chinese name", path, i+1, f[2], strings.Join(Classes(), ", "))
		}
		raw, _ := json.Marshal(f[3]) // a string always marshals
		lead, err := LeadOf(raw)
		if err == nil && lead == nil {
			err = errors.New("discipline_lead is empty")
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, LabelRef{File: f[0], ID: f[1], Class: string(c), Lead: *lead})
	}
	return out, nil
}
