package e2eaudit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/segmentio/kafka-go"
	"golang.org/x/text/encoding/simplifiedchinese"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/imap/internal/dovetest"
	"github.com/minsheng/minsheng/internal/testkafka"
)

// mail is one generated or corpus mail with what identifies it downstream.
type mail struct {
	n     int
	raw   []byte
	hash  string // first 24 hex digits of SHA-256(raw): the ref's tail
	from  string // the complainant's address
	token string // an ASCII token only the body holds
	phone string
}

var classTexts = []struct{ subject, body string }{
	{"小区门口道路塌陷多日无人修复", "东门外人行道塌陷成坑，已有老人摔伤，请尽快修复。"},
	{"路灯坏了一个月没人管", "中山路路灯已经坏了一个月，晚上走路很危险，请有关部门尽快修理。"},
	{"反映村支书贪污扶贫款", "我村村支书王某多年来侵占扶贫款，收受贿赂，群众敢怒不敢言，请纪委调查。"},
	{"多次上访问题仍未解决", "我家房屋被强拆，补偿款至今未到位，已多次到信访局上访，依照信访条例请求依法处理。"},
	{"希望媒体曝光黑心商家", "某超市长期出售过期食品，投诉无门，希望报社记者前来曝光，引起社会关注。"},
	{"噪音扰民严重", "楼下饭店油烟和噪音扰民，晚上十二点还在营业，环保部门请管一管。"},
	{"学校乱收费问题", "孩子所在小学巧立名目乱收费，校长态度恶劣，教育局请调查处理。"},
	{"供暖不热", "今年冬天家里暖气温度只有十二度，热力公司推诿扯皮，请督促整改。"},
}

func encodeGB(s string, gbk bool) []byte {
	var b []byte
	var err error
	if gbk {
		b, err = simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	} else {
		b, err = simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s)) // all in GB2312's set
	}
	if err != nil {
		panic(err)
	}
	return b
}

// genMail makes mail n: UTF-8, GB2312 or GBK, base64 or QP, some long
// (petition over the topic's max.message.bytes), some unparseable.
func genMail(n int, long bool) *mail {
	t := classTexts[n%len(classTexts)]
	if long {
		t = classTexts[3]
	}
	m := &mail{n: n, from: fmt.Sprintf("citizen%05d@mail.example.cn", n), token: fmt.Sprintf("BTK%05dQZ", n), phone: fmt.Sprintf("139%08d", n)}
	body := fmt.Sprintf("市长您好：\r\n%s（第%d封，编号%s）\r\n联系电话%s。\r\n", t.body, n, m.token, m.phone)
	if long {
		body += strings.Repeat("补偿款至今未到位，多次上访无果，请依法处理。\r\n", 160)
	}
	subject := fmt.Sprintf("%s（%d）", t.subject, n)
	var cs string
	var bodyBytes []byte
	var subj string
	switch n % 3 {
	case 0:
		cs, bodyBytes = "utf-8", []byte(body)
		subj = mime.BEncoding.Encode("utf-8", subject)
	case 1:
		cs, bodyBytes = "gb2312", encodeGB(body, false)
		subj = "=?gb2312?B?" + base64.StdEncoding.EncodeToString(encodeGB(subject, false)) + "?="
	case 2:
		cs, bodyBytes = "gbk", encodeGB(body, true)
		subj = "=?GBK?B?" + base64.StdEncoding.EncodeToString(encodeGB(subject, true)) + "?="
	}
	var enc, encoded string
	if n%2 == 0 {
		enc, encoded = "base64", wrap(base64.StdEncoding.EncodeToString(bodyBytes))
	} else {
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write(bodyBytes)
		w.Close()
		enc, encoded = "quoted-printable", strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n", "\r\n")
	}
	name := mime.BEncoding.Encode("utf-8", fmt.Sprintf("市民%d", n))
	raw := fmt.Sprintf("Message-ID: <e2e.%d@mail.example.cn>\r\nFrom: %s <%s>\r\nTo: mayor@qingdao.gov.cn\r\nSubject: %s\r\nDate: Tue, 5 Mar 2024 09:30:00 +0800\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n%s\r\n",
		n, name, m.from, subj, cs, enc, encoded)
	m.raw = []byte(raw)
	return m
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func finish(m *mail) *mail {
	m.raw = bytes.ReplaceAll(bytes.ReplaceAll(m.raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	sum := sha256.Sum256(m.raw)
	m.hash = hex.EncodeToString(sum[:])[:24]
	return m
}

// corpus reads up to n mails of the trec06c subset (never copied anywhere).
func corpus(t *testing.T, n int) []*mail {
	var out []*mail
	for _, d := range []string{"ham", "spam"} {
		dir := "/work/shared/data/trec06c-ccert-subset/" + d
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Logf("corpus: %v", err)
			return out
		}
		for i, e := range ents {
			if i >= n/2 {
				break
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, finish(&mail{n: -1, raw: b}))
		}
	}
	return out
}

func appendAll(t *testing.T, addr string, ms []*mail) {
	t.Helper()
	for tries := 0; ; tries++ {
		err := func() error {
			cl, err := imapclient.DialInsecure(addr, nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.Login(dovetest.User, dovetest.Password).Wait(); err != nil {
				return err
			}
			for len(ms) > 0 {
				cmd := cl.Append("INBOX", int64(len(ms[0].raw)), nil)
				cmd.Write(ms[0].raw)
				cmd.Close()
				if _, err := cmd.Wait(); err != nil {
					return err
				}
				ms = ms[1:]
			}
			return nil
		}()
		if err == nil {
			return
		}
		if tries > 50 {
			t.Fatalf("append: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func inboxCount(addr string) (uint32, error) {
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cl.Login(dovetest.User, dovetest.Password).Wait(); err != nil {
		return 0, err
	}
	d, err := cl.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, err
	}
	return *d.NumMessages, nil
}

// gw is the built gateway run as a process.
type gw struct {
	bin, cfg, data, listen, metrics string
	log                             *os.File
	cmd                             *exec.Cmd
	exited                          chan struct{}
}

func (g *gw) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(g.bin, "run", "--config", g.cfg, "--data", g.data, "--listen", g.listen)
	cmd.Stdout, cmd.Stderr = g.log, g.log
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(g.exited) }()
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", g.listen); err == nil {
			c.Close()
			return
		}
		select {
		case <-g.exited:
			t.Fatalf("gateway exited at start: %v", cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("gateway does not listen")
}

func (g *gw) signal(t *testing.T, sig syscall.Signal) time.Duration {
	start := time.Now()
	g.cmd.Process.Signal(sig)
	select {
	case <-g.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not stop")
	}
	return time.Since(start)
}

func (g *gw) metric(name string) (float64, bool) {
	resp, err := http.Get("http://" + g.metrics + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.e+-]+)$`)
	var sum float64
	found := false
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		var v float64
		fmt.Sscan(m[2], &v)
		sum += v
		found = true
	}
	return sum, found
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const configTmpl = `log: {level: info, format: json}
metrics_listen: %[5]s
shutdown_timeout: 15s
pipeline:
  route_timeout: 2s
  finish_interval: 3s
kafka:
  brokers: [%[1]s]
  create_topics: false
  partitions: 3
  write_timeout: 2s
destinations:
  media_oversight: {sink: kafka}
  petition: {sink: kafka}
  gov_service: {sink: kafka}
  discipline: {sink: kafka}
  rejected: {sink: kafka}
  review: {sink: kafka}
  dead_letter: {sink: queue}
  discipline_dead_letter: {sink: queue}
routes:
  classes:
    media_oversight: [media_oversight]
    petition: [petition]
    gov_service: [gov_service]
    discipline: [discipline]
  discipline_lead: [discipline]
inputs:
  - name: mayor-mailbox
    imap:
      address: %[2]s
      tls: none
      username: %[3]s
      password_file: %[4]s
      idle: true
      poll_interval: 2s
      after_ack: move
      move_to: Archive
      min_backoff: 200ms
      max_backoff: 1s
      fetch_batch: 100
      workers: 32
`

type holding struct {
	topicCopies map[string]int // destination → copies in its topic
	queues      map[string]int // embedded queue → messages
	keys        map[string]bool
}

func readTopics(t *testing.T, k *testkafka.Cluster, dests []string, byHash map[string]*holding, keyHash map[string]string) (dups int) {
	for _, d := range dests {
		msgs := readAll(t, k.Addrs()[0], "minsheng."+d)
		for _, m := range msgs {
			var env minsheng.Envelope
			if err := json.Unmarshal(m.Value, &env); err != nil {
				t.Errorf("%s: bad value: %v", d, err)
				continue
			}
			h := envHash(&env)
			hd := byHash[h]
			if hd == nil {
				t.Errorf("%s: record of no known mail: key %s ref %q", d, m.Key, envRef(&env))
				continue
			}
			hd.topicCopies[d]++
			hd.keys[string(m.Key)] = true
			keyHash[string(m.Key)] = h
			if hd.topicCopies[d] > 1 {
				dups++
			}
			// Every topic tells its class but review's: triage's class of
			// an item in review is withheld from a desk not told of leads.
			if has := testkafka.Header(kafka.Message(m), "minsheng-class") != ""; has != (d != "review") {
				t.Errorf("%s: class header %v, want %v", d, has, d != "review")
			}
		}
	}
	return dups
}

func envRef(e *minsheng.Envelope) string {
	if e.Item != nil {
		return e.Item.Ref
	}
	if e.Quarantine != nil {
		return e.Quarantine.Ref
	}
	return ""
}

func envHash(e *minsheng.Envelope) string {
	r := envRef(e)
	if i := strings.LastIndexAny(r, "#:"); i >= 0 {
		return r[i+1:]
	}
	return r
}

func summary(m map[string]int) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// readAll reads every partition of a topic from its first offset to its
// end, as of now (no consumer group: every record counts).
func readAll(t *testing.T, addr, topic string) []kafka.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var out []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last <= first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond, MaxBytes: 10 << 20})
		r.SetOffset(first)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}
