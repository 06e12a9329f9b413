package importfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/xuri/excelize/v2"

	"github.com/minsheng/minsheng/internal/textenc"
)

// rowReader yields a file's rows one at a time, never the whole file.
type rowReader interface {
	// Header is the first row.
	Header() []string
	// Next returns the next row, or io.EOF.
	Next() ([]string, error)
	// Progress is how far the reader is, in units of Total (bytes for CSV,
	// rows for XLSX); total 0 when unknown.
	Progress() (done, total int64)
	// Describe names the format ("csv, GB18030", "xlsx, sheet Sheet1").
	Describe() string
	Close() error
}

func openReader(path, sheet string) (rowReader, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".txt", ".tsv":
		return openCSV(path)
	case ".xlsx", ".xlsm":
		return openXLSX(path, sheet)
	}
	return nil, fmt.Errorf("%s: unsupported file type (want .csv, .tsv or .txt, or .xlsx)", path)
}

// csvReader reads RFC 4180 CSV in UTF-8 (with or without BOM) or, when the
// start of the file is not valid UTF-8, GB18030 (a superset of GBK/GB2312,
// what Chinese spreadsheets export).
type csvReader struct {
	f      *os.File
	cr     *countingReader
	rows   *csvRows
	header []string
	size   int64
	enc    string
}

func openCSV(path string) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	cr := &countingReader{r: f}
	// A stray byte that is not UTF-8 in a UTF-8 file passes through: the
	// item it lands in is rejected with the reason, and the rest go on.
	src, enc, err := textenc.Reader(cr, false)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	br := bufio.NewReaderSize(src, 64<<10)
	comma := '\t' // a .tsv is tab-separated, whatever its header holds
	if !strings.EqualFold(filepath.Ext(path), ".tsv") {
		comma = separator(br)
	}
	c := &csvReader{f: f, cr: cr, size: st.Size(), enc: enc, rows: newCSVRows(br, comma)}
	if comma == '\t' {
		c.enc += ", tab-separated"
	}
	if c.header, err = c.rows.next(); err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file", path)
		}
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	return c, nil
}

func (c *csvReader) Header() []string         { return c.header }
func (c *csvReader) Next() ([]string, error)  { return c.rows.next() }
func (c *csvReader) Progress() (int64, int64) { return c.cr.n.Load(), c.size }
func (c *csvReader) Describe() string         { return "csv, " + c.enc }
func (c *csvReader) Close() error             { return c.f.Close() }

// countingReader counts bytes read; the progress display reads the count
// from another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// xlsxReader streams a worksheet's rows with excelize's row iterator: the
// sheet's XML is decoded as it is read, not loaded whole.
type xlsxReader struct {
	f      *excelize.File
	rows   *excelize.Rows
	sheet  string
	header []string
	n      atomic.Int64
	total  int64
}

func openXLSX(path, sheet string) (*xlsxReader, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	x := &xlsxReader{f: f, sheet: sheet}
	if x.sheet == "" {
		x.sheet = f.GetSheetName(f.GetActiveSheetIndex())
		if x.sheet == "" {
			if l := f.GetSheetList(); len(l) > 0 {
				x.sheet = l[0]
			}
		}
	}
	if idx, err := f.GetSheetIndex(x.sheet); err != nil || idx < 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no sheet %q (have %s)", path, x.sheet, strings.Join(f.GetSheetList(), ", "))
	}
	if dim, err := f.GetSheetDimension(x.sheet); err == nil {
		if _, last, ok := strings.Cut(dim, ":"); ok {
			if _, row, err := excelize.SplitCellName(last); err == nil && row > 1 {
				x.total = int64(row - 1)
			}
		}
	}
	if x.rows, err = f.Rows(x.sheet); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: sheet %s: %w", path, x.sheet, err)
	}
	if !x.rows.Next() {
		x.Close()
		return nil, fmt.Errorf("%s: sheet %s is empty", path, x.sheet)
	}
	if x.header, err = x.rows.Columns(); err != nil {
		x.Close()
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	return x, nil
}

func (x *xlsxReader) Header() []string { return x.header }
func (x *xlsxReader) Next() ([]string, error) {
	if !x.rows.Next() {
		if err := x.rows.Error(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	x.n.Add(1)
	return x.rows.Columns()
}
func (x *xlsxReader) Progress() (int64, int64) { return x.n.Load(), x.total }
func (x *xlsxReader) Describe() string         { return "xlsx, sheet " + strconv.Quote(x.sheet) }
func (x *xlsxReader) Close() error {
	if x.rows != nil {
		x.rows.Close()
	}
	return x.f.Close()
}
