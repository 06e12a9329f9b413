package minsheng

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type jsonSchema struct {
	Type                 string                 `json:"type"`
	Format               string                 `json:"format"`
	Required             []string               `json:"required"`
	Properties           map[string]*jsonSchema `json:"properties"`
	Items                *jsonSchema            `json:"items"`
	MaxLength            *int                   `json:"maxLength"`
	MaxItems             *int                   `json:"maxItems"`
	MaxProperties        *int                   `json:"maxProperties"`
	Enum                 []string               `json:"enum"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
}

// TestJSONSchemaInStep keeps docs/item.schema.json in step with the Item
// type: the same fields, types, required fields, length limits and channels.
func TestJSONSchemaInStep(t *testing.T) {
	raw, err := os.ReadFile("docs/item.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s jsonSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	compare(t, "item", reflect.TypeOf(Item{}), &s)
	var chans []string
	for _, c := range Channels {
		chans = append(chans, string(c))
	}
	if !slices.Equal(s.Properties["channel"].Enum, chans) {
		t.Errorf("channel enum %v, Go has %v", s.Properties["channel"].Enum, chans)
	}
}

var timeType = reflect.TypeOf(time.Time{})

func compare(t *testing.T, path string, typ reflect.Type, s *jsonSchema) {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == timeType:
		if s.Type != "string" || s.Format != "date-time" {
			t.Errorf("%s: schema %s/%s, want string/date-time", path, s.Type, s.Format)
		}
		return
	case typ.Kind() == reflect.Struct:
		if s.Type != "object" {
			t.Errorf("%s: schema type %q, want object", path, s.Type)
			return
		}
		if string(s.AdditionalProperties) != "false" {
			t.Errorf("%s: additionalProperties must be false", path)
		}
		seen := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			seen[name] = true
			ps := s.Properties[name]
			if ps == nil {
				t.Errorf("%s.%s: in the Go type, missing from the schema", path, name)
				continue
			}
			omit := strings.Contains(opts, "omitempty")
			if req := slices.Contains(s.Required, name); req == omit {
				t.Errorf("%s.%s: schema required=%v but Go omitempty=%v", path, name, req, omit)
			}
			checkMax(t, path+"."+name, f, ps)
			compare(t, path+"."+name, f.Type, ps)
		}
		for name := range s.Properties {
			if !seen[name] {
				t.Errorf("%s.%s: in the schema, missing from the Go type", path, name)
			}
		}
	case typ.Kind() == reflect.Slice:
		if s.Type != "array" || s.Items == nil {
			t.Errorf("%s: schema type %q, want array with items", path, s.Type)
			return
		}
		compare(t, path+"[]", typ.Elem(), s.Items)
	case typ.Kind() == reflect.Map:
		if s.Type != "object" {
			t.Errorf("%s: schema type %q, want object", path, s.Type)
		}
	case typ.Kind() == reflect.String:
		if s.Type != "string" {
			t.Errorf("%s: schema type %q, want string", path, s.Type)
		}
	case typ.Kind() == reflect.Bool:
		if s.Type != "boolean" {
			t.Errorf("%s: schema type %q, want boolean", path, s.Type)
		}
	case typ.Kind() == reflect.Int64 || typ.Kind() == reflect.Int:
		if s.Type != "integer" {
			t.Errorf("%s: schema type %q, want integer", path, s.Type)
		}
	default:
		t.Errorf("%s: no schema mapping for %s", path, typ)
	}
}

// checkMax compares a `validate:"max=N"` or `len=N` tag with the schema's limit.
func checkMax(t *testing.T, path string, f reflect.StructField, s *jsonSchema) {
	t.Helper()
	for _, rule := range strings.Split(f.Tag.Get("validate"), ",") {
		if rule == "dive" {
			break // rules after dive are for the elements
		}
		k, v, ok := strings.Cut(rule, "=")
		if !ok || (k != "max" && k != "len") {
			continue
		}
		n, _ := strconv.Atoi(v)
		var got *int
		switch f.Type.Kind() {
		case reflect.String:
			got = s.MaxLength
		case reflect.Slice:
			got = s.MaxItems
		case reflect.Map:
			got = s.MaxProperties
		}
		if got == nil {
			t.Errorf("%s: Go limit %s=%d, schema has none", path, k, n)
		} else if *got != n {
			t.Errorf("%s: Go limit %s=%d, schema has %d", path, k, n, *got)
		}
	}
}
