package minsheng

import (
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"strconv"
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
	// hostname_port as the validator has it refuses an IP literal in
	// brackets ("[::1]:993"), an address net.Dial and net.Listen take.
	err := v.RegisterValidation("hostname_port", func(fl validator.FieldLevel) bool {
		host, port, err := net.SplitHostPort(fl.Field().String())
		if err != nil {
			return false
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return false
		}
		if ip, _, _ := strings.Cut(host, "%"); host == "" || net.ParseIP(ip) != nil {
			return true
		}
		return v.Var(host, "hostname_rfc1123") == nil
	})
	if err != nil {
		panic(err)
	}
	return v
}

// Validator returns the shared validator, configured to name fields by their
// JSON (or YAML) names. Packages validating their own structs use it so that
// every error names fields the same way.
func Validator() *validator.Validate { return validate }

// Validate checks an item against the schema and returns every problem,
// each naming its field by its JSON path ("complainant.email").
func (it *Item) Validate() FieldErrors {
	if it.plainlyValid() {
		return nil
	}
	return it.validateAll()
}

// validateAll is Validate through the validator.
func (it *Item) validateAll() FieldErrors {
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

// plainlyValid reports whether the item passes Validate, checking its
// fields by hand, without the validator's reflection (a few per cent of the
// gateway's CPU at full load). It is conservative: false is not a verdict,
// only a turn to the validator, which then names each problem. So it
// compares lengths in bytes, which are never fewer than the characters the
// validator counts, and leaves e-mail addresses and attachments to it.
// validate_fast_test.go checks it against the validator at every limit.
func (it *Item) plainlyValid() bool {
	if it.SchemaVersion != "1" || it.ID == "" || len(it.ID) > 64 || it.TraceID == "" || len(it.TraceID) > 64 ||
		!it.Channel.Valid() || it.Source == "" || len(it.Source) > 128 || it.Via != "" && it.Via != ViaDesk ||
		it.Ref == "" || len(it.Ref) > 256 || it.ReceivedAt.IsZero() || it.SubmittedAt.IsZero() ||
		len(it.Title) > 500 || it.Title == "" && it.Body == "" || len(it.Body) > 100000 ||
		len(it.Complainant.Name) > 100 || len(it.Complainant.Phone) > 40 || it.Complainant.Email != "" ||
		it.Location != nil && (len(it.Location.District) > 100 || len(it.Location.Address) > 300) ||
		len(it.Attachments) > 0 || len(it.RawRef) > 128 || len(it.Automated) > 200 || len(it.RevisionOf) > 64 ||
		len(it.Attrs) > 50 {
		return false
	}
	for k, v := range it.Attrs {
		if len(k) > 64 || len(v) > 2000 {
			return false
		}
	}
	return utf8.ValidString(it.Title) && utf8.ValidString(it.Body) && utf8.ValidString(it.Ref) && utf8.ValidString(it.Complainant.Name)
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
