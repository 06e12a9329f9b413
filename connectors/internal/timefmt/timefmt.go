// Package timefmt parses the timestamps Chinese government systems and feeds
// write: "2019/4/25 9:32:09", "2017-06-08 17:31:20", "2019年4月25日 09:32",
// RFC 3339, RFC 1123 (RSS pubDate) and Unix seconds or milliseconds.
package timefmt

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Layouts tried in order by Parse. Layouts without a zone are read in the
// location given to Parse.
var Layouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-1-2 15:04:05",
	"2006/1/2 15:04:05",
	"2006-1-2T15:04:05",
	"2006-1-2 15:04",
	"2006/1/2 15:04",
	"2006.1.2 15:04:05",
	"2006年1月2日 15:04:05",
	"2006年1月2日 15:04",
	"2006年1月2日15时04分",
	"2006-1-2",
	"2006/1/2",
	"2006年1月2日",
	time.RFC1123Z,
	time.RFC1123,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
	time.RFC822Z,
	time.RFC822,
	time.ANSIC,
}

// Parse reads s with the first matching layout (or layout, when not empty).
// Times without a zone are taken in loc. Digits only, 10 or 13 long, are Unix
// seconds or milliseconds.
func Parse(s, layout string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if loc == nil {
		loc = time.UTC
	}
	if layout != "" {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q does not match layout %q", clip(s), layout)
		}
		return t, nil
	}
	if t, ok := unix(s); ok {
		return t, nil
	}
	for _, l := range Layouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", clip(s))
}

func unix(s string) (time.Time, bool) {
	if len(s) != 10 && len(s) != 13 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	if len(s) == 13 {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// Location loads a time zone by name, "" meaning Asia/Shanghai (China
// Standard Time), falling back to a fixed UTC+8 zone when the system has no
// zone database.
func Location(name string) (*time.Location, error) {
	if name == "" {
		name = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		if name == "Asia/Shanghai" {
			return time.FixedZone("CST", 8*3600), nil
		}
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}
