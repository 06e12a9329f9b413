package desk

import (
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

// plainSeeds are bodies decodePlain takes, and some it leaves.
var plainSeeds = []string{
	goodJSON,
	`{"ref":"a","title":"t","body":"line\nnext \"q\" \\ \/ \t\r\b\f","submitted_at":"2026-11-20T21:15:00Z","complainant":{"anonymous":true,"consent_to_publish":true},"attrs":{},"location":{},"revision_of":"ms1ix5be3wwjzawdid25icww2trhk"}`,
	`{"ref":"a","title":"t","submitted_at":"2026-11-20T21:15:00Z","complainant":{"name":"x","email":"a@b.c","anonymous":false,"consent_to_publish":false},"attrs":{"K":"1","k":"2"}}`,
	` { "ref" : "r" , "body" : "b" , "submitted_at" : "2026-11-20T21:15:00.123456789-03:30" , "complainant" : { "anonymous" : true , "consent_to_publish" : false } } ` + "\n",
	`{"ref":"a","title":"t","submitted_at":"2026-11-20T21:15:00Z","complainant":{"anonymous":true,"consent_to_publish":true},"Ref":"b"}`,
	`{"ref":"a","title":"\u5c0f","submitted_at":"2026-11-20T21:15:00Z","complainant":{"anonymous":true,"consent_to_publish":true}}`,
	`{"ref":"a","title":null,"submitted_at":"2026-11-20T21:15:00Z","complainant":{"anonymous":true,"consent_to_publish":true}}`,
	`{"ref":"a","ref":"b","submitted_at":"2026-11-20T21:15:00Z","complainant":{"anonymous":true,"consent_to_publish":true}}`,
}

// checkPlain: a body decodePlain takes decodes through encoding/json to
// the same submission, and one it also finds valid is taken without error
// by decodeSubmission. It reports whether decodePlain took the body. (A
// body refused for its values, a control character say, is still compared,
// so that escapes such as \b are.)
func checkPlain(t *testing.T, raw []byte) bool {
	t.Helper()
	s, ok := decodePlain(raw)
	if !ok {
		return false
	}
	var want Submission
	if err := strictJSON(raw, &want); err != nil {
		t.Fatalf("decodePlain took %q, encoding/json refuses it: %v", raw, err)
	}
	if !reflect.DeepEqual(s, &want) {
		t.Fatalf("decodePlain and encoding/json differ on %q:\n%+v\n%+v", raw, s, &want)
	}
	if len(s.validate("")) > 0 {
		return true
	}
	if _, err := decodeSubmission(raw); err != nil {
		t.Fatalf("decodePlain took %q as valid, decodeSubmission refuses it: %v", raw, err)
	}
	return true
}

// TestDecodePlainAgrees: on bodies desks send, and on many edits of them,
// decodePlain gives what encoding/json gives, or leaves the body to it.
func TestDecodePlainAgrees(t *testing.T) {
	letter, err := os.ReadFile("testdata/letter.json")
	if err != nil {
		t.Fatal(err)
	}
	seeds := append([]string{string(letter)}, plainSeeds...)
	for i, s := range seeds[:5] {
		if !checkPlain(t, []byte(s)) {
			t.Errorf("seed %d is not decoded plainly: %s", i, s)
		}
	}
	for _, s := range seeds[5:] {
		if _, ok := decodePlain([]byte(s)); ok {
			t.Errorf("decodePlain took %s", s)
		}
	}
	pieces := []string{`"`, `\`, `{`, `}`, `[`, `]`, `,`, `:`, ` `, "\n", "\x01", `\u0041`, `\n`, `null`, `true`, `false`, `1`,
		`"ref"`, `"REF"`, `"title"`, `"attrs"`, `"x"`, `"complainant"`, `"anonymous"`, "长", "\xff", `\ud800`, `Z`, `+08:00`}
	r := rand.New(rand.NewPCG(7, 8))
	plain, n := 0, 30000
	if testing.Short() {
		n = 3000
	}
	for range n {
		b := []byte(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			at := r.IntN(len(b) + 1)
			switch r.IntN(3) {
			case 0: // insert
				b = append(b[:at:at], append([]byte(pieces[r.IntN(len(pieces))]), b[at:]...)...)
			case 1: // delete
				if at < len(b) {
					b = append(b[:at:at], b[at+1+r.IntN(min(4, len(b)-at)):]...)
				}
			case 2: // replace
				if at < len(b) {
					b = append(b[:at:at], append([]byte(pieces[r.IntN(len(pieces))]), b[at+1:]...)...)
				}
			}
		}
		if checkPlain(t, b) {
			plain++
		}
	}
	if plain < n/100 {
		t.Fatalf("only %d of %d edited bodies were decoded plainly: not exercised", plain, n)
	}
	t.Logf("%d of %d edited bodies decoded plainly", plain, n)
}

func FuzzDecodePlain(f *testing.F) {
	for _, s := range plainSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkPlain(t, []byte(raw)) })
}

// BenchmarkDecodeSubmissionEncodingJSON is BenchmarkDecodeSubmission's
// body through encoding/json (decodeSubmission), as before decodePlain.
func BenchmarkDecodeSubmissionEncodingJSON(b *testing.B) {
	raw := []byte(strings.Replace(goodJSON, "楼下商铺夜间施工，噪音很大，多次反映无果。", strings.Repeat("楼下商铺夜间施工，噪音很大，多次反映无果。", 30), 1))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := decodeSubmission(raw); err != nil {
			b.Fatal(err)
		}
	}
}
