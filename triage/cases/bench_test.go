package cases

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

var benchDests = []string{"gov_service"}

var benchText = strings.Repeat("A市鑫天鑫城小区二次供水水质好差。为何自来水就不能像用电直供那么直接入户呢?多次联系水厂,均以小区二次供水与其无关回复。", 4)

func BenchmarkMakeSketch(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		MakeSketch(benchText)
	}
}

// BenchmarkLinkRemember handles items as the pipeline does (link, then
// remember) against a full index (the default 100,000 items, so that each
// new item makes the oldest forgotten): random
// letters of 150 to 450 characters, one in ten a near-copy (one character
// changed) of one of the thousand before it. It reports the heap the
// index holds for each item it remembers. The timed items are 20,000
// such letters, taken again in turn when b.N is larger.
func BenchmarkLinkRemember(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	texts := make([]string, 120000)
	for i := range texts {
		if i >= 1000 && r.IntN(10) == 0 {
			t := []rune(texts[i-1-r.IntN(1000)])
			t[r.IntN(len(t))] = rune(0x4E00 + r.IntN(3000))
			texts[i] = string(t)
			continue
		}
		texts[i] = string(randomText(r, 150+r.IntN(300)))
	}
	x, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	handle := func() {
		t := texts[100000+n%20000]
		if n < len(texts) {
			t = texts[n]
		}
		it := &minsheng.Item{ID: fmt.Sprint(n), Body: t, ReceivedAt: t0.Add(time.Duration(n) * time.Second)}
		n++
		_, remember := x.Link(it, &minsheng.Decision{Class: minsheng.ClassGovService}, benchDests)
		remember(benchDests)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for range 100000 {
		handle()
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	held := (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(x.Len())
	b.ResetTimer()
	for b.Loop() {
		handle()
	}
	b.ReportMetric(held, "heap-B/item-held")
}

// BenchmarkLinkCampaign: one letter sent again and again (a campaign, or a
// load generator's few letters), so every band's walk is full.
func BenchmarkLinkCampaign(b *testing.B) {
	x, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	handle := func() {
		it := &minsheng.Item{ID: fmt.Sprint(n), Body: benchText + fmt.Sprint(n%7), ReceivedAt: t0.Add(time.Duration(n) * time.Second)}
		n++
		_, remember := x.Link(it, &minsheng.Decision{Class: minsheng.ClassGovService}, benchDests)
		remember(benchDests)
	}
	for range 1000 {
		handle()
	}
	for b.Loop() {
		handle()
	}
}
