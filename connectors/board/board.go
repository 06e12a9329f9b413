// Package board is the message-board connector (type "board"): it polls an
// online message board's RSS 2.0 or Atom feed or its JSON API, follows its
// pagination, and emits each new or edited post as an item, advancing a
// durable cursor only as far as the downstream acknowledgements allow.
//
// See README.md in this folder for the configuration, the cursor and the
// policy for posts edited upstream.
package board

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/ackwindow"
	"github.com/minsheng/minsheng/connectors/internal/saver"
	"github.com/minsheng/minsheng/connectors/internal/timefmt"
)

// Type is the connector type name used in configuration.
const Type = "board"

func init() {
	connectors.RegisterConfig(Type, New)
}

// Config is the board connector's configuration section.
type Config struct {
	// URL of the feed or the API's first page. A key goes in Headers or
	// the token, not in its query (logs show the query's values redacted).
	URL string `yaml:"url" json:"url" validate:"required,http_url"`
	// Format: auto (sniffed from the body), rss, atom or json.
	Format string `yaml:"format" json:"format" default:"auto" validate:"oneof=auto rss atom json"`
	// Channel the posts are filed under.
	Channel minsheng.Channel `yaml:"channel" json:"channel" default:"message_board" validate:"oneof=hotline newspaper broadcaster message_board mayor_mailbox petition_bureau department village"`
	// Interval between polls.
	Interval time.Duration `yaml:"interval" json:"interval" default:"1m" validate:"gt=0"`
	// Timeout of one HTTP request.
	Timeout time.Duration `yaml:"timeout" json:"timeout" default:"30s" validate:"gt=0"`
	// MaxPages read in one poll, newest first, that hold a post not yet
	// acknowledged (pages of acknowledged posts are read too, up to ten
	// times this in all). The first poll of a new board reads at most this
	// many pages of its history; a later poll reads one page more to see
	// whether it has reached the watermark, and one that stops here keeps
	// the watermark and the next one reads on (see StuckPolls).
	MaxPages int `yaml:"max_pages" json:"max_pages" default:"10" validate:"gte=1,lte=10000"`
	// MaxBodyBytes caps one page; a larger page is quarantined.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes" default:"8388608" validate:"gte=1024"`
	// Headers added to every request to URL's origin (scheme, host,
	// port); a next link to another origin gets neither them nor the token.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// TokenEnv / TokenFile name where a bearer token is kept (never put
	// the token itself in the configuration).
	TokenEnv  string `yaml:"token_env" json:"token_env"`
	TokenFile string `yaml:"token_file" json:"token_file"`
	// TimeZone of times the feed writes without a zone.
	TimeZone string `yaml:"time_zone" json:"time_zone" default:"Asia/Shanghai"`
	// Pagination of the feed or API.
	Pagination Pagination `yaml:"pagination" json:"pagination"`
	// JSON maps a JSON API's fields; ignored for RSS and Atom.
	JSON JSONMapping `yaml:"json" json:"json"`
	// Edits: what to do with a known post whose title or body changed
	// upstream: "revision" emits it as a new item that names the original
	// (RevisionOf); "ignore" drops the change.
	Edits string `yaml:"edits" json:"edits" default:"revision" validate:"oneof=revision ignore"`
	// TrackPosts bounds how many posts' content hashes the checkpoint
	// keeps (edits of older posts are not noticed, and a post first seen
	// with a time as old as a trimmed one is taken as handled).
	TrackPosts int `yaml:"track_posts" json:"track_posts" default:"10000" validate:"gte=1"`
	// StuckPolls: after this many polls in a row left incomplete by a
	// quarantined page or by the fetch cap (ten times max_pages pages), the
	// next such poll is taken as complete, with an ERROR saying what is
	// given up, so the watermark moves on and track_posts bounds the table.
	StuckPolls int `yaml:"stuck_polls" json:"stuck_polls" default:"60" validate:"gte=1"`
	// Retries of one request after a 429, a 5xx or a network error.
	Retries int `yaml:"retries" json:"retries" default:"4" validate:"gte=0"`
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries; a longer Retry-After (up to an hour) is honoured.
	MinBackoff time.Duration `yaml:"min_backoff" json:"min_backoff" default:"1s" validate:"gt=0"`
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff" default:"5m" validate:"gtefield=MinBackoff"`
	// CheckpointEvery: how often acknowledged progress is written while a
	// poll's items are in flight (and always at the end of a poll).
	CheckpointEvery time.Duration `yaml:"checkpoint_every" json:"checkpoint_every" default:"1s" validate:"gt=0"`
	// QuarantineRawMax: raw bytes of a malformed page or post up to this
	// size travel with the quarantined record; all of it goes to the blob
	// store. -1: never inline, the blob store only.
	QuarantineRawMax int `yaml:"quarantine_raw_max" json:"quarantine_raw_max" default:"65536" validate:"gte=-1"`
}

// Validate refuses what the HTTP client would refuse at every poll: a url
// port that is empty or not 1-65535, a header name that is not a token or a
// header value with a control character (a line break). Its messages never
// quote a value, which may be a key.
func (c *Config) Validate() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	if u, err := url.Parse(c.URL); err == nil && (u.Port() != "" || strings.HasSuffix(u.Host, ":")) {
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			errs = append(errs, minsheng.FieldError{Path: "url", Msg: "has a port that is not 1-65535"})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		path := fmt.Sprintf("headers[%s]", k)
		if !httpguts.ValidHeaderFieldName(k) {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~, no spaces)"})
		} else if !httpguts.ValidHeaderFieldValue(c.Headers[k]) {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: "has a value with a control character (a line break?), which HTTP refuses"})
		}
	}
	return errs
}

// Pagination modes.
const (
	PageNone     = "none"      // one page only
	PageNumber   = "page"      // ?<param>=start, start+1, ... until an empty page
	PageCursor   = "cursor"    // ?<param>=<cursor read from json.next>
	PageNextLink = "next_link" // follow json.next, or RSS/Atom <link rel="next">
)

// Pagination says how to reach older pages.
type Pagination struct {
	Mode string `yaml:"mode" json:"mode" default:"next_link" validate:"oneof=none page cursor next_link"`
	// Param is the query parameter carrying the page number or cursor
	// (default "page" or "cursor").
	Param string `yaml:"param" json:"param"`
	// Start is the first page number (mode page).
	Start int `yaml:"start" json:"start" default:"1"`
}

func (c *Config) applyDefaults() {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Format, FormatAuto)
	if c.Channel == "" {
		c.Channel = minsheng.ChannelMessageBoard
	}
	def(&c.Edits, "revision")
	def(&c.Pagination.Mode, PageNextLink)
	switch c.Pagination.Mode {
	case PageNumber:
		def(&c.Pagination.Param, "page")
		if c.Pagination.Start == 0 {
			c.Pagination.Start = 1
		}
	case PageCursor:
		def(&c.Pagination.Param, "cursor")
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defDur(&c.Interval, time.Minute)
	defDur(&c.Timeout, 30*time.Second)
	defDur(&c.MinBackoff, time.Second)
	defDur(&c.MaxBackoff, 5*time.Minute)
	defDur(&c.CheckpointEvery, time.Second)
	if c.MaxPages == 0 {
		c.MaxPages = 10
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.QuarantineRawMax == 0 {
		c.QuarantineRawMax = 64 << 10
	}
	if c.TrackPosts == 0 {
		c.TrackPosts = 10000
	}
	if c.StuckPolls == 0 {
		c.StuckPolls = 60
	}
	c.JSON = c.JSON.withDefaults()
}

// Board is a running board connector.
type Board struct {
	name  string
	cfg   Config
	env   connectors.Env
	log   *slog.Logger
	loc   *time.Location
	token string
	hc    *http.Client
	key   string

	fetches *prometheus.CounterVec
	posts   *prometheus.CounterVec

	mu    sync.Mutex // guards st and dirty
	st    *state
	dirty bool
}

// New builds a board connector named name. Zero config fields take their
// defaults.
func New(name string, cfg Config, env connectors.Env) (*Board, error) {
	cfg.applyDefaults()
	if err := minsheng.Validator().Struct(cfg); err != nil {
		return nil, minsheng.ValidationErrors(err, "Config")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	if cfg.Pagination.Mode == PageCursor && cfg.JSON.Next == "" {
		return nil, minsheng.FieldErrors{{Path: "json.next", Msg: "is required with pagination mode cursor"}}
	}
	loc, err := timefmt.Location(cfg.TimeZone)
	if err != nil {
		return nil, minsheng.FieldErrors{{Path: "time_zone", Msg: err.Error()}}
	}
	b := &Board{
		name: name, cfg: cfg, env: env, loc: loc,
		log: env.Logger,
		hc:  &http.Client{Timeout: cfg.Timeout},
		key: "board/" + name,
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.hc.CheckRedirect = b.checkRedirect
	if cfg.TokenEnv != "" || cfg.TokenFile != "" {
		t, err := minsheng.ReadSecretField("token_env", cfg.TokenEnv, "token_file", cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		b.token = strings.TrimSpace(t)
	}
	labels := prometheus.Labels{"instance": name}
	b.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minsheng_board_fetches_total", Help: "Feed page requests by result.", ConstLabels: labels,
	}, []string{"result"})
	b.posts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minsheng_board_posts_total", Help: "Posts handed to the pipeline, by kind (new, edit, quarantined).", ConstLabels: labels,
	}, []string{"kind"})
	if env.Metrics != nil {
		for _, c := range []prometheus.Collector{b.fetches, b.posts} {
			if err := env.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("board %s: metrics: %w", name, err)
			}
		}
	}
	return b, nil
}

// state is the checkpoint: the watermark (every post at or before it has
// been acknowledged), the first page's validators, and the content hash of
// recently acknowledged posts.
type state struct {
	V            int             `json:"v"`
	Watermark    time.Time       `json:"watermark,omitzero"`
	ETag         string          `json:"etag,omitempty"`
	LastModified string          `json:"last_modified,omitempty"`
	Posts        map[string]seen `json:"posts"`
	// Forgotten is the newest post time (Unix seconds) trimmed from Posts:
	// a post not in Posts before it (or at it, when that is before the
	// watermark) may have been handled and forgotten, so it is not emitted
	// again. A post at Forgotten that is also the watermark's time may be a
	// new post made in the same second (a board giving only dates or
	// minutes): it is emitted, a repeat at worst.
	Forgotten int64 `json:"forgotten,omitempty"`
	// Stuck counts the polls in a row left incomplete by a quarantined
	// page or by the fetch cap (see Config.StuckPolls).
	Stuck int `json:"stuck,omitempty"`
}

type seen struct {
	H string `json:"h"`           // content hash of the acknowledged version
	T int64  `json:"t,omitempty"` // post time, Unix seconds; 0 unknown
}

func (b *Board) load(ctx context.Context) error {
	raw, err := b.env.Checkpoints.Get(ctx, b.key)
	if err != nil {
		return fmt.Errorf("board %s: read checkpoint: %w", b.name, err)
	}
	st := &state{V: 1, Posts: map[string]seen{}}
	if raw != nil {
		if err := json.Unmarshal(raw, st); err != nil {
			return fmt.Errorf("board %s: checkpoint %s is corrupt: %w", b.name, b.key, err)
		}
		if st.Posts == nil {
			st.Posts = map[string]seen{}
		}
	}
	b.mu.Lock()
	b.st = st
	b.mu.Unlock()
	return nil
}

// save writes the checkpoint if it changed, trimming the post hashes to
// TrackPosts (oldest first, never a post newer than the watermark).
func (b *Board) save(ctx context.Context) error {
	b.mu.Lock()
	if !b.dirty {
		b.mu.Unlock()
		return nil
	}
	b.trim()
	raw, err := json.Marshal(b.st)
	b.dirty = false
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if err := b.env.Checkpoints.Put(ctx, b.key, raw); err != nil {
		b.mu.Lock()
		b.dirty = true
		b.mu.Unlock()
		return fmt.Errorf("board %s: write checkpoint: %w", b.name, err)
	}
	return nil
}

func (b *Board) trim() {
	over := len(b.st.Posts) - b.cfg.TrackPosts
	if over <= 0 {
		return
	}
	type kv struct {
		id string
		t  int64
	}
	all := make([]kv, 0, len(b.st.Posts))
	wm := b.st.Watermark.Unix()
	for id, s := range b.st.Posts {
		// Not the watermark's own second: a post of that second trimmed
		// and read again would be taken for new, and trimmed again, on
		// every poll.
		if s.T != 0 && s.T < wm {
			all = append(all, kv{id, s.T})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t < all[j].t || all[i].t == all[j].t && all[i].id < all[j].id })
	for i := 0; i < over && i < len(all); i++ {
		delete(b.st.Posts, all[i].id)
		b.st.Forgotten = max(b.st.Forgotten, all[i].t)
	}
}

// Run polls until ctx is cancelled.
func (b *Board) Run(ctx context.Context, out minsheng.Emitter) error {
	if b.env.Checkpoints == nil {
		return errors.New("board: no checkpoint store")
	}
	if err := b.load(ctx); err != nil {
		return err
	}
	defer saver.Start(ctx, b.cfg.CheckpointEvery, b.save, b.log)()
	for {
		if err := b.poll(ctx, out); err != nil && ctx.Err() == nil {
			b.log.Warn("poll incomplete; retrying next interval", "err", err)
		}
		if err := b.save(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("checkpoint not written", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(b.cfg.Interval):
		}
	}
}

// cycle is one poll: what was fetched and what is awaiting acknowledgement.
type cycle struct {
	complete bool
	etag     string
	lastMod  string
	posts    []Post
	all      *ackwindow.Window[struct{}]  // every emitted item and quarantine
	order    *ackwindow.Window[time.Time] // new posts with a time, oldest first
}

// poll reads pages newest first until it reaches the watermark, the last
// page or max_pages, then emits what is new, oldest first, and waits for the
// acknowledgements.
func (b *Board) poll(ctx context.Context, out minsheng.Emitter) error {
	b.mu.Lock()
	wm, etag, lastMod := b.st.Watermark, b.st.ETag, b.st.LastModified
	giveUp := b.st.Stuck >= b.cfg.StuckPolls
	b.mu.Unlock()
	c := &cycle{all: ackwindow.New[struct{}](), order: ackwindow.New[time.Time]()}
	var pollErr, broken error
	var brokenRef string
	capped := false // stopped at the fetch cap before reaching the watermark
	next := b.cfg.URL
	if b.cfg.Pagination.Mode == PageNumber {
		next = withParam(b.cfg.URL, b.cfg.Pagination.Param, fmt.Sprint(b.cfg.Pagination.Start))
	}
	// Every post id read in this poll → its copy's place in c.posts and
	// the page it was read on.
	seenIDs := map[string]seenAt{}
	// Pages holding a post not yet acknowledged count against max_pages;
	// pages of acknowledged posts only (read again on the way down to
	// the watermark after a poll stopped at max_pages) cost only a request,
	// up to maxFetches in all.
	counted, maxFetches := 0, 10*b.cfg.MaxPages
	// A URL met twice in one poll is a loop in the pagination (1, 2, 1,
	// 2…): every page it reaches has been read. Repeated page bytes are not
	// taken as a loop: exactly one page of new posts arriving between two
	// page reads gives the next page the bytes of the last one, with older
	// new posts still below. Page numbers past the end answered with the
	// last page end the poll at the third copy in a row (below).
	fetched := map[string]int{} // → page index
	lastBody, repeats := "", 0
	// On a later poll, reaching max_pages, the poll reads one page more
	// (probed) to see whether it has reached the watermark: without it a
	// poll whose last counted page held new posts could never be complete
	// (with max_pages 1, no poll that finds a new post ever was).
	probed := false
	for n := 0; ; n++ {
		if first, ok := fetched[next]; ok {
			b.log.Warn("pagination loops back to a page read in this poll; taking it as the last page",
				"url", b.logURL(next), "page", n+1, "first_read_as_page", first+1)
			c.complete = true
			break
		}
		fetched[next] = n
		if counted == b.cfg.MaxPages && !wm.IsZero() && !probed && n < maxFetches {
			probed = true
		} else if counted >= b.cfg.MaxPages || n == maxFetches {
			if wm.IsZero() {
				// The first poll of a new board: max_pages bounds the
				// history it takes in.
				b.log.Info("first poll stopped at max_pages; older history is not read", "max_pages", b.cfg.MaxPages)
				c.complete = true
			} else {
				// Posts between here and the watermark are unread: keep the
				// watermark; the next poll reads down to it again, past
				// the pages this one emitted.
				b.log.Warn("poll stopped at max_pages before reaching the watermark; it stays, the next poll reads on",
					"max_pages", b.cfg.MaxPages, "pages_read", n)
				capped = n == maxFetches
			}
			break
		}
		resp, err := b.fetch(ctx, next, n == 0, etag, lastMod)
		if err != nil {
			pollErr = err
			break
		}
		if resp.notModified {
			return nil
		}
		if n == 0 {
			c.etag, c.lastMod = resp.etag, resp.lastMod
		}
		// Three numbered pages in a row with the same bytes: a board that
		// answers every number past its end with its last page. (Two may
		// be a shift by exactly one page of new posts while the poll read
		// on; a shift twice in a row is not.) Its posts were read.
		if bh := hash12(resp.body); bh == lastBody {
			if repeats++; repeats >= 2 && b.cfg.Pagination.Mode == PageNumber {
				b.log.Warn("numbered pages repeat the same page; taking it as the last", "url", b.logURL(next), "page", n+1)
				c.complete = true
				break
			}
		} else {
			lastBody, repeats = bh, 0
		}
		var page *Page
		if resp.tooLarge {
			err = fmt.Errorf("page is over max_body_bytes (%d)", b.cfg.MaxBodyBytes)
		} else {
			page, err = Decode(b.cfg.Format, resp.body, &b.cfg.JSON, b.loc)
		}
		if err != nil {
			b.fetches.WithLabelValues("malformed").Inc()
			// The reason may quote the page (its first bytes, a time as
			// given): it goes to the quarantine record, for staff, and the
			// log names only its kind and the record's ref.
			ref, code := "page:"+hash12([]byte(next), resp.body), "page_undecodable"
			if resp.tooLarge {
				code = "page_too_large"
			}
			counted++
			b.log.Warn("page quarantined", "url", b.logURL(next), "ref", ref, "reason_code", code)
			if qerr := b.quarantine(ctx, out, c, ref, err.Error(), resp.body, nil); qerr != nil {
				return qerr
			}
			// The posts on the broken page were not read: the poll is
			// incomplete and the watermark does not move past them.
			if broken == nil {
				broken, brokenRef = fmt.Errorf("page %s quarantined (%s)", ref, code), ref
			}
			if b.cfg.Pagination.Mode != PageNumber {
				// The link to the next page is in the broken page: stop here.
				break
			}
			// Numbered pages: read on (a page of junk, a captcha, may be
			// passing), but emit what was read as an incomplete poll.
			next = withParam(b.cfg.URL, b.cfg.Pagination.Param, fmt.Sprint(b.cfg.Pagination.Start+n+1))
			continue
		}
		for _, bp := range page.Bad {
			ref := "post:" + hash12(bp.Raw)
			if bp.ID != "" {
				ref = "post:" + bp.ID + "#" + hash12(bp.Raw)
			}
			if err := b.quarantine(ctx, out, c, ref, bp.Reason, bp.Raw, nil); err != nil {
				return err
			}
		}
		// The poll has reached the watermark at the first page that holds
		// no pending post (from page 2 on, see below). Deciding on the whole page, not on its first old
		// post, keeps an old pinned (置顶) post at the top of page 1 from
		// ending every poll there.
		// A page is free of max_pages only when it holds acknowledged posts
		// met for the first time in this poll and nothing else new.
		reached, unacked, acked := len(page.Posts) > 0, false, false
		for _, p := range page.Posts {
			if b.pending(p, wm) {
				reached = false
			}
			if at, ok := seenIDs[p.ID]; ok {
				// A post listed twice in one poll: take the newer copy.
				if newerCopy(p, c.posts[at.i], at.page == n) {
					c.posts[at.i] = p
				}
			} else {
				seenIDs[p.ID] = seenAt{i: len(c.posts), page: n}
				c.posts = append(c.posts, p)
				if b.known(p.ID) {
					acked = true
				} else {
					unacked = true
				}
			}
		}
		if unacked || !acked {
			counted++
		}
		// Stop there only once two pages are read: the page after one
		// without pending posts is read too, an overlap that catches a new
		// post shifted onto it by a deletion while the last poll was
		// between pages (the next page's absence ends the poll as well).
		if reached && n >= 1 || b.cfg.Pagination.Mode == PageNone {
			c.complete = true
			break
		}
		switch b.cfg.Pagination.Mode {
		case PageNumber:
			if len(page.Posts)+len(page.Bad) == 0 {
				c.complete = true
			}
			next = withParam(b.cfg.URL, b.cfg.Pagination.Param, fmt.Sprint(b.cfg.Pagination.Start+n+1))
		case PageCursor:
			if page.Next == "" {
				c.complete = true
			}
			next = withParam(b.cfg.URL, b.cfg.Pagination.Param, page.Next)
		case PageNextLink:
			if page.Next == "" {
				c.complete = true
			} else if next, err = resolve(next, page.Next); err != nil {
				pollErr = fmt.Errorf("next link: %w", b.redact(err))
			}
		}
		if c.complete || pollErr != nil {
			break
		}
	}
	// A poll left incomplete by a broken page or by the fetch cap may be
	// so for good (a post the board always writes malformed, a backlog
	// deeper than the cap): after stuck_polls of them in a row, the next
	// is taken as complete, so the watermark moves and trim bounds the
	// table. Other errors (network, 5xx) are not counted: they pass.
	stuck := pollErr == nil && (broken != nil || capped)
	if stuck && giveUp {
		var lost string
		if broken != nil {
			lost = "the posts on the quarantined page (its raw bytes are in the dead letter under quarantined_page)"
			if b.cfg.Pagination.Mode != PageNumber {
				lost += " and on the pages after it"
			}
			lost += " are not emitted"
		}
		if capped {
			if lost != "" {
				lost += "; "
			}
			lost += fmt.Sprintf("posts older than the %d pages read are not read: raise max_pages", maxFetches)
		}
		b.log.Error("poll incomplete for stuck_polls polls in a row; taking this one as complete, the watermark moves past what is given up",
			"stuck_polls", b.cfg.StuckPolls, "quarantined_page", brokenRef, "fetch_cap_reached", capped, "given_up", lost)
		c.complete = true
	} else if pollErr == nil && broken != nil {
		pollErr, c.complete = broken, false
	}
	if err := b.emitPosts(ctx, out, c); err != nil {
		return err
	}
	// Wait for every acknowledgement of this poll.
	select {
	case <-c.all.Idle():
	case <-ctx.Done():
		return ctx.Err()
	}
	if c.complete && pollErr == nil && !c.all.Failed() {
		b.mu.Lock()
		b.st.ETag, b.st.LastModified = c.etag, c.lastMod
		b.st.Stuck = 0
		b.dirty = true
		b.mu.Unlock()
	} else if stuck {
		b.mu.Lock()
		b.st.Stuck++
		b.dirty = true
		b.mu.Unlock()
	}
	if c.all.Failed() && pollErr == nil {
		pollErr = errors.New("some items were not durably handled; they will be offered again")
	}
	return pollErr
}

// seenAt is where a poll read a post: its place in cycle.posts and the
// index of its page.
type seenAt struct{ i, page int }

// newerCopy reports whether p, a copy of q's post read after q in the same
// poll, is the newer: the later edited when both give an edit time that
// differs; otherwise the one lower on the page, when both are on one page
// (a board pins a post, a stale copy, above the post in its place). From
// page to page the first copy read stays: pages shift while a poll reads
// on, and a board may repeat its pinned posts at the top of every page.
func newerCopy(p, q Post, samePage bool) bool {
	if !p.Updated.IsZero() && !q.Updated.IsZero() && !p.Updated.Equal(q.Updated) {
		return p.Updated.After(q.Updated)
	}
	return samePage
}

// futureSlack is how far past now a post's time may be and still move the
// watermark.
const futureSlack = 10 * time.Minute

// pending reports whether p may be a post the poll must go on to find
// more of: newer than the watermark, or not yet acknowledged and not older
// than it (or without a time). A post older than the watermark — an old
// post pinned (置顶) to the top of page 1, say — is not, whether known or not;
// nor is an acknowledged post dated in the future (past now+futureSlack),
// which the watermark never passes.
func (b *Board) pending(p Post, wm time.Time) bool {
	known := b.known(p.ID)
	switch {
	case wm.IsZero():
		return true
	case p.Time.IsZero():
		return !known
	case known && p.Time.After(time.Now().Add(futureSlack)):
		return false
	case p.Time.After(wm):
		return true
	}
	return !known && p.Time.Equal(wm)
}

// known reports whether the post id is in the table of acknowledged posts.
func (b *Board) known(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.st.Posts[id]
	return ok
}

// emitPosts sorts the poll's posts oldest first and emits the new and the
// edited ones.
func (b *Board) emitPosts(ctx context.Context, out minsheng.Emitter, c *cycle) error {
	sort.SliceStable(c.posts, func(i, j int) bool {
		ti, tj := c.posts[i].Time, c.posts[j].Time
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return c.posts[i].ID < c.posts[j].ID
	})
	now := time.Now()
	limit, warnedFuture := now.Add(futureSlack), false
	for _, p := range c.posts {
		// Every post with a time takes its place in the order of a complete
		// poll, so the watermark can pass it once it is handled: at once
		// when it needs nothing, at its ack otherwise.
		// A post dated after now+futureSlack (a pinned notice with a far
		// publish date, a time-zone slip) takes no place in it: the
		// watermark would move into the future and every later poll stop
		// at page 1. It is tracked by id like any other.
		var orderAck func(ok bool)
		future := !p.Time.IsZero() && p.Time.After(limit)
		if future && !warnedFuture {
			warnedFuture = true
			b.log.Warn("post dated in the future; the watermark does not follow it",
				"ref", p.ID, "post_time", p.Time, "limit", limit)
		}
		if c.complete && !p.Time.IsZero() && !future {
			ot := c.order.Add(p.Time)
			orderAck = func(ok bool) {
				b.mu.Lock()
				defer b.mu.Unlock()
				if c.order.Ack(ot, ok) {
					done, _ := c.order.Done()
					if done.After(limit) { // defensive: never past now+futureSlack
						done = limit
					}
					if done.After(b.st.Watermark) {
						b.st.Watermark = done
						b.dirty = true
					}
				}
			}
		} else {
			orderAck = func(bool) {}
		}
		h := contentHash(p)
		b.mu.Lock()
		prev, known := b.st.Posts[p.ID]
		forgotten, wmNow := b.st.Forgotten, b.st.Watermark.Unix()
		b.mu.Unlock()
		var it *minsheng.Item
		kind := "new"
		switch {
		case known && prev.H == h:
			orderAck(true) // unchanged
			continue
		case known && b.cfg.Edits == "ignore":
			orderAck(true)
			continue
		case known:
			kind = "edit"
			it = b.item(p, p.ID+"#"+h, minsheng.ItemID(b.cfg.Channel, b.name, p.ID), now)
		case !p.Time.IsZero() && forgotten != 0 &&
			(p.Time.Unix() < forgotten || p.Time.Unix() == forgotten && forgotten < wmNow):
			// As old as posts trimmed from the table: it may have been
			// handled and forgotten. (A post older than the watermark but
			// newer than every trimmed one — shifted up a page while the
			// poll read on, or approved late — is not in this case: it is
			// emitted. Nor is one at the trimmed time when that is the
			// watermark's own: posts sharing one time, more of them than
			// track_posts, must not hide a new post made at that time; a
			// trimmed one re-read is emitted again, a duplicate the
			// pipeline answers, until the watermark moves on.)
			orderAck(true)
			continue
		default:
			it = b.item(p, p.ID, "", now)
		}
		if errs := validate(it); len(errs) > 0 {
			raw, _ := json.Marshal(p)
			if err := b.quarantine(ctx, out, c, "post:"+p.ID+"#"+h, "post is not a valid item: "+errs.Error(), raw, orderAck); err != nil {
				return err
			}
			continue
		}
		if it.Attrs[textNotesAttr] != "" && b.env.Blobs != nil {
			// The item's text was mended: the post as read is kept.
			raw, _ := json.Marshal(p)
			bi, err := b.env.Blobs.Put(ctx, strings.NewReader(string(raw)), 0)
			if err != nil {
				orderAck(false)
				return fmt.Errorf("store post %s: %w", p.ID, err)
			}
			it.RawRef = bi.Ref
		}
		at := c.all.Add(struct{}{})
		id, t := p.ID, p.Time
		err := out.Emit(ctx, it, func(_ minsheng.Outcome, err error) {
			if err == nil {
				var ts int64
				if !t.IsZero() {
					ts = t.Unix()
				}
				b.mu.Lock()
				b.st.Posts[id] = seen{H: h, T: ts}
				b.dirty = true
				b.mu.Unlock()
			}
			orderAck(err == nil)
			c.all.Ack(at, err == nil)
		})
		if err != nil {
			// Not taken: the ack will never come.
			orderAck(false)
			c.all.Ack(at, false)
			return err
		}
		b.posts.WithLabelValues(kind).Inc()
	}
	return nil
}

func (b *Board) item(p Post, ref, revisionOf string, now time.Time) *minsheng.Item {
	it := &minsheng.Item{
		SchemaVersion: minsheng.SchemaVersion,
		ID:            minsheng.ItemID(b.cfg.Channel, b.name, ref),
		Channel:       b.cfg.Channel,
		Source:        b.name,
		Ref:           ref,
		ReceivedAt:    now,
		SubmittedAt:   p.Time,
		Title:         p.Title,
		Body:          p.Body,
		Complainant:   minsheng.Complainant{Name: p.Author},
		RevisionOf:    revisionOf,
		Attrs:         map[string]string{"post_id": clip(p.ID, 2000)},
	}
	if it.SubmittedAt.IsZero() {
		it.SubmittedAt = now
		it.Attrs["submitted_at"] = "unknown; time first seen"
	}
	if p.URL != "" {
		it.Attrs["url"] = clip(p.URL, 2000)
	}
	if p.ReplyStatus != "" {
		it.Attrs["reply_status"] = clip(p.ReplyStatus, 2000)
	}
	if n := it.ScrubControls(); n != "" {
		it.Attrs[textNotesAttr] = clip("control characters replaced with U+FFFD ("+n+"); the post as read is at raw_ref", 2000)
	}
	return it
}

// textNotesAttr says which of an item's fields had control characters
// replaced (item); its raw_ref then holds the post as read.
const textNotesAttr = "text_notes"

// validate checks the item as the pipeline will, once it has given the
// item its trace ID.
func validate(it *minsheng.Item) minsheng.FieldErrors {
	c := *it
	c.TraceID = "t"
	return c.Validate()
}

// quarantine hands a malformed page or post to the dead letter path.
// onAck, when not nil, is told whether the quarantine was durably handled.
func (b *Board) quarantine(ctx context.Context, out minsheng.Emitter, c *cycle, ref, reason string, raw []byte, onAck func(ok bool)) error {
	if onAck == nil {
		onAck = func(bool) {}
	}
	q := &minsheng.Quarantined{
		Channel: b.cfg.Channel, Source: b.name, Ref: clip(ref, 256),
		ReceivedAt: time.Now(), Reason: reason,
	}
	if b.env.Blobs != nil {
		if bi, err := b.env.Blobs.Put(ctx, strings.NewReader(string(raw)), b.cfg.MaxBodyBytes+1); err == nil {
			q.RawRef = bi.Ref
		} else {
			b.log.Warn("raw bytes of quarantined input not stored", "ref", q.Ref, "err", err)
		}
	}
	if len(raw) <= b.cfg.QuarantineRawMax {
		q.Raw = raw
	}
	t := c.all.Add(struct{}{})
	if err := out.Quarantine(ctx, q, func(_ minsheng.Outcome, err error) { onAck(err == nil); c.all.Ack(t, err == nil) }); err != nil {
		onAck(false)
		c.all.Ack(t, false)
		return err
	}
	b.posts.WithLabelValues("quarantined").Inc()
	return nil
}

// contentHash identifies a version of a post: its title and body. Reply
// status, author and links may change without making it an edit.
func contentHash(p Post) string {
	h := sha256.New()
	h.Write([]byte(p.Title))
	h.Write([]byte{0})
	h.Write([]byte(p.Body))
	return hex.EncodeToString(h.Sum(nil)[:6])
}

func hash12(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}
