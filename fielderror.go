package minsheng

import (
	"fmt"
	"strings"
)

// FieldError is a problem with one field of a configuration or an input,
// named by its path ("routes.petition", "complainant.email").
type FieldError struct {
	Path string `json:"field"`
	// Line in the source file, when known (configuration files).
	Line int    `json:"line,omitempty"`
	Msg  string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// FieldErrors is a list of field problems reported together.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Prefix returns es with path prefixed to each field path (the section the
// fields are in, e.g. "desks[0]").
func (es FieldErrors) Prefix(path string) FieldErrors {
	out := make(FieldErrors, len(es))
	for i, e := range es {
		if e.Path != "" {
			e.Path = path + "." + e.Path
		} else {
			e.Path = path
		}
		out[i] = e
	}
	return out
}

// Err returns es as an error, or nil when it is empty.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
