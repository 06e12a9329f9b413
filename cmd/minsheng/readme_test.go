package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/minsheng/minsheng/gateway"
)

// readmeConfig is the block README.md's configuration section prints as
// "Every key, with its default", exactly as printed.
func readmeConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "Every key, with its default:\n")
	if !ok {
		t.Fatal(`README.md: no "Every key, with its default:" block`)
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatal("README.md: the block of every key is not a ```yaml block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README.md: the block of every key does not end")
	}
	return block
}

// TestReadmeConfigBlock runs README.md's block of every key through
// check-config, so that a user who copies it gets a valid configuration, and
// checks that the defaults it documents are the defaults: README and code
// cannot drift apart.
func TestReadmeConfigBlock(t *testing.T) {
	f := filepath.Join(t.TempDir(), "readme.yaml")
	if err := os.WriteFile(f, []byte(readmeConfig(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A mapping merges over its default, so a key the block leaves out
	// would still load as the default: the maps the block prints whole must
	// name every key themselves.
	var shown struct {
		Routes struct {
			Classes map[string]any `yaml:"classes"`
		} `yaml:"routes"`
		Triage struct {
			Thresholds map[string]any `yaml:"thresholds"`
		} `yaml:"triage"`
	}
	if err := yaml.Unmarshal([]byte(readmeConfig(t)), &shown); err != nil {
		t.Fatal(err)
	}
	defaults, err := gateway.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for k := range defaults.Routes.Classes {
		if _, ok := shown.Routes.Classes[fmt.Sprint(k)]; !ok {
			t.Errorf("README.md's block leaves routes.classes[%s] out", k)
		}
	}
	for k := range defaults.Triage.Thresholds {
		if _, ok := shown.Triage.Thresholds[fmt.Sprint(k)]; !ok {
			t.Errorf("README.md's block leaves triage.thresholds[%s] out", k)
		}
	}

	stdout, stderr, code := runCmd(t, "check-config", f)
	if code != 0 {
		t.Fatalf("README.md's block of every key fails check-config (exit %d):\n%s%s", code, stdout, stderr)
	}

	documented, err := gateway.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	def := defaults
	// What the block shows as an example rather than a default.
	documented.Desks = nil
	documented.Data = filepath.Clean(documented.Data)
	for _, c := range []*gateway.Config{documented, def} {
		if len(c.Routes.Departments) == 0 {
			c.Routes.Departments = nil
		}
		if len(c.Triage.Rules) == 0 {
			c.Triage.Rules = nil
		}
		if len(c.Triage.LeadActors) == 0 {
			c.Triage.LeadActors = nil
		}
		if len(c.Inputs) == 0 {
			c.Inputs = nil
		}
		if len(c.Kafka.Brokers) == 0 {
			c.Kafka.Brokers = nil
		}
	}
	dv, cv := reflect.ValueOf(*documented), reflect.ValueOf(*def)
	for i := 0; i < dv.NumField(); i++ {
		f := dv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !reflect.DeepEqual(dv.Field(i).Interface(), cv.Field(i).Interface()) {
			t.Errorf("README.md's block of every key documents %s as %+v; the code's default is %+v", f.Tag.Get("yaml"), dv.Field(i), cv.Field(i))
		}
	}
}

// TestReadmeConfigBlockNamesEveryKey: the block says it shows every key,
// and a key left out would still load as its default, which
// TestReadmeConfigBlock cannot tell; so every key of the configuration's
// sections (mappings, not lists' or maps' entries) must be in it.
func TestReadmeConfigBlockNamesEveryKey(t *testing.T) {
	var block map[string]any
	if err := yaml.Unmarshal([]byte(readmeConfig(t)), &block); err != nil {
		t.Fatal(err)
	}
	var walk func(typ reflect.Type, shown map[string]any, path string)
	walk = func(typ reflect.Type, shown map[string]any, path string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || key == "-" || key == "" {
				continue
			}
			v, ok := shown[key]
			if !ok {
				t.Errorf("README.md's block of every key leaves out %s%s", path, key)
				continue
			}
			if f.Type.Kind() == reflect.Struct { // not a time.Duration: an int64
				if sub, ok := v.(map[string]any); ok {
					walk(f.Type, sub, path+key+".")
				}
			}
		}
	}
	walk(reflect.TypeOf(gateway.Config{}), block, "")
}
