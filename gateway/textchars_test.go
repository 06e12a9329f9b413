package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/minsheng/minsheng/connectors/desk"
)

// TestControlAndInvisibleCharactersRefused: through the gateway's own HTTP
// server, a C0 control character other than tab, LF and CR (a NUL, an
// escape) in any text field of a submission or in an attachment's name is
// refused with 400 naming the field, and so is a line separator or a
// bidirectional override or isolate in a ref, which would make two refs
// look alike. In a title or body a bidirectional control is kept, as
// received, and triage classifies the letter as it does without it.
func TestControlAndInvisibleCharactersRefused(t *testing.T) {
	r := start(t, testConfig(t, nil))
	edit := func(ref string, f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(submission(ref, 0), &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	who := func(m map[string]any) map[string]any { return m["complainant"].(map[string]any) }
	for _, c := range []struct {
		name, field string
		body        []byte
	}{
		{"NUL in title", "title", edit("CC-1", func(m map[string]any) { m["title"] = "道路\x00塌陷" })},
		{"escape in body", "body", edit("CC-2", func(m map[string]any) { m["body"] = "\x1b[2J" + m["body"].(string) })},
		{"DEL in complainant name", "complainant.name", edit("CC-3", func(m map[string]any) { who(m)["name"] = "赵\x7f六" })},
		{"bell in phone", "complainant.phone", edit("CC-4", func(m map[string]any) { who(m)["phone"] = "136\x07" })},
		{"form feed in complainant name", "complainant.name", edit("CC-8", func(m map[string]any) { who(m)["name"] = "赵\f六" })},
		{"NUL in address", "location.address", edit("CC-5", func(m map[string]any) { m["location"] = map[string]any{"address": "东门\x00"} })},
		{"NUL in an attr", "attrs.k", edit("CC-6", func(m map[string]any) { m["attrs"] = map[string]any{"k": "v\x00"} })},
		{"NUL in a batch item", "items[0].title", nil},
		{"right-to-left override in ref", "ref", edit("CC-\u202e01", func(map[string]any) {})},
		{"first strong isolate in ref", "ref", edit("CC-\u206801\u2069", func(map[string]any) {})},
		{"line separator in ref", "ref", edit("CC-\u2028", func(map[string]any) {})},
	} {
		url := r.url + "/v1/items"
		if c.body == nil {
			url += "/batch"
			c.body = []byte(fmt.Sprintf(`{"items":[%s]}`, edit("CC-7", func(m map[string]any) { m["title"] = "\x00" })))
		}
		a := call(t, "POST", url, deskToken, "application/json", c.body)
		if a.status != 400 || !strings.Contains(string(a.body), fmt.Sprintf(`"field":%q`, c.field)) {
			t.Errorf("%s: %d %s; want 400 naming %s", c.name, a.status, a.body, c.field)
		}
	}
	// An attachment's name: a control character, or a bidirectional
	// override that shows "invoice\u202efdp.exe" as "invoiceexe.pdf".
	// (A control character cannot stand in a header line: it comes
	// percent-encoded, as RFC 2231 has it.)
	for _, name := range []string{"photo%01.jpg", "invoice%E2%80%AEfdp.exe"} {
		ct, body := multipartItem(submission("CC-ATT", 0), map[string][]byte{"x": []byte("x")})
		body = bytes.Replace(body, []byte(`filename="x"`), []byte(`filename*=UTF-8''`+name), 1)
		if a := call(t, "POST", r.url+"/v1/items", deskToken, ct, body); a.status != 400 || !strings.Contains(string(a.body), `"field":"attachments[0].name"`) {
			t.Errorf("attachment named %q: %d %s; want 400 naming attachments[0].name", name, a.status, a.body)
		}
	}
	if n, _ := r.g.Store().CountItems(); n != 0 {
		t.Fatalf("%d items recorded after refused posts only", n)
	}

	// Tab, LF and CR are text, and so in a title and body are vertical
	// tab and form feed (a word processor's line and page breaks);
	// bidirectional controls in a letter are kept.
	plain := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", submission("CC-PLAIN", 0))
	title, text := "小区门口道路\u202e塌陷\u202c多日无人修复\v", "第一行\t\r\n第二行\v\u2067东门\u2069外的人行道塌陷，形成一个大坑，\f已经有老人摔倒受伤，请市政部门尽快修复。"
	bidi := call(t, "POST", r.url+"/v1/items", deskToken, "application/json", edit("CC-BIDI", func(m map[string]any) { m["title"], m["body"] = title, text }))
	if plain.status != 202 || bidi.status != 202 {
		t.Fatalf("plain letter %d %s, letter with bidirectional controls %d %s; want both 202", plain.status, plain.body, bidi.status, bidi.body)
	}
	var p, b desk.Accepted
	plain.decode(t, &p)
	bidi.decode(t, &b)
	rec, err := r.g.Store().Lookup(context.Background(), b.ID)
	if err != nil || rec.Item.Title != title || rec.Item.Body != text {
		t.Fatalf("stored %q %q (%v); want the letter as posted", rec.Item.Title, rec.Item.Body, err)
	}
	if p.Decision.Class != b.Decision.Class {
		t.Errorf("class %s with bidirectional controls, %s without: triage should not see them", b.Decision.Class, p.Decision.Class)
	}
}

// TestCharsetRefused: JSON declared in a charset other than UTF-8 (or
// US-ASCII, any case) is refused with 415 naming the charset, by the desk
// API (an item, a batch, a multipart item part) and by the router's
// review, ack and release, since every body is read as UTF-8 only; a UTF-8
// body so declared was taken.
func TestCharsetRefused(t *testing.T) {
	r := start(t, testConfig(t, nil))
	// A review body is looked at for an item the desk may see (an unknown
	// ID is 404 first).
	a := post(t, r.url, "CS-R", 0)
	var seen desk.Accepted
	a.decode(t, &seen)
	if a.status != 202 {
		t.Fatalf("post: %d %s", a.status, a.body)
	}
	ct, form := multipartItem(submission("CS-3", 0), nil)
	form = bytes.Replace(form, []byte("Content-Type: application/json"), []byte("Content-Type: application/json; charset=utf-16"), 1)
	for _, c := range []struct {
		path, token, ctype string
		body               []byte
	}{
		{"/v1/items", deskToken, "application/json; charset=utf-16", submission("CS-1", 0)},
		{"/v1/items", deskToken, "application/json; Charset=\"GB2312\"", submission("CS-1", 0)},
		{"/v1/items/batch", deskToken, "application/json; charset=utf-16", []byte(fmt.Sprintf(`{"items":[%s]}`, submission("CS-2", 0)))},
		{"/v1/items", deskToken, ct, form},
		{"/v1/reviews/" + seen.ID, readerToken, "application/json; charset=utf-16", []byte(`{"class":"petition"}`)},
		{"/v1/queues/review/ack", readerToken, "application/json; charset=latin1", []byte(`{"ids":["x"]}`)},
		{"/v1/queues/review/release", readerToken, "application/json; charset=latin1", []byte(`{"ids":["x"]}`)},
		// Parameters that cannot be read (one without a value): the
		// charset among them cannot be told, and was not checked.
		{"/v1/items", deskToken, "application/json; charset=utf-16; x", submission("CS-4", 0)},
		{"/v1/items/batch", deskToken, "application/json; charset=gbk; x", []byte(fmt.Sprintf(`{"items":[%s]}`, submission("CS-5", 0)))},
		{"/v1/items", deskToken, ct, bytes.Replace(form, []byte("charset=utf-16"), []byte("charset=gbk; x"), 1)},
		{"/v1/reviews/" + seen.ID, readerToken, "application/json; charset=utf-16; x", []byte(`{"class":"petition"}`)},
		{"/v1/queues/review/ack", readerToken, "application/json; x; charset=latin1", []byte(`{"ids":["x"]}`)},
	} {
		a := call(t, "POST", r.url+c.path, c.token, c.ctype, c.body)
		if a.status != 415 || !strings.Contains(string(a.body), "charset") {
			t.Errorf("%s as %q: %d %s; want 415 naming the charset", c.path, c.ctype, a.status, a.body)
		}
	}
	if n, _ := r.g.Store().CountItems(); n != 1 {
		t.Fatalf("%d items recorded after one accepted post and refused ones", n)
	}
	for _, cs := range []string{"utf-8", "UTF-8", "us-ascii"} {
		if a := call(t, "POST", r.url+"/v1/items", deskToken, "application/json; charset="+cs, submission("CS-OK-"+cs, 0)); a.status != 202 {
			t.Errorf("charset=%s: %d %s; want 202", cs, a.status, a.body)
		}
	}
}
