// Package desk is the HTTP intake for letter desks: newspaper and
// broadcaster desks, departments, residents' committees and the petition
// bureau post citizens' demands to the gateway, each with its own token,
// which fixes its channel.
//
//	POST /v1/items          one item (JSON), or multipart with attachments
//	POST /v1/items/batch    {"items": [...]}, up to intake.max_batch
//	GET  /v1/items/{id}     the item and its trail, to those entitled
//
// A 202 answers only after the item is routed and durably accepted by every
// destination; see README.md for every status.
package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/textenc"
)

// Config is the `intake:` section.
type Config struct {
	// MaxBodyBytes caps a JSON request (and the item part of a multipart one).
	MaxBodyBytes int64 `yaml:"max_body_bytes" default:"1MiB" validate:"gte=1024"`
	// MaxAttachmentBytes caps each attachment.
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes" default:"20MiB" validate:"gte=1024"`
	MaxAttachments     int   `yaml:"max_attachments" default:"10" validate:"gte=0,lte=50"`
	// MaxBatch caps items per batch request.
	MaxBatch int `yaml:"max_batch" default:"100" validate:"gte=1,lte=10000"`
	// AdmitTimeout: how long a request may wait for a place in the pipeline
	// before it is answered 503 (saturated).
	AdmitTimeout time.Duration `yaml:"admit_timeout" default:"2s" validate:"gt=0"`
	// RetryAfter is sent with 503 answers.
	RetryAfter time.Duration `yaml:"retry_after" default:"5s" validate:"gte=1s"`
	// MaxInflightBytes bounds the request bodies all desk requests may
	// hold in memory at once. Each request takes its declared length (or,
	// without one, the most it may send) before its body is read; a
	// request that does not fit is answered 503 with Retry-After, not
	// queued. It also caps one batch request.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes" default:"64MiB" validate:"gtefield=MaxBodyBytes"`
}

// Options are the desk API's collaborators.
type Options struct {
	Logger *slog.Logger
	Blobs  minsheng.Blobs
	Ledger minsheng.Ledger
	// View decides what of a record a desk may see (router.Router.View).
	View func(*minsheng.Record, *minsheng.Principal) (*minsheng.Record, bool)
	// Accessed, when set, is told of each answer that shows a desk items
	// ("view": GET /v1/items/{id}, the record as View shows it; "submit":
	// a post's 202 answers, records with the decision alone), for the
	// access trail (router.Router.Accessed), which logs those with an
	// identity or a discipline lead.
	Accessed func(req *http.Request, what string, views ...*minsheng.Record)
	Now      func() time.Time
}

// Desk is the intake API. It is a minsheng.Source: Run hands it the
// pipeline's emitter and serves until ctx ends.
type Desk struct {
	cfg Config
	o   Options
	out atomic.Pointer[emitterBox]
	// bodies is the budget of intake.max_inflight_bytes that requests
	// being read and handled hold (reserve).
	bodies *semaphore.Weighted
}

type emitterBox struct{ e minsheng.Emitter }

var _ minsheng.Source = (*Desk)(nil)

// New makes the desk API; it answers 503 until Run is called.
func New(cfg Config, o Options) *Desk {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if cfg.MaxInflightBytes <= 0 { // a Config not from the configuration file
		cfg.MaxInflightBytes = max(64<<20, cfg.MaxBodyBytes)
	}
	return &Desk{cfg: cfg, o: o, bodies: semaphore.NewWeighted(cfg.MaxInflightBytes)}
}

// Run makes the API take items until ctx ends; then it answers 503.
func (d *Desk) Run(ctx context.Context, out minsheng.Emitter) error {
	d.out.Store(&emitterBox{out})
	<-ctx.Done()
	d.out.Store(nil)
	return nil
}

// Taking reports whether the API takes items (Run is running).
func (d *Desk) Taking() bool { return d.out.Load() != nil }

// Register adds the routes to mux; wrap authenticates (auth middleware).
func (d *Desk) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("POST /v1/items", wrap(http.HandlerFunc(d.postItem)))
	mux.Handle("POST /v1/items/batch", wrap(http.HandlerFunc(d.postBatch)))
	mux.Handle("GET /v1/items/{id}", wrap(http.HandlerFunc(d.getItem)))
}

// Accepted is the 202 answer for one item.
type Accepted struct {
	ID           string             `json:"id"`
	TraceID      string             `json:"trace_id,omitempty"`
	Decision     *minsheng.Decision `json:"decision,omitempty"`
	Destinations []string           `json:"destinations,omitempty"`
	Duplicate    bool               `json:"duplicate"`
}

// Problem is the body of every error answer.
type Problem struct {
	Error   string               `json:"error"`
	Message string               `json:"message"`
	Fields  minsheng.FieldErrors `json:"fields,omitempty"`
	// Items, for a batch: what became of each item.
	Items []BatchResult `json:"items,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// An error without items is read by people, often as curl prints it:
	// "item=<letter.json" as written, not item=\u003cletter.json. A batch's
	// items stay as the 202's encoder writes them (writeAccepted).
	if p, ok := v.(Problem); ok && p.Items == nil {
		enc.SetEscapeHTML(false)
	} else if p, ok := v.(*Problem); ok && p != nil && p.Items == nil {
		enc.SetEscapeHTML(false)
	}
	enc.Encode(v)
}

// writeAccepted answers 202 with a, in writeJSON's bytes, encoded by hand
// (minsheng.AppendDecisionJSON): this is the answer to nearly every post.
func writeAccepted(w http.ResponseWriter, a *Accepted) {
	buf := acceptedBufs.Get().(*[]byte)
	defer acceptedBufs.Put(buf)
	b, err := appendAccepted((*buf)[:0], a)
	if err != nil { // a decision encoding/json refuses too: its answer, as before
		writeJSON(w, http.StatusAccepted, a)
		return
	}
	*buf = b
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write(b) // copied (or written) before Write returns: the buffer is free again
}

// acceptedBufs are writeAccepted's buffers.
var acceptedBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendAccepted appends a as json.Encoder encodes it, newline included.
func appendAccepted(b []byte, a *Accepted) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = minsheng.AppendJSONString(b, a.ID, true)
	if a.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = minsheng.AppendJSONString(b, a.TraceID, true)
	}
	if a.Decision != nil {
		var err error
		b = append(b, `,"decision":`...)
		if b, err = minsheng.AppendDecisionJSON(b, a.Decision, true); err != nil {
			return nil, err
		}
	}
	if len(a.Destinations) > 0 {
		b = append(b, `,"destinations":[`...)
		for i, d := range a.Destinations {
			if i > 0 {
				b = append(b, ',')
			}
			b = minsheng.AppendJSONString(b, d, true)
		}
		b = append(b, ']')
	}
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, a.Duplicate)
	return append(b, '}', '\n'), nil
}

func (d *Desk) unavailable(w http.ResponseWriter, msg string, items []BatchResult) {
	w.Header().Set("Retry-After", strconv.Itoa(int(d.cfg.RetryAfter.Seconds())))
	writeJSON(w, http.StatusServiceUnavailable, Problem{Error: "unavailable", Message: msg, Items: items})
}

// submitter returns the desk if it may submit, answering otherwise.
func (d *Desk) submitter(w http.ResponseWriter, req *http.Request) *minsheng.Principal {
	p := minsheng.PrincipalFrom(req.Context())
	if p == nil {
		writeJSON(w, http.StatusUnauthorized, Problem{Error: "unauthenticated", Message: "a desk token is required"})
		return nil
	}
	if p.Channel == "" {
		d.o.Logger.Warn("request refused: desk has no channel to submit on", "desk", p.Name, "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
		writeJSON(w, http.StatusForbidden, Problem{Error: "forbidden", Message: fmt.Sprintf("desk %s reads queues only; it has no channel to submit on", p.Name)})
		return nil
	}
	return p
}

// blobBuffer is what of an attachment is held in memory while it is
// staged to disk (the copy's buffer and the multipart reader's).
const blobBuffer = 64 << 10

// reserve takes what a request's body may hold in memory, at most max
// bytes (its declared length if shorter), from intake.max_inflight_bytes
// before the body is read; the caller releases it once the request is
// answered, as its items are held until then. When the budget is spent
// it answers 503 with Retry-After and returns false: a request is not
// queued, so that many large ones cannot pile up waiting.
func (d *Desk) reserve(w http.ResponseWriter, req *http.Request, max int64) (release func(), ok bool) {
	n := min(max, d.cfg.MaxInflightBytes)
	if req.ContentLength >= 0 && req.ContentLength < n {
		n = req.ContentLength
	}
	if !d.bodies.TryAcquire(n) {
		d.unavailable(w, "the gateway is reading as many requests as intake.max_inflight_bytes allows; try again", nil)
		return nil, false
	}
	return func() { d.bodies.Release(n) }, true
}

// itemBodyMax is what of a POST /v1/items request is held in memory at
// most: the JSON body, or the item part of a multipart one and the part
// of an attachment being staged.
func (d *Desk) itemBodyMax(req *http.Request) int64 {
	switch mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt {
	case "application/json":
		return d.cfg.MaxBodyBytes
	case "multipart/form-data":
		return d.cfg.MaxBodyBytes + min(d.cfg.MaxAttachmentBytes, blobBuffer)
	}
	return 0 // refused unread
}

// batchMax caps a batch request: an item may be as large as it may be
// posted alone, for up to 64 items' worth (a batch of more items holds
// smaller ones), within a quarter of intake.max_inflight_bytes (but at
// least one item's worth). A batch sent without a Content-Length reserves
// all of it until answered, however small it turns out: were that the
// whole budget, one slow chunked batch would turn every other desk away
// with 503.
func (d *Desk) batchMax() int64 {
	return min(d.cfg.MaxBodyBytes*int64(min(d.cfg.MaxBatch, 64)), max(d.cfg.MaxInflightBytes/4, d.cfg.MaxBodyBytes))
}

func (d *Desk) postItem(w http.ResponseWriter, req *http.Request) {
	p := d.submitter(w, req)
	if p == nil {
		return
	}
	if encodingRefused(w, req) {
		return
	}
	release, ok := d.reserve(w, req, d.itemBodyMax(req))
	if !ok {
		return
	}
	defer release()
	it, prob, status := d.readItem(req, p)
	if prob != nil {
		writeJSON(w, status, prob)
		return
	}
	res := d.submit(req.Context(), it)
	d.answered(req, res)
	switch res.status {
	case http.StatusAccepted:
		writeAccepted(w, &res.Accepted)
	case http.StatusServiceUnavailable:
		d.unavailable(w, res.Message, nil)
	case http.StatusConflict:
		writeJSON(w, http.StatusConflict, Problem{Error: "conflict", Message: res.Message})
	default:
		writeJSON(w, res.status, Problem{Error: "failed", Message: res.Message})
	}
}

// encodingRefused answers 415 to a body sent with a content coding (gzip,
// say), which the gateway does not undo (textenc.RefusedCoding), and to
// JSON declared in a charset other than UTF-8 (textenc.RefusedCharset).
func encodingRefused(w http.ResponseWriter, req *http.Request) bool {
	msg := textenc.RefusedCoding(req.Header.Values("Content-Encoding"))
	if mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type")); msg == "" && mt == "application/json" {
		msg = textenc.RefusedCharset(params, err)
	}
	if msg != "" {
		writeJSON(w, http.StatusUnsupportedMediaType, Problem{Error: "unsupported_media_type", Message: msg})
		return true
	}
	return false
}

// BatchResult is what became of one item of a batch.
type BatchResult struct {
	Status int `json:"status"`
	Accepted
	Message string `json:"message,omitempty"`
	status  int
}

// submit emits one item and waits for its ack.
func (d *Desk) submit(ctx context.Context, it *minsheng.Item) BatchResult {
	box := d.out.Load()
	if box == nil {
		return BatchResult{status: http.StatusServiceUnavailable, Status: http.StatusServiceUnavailable, Message: "the gateway is not taking items now (starting or stopping)"}
	}
	type result struct {
		out minsheng.Outcome
		err error
	}
	done := make(chan result, 1)
	admit, cancel := context.WithTimeout(ctx, d.cfg.AdmitTimeout)
	err := box.e.Emit(admit, it, func(o minsheng.Outcome, err error) { done <- result{o, err} })
	cancel()
	if err != nil {
		msg := "the gateway is saturated; try again"
		if errors.Is(err, minsheng.ErrStopping) {
			msg = "the gateway is stopping; try again"
		}
		return BatchResult{status: http.StatusServiceUnavailable, Status: http.StatusServiceUnavailable, Message: msg}
	}
	// Wait for the ack even if the client leaves: the item is in flight and
	// will land; a retry by the client is recognised as a repeat.
	r := <-done
	if r.err != nil {
		d.o.Logger.Warn("item not accepted", "id", it.ID, "trace_id", it.TraceID, "err", r.err)
		return BatchResult{status: http.StatusServiceUnavailable, Status: http.StatusServiceUnavailable,
			Accepted: Accepted{ID: it.ID, TraceID: it.TraceID},
			Message:  "not delivered (a destination is unavailable); nothing was acknowledged, post it again"}
	}
	if r.out.Conflict {
		return BatchResult{status: http.StatusConflict, Status: http.StatusConflict,
			Accepted: Accepted{ID: r.out.ItemID, TraceID: r.out.TraceID, Duplicate: true},
			Message:  fmt.Sprintf("ref %q was used before for an item with other content (id %s); this one was not routed: send it under a new ref, with revision_of %s if it corrects that item", it.Ref, r.out.ItemID, r.out.ItemID)}
	}
	dec := r.out.Decision
	if p := minsheng.PrincipalFrom(ctx); r.out.Duplicate && dec != nil && dec.Case != nil {
		// A repeat is answered with the record's decision, which a person
		// may have decided at review since: the case is the record's as
		// View shows it this desk (a case found where the decision sent
		// the item, not where the desk's post went).
		dec = dec.WithoutCase()
		if d.o.Ledger != nil && d.o.View != nil {
			if rec, err := d.o.Ledger.Lookup(ctx, r.out.ItemID); err == nil {
				if v, ok := d.o.View(rec, p); ok && v.Decision != nil {
					dec = v.Decision
				}
			}
		}
	} else if !p.ReadsAny(r.out.Destinations) {
		dec = dec.WithoutCase()
	}
	return BatchResult{status: http.StatusAccepted, Status: http.StatusAccepted, Accepted: Accepted{
		ID: r.out.ItemID, TraceID: r.out.TraceID, Decision: dec, Destinations: r.out.Destinations, Duplicate: r.out.Duplicate}}
}

func (d *Desk) postBatch(w http.ResponseWriter, req *http.Request) {
	p := d.submitter(w, req)
	if p == nil {
		return
	}
	if encodingRefused(w, req) {
		return
	}
	var max int64
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == "application/json" {
		max = d.batchMax()
	}
	release, ok := d.reserve(w, req, max)
	if !ok {
		return
	}
	defer release()
	items, prob, status := d.readBatch(req, p)
	if prob != nil {
		writeJSON(w, status, prob)
		return
	}
	results := make([]BatchResult, len(items))
	done := make(chan int, len(items))
	for i, it := range items {
		go func() {
			results[i] = d.submit(req.Context(), it)
			done <- i
		}()
	}
	failed, conflicts := 0, 0
	for range items {
		switch i := <-done; results[i].status {
		case http.StatusAccepted:
		case http.StatusConflict:
			conflicts++
		default:
			failed++
		}
	}
	d.answered(req, results...) // each answer below lists them
	if failed > 0 {
		d.unavailable(w, fmt.Sprintf("%d of %d items were not accepted; post the batch again (accepted items are recognised as repeats)", failed, len(items)), results)
		return
	}
	if conflicts > 0 { // posting again cannot help: each result says what to do
		writeJSON(w, http.StatusConflict, map[string]any{"error": "conflict",
			"message": fmt.Sprintf("%d of %d items reuse a ref for other content and were not routed; the others were accepted", conflicts, len(items)), "items": results})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"items": results})
}

func (d *Desk) getItem(w http.ResponseWriter, req *http.Request) {
	p := minsheng.PrincipalFrom(req.Context())
	id := req.PathValue("id")
	notFound := func() {
		writeJSON(w, http.StatusNotFound, Problem{Error: "not_found", Message: "no item " + id + " that this desk may see"})
	}
	if !minsheng.ValidItemID(id) {
		notFound()
		return
	}
	rec, err := d.o.Ledger.Lookup(req.Context(), id)
	if errors.Is(err, minsheng.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, Problem{Error: "unavailable", Message: "the ledger could not be read"})
		return
	}
	view, ok := d.o.View(rec, p)
	if !ok {
		notFound()
		return
	}
	if d.o.Accessed != nil {
		d.o.Accessed(req, "view", view)
	}
	writeJSON(w, http.StatusOK, view)
}

// answered tells the access trail (Options.Accessed) what a post's answer
// shows the desk that posted: each accepted item's decision, with its
// discipline lead (a submitter sees it whole).
func (d *Desk) answered(req *http.Request, results ...BatchResult) {
	if d.o.Accessed == nil {
		return
	}
	views := make([]*minsheng.Record, 0, len(results))
	for _, r := range results {
		if r.status == http.StatusAccepted && r.Decision != nil {
			views = append(views, &minsheng.Record{ID: r.ID, Decision: r.Decision})
		}
	}
	d.o.Accessed(req, "submit", views...)
}
