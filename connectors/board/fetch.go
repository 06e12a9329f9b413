package board

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/simplifiedchinese"
)

type response struct {
	body        []byte
	etag        string
	lastMod     string
	notModified bool
	tooLarge    bool
}

// statusError is an HTTP status that ends a request; url is as logURL
// gives it.
type statusError struct {
	code int
	url  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

// fetch GETs one page. The first page of a poll is asked conditionally
// (If-None-Match / If-Modified-Since). 429, 5xx and network errors are
// retried with exponential backoff and jitter, honouring Retry-After.
func (b *Board) fetch(ctx context.Context, u string, conditional bool, etag, lastMod string) (*response, error) {
	for attempt := 0; ; attempt++ {
		resp, retryAfter, err := b.get(ctx, u, conditional, etag, lastMod)
		if err == nil {
			return resp, nil
		}
		var se *statusError
		retryable := errors.As(err, &se) && (se.code == http.StatusTooManyRequests || se.code >= 500) ||
			!errors.As(err, &se) && ctx.Err() == nil
		if !retryable || attempt >= b.cfg.Retries {
			return nil, err
		}
		wait := backoff(attempt, b.cfg.MinBackoff, b.cfg.MaxBackoff)
		if retryAfter > wait {
			wait = min(retryAfter, time.Hour)
		}
		b.log.Info("page request failed; retrying", "url", b.logURL(u), "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (b *Board) get(ctx context.Context, u string, conditional bool, etag, lastMod string) (*response, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, b.redact(err)
	}
	req.Header.Set("User-Agent", "minsheng-board/1")
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/json;q=0.9, application/xml;q=0.8, */*;q=0.5")
	// The token and the configured headers are the board's: a next link
	// to another origin (host, port or scheme) gets neither, as a
	// redirect to another host would not.
	if sameOrigin(u, b.cfg.URL) {
		for k, v := range b.cfg.Headers {
			req.Header.Set(k, v)
		}
		if b.token != "" {
			req.Header.Set("Authorization", "Bearer "+b.token)
		}
	}
	if conditional {
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lastMod != "" {
			req.Header.Set("If-Modified-Since", lastMod)
		}
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.fetches.WithLabelValues("error").Inc()
		return nil, 0, b.redact(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		b.fetches.WithLabelValues("not_modified").Inc()
		return &response{notModified: true}, 0, nil
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		b.fetches.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
		return nil, retryAfter(resp.Header.Get("Retry-After"), time.Now()), &statusError{resp.StatusCode, b.logURL(u)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, b.cfg.MaxBodyBytes+1))
	if err != nil {
		b.fetches.WithLabelValues("error").Inc()
		return nil, 0, fmt.Errorf("GET %s: reading body: %w", b.logURL(u), b.redact(err))
	}
	b.fetches.WithLabelValues("ok").Inc()
	r := &response{body: body, etag: resp.Header.Get("ETag"), lastMod: resp.Header.Get("Last-Modified")}
	if int64(len(body)) > b.cfg.MaxBodyBytes {
		r.tooLarge = true
		r.body = body[:b.cfg.MaxBodyBytes]
		return r, 0, nil
	}
	var note string
	r.body, note = toUTF8(resp.Header.Get("Content-Type"), body)
	if note != "" {
		b.log.Info("page charset", "url", b.logURL(u), "note", note)
	}
	return r, 0, nil
}

// Notes toUTF8 gives when a JSON page was not read as its Content-Type said.
const (
	noteGB18030      = "no charset declared and not UTF-8: read as GB18030"
	noteUTF8Mislabel = "labelled with a charset it does not read in, but valid UTF-8: read as UTF-8"
)

// toUTF8 converts a JSON body to UTF-8 (XML declares its own encoding and
// is left alone). A charset in the Content-Type is followed, unless the
// body is valid UTF-8 that the charset reads only with U+FFFD in it (UTF-8
// under a wrong label). With no charset, or UTF-8 declared, a body that is
// not valid UTF-8 nor mostly UTF-8 (see mostlyUTF8) is read as GB18030
// (GBK, GB2312) when every byte of it decodes cleanly; otherwise it is
// returned as is for DecodeJSON to refuse.
// note says when the body was not read as declared.
func toUTF8(contentType string, body []byte) (out []byte, note string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, params = "", nil
	}
	if !strings.Contains(mt, "json") {
		if f, err := Sniff(body); err != nil || f != FormatJSON {
			return body, ""
		}
	}
	cs := strings.ToLower(strings.TrimSpace(params["charset"]))
	if cs == "" || cs == "utf-8" || cs == "utf8" {
		if utf8.Valid(body) || mostlyUTF8(body) {
			// Mostly UTF-8 (a title cut by bytes, one bad post): left as
			// is, for DecodeJSON to quarantine just the bad post or page.
			return body, ""
		}
		if gb, ok := cleanGB18030(body); ok {
			return gb, noteGB18030
		}
		return body, ""
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return body, ""
	}
	out, err = enc.NewDecoder().Bytes(body)
	if err != nil {
		return body, ""
	}
	if bytes.ContainsRune(out, utf8.RuneError) && utf8.Valid(body) && !bytes.ContainsRune(body, utf8.RuneError) {
		return body, noteUTF8Mislabel
	}
	return out, ""
}

// mostlyUTF8 reports whether b, not valid UTF-8, still reads as UTF-8
// with a slip in it: it holds valid multi-byte UTF-8 sequences, and every
// invalid byte is a sequence cut short (a lead byte and fewer continuation
// bytes than it needs, then ASCII or the end), as a page that cuts titles
// by bytes leaves. GBK text read as UTF-8 has lead bytes followed by
// other lead bytes and continuation bytes standing alone, even where some
// of its characters (930 of GB2312's) happen to be valid UTF-8; and a
// UTF-8 page with one character cut may yet decode "cleanly" as GB18030
// into mojibake.
func mostlyUTF8(b []byte) bool {
	multi := 0
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1:
			cut := cutSequence(b)
			if cut == 0 {
				return false
			}
			n = cut
		case n > 1:
			multi++
		}
		b = b[n:]
	}
	return multi > 0
}

// cutSequence is the length of the UTF-8 sequence cut short at the start
// of b (a lead byte and fewer continuation bytes than it needs, then a
// byte below 0x80 or the end), or 0.
func cutSequence(b []byte) int {
	var need int
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c >= 0xE0 && c <= 0xEF:
		need = 3
	case c >= 0xF0 && c <= 0xF4:
		need = 4
	default:
		return 0
	}
	i := 1
	for i < len(b) && i < need && b[i] >= 0x80 && b[i] <= 0xBF {
		i++
	}
	if i >= need || i < len(b) && b[i] >= utf8.RuneSelf {
		return 0
	}
	return i
}

// cleanGB18030 decodes b as GB18030 when no byte of it is out of place
// (the decoder would give U+FFFD for it).
func cleanGB18030(b []byte) ([]byte, bool) {
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || bytes.ContainsRune(out, utf8.RuneError) {
		return nil, false
	}
	return out, true
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is min·2^attempt with ±20 % jitter, capped at max.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 30)
	if d <= 0 || d > hi {
		d = hi
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(j, hi)
}

// checkRedirect follows up to 10 redirects, as Go's client does, and
// takes the token and the configured headers off a request redirected to
// another origin than url's: Go's client drops Authorization only for
// another host (not another port or plain http) and copies every other
// header (an X-Api-Key) wherever the redirect leads.
func (b *Board) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !sameOrigin(req.URL.String(), b.cfg.URL) {
		for k := range b.cfg.Headers {
			req.Header.Del(k)
		}
		req.Header.Del("Authorization")
	}
	return nil
}

// sameOrigin reports whether two URLs have the same scheme, host and port.
func sameOrigin(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

func withParam(raw, key, val string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(key, val)
	u.RawQuery = q.Encode()
	return u.String()
}

// logURL is u as the log and errors may show it: the query's values (a
// key put in url, or echoed in a next link), any user and password and
// the fragment are replaced by "REDACTED"; the page number of pagination
// mode page is kept. A key belongs in headers or the token, not in url.
func (b *Board) logURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unreadable URL)"
	}
	if p.User != nil {
		p.User = url.User("REDACTED")
	}
	if p.Fragment != "" || p.RawFragment != "" {
		p.Fragment, p.RawFragment = "REDACTED", ""
	}
	if p.RawQuery != "" {
		parts := strings.Split(p.RawQuery, "&")
		for i, kv := range parts {
			k, _, hasValue := strings.Cut(kv, "=")
			switch name, _ := url.QueryUnescape(k); {
			case !hasValue:
				parts[i] = "REDACTED" // a bare part may be a key itself
			case b.cfg.Pagination.Mode == PageNumber && name == b.cfg.Pagination.Param:
			default:
				parts[i] = k + "=REDACTED"
			}
		}
		p.RawQuery, p.ForceQuery = strings.Join(parts, "&"), false
	}
	return p.String()
}

// redact gives err with the URL of a *url.Error in it (the client's
// errors quote the URL whole) as logURL gives it.
func (b *Board) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = b.logURL(ue.URL)
	}
	return err
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	u := b.ResolveReference(r)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("next link is not http(s) (scheme %q)", u.Scheme)
	}
	return u.String(), nil
}
