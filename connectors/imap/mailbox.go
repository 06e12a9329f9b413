package imap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/sync/semaphore"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/ackwindow"
	"github.com/minsheng/minsheng/connectors/internal/saver"
)

// checkpoint is what is kept durably per mailbox: every message of the
// mailbox with a UID up to UID (under UIDValidity) has been acknowledged.
type checkpoint struct {
	V           int    `json:"v"`
	UIDValidity uint32 `json:"uidvalidity"`
	UID         uint32 `json:"uid"`
}

// mailbox reads one mailbox on a connection of its own.
type mailbox struct {
	c    *Connector
	name string
	key  string
	log  *slog.Logger

	mu       sync.Mutex // guards cp, dirty, highest, attempts
	cp       checkpoint
	dirty    bool
	highest  uint32         // highest UID known on the server
	attempts map[uint32]int // UID → fetches that broke off while reading it

	// moveFail is the kind (moveFailure) of the last failed move of
	// after_ack: move that was logged, "" once the mail was moved: a
	// failure repeated at every wake is logged once. Its sessions' own.
	moveFail string
}

func (m *mailbox) load(ctx context.Context) error {
	raw, err := m.c.env.Checkpoints.Get(ctx, m.key)
	if err != nil {
		return fmt.Errorf("imap %s: read checkpoint %s: %w", m.c.name, m.key, err)
	}
	cp := checkpoint{V: 1}
	if raw != nil {
		if err := json.Unmarshal(raw, &cp); err != nil {
			return fmt.Errorf("imap %s: checkpoint %s is corrupt: %w", m.c.name, m.key, err)
		}
	}
	m.mu.Lock()
	m.cp = cp
	m.mu.Unlock()
	return nil
}

func (m *mailbox) save(ctx context.Context) error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	raw, err := json.Marshal(m.cp)
	m.dirty = false
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if err := m.c.env.Checkpoints.Put(ctx, m.key, raw); err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		return fmt.Errorf("imap %s: write checkpoint %s: %w", m.c.name, m.key, err)
	}
	return nil
}

// advance moves the checkpoint to uid (never back, never across a
// UIDVALIDITY change).
func (m *mailbox) advance(uidValidity, uid uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cp.UIDValidity == uidValidity && uid > m.cp.UID {
		m.cp.UID = uid
		m.dirty = true
	}
	m.setLagLocked()
}

func (m *mailbox) seen(uid uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uid > m.highest {
		m.highest = uid
	}
	m.setLagLocked()
}

func (m *mailbox) setLagLocked() {
	lag := 0.0
	if m.highest > m.cp.UID {
		lag = float64(m.highest - m.cp.UID)
	}
	m.c.lag.WithLabelValues(m.name).Set(lag)
}

func (m *mailbox) run(ctx context.Context, out minsheng.Emitter) error {
	if err := m.load(ctx); err != nil {
		return err
	}
	defer saver.Start(ctx, m.c.cfg.CheckpointEvery, m.save, m.log)()
	backoff := m.c.cfg.MinBackoff
	for {
		progressed, err := m.session(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			backoff = m.c.cfg.MinBackoff
		}
		m.log.Warn("mailbox session ended; reconnecting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, m.c.cfg.MaxBackoff)
	}
}

func (c *Connector) dial(wake chan<- struct{}) (*imapclient.Client, error) {
	opts := &imapclient.Options{
		// Without this, ENVELOPE subjects in GB2312/GBK/Big5 stay encoded
		// (the connector parses the fetched bytes itself, but keep the
		// client honest for anything it decodes).
		WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader},
		TLSConfig:   &tls.Config{ServerName: c.cfg.ServerName, InsecureSkipVerify: c.cfg.InsecureSkipVerify},
		Dialer:      &net.Dialer{Timeout: 30 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: never block here.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	if opts.TLSConfig.ServerName == "" {
		if h, _, err := net.SplitHostPort(c.cfg.Address); err == nil {
			opts.TLSConfig.ServerName = h
		}
	}
	var cl *imapclient.Client
	var err error
	switch c.cfg.TLS {
	case TLSNone:
		cl, err = imapclient.DialInsecure(c.cfg.Address, opts)
	case TLSStartTLS:
		cl, err = imapclient.DialStartTLS(c.cfg.Address, opts)
	default:
		cl, err = imapclient.DialTLS(c.cfg.Address, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.cfg.Address, err)
	}
	return cl, nil
}

// guard runs one command, dropping the connection if it takes longer than
// fetch_timeout (a stalled server must not stall the mailbox).
func (m *mailbox) guard(cl *imapclient.Client, what string, fn func() error) error {
	t := time.AfterFunc(m.c.cfg.FetchTimeout, func() { cl.Close() })
	defer t.Stop()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// session is one connection's life: log in, select, then fetch, wait for
// the acks, and wait for new mail, until an error or ctx ends it.
type session struct {
	m   *mailbox
	cl  *imapclient.Client
	out minsheng.Emitter
	uv  uint32
	win *ackwindow.Window[uint32]

	jobs chan job
	wg   sync.WaitGroup
	mem  *semaphore.Weighted // bytes of fetched mail not yet handled

	amu   sync.Mutex
	acked []imap.UID // for after_ack

	// A move of after_ack: move that failed leaves handled mail in the
	// mailbox: it is moved (moveHandled) at the first wake of the session
	// from moveAt on. moveDelay, from which moveAt follows after a retry
	// that failed too, doubles from min_backoff to max_backoff.
	movePending bool
	moveAt      time.Time
	moveDelay   time.Duration
}

type job struct {
	uid    uint32
	ticket ackwindow.Ticket
	raw    []byte // nil: quarantine unread with reason, under ref
	reason string
	kind   string
	ref    string // of a message quarantined unread (unreadRef)
}

func (m *mailbox) session(ctx context.Context, out minsheng.Emitter) (progressed bool, err error) {
	cfg := &m.c.cfg
	wake := make(chan struct{}, 1)
	cl, err := m.c.dial(wake)
	if err != nil {
		return false, err
	}
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	defer cl.Close()
	if err := m.guard(cl, "login", func() error { return cl.Login(cfg.Username, m.c.password).Wait() }); err != nil {
		return false, err
	}
	var sel *imap.SelectData
	if err := m.guard(cl, "select "+m.name, func() (err error) {
		sel, err = cl.Select(m.name, &imap.SelectOptions{ReadOnly: cfg.AfterAck == AfterAckNone}).Wait()
		return err
	}); err != nil {
		return false, err
	}
	m.mu.Lock()
	if m.cp.UIDValidity != sel.UIDValidity {
		if m.cp.UIDValidity != 0 {
			m.log.Warn("UIDVALIDITY changed: reading the mailbox again from the start; repeats keep their item IDs",
				"old", m.cp.UIDValidity, "new", sel.UIDValidity, "old_uid", m.cp.UID)
			m.c.resets.WithLabelValues(m.name).Inc()
		}
		m.cp = checkpoint{V: 1, UIDValidity: sel.UIDValidity}
		m.dirty = true
		m.attempts = map[uint32]int{}
	}
	next := m.cp.UID + 1
	m.highest = 0
	m.mu.Unlock()
	if sel.UIDNext > 0 {
		m.seen(uint32(sel.UIDNext) - 1)
	}
	if err := m.save(ctx); err != nil {
		return false, err
	}

	s := &session{m: m, cl: cl, out: out, uv: sel.UIDValidity, win: ackwindow.New[uint32](), jobs: make(chan job),
		mem: semaphore.NewWeighted(cfg.BufferBytes)}
	if cfg.AfterAck == AfterAckMove && next > 1 {
		s.moveHandled(next - 1)
	}
	for range cfg.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for j := range s.jobs {
				s.handle(ctx, j)
				s.mem.Release(s.weight(j))
			}
		}()
	}
	defer func() {
		close(s.jobs)
		s.wg.Wait()
		// Acks still owed come back to this session's window.
		select {
		case <-s.win.Idle():
		case <-ctx.Done():
		}
	}()

	canIdle := m.c.idle && cl.Caps().Has(imap.CapIdle)
	for {
		// New mail reported from here on is not covered by this fetch and
		// wakes the wait below.
		select {
		case <-wake:
		default:
		}
		n, last, err := s.fetchNew(ctx, next)
		if err != nil {
			return progressed, err
		}
		m.c.lastFetch.WithLabelValues(m.name).SetToCurrentTime()
		if n > 0 {
			progressed = true
			next = last + 1
			s.afterAck()
			continue
		}
		// Drained: wait for every ack of this session before going idle.
		select {
		case <-s.win.Idle():
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
		if s.win.Failed() {
			return progressed, errors.New("some messages were not durably handled; reading again from the checkpoint")
		}
		s.afterAck()
		if err := m.save(ctx); err != nil {
			m.log.Warn("checkpoint not written", "err", err)
		}
		if err := s.wait(ctx, canIdle, wake); err != nil {
			return progressed, err
		}
		s.retryMoves()
	}
}

// wait blocks until the server reports new mail (IDLE) or the poll
// interval has passed. New mail the server reported since the last fetch
// began (an EXISTS in the response to after_ack's STORE or MOVE, say: the
// server will not report it again in IDLE) ends the wait at once, for one
// more fetch.
func (s *session) wait(ctx context.Context, canIdle bool, wake <-chan struct{}) error {
	select {
	case <-wake:
		return nil
	default:
	}
	timer := time.NewTimer(s.m.c.cfg.PollInterval)
	defer timer.Stop()
	if !canIdle {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if err := s.m.guard(s.cl, "noop", func() error { return s.cl.Noop().Wait() }); err != nil {
			return err
		}
		return s.checkSelected()
	}
	idle, err := s.cl.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-wake:
	case <-timer.C:
	case <-s.cl.Closed():
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("idle done: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.checkSelected()
}

// checkSelected selects the configured name again after each wait and
// compares its UIDVALIDITY with the session's. Another client may have
// renamed the selected mailbox and created a new one under its name:
// imapmemserver (and any server whose selection follows a rename) goes on
// reading the renamed mailbox; Dovecot 2.3 says nothing of it in IDLE, not
// even when mail comes into the re-created mailbox, answers FETCH and NOOP
// from the renamed one (at times an untagged NO "Internal error" or a BYE
// "session state is inconsistent"), and answers STATUS of the selected
// name from the renamed one too ([CLIENTBUG]), so only a new SELECT tells.
// A name that names another mailbox, or none, ends the session: the next
// one meets the new UIDVALIDITY as a change and reads the mailbox from the
// start.
func (s *session) checkSelected() error {
	var sel *imap.SelectData
	if err := s.m.guard(s.cl, "select "+s.m.name+" again", func() (err error) {
		sel, err = s.cl.Select(s.m.name, &imap.SelectOptions{ReadOnly: s.m.c.cfg.AfterAck == AfterAckNone}).Wait()
		return err
	}); err != nil {
		return fmt.Errorf("the selected mailbox was perhaps renamed or deleted: %w", err)
	}
	if sel.UIDValidity != s.uv {
		return fmt.Errorf("%q now names another mailbox (UIDVALIDITY %d, %d read so far): renamed or re-created by another client; reading it from the start",
			s.m.name, sel.UIDValidity, s.uv)
	}
	return nil
}

type sized struct {
	uid  uint32
	size int64
}

// fetchNew fetches every message with a UID from next on and hands each to
// the workers in UID order. It returns how many it handed over and the
// highest UID among them.
func (s *session) fetchNew(ctx context.Context, next uint32) (int, uint32, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(next), 0) // next:*
	var list []sized
	err := s.m.guard(s.cl, "fetch sizes", func() error {
		cmd := s.cl.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			// Small items only: Collect is fine here.
			buf, err := msg.Collect()
			if err != nil {
				cmd.Close()
				return err
			}
			// UID FETCH n:* returns the last message even when its UID
			// is below n: filter.
			if uint32(buf.UID) >= next {
				list = append(list, sized{uint32(buf.UID), buf.RFC822Size})
			}
		}
		return cmd.Close()
	})
	if err != nil {
		return 0, 0, err
	}
	if len(list) == 0 {
		return 0, 0, nil
	}
	sort.Slice(list, func(i, j int) bool { return list[i].uid < list[j].uid })
	s.m.seen(list[len(list)-1].uid)
	batch := s.m.c.cfg.FetchBatch
	for i := 0; i < len(list); i += batch {
		if err := s.fetchBatch(ctx, list[i:min(i+batch, len(list))]); err != nil {
			return i, 0, err
		}
	}
	return len(list), list[len(list)-1].uid, nil
}

// fetchRounds bounds how many times the bodies of a batch are asked for:
// once, then again for the UIDs the server did not return with a body.
const fetchRounds = 3

// fetchBatch fetches the bodies of a batch (ascending UIDs). Each message
// gets its place in the ack window first, in UID order.
func (s *session) fetchBatch(ctx context.Context, batch []sized) error {
	cfg := &s.m.c.cfg
	f := &bodyFetch{s: s, tickets: map[uint32]ackwindow.Ticket{}, received: map[uint32]bool{}, sizes: map[uint32]int64{}}
	for _, b := range batch {
		t := s.win.Add(b.uid)
		f.sizes[b.uid] = b.size
		s.m.mu.Lock()
		tries := s.m.attempts[b.uid]
		s.m.mu.Unlock()
		switch {
		case b.size > cfg.MaxMessageBytes:
			f.unread = append(f.unread, job{uid: b.uid, ticket: t, kind: "too_large",
				reason: fmt.Sprintf("message of %d bytes is over max_message_bytes (%d); not fetched", b.size, cfg.MaxMessageBytes)})
		case tries >= cfg.FetchAttempts:
			f.unread = append(f.unread, job{uid: b.uid, ticket: t, kind: "fetch_failed",
				reason: fmt.Sprintf("fetching the message failed %d times (timeout %s or connection lost); not fetched", tries, cfg.FetchTimeout)})
		default:
			f.tickets[b.uid] = t
			f.order = append(f.order, b.uid)
		}
	}
	pending := f.order
	for round := 1; round <= fetchRounds && len(pending) > 0; round++ {
		if round > 1 {
			s.m.log.Info("the server did not return the body of some messages; asking again",
				"messages", len(pending), "round", round)
		}
		if err := f.fetch(ctx, pending); err != nil {
			return err
		}
		pending = f.missing()
	}
	if len(pending) > 0 {
		// Asked for fetchRounds times and never returned with a body: gone
		// only if the server says so.
		var set imap.UIDSet
		for _, u := range pending {
			set.AddNum(imap.UID(u))
		}
		var data *imap.SearchData
		if err := s.m.guard(s.cl, "search missing UIDs", func() (err error) {
			data, err = s.cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
			return err
		}); err != nil {
			return f.fail(err)
		}
		exists := map[uint32]bool{}
		for _, u := range data.AllUIDs() {
			exists[uint32(u)] = true
		}
		for _, u := range pending {
			f.received[u] = true
			if !exists[u] {
				// Expunged meanwhile: nothing to hand over.
				s.win.Ack(f.tickets[u], true)
				continue
			}
			// Still there, but never sent: quarantine it unread rather
			// than pass it by silently or stall the mailbox.
			f.unread = append(f.unread, job{uid: u, ticket: f.tickets[u], kind: "fetch_failed",
				reason: fmt.Sprintf("the server listed the message but returned no body for it in %d fetches; not fetched", fetchRounds)})
		}
	}
	return f.dispatchUnread(ctx)
}

// dispatchUnread hands over the messages to quarantine unread, each under a
// reference that holds the mailbox and, when the server gives one, the
// Message-ID (stable across a UIDVALIDITY change).
func (f *bodyFetch) dispatchUnread(ctx context.Context) error {
	s := f.s
	if len(f.unread) == 0 {
		return nil
	}
	uids := make([]uint32, len(f.unread))
	for i, j := range f.unread {
		uids[i] = j.uid
	}
	ids, err := s.messageIDs(uids)
	if err != nil {
		s.m.log.Warn("Message-IDs of mail quarantined unread not read; quarantined by UID", "messages", len(uids), "err", err)
	}
	for i, j := range f.unread {
		j.ref = s.unreadRef(j.uid, ids[j.uid], f.sizes[j.uid])
		if derr := s.dispatch(ctx, j); derr != nil {
			for _, rest := range f.unread[i+1:] {
				s.win.Ack(rest.ticket, false)
			}
			f.unread = nil
			return derr
		}
	}
	f.unread = nil
	var ierr *imap.Error
	if err != nil && !errors.As(err, &ierr) {
		// Not the server's answer: the connection is gone.
		return err
	}
	return nil
}

// messageIDs reads the Message-ID of each of uids (a header-only fetch) and
// returns those the server gave.
func (s *session) messageIDs(uids []uint32) (map[uint32]string, error) {
	ids := map[uint32]string{}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	err := s.m.guard(s.cl, "fetch Message-IDs", func() error {
		cmd := s.cl.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{
			{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true},
		}})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			buf, err := msg.Collect() // a few header lines
			if err != nil {
				cmd.Close()
				return err
			}
			for _, sec := range buf.BodySection {
				h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(sec.Bytes)))
				if err != nil {
					continue
				}
				if id := messageID(rawField(h, "Message-Id")); id != "" {
					ids[uint32(buf.UID)] = id
				}
			}
		}
		return cmd.Close()
	})
	return ids, err
}

// unreadRef is the reference of a message quarantined unread: the mailbox
// and the Message-ID with the size (RFC822.SIZE), which do not change with
// UIDVALIDITY; without a Message-ID, the mailbox, UIDVALIDITY and UID. The
// mailbox is named in both, so mail in two mailboxes never shares an ID.
// (Parsed mail keeps Message.Ref, which has no mailbox: its ID must not
// change.)
func (s *session) unreadRef(uid uint32, messageID string, size int64) string {
	mb := s.m.name
	if len(mb) > 64 {
		sum := sha256.Sum256([]byte(mb))
		mb = "sha256:" + hex.EncodeToString(sum[:12])
	}
	if messageID != "" {
		return "unread:" + mb + ":" + clipBytes(messageID, 160) + "#" + strconv.FormatInt(size, 10)
	}
	return "uid:" + mb + ":" + strconv.FormatUint(uint64(s.uv), 10) + "/" + strconv.FormatUint(uint64(uid), 10)
}

// bodyFetch is the state of fetching one batch's bodies, over one or more
// UID FETCH commands.
type bodyFetch struct {
	s        *session
	tickets  map[uint32]ackwindow.Ticket
	order    []uint32         // UIDs to fetch, ascending
	received map[uint32]bool  // handed over (or settled)
	sizes    map[uint32]int64 // RFC822.SIZE of every UID of the batch
	unread   []job            // to quarantine unread, not handed over yet
	timeout  atomic.Bool
}

// missing lists the UIDs not handed over yet, in order.
func (f *bodyFetch) missing() []uint32 {
	var l []uint32
	for _, u := range f.order {
		if !f.received[u] {
			l = append(l, u)
		}
	}
	return l
}

// fail settles a batch that cannot go on: the message being waited for
// (the first one not received) counts an attempt, and what was not handed
// over will never be acked by this session.
func (f *bodyFetch) fail(err error) error {
	s, cfg := f.s, &f.s.m.c.cfg
	miss := f.missing()
	if len(miss) > 0 {
		s.m.mu.Lock()
		s.m.attempts[miss[0]]++
		s.m.mu.Unlock()
	}
	for _, u := range miss {
		s.win.Ack(f.tickets[u], false)
	}
	for _, j := range f.unread {
		s.win.Ack(j.ticket, false)
	}
	f.unread = nil
	if f.timeout.Load() && len(miss) > 0 {
		return fmt.Errorf("fetch of UID %d timed out after %s: %w", miss[0], cfg.FetchTimeout, err)
	}
	return err
}

// fetch asks for the bodies of uids in one UID FETCH and hands each message
// returned with its body to the workers. A FETCH response without the body
// (a flag update the server may send at any time, RFC 3501 §7) is not the
// message: the UID stays missing.
func (f *bodyFetch) fetch(ctx context.Context, uids []uint32) error {
	s, cfg := f.s, &f.s.m.c.cfg
	var want imap.UIDSet
	for _, u := range uids {
		want.AddNum(imap.UID(u))
	}
	watchdog := time.AfterFunc(cfg.FetchTimeout, func() {
		f.timeout.Store(true)
		s.cl.Close()
	})
	defer watchdog.Stop()
	cmd := s.cl.Fetch(want, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}, // BODY.PEEK[]: never sets \Seen
	})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid uint32
		var raw []byte
		var body, nilBody bool
		var rerr error
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(it.UID)
			case imapclient.FetchItemDataBodySection:
				body = true
				if it.Literal == nil {
					nilBody = true
					continue
				}
				var b bytes.Buffer
				if sz := it.Literal.Size(); sz > 0 && sz <= cfg.MaxMessageBytes {
					b.Grow(int(sz))
				}
				_, rerr = io.Copy(&b, io.LimitReader(it.Literal, cfg.MaxMessageBytes+1))
				raw = b.Bytes()
			}
			if rerr != nil {
				break
			}
		}
		if rerr != nil {
			// The connection broke inside the literal (or the watchdog
			// closed it). go-imap's Next and Close would read the rest of
			// that literal again, from the buffer its reading goroutine is
			// reading at the same time (a data race): leave the command
			// and close the connection instead.
			s.cl.Close()
			watchdog.Stop()
			return f.fail(fmt.Errorf("read message: %w", rerr))
		}
		t, ok := f.tickets[uid]
		if !ok || f.received[uid] {
			continue // not asked for (see UID FETCH quirk) or repeated
		}
		if !body {
			s.m.log.Debug("FETCH response without the body; the message is asked for again", "uid", uid)
			continue
		}
		f.received[uid] = true
		watchdog.Reset(cfg.FetchTimeout)
		s.m.c.fetched.WithLabelValues(s.m.name).Inc()
		s.m.mu.Lock()
		delete(s.m.attempts, uid)
		s.m.mu.Unlock()
		switch {
		case len(raw) == 0:
			what := "an empty BODY[] literal"
			if nilBody {
				what = "BODY[] NIL"
			}
			f.unread = append(f.unread, job{uid: uid, ticket: t, kind: "unparseable",
				reason: "empty message: the server returned no bytes for it (" + what + ")"})
			continue
		case int64(len(raw)) > cfg.MaxMessageBytes:
			f.unread = append(f.unread, job{uid: uid, ticket: t, kind: "too_large", reason: fmt.Sprintf("message is over max_message_bytes (%d)", cfg.MaxMessageBytes)})
			continue
		}
		// The watchdog times the server, not the workers: a pipeline
		// slower than fetch_timeout must not close the connection and
		// count a broken fetch against the next message.
		watchdog.Stop()
		if err := s.dispatch(ctx, job{uid: uid, ticket: t, raw: raw}); err != nil {
			cmd.Close()
			return f.fail(err)
		}
		watchdog.Reset(cfg.FetchTimeout)
	}
	if err := cmd.Close(); err != nil {
		watchdog.Stop()
		return f.fail(fmt.Errorf("fetch: %w", err))
	}
	return nil
}

func (s *session) weight(j job) int64 {
	return min(int64(len(j.raw)), s.m.c.cfg.BufferBytes)
}

func (s *session) dispatch(ctx context.Context, j job) error {
	if err := s.mem.Acquire(ctx, s.weight(j)); err != nil {
		s.win.Ack(j.ticket, false)
		return err
	}
	select {
	case s.jobs <- j:
		return nil
	case <-ctx.Done():
		s.mem.Release(s.weight(j))
		s.win.Ack(j.ticket, false)
		return ctx.Err()
	}
}

// ack is the AckFunc of one message.
func (s *session) ack(j job) minsheng.AckFunc {
	return func(_ minsheng.Outcome, err error) {
		// Listed for after_ack before the window hears of it: the session
		// takes the list once the window is idle, and must find this one.
		if err == nil && s.m.c.cfg.AfterAck != AfterAckNone {
			s.amu.Lock()
			s.acked = append(s.acked, imap.UID(j.uid))
			s.amu.Unlock()
		}
		if s.win.Ack(j.ticket, err == nil) {
			if done, ok := s.win.Done(); ok {
				s.m.advance(s.uv, done)
			}
		}
	}
}

// moveHandled moves, for after_ack: move, the mail still in the mailbox at
// or below the checkpoint's UID: every one of them was handled (that is
// what the checkpoint records), but its move was not done, the gateway
// having stopped between the ack and the move, or the move having failed.
// Only UIDs up to the checkpoint are asked for, so mail not handled is
// never moved, and nothing is handled again. A failure is tried again at a
// later wake of the session (moved), and by the next session.
func (s *session) moveHandled(upTo uint32) {
	cfg := &s.m.c.cfg
	var set imap.UIDSet
	set.AddRange(1, imap.UID(upTo))
	var uids []imap.UID
	err := s.m.guard(s.cl, "search handled mail not moved", func() error {
		data, err := s.cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
		if err != nil {
			return err
		}
		for _, u := range data.AllUIDs() {
			if uint32(u) <= upTo { // a server may answer 1:n with its last UID too
				uids = append(uids, u)
			}
		}
		return nil
	})
	if err == nil {
		for _, set := range uidChunks(uids) {
			if err = s.m.guard(s.cl, "move handled mail", func() error {
				_, err := s.cl.Move(set, cfg.MoveTo).Wait()
				return err
			}); err != nil {
				break
			}
		}
	}
	s.moved(err, len(uids))
	if err == nil {
		s.movePending, s.moveDelay = false, 0
		if len(uids) > 0 {
			s.m.log.Info("moved mail handled before but not moved then", "messages", len(uids), "to", cfg.MoveTo)
		}
		if s.m.moveFail != "" {
			s.m.moveFail = ""
			s.m.log.Info("after_ack move works again", "to", cfg.MoveTo)
		}
	}
}

// retryMoves moves, at a wake of the session (IDLE or the poll having
// returned), the handled mail that a failed move left in the mailbox,
// once moveAt has come: every acknowledged mail is at or below the
// checkpoint by then, the session having waited for its acks.
func (s *session) retryMoves() {
	if !s.movePending || time.Now().Before(s.moveAt) {
		return
	}
	s.m.mu.Lock()
	upTo := s.m.cp.UID
	s.m.mu.Unlock()
	s.moveHandled(upTo)
}

// moved notes a move's failure (nil: none), of n messages: the mail is
// moved again by retryMoves, at once at the next wake the first time, then
// no sooner than min_backoff, doubling to max_backoff, so a move that
// always fails is not tried at every new mail. It is logged at warn once
// for each kind of failure in a row, at debug after that.
func (s *session) moved(err error, n int) {
	if err == nil {
		return
	}
	cfg := &s.m.c.cfg
	if s.movePending {
		s.moveDelay = min(max(s.moveDelay*2, cfg.MinBackoff), cfg.MaxBackoff)
	}
	s.movePending = true
	s.moveAt = time.Now().Add(s.moveDelay)
	kind := moveFailure(err)
	if kind == s.m.moveFail {
		s.m.log.Debug("handled mail not moved, again", "messages", n, "to", cfg.MoveTo, "err", err, "retry_in", s.moveDelay)
		return
	}
	s.m.moveFail = kind
	s.m.log.Warn("handled mail not moved; tried again when the session next wakes, backing off while it fails (logged once while it fails so)",
		"messages", n, "to", cfg.MoveTo, "err", err)
}

// moveFailure is the kind of a failed move: the server's response code
// (TRYCREATE for a mailbox that does not exist) or, without one, the
// text of the error.
func moveFailure(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		if ie.Code != "" {
			return string(ie.Code)
		}
		return ie.Text
	}
	return err.Error()
}

// maxSetRanges bounds the ranges of one command's UID set, so that its
// line stays near RFC 7162's advice of 8,192 octets: servers refuse a
// longer one (Dovecot's limit is 64 KiB: BAD "Too long argument").
const maxSetRanges = 400

// uidChunks turns uids into UID sets of at most maxSetRanges ranges each,
// one for each command.
func uidChunks(uids []imap.UID) []imap.UIDSet {
	all := imap.UIDSetNum(uids...)
	var out []imap.UIDSet
	for len(all) > maxSetRanges {
		out = append(out, all[:maxSetRanges:maxSetRanges])
		all = all[maxSetRanges:]
	}
	if len(all) > 0 {
		out = append(out, all)
	}
	return out
}

// afterAck marks or moves the messages acknowledged so far.
func (s *session) afterAck() {
	cfg := &s.m.c.cfg
	if cfg.AfterAck == AfterAckNone {
		return
	}
	s.amu.Lock()
	uids := s.acked
	s.acked = nil
	s.amu.Unlock()
	if len(uids) == 0 {
		return
	}
	if cfg.AfterAck == AfterAckMove && s.movePending {
		return // moved with the mail a failed move left, by retryMoves
	}
	var err error
	for _, set := range uidChunks(uids) {
		if err = s.m.guard(s.cl, "after_ack "+cfg.AfterAck, func() error {
			if cfg.AfterAck == AfterAckSeen {
				return s.cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
			}
			_, err := s.cl.Move(set, cfg.MoveTo).Wait()
			return err
		}); err != nil {
			break
		}
	}
	switch {
	case err == nil:
	case cfg.AfterAck == AfterAckMove:
		s.moved(err, len(uids))
	default:
		// The checkpoint is the record of what was handled; the flag or
		// the move is a courtesy to people reading the mailbox.
		s.m.log.Warn("after_ack action failed", "action", cfg.AfterAck, "messages", len(uids), "err", err)
	}
}

// handle turns one fetched message into an item (or a quarantined input)
// and hands it to the pipeline.
func (s *session) handle(ctx context.Context, j job) {
	c := s.m.c
	ack := s.ack(j)
	if j.raw == nil {
		s.quarantine(ctx, j, j.ref, j.reason, nil, ack)
		return
	}
	info, err := c.env.Blobs.Put(ctx, bytes.NewReader(j.raw), c.cfg.MaxMessageBytes)
	if err != nil {
		s.m.log.Error("raw message not stored; will be fetched again", "uid", j.uid, "err", err)
		s.win.Ack(j.ticket, false)
		return
	}
	msg, perr := Parse(j.raw)
	if perr != nil {
		sum := info.SHA256
		s.quarantine(ctx, j, "sha256:"+sum[:24], perr.Error(), &info, ack)
		return
	}
	it, err := s.item(ctx, msg, j, info)
	if err != nil {
		s.m.log.Error("attachment not stored; message will be fetched again", "uid", j.uid, "err", err)
		s.win.Ack(j.ticket, false)
		return
	}
	// Validate as the pipeline will, on a copy (the pipeline gives the
	// trace ID).
	probe := *it
	probe.Prepare(time.Now())
	if errs := probe.Validate(); len(errs) > 0 {
		s.quarantine(ctx, j, msg.Ref(), "mail is not a valid item: "+errs.Error(), &info, ack)
		return
	}
	if err := s.out.Emit(ctx, it, ack); err != nil {
		s.win.Ack(j.ticket, false)
		return
	}
	c.parsed.WithLabelValues(s.m.name).Inc()
}

func (s *session) quarantine(ctx context.Context, j job, ref, reason string, info *minsheng.BlobInfo, ack minsheng.AckFunc) {
	c := s.m.c
	kind := j.kind
	if kind == "" {
		kind = "unparseable"
	}
	q := &minsheng.Quarantined{
		Channel: minsheng.ChannelMayorMailbox, Source: c.name, Ref: clipBytes(ref, 256),
		ReceivedAt: time.Now().UTC(), Reason: clipBytes(reason, 1000),
	}
	if info != nil {
		q.RawRef = info.Ref
	}
	if j.raw != nil && c.cfg.QuarantineRawMax >= 0 && len(j.raw) <= c.cfg.QuarantineRawMax {
		q.Raw = j.raw
	}
	s.m.log.Warn("message quarantined", "uid", j.uid, "reason", minsheng.LogReason(q.Reason))
	if err := s.out.Quarantine(ctx, q, ack); err != nil {
		s.win.Ack(j.ticket, false)
		return
	}
	c.quarantined.WithLabelValues(s.m.name, kind).Inc()
}

// item builds the item of a parsed message, storing its attachments.
func (s *session) item(ctx context.Context, msg *Message, j job, raw minsheng.BlobInfo) (*minsheng.Item, error) {
	c := s.m.c
	it := buildItem(c.name, s.m.name, s.uv, j.uid, msg, time.Now())
	it.RawRef = raw.Ref
	for _, a := range msg.Attachments {
		info, err := c.env.Blobs.Put(ctx, bytes.NewReader(a.Data), c.cfg.MaxMessageBytes)
		if err != nil {
			return nil, fmt.Errorf("store attachment: %w", err)
		}
		it.Attachments = append(it.Attachments, minsheng.Attachment{Name: a.Name, Type: a.Type, Size: info.Size, SHA256: info.SHA256, Ref: info.Ref})
	}
	return it, nil
}

// buildItem maps a parsed message to an item (without its attachments and
// raw reference, which need the blob store).
func buildItem(source, mailbox string, uidValidity, uid uint32, msg *Message, now time.Time) *minsheng.Item {
	it := &minsheng.Item{
		SchemaVersion: minsheng.SchemaVersion,
		Channel:       minsheng.ChannelMayorMailbox,
		Source:        source,
		Ref:           msg.Ref(),
		ReceivedAt:    now.UTC(),
		SubmittedAt:   msg.Date,
		Title:         clipRunes(msg.Subject, 500),
		Body:          clipRunes(msg.Body, 100000),
		Complainant:   minsheng.Complainant{Name: msg.FromName, Email: msg.FromEmail},
		Automated:     clipRunes(msg.Automated, 200),
		Attrs: map[string]string{
			"mailbox":  clipBytes(mailbox, 2000),
			"imap_uid": strconv.FormatUint(uint64(uidValidity), 10) + "/" + strconv.FormatUint(uint64(uid), 10),
		},
	}
	it.ID = minsheng.ItemID(it.Channel, it.Source, it.Ref)
	if msg.MessageID != "" {
		it.Attrs["message_id"] = clipBytes(msg.MessageID, 2000)
	}
	if msg.Body != msg.Text {
		it.Attrs["body_trimmed"] = "quoted reply or signature cut; the whole mail is at raw_ref"
	}
	if len(msg.Notes) > 0 {
		b, _ := json.Marshal(msg.Notes)
		it.Attrs["charset_notes"] = clipBytes(string(b), 2000)
	}
	if it.Body == "" && it.Title == "" {
		it.Body = "(no text; see the attachments)"
	}
	return it
}
