// Command loadgen posts items to a Minsheng gateway's desk API and prints
// throughput and request→202 latency. It runs either closed-loop (N clients
// posting as fast as they are answered) or open-loop at a fixed rate, where
// latency is measured from each request's scheduled time, so a stalled
// gateway cannot hide its stall (no coordinated omission).
//
//	loadgen -url http://127.0.0.1:8080 -token $TOKEN -clients 64 -duration 20s
//	loadgen -url http://127.0.0.1:8080 -token $TOKEN -rate 1000 -duration 20s
//
// Bodies are ~620-byte Chinese letters written for this tool, or JSON lines
// with title and body from -bodies FILE. The client speaks plain HTTP/1.1
// over keep-alive connections (one per client) and does not ask for gzip.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "gateway base URL")
	token := flag.String("token", os.Getenv("MINSHENG_TOKEN"), "desk token (default $MINSHENG_TOKEN)")
	clients := flag.Int("clients", 64, "concurrent clients (closed loop), or the most requests in flight (open loop)")
	rate := flag.Float64("rate", 0, "requests per second (open loop); 0: as fast as the clients go")
	duration := flag.Duration("duration", 20*time.Second, "how long to measure")
	warmup := flag.Duration("warmup", 2*time.Second, "load before measuring (not counted)")
	bodies := flag.String("bodies", "", "JSON lines with title and body to post (default: built-in letters)")
	prefix := flag.String("prefix", fmt.Sprintf("lg-%d", time.Now().UnixNano()), "ref prefix; each request gets a new ref")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -token (or MINSHENG_TOKEN) is required")
		os.Exit(2)
	}
	letters := builtinLetters
	if *bodies != "" {
		var err error
		if letters, err = readBodies(*bodies); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	u, err := neturl.Parse(*url)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url must be http://host:port")
		os.Exit(2)
	}
	g := &gen{addr: u.Host, host: u.Host, path: strings.TrimRight(u.Path, "/") + "/v1/items",
		token: *token, letters: letters, prefix: *prefix}
	g.prepare()

	var s *stats
	if *rate > 0 {
		s = g.openLoop(ctx, *rate, *clients, *warmup, *duration)
	} else {
		s = g.closedLoop(ctx, *clients, *warmup, *duration)
	}
	s.print(os.Stdout, *rate, *clients)
	if s.ok == 0 {
		os.Exit(1)
	}
}

type letter struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

type gen struct {
	addr    string // host:port
	host    string
	path    string
	token   string
	letters []letter
	prefix  string
	seq     atomic.Int64
	pre     [][]byte // each letter's JSON after the ref, ready to send
}

// conn is one keep-alive HTTP/1.1 connection. The client is hand-rolled
// (a request is a few appends and one write; a response is a status line,
// Content-Length and the body) so that the load generator spends far less
// CPU per request than the gateway it measures, on the same cores.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func (g *gen) prepare() {
	for _, l := range g.letters {
		tail, _ := json.Marshal(map[string]any{"title": l.Title, "body": l.Body,
			"submitted_at": "2026-11-22T09:30:00+08:00",
			"complainant":  map[string]any{"name": "测试用户", "phone": "13800000000", "anonymous": false, "consent_to_publish": false}})
		g.pre = append(g.pre, tail[1:]) // without the opening brace
	}
}

func (g *gen) dial() (*conn, error) {
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// post sends one item and returns the status and whether it was a repeat.
func (g *gen) post(c *conn) (int, bool, error) {
	n := g.seq.Add(1)
	tail := g.pre[int(n)%len(g.pre)]
	ref := strconv.AppendInt([]byte(g.prefix+"-"), n, 10)
	bodyLen := len(`{"ref":"",`) + len(ref) + len(tail)
	b := c.buf[:0]
	b = append(b, "POST "...)
	b = append(b, g.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, g.host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, g.token...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(bodyLen), 10)
	b = append(b, "\r\n\r\n{\"ref\":\""...)
	b = append(b, ref...)
	b = append(b, "\","...)
	b = append(b, tail...)
	c.buf = b
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		return 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	length := -1
	closeAfter := false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(bytes.TrimSpace(h), []byte(":")); ok {
			switch {
			case bytes.EqualFold(k, []byte("Content-Length")):
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(bytes.TrimSpace(v), []byte("close")):
				closeAfter = true
			}
		}
	}
	if length < 0 {
		return 0, false, fmt.Errorf("response without Content-Length")
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, false, err
	}
	if closeAfter {
		return status, false, errClosed
	}
	return status, bytes.Contains(body, []byte(`"duplicate":true`)), nil
}

var errClosed = fmt.Errorf("server closed the connection")

type sample struct {
	lat    time.Duration
	status int
}

type stats struct {
	mu        sync.Mutex
	lats      []time.Duration
	ok, dup   int
	byStatus  map[int]int
	errs      int
	measured  time.Duration
	lateStart int // open loop: requests sent later than scheduled because all clients were busy
}

func (s *stats) add(x sample, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byStatus == nil {
		s.byStatus = map[int]int{}
	}
	s.byStatus[x.status]++
	if x.status == http.StatusAccepted {
		s.ok++
		if dup {
			s.dup++
		}
		s.lats = append(s.lats, x.lat)
	} else if x.status == 0 {
		s.errs++
	}
}

func (g *gen) closedLoop(ctx context.Context, clients int, warmup, duration time.Duration) *stats {
	s := &stats{}
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *conn
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				st, dup, err := g.do(&c)
				if t0.After(measureFrom) && time.Now().Before(end) {
					s.add(sample{time.Since(t0), st}, dup)
				}
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if c != nil {
				c.c.Close()
			}
		}()
	}
	wg.Wait()
	s.measured = min(time.Since(measureFrom), duration)
	return s
}

func (g *gen) openLoop(ctx context.Context, rate float64, maxInFlight int, warmup, duration time.Duration) *stats {
	s := &stats{}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	slots := make(chan *conn, maxInFlight)
	for range maxInFlight {
		slots <- nil
	}
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.After(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		var c *conn
		select {
		case c = <-slots:
		default:
			// every connection is busy: wait, and count the late start
			if due.After(measureFrom) {
				s.mu.Lock()
				s.lateStart++
				s.mu.Unlock()
			}
			select {
			case c = <-slots:
			case <-ctx.Done():
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, dup, _ := g.do(&c)
			slots <- c
			if due.After(measureFrom) {
				s.add(sample{time.Since(due), st}, dup)
			}
		}()
	}
	wg.Wait()
	close(slots)
	for c := range slots {
		if c != nil {
			c.c.Close()
		}
	}
	s.measured = duration
	return s
}

// do posts on *c, dialling first when needed; on an error the connection is
// dropped (and the request counted as a transport error).
func (g *gen) do(c **conn) (int, bool, error) {
	if *c == nil {
		nc, err := g.dial()
		if err != nil {
			return 0, false, err
		}
		*c = nc
	}
	st, dup, err := g.post(*c)
	if err != nil {
		(*c).c.Close()
		*c = nil
		if err == errClosed {
			return st, dup, nil
		}
	}
	return st, dup, err
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

func (s *stats) print(w io.Writer, rate float64, clients int) {
	slices.Sort(s.lats)
	mode := fmt.Sprintf("closed loop, %d clients", clients)
	if rate > 0 {
		mode = fmt.Sprintf("open loop, %.0f requests/s offered (at most %d in flight)", rate, clients)
	}
	fmt.Fprintf(w, "mode:        %s\n", mode)
	fmt.Fprintf(w, "measured:    %s\n", s.measured.Round(time.Millisecond))
	fmt.Fprintf(w, "accepted:    %d (202), %d of them repeats\n", s.ok, s.dup)
	var codes []int
	for c := range s.byStatus {
		if c != http.StatusAccepted {
			codes = append(codes, c)
		}
	}
	sort.Ints(codes)
	for _, c := range codes {
		label := fmt.Sprint(c)
		if c == 0 {
			label = "transport error"
		}
		fmt.Fprintf(w, "other:       %d × %s\n", s.byStatus[c], label)
	}
	if rate > 0 && s.lateStart > 0 {
		fmt.Fprintf(w, "late starts: %d (every client was busy at the scheduled time)\n", s.lateStart)
	}
	fmt.Fprintf(w, "throughput:  %.0f items/s accepted\n", float64(s.ok)/s.measured.Seconds())
	fmt.Fprintf(w, "latency:     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		ms(pct(s.lats, 50)), ms(pct(s.lats, 90)), ms(pct(s.lats, 99)), ms(pct(s.lats, 99.9)), ms(pct(s.lats, 100)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func readBodies(path string) ([]letter, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []letter
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l letter
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if l.Title != "" || l.Body != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no letters", path)
	}
	return out, sc.Err()
}
