// Package config loads the gateway's YAML configuration into plain Go
// structs that the other packages define, the way the stricter Go servers do:
//
//   - every problem is reported, not just the first: unknown keys (with a
//     "did you mean" hint), values of the wrong type, failed `validate` tags
//     and semantic checks, each naming its field path and its line;
//   - `default:"..."` struct tags fill fields the file leaves out;
//   - a mapping merges over a map's defaults (what dst held before): the
//     keys the file names replace their entries, the others stay; a list
//     replaces its default whole;
//   - time.Duration fields take Go duration strings ("1500ms", "2m");
//   - a field of type *yaml.Node, or Node, keeps its section raw for a
//     plug-in (a connector) to decode later with DecodeNode.
//
// The package knows nothing of the gateway's schema: cmd/minsheng composes
// the sections each package defines. Secrets never sit in the file itself:
// fields name an environment variable or a file (see ReadSecret).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	minsheng "github.com/minsheng/minsheng"
)

// Node is a configuration section kept raw, decoded later by its owner.
type Node struct {
	yaml.Node
	// Path of the section in the file ("inputs[0].imap").
	Path string
}

// Present reports whether the file had the section.
func (n *Node) Present() bool { return n != nil && n.Kind != 0 }

// Validator is implemented by config structs with checks that field tags
// cannot express (one field's value depending on another's). Paths in the
// returned errors are relative to the struct; the loader prefixes them.
type Validator interface {
	Validate() minsheng.FieldErrors
}

// LoadFile reads and decodes a YAML file into dst (a pointer to a struct).
func LoadFile(path string, dst any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := Decode(raw, dst); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Decode decodes YAML bytes into dst, applying defaults and validation. The
// error, if any, is a minsheng.FieldErrors with every problem found.
func Decode(raw []byte, dst any) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		if fe := tabError(raw, err, reflect.TypeOf(dst)); fe != nil {
			return minsheng.FieldErrors{*fe}
		}
		return minsheng.FieldErrors{{Path: "(file)", Line: yamlErrLine(err), Msg: "is not valid YAML: " + cleanYAMLErr(err)}}
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	return DecodeNode(root, "", dst)
}

// DecodeNode decodes one section (nil: absent, defaults only) into dst with
// path as the prefix of every error's field path.
func DecodeNode(n *yaml.Node, path string, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("config: DecodeNode needs a non-nil pointer, got %T", dst)
	}
	d := &decoder{lines: map[string]int{}}
	d.value(n, v.Elem(), path)
	d.validate(v.Elem(), path)
	sort.SliceStable(d.errs, func(i, j int) bool {
		if d.errs[i].Line != d.errs[j].Line {
			return d.errs[i].Line < d.errs[j].Line
		}
		return d.errs[i].Path < d.errs[j].Path
	})
	return d.errs.Err()
}

type decoder struct {
	errs   minsheng.FieldErrors
	failed []string       // paths whose value could not be decoded
	lines  map[string]int // field path → line, for errors found after decoding
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	if path == "" {
		path = "(root)"
	}
	d.errs = append(d.errs, minsheng.FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
	d.failed = append(d.failed, path)
}

// shadowed reports whether p is, or lies under, a path that failed to
// decode: validating a half-decoded value would only add noise.
func (d *decoder) shadowed(p string) bool {
	for _, f := range d.failed {
		if p == f || strings.HasPrefix(p, f+".") || strings.HasPrefix(p, f+"[") || strings.HasPrefix(f, p+".") || strings.HasPrefix(f, p+"[") {
			return true
		}
	}
	return false
}

// report adds a validation error unless its field failed to decode or
// already has one: a field checked both by its tag and by its section's
// Validate (which must also hold for values set in code) is named once.
func (d *decoder) report(fe minsheng.FieldError) {
	if d.shadowed(fe.Path) || slices.ContainsFunc(d.errs, func(e minsheng.FieldError) bool { return e.Path == fe.Path }) {
		return
	}
	fe.Line = d.lineOf(fe.Path)
	d.errs = append(d.errs, fe)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodeType     = reflect.TypeOf(Node{})
	yamlNodeType = reflect.TypeOf(yaml.Node{})
)

// value decodes n into v. A nil n leaves v as it is, after defaults.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n != nil {
		d.lines[path] = n.Line
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
	}
	switch {
	case v.Type() == nodeType:
		if n != nil {
			v.Set(reflect.ValueOf(Node{Node: *n, Path: path}))
		}
		return
	case v.Type() == yamlNodeType:
		if n != nil {
			v.Set(reflect.ValueOf(*n))
		}
		return
	case v.Kind() == reflect.Pointer:
		if n == nil || isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	}
	if v.Kind() == reflect.Struct {
		d.structure(n, v, path)
		return
	}
	if n == nil || isNull(n) {
		return
	}
	switch v.Kind() {
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "must be a mapping")
			return
		}
		// The file's entries merge over the entries the map already holds
		// (its defaults), the way a struct's fields do: a key it names
		// replaces that entry, the others stay.
		m := reflect.MakeMapWithSize(v.Type(), v.Len()+len(n.Content)/2)
		for iter := v.MapRange(); iter.Next(); {
			m.SetMapIndex(iter.Key(), iter.Value())
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			k := reflect.New(v.Type().Key()).Elem()
			if err := kn.Decode(k.Addr().Interface()); err != nil {
				d.fail(kn, path, "key %q: %s", kn.Value, cleanYAMLErr(err))
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			applyDefaults(e)
			d.value(vn, e, fmt.Sprintf("%s[%s]", path, kn.Value))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a single value, not a %s", kindName(n.Kind))
		return
	}
	if v.Type() == durationType {
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.fail(n, path, "%q is not a duration (use e.g. 500ms, 30s, 5m)", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	if k := v.Kind(); k >= reflect.Int && k <= reflect.Int64 && strings.HasSuffix(n.Value, "iB") {
		size, err := parseSize(n.Value)
		if err != nil {
			d.fail(n, path, "%q is not a size (use e.g. 512KiB, 1MiB, 2GiB)", n.Value)
			return
		}
		v.SetInt(size)
		return
	}
	// yaml.v3 decodes yes, on, "yes" and the like into a bool for YAML 1.1's
	// sake; a boolean here is true or false, as it is for numbers.
	if v.Kind() == reflect.Bool && n.ShortTag() != "!!bool" {
		d.fail(n, path, "%q is not a valid %s", n.Value, typeName(v.Type()))
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(n, path, "%q is not a valid %s", n.Value, typeName(v.Type()))
		return
	}
	v.Set(tmp.Elem())
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// structure decodes a mapping into a struct, reporting unknown keys.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	applyDefaults(v)
	if n == nil || isNull(n) {
		d.descend(v, path)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of keys to values")
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		if seen[key] {
			d.fail(kn, join(path, key), "is set twice")
			continue
		}
		seen[key] = true
		f, ok := fields[key]
		if !ok {
			d.fail(kn, join(path, key), "unknown key%s", suggest(key, fields))
			continue
		}
		d.value(vn, fieldByIndex(v, f.index), join(path, key))
	}
	// Nested structs the file left out still get their defaults.
	for key, f := range fields {
		if !seen[key] {
			fv := fieldByIndex(v, f.index)
			if fv.Kind() == reflect.Struct && fv.Type() != nodeType && fv.Type() != yamlNodeType {
				d.structure(nil, fv, join(path, key))
			}
		}
	}
}

// descend applies defaults to nested structs of a struct with no node.
func (d *decoder) descend(v reflect.Value, path string) {
	for key, f := range structFields(v.Type()) {
		fv := fieldByIndex(v, f.index)
		if fv.Kind() == reflect.Struct && fv.Type() != nodeType && fv.Type() != yamlNodeType {
			d.structure(nil, fv, join(path, key))
		}
	}
}

type fieldInfo struct {
	index []int
}

// structFields maps yaml keys to fields, flattening `yaml:",inline"` structs.
func structFields(t reflect.Type) map[string]fieldInfo {
	out := map[string]fieldInfo{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), prefix...), i)
			if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = fieldInfo{index: idx}
		}
	}
	walk(t, nil)
	return out
}

func fieldByIndex(v reflect.Value, idx []int) reflect.Value {
	for _, i := range idx {
		v = v.Field(i)
	}
	return v
}

// applyDefaults sets zero-valued fields that carry a `default` tag.
func applyDefaults(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		def, ok := f.Tag.Lookup("default")
		if !ok {
			if f.Type.Kind() == reflect.Struct && f.Type != nodeType && f.Type != yamlNodeType && f.Type != reflect.TypeOf(time.Time{}) {
				applyDefaults(fv)
			}
			continue
		}
		if !fv.IsZero() {
			continue
		}
		if err := setDefault(fv, def); err != nil {
			panic(fmt.Sprintf("config: bad default tag on %s.%s: %v", t.Name(), f.Name, err))
		}
	}
}

func setDefault(v reflect.Value, def string) error {
	if v.Type() == durationType {
		d, err := parseDuration(def)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(def)
	case reflect.Bool:
		b, err := strconv.ParseBool(def)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := parseSize(def)
		if err != nil {
			return err
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := parseSize(def)
		if err != nil {
			return err
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(def, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("default for %s not supported", v.Type())
		}
		parts := strings.Split(def, ",")
		s := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			s.Index(i).SetString(strings.TrimSpace(p))
		}
		v.Set(s)
	default:
		return fmt.Errorf("default for %s not supported", v.Type())
	}
	return nil
}

// parseSize parses an integer, allowing the suffixes KiB, MiB, GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
			break
		}
	}
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return i * mult, err
}

// validate runs `validate` tags and Validator implementations.
func (d *decoder) validate(v reflect.Value, path string) {
	d.tags(v, path)
	d.semantic(v, path, false)
}

// tags checks a struct's `validate` tags; the validator walks nested struct
// fields itself, while semantic calls tags for structs inside lists and maps,
// so their elements need no `dive`.
func (d *decoder) tags(v reflect.Value, path string) {
	if v.Kind() != reflect.Struct || !v.CanAddr() {
		return
	}
	if err := minsheng.Validator().Struct(v.Addr().Interface()); err != nil {
		for _, fe := range minsheng.ValidationErrors(err, "") {
			d.report(minsheng.FieldError{Path: join(path, fe.Path), Msg: fe.Msg})
		}
	}
}

// semantic calls Validate on every struct that implements Validator, and
// checks tags of structs held in lists and maps (element true).
func (d *decoder) semantic(v reflect.Value, path string, element bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			d.semantic(v.Elem(), path, element)
		}
		return
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			d.semantic(v.Index(i), fmt.Sprintf("%s[%d]", path, i), true)
		}
		return
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			// map values are not addressable: check a copy
			e := reflect.New(iter.Value().Type()).Elem()
			e.Set(iter.Value())
			d.semantic(e, fmt.Sprintf("%s[%v]", path, iter.Key()), true)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	if v.Type() == nodeType || v.Type() == yamlNodeType {
		return
	}
	if element {
		d.tags(v, path)
	}
	for key, f := range structFields(v.Type()) {
		d.semantic(fieldByIndex(v, f.index), join(path, key), false)
	}
	var val Validator
	if v.CanAddr() {
		val, _ = v.Addr().Interface().(Validator)
	}
	if val == nil {
		val, _ = v.Interface().(Validator)
	}
	if val == nil {
		return
	}
	for _, fe := range val.Validate() {
		d.report(minsheng.FieldError{Path: join(path, fe.Path), Msg: fe.Msg})
	}
}

// lineOf finds the line of a path, or of its nearest ancestor in the file.
func (d *decoder) lineOf(p string) int {
	for p != "" {
		if l, ok := d.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	}
	return t.String()
}

func yamlErrLine(err error) int {
	var line int
	if _, e := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line); e == nil {
		return line
	}
	return 0
}

func cleanYAMLErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "line ") && i > 0 {
		s = s[i+2:]
	}
	return s
}

// tabError names the field of YAML refused for a tab in the indentation
// of a line (the parser says only "found a tab character that violates
// indentation", or "found character that cannot start any token", with a
// line, at times the one before): the line and the field it gives, found
// from the lines before it, which are parsed alone. The field is taken to
// be inside the last key before the line when that key has no value of
// its own (a section opened: "pipeline:"), and beside it otherwise. nil
// when no line near the error's is indented with a tab.
func tabError(raw []byte, err error, dst reflect.Type) *minsheng.FieldError {
	lines := strings.Split(string(raw), "\n")
	at := -1
	for i, l := range lines {
		rest := strings.TrimLeft(l, " \t")
		if strings.Contains(l[:len(l)-len(rest)], "\t") && rest != "" && !strings.HasPrefix(rest, "#") {
			at = i
			break
		}
	}
	msg := cleanYAMLErr(err)
	if !strings.Contains(msg, "tab") && !strings.Contains(msg, "cannot start any token") {
		return nil
	}
	if el := yamlErrLine(err); at < 0 || el != 0 && (at+1 < el-1 || at+1 > el+1) {
		return nil
	}
	fe := &minsheng.FieldError{Path: "(file)", Line: at + 1,
		Msg: "is indented with a tab, which YAML does not allow: indent with spaces (" + msg + ")"}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(strings.Join(lines[:at], "\n")), &doc) != nil {
		return fe
	}
	var last lastKey
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		last.walk(doc.Content[0], dst, "")
	}
	parent, typ := last.parent, last.parentType
	if last.opens {
		parent, typ = last.path, last.typ
	}
	key := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[at]), "- "))
	if i := strings.Index(key+" ", ": "); i > 0 { // "key: value" or "key:", not "wss://…"
		fe.Path, _ = fieldPath(typ, parent, key[:i])
	} else if parent != "" {
		fe.Path = parent
	}
	return fe
}

// lastKey is the mapping key on the last line of a document, with the
// paths and types of its field and of the one holding it.
type lastKey struct {
	line            int
	path, parent    string
	typ, parentType reflect.Type // nil: not known (a connector's section)
	opens           bool         // the key has no value: a section begins
}

// walk finds the last key in n, the value at path of type t.
func (k *lastKey) walk(n *yaml.Node, t reflect.Type, path string) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := n.Content[i], n.Content[i+1]
			p, ft := fieldPath(t, path, key.Value)
			if key.Line >= k.line {
				*k = lastKey{line: key.Line, path: p, parent: path, typ: ft, parentType: t, opens: isNull(v) && v.Value == ""}
			}
			k.walk(v, ft, p)
		}
	case yaml.SequenceNode:
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i, item := range n.Content {
			k.walk(item, et, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// fieldPath is the path of key under path, a value of type t (nil: not
// known), as errors name it (a struct's field with a dot, a map's key in
// brackets), and the key's type.
func fieldPath(t reflect.Type, path, key string) (string, reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil || t == nodeType || t == yamlNodeType:
	case t.Kind() == reflect.Map:
		return path + "[" + key + "]", t.Elem()
	case t.Kind() == reflect.Struct:
		if f, ok := structFields(t)[key]; ok {
			return join(path, key), t.FieldByIndex(f.index).Type
		}
	}
	return join(path, key), nil
}

// suggest proposes the closest known key for a misspelt one.
func suggest(key string, fields map[string]fieldInfo) string {
	best, bestD := "", 3
	for k := range fields {
		if dist := editDistance(key, k); dist < bestD || dist == bestD && k < best {
			best, bestD = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Lines finds the lines of field paths in a YAML file, for errors found
// after loading (a secret that cannot be read, a connector's own checks).
type Lines struct{ root *yaml.Node }

// ParseLines reads the lines of raw; bad YAML gives no lines.
func ParseLines(raw []byte) Lines {
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return Lines{}
	}
	return Lines{root: doc.Content[0]}
}

// Of is the line of path ("inputs[0].board.token_env"), or of its nearest
// ancestor in the file; 0 when the file has none of it.
func (l Lines) Of(path string) int {
	n, line := l.root, 0
	for n != nil && path != "" {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		line = n.Line
		var key string
		if strings.HasPrefix(path, "[") {
			end := strings.Index(path, "]")
			if end < 0 {
				break
			}
			key, path = path[1:end], path[end+1:]
		} else {
			path = strings.TrimPrefix(path, ".")
			i := strings.IndexAny(path, ".[")
			if i < 0 {
				i = len(path)
			}
			key, path = path[:i], path[i:]
		}
		n = child(n, key)
	}
	if n != nil {
		line = n.Line
	}
	return line
}

func child(n *yaml.Node, key string) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
	}
	return nil
}

// Locate gives each error of es without a line the line of its path.
func (l Lines) Locate(es minsheng.FieldErrors) minsheng.FieldErrors {
	out := make(minsheng.FieldErrors, len(es))
	for i, e := range es {
		if e.Line == 0 {
			e.Line = l.Of(e.Path)
		}
		out[i] = e
	}
	return out
}
