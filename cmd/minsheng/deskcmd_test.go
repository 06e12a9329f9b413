package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeskAddRefusesTakenNames: `desk add` refuses the source name of
// imports ("import") and of a configured input, and a configured desk's
// name, naming --name, and writes no desk.
func TestDeskAddRefusesTakenNames(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "minsheng.yaml")
	err := os.WriteFile(cfg, []byte(`desks:
  - name: qingdao-daily
    channel: newspaper
    token_sha256: 5a0f3c1c8d1d6f1e2b7c9a4e8f0d3b6a1c2e4f6a8b0d2c4e6f8a0b2c4d6e8f0a
inputs:
  - name: qd-12345
    hotline: {url: "wss://cc.example.gov.cn/minsheng/feed", token_file: /run/secrets/hotline}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"import", nil, `--name: "import" is the source name`},
		{"import", []string{"--config", cfg}, `--name: "import" is the source name`},
		{"qd-12345", []string{"--config", cfg}, `--name: "qd-12345" is the source name`},
		{"qingdao-daily", []string{"--config", cfg}, `--name: "qingdao-daily" is a desk in the configuration`},
	} {
		data := t.TempDir()
		args := append([]string{"desk", "add", "--data", data, "--name", tc.name, "--channel", "hotline"}, tc.args...)
		stdout, stderr, code := runCmd(t, args...)
		if code != exitConfig || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", args[5:], code, stdout, stderr, exitConfig, tc.want)
		}
		if _, err := os.Stat(filepath.Join(data, "desks.json")); !os.IsNotExist(err) {
			t.Errorf("%v: desks.json written (%v)", args[5:], err)
		}
	}
	// A name of no input is taken.
	if _, stderr, code := runCmd(t, "desk", "add", "--data", t.TempDir(), "--config", cfg, "--name", "imports", "--channel", "hotline"); code != 0 {
		t.Errorf("desk add --name imports: exit %d: %s", code, stderr)
	}
}

// TestDeskRefusesAFileArgument: `desk add ... minsheng.yaml` left the file,
// and any flag after it, unread and wrote the desk to the default data
// directory's desks.json; it is refused, writing nothing.
func TestDeskRefusesAFileArgument(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "minsheng.yaml")
	os.WriteFile(cfg, []byte("data: "+filepath.Join(dir, "data")+"\n"), 0o600)
	t.Chdir(dir) // the default data directory, ./minsheng-data, lands here
	_, stderr, code := runCmd(t, "desk", "add", "--name", "qingdao-tv", "--channel", "broadcaster", cfg)
	if code != exitConfig || !strings.Contains(stderr, "--config") {
		t.Errorf("exit %d, stderr %q; want exit %d naming --config", code, stderr, exitConfig)
	}
	for _, d := range []string{"minsheng-data", "data"} {
		if _, err := os.Stat(filepath.Join(dir, d, "desks.json")); !os.IsNotExist(err) {
			t.Errorf("%s/desks.json written (%v)", d, err)
		}
	}
}
