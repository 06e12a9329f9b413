package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/minsheng/minsheng/connectors/desk"
)

// TestQueueReadParameters: a queue read's max, wait and lease, through the
// running gateway. A value out of range is refused with 400 saying what
// is allowed (a negative wait is a duration, only not one allowed), and a
// value given in whole seconds too large for a duration is not wrapped
// round into a short one. A wait over the cap is cut to it; a lease over
// the cap is refused, naming it, not cut short unnoticed.
func TestQueueReadParameters(t *testing.T) {
	r := start(t, testConfig(t, nil))
	a := post(t, r.url, "QP-1", 0)
	var acc desk.Accepted
	a.decode(t, &acc)
	if a.status != http.StatusAccepted || len(acc.Destinations) == 0 {
		t.Fatalf("post: %d %s", a.status, a.body)
	}
	dest := acc.Destinations[0]
	tests := []struct {
		query  string
		status int
		want   string // 400: in the message; 200: lease_seconds
	}{
		{"wait=-1s", 400, "wait: must be 0 or more, is -1s"},
		{"wait=-5", 400, "wait: must be 0 or more, is -5"},
		{"wait=-99999999999999999999", 400, "wait: must be 0 or more"},
		{"wait=-9999999999h", 400, "wait: must be 0 or more"},
		{"wait=soon", 400, `wait: "soon" is not a duration`},
		{"wait=0", 200, "60"},
		{"wait=1000h", 200, "60"}, // cut to 30 s; the queue holds a message, so it answers at once
		{"wait=99999999999999999999", 200, "60"},
		{"lease=-1s", 400, "lease: must be more than 0, is -1s"},
		{"lease=0", 400, "lease: must be more than 0, is 0"},
		{"lease=0s", 400, "lease: must be more than 0, is 0s"},
		{"lease=-99999999999999999999", 400, "lease: must be more than 0"},
		{"lease=soon", 400, `lease: "soon" is not a duration`},
		{"lease=90", 200, "90"},
		{"lease=10m", 200, "600"},
		{"lease=600", 200, "600"},
		{"lease=10m1s", 400, "lease: must be at most 10m0s (the gateway's limit), is 10m1s"},
		{"lease=1000h", 400, "lease: must be at most 10m0s (the gateway's limit), is 1000h"},
		{"lease=9999999999h", 400, "lease: must be at most 10m0s"},
		{"lease=18446744074", 400, "lease: must be at most 10m0s"}, // whole seconds that once wrapped round to 0.29 s
		{"max=0", 400, "max: must be a whole number from 1 to 1000"},
		{"max=-1", 400, "max: must be a whole number from 1 to 1000"},
		{"max=1001", 400, "max: must be a whole number from 1 to 1000"},
		{"max=99999999999999999999", 400, "max: must be a whole number from 1 to 1000"},
		{"max=1000", 200, "60"},
	}
	for _, tc := range tests {
		a := call(t, "GET", r.url+"/v1/queues/"+dest+"?"+tc.query, readerToken, "", nil)
		var got struct {
			Message      string  `json:"message"`
			LeaseSeconds float64 `json:"lease_seconds"`
			Messages     []struct {
				Envelope struct {
					ID string `json:"id"`
				} `json:"envelope"`
			} `json:"messages"`
		}
		a.decode(t, &got)
		switch {
		case a.status != tc.status:
			t.Errorf("%s: %d %s, want %d", tc.query, a.status, a.body, tc.status)
		case tc.status == 400 && !strings.Contains(got.Message, tc.want):
			t.Errorf("%s: message %q, want it to say %q", tc.query, got.Message, tc.want)
		case tc.status == 200 && (len(got.Messages) != 1 || jsonNumber(got.LeaseSeconds) != tc.want):
			t.Errorf("%s: lease_seconds %v with %d messages, want %s with 1", tc.query, got.LeaseSeconds, len(got.Messages), tc.want)
		}
		if len(got.Messages) > 0 {
			body, _ := json.Marshal(map[string][]string{"ids": {got.Messages[0].Envelope.ID}})
			if rel := call(t, "POST", r.url+"/v1/queues/"+dest+"/release", readerToken, "application/json", body); rel.status != 200 {
				t.Fatalf("release: %d %s", rel.status, rel.body)
			}
		}
	}
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
