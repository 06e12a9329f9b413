package desk

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/textenc"
)

// readMultipart reads multipart/form-data: a part named "item" holding the
// submission as JSON, and up to MaxAttachments file parts, each streamed into
// the blob store under its cap (413 naming the file when over). Files are
// staged, and stored only once the whole request has been read and the
// item is good: a refused request leaves nothing in the store (the item
// part may come after the files).
func (d *Desk) readMultipart(req *http.Request, p *minsheng.Principal) (*minsheng.Item, *Problem, int) {
	var staged []minsheng.StagedBlob
	defer func() {
		for _, s := range staged {
			s.Discard() // nothing after Commit
		}
	}()
	maxTotal := d.cfg.MaxBodyBytes + int64(d.cfg.MaxAttachments)*(d.cfg.MaxAttachmentBytes+64<<10)
	req.Body = http.MaxBytesReader(nil, req.Body, maxTotal)
	mr, err := req.MultipartReader()
	if err != nil {
		return nil, &Problem{Error: "bad_request", Message: "multipart body: " + err.Error()}, http.StatusBadRequest
	}
	var sub *Submission
	var atts []minsheng.Attachment
	itemAsFile := false // a file part named "item": the item sent as a file by mistake
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Problem{Error: "too_large", Message: fmt.Sprintf("the request is over %d bytes", maxTotal)}, http.StatusRequestEntityTooLarge
		}
		if err != nil {
			return nil, &Problem{Error: "bad_request", Message: "multipart body: " + err.Error()}, http.StatusBadRequest
		}
		if part.FormName() == "item" && part.FileName() == "" {
			if sub != nil {
				return nil, &Problem{Error: "bad_request", Message: `more than one "item" part`}, http.StatusBadRequest
			}
			_, params, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
			if msg := textenc.RefusedCharset(params, err); msg != "" {
				return nil, &Problem{Error: "unsupported_media_type", Message: `the "item" part: ` + msg}, http.StatusUnsupportedMediaType
			}
			raw, prob, st := readBody(part, d.cfg.MaxBodyBytes)
			if prob != nil {
				return nil, prob, st
			}
			if sub, err = DecodeSubmission(raw); err != nil {
				prob, st := invalid(err)
				return nil, prob, st
			}
			continue
		}
		if part.FileName() == "" {
			return nil, &Problem{Error: "bad_request", Message: fmt.Sprintf("part %q: only an \"item\" part and file parts are accepted", part.FormName())}, http.StatusBadRequest
		}
		itemAsFile = itemAsFile || part.FormName() == "item"
		if len(atts) == d.cfg.MaxAttachments {
			return nil, &Problem{Error: "too_many_attachments", Message: fmt.Sprintf("at most %d attachments", d.cfg.MaxAttachments)}, http.StatusRequestEntityTooLarge
		}
		name := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
		// The name is kept as the item's attachment name, which the item
		// schema holds to 255 characters of UTF-8: one the pipeline would
		// reject (the item answered 202 and routed to rejected), or store
		// with U+FFFD (the desk's exact retry then a 409 conflict), is
		// refused here, naming it.
		if fe := attachmentName(name, len(atts)); fe != nil {
			return nil, &Problem{Error: "invalid_item", Message: fe.Path + ": " + fe.Msg, Fields: minsheng.FieldErrors{*fe}}, http.StatusBadRequest
		}
		sb, err := d.o.Blobs.Stage(req.Context(), part, d.cfg.MaxAttachmentBytes)
		if errors.Is(err, minsheng.ErrTooLarge) {
			return nil, &Problem{Error: "too_large", Message: fmt.Sprintf("attachment %q is over %d bytes", name, d.cfg.MaxAttachmentBytes)}, http.StatusRequestEntityTooLarge
		}
		if errors.As(err, &mbe) {
			return nil, &Problem{Error: "too_large", Message: fmt.Sprintf("the request is over %d bytes", maxTotal)}, http.StatusRequestEntityTooLarge
		}
		if err != nil {
			return nil, &Problem{Error: "unavailable", Message: "attachment could not be stored"}, http.StatusServiceUnavailable
		}
		staged = append(staged, sb)
		info := sb.Info()
		typ := part.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(typ); err == nil && len(mt) <= maxAttachmentType {
			typ = mt
		} else {
			typ = "application/octet-stream"
		}
		atts = append(atts, minsheng.Attachment{Name: name, Type: typ, Size: info.Size, SHA256: info.SHA256, Ref: info.Ref})
	}
	if sub == nil {
		if itemAsFile {
			msg := `came as a file (its part has a file name, as curl -F 'item=@letter.json' sends it), which is taken as an attachment; send the JSON without a file name: curl -F 'item=<letter.json;type=application/json'`
			return nil, &Problem{Error: "invalid_item", Message: `multipart body has no "item" part: the part named "item" ` + msg, Fields: minsheng.FieldErrors{{Path: "item", Msg: msg}}}, http.StatusBadRequest
		}
		return nil, &Problem{Error: "invalid_item", Message: `multipart body has no "item" part`, Fields: minsheng.FieldErrors{{Path: "item", Msg: "is required"}}}, http.StatusBadRequest
	}
	for _, sb := range staged {
		if err := sb.Commit(); err != nil {
			return nil, &Problem{Error: "unavailable", Message: "attachment could not be stored"}, http.StatusServiceUnavailable
		}
	}
	it := sub.item(p)
	it.Attachments = atts
	return it, nil, 0
}

// maxAttachmentType is the item schema's limit on an attachment's type: a
// longer one is taken as application/octet-stream, as an unreadable one is.
const maxAttachmentType = 255

// attachmentName refuses a file part's name the item schema would refuse
// as attachment i's: not UTF-8 (a GBK name, say), or over 255 characters.
func attachmentName(name string, i int) *minsheng.FieldError {
	path := fmt.Sprintf("attachments[%d].name", i)
	if !utf8.ValidString(name) {
		return &minsheng.FieldError{Path: path, Msg: fmt.Sprintf("the file name of file part %d is not valid UTF-8; send it in UTF-8", i+1)}
	}
	if n := utf8.RuneCountInString(name); n > 255 {
		return &minsheng.FieldError{Path: path, Msg: fmt.Sprintf("the file name of file part %d is %d characters, over 255", i+1, n)}
	}
	if j := controlAt(name); j >= 0 {
		return &minsheng.FieldError{Path: path, Msg: fmt.Sprintf("the file name of file part %d holds a control character (U+%04X at byte %d)", i+1, name[j], j)}
	}
	// A bidirectional override or isolate turns how a name reads around:
	// "invoice\u202Efdp.exe" shows as "invoiceexe.pdf".
	if j := strings.IndexFunc(name, bidiControl); j >= 0 {
		r, _ := utf8.DecodeRuneInString(name[j:])
		return &minsheng.FieldError{Path: path, Msg: fmt.Sprintf("the file name of file part %d holds a bidirectional control (U+%04X at byte %d), which would make it read as another name", i+1, r, j)}
	}
	return nil
}

// bidiControl reports whether r is a bidirectional embedding, override or
// isolate (U+202A to U+202E, U+2066 to U+2069), which reorders the text
// around it when shown.
func bidiControl(r rune) bool { return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 }
