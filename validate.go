package minsheng

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		for _, tag := range []string{"json", "yaml"} {
			name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
			if name == "-" {
				return ""
			}
			if name != "" {
				return name
			}
		}
		return f.Name
	})
	return v
}

// Validator returns the shared validator, configured to name fields by their
// JSON (or YAML) names. Packages validating their own structs use it so that
// every error names fields the same way.
func Validator() *validator.Validate { return validate }

// Validate checks an item against the schema and returns every problem,
// each naming its field by its JSON path ("complainant.email").
func (it *Item) Validate() FieldErrors {
	var errs FieldErrors
	if err := validate.Struct(it); err != nil {
		errs = append(errs, ValidationErrors(err, "Item")...)
	}
	for path, s := range map[string]string{"title": it.Title, "body": it.Body, "ref": it.Ref,
		"complainant.name": it.Complainant.Name} {
		if !utf8.ValidString(s) {
			errs = append(errs, FieldError{Path: path, Msg: "is not valid UTF-8"})
		}
	}
	return errs
}

// ValidationErrors turns a validator error into field errors with paths
// relative to the root struct named root (which is dropped from the path).
func ValidationErrors(err error, root string) FieldErrors {
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		return FieldErrors{{Path: root, Msg: err.Error()}}
	}
	out := make(FieldErrors, 0, len(ves))
	for _, fe := range ves {
		path := fe.Namespace()
		if i := strings.IndexByte(path, '.'); i >= 0 {
			path = path[i+1:]
		}
		out = append(out, FieldError{Path: path, Msg: describe(fe)})
	}
	return out
}

func describe(fe validator.FieldError) string {
	// NaN (YAML's .nan) fails every comparison: "must be at least 0" would
	// not say what is wrong with it.
	if f, ok := fe.Value().(float64); ok && math.IsNaN(f) {
		return "must be a number, not NaN"
	}
	if f, ok := fe.Value().(float32); ok && math.IsNaN(float64(f)) {
		return "must be a number, not NaN"
	}
	p := fe.Param()
	switch fe.Tag() {
	case "required":
		return "is required"
	case "required_without":
		return "is required when " + strings.ToLower(p) + " is empty"
	case "max":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("is longer than %s characters", p)
		}
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return fmt.Sprintf("has more than %s entries", p)
		}
		return "must be at most " + p
	case "min":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("is shorter than %s characters", p)
		}
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return fmt.Sprintf("has fewer than %s entries", p)
		}
		return "must be at least " + p
	case "len":
		return fmt.Sprintf("must be %s characters long", p)
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(p, " ", ", ")
	case "eq":
		return "must be " + p
	case "email":
		return "is not a valid e-mail address"
	case "hexadecimal":
		return "must be hexadecimal"
	case "url", "http_url":
		return "is not a valid URL"
	case "hostname_port":
		return "must be host:port"
	case "gt":
		return "must be greater than " + p
	case "gte":
		return "must be at least " + p
	case "gtefield":
		return "must be at least " + snakeCase(p)
	case "lte":
		return "must be at most " + p
	case "dive", "unique":
		return "has duplicate or invalid entries"
	}
	if p != "" {
		return fmt.Sprintf("fails %s=%s", fe.Tag(), p)
	}
	return "fails " + fe.Tag()
}

// snakeCase names a configuration's Go field as its YAML key does
// (MaxBodyBytes → max_body_bytes), for a rule comparing two fields.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
