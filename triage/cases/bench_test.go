package cases

import (
	"strings"
	"testing"
)

var benchText = strings.Repeat("A市鑫天鑫城小区二次供水水质好差。为何自来水就不能像用电直供那么直接入户呢?多次联系水厂,均以小区二次供水与其无关回复。", 4)

func BenchmarkMakeSketch(b *testing.B) {
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		MakeSketch(benchText)
	}
}
