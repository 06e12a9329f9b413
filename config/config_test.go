package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

var update = flag.Bool("update", false, "rewrite golden files")

type sinkCfg struct {
	Kind  string `yaml:"kind" validate:"required,oneof=kafka queue"`
	Topic string `yaml:"topic"`
}

func (s sinkCfg) Validate() minsheng.FieldErrors {
	if s.Kind == "kafka" && s.Topic == "" {
		return minsheng.FieldErrors{{Path: "topic", Msg: "is required for a kafka destination"}}
	}
	return nil
}

type testCfg struct {
	Listen  string             `yaml:"listen" default:"127.0.0.1:8080" validate:"hostname_port"`
	Timeout time.Duration      `yaml:"timeout" default:"5s" validate:"gt=0"`
	Workers int                `yaml:"workers" default:"4" validate:"gte=1,lte=64"`
	Verbose bool               `yaml:"verbose"`
	Limits  limits             `yaml:"limits"`
	Dests   map[string]sinkCfg `yaml:"destinations"`
	Brokers []string           `yaml:"brokers" validate:"dive,hostname_port"`
	Inputs  []input            `yaml:"inputs"`
}

type limits struct {
	MaxBody int64 `yaml:"max_body" default:"1MiB" validate:"gte=1024"`
}

type input struct {
	Name string `yaml:"name" validate:"required"`
	Raw  Node   `yaml:"imap"`
}

func TestDefaultsAndValues(t *testing.T) {
	var c testCfg
	err := Decode([]byte(`
workers: 8
destinations:
  petition: {kind: queue}
inputs:
  - name: mayor
    imap: {address: "imap.example.cn:993"}
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Timeout != 5*time.Second || c.Workers != 8 || c.Limits.MaxBody != 1<<20 {
		t.Fatalf("decoded %+v", c)
	}
	if c.Dests["petition"].Kind != "queue" {
		t.Fatalf("map: %+v", c.Dests)
	}
	if !c.Inputs[0].Raw.Present() || c.Inputs[0].Raw.Path != "inputs[0].imap" {
		t.Fatalf("raw node: %+v", c.Inputs[0].Raw)
	}
	var sub struct {
		Address string `yaml:"address" validate:"required"`
		TLS     string `yaml:"tls" default:"implicit"`
	}
	if err := DecodeNode(&c.Inputs[0].Raw.Node, c.Inputs[0].Raw.Path, &sub); err != nil || sub.TLS != "implicit" {
		t.Fatalf("sub-decode: %+v, %v", sub, err)
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	var c testCfg
	if err := Decode(nil, &c); err != nil {
		t.Fatal(err)
	}
	if c.Workers != 4 || c.Limits.MaxBody != 1<<20 {
		t.Fatalf("%+v", c)
	}
}

// TestErrors decodes each bad file under testdata/bad and compares every
// error it reports, with field paths and lines, to testdata/errors.golden.
func TestErrors(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/bad/*.yaml")
	}
	var out strings.Builder
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c testCfg
		err = Decode(raw, &c)
		var fes minsheng.FieldErrors
		if !errors.As(err, &fes) || len(fes) == 0 {
			t.Errorf("%s: want field errors, got %v", f, err)
			continue
		}
		fmt.Fprintf(&out, "== %s\n", filepath.Base(f))
		for _, fe := range fes {
			if fe.Line == 0 {
				t.Errorf("%s: error without a line: %v", f, fe)
			}
			fmt.Fprintln(&out, fe.Error())
		}
	}
	golden := "testdata/errors.golden"
	if *update {
		os.WriteFile(golden, []byte(out.String()), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if out.String() != string(want) {
		t.Errorf("errors differ from %s (run with -update to accept):\n%s", golden, out.String())
	}
}

func TestReadSecretNeverInline(t *testing.T) {
	t.Setenv("MS_TEST_SECRET", "s3cret")
	if v, err := minsheng.ReadSecret("MS_TEST_SECRET", ""); err != nil || v != "s3cret" {
		t.Fatalf("%q %v", v, err)
	}
	p := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	if v, err := minsheng.ReadSecret("", p); err != nil || v != "from-file" {
		t.Fatalf("%q %v", v, err)
	}
	if _, err := minsheng.ReadSecret("MS_TEST_UNSET_VAR", ""); err == nil {
		t.Fatal("unset variable accepted")
	}
	if _, err := minsheng.ReadSecret("A", p); err == nil {
		t.Fatal("both env and file accepted")
	}
}

// TestMapsMergeOverDefaults: a mapping in the file merges over the entries
// the map held before decoding (its defaults), as a struct's fields do.
func TestMapsMergeOverDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       map[string]string // destination → kind
	}{
		{"absent keeps the defaults", ``, map[string]string{"petition": "queue", "review": "queue"}},
		{"a new key adds to them", "destinations:\n  cdi: {kind: queue}\n", map[string]string{"petition": "queue", "review": "queue", "cdi": "queue"}},
		{"a named key replaces its entry", "destinations:\n  petition: {kind: kafka, topic: t}\n", map[string]string{"petition": "kafka", "review": "queue"}},
		{"an empty mapping keeps them", "destinations: {}\n", map[string]string{"petition": "queue", "review": "queue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCfg{Dests: map[string]sinkCfg{"petition": {Kind: "queue"}, "review": {Kind: "queue"}}}
			if err := Decode([]byte(tc.yaml), &c); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, d := range c.Dests {
				got[k] = d.Kind
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("destinations %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBooleansAreStrict: a boolean is true or false (YAML 1.2), not one of
// YAML 1.1's yes, no, on, off, nor a quoted string.
func TestBooleansAreStrict(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
		ok    bool
	}{
		{"true", true, true}, {"false", false, true}, {"True", true, true},
		{"yes", false, false}, {`"yes"`, false, false}, {"no", false, false},
		{"on", false, false}, {"off", false, false}, {`"true"`, false, false}, {"1", false, false},
	} {
		var c testCfg
		err := Decode([]byte("verbose: "+tc.value+"\n"), &c)
		if tc.ok && (err != nil || c.Verbose != tc.want) {
			t.Errorf("verbose: %s gave %v, %v; want %v", tc.value, c.Verbose, err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "line 1: verbose: ") || !strings.Contains(err.Error(), "is not a valid boolean")) {
			t.Errorf("verbose: %s gave %v, %v; want an error naming line 1 and verbose", tc.value, c.Verbose, err)
		}
	}
}

// TestReadSecretFieldWording: every secret's error names the field at fault
// and says the same thing for the same problem.
func TestReadSecretFieldWording(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	t.Setenv("MS_TEST_EMPTY", "")
	for _, tc := range []struct {
		name, env, file, want string
	}{
		{"unset variable", "MS_TEST_UNSET_VAR", "", "token_env: environment variable MS_TEST_UNSET_VAR is not set"},
		{"empty variable", "MS_TEST_EMPTY", "", "token_env: environment variable MS_TEST_EMPTY is empty"},
		{"missing file", "", filepath.Join(dir, "none"), "token_file: secret file " + filepath.Join(dir, "none") + " cannot be read: no such file or directory"},
		{"empty file", "", empty, "token_file: secret file " + empty + " is empty"},
		{"both", "MS_TEST_EMPTY", empty, "token_env: set either token_env or token_file, not both"},
		{"neither", "", "", "token_env: is required: set token_env or token_file"},
		// A secret pasted where its variable's name goes is not repeated.
		{"a desk token", "mst_2mdg5tbe6owhqaq7fzzojcxgfqscnifr7rb6sgtvbbwuqbjnzl7q", "", "token_env: must name an environment variable (letters, digits and '_', not starting with a digit), not hold the secret: the value given is not such a name and looks like a secret itself, so it is not shown"},
		{"a password", "hunter2!Pass", "", "token_env: must name an environment variable (letters, digits and '_', not starting with a digit), not hold the secret: the value given is not such a name and looks like a secret itself, so it is not shown"},
		{"a digest", "3f1b6c0a8e2d4c5b9a7f6e1d0c3b2a4958e7d6c5b4a3928170f6e5d4c3b2a190", "", "token_env: must name an environment variable (letters, digits and '_', not starting with a digit), not hold the secret: the value given is not such a name and looks like a secret itself, so it is not shown"},
		{"not in upper case", "ImapSecretPutInEnvField", "", "token_env: environment variable it names (not shown: not in upper case, it may be the secret itself) is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := minsheng.ReadSecretField("token_env", tc.env, "token_file", tc.file)
			var fes minsheng.FieldErrors
			if !errors.As(err, &fes) || err.Error() != tc.want || (tc.env != "" && !strings.HasPrefix(tc.env, "MS_TEST_") && strings.Contains(err.Error(), tc.env)) {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

// FuzzDecode: no file makes Decode panic, and every error it gives is a
// list of field errors, each with a line when the file has one (the
// tab-indentation guess, tabError, parses the lines before the tab alone).
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, name := range files {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte("workers: 8\ndestinations:\n  petition: {kind: queue}\ninputs:\n  - name: mayor\n    imap: {address: \"imap.example.cn:993\"}\n"))
	f.Add([]byte("limits:\n\tmax_body: 2MiB\n"))
	f.Add([]byte("inputs:\n  - name: a\n    imap:\n\t  address: x\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c testCfg
		err := Decode(raw, &c)
		if err == nil {
			return
		}
		var fes minsheng.FieldErrors
		if !errors.As(err, &fes) || len(fes) == 0 {
			t.Fatalf("Decode(%q) = %v, not field errors", raw, err)
		}
		// YAML breaks lines at LF, CR, NEL, LS and PS (CRLF counts twice
		// here: a bound, not the count).
		breaks := 1
		for _, r := range string(raw) {
			if strings.ContainsRune("\n\r\u0085\u2028\u2029", r) {
				breaks++
			}
		}
		for _, fe := range fes {
			if fe.Line < 0 || fe.Line > breaks {
				t.Fatalf("Decode(%q): line %d outside the file: %v", raw, fe.Line, fe)
			}
		}
	})
}
