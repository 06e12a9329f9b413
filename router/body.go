package router

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/textenc"
)

// problem is an error answer: what kind, why, and each bad field (the
// desk API's shape, so that a desk reads every endpoint's errors alike).
type problem struct {
	Error   string               `json:"error"`
	Message string               `json:"message"`
	Fields  minsheng.FieldErrors `json:"fields,omitempty"`
}

// readObject reads a request's body as one flat JSON object into fields
// (each JSON name, lower case, to a pointer to decode its value into; a
// body may give the name in any case). It answers the
// desk itself, and returns false, for a body not declared
// application/json, declared in a charset other than UTF-8 or sent with a
// content coding (415), for one over max bytes (413, naming the limit)
// and for one not UTF-8 or not one JSON object (400, naming the offset of
// malformed JSON). Otherwise it
// returns every field of a wrong type or an unknown name, for the caller
// to add its own checks of the values to and answer with badFields: a desk
// learns of all its mistakes at once. shape tells the desk what to send.
func readObject(w http.ResponseWriter, req *http.Request, max int64, fields map[string]any, shape string) (minsheng.FieldErrors, bool) {
	mt, params, perr := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, problem{Error: "unsupported_media_type", Message: "send application/json: " + shape})
		return nil, false
	}
	if msg := cmp.Or(textenc.RefusedCoding(req.Header.Values("Content-Encoding")), textenc.RefusedCharset(params, perr)); msg != "" {
		writeJSON(w, http.StatusUnsupportedMediaType, problem{Error: "unsupported_media_type", Message: msg})
		return nil, false
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, max+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, problem{Error: "bad_request", Message: "the body could not be read: " + err.Error()})
		return nil, false
	}
	if int64(len(raw)) > max {
		writeJSON(w, http.StatusRequestEntityTooLarge, problem{Error: "too_large", Message: fmt.Sprintf("the body is over %d bytes, the limit of this request: send %s", max, shape),
			Fields: minsheng.FieldErrors{{Path: bodyPath, Msg: fmt.Sprintf("is over %d bytes", max)}}})
		return nil, false
	}
	errs := decodeObject(raw, max, fields)
	if len(errs) == 1 && errs[0].Path == bodyPath {
		badFields(w, shape, errs)
		return nil, false
	}
	return errs, true
}

// badFields answers 400 naming each bad field, and reports whether there
// was one.
func badFields(w http.ResponseWriter, shape string, errs minsheng.FieldErrors) bool {
	if len(errs) == 0 {
		return false
	}
	writeJSON(w, http.StatusBadRequest, problem{Error: "bad_request", Message: "body must be " + shape + ": " + errs.Error(), Fields: errs})
	return true
}

// bodyPath names the body as a whole in a FieldError.
const bodyPath = "(body)"

// decodeObject decodes raw as one JSON object into fields, returning each
// problem: one of the body as a whole ("(body)") alone, else every field
// of a wrong type or an unknown name, in the body's order.
func decodeObject(raw []byte, max int64, fields map[string]any) minsheng.FieldErrors {
	body := func(msg string) minsheng.FieldErrors { return minsheng.FieldErrors{{Path: bodyPath, Msg: msg}} }
	if int64(len(raw)) > max {
		return body(fmt.Sprintf("is over %d bytes", max))
	}
	if textenc.HasBOM(raw) {
		return body(textenc.JSONBOM)
	}
	if !utf8.Valid(raw) {
		return body(fmt.Sprintf("is not valid UTF-8 (first bad byte at offset %d); send UTF-8 JSON", textenc.InvalidAt(raw)))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return body(notJSON(err, "is not one JSON object"))
	}
	var errs minsheng.FieldErrors
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return body(notJSON(err, "is not one JSON object"))
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return body(notJSON(err, "is not one JSON object"))
		}
		// Names match in any case, as encoding/json matches a struct's.
		if slices.ContainsFunc(seen, func(s string) bool { return strings.EqualFold(s, name) }) {
			errs = append(errs, minsheng.FieldError{Path: name, Msg: "is given twice"})
			continue
		}
		seen = append(seen, name)
		ptr, ok := fields[strings.ToLower(name)]
		if !ok {
			errs = append(errs, minsheng.FieldError{Path: name, Msg: "is not a known field"})
			continue
		}
		if err := json.Unmarshal(v, ptr); err != nil {
			var te *json.UnmarshalTypeError
			msg := "has the wrong type"
			if errors.As(err, &te) {
				msg = fmt.Sprintf("must be %s, not a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
			}
			errs = append(errs, minsheng.FieldError{Path: name, Msg: msg})
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return body(notJSON(err, "is not one JSON object"))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return body("holds more than one JSON object")
	}
	return errs
}

// notJSON describes a decoding error of the body as a whole, with the
// offset of malformed JSON.
func notJSON(err error, otherwise string) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("is not valid JSON at offset %d: %v", syn.Offset, syn)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "is cut short or empty: send one JSON object"
	}
	return otherwise
}

// jsonKind names a Go kind as the JSON a desk should send.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool", "ptr":
		return "true or false"
	case "slice":
		return "an array"
	}
	return "a " + kind
}
