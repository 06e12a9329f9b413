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
// with title and body from -bodies FILE. The client does not ask for gzip.
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
	"os"
	"os/signal"
	"slices"
	"sort"
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

	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConns:        *clients * 2,
		MaxIdleConnsPerHost: *clients * 2,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	g := &gen{client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, url: strings.TrimRight(*url, "/") + "/v1/items",
		token: *token, letters: letters, prefix: *prefix}

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
	client  *http.Client
	url     string
	token   string
	letters []letter
	prefix  string
	seq     atomic.Int64
}

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

func (g *gen) post(ctx context.Context) (int, bool) {
	n := g.seq.Add(1)
	l := g.letters[int(n)%len(g.letters)]
	sub := map[string]any{
		"ref": fmt.Sprintf("%s-%d", g.prefix, n), "title": l.Title, "body": l.Body,
		"submitted_at": time.Now().Format(time.RFC3339),
		"complainant":  map[string]any{"name": "测试用户", "phone": "13800000000", "anonymous": false},
	}
	raw, _ := json.Marshal(sub)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, bytes.Contains(body, []byte(`"duplicate":true`))
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
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				st, dup := g.post(ctx)
				if t0.After(measureFrom) && time.Now().Before(end) {
					s.add(sample{time.Since(t0), st}, dup)
				}
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
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.After(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if time.Since(due) > interval && due.After(measureFrom) {
			s.mu.Lock()
			s.lateStart++
			s.mu.Unlock()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			st, dup := g.post(ctx)
			if due.After(measureFrom) {
				s.add(sample{time.Since(due), st}, dup)
			}
		}()
	}
	wg.Wait()
	s.measured = duration
	return s
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
