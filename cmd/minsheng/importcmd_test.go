package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/xuri/excelize/v2"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/store"
)

var importTexts = []string{
	"小区路灯坏了两个星期没人修，晚上出行很不方便。",
	"单位拖欠工资三个月，多次讨要没有结果，请帮忙协调。",
	"楼下商铺噪音扰民，晚上十二点以后还在放音乐。",
	"公交站台被占用停车，乘客只能站在马路上等车。",
}

func writeExportCSV(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := csv.NewWriter(bufio.NewWriter(f))
	w.Write([]string{"工单编号", "来电人", "联系电话", "来电时间", "诉求内容", "诉求地址"})
	for i := 0; i < n; i++ {
		ref := fmt.Sprintf("GD%07d", i+1)
		if i%997 == 5 {
			ref = "" // rejected: no reference
		}
		w.Write([]string{ref, "市民", fmt.Sprintf("1390000%04d", i%10000),
			time.Date(2022, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format("2006/1/2 15:04:05"),
			importTexts[i%len(importTexts)], "黄岛区长江中路"})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
}

// summaryCounts parses the last line, which must read exactly
// "imported=N duplicates=N rejected=N".
func summaryCounts(t *testing.T, stdout string) (imp, dup, rej int) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	if _, err := fmt.Sscanf(last, "imported=%d duplicates=%d rejected=%d", &imp, &dup, &rej); err != nil ||
		last != fmt.Sprintf("imported=%d duplicates=%d rejected=%d", imp, dup, rej) {
		t.Fatalf("last line %q is not imported=N duplicates=N rejected=N (stdout %q)", last, stdout)
	}
	return
}

// SIGINT during an import: the command drains what it sent, prints its
// summary and exits 1; run again, it finishes, and the totals add up.
func TestImportCommandInterruptedAndResumed(t *testing.T) {
	dir := t.TempDir()
	const rows = 30000
	file := filepath.Join(dir, "export.csv")
	writeExportCSV(t, file, rows)
	data := filepath.Join(dir, "data")
	args := []string{"import", "--data", data, "--channel", "hotline", "--source", "export",
		"--progress", "lines", "--progress-every", "20ms", "--rejects", filepath.Join(dir, "rejects.csv"), file}

	cmd := exec.Command(binary, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "import: ") && strings.Contains(sc.Text(), "rows read") {
			cmd.Process.Signal(syscall.SIGINT)
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	imp1, dup1, rej1 := summaryCounts(t, stdout.String())
	if code != 1 || !strings.Contains(stdout.String(), "interrupted") || imp1+rej1 >= rows {
		t.Fatalf("first run: exit %d, %d imported, %d rejected; want an interrupted run (stdout %q)", code, imp1, rej1, stdout.String())
	}

	out, errOut, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
	imp2, dup2, rej2 := summaryCounts(t, out)
	if imp2+dup2+rej2 != rows {
		t.Errorf("second run: %d+%d+%d != %d rows", imp2, dup2, rej2, rows)
	}
	if dup2 != imp1+dup1 {
		t.Errorf("second run duplicates %d, first run imported %d", dup2, imp1)
	}
	if want := (rows + 991) / 997; rej2 != want {
		t.Errorf("rejected %d, want %d", rej2, want)
	}
}

// An XLSX export into Kafka (a kfake broker): every imported row lands on
// the topics its record names, and nothing else does.
func TestImportCommandToKafka(t *testing.T) {
	k := testkafka.StartT(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "minsheng.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`log: {level: warn}
kafka:
  brokers: [%s]
  create_topics: true
destinations:
  media_oversight: {sink: kafka}
  petition: {sink: kafka}
  gov_service: {sink: kafka}
  discipline: {sink: kafka}
  rejected: {sink: kafka}
  review: {sink: kafka}
  dead_letter: {sink: kafka}
`, k.Addrs()[0])), 0o644)
	f := excelize.NewFile()
	f.SetSheetRow("Sheet1", "A1", &[]any{"留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "点赞数"})
	const n = 120
	for i := 0; i < n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		f.SetSheetRow("Sheet1", cell, &[]any{fmt.Sprint(500000 + i), "U0001", "关于小区问题的反映",
			fmt.Sprintf("2019/4/%d 9:32:09", 1+i%28), importTexts[i%len(importTexts)], i % 7})
	}
	file := filepath.Join(dir, "附件.xlsx")
	if err := f.SaveAs(file); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	out, errOut, code := runCmd(t, "import", "--config", cfg, "--data", data, "--channel", "message_board", "--source", "board-export", "--progress", "none", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if imp, dup, rej := summaryCounts(t, out); imp != n || dup != 0 || rej != 0 {
		t.Fatalf("imported=%d duplicates=%d rejected=%d", imp, dup, rej)
	}

	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	perTopic := map[string]int64{}
	for i := 0; i < n; i++ {
		r, err := st.Lookup(context.Background(), minsheng.ItemID(minsheng.ChannelMessageBoard, "board-export", fmt.Sprint(500000+i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Destinations) == 0 {
			t.Fatalf("row %d: no destinations", i)
		}
		for _, d := range r.Destinations {
			perTopic["minsheng."+d]++
		}
	}
	for topic, want := range perTopic {
		var got int64
		for p := 0; p < 6; p++ {
			conn, err := kafka.DialLeader(context.Background(), "tcp", k.Addrs()[0], topic, p)
			if err != nil {
				t.Fatal(err)
			}
			last, err := conn.ReadLastOffset()
			conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			got += last
		}
		if got != want {
			t.Errorf("topic %s holds %d messages, the ledger names it for %d items", topic, got, want)
		}
	}
}

// A 12345 export with the caller's ID card, second phone and home address
// in extra columns, for a case with a discipline lead: those reach no
// destination (the importer withholds them), and the caller's name and
// phone reach the inspectors only.
func TestImportWithholdsIdentityFromThoseNotEntitled(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "minsheng.yaml")
	// A rule makes the class certain, so that the lead fans out to a
	// destination that is not entitled (media_oversight) whatever the model.
	os.WriteFile(cfg, []byte(`log: {level: warn}
triage:
  rules: [{name: press, any: [请记者曝光], class: media_oversight, force: true}]
`), 0o644)
	file := filepath.Join(dir, "export.csv")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"工单编号", "来电人", "联系电话", "来电时间", "诉求内容", "诉求地址", "身份证号", "备用电话", "来电人住址"})
	w.Write([]string{"GD0000001", "吴某", "13000000001", "2026/11/2 9:00:00",
		"小区门口道路塌陷多日无人修复，社区主任收受施工方好处费，对居民反映置之不理，请记者曝光。", "黄岛区长江中路",
		"370202199001011234", "13911112222", "市北区某路 8 号"})
	w.Flush()
	f.Close()
	data := filepath.Join(dir, "data")
	out, errOut, code := runCmd(t, "import", "--config", cfg, "--data", data, "--channel", "hotline", "--source", "export", "--progress", "none", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "not imported: 备用电话,来电人住址,身份证号") {
		t.Errorf("the summary does not name the withheld columns:\n%s", out)
	}
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Lookup(context.Background(), minsheng.ItemID(minsheng.ChannelHotline, "export", "GD0000001"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Destinations, []string{"media_oversight", "discipline"}) {
		t.Fatalf("destinations %v, want media_oversight and discipline", rec.Destinations)
	}
	for _, dest := range rec.Destinations {
		msgs, err := st.Read(context.Background(), dest, "test-reader", 10, time.Minute, 0)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: %d messages, %v", dest, len(msgs), err)
		}
		raw, _ := json.Marshal(msgs[0].Envelope)
		for _, secret := range []string{"370202199001011234", "13911112222", "市北区某路 8 号"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("%s: the message holds the caller's %q", dest, secret)
			}
		}
		for _, id := range []string{"吴某", "13000000001"} {
			if strings.Contains(string(raw), id) != (dest == "discipline") {
				t.Errorf("%s: holds %q = %v", dest, id, strings.Contains(string(raw), id))
			}
		}
		if !strings.Contains(string(raw), "黄岛区长江中路") {
			t.Errorf("%s: the problem's address is missing", dest)
		}
	}
}

// An import under a desk's name is refused: its rows would share IDs with
// the desk's own letters of the same reference.
func TestImportRefusesADesksName(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "minsheng.yaml")
	t.Setenv("MS_TEST_IMPORT_DESK", "import-desk-token-0123456789abcdef")
	os.WriteFile(cfg, []byte("log: {level: warn}\ndesks:\n  - name: qingdao-daily\n    channel: newspaper\n    token_env: MS_TEST_IMPORT_DESK\n"), 0o644)
	file := filepath.Join(dir, "export.csv")
	os.WriteFile(file, []byte("信件编号,来电人,来电时间,诉求内容\nQD-1,赵六,2026/11/21 09:30:00,小区门口路灯坏了一个月\n"), 0o644)
	_, errOut, code := runCmd(t, "import", "--config", cfg, "--data", filepath.Join(dir, "data"), "--channel", "newspaper", "--source", "qingdao-daily", "--progress", "none", file)
	if code == 0 || !strings.Contains(errOut, `--source "qingdao-daily" is the name of a desk`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestImportRefusesANonPositiveProgressInterval: --progress-every -1s
// crashed the import (time.NewTicker: non-positive interval); it is refused
// naming the flag, before the store opens.
func TestImportRefusesANonPositiveProgressInterval(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.csv")
	os.WriteFile(file, []byte("工单编号,内容,登记日期\nA1,路灯坏了很久没人修请尽快处理,2024-03-06 10:00:00\n"), 0o600)
	for _, every := range []string{"-1s", "0s"} {
		_, errOut, code := runCmd(t, "import", "--data", filepath.Join(dir, "data"), "--channel", "hotline", "--progress", "lines",
			"--progress-every", every, "--column", "body=内容", "--column", "time=登记日期", file)
		if code != exitConfig || !strings.Contains(errOut, "--progress-every") || strings.Contains(errOut, "panic") {
			t.Errorf("--progress-every %s: exit %d, want %d naming the flag\n%s", every, code, exitConfig, errOut)
		}
	}
}
