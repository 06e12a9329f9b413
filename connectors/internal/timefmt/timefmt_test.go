package timefmt

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	want := time.Date(2019, 4, 25, 9, 32, 9, 0, cst)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2019/4/25 9:32:09", want},
		{"2019-04-25 09:32:09", want},
		{" 2019-4-25 9:32:09 ", want},
		{"2019-04-25T09:32:09+08:00", want},
		{"2019-04-25T01:32:09Z", want},
		{"2019年4月25日 09:32:09", want},
		{"Thu, 25 Apr 2019 09:32:09 +0800", want},
		{"Thu, 25 Apr 2019 01:32:09 GMT", want},
		{"1556155929", want},
		{"1556155929000", want},
		{"2019/4/25 9:32", want.Add(-9 * time.Second)},
		{"2019-04-25", time.Date(2019, 4, 25, 0, 0, 0, 0, cst)},
	} {
		got, err := Parse(tc.in, "", cst)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "昨天", "2019/13/45 99:00", "12345"} {
		if _, err := Parse(bad, "", cst); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if _, err := Parse("25.04.2019", "02.01.2006", cst); err != nil {
		t.Errorf("explicit layout: %v", err)
	}
	if _, err := Parse("2019-04-25", "02.01.2006", cst); err == nil {
		t.Error("explicit layout accepted a different form")
	}
}
