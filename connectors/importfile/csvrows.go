package importfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// RowError is a row that cannot be read as it stands: the importer
// rejects it with Reason (Row holds what could be made of it) and reads on.
type RowError struct {
	Reason string
	Row    []string
}

func (e *RowError) Error() string { return e.Reason }

// csvRows reads CSV records strictly (RFC 4180 quoting) and recovers from
// a malformed one without losing the rows after it:
//
//   - a quote out of place within one line (`他说"太吵"了`, `"a"b`) is read
//     leniently, as spreadsheet users mean it;
//   - a quoted field that is never closed would otherwise run on until
//     some later quote happens to close it, swallowing the rows between
//     into one field (with lenient quoting, silently). The row is rejected
//     up to the end of the line the field opens on, and reading goes on
//     from the next line, the swallowed lines read as rows of their own.
//
// A quoted field that spans lines and is closed properly (a letter's
// paragraphs) is read as one field, as before.
type csvRows struct {
	r     *csv.Reader
	rec   *recorder
	comma rune
}

func newCSVRows(src io.Reader, comma rune) *csvRows {
	rec := &recorder{r: src}
	r := csv.NewReader(rec)
	r.Comma = comma
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	return &csvRows{r: r, rec: rec, comma: comma}
}

// separator is what separates the fields of a text export: a tab when its
// first line has tabs and no commas (Excel's "Text (Tab delimited)", .tsv),
// else a comma. It peeks at the first line without reading it.
func separator(br *bufio.Reader) rune {
	head, _ := br.Peek(64 << 10)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	if bytes.IndexByte(head, '\t') >= 0 && bytes.IndexByte(head, ',') < 0 {
		return '\t'
	}
	return ','
}

// next returns the next record, a *RowError (with what could be made of
// the row) for one that could not be read, or io.EOF.
func (c *csvRows) next() ([]string, error) {
	start := c.r.InputOffset()
	row, err := c.r.Read()
	var pe *csv.ParseError
	if err == nil || !errors.As(err, &pe) {
		c.rec.drop(c.r.InputOffset())
		return row, err
	}
	end := c.r.InputOffset()
	raw := skipBlankLines(c.rec.span(start, end)) // csv.Reader skips them too
	ahead := c.rec.span(end, c.rec.base+int64(len(c.rec.buf)))
	c.rec.drop(end)
	cut := neverClosed(raw, byte(c.comma))
	if cut < 0 {
		// A quote out of place, the record's quoted fields closed: read
		// it leniently.
		if row, err := lenientRow(raw, c.comma); err == nil {
			return row, nil
		}
		first, _, _ := bytes.Cut(raw, []byte("\n"))
		return nil, &RowError{Row: lenientOrNil(first, c.comma), Reason: fmt.Sprintf("unreadable CSV: %v", pe.Err)}
	}
	// Read on from the line after the one the field opened on, through
	// the rest of the input: the lines the field swallowed, what the
	// reader had read ahead, and what it had not read yet.
	bad, rest := raw[:cut], raw[cut:]
	next := newCSVRows(io.MultiReader(bytes.NewReader(rest), bytes.NewReader(ahead), c.rec.r), c.comma)
	c.r, c.rec = next.r, next.rec
	return nil, &RowError{Row: lenientOrNil(bytes.TrimSuffix(bad, []byte("\n")), c.comma), Reason: fmt.Sprintf("a quoted field opened in this row is never closed (%v): "+
		"the row is rejected and the lines after it, which the field would have swallowed, are read as rows of their own", pe.Err)}
}

// skipBlankLines drops the empty lines at the start of raw.
func skipBlankLines(raw []byte) []byte {
	for {
		line, rest, ok := bytes.Cut(raw, []byte("\n"))
		if !ok || len(bytes.TrimRight(line, "\r")) > 0 {
			return raw
		}
		raw = rest
	}
}

// neverClosed finds, in the record raw, a quoted field that runs past
// the line it opens on and is never closed properly: its closing quote,
// the first one not doubled, is missing or followed by something other
// than the separator or a line end. It returns where that line ends (just
// past its line feed), or -1 when there is no such field or nothing
// follows its line for it to swallow. A quote closed badly on its own
// line (`"a"b`) is lenient quoting's to read.
func neverClosed(raw []byte, sep byte) int {
	for i := 0; i < len(raw); {
		if raw[i] != '"' { // an unquoted field: on to the next
			j := bytes.IndexAny(raw[i:], string([]byte{sep, '\n'}))
			if j < 0 {
				return -1
			}
			i += j + 1
			continue
		}
		open := i
		j := i + 1
		for j < len(raw) && (raw[j] != '"' || j+1 < len(raw) && raw[j+1] == '"') {
			if raw[j] == '"' {
				j++ // a doubled quote
			}
			j++
		}
		lineEnd := len(raw)
		if k := bytes.IndexByte(raw[open:], '\n'); k >= 0 {
			lineEnd = open + k + 1
		}
		closed := j < len(raw) && (j+1 == len(raw) || raw[j+1] == sep || raw[j+1] == '\r' || raw[j+1] == '\n')
		if j >= len(raw) || !closed && j >= lineEnd {
			if len(bytes.TrimSpace(raw[lineEnd:])) == 0 {
				return -1 // on the last line: nothing to swallow
			}
			return lineEnd
		}
		k := bytes.IndexAny(raw[j+1:], string([]byte{sep, '\n'}))
		if k < 0 {
			return -1
		}
		i = j + 1 + k + 1
	}
	return -1
}

// lenientRow reads one record from raw with lenient quoting.
func lenientRow(raw []byte, comma rune) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.Comma = comma
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	row, err := r.Read()
	if err != nil {
		return nil, err
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, errors.New("more than one record")
	}
	return row, nil
}

// lenientOrNil is what the rejects file shows of a bad line: its fields
// read leniently, or the line whole.
func lenientOrNil(line []byte, comma rune) []string {
	if row, err := lenientRow(append(line, '\n'), comma); err == nil {
		return row
	}
	return []string{string(bytes.TrimRight(line, "\r\n"))}
}

// recorder keeps the bytes read through it from the start of the record
// being read (csv.Reader reads ahead through its own buffer), so that a
// record that fails can be read again.
type recorder struct {
	r    io.Reader
	buf  []byte
	base int64 // the offset of buf[0] in the stream
}

func (t *recorder) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// span returns the bytes from offset from to to (both at or after base).
func (t *recorder) span(from, to int64) []byte {
	return bytes.Clone(t.buf[from-t.base : to-t.base])
}

// drop forgets the bytes before offset to.
func (t *recorder) drop(to int64) {
	n := int(to - t.base)
	t.buf = t.buf[:copy(t.buf, t.buf[n:])]
	t.base = to
}
