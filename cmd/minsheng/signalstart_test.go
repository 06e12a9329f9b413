package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSignalWhileCreatingTopicsAtStart: with kafka.create_topics and a
// broker that takes connections but never answers, the gateway is in its
// first try at creating the topics (which waits up to 5 s) when SIGTERM
// comes. It must stop as asked: exit 0 and "stopped", not a failure to
// start (exit 1, "cannot start ... context canceled").
func TestSignalWhileCreatingTopicsAtStart(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	dialed := make(chan struct{})
	var once sync.Once
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
			once.Do(func() { close(dialed) })
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "kafka.yaml")
	// The Kafka example of TestCheckConfig, its broker the silent one.
	good, err := os.ReadFile(filepath.Join("testdata", "config", "good_kafka.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(good), "127.0.0.1:9092", silent.Addr().String(), 1)
	if !strings.Contains(yaml, "create_topics: true") || !strings.Contains(yaml, silent.Addr().String()) {
		t.Fatalf("good_kafka.yaml no longer names the broker 127.0.0.1:9092 with create_topics: true:\n%s", good)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "--config", cfg, "--data", filepath.Join(dir, "data"), "--listen", freeAddr(t))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-dialed: // the first try is under way: the gateway asked the broker
	case err := <-exited:
		t.Fatalf("the gateway ended before asking the broker (%v):\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("the gateway never dialled the broker:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(60 * time.Second): // a hang, not a timing check
		cmd.Process.Kill()
		<-exited
		t.Fatalf("the gateway did not stop on SIGTERM during start:\n%s", logs.String())
	}
	code := 0
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	out := logs.String()
	if code != exitOK || strings.Contains(out, "cannot start") || !strings.Contains(out, `"msg":"stopped"`) {
		t.Fatalf("SIGTERM during the first topic-creation try: exit %d, want 0 with \"stopped\" and no \"cannot start\"; log:\n%s", code, out)
	}
}
