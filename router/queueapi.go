package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// QueueAPI serves the embedded queues to the desks entitled to them:
//
//	GET  /v1/queues                      destinations this desk reads, with depth
//	GET  /v1/queues/{dest}?max=&wait=&lease=   lease up to max messages
//	POST /v1/queues/{dest}/ack      {"ids": [...]}   remove handled messages
//	POST /v1/queues/{dest}/release  {"ids": [...]}   hand leased messages back now
//
// A message leased and not acked before its lease ends is handed out again,
// so a reader that crashes loses nothing. A message is leased to one desk
// at a time, and ack and release act only on messages the calling desk
// holds (its lease may have run out, as long as no other desk has read the
// message since); they answer how many they acked or released and which
// IDs they did not, with why ({"id", "reason"}: unknown, not_leased,
// leased_by_other). Requests must carry an
// authenticated desk in their context (auth.Registry.Middleware); a desk
// reads only the destinations it was granted: 403 otherwise.
type QueueAPI struct {
	r *Router
	// MaxWait caps long polling (a longer wait is cut to it); MaxLease
	// is the longest lease a read may ask for (a longer one is refused).
	MaxWait, MaxLease time.Duration
}

// NewQueueAPI returns the queue API over the router's embedded queues.
func NewQueueAPI(r *Router) *QueueAPI {
	return &QueueAPI{r: r, MaxWait: 30 * time.Second, MaxLease: 10 * time.Minute}
}

// Register adds the API's routes to mux (without authentication: wrap mux).
func (a *QueueAPI) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/queues", wrap(http.HandlerFunc(a.list)))
	mux.Handle("GET /v1/queues/{dest}", wrap(http.HandlerFunc(a.read)))
	mux.Handle("POST /v1/queues/{dest}/ack", wrap(http.HandlerFunc(a.ack)))
	mux.Handle("POST /v1/queues/{dest}/release", wrap(http.HandlerFunc(a.release)))
}

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	switch v.(type) {
	case apiError, problem:
		// Read by people, often as curl prints it: "<class>" as written,
		// not \u003cclass\u003e.
		enc.SetEscapeHTML(false)
	}
	enc.Encode(v)
}

func (a *QueueAPI) list(w http.ResponseWriter, req *http.Request) {
	p := minsheng.PrincipalFrom(req.Context())
	type q struct {
		Destination string `json:"destination"`
		Sink        string `json:"sink"`
		Depth       *int   `json:"depth,omitempty"`
	}
	out := []q{}
	for _, d := range a.r.Destinations() {
		if !p.CanRead(d) {
			continue
		}
		e := q{Destination: d, Sink: a.r.cfg.Destinations[d].Sink}
		if e.Sink == SinkQueue {
			if n, err := a.r.queues.QueueDepth(d); err == nil {
				e.Depth = &n
			}
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"queues": out})
}

// dest checks the destination and the desk's right to it.
func (a *QueueAPI) dest(w http.ResponseWriter, req *http.Request) (string, bool) {
	d := req.PathValue("dest")
	p := minsheng.PrincipalFrom(req.Context())
	if !p.CanRead(d) {
		a.r.log.Warn("request refused: desk may not read the queue", "desk", p.Name, "destination", d, "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
		writeJSON(w, http.StatusForbidden, apiError{"forbidden", fmt.Sprintf("desk %s may not read %q", p.Name, d)})
		return "", false
	}
	dc, ok := a.r.cfg.Destinations[d]
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{"unknown_destination", fmt.Sprintf("no destination %q", d)})
		return "", false
	}
	if dc.Sink != SinkQueue {
		writeJSON(w, http.StatusConflict, apiError{"not_a_queue", fmt.Sprintf("destination %q goes to %s, not the embedded queue: read it there", d, dc.Sink)})
		return "", false
	}
	return d, true
}

// durationSyntax is Go's duration syntax (time.ParseDuration), to tell a
// duration too large for time.Duration from text that is none.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// parseDuration reads a query parameter's duration: Go's form (10s, 1m30s)
// or whole seconds. huge is a duration beyond time.Duration's range, of
// either sign (d is then 0).
func parseDuration(s string) (d time.Duration, huge bool, err error) {
	if d, err = time.ParseDuration(s); err == nil {
		return d, false, nil
	}
	secs, serr := strconv.ParseInt(s, 10, 64)
	switch {
	case serr == nil && secs <= int64(math.MaxInt64/time.Second) && secs >= int64(math.MinInt64/time.Second):
		return time.Duration(secs) * time.Second, false, nil
	case serr == nil, errors.Is(serr, strconv.ErrRange), durationSyntax.MatchString(s):
		return 0, true, nil
	}
	return 0, false, err
}

// durationParam reads the query parameter name: def when it is absent.
// It must be 0 or more, or more than 0 when positive is set. One too
// large for time.Duration is the largest duration.
func durationParam(req *http.Request, name string, def time.Duration, positive bool) (time.Duration, error) {
	s := req.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	d, huge, err := parseDuration(s)
	neg := d < 0 || huge && strings.HasPrefix(s, "-")
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s: %q is not a duration (e.g. 10s)", name, s)
	case positive && (neg || d == 0 && !huge):
		return 0, fmt.Errorf("%s: must be more than 0, is %s", name, s)
	case neg:
		return 0, fmt.Errorf("%s: must be 0 or more, is %s", name, s)
	case huge:
		return math.MaxInt64, nil
	}
	return d, nil
}

func (a *QueueAPI) read(w http.ResponseWriter, req *http.Request) {
	d, ok := a.dest(w, req)
	if !ok {
		return
	}
	max := 10
	if s := req.URL.Query().Get("max"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeJSON(w, http.StatusBadRequest, apiError{"bad_request", "max: must be a whole number from 1 to 1000"})
			return
		}
		max = n
	}
	// A wait over the cap is cut to it: a long poll may always end
	// early, with nothing. A lease over the cap is refused: cut short
	// without the desk knowing, it would hand the message to another desk
	// while this one still works on it, which is what a lease is to stop.
	wait, err := durationParam(req, "wait", 0, false)
	wait = min(wait, a.MaxWait)
	var lease time.Duration
	if err == nil {
		lease, err = durationParam(req, "lease", time.Minute, true)
	}
	if err == nil && lease > a.MaxLease {
		err = fmt.Errorf("lease: must be at most %s (the gateway's limit), is %s: ack or release the messages within it; one not acked by then is handed out again", a.MaxLease, req.URL.Query().Get("lease"))
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"bad_request", err.Error()})
		return
	}
	holder := minsheng.PrincipalFrom(req.Context()).Name
	msgs, err := a.r.queues.Read(req.Context(), d, holder, max, lease, wait)
	if err == nil {
		if msgs == nil {
			msgs = []minsheng.QueuedMessage{}
		}
		var l accessLine
		for i := range msgs {
			l.envelope(msgs[i].Envelope)
		}
		a.r.logAccess(req, AccessLease, d, &l)
		writeJSON(w, http.StatusOK, map[string]any{"destination": d, "lease_seconds": lease.Seconds(), "messages": msgs})
		return
	}
	if req.Context().Err() != nil {
		// The reader left, or the gateway is stopping and ends its long
		// polls: an answer the reader can act on (a reader that left gets
		// nothing either way). Nothing was leased.
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", "the read ended before its wait (the gateway is stopping); nothing was leased: read again"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", err.Error()})
}

func readIDs(w http.ResponseWriter, req *http.Request) ([]string, bool) {
	const shape = `{"ids": ["<item id>", ...]}`
	var ids []string
	errs, ok := readObject(w, req, 1<<20, map[string]any{"ids": &ids}, shape)
	if !ok {
		return nil, false
	}
	if len(errs) == 0 && len(ids) == 0 {
		errs = minsheng.FieldErrors{{Path: "ids", Msg: "must name at least one item"}}
	}
	if badFields(w, shape, errs) {
		return nil, false
	}
	return ids, true
}

func (a *QueueAPI) ack(w http.ResponseWriter, req *http.Request) {
	d, ok := a.dest(w, req)
	if !ok {
		return
	}
	ids, ok := readIDs(w, req)
	if !ok {
		return
	}
	holder := minsheng.PrincipalFrom(req.Context()).Name
	n, refused, err := a.r.queues.Ack(req.Context(), d, holder, ids)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"unavailable", err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acked": n, "not_acked": orNone(refused)})
}

func (a *QueueAPI) release(w http.ResponseWriter, req *http.Request) {
	d, ok := a.dest(w, req)
	if !ok {
		return
	}
	ids, ok := readIDs(w, req)
	if !ok {
		return
	}
	n, refused := a.r.queues.Release(d, minsheng.PrincipalFrom(req.Context()).Name, ids)
	writeJSON(w, http.StatusOK, map[string]any{"released": n, "not_released": orNone(refused)})
}

// orNone returns r, or an empty list for none: the answers to ack and
// release always carry their list of refused IDs.
func orNone(r []minsheng.Refusal) []minsheng.Refusal {
	if r == nil {
		return []minsheng.Refusal{}
	}
	return r
}
