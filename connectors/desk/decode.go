package desk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/jsonkeys"
	"github.com/minsheng/minsheng/internal/textenc"
)

// Submission is what a desk posts for one item. The gateway fills in the
// rest of the unified item: channel and source from the desk's token, ID,
// trace ID, received time.
type Submission struct {
	// Ref is the desk's own reference for the letter; re-posting the same
	// ref is recognised as a repeat and answered with the same item ID.
	Ref         string             `json:"ref" validate:"required,max=256"`
	Title       string             `json:"title" validate:"max=500"`
	Body        string             `json:"body" validate:"required_without=Title,max=100000"`
	SubmittedAt time.Time          `json:"submitted_at" validate:"required"`
	Complainant *Complainant       `json:"complainant" validate:"required"`
	Location    *minsheng.Location `json:"location,omitempty"`
	Attrs       map[string]string  `json:"attrs,omitempty" validate:"max=50,dive,keys,max=64,endkeys,max=2000"`
	// RevisionOf is the ID of an earlier item this one corrects: the ID
	// the gateway answered for it (a ref cannot be used again with other
	// content, so a correction goes under a new ref naming the first).
	RevisionOf string `json:"revision_of,omitempty"`
}

// Complainant is the complainant as a desk posts it. The two flags are
// required (docs/item-schema.md): a missing or null "anonymous" must not
// read as false, which would share the identity, so they are pointers here
// and "required" tells a missing flag from false.
type Complainant struct {
	Name             string `json:"name" validate:"max=100"`
	Phone            string `json:"phone" validate:"max=40"`
	Email            string `json:"email" validate:"omitempty,max=254,email"`
	Anonymous        *bool  `json:"anonymous" validate:"required"`
	ConsentToPublish *bool  `json:"consent_to_publish" validate:"required"`
}

// complainant is the item's complainant. Both flags are set once the
// submission has been validated; were one not, it would read as
// anonymous / no consent, the side that shares nothing.
func (c *Complainant) complainant() minsheng.Complainant {
	return minsheng.Complainant{Name: c.Name, Phone: c.Phone, Email: c.Email,
		Anonymous:        c.Anonymous == nil || *c.Anonymous,
		ConsentToPublish: c.ConsentToPublish != nil && *c.ConsentToPublish}
}

// DecodeSubmission parses one submission strictly: valid UTF-8, one JSON
// object, no unknown fields, the right types, every required field. The
// error is a minsheng.FieldErrors naming each problem: a problem of the
// body as a whole (not UTF-8, not JSON, not one object) alone; otherwise
// every field of a wrong type or unknown name, and every missing field
// and limit of the others, so that a desk learns of all in one answer.
func DecodeSubmission(raw []byte) (*Submission, error) {
	if s, ok := decodePlain(raw); ok && len(s.validate("")) == 0 {
		return s, nil
	}
	return decodeSubmission(raw)
}

// decodeSubmission is DecodeSubmission through encoding/json, for every
// body: the one decodePlain does not take, and each refused.
func decodeSubmission(raw []byte) (*Submission, error) {
	var s Submission
	errs := decodeFields(raw, &s)
	if len(errs) > 0 && (errs[0].Path == "(body)" || len(errs) > maxRefused) {
		return nil, errs // the body as a whole, or too many refused to go on
	}
	bad := map[string]bool{} // by name in lower case, as the decoder matches names
	for _, fe := range errs {
		bad[strings.ToLower(topField(fe.Path))] = true
	}
	// The decoder keeps the last of a field given twice (in any case): the
	// desk is told, rather than the first text lost.
	for _, path := range jsonkeys.Find(raw, jsonkeys.Options{Fold: mapsExact, Keep: submissionField, Max: maxRefused}) {
		// It is the repeat that is refused: what the decoder said of the
		// field's last value, or of what lies inside it, is beside the
		// point. A field refused as a whole already (an unknown name, a
		// list where an object goes, a repeat around it) stays refused as
		// it was.
		covered := false
		errs = slices.DeleteFunc(errs, func(fe minsheng.FieldError) bool {
			if within(path, fe.Path) && (fe.Msg == notAField || fe.Msg == givenTwice || !jsonkeys.Same(fe.Path, path)) {
				covered = true
				return false
			}
			return within(fe.Path, path)
		})
		if !covered {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: givenTwice})
		}
		bad[strings.ToLower(topField(path))] = true
	}
	for _, fe := range s.validate("") {
		if !bad[strings.ToLower(topField(fe.Path))] { // a field refused already reads as missing now
			errs = append(errs, fe)
		}
	}
	if len(errs) > maxRefused {
		errs = append(errs[:maxRefused], minsheng.FieldError{Path: "(body)", Msg: fmt.Sprintf("has more refused fields than the %d listed; fix these and post again", maxRefused)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &s, nil
}

// submissionField reports whether a name is a field of Submission: a
// repeat inside another name is not named, the name being refused already.
var submissionField = jsonkeys.FieldsOf[Submission]()

// within reports whether path p is path or lies inside it ("complainant.name"
// in "complainant", "attrs[0].k" in "attrs"), names compared as the
// decoder matches them.
func within(p, path string) bool {
	fp, f := jsonkeys.FoldName(p), jsonkeys.FoldName(path)
	return fp == f || strings.HasPrefix(fp, f+".") || strings.HasPrefix(fp, f+"[")
}

// mapsExact tells jsonkeys.Repeated which objects of a submission are
// structs, whose field names match in any case: all but attrs, a map.
func mapsExact(depth int, under string) bool { return depth != 1 || !jsonkeys.Same(under, "attrs") }

// notAField is the message of a name the schema does not have, and
// givenTwice that of a name a body gives twice.
const (
	notAField  = "is not a field of the item schema"
	givenTwice = "is given twice; send each field once"
)

// maxRefused bounds how many refused fields decodeFields lists, so that
// an answer to a body of thousands of bad keys stays short.
const maxRefused = 16

// decodeFields decodes one JSON object strictly into *v (a struct). A
// problem of the body as a whole is returned alone. Otherwise, as the
// decoder stops at the first field it refuses (a wrong type, an unknown
// name), the object is read once more as raw fields and each is decoded
// on its own into its struct field, so that every refused top-level field
// is listed (up to maxRefused; then a last error says there are more),
// each with the path inside it (complainant.anonymous). v then holds the
// fields that decoded. Linear in the body: each byte is read three times
// at most (the strict decoding, the raw fields, its field's decoding),
// whatever the number of bad fields.
func decodeFields[T any](raw []byte, v *T) minsheng.FieldErrors {
	var fes minsheng.FieldErrors
	if err := strictJSON(raw, v); err == nil || !errors.As(err, &fes) || len(fes) != 1 || fes[0].Path == "(body)" {
		return fes
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return fes
	}
	*v = *new(T)
	rv := reflect.ValueOf(v).Elem()
	names := jsonkeys.Names(rv.Type())
	keys := slices.Sorted(maps.Keys(obj))
	var out minsheng.FieldErrors
	for _, k := range keys {
		fi, ok := names[k]
		if !ok { // the decoder matches names without regard to case, as here
			for n, i := range names {
				if strings.EqualFold(n, k) {
					fi, ok = i, true
					break
				}
			}
		}
		if !ok {
			out = append(out, minsheng.FieldError{Path: k, Msg: notAField})
			continue
		}
		f := reflect.New(rv.Field(fi).Type())
		err := strictJSON(obj[k], f.Interface())
		if err == nil {
			rv.Field(fi).Set(f.Elem())
			continue
		}
		var one minsheng.FieldErrors
		errors.As(err, &one)
		for _, fe := range one {
			// The field's value as a whole ("(body)", or the time's own
			// name that jsonError gives) is the field; a path inside it
			// hangs under it.
			if fe.Path == "(body)" || strings.EqualFold(fe.Path, k) {
				fe.Path = k
			} else {
				fe.Path = k + "." + fe.Path
			}
			out = append(out, fe)
		}
	}
	if len(out) > maxRefused {
		out = append(out[:maxRefused], minsheng.FieldError{Path: "(body)", Msg: fmt.Sprintf("has more fields of a wrong type or unknown name than the %d listed; fix these and post again", maxRefused)})
	}
	return out
}

// topField is the top-level field of a field error's path:
// "complainant.anonymous" → "complainant", "attrs[k]" → "attrs".
func topField(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}

func (s *Submission) validate(prefix string) minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	if s.plainlyValid() {
		// The validator would find nothing: not asked (its reflection was a
		// few per cent of the gateway's CPU at full load).
	} else if err := minsheng.Validator().Struct(s); err != nil {
		for _, fe := range minsheng.ValidationErrors(err, "Submission") {
			fe.Path = prefix + fe.Path
			errs = append(errs, fe)
		}
	}
	// The item holds the time in UTC, which encoding/json writes only for
	// the years 0000 to 9999: one outside them (0000-01-01T00:00:00+01:00)
	// could be neither queued nor recorded, and the desk would be told 503
	// and post it again, forever.
	if y := s.SubmittedAt.UTC().Year(); !s.SubmittedAt.IsZero() && (y < 0 || y > 9999) {
		errs = append(errs, minsheng.FieldError{Path: prefix + "submitted_at", Msg: "must fall between the years 0000 and 9999 in UTC"})
	}
	if fe := refError(s.Ref); fe != nil {
		fe.Path = prefix + fe.Path
		errs = append(errs, *fe)
	}
	return append(errs, s.controlErrors(prefix)...)
}

// refError refuses a reference that is not printable text. A reference
// names the letter in item IDs, logs and answers, and people compare refs
// by eye: a NUL or another control character (tab and line breaks
// included) there is a client's bug, and a line or paragraph separator or
// an invisible character (a bidirectional override or isolate, a
// zero-width space: textenc.Ignorable) makes two refs look alike, or one
// look like another ("QD-1\u202E01" shows as "QD-110").
func refError(ref string) *minsheng.FieldError {
	i := strings.IndexFunc(ref, func(r rune) bool {
		return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 || textenc.Ignorable(r)
	})
	if i < 0 {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(ref[i:])
	what := "an invisible character"
	switch {
	case unicode.IsControl(r):
		what = "a control character"
	case r == 0x2028 || r == 0x2029:
		what = "a line or paragraph separator"
	case bidiControl(r) || r == 0x200E || r == 0x200F || r == 0x061C: // or a mark
		what = "a bidirectional control"
	}
	return &minsheng.FieldError{Path: "ref", Msg: fmt.Sprintf("holds %s (U+%04X at byte %d); a reference is printable text", what, r, i)}
}

// controlAt is the byte offset of the first character in s that no
// text field may hold (textenc.ControlAt: a C0 control other than tab,
// line feed and carriage return, or DEL), or -1.
func controlAt(s string) int { return textenc.ControlAt(s, false) }

// controlError names a text field holding a control character
// (textenc.ControlAt, with breaks, which lets vertical tab and form feed
// pass, for a letter's title and body).
func controlError(path, s string, breaks bool) *minsheng.FieldError {
	i := textenc.ControlAt(s, breaks)
	if i < 0 {
		return nil
	}
	allowed := "tab, line feed and carriage return are allowed"
	if breaks {
		allowed = "tab, line feed, carriage return, vertical tab and form feed are allowed"
	}
	return &minsheng.FieldError{Path: path, Msg: fmt.Sprintf("holds a control character (U+%04X at byte %d); send text without it (%s)", s[i], i, allowed)}
}

// controlErrors names each free-text field of the submission that holds
// a control character. Bidirectional controls and other invisible
// characters are kept in these: the letter is stored as received, never
// changed, and a complainant's Arabic or Uyghur name or address may need
// them; triage's normaliser drops them from the copy it classifies.
func (s *Submission) controlErrors(prefix string) minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	checkText := func(path, v string, breaks bool) {
		if fe := controlError(prefix+path, v, breaks); fe != nil {
			errs = append(errs, *fe)
		}
	}
	check := func(path, v string) { checkText(path, v, false) }
	checkText("title", s.Title, true)
	checkText("body", s.Body, true)
	if c := s.Complainant; c != nil {
		check("complainant.name", c.Name)
		check("complainant.phone", c.Phone)
		check("complainant.email", c.Email)
	}
	if l := s.Location; l != nil {
		check("location.district", l.District)
		check("location.address", l.Address)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
		if i := controlAt(k); i >= 0 {
			errs = append(errs, minsheng.FieldError{Path: prefix + "attrs", Msg: fmt.Sprintf("key %q holds a control character (U+%04X at byte %d); send keys without it", k, k[i], i)})
			continue
		}
		check("attrs."+k, s.Attrs[k])
	}
	if s.RevisionOf != "" && !minsheng.ValidItemID(s.RevisionOf) {
		errs = append(errs, minsheng.FieldError{Path: prefix + "revision_of", Msg: "must be the ID the gateway gave the item this one corrects (ms1 and 26 more characters), not its ref"})
	}
	return errs
}

// plainlyValid reports whether the validator would find nothing wrong with
// the submission's tags, checking by hand. It is conservative: false only
// sends the submission to the validator, which names each problem. So it
// compares lengths in bytes, never fewer than the characters the validator
// counts, and leaves e-mail addresses to it (validate_fast_test.go checks it
// against the validator at every limit).
func (s *Submission) plainlyValid() bool {
	c := s.Complainant
	if s.Ref == "" || len(s.Ref) > 256 || len(s.Title) > 500 || s.Title == "" && s.Body == "" || len(s.Body) > 100000 ||
		s.SubmittedAt.IsZero() || c == nil || len(c.Name) > 100 || len(c.Phone) > 40 || c.Email != "" ||
		c.Anonymous == nil || c.ConsentToPublish == nil ||
		s.Location != nil && (len(s.Location.District) > 100 || len(s.Location.Address) > 300) || len(s.Attrs) > 50 {
		return false
	}
	for k, v := range s.Attrs {
		if len(k) > 64 || len(v) > 2000 {
			return false
		}
	}
	return true
}

// strictJSON decodes exactly one JSON value into v.
func strictJSON(raw []byte, v any) error {
	if !utf8.Valid(raw) {
		return minsheng.FieldErrors{{Path: "(body)", Msg: fmt.Sprintf("is not valid UTF-8 (first bad byte at offset %d); send UTF-8 JSON", textenc.InvalidAt(raw))}}
	}
	if at := textenc.LoneSurrogateAt(raw); at >= 0 {
		return minsheng.FieldErrors{{Path: "(body)", Msg: fmt.Sprintf("a \\u escape at byte %d is half a UTF-16 surrogate pair: it would be read as U+FFFD; send the character, or both halves", at)}}
	}
	if textenc.HasBOM(raw) {
		return minsheng.FieldErrors{bomError}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return minsheng.FieldErrors{jsonError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return minsheng.FieldErrors{{Path: "(body)", Msg: "has data after the JSON object"}}
	}
	return nil
}

// bomError names a byte order mark for what it is (textenc.JSONBOM).
var bomError = minsheng.FieldError{Path: "(body)", Msg: textenc.JSONBOM}

func jsonError(err error) minsheng.FieldError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	switch {
	case errors.As(err, &syn):
		return minsheng.FieldError{Path: "(body)", Msg: fmt.Sprintf("is not valid JSON at offset %d: %s", syn.Offset, syn.Error())}
	case errors.As(err, &typ):
		path := typ.Field
		if path == "" {
			path = "(body)"
		}
		return minsheng.FieldError{Path: path, Msg: fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.String()), typ.Value)}
	case errors.As(err, &tim):
		return minsheng.FieldError{Path: "submitted_at", Msg: "must be an RFC 3339 time, e.g. 2026-11-22T09:30:00+08:00"}
	case errors.Is(err, io.EOF):
		return minsheng.FieldError{Path: "(body)", Msg: "is empty; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return minsheng.FieldError{Path: "(body)", Msg: "ends in the middle of the JSON object"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return minsheng.FieldError{Path: strings.Trim(f, `"`), Msg: notAField}
	}
	return minsheng.FieldError{Path: "(body)", Msg: strings.TrimPrefix(msg, "json: ")}
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "minsheng."), strings.HasPrefix(goType, "*minsheng."), strings.HasPrefix(goType, "desk."):
		return "an object"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return goType
}

// item turns a submission from desk p into an item: channel and source are
// the desk's, and Via marks it as the desk's own.
func (s *Submission) item(p *minsheng.Principal) *minsheng.Item {
	it := &minsheng.Item{
		Channel: p.Channel, Source: p.Name, Via: minsheng.ViaDesk, Ref: s.Ref,
		SubmittedAt: s.SubmittedAt.UTC(), Title: s.Title, Body: s.Body,
		Complainant: s.Complainant.complainant(), Location: s.Location, Attrs: s.Attrs,
		RevisionOf: s.RevisionOf,
	}
	return it
}

// readBody reads a request body up to max bytes; over it the answer is 413.
func readBody(r io.Reader, max int64) ([]byte, *Problem, int) {
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(raw)) > max {
		return nil, &Problem{Error: "too_large", Message: fmt.Sprintf("the request is over %d bytes", max)}, http.StatusRequestEntityTooLarge
	}
	if err != nil {
		return nil, &Problem{Error: "bad_request", Message: "could not read the request body"}, http.StatusBadRequest
	}
	return raw, nil, 0
}

func invalid(err error) (*Problem, int) {
	var fes minsheng.FieldErrors
	if !errors.As(err, &fes) {
		fes = minsheng.FieldErrors{{Path: "(body)", Msg: err.Error()}}
	}
	return &Problem{Error: "invalid_item", Message: fes.Error(), Fields: fes}, http.StatusBadRequest
}

// readItem reads a single-item request, JSON or multipart with attachments.
func (d *Desk) readItem(req *http.Request, p *minsheng.Principal) (*minsheng.Item, *Problem, int) {
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	var it *minsheng.Item
	switch mt {
	case "application/json":
		raw, prob, st := readBody(http.MaxBytesReader(nil, req.Body, d.cfg.MaxBodyBytes), d.cfg.MaxBodyBytes)
		if prob != nil {
			return nil, prob, st
		}
		s, err := DecodeSubmission(raw)
		if err != nil {
			prob, st := invalid(err)
			return nil, prob, st
		}
		it = s.item(p)
	case "multipart/form-data":
		var prob *Problem
		var st int
		it, prob, st = d.readMultipart(req, p)
		if prob != nil {
			return nil, prob, st
		}
	default:
		return nil, &Problem{Error: "unsupported_media_type", Message: "send application/json, or multipart/form-data with an \"item\" part"}, http.StatusUnsupportedMediaType
	}
	return d.finish(it, "")
}

// finish fills in the gateway's fields. The submission was checked field
// by field already; the fields the gateway sets are right by construction,
// and the pipeline validates the whole item again (rejecting it with the
// reason if ever it fails), so it is not checked a third time here.
func (d *Desk) finish(it *minsheng.Item, prefix string) (*minsheng.Item, *Problem, int) {
	it.Prepare(d.o.Now())
	return it, nil, 0
}

// readBatch reads {"items": [...]}; every item is checked before any is
// routed, so a batch with a bad item routes nothing.
func (d *Desk) readBatch(req *http.Request, p *minsheng.Principal) ([]*minsheng.Item, *Problem, int) {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, &Problem{Error: "unsupported_media_type", Message: "send application/json"}, http.StatusUnsupportedMediaType
	}
	max := d.batchMax()
	raw, prob, st := readBody(http.MaxBytesReader(nil, req.Body, max), max)
	if prob != nil {
		return nil, prob, st
	}
	var errs minsheng.FieldErrors
	var items []*minsheng.Item
	refs := map[string]int{}
	n, fes := eachItem(raw, d.cfg.MaxBatch, func(i int, r json.RawMessage) {
		prefix := fmt.Sprintf("items[%d].", i)
		if int64(len(r)) > d.cfg.MaxBodyBytes { // each item is held to what it may be posted alone
			errs = append(errs, minsheng.FieldError{Path: strings.TrimSuffix(prefix, "."),
				Msg: fmt.Sprintf("is %d bytes, over intake.max_body_bytes (%d), the limit of one item", len(r), d.cfg.MaxBodyBytes)})
			return
		}
		s, err := DecodeSubmission(r)
		if err != nil {
			var fes minsheng.FieldErrors
			errors.As(err, &fes)
			for _, fe := range fes {
				if rest := strings.TrimPrefix(fe.Path, "(body)"); rest != "" {
					fe.Path = prefix + rest
				} else { // the item as a whole ("items[0]", not "items[0].")
					fe.Path = strings.TrimSuffix(prefix, ".")
				}
				errs = append(errs, fe)
			}
			return
		}
		if j, dup := refs[s.Ref]; dup {
			errs = append(errs, minsheng.FieldError{Path: prefix + "ref", Msg: fmt.Sprintf("repeats items[%d].ref", j)})
			return
		}
		refs[s.Ref] = i
		it, prob, _ := d.finish(s.item(p), prefix)
		if prob != nil {
			errs = append(errs, prob.Fields...)
			return
		}
		items = append(items, it)
	})
	if len(fes) > 0 && fes[0].Msg == listTwice {
		return nil, &Problem{Error: "invalid_batch", Message: fes.Error(), Fields: fes}, http.StatusBadRequest
	}
	if len(fes) > 0 {
		prob, st := invalid(fes)
		return nil, prob, st
	}
	if n == 0 || n > d.cfg.MaxBatch {
		return nil, &Problem{Error: "invalid_batch", Message: fmt.Sprintf("items: send 1 to %d items", d.cfg.MaxBatch)}, http.StatusBadRequest
	}
	if len(errs) > 0 {
		prob, st := invalid(errs)
		return nil, prob, st
	}
	return items, nil, 0
}

// eachItem reads a batch body, {"items": [...]}, handing each item's JSON
// to f as it comes: the body is decoded once, and no more than one item's
// copy is held at a time. It returns how many items there are, or a
// problem of the body as a whole (not UTF-8 or not JSON, not one object,
// a name other than "items", "items" given twice or not a list), alone.
// It stops at the first item beyond max, handing it no further, and
// returns max+1.
func eachItem(raw []byte, max int, f func(int, json.RawMessage)) (int, minsheng.FieldErrors) {
	if !utf8.Valid(raw) {
		return 0, minsheng.FieldErrors{{Path: "(body)", Msg: fmt.Sprintf("is not valid UTF-8 (first bad byte at offset %d); send UTF-8 JSON", textenc.InvalidAt(raw))}}
	}
	if at := textenc.LoneSurrogateAt(raw); at >= 0 {
		return 0, minsheng.FieldErrors{{Path: "(body)", Msg: fmt.Sprintf("a \\u escape at byte %d is half a UTF-16 surrogate pair: it would be read as U+FFFD; send the character, or both halves", at)}}
	}
	if textenc.HasBOM(raw) {
		return 0, minsheng.FieldErrors{bomError}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil {
		return 0, minsheng.FieldErrors{jsonError(err)}
	} else if tok != json.Delim('{') {
		return 0, minsheng.FieldErrors{{Path: "(body)", Msg: `must be an object, {"items": [...]}`}}
	}
	bad := func(err error) (int, minsheng.FieldErrors) {
		if errors.Is(err, io.EOF) { // inside the object
			err = io.ErrUnexpectedEOF
		}
		return 0, minsheng.FieldErrors{jsonError(err)}
	}
	n, seen := 0, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		name, _ := tok.(string)
		if !jsonkeys.Same(name, "items") { // names match in any case, as the decoder's do
			return 0, minsheng.FieldErrors{{Path: name, Msg: notAField}}
		}
		if seen { // two lists would lose the first
			return 0, minsheng.FieldErrors{{Path: name, Msg: listTwice}}
		}
		seen = true
		if tok, err = dec.Token(); err != nil {
			return bad(err)
		}
		switch tok {
		case nil: // null: no items
			continue
		case json.Delim('['):
		default:
			return 0, minsheng.FieldErrors{{Path: name, Msg: "must be a list, not " + jsonKind(tok)}}
		}
		for dec.More() {
			var r json.RawMessage
			if err := dec.Decode(&r); err != nil {
				return bad(err)
			}
			if n++; n > max {
				return n, nil
			}
			f(n-1, r)
		}
		if _, err := dec.Token(); err != nil { // ]
			return bad(err)
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return bad(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return 0, minsheng.FieldErrors{{Path: "(body)", Msg: "has data after the JSON object"}}
	}
	return n, nil
}

// listTwice is the message of a batch giving "items" twice.
const listTwice = "is given twice; send one list of items"

// jsonKind names the JSON value a token starts.
func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "object"
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "number"
}
