package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var binary string

// TestMain builds the minsheng binary once: these tests run it as a user
// would, as a separate process that can be killed.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "minsheng-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "minsheng")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startGateway(t *testing.T, data, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, "run", "--data", data, "--listen", addr)
	logf, err := os.Create(filepath.Join(t.TempDir(), "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
	}
	logf.Seek(0, 0)
	b, _ := io.ReadAll(logf)
	t.Fatalf("gateway did not become ready:\n%s", b)
	return nil
}

func postLetter(base, token, ref string) (int, string) {
	body := fmt.Sprintf(`{"ref":%q,"title":"楼道灯坏了","body":"三号楼二单元楼道灯坏了一个月，晚上很黑，请物业修理。","submitted_at":"2026-11-21T20:00:00+08:00","complainant":{"name":"孙七","phone":"13500000000","anonymous":false,"consent_to_publish":false}}`, ref)
	req, _ := http.NewRequest("POST", base+"/v1/items", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var acc struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	json.NewDecoder(resp.Body).Decode(&acc)
	if acc.Duplicate {
		return resp.StatusCode, "dup:" + acc.ID
	}
	return resp.StatusCode, acc.ID
}

// TestKill9RestartKeepsEverythingAccepted runs the embedded default as a
// process, kills it with SIGKILL while desks are posting, restarts it, and
// checks that every item that got a 202 is recorded and queued, and that
// re-posting it is recognised as a repeat.
func TestKill9RestartKeepsEverythingAccepted(t *testing.T) {
	data := t.TempDir()
	tok, errOut, code := runCmd(t, "desk", "add", "--data", data, "--name", "district-3", "--channel", "village")
	if code != 0 {
		t.Fatalf("desk add: %d %s", code, errOut)
	}
	tok = strings.TrimSpace(tok)
	addr := freeAddr(t)
	gw := startGateway(t, data, addr)
	base := "http://" + addr

	var mu sync.Mutex
	accepted := map[string]string{} // ref → id
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ref := fmt.Sprintf("K9-%02d-%05d", w, i)
				st, id := postLetter(base, tok, ref)
				if st == 0 {
					return // killed
				}
				if st == 202 {
					mu.Lock()
					accepted[ref] = id
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.Wait()
	close(stop)
	wg.Wait()
	if len(accepted) == 0 {
		t.Fatal("nothing was accepted before the kill")
	}

	startGateway(t, data, addr)
	reader, errOut, code := runCmd(t, "desk", "add", "--data", data, "--name", "dispatch", "--reads", "gov_service,media_oversight,petition,discipline,rejected,review,dead_letter")
	if code != 0 {
		t.Fatalf("desk add: %s", errOut)
	}
	reader = strings.TrimSpace(reader)
	for ref, id := range accepted {
		req, _ := http.NewRequest("GET", base+"/v1/items/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s (%s) got a 202 before the kill, but after restart GET says %d", ref, id, resp.StatusCode)
		}
	}
	// every accepted item is in some queue (a desk wanting them all reads them)
	queued := map[string]bool{}
	for _, d := range []string{"gov_service", "media_oversight", "petition", "discipline", "rejected", "review", "dead_letter"} {
		for {
			req, _ := http.NewRequest("GET", base+"/v1/queues/"+d+"?max=1000&lease=5m", nil)
			req.Header.Set("Authorization", "Bearer "+reader)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("reading queue %s with a desk added a moment ago: %d", d, resp.StatusCode)
			}
			var got struct {
				Messages []struct {
					Envelope struct {
						ID string `json:"id"`
					} `json:"envelope"`
				} `json:"messages"`
			}
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if len(got.Messages) == 0 {
				break
			}
			for _, m := range got.Messages {
				queued[m.Envelope.ID] = true
			}
		}
	}
	for ref, id := range accepted {
		if !queued[id] {
			req, _ := http.NewRequest("GET", base+"/v1/items/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, _ := http.DefaultClient.Do(req)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("%s (%s) got a 202 but is in no queue after the restart (%d queued); record: %s", ref, id, len(queued), b)
		}
	}
	// re-posting an accepted letter is a repeat with the same ID
	for ref, id := range accepted {
		st, got := postLetter(base, tok, ref)
		if st != 202 || got != "dup:"+id {
			t.Fatalf("re-post of %s: %d %s, want a repeat of %s", ref, st, got, id)
		}
		break
	}
	t.Logf("%d items accepted before SIGKILL; all recorded and queued after restart (%d queue entries)", len(accepted), len(queued))
}

// TestCheckConfig runs check-config over testdata/config: good files exit 0,
// bad ones exit 2 naming each field with its line (golden output).
func TestCheckConfig(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/config/*.yaml")
	}
	var out strings.Builder
	for _, f := range files {
		stdout, stderr, code := runCmd(t, "check-config", f)
		good := strings.HasPrefix(filepath.Base(f), "good_")
		if good != (code == 0) || (!good && code != 2) {
			t.Errorf("%s: exit %d\n%s%s", f, code, stdout, stderr)
		}
		fmt.Fprintf(&out, "== %s (exit %d)\n%s%s", filepath.Base(f), code, stdout, stderr)
	}
	golden := "testdata/check-config.golden"
	if *update {
		os.WriteFile(golden, []byte(out.String()), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if out.String() != string(want) {
		t.Errorf("check-config output differs from %s (run with -update to accept):\n%s", golden, out.String())
	}
}

// TestExampleConfigsAreValid keeps the production example and every
// connector's example.yaml loadable (their secrets come from the environment).
func TestExampleConfigsAreValid(t *testing.T) {
	t.Setenv("HOTLINE_FEED_TOKEN", "example-token")
	t.Setenv("CITY_BOARD_TOKEN", "example-token")
	t.Setenv("MAYOR_MAILBOX_PASSWORD", "example-password")
	files, _ := filepath.Glob("../../connectors/*/example.yaml")
	files = append(files, "../../deployments/minsheng.yaml")
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		stdout, stderr, code := runCmd(t, "check-config", f)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s%s", f, code, stdout, stderr)
		}
	}
}

// TestDeskRemoveRevokes: `minsheng desk remove` says the desk's token no
// longer works, and a running gateway that is shown only that token (no
// unknown token to make it look at the desks file) refuses it promptly.
func TestDeskRemoveRevokes(t *testing.T) {
	data, addr := t.TempDir(), freeAddr(t)
	tok, errOut, code := runCmd(t, "desk", "add", "--data", data, "--name", "dispatch", "--reads", "gov_service")
	if code != 0 {
		t.Fatalf("desk add: %s", errOut)
	}
	tok = strings.TrimSpace(tok)
	startGateway(t, data, addr)
	queues := func() int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/queues", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := queues(); st != 200 {
		t.Fatalf("GET /v1/queues before removal: %d", st)
	}
	if _, errOut, code := runCmd(t, "desk", "remove", "--data", data, "--name", "dispatch"); code != 0 || !strings.Contains(errOut, "no longer works") {
		t.Fatalf("desk remove: exit %d: %s", code, errOut)
	}
	st := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st = queues(); st == 401 {
			return
		}
	}
	t.Fatalf("GET /v1/queues with a removed desk's token: %d 3 s after `desk remove`, want 401", st)
}

// TestSystemdUnitLoadsEverySecret: the unit runs deployments/minsheng.yaml,
// whose secrets are files under /run/secrets/: each must be a credential
// the unit loads, and the credentials directory mounted there, or the
// gateway stops at its first desk.
func TestSystemdUnitLoadsEverySecret(t *testing.T) {
	conf, err := os.ReadFile("../../deployments/minsheng.yaml")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("../../deployments/systemd/minsheng.service")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^BindReadOnlyPaths=%d:/run/secrets$`).Match(unit) {
		t.Error("the unit does not mount its credentials directory at /run/secrets")
	}
	names := regexp.MustCompile(`(?m)^\s*\w+_file:\s*/run/secrets/([\w.-]+)\s*$`).FindAllSubmatch(conf, -1)
	if len(names) < 2 {
		t.Fatalf("found %d secrets under /run/secrets in minsheng.yaml", len(names))
	}
	for _, n := range names {
		if !regexp.MustCompile(`(?m)^LoadCredential=` + regexp.QuoteMeta(string(n[1])) + `:`).Match(unit) {
			t.Errorf("minsheng.yaml reads /run/secrets/%s, which the unit does not load", n[1])
		}
	}
}

// TestCheckConfigSecrets: check-config reads the desks' tokens and Kafka's
// password only with --secrets (they are often in place only where the
// gateway runs); with it, a file run would refuse is refused too, naming
// the fields, and passes once they are in place.
func TestCheckConfigSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "kafka-password")
	conf := filepath.Join(dir, "minsheng.yaml")
	os.WriteFile(conf, []byte(`kafka:
  brokers: [127.0.0.1:9092]
  sasl: {mechanism: plain, username: minsheng, password_file: `+pw+`}
destinations:
  petition: {sink: kafka}
desks:
  - name: qingdao-daily
    channel: newspaper
    token_env: MINSHENG_TEST_DESK_TOKEN
`), 0o600)
	os.Unsetenv("MINSHENG_TEST_DESK_TOKEN")
	if _, stderr, code := runCmd(t, "check-config", conf); code != 0 {
		t.Fatalf("without --secrets: exit %d\n%s", code, stderr)
	}
	// The flag in each spelling the flag package takes, before or after
	// the file: a "-secrets" once passed as the name of the file to check.
	for _, args := range [][]string{{"--secrets", conf}, {"-secrets", conf}, {conf, "--secrets"}, {conf, "-secrets"}} {
		_, stderr, code := runCmd(t, append([]string{"check-config"}, args...)...)
		if code != 2 || !strings.Contains(stderr, "desks[0].token_env") || !strings.Contains(stderr, "kafka.sasl.password_file") {
			t.Errorf("check-config %q with neither in place: exit %d, want 2 naming both fields\n%s", args, code, stderr)
		}
	}
	if _, stderr, code := runCmd(t, "check-config", conf, conf); code != 2 || !strings.Contains(stderr, "one file at a time") {
		t.Errorf("two files: exit %d, want 2 saying one file at a time\n%s", code, stderr)
	}
	// A flag the package does not know, or -h, after the file as before
	// it: refused, the file not checked (a misspelt --secrets once
	// printed the usage and then "ok", exit 0, without the secrets read).
	for _, args := range [][]string{{conf, "--secretz"}, {"--secretz", conf}, {conf, "-h"}} {
		if stdout, stderr, code := runCmd(t, append([]string{"check-config"}, args...)...); code != 2 || strings.Contains(stdout, "ok") {
			t.Errorf("check-config %q: exit %d, stdout %q, want 2 and no check\n%s", args, code, stdout, stderr)
		}
	}
	// run reads Kafka's password only when a destination sends to Kafka.
	queues := filepath.Join(dir, "queues.yaml")
	os.WriteFile(queues, []byte(`kafka:
  sasl: {mechanism: plain, username: minsheng, password_file: `+pw+`}
`), 0o600)
	if stdout, stderr, code := runCmd(t, "check-config", queues, "--secrets"); code != 0 {
		t.Errorf("--secrets, no Kafka destination: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Setenv("MINSHENG_TEST_DESK_TOKEN", "mst_"+strings.Repeat("x", 40))
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	if stdout, stderr, code := runCmd(t, "check-config", "--secrets", conf); code != 0 {
		t.Errorf("--secrets with both in place: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestRunRefusesAFileArgument: `run FILE` (the form check-config takes)
// gave no --config, and started on the embedded default with FILE, and any
// flag after it, unread; it is refused, naming --config.
func TestRunRefusesAFileArgument(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "minsheng.yaml")
	os.WriteFile(conf, []byte("listen: "+freeAddr(t)+"\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", "--listen", freeAddr(t), conf)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "--config") {
		t.Fatalf("run %s: %v, want exit 2 naming --config\n%s", conf, err, stderr.String())
	}
}
