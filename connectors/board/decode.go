package board

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/minsheng/minsheng/connectors/internal/timefmt"
	"github.com/minsheng/minsheng/internal/textenc"
)

// Post is one message-board post as a feed page presents it.
type Post struct {
	ID          string
	Title       string
	Body        string
	Author      string
	URL         string
	ReplyStatus string
	// Time the post was made; zero when the feed gives none.
	Time time.Time
	// Updated is when the post was last edited (Atom <updated>, JSON
	// json.updated); zero when the feed gives none or it cannot be read.
	// It only says which of two copies of a post on one poll is newer.
	Updated time.Time `json:",omitzero"`
}

// BadPost is an entry of a page that could not be read as a post.
type BadPost struct {
	// ID is the entry's id when it could be read.
	ID     string
	Reason string
	Raw    []byte
}

// Page is one decoded feed page.
type Page struct {
	Posts []Post
	Bad   []BadPost
	// Next is the next page's link (RSS/Atom rel="next", JSON next_path) or
	// cursor (JSON cursor_path); empty on the last page.
	Next string
}

// Formats.
const (
	FormatAuto = "auto"
	FormatRSS  = "rss"
	FormatAtom = "atom"
	FormatJSON = "json"
)

// Sniff tells RSS, Atom and JSON apart by the first bytes of a body.
func Sniff(b []byte) (string, error) {
	b = bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) == 0 {
		return "", errors.New("empty response body")
	}
	switch b[0] {
	case '{', '[':
		return FormatJSON, nil
	case '<':
		d := xml.NewDecoder(bytes.NewReader(b))
		d.CharsetReader = charsetReader
		for {
			tok, err := d.Token()
			if err != nil {
				return "", fmt.Errorf("not a feed: %w", err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				switch se.Name.Local {
				case "rss":
					return FormatRSS, nil
				case "feed":
					return FormatAtom, nil
				}
				return "", fmt.Errorf("not a feed: root element <%s>", se.Name.Local)
			}
		}
	}
	return "", fmt.Errorf("not a feed: body starts with %q", clip(string(b), 16))
}

// Decode decodes a page in the given format (FormatAuto sniffs it).
func Decode(format string, b []byte, m *JSONMapping, loc *time.Location) (*Page, error) {
	if format == FormatAuto || format == "" {
		f, err := Sniff(b)
		if err != nil {
			return nil, err
		}
		format = f
	}
	switch format {
	case FormatRSS:
		return DecodeRSS(b, loc)
	case FormatAtom:
		return DecodeAtom(b, loc)
	case FormatJSON:
		return DecodeJSON(b, m, loc)
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func charsetReader(label string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(label)
	if err != nil {
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	return enc.NewDecoder().Reader(r), nil
}

func newXMLDecoder(b []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = charsetReader
	d.Strict = true
	return d
}

const (
	nsAtom    = "http://www.w3.org/2005/Atom"
	nsContent = "http://purl.org/rss/1.0/modules/content/"
	nsDC      = "http://purl.org/dc/elements/1.1/"
)

type xmlLink struct {
	Rel  string `xml:"rel,attr"`
	Href string `xml:"href,attr"`
}

func nextLink(ls []xmlLink) string {
	for _, l := range ls {
		if l.Rel == "next" {
			return strings.TrimSpace(l.Href)
		}
	}
	return ""
}

type rssDoc struct {
	XMLName xml.Name `xml:"rss"`
	Channel struct {
		Links []xmlLink    `xml:"http://www.w3.org/2005/Atom link"`
		Items []rssItemXML `xml:"item"`
	} `xml:"channel"`
}

type rssItemXML struct {
	GUID        string `xml:"guid"`
	Title       string `xml:"title"`
	Link        string `xml:"link"`
	Description string `xml:"description"`
	Content     string `xml:"http://purl.org/rss/1.0/modules/content/ encoded"`
	Author      string `xml:"author"`
	Creator     string `xml:"http://purl.org/dc/elements/1.1/ creator"`
	PubDate     string `xml:"pubDate"`
	DCDate      string `xml:"http://purl.org/dc/elements/1.1/ date"`
	Inner       []byte `xml:",innerxml"`
}

// DecodeRSS decodes an RSS 2.0 page. Paging follows RFC 5005's
// <atom:link rel="next">.
func DecodeRSS(b []byte, loc *time.Location) (*Page, error) {
	var doc rssDoc
	if err := newXMLDecoder(b).Decode(&doc); err != nil {
		return nil, fmt.Errorf("malformed RSS: %w", err)
	}
	p := &Page{Next: nextLink(doc.Channel.Links)}
	for _, it := range doc.Channel.Items {
		post := Post{
			ID:     strings.TrimSpace(it.GUID),
			Title:  text(it.Title),
			URL:    strings.TrimSpace(it.Link),
			Author: strings.TrimSpace(first(it.Creator, it.Author)),
			Body:   htmlText(first(it.Content, it.Description)),
		}
		if post.ID == "" {
			post.ID = post.URL
		}
		raw := append([]byte("<item>"), append(it.Inner, "</item>"...)...)
		addPost(p, post, first(it.PubDate, it.DCDate), "", "", loc, raw)
	}
	return p, nil
}

type atomFeedXML struct {
	XMLName xml.Name       `xml:"http://www.w3.org/2005/Atom feed"`
	Links   []xmlLink      `xml:"http://www.w3.org/2005/Atom link"`
	Entries []atomEntryXML `xml:"http://www.w3.org/2005/Atom entry"`
}

type atomText struct {
	Type  string `xml:"type,attr"`
	Text  string `xml:",chardata"`
	Inner string `xml:",innerxml"`
}

func (t atomText) String() string {
	switch t.Type {
	case "html":
		return htmlText(t.Text)
	case "xhtml":
		return htmlText(t.Inner)
	}
	return text(t.Text)
}

type atomEntryXML struct {
	ID        string    `xml:"http://www.w3.org/2005/Atom id"`
	Title     atomText  `xml:"http://www.w3.org/2005/Atom title"`
	Content   *atomText `xml:"http://www.w3.org/2005/Atom content"`
	Summary   *atomText `xml:"http://www.w3.org/2005/Atom summary"`
	Published string    `xml:"http://www.w3.org/2005/Atom published"`
	Updated   string    `xml:"http://www.w3.org/2005/Atom updated"`
	Authors   []struct {
		Name string `xml:"http://www.w3.org/2005/Atom name"`
	} `xml:"http://www.w3.org/2005/Atom author"`
	Links []xmlLink `xml:"http://www.w3.org/2005/Atom link"`
	Inner []byte    `xml:",innerxml"`
}

// DecodeAtom decodes an Atom (RFC 4287) page; paging by <link rel="next">.
func DecodeAtom(b []byte, loc *time.Location) (*Page, error) {
	var doc atomFeedXML
	if err := newXMLDecoder(b).Decode(&doc); err != nil {
		return nil, fmt.Errorf("malformed Atom: %w", err)
	}
	p := &Page{Next: nextLink(doc.Links)}
	for _, e := range doc.Entries {
		post := Post{ID: strings.TrimSpace(e.ID), Title: e.Title.String()}
		switch {
		case e.Content != nil:
			post.Body = e.Content.String()
		case e.Summary != nil:
			post.Body = e.Summary.String()
		}
		if len(e.Authors) > 0 {
			post.Author = strings.TrimSpace(e.Authors[0].Name)
		}
		for _, l := range e.Links {
			if l.Rel == "" || l.Rel == "alternate" {
				post.URL = strings.TrimSpace(l.Href)
				break
			}
		}
		raw := append([]byte("<entry>"), append(e.Inner, "</entry>"...)...)
		addPost(p, post, first(e.Published, e.Updated), e.Updated, "", loc, raw)
	}
	return p, nil
}

// addPost checks a decoded post and files it as a post or a bad post.
// when is its time, edited its edit time (either may be empty).
func addPost(p *Page, post Post, when, edited, layout string, loc *time.Location, raw []byte) {
	bad := func(reason string) {
		p.Bad = append(p.Bad, BadPost{ID: clip(post.ID, 200), Reason: reason, Raw: raw})
	}
	switch {
	case post.ID == "":
		bad("post has no id")
		return
	case len(post.ID) > 200:
		bad("post id is longer than 200 bytes")
		return
	case strings.TrimSpace(post.Title) == "" && strings.TrimSpace(post.Body) == "":
		bad("post has neither title nor body")
		return
	}
	for _, s := range []string{post.ID, post.Title, post.Body, post.Author} {
		if !utf8.ValidString(s) {
			bad("post is not valid UTF-8")
			return
		}
	}
	if strings.TrimSpace(when) != "" {
		t, err := timefmt.Parse(when, layout, loc)
		if err != nil {
			bad(err.Error())
			return
		}
		post.Time = t
	}
	if strings.TrimSpace(edited) != "" {
		// Unreadable, it orders nothing: the post is read as one
		// without an edit time.
		post.Updated, _ = timefmt.Parse(edited, layout, loc)
	}
	p.Posts = append(p.Posts, post)
}

// JSONMapping says where a JSON API page keeps its posts and their fields.
// Paths are dot-separated object keys; a number indexes an array
// ("data.list", "user.name", "replies.0.status").
type JSONMapping struct {
	// Items is the path to the array of posts; empty when the page is the array.
	Items string `yaml:"items" json:"items"`
	// Field paths within a post.
	ID     string `yaml:"id" json:"id" default:"id"`
	Title  string `yaml:"title" json:"title" default:"title"`
	Body   string `yaml:"body" json:"body" default:"content"`
	Author string `yaml:"author" json:"author" default:"author"`
	Time   string `yaml:"time" json:"time" default:"time"`
	// Updated: the post's last edit time, if the API gives one; of two
	// copies of a post in one poll the later edited is taken.
	Updated     string `yaml:"updated" json:"updated"`
	URL         string `yaml:"url" json:"url" default:"url"`
	ReplyStatus string `yaml:"reply_status" json:"reply_status" default:"reply_status"`
	// TimeLayout is a Go time layout for the time field; empty tries the
	// common forms (see connectors/internal/timefmt).
	TimeLayout string `yaml:"time_layout" json:"time_layout"`
	// BodyHTML: the body field holds HTML; reduce it to text.
	BodyHTML bool `yaml:"body_html" json:"body_html"`
	// Next is the path to the next page's URL (pagination mode next_link)
	// or the next cursor (mode cursor).
	Next string `yaml:"next" json:"next"`
}

func (m *JSONMapping) withDefaults() JSONMapping {
	c := JSONMapping{}
	if m != nil {
		c = *m
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.ID, "id")
	def(&c.Title, "title")
	def(&c.Body, "content")
	def(&c.Author, "author")
	def(&c.Time, "time")
	def(&c.URL, "url")
	def(&c.ReplyStatus, "reply_status")
	return c
}

// DecodeJSON decodes a JSON API page with the mapping m.
func DecodeJSON(b []byte, m *JSONMapping, loc *time.Location) (*Page, error) {
	mm := m.withDefaults()
	d := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON: data after the top-level value")
	}
	node, ok := lookup(doc, mm.Items)
	if !ok {
		return nil, fmt.Errorf("JSON page has no %q", mm.Items)
	}
	// A key given twice on the way to the posts or to the next page would
	// hide the first copy, and the posts in it, without a word.
	body := bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	for _, path := range []string{mm.Items, mm.Next} {
		if key := twiceOnPath(body, path); key != "" {
			return nil, fmt.Errorf("JSON page gives %q twice on the path %q", key, path)
		}
	}
	raws := elements(body, mm.Items)
	list, ok := node.([]any)
	if !ok {
		if node == nil {
			list = nil // "list": null on an empty page
		} else {
			return nil, fmt.Errorf("JSON %q is not an array", pathName(mm.Items))
		}
	}
	// encoding/json reads invalid UTF-8 in a string as U+FFFD without a
	// word, so the check is on the bytes: a post holding such bytes is bad;
	// such bytes anywhere else make the page bad.
	checkPosts := false
	if !utf8.Valid(body) {
		if len(raws) == len(list) {
			for _, r := range raws {
				checkPosts = checkPosts || !utf8.Valid(r)
			}
		}
		if !checkPosts {
			return nil, fmt.Errorf("JSON page is not valid UTF-8 (first bad byte at offset %d)", textenc.InvalidAt(body))
		}
	}
	p := &Page{}
	if mm.Next != "" {
		if v, ok := lookup(doc, mm.Next); ok {
			p.Next, _ = scalar(v)
		}
	}
	for i, el := range list {
		raw, _ := json.Marshal(el)
		if checkPosts && !utf8.Valid(raws[i]) {
			var id string
			if obj, ok := el.(map[string]any); ok {
				if v, ok := lookup(obj, mm.ID); ok {
					id, _ = scalar(v)
				}
			}
			if strings.ContainsRune(id, utf8.RuneError) {
				id = "" // the bad bytes are in the id
			}
			p.Bad = append(p.Bad, BadPost{ID: clip(strings.TrimSpace(id), 200), Reason: "post is not valid UTF-8", Raw: raws[i]})
			continue
		}
		obj, ok := el.(map[string]any)
		if !ok {
			p.Bad = append(p.Bad, BadPost{Reason: fmt.Sprintf("element %d of %q is not an object", i, pathName(mm.Items)), Raw: raw})
			continue
		}
		var post Post
		var when, edited string
		var problems []string
		var original []byte // the element as the board wrote it, when it gives a field twice
		field := func(dst *string, path, name string) {
			if i < len(raws) {
				if key := twiceOnPath(raws[i], path); key != "" {
					// The decoded map kept the last copy; which one the
					// board meant is not ours to guess.
					problems = append(problems, fmt.Sprintf("field %s (%q) gives %q twice", name, path, key))
					original = raws[i]
					return
				}
			}
			v, ok := lookup(obj, path)
			if !ok || v == nil {
				return
			}
			s, ok := scalar(v)
			if !ok {
				problems = append(problems, fmt.Sprintf("field %s (%q) is not a string or number", name, path))
				return
			}
			*dst = s
		}
		field(&post.ID, mm.ID, "id")
		field(&post.Title, mm.Title, "title")
		field(&post.Body, mm.Body, "body")
		field(&post.Author, mm.Author, "author")
		field(&when, mm.Time, "time")
		if mm.Updated != "" {
			field(&edited, mm.Updated, "updated")
		}
		field(&post.URL, mm.URL, "url")
		field(&post.ReplyStatus, mm.ReplyStatus, "reply_status")
		post.ID = strings.TrimSpace(post.ID)
		if len(problems) > 0 {
			if original != nil {
				var c bytes.Buffer
				if json.Compact(&c, original) == nil {
					raw = c.Bytes() // keeps both copies, which a re-encoding of the map would not
				}
			}
			p.Bad = append(p.Bad, BadPost{ID: clip(post.ID, 200), Reason: strings.Join(problems, "; "), Raw: raw})
			continue
		}
		post.Title = text(post.Title)
		if mm.BodyHTML {
			post.Body = htmlText(post.Body)
		} else {
			post.Body = strings.TrimSpace(post.Body)
		}
		post.Author = strings.TrimSpace(post.Author)
		addPost(p, post, when, edited, mm.TimeLayout, loc, raw)
	}
	return p, nil
}

func pathName(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

// lookup follows a dot path through decoded JSON.
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, seg := range strings.Split(path, ".") {
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			v = n[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// twiceOnPath returns the first key of the dot path that its object on
// the way down gives more than once in raw (valid JSON), or "" when none
// does or the path is not there. Keys are compared exactly, as a decoded
// map holds them.
func twiceOnPath(raw []byte, path string) string {
	if path == "" {
		return ""
	}
	for _, seg := range strings.Split(path, ".") {
		d := json.NewDecoder(bytes.NewReader(raw))
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		var next json.RawMessage
		found := false
		switch tok {
		case json.Delim('{'):
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return ""
				}
				var v json.RawMessage
				if err := d.Decode(&v); err != nil {
					return ""
				}
				if k == seg {
					if found {
						return seg
					}
					next, found = v, true
				}
			}
		case json.Delim('['):
			want, err := strconv.Atoi(seg)
			if err != nil || want < 0 {
				return ""
			}
			for n := 0; d.More(); n++ {
				var v json.RawMessage
				if err := d.Decode(&v); err != nil {
					return ""
				}
				if n == want {
					next, found = v, true
					break
				}
			}
		}
		if !found {
			return ""
		}
		raw = next
	}
	return ""
}

// elements returns the raw elements of the array at path in raw (valid
// JSON), following the last copy of a repeated key as a decoded map does;
// nil when there is none.
func elements(raw []byte, path string) []json.RawMessage {
	if path != "" {
		for _, seg := range strings.Split(path, ".") {
			var next json.RawMessage
			var obj map[string]json.RawMessage
			var list []json.RawMessage
			if json.Unmarshal(raw, &obj) == nil && obj != nil {
				next = obj[seg]
			} else if json.Unmarshal(raw, &list) == nil {
				if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(list) {
					next = list[i]
				}
			}
			if next == nil {
				return nil
			}
			raw = next
		}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	return list
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "", true
	}
	return "", false
}

func first(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// text collapses a one-line field's whitespace.
func text(s string) string { return strings.Join(strings.Fields(s), " ") }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
