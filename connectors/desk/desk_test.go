package desk

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// deskRequest is a request as the auth middleware hands it on: from a
// desk that posts on the newspaper channel.
func deskRequest(method, target, contentType string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Header.Set("Content-Type", contentType)
	return req.WithContext(minsheng.WithPrincipal(req.Context(), &minsheng.Principal{Name: "qingdao-daily", Channel: minsheng.Channel("newspaper")}))
}

// TestInflightBudget: a request is refused with 503 and Retry-After, not
// queued, while the requests being read hold intake.max_inflight_bytes,
// and admitted again once they are answered. A body without a declared
// length holds the most it may send; one with a length, that length. One
// batch holds at most a quarter of the budget, so a slow one alone turns
// no one away.
func TestInflightBudget(t *testing.T) {
	d := New(Config{MaxBodyBytes: 1024, MaxAttachmentBytes: 1024, MaxBatch: 10, MaxInflightBytes: 4096,
		AdmitTimeout: time.Second, RetryAfter: 5 * time.Second}, Options{})

	// Batches whose bodies have no declared length and are still arriving
	// hold min(1024 × 10, max(4096 / 4, 1024)) each.
	var pipes []*io.PipeWriter
	slowDone := make(chan int, 4)
	for i := range 4 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		slow := deskRequest("POST", "/v1/items/batch", "application/json", pr)
		slow.ContentLength = -1
		go func() {
			w := httptest.NewRecorder()
			d.postBatch(w, slow)
			slowDone <- w.Code
		}()
		pw.Write([]byte(`{"items":[`)) // returns once the handler reads, having reserved
		if i == 0 {
			// One slow batch leaves room for others.
			w := httptest.NewRecorder()
			d.postItem(w, deskRequest("POST", "/v1/items", "application/json", strings.NewReader(`{}`)))
			if w.Code != http.StatusBadRequest {
				t.Errorf("an item beside one slow batch: %d %s, want it read (400 invalid_item)", w.Code, w.Body)
			}
		}
	}

	for _, c := range []struct {
		name, target, contentType string
		post                      func(http.ResponseWriter, *http.Request)
	}{
		{"item", "/v1/items", "application/json", d.postItem},
		{"multipart", "/v1/items", "multipart/form-data; boundary=x", d.postItem},
		{"batch", "/v1/items/batch", "application/json", d.postBatch},
	} {
		w := httptest.NewRecorder()
		c.post(w, deskRequest("POST", c.target, c.contentType, strings.NewReader(`{}`)))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" || !strings.Contains(w.Body.String(), "max_inflight_bytes") {
			t.Errorf("%s while the budget is held: %d %q %s; want 503 with Retry-After naming max_inflight_bytes", c.name, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	// A content type that is refused unread holds nothing.
	w := httptest.NewRecorder()
	d.postItem(w, deskRequest("POST", "/v1/items", "text/plain", strings.NewReader(`{}`)))
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain while the budget is held: %d, want 415", w.Code)
	}

	for _, pw := range pipes {
		pw.CloseWithError(io.ErrUnexpectedEOF)
		if code := <-slowDone; code != http.StatusBadRequest {
			t.Errorf("a slow batch: %d, want 400", code)
		}
	}
	// Released: an empty submission is read and refused as invalid (400),
	// not for want of budget.
	w = httptest.NewRecorder()
	d.postItem(w, deskRequest("POST", "/v1/items", "application/json", strings.NewReader(`{}`)))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "invalid_item") {
		t.Errorf("after release: %d %s, want 400 invalid_item", w.Code, w.Body)
	}
	if !d.bodies.TryAcquire(4096) {
		t.Error("the budget was not released whole")
	}
}

// TestBatchCappedByBudget: a batch is capped at a quarter of
// intake.max_inflight_bytes, but never below max_body_bytes, when that is
// less than max_body_bytes × min(max_batch, 64): 413.
func TestBatchCappedByBudget(t *testing.T) {
	for _, c := range []struct {
		budget int64
		want   string
	}{{2048, "over 1024 bytes"}, {8192, "over 2048 bytes"}} {
		d := New(Config{MaxBodyBytes: 1024, MaxBatch: 10, MaxInflightBytes: c.budget, RetryAfter: time.Second}, Options{})
		body := `{"items":["` + strings.Repeat("x", 3000) + `"]}`
		w := httptest.NewRecorder()
		d.postBatch(w, deskRequest("POST", "/v1/items/batch", "application/json", strings.NewReader(body)))
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("budget %d: %d %s; want 413 %s", c.budget, w.Code, w.Body, c.want)
		}
	}
}

// TestContentEncodingRefused: a body sent compressed (Content-Encoding:
// gzip, which the gateway does not undo) is refused with 415 naming the
// coding, an item and a batch alike, not read as JSON and refused as "not
// valid UTF-8 (first bad byte at offset 1)", which sent the desk looking
// for a charset problem.
func TestContentEncodingRefused(t *testing.T) {
	d := New(Config{MaxBodyBytes: 1 << 16, MaxBatch: 10, RetryAfter: time.Second}, Options{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, goodJSON)
	zw.Close()
	for _, c := range []struct {
		target, ctype string
		post          func(http.ResponseWriter, *http.Request)
	}{
		{"/v1/items", "application/json", d.postItem},
		{"/v1/items", "multipart/form-data; boundary=x", d.postItem},
		{"/v1/items/batch", "application/json", d.postBatch},
	} {
		req := deskRequest("POST", c.target, c.ctype, bytes.NewReader(gz.Bytes()))
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		c.post(w, req)
		if w.Code != http.StatusUnsupportedMediaType || !strings.Contains(w.Body.String(), "gzip") {
			t.Errorf("%s %s with Content-Encoding gzip: %d %s; want 415 naming gzip", c.target, c.ctype, w.Code, w.Body)
		}
	}
	// identity is no coding.
	req := deskRequest("POST", "/v1/items", "application/json", strings.NewReader(`{}`))
	req.Header.Set("Content-Encoding", "identity")
	w := httptest.NewRecorder()
	d.postItem(w, req)
	if w.Code != http.StatusBadRequest {
		t.Errorf("Content-Encoding identity: %d %s; want the body read (400 invalid_item)", w.Code, w.Body)
	}
}
