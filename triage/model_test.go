package triage

import (
	"bytes"
	"errors"
	"testing"
)

func TestModelRoundTrip(t *testing.T) {
	m, err := NewModel("t1", 12, []Head{{Name: "a", Labels: []string{"x", "y"}}, {Name: "b", Labels: []string{"p", "q", "r"}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := m.Featurize(nil, "标题", "正文内容 abc 123")
	for i, f := range ids {
		w := m.Weights(&m.Heads[i%2], f)
		w[0] += float32(i%7) * 0.1
		w[len(w)-1] -= 0.05
	}
	m.Heads[1].Bias = []float32{0.1, -0.2, 0.3}
	before := make([]float32, m.Cols())
	m.Scores(ids, before)
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadModel(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	after := make([]float32, r.Cols())
	r.Scores(ids, after)
	for i := range before {
		if d := before[i] - after[i]; d > 0.02 || d < -0.02 {
			t.Errorf("score %d: %v before, %v after a round trip", i, before[i], after[i])
		}
	}
	if r.Version != "t1" || len(r.Heads) != 2 || r.Heads[1].Labels[2] != "r" {
		t.Errorf("header lost: %+v", r.Heads)
	}
	for _, bad := range [][]byte{nil, []byte("not gzip"), buf.Bytes()[:buf.Len()/2]} {
		if _, err := ReadModel(bytes.NewReader(bad)); !errors.Is(err, ErrBadModel) {
			t.Errorf("ReadModel(%d bytes) = %v, want ErrBadModel", len(bad), err)
		}
	}
}

func TestDefaultModelLoads(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{HeadScreen, HeadClass, HeadLead, HeadDepartment} {
		if m.Head(h) == nil {
			t.Errorf("built-in model has no %s head", h)
		}
	}
}
