package minsheng

import (
	"math"
	"testing"
)

// TestValidationErrorsDescribe: a failed rule reads as what is wrong with
// the value, NaN included, which fails every comparison.
func TestValidationErrorsDescribe(t *testing.T) {
	type section struct {
		Weight float64 `yaml:"weight" validate:"gte=0"`
		Rate   float32 `yaml:"rate" validate:"lte=1"`
	}
	for _, tc := range []struct {
		name string
		in   section
		want string
	}{
		{"negative", section{Weight: -1}, "weight: must be at least 0"},
		{"too large", section{Rate: 2}, "rate: must be at most 1"},
		{"NaN", section{Weight: math.NaN()}, "weight: must be a number, not NaN"},
		{"NaN float32", section{Rate: float32(math.NaN())}, "rate: must be a number, not NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidationErrors(Validator().Struct(tc.in), "section")
			if len(err) != 1 || err[0].Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// hostname_port (listen, metrics_listen, kafka.brokers, imap.address) takes
// an IP literal, IPv6 in brackets, as net.Dial and net.Listen do.
func TestHostnamePort(t *testing.T) {
	for addr, ok := range map[string]bool{
		"imap.example:993": true, "127.0.0.1:993": true, "[::1]:993": true, "[::]:8080": true,
		":8080": true, "[fe80::1%eth0]:993": true,
		"imap.example": false, "::1:993": false, "[::1]": false, "imap.example:0": false,
		"imap.example:99999": false, "imaps://imap.example:993": false, "bad_host!:993": false,
	} {
		if err := Validator().Var(addr, "hostname_port"); (err == nil) != ok {
			t.Errorf("%q: err %v, want accepted %v", addr, err, ok)
		}
	}
}
