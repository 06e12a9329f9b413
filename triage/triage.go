// Package triage screens, classifies and explains citizens' demands: is it a
// real demand (screening, 初筛), which of the four paths does it take (media
// oversight, petition, government service, discipline inspection), does it
// carry a lead about an official's misconduct, and which sector does it
// concern. Every decision says why.
//
// A learned model (model.go; trained by package learn, committed under
// model/ with its card) scores four heads over hashed character n-grams in
// one pass: spam screen, class, discipline lead and department. Keyword
// rules from the configuration sit on top of it as overrides: they can force
// a class, raise a flag or ask for review. Items below their class's
// threshold go to review.
package triage

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	minsheng "github.com/minsheng/minsheng"
)

// Rule is a keyword rule applied on top of the model. When the item's
// normalised text holds any of Any (and all of All) it fires: it forces
// Class when Force is set, otherwise adds Weight to Class's score (in
// log-odds); it may raise the discipline lead or urgent flag, or send the
// item to review. Keywords are normalised like the text, so traditional or
// full-width keywords match too.
type Rule struct {
	Name string   `yaml:"name" validate:"required"`
	Any  []string `yaml:"any"`
	All  []string `yaml:"all"`
	// Except are phrases inside which a hit of the rule's keywords does
	// not count (公私分明 for 私分): each must hold one of the keywords.
	Except         []string       `yaml:"except"`
	Class          minsheng.Class `yaml:"class" validate:"omitempty,oneof=media_oversight petition gov_service discipline invalid"`
	Weight         float64        `yaml:"weight" default:"1" validate:"gte=0"`
	DisciplineLead bool           `yaml:"discipline_lead"`
	Review         bool           `yaml:"review"`
	Urgent         bool           `yaml:"urgent"`
	// Force makes the rule decide the class outright when it fires.
	Force bool `yaml:"force"`
}

// Config is the `triage:` section.
type Config struct {
	// Model is a model file written by `minsheng train`; empty: the model
	// built into the binary.
	Model string `yaml:"model"`
	// Thresholds: a decision whose confidence is below its class's threshold
	// goes to review. For invalid, the model's rejection stands only at or
	// above its threshold; below it the item keeps its best valid class and
	// goes to review (rules, the spam screen and empty text reject outright).
	// Lower thresholds for petition and discipline favour recall: fewer of
	// those reach people late. A class not named keeps its default.
	Thresholds map[minsheng.Class]float64 `yaml:"thresholds"`
	// SpamThreshold: the spam screen's probability at or above which an item
	// is rejected as spam.
	SpamThreshold float64 `yaml:"spam_threshold" default:"0.9" validate:"gt=0,lte=1"`
	// LeadThreshold: the lead head's probability at or above which an item
	// is flagged as a discipline lead. Low on purpose: a missed lead never
	// reaches the inspectors; a false one costs them a glance. At 0.1 the
	// engine (head, discipline class and lead rules together) recalled 0.93
	// of the leads held out in 5-fold CV on our labels, flagging 29 % of
	// them, and 0.90 of those labelled after the lead rules were chosen
	// (model/MODEL_CARD.md).
	LeadThreshold float64 `yaml:"lead_threshold" default:"0.1" validate:"gt=0,lte=1"`
	// LeadMinWords and LeadShortThreshold: below LeadMinWords Chinese
	// characters (a Latin word counts as one, a repeated character not), the
	// lead head raises a lead only at LeadShortThreshold or above; the lead
	// rules and a discipline class still raise one at any length. A short
	// text gives the head little to go on, and it then answers near its
	// prior, which is high (0.40 with no known feature): held out on our
	// labels, at 0.1 it flagged 69 of the 120 docs under 40 characters, at
	// 0.5 it flags 8, and none of them is a lead. Recall is the same either
	// way (model/metrics.md, the lead table). 0 gives the defaults; a
	// LeadMinWords of 1 turns the guard off.
	LeadMinWords       int     `yaml:"lead_min_words" default:"40" validate:"gte=0"`
	LeadShortThreshold float64 `yaml:"lead_short_threshold" default:"0.5" validate:"gte=0,lte=1"`
	// LeadHeadMinWords: below this many (counted as for LeadMinWords) only
	// a lead rule raises a lead; neither the lead head nor the discipline
	// class does, at any probability. Fewer than eight characters cannot
	// name an official and say what they did, and there the heads answer
	// on almost nothing: "有人吗", "查一查", "请领导看看" had gone to the
	// inspectors. No text under eight characters in our labels has a lead;
	// 贪污, 受贿 and the other lead rules still fire on any length. 0 gives
	// the default; 1 turns it off.
	LeadHeadMinWords int `yaml:"lead_head_min_words" default:"8" validate:"gte=0"`
	// LeadActors are words naming an official, a cadre, a public body or
	// its staff, added to the built-in ones (actorWords). The lead head
	// raises a lead only on a text that holds one of them, since a lead
	// accuses an identifiable official or public body's staff
	// (TRIAGE-LABELS.md): a letter naming nobody ("拆迁补偿不公，至今没有
	// 解决") can be a petition but is no lead, however much it reads like
	// the letters that are. The lead rules and the discipline class raise
	// a lead without one. LeadWithoutActor turns the guard off. Held out on
	// our labels, the guard left the engine's lead recall at 0.925 (0.928
	// without) and took 136 of its 1,045 false leads away
	// (model/MODEL_CARD.md).
	LeadActors       []string `yaml:"lead_actors"`
	LeadWithoutActor bool     `yaml:"lead_without_actor"`
	// IdentityLeadThreshold: a lead that the lead head alone raises (no
	// lead rule, not the discipline class) with a probability below this
	// is weak (Flags.WeakLead): the inspectors get it as any lead, but the
	// item's other destinations keep the complainant's identity, so that
	// 12345 can call a citizen back about a pothole whose letter only
	// sounds like a complaint about officials. 0, the default, makes no
	// lead weak: every lead withholds the identity. Held out on our labels
	// (README.md, "Who sees complainants' identities"): at 0.3, 10 % of items have a weak lead and
	// would keep their identity elsewhere, and 30 of the 416 true leads
	// (7 %) are among them, whose whistle-blowers' identities would then
	// reach the other destinations. A bureau weighs the two.
	IdentityLeadThreshold float64 `yaml:"identity_lead_threshold" validate:"gte=0,lte=1"`
	// DepartmentThreshold: below this probability the department head's
	// sector is uncertain (Flags.DepartmentUncertain): a gov_service item
	// goes to 12345 dispatch only, not also to that sector's department
	// queue, and its department reason says so. 0 trusts every sector.
	// The default, 0.5, was read off the department head's held-out
	// calibration on the 495 (model/metrics.md): below 0.5, 33 of the 495
	// letters (7 %), of which 15 had the right sector; from 0.5 to 0.6,
	// 27 at 74 %. On the 921 held-out rows (evaluated after it was chosen,
	// README.md) 13 % fall below it, 48 % of them with the right sector.
	// DefaultConfig sets it; the zero Config leaves it off.
	DepartmentThreshold float64 `yaml:"department_threshold" validate:"gte=0,lte=1"`
	// ExplainDepartment: a gov_service decision's department reason also
	// names the three n-grams whose weight for the sector is highest, not
	// only the sector's probability. It costs 1–4 µs an item, 5–20 % of a
	// decision on real letters, so it is off unless a bureau asks for it.
	ExplainDepartment bool `yaml:"explain_department"`
	// RejectForeign lets the class head reject, as no demand, a text
	// mostly not in Chinese (fewer Chinese characters than words in other
	// scripts, Latin, Hangul, Cyrillic …, among at least foreignMinWords). By default such a text keeps its
	// best valid class and goes to review instead: the model learnt from
	// Chinese letters, and of the English texts among its examples most
	// are spam and test messages, so an English letter reporting a bribe
	// had been rejected on "the", "of" and "to". The spam screen and the
	// rules still reject such texts, and a short one is judged as before.
	RejectForeign bool `yaml:"reject_foreign"`
	// Rules are added to the built-in ones and are applied before them.
	Rules []Rule `yaml:"rules"`
}

// Validate checks what the tags cannot: each threshold names a class and
// lies in [0, 1]; each rule has a name of its own, a keyword to fire on,
// no blank ones, and a class when it forces one. (The rules' tags are checked by the config
// loader, which validates every element of a list.)
func (c Config) Validate() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	named := map[string]int{}
	for i, r := range c.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		// A decision's reasons name the rules that fired: two rules of one
		// name, or a blank one, would not say which.
		switch name := strings.TrimSpace(r.Name); {
		case name == "":
			errs = append(errs, minsheng.FieldError{Path: path + ".name", Msg: "is blank: a decision's reasons name the rule by it"})
		case named[name] > 0:
			errs = append(errs, minsheng.FieldError{Path: path + ".name", Msg: fmt.Sprintf("%q is the name of rules[%d] too: a decision's reasons would not say which fired", name, named[name]-1)})
		default:
			named[name] = i + 1
		}
		for _, f := range [...]struct {
			name  string
			words []string
		}{{"any", r.Any}, {"all", r.All}} {
			for j, w := range f.words {
				if foldKeyword(w) == "" {
					errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("%s.%s[%d]", path, f.name, j), Msg: "is blank (or only invisible characters): a keyword must hold some text"})
				}
			}
		}
		if len(r.Any)+len(r.All) == 0 {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: "gives no keywords: set any or all, or the rule never fires"})
		}
		for j, p := range r.Except {
			p = foldKeyword(p)
			holds := func(w string) bool { w = foldKeyword(w); return w != "" && strings.Contains(p, w) }
			if !slices.ContainsFunc(r.Any, holds) && !slices.ContainsFunc(r.All, holds) {
				errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("%s.except[%d]", path, j), Msg: fmt.Sprintf("%q holds none of the rule's keywords, so it excepts nothing", p)})
			}
		}
		if r.Class != "" && !r.Class.Valid() {
			errs = append(errs, minsheng.FieldError{Path: path + ".class", Msg: fmt.Sprintf("%q is not a class (want one of media_oversight, petition, gov_service, discipline, invalid)", r.Class)})
		}
		if r.Force && r.Class == "" {
			errs = append(errs, minsheng.FieldError{Path: path + ".force", Msg: "needs a class to force"})
		}
		if !(r.Weight >= 0 && r.Weight <= maxRuleWeight) { // NaN too
			errs = append(errs, minsheng.FieldError{Path: path + ".weight", Msg: fmt.Sprintf("must be between 0 and %d, not %g", maxRuleWeight, r.Weight)})
		}
	}
	// 0 takes the default (NewWithModel), or for identity_lead_threshold and
	// department_threshold turns the check off; anything else must be a
	// probability.
	for _, f := range [...]struct {
		path string
		v    float64
	}{{"spam_threshold", c.SpamThreshold}, {"lead_threshold", c.LeadThreshold}, {"lead_short_threshold", c.LeadShortThreshold}, {"identity_lead_threshold", c.IdentityLeadThreshold}, {"department_threshold", c.DepartmentThreshold}} {
		if !(f.v >= 0 && f.v <= 1) {
			errs = append(errs, minsheng.FieldError{Path: f.path, Msg: fmt.Sprintf("must be between 0 and 1, not %g", f.v)})
		}
	}
	for j, w := range c.LeadActors {
		if foldKeyword(w) == "" {
			errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("lead_actors[%d]", j), Msg: "is blank (or only invisible characters): a word must hold some text"})
		}
	}
	if c.LeadMinWords < 0 {
		errs = append(errs, minsheng.FieldError{Path: "lead_min_words", Msg: fmt.Sprintf("must be 0 or more, not %d", c.LeadMinWords)})
	}
	classes := make([]minsheng.Class, 0, len(c.Thresholds))
	for cls := range c.Thresholds {
		classes = append(classes, cls)
	}
	slices.Sort(classes)
	for _, cls := range classes {
		path := fmt.Sprintf("thresholds[%s]", cls)
		switch t := c.Thresholds[cls]; {
		case !cls.Valid():
			errs = append(errs, minsheng.FieldError{Path: path, Msg: "is not a class (want one of media_oversight, petition, gov_service, discipline, invalid)"})
		case t < 0 || t > 1 || t != t:
			errs = append(errs, minsheng.FieldError{Path: path, Msg: fmt.Sprintf("must be between 0 and 1, not %g", t)})
		}
	}
	return errs
}

// maxRuleWeight bounds a rule's weight, which is added to a class's score
// at the class head's temperature: at 20 it outweighs any model score, so
// more only risks overflow.
const maxRuleWeight = 20

// DefaultConfig returns the default thresholds and no extra rules.
func DefaultConfig() Config {
	return Config{SpamThreshold: 0.9, LeadThreshold: 0.1, LeadMinWords: 40, LeadShortThreshold: 0.5, LeadHeadMinWords: 8, DepartmentThreshold: 0.5, Thresholds: map[minsheng.Class]float64{
		minsheng.ClassMediaOversight: 0.5,
		minsheng.ClassPetition:       0.4,
		minsheng.ClassGovService:     0.5,
		minsheng.ClassDiscipline:     0.35,
		minsheng.ClassInvalid:        0.8, // below it, an item the model would reject goes to review instead
	}}
}

//go:embed model/default.mstm
var defaultModelBytes []byte

var defaultModel = sync.OnceValues(func() (*Model, error) {
	return ReadModel(bytes.NewReader(defaultModelBytes))
})

// DefaultModel returns the model built into the binary.
func DefaultModel() (*Model, error) { return defaultModel() }

// LoadModel reads a model file, or returns the built-in model for "".
func LoadModel(path string) (*Model, error) {
	if path == "" {
		return DefaultModel()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("triage model: %w", err)
	}
	defer f.Close()
	m, err := ReadModel(f)
	if err != nil {
		return nil, fmt.Errorf("triage model %s: %w", path, err)
	}
	return m, nil
}

// foreignMinWords: below this many words a text mostly not in Chinese is
// judged as any other (RejectForeign): "hello world" and "ok 👌" are no
// demands in any language.
const foreignMinWords = 8

// Engine implements minsheng.Triager. It is safe for concurrent use.
type Engine struct {
	cfg     Config
	m       *Model
	rules   []compiledRule
	matcher *matcher
	screen  *Head
	class   *Head
	lead    *Head
	dept    *Head
	classes []minsheng.Class // class head's labels
	actor   *compiledRule    // the words naming an official or public body (LeadActors); nil without the guard
	pool    sync.Pool
}

var _ minsheng.Triager = (*Engine)(nil)

// New builds an engine on the configured model.
func New(cfg Config) (*Engine, error) {
	m, err := LoadModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	return NewWithModel(cfg, m)
}

// NewWithModel builds an engine on a model already loaded.
func NewWithModel(cfg Config, m *Model) (*Engine, error) {
	if errs := cfg.Validate(); len(errs) > 0 { // the config loader ran it too; a Config built in code has not
		return nil, fmt.Errorf("triage: %w", errs)
	}
	def := DefaultConfig()
	// A class the thresholds do not name keeps its default: a map that
	// names only petition must not leave invalid at 0, which would reject
	// every item the screen leans to reject.
	given := cfg.Thresholds
	cfg.Thresholds = def.Thresholds
	maps.Copy(cfg.Thresholds, given)
	if cfg.SpamThreshold == 0 {
		cfg.SpamThreshold = def.SpamThreshold
	}
	if cfg.LeadThreshold == 0 {
		cfg.LeadThreshold = def.LeadThreshold
	}
	if cfg.LeadMinWords == 0 {
		cfg.LeadMinWords = def.LeadMinWords
	}
	if cfg.LeadShortThreshold == 0 {
		cfg.LeadShortThreshold = def.LeadShortThreshold
	}
	if cfg.LeadHeadMinWords == 0 {
		cfg.LeadHeadMinWords = def.LeadHeadMinWords
	}
	e := &Engine{cfg: cfg, m: m, screen: m.Head(HeadScreen), class: m.Head(HeadClass), lead: m.Head(HeadLead), dept: m.Head(HeadDepartment)}
	if e.screen == nil || e.class == nil || e.lead == nil || e.dept == nil {
		return nil, fmt.Errorf("triage model %s lacks a head: has %s", m.Version, m.describe())
	}
	keepable := false // a class an item the head would reject, or call discipline on little text, can keep
	for _, l := range e.class.Labels {
		c := minsheng.Class(l)
		if !c.Valid() {
			return nil, fmt.Errorf("triage model %s: unknown class %q", m.Version, l)
		}
		if slices.Contains(e.classes, c) {
			return nil, fmt.Errorf("triage model %s: class %q twice in the class head", m.Version, l)
		}
		keepable = keepable || c != minsheng.ClassInvalid && c != minsheng.ClassDiscipline
		e.classes = append(e.classes, c)
	}
	if !keepable {
		return nil, fmt.Errorf("triage model %s: the class head has no class but invalid and discipline (%s)", m.Version, strings.Join(e.class.Labels, ", "))
	}
	rules := append(append([]Rule(nil), cfg.Rules...), builtin...)
	if !cfg.LeadWithoutActor {
		// The actors' words are found in the same pass as the rules'; their
		// rule fires nothing of its own and is kept apart.
		rules = append(rules, Rule{Name: "lead_actor", Any: append(append([]string(nil), actorWords...), cfg.LeadActors...)})
	}
	e.rules, e.matcher = compileRules(rules)
	if !cfg.LeadWithoutActor {
		e.actor = &e.rules[len(e.rules)-1]
		e.rules = e.rules[:len(e.rules)-1]
	}
	e.pool.New = func() any {
		return &scratch{scores: make([]float32, m.Cols()), extractor: extractor{found: make([]bool, len(e.matcher.keywords))}}
	}
	return e, nil
}

// ModelVersion names the model deciding.
func (e *Engine) ModelVersion() string { return e.m.Version }

// Model returns the engine's model.
func (e *Engine) Model() *Model { return e.m }

type scratch struct {
	extractor
	buf    []byte
	scores []float32
	probs  []float64
	cand   []int32 // positions in ids of strong features (Model.scores)
}

// Decide screens, classifies and explains one item.
func (e *Engine) Decide(_ context.Context, it *minsheng.Item) (minsheng.Decision, error) {
	s := e.pool.Get().(*scratch)
	defer e.pool.Put(s)
	return e.decide(s, it.Title, it.Body, it.Automated), nil
}

// SpamProbability is the spam screen's probability for a title and body.
func (e *Engine) SpamProbability(title, body string) float64 {
	s := e.pool.Get().(*scratch)
	defer e.pool.Put(s)
	s.ids, s.spans, s.wantSpans, s.kw = s.ids[:0], s.spans[:0], false, nil
	s.buf = e.m.featurize(s.buf[:0], &s.extractor, title, body)
	e.m.Scores(s.ids, s.scores)
	s.probs = e.screen.Probs(s.scores, s.probs)
	return s.probs[1]
}

// SpamThreshold is the configured spam threshold.
func (e *Engine) SpamThreshold() float64 { return e.cfg.SpamThreshold }

// DecideText decides on a bare title and body (the classify command).
func (e *Engine) DecideText(title, body string) minsheng.Decision {
	s := e.pool.Get().(*scratch)
	defer e.pool.Put(s)
	return e.decide(s, title, body, "")
}

func (e *Engine) decide(s *scratch, title, body, automated string) minsheng.Decision {
	d := minsheng.Decision{ModelVersion: e.m.Version}
	// features, and the rules' keywords in the same pass
	s.ids, s.spans, s.wantSpans, s.kw = s.ids[:0], s.spans[:0], true, e.matcher
	s.buf = e.m.featurize(s.buf[:0], &s.extractor, title, body)
	s.cand = e.m.scores(s.ids, s.scores, s.cand[:0], true)
	s.probs = e.dept.Probs(s.scores, s.probs)
	deptK := Argmax(s.probs)
	deptP := s.probs[deptK]
	deptP = e.byLength(s, e.dept, deptK, deptP)
	d.Department = e.dept.Labels[deptK]
	d.Flags.DepartmentUncertain = deptP < e.cfg.DepartmentThreshold

	if automated != "" {
		d.Class, d.Confidence, d.Flags = minsheng.ClassInvalid, 1, minsheng.Flags{}
		d.Reasons = []minsheng.Reason{{Kind: "screen", Code: "auto_reply", Detail: automated}}
		return d
	}
	// Three characters can be a demand (路灯坏, 没水了); two are not enough
	// to act on. 哈哈哈哈哈 is as empty as nothing.
	if s.meaningful < 3 || s.words < 3 && s.repeats > 0 {
		d.Class, d.Confidence, d.Flags = minsheng.ClassInvalid, 0.95, minsheng.Flags{}
		d.Reasons = []minsheng.Reason{{Kind: "screen", Code: "empty", Detail: "no content to act on"}}
		return d
	}

	// Rules.
	d.Reasons = make([]minsheng.Reason, 0, 4) // the class, the department, a rule, a threshold
	var fired []minsheng.Reason
	var forced, forcedValid minsheng.Class
	forcedBy := -1 // the reason in fired of the first rule that forced a class (a forced invalid one's is marked screen)
	cls := s.scores[e.class.col : e.class.col+len(e.class.Labels)]
	var boosts [8]float32
	for i := range e.rules {
		r := &e.rules[i]
		hit, ok := r.fires(s.found, e.matcher.keywords)
		if !ok {
			continue
		}
		fired = append(fired, minsheng.Reason{Kind: "rule", Code: r.Name, Detail: hit, Lead: r.DisciplineLead})
		if r.Class != "" {
			if r.Force {
				if forced == "" {
					forced, forcedBy = r.Class, len(fired)-1
				}
				if forcedValid == "" && r.Class != minsheng.ClassInvalid {
					forcedValid = r.Class
				}
			} else if k := e.classIndex(r.Class); k >= 0 && k < len(boosts) {
				boosts[k] += float32(r.Weight) * e.class.Temperature
			}
		}
		d.Flags.DisciplineLead = d.Flags.DisciplineLead || r.DisciplineLead
		d.Flags.Urgent = d.Flags.Urgent || r.Urgent
		d.Review = d.Review || r.Review
	}
	for k := range cls {
		if k < len(boosts) {
			cls[k] += boosts[k]
		}
	}

	// The lead head's view, needed by the class below: on a short text it
	// must be surer (LeadMinWords), and on a tiny one it does not count
	// (LeadHeadMinWords). A tiny text is short whatever LeadMinWords says,
	// so that every guard on short texts below holds for it.
	pLead := e.lead.Probs(s.scores, s.probs)[1]
	tiny := s.words < e.cfg.LeadHeadMinWords // only rules raise a lead
	leadThreshold, short := e.cfg.LeadThreshold, s.words < e.cfg.LeadMinWords || tiny
	if short {
		leadThreshold = max(leadThreshold, e.cfg.LeadShortThreshold)
	}
	headLead := pLead >= leadThreshold && !tiny
	var actor string // the word naming an official or public body, when the guard is on
	noActor := false
	if headLead && e.actor != nil {
		var named bool
		if actor, named = e.actor.fires(s.found, e.matcher.keywords); !named {
			headLead, noActor = false, true
		}
	}

	// A lead or urgent rule outranks the screen: an accusation of an
	// official's misconduct, or danger to life, is never rejected (as a
	// test, spam or no demand) but kept for a person to check, so that the
	// lead reaches the inspectors and the danger someone who can act. A
	// rule that forces a valid class still does. overruled names what
	// would have rejected the item.
	keep := d.Flags.DisciplineLead || d.Flags.Urgent
	var overruled string
	if keep && forced == minsheng.ClassInvalid {
		overruled = "rule " + fired[forcedBy].Code
		forced = forcedValid // a forced valid class is not rejected, so no reason is marked
	}

	// Screen, then class.
	s.probs = e.screen.Probs(s.scores, s.probs)
	pSpam := s.probs[1]
	// A text mostly not in Chinese: the class head is not trusted to reject it (RejectForeign).
	foreign := !e.cfg.RejectForeign && s.words >= foreignMinWords && 2*s.han < s.words
	s.probs = e.class.Probs(s.scores, s.probs)
	best := Argmax(s.probs)
	d.Class, d.Confidence = e.classes[best], s.probs[best]
	sureInvalid := d.Class == minsheng.ClassInvalid && d.Confidence >= e.cfg.Thresholds[minsheng.ClassInvalid]
	headRejects := sureInvalid && !foreign
	switch {
	case keep && forced == "" && (overruled != "" || pSpam >= e.cfg.SpamThreshold ||
		headRejects):
		switch {
		case overruled != "":
		case pSpam >= e.cfg.SpamThreshold:
			overruled = fmt.Sprintf("the spam screen (%.2f)", pSpam)
		default:
			overruled = fmt.Sprintf("the class head (invalid %.2f)", d.Confidence)
		}
		best = e.bestValid(s.probs, short && !headLead)
		d.Class, d.Confidence, d.Review = e.classes[best], s.probs[best], true
		// Worded alike for a lead and an urgent rule: a destination that is
		// not told of the lead sees this reason too.
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "kept_by_rule",
			Detail: fmt.Sprintf("%s would reject it, but a rule that must reach a person fired; kept as %s for a person to check", overruled, d.Class)})
	case forced != "":
		d.Class, d.Confidence = forced, 0.99
		best = e.classIndex(forced)
	case pSpam >= e.cfg.SpamThreshold:
		d.Class, d.Confidence = minsheng.ClassInvalid, pSpam
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "screen", Code: "spam",
			Detail: fmt.Sprintf("spam screen %.2f ≥ %.2f; %s", pSpam, e.cfg.SpamThreshold, e.topFeatures(s, e.screen, 1))})
	case headRejects:
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "screen", Code: "not_a_demand",
			Detail: "no request for any government body: " + e.topFeatures(s, e.class, best)})
	case d.Class == minsheng.ClassInvalid:
		// The model leans to invalid but not surely: rejecting a real demand
		// costs more than a person's look, so the item keeps its best valid
		// class and goes to review. On a short text (LeadMinWords) not
		// discipline, unless the lead head is sure: that class would also
		// send it to the inspectors, on no more than the class head's prior.
		pInvalid := d.Confidence
		best = e.bestValid(s.probs, short && !headLead)
		d.Class, d.Confidence, d.Review = e.classes[best], s.probs[best], true
		if sureInvalid { // and so foreign
			d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "foreign_text",
				Detail: fmt.Sprintf("the class head says invalid (%.2f) on a text mostly not in Chinese (%d words in other scripts, %d Chinese characters), which the model has few letters of; kept as %s for a person to check (triage.reject_foreign)",
					pInvalid, s.words-s.han, s.han, d.Class), Weight: pInvalid})
			break
		}
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "uncertain_invalid",
			Detail: fmt.Sprintf("the class head leans to invalid (%.2f, below %.2f); kept as %s for a person to check", pInvalid, e.cfg.Thresholds[minsheng.ClassInvalid], d.Class)})
	case d.Class == minsheng.ClassDiscipline && !headLead && !d.Flags.DisciplineLead && (tiny || short && d.Confidence < e.cfg.LeadShortThreshold):
		// On a short text the class head, like the lead head, answers near
		// its prior: a discipline class below LeadShortThreshold would send
		// three characters ("问一下") to the inspectors, with the writer's
		// identity. No rule raised a lead, so the item keeps its best other
		// valid class and a person looks at it.
		pDiscipline := d.Confidence
		best = e.bestValid(s.probs, true)
		d.Class, d.Confidence, d.Review = e.classes[best], s.probs[best], true
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "discipline_little_text",
			Detail: fmt.Sprintf("discipline %.2f not taken: %s; kept as %s for a person to check", pDiscipline, e.littleText(s.words, tiny), d.Class),
			Weight: pDiscipline})
	}
	if d.Class == minsheng.ClassInvalid {
		if forced != "" && forcedBy >= 0 {
			fired[forcedBy].Kind = "screen"
		}
		d.Flags, d.Review = minsheng.Flags{}, false
		d.Reasons = append(d.Reasons, fired...)
		return d
	}

	// Lead.
	if noActor && !d.Flags.DisciplineLead && d.Class != minsheng.ClassDiscipline {
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "lead_no_actor",
			Detail: fmt.Sprintf("lead %.2f not raised: the text names no official, cadre or public body (triage.lead_actors)", pLead), Weight: pLead})
	} else if !headLead && pLead >= e.cfg.LeadThreshold && !d.Flags.DisciplineLead && d.Class != minsheng.ClassDiscipline {
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "lead_little_text",
			Detail: fmt.Sprintf("lead %.2f not raised: %s", pLead, e.littleText(s.words, tiny)), Weight: pLead})
	}
	if headLead || d.Class == minsheng.ClassDiscipline {
		switch {
		case d.Flags.DisciplineLead: // a rule raised it, and says so
		case headLead:
			detail := fmt.Sprintf("lead %.2f (threshold %.2f): %s", pLead, leadThreshold, e.topFeatures(s, e.lead, 1))
			if actor != "" {
				detail += "; names " + actor
			}
			if d.Class != minsheng.ClassDiscipline && pLead < e.cfg.IdentityLeadThreshold {
				d.Flags.WeakLead = true
				detail += fmt.Sprintf("; weak (below %.2f): the identity is not withheld from the other destinations", e.cfg.IdentityLeadThreshold)
			}
			d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "feature", Code: "discipline_lead",
				Detail: detail, Weight: pLead, Lead: true})
		case noActor:
			d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "feature", Code: "discipline_lead",
				Detail: fmt.Sprintf("raised with the discipline class (the lead head's %.2f alone would not: the text names no official, cadre or public body)", pLead), Weight: pLead, Lead: true})
		default:
			d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "feature", Code: "discipline_lead",
				Detail: fmt.Sprintf("raised with the discipline class (the lead head alone gave %.2f, below %.2f)", pLead, leadThreshold), Weight: pLead, Lead: true})
		}
		d.Flags.DisciplineLead = true
	}
	oneTemp := d.Confidence
	if forced == "" {
		// The class stands; its confidence is calibrated for the text's
		// length, for the threshold below and the reader. The choices
		// above (reject, discipline on little text) keep the head's one
		// temperature they were set at.
		d.Confidence = e.byLength(s, e.class, best, d.Confidence)
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "feature", Code: string(d.Class),
			Detail: e.topFeatures(s, e.class, best), Weight: d.Confidence})
	}
	if d.Class == minsheng.ClassGovService {
		// The sector routes a service request to its department: say how
		// sure it is and, when asked, why.
		b := make([]byte, 0, 96)
		b = append(b, d.Department...)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, deptP, 'f', 2, 64)
		if e.cfg.ExplainDepartment {
			b = append(b, ": "...)
			b = append(b, e.topFeatures(s, e.dept, deptK)...)
		}
		if d.Flags.DepartmentUncertain {
			b = fmt.Appendf(b, "; below the department threshold %.2f: to 12345 dispatch only, not to the sector's department", e.cfg.DepartmentThreshold)
		}
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "feature", Code: "department", Detail: string(b), Weight: deptP})
	}
	d.Reasons = append(d.Reasons, fired...)
	if s.variety < 3 {
		// One or two characters or words over and over ("请问请问……",
		// "a a a a"): the scores add up each repeat and say 0.98 or more
		// on next to nothing, so a person looks.
		d.Review = true
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "little_variety",
			Detail: fmt.Sprintf("the text repeats %d different characters or words; kept as %s for a person to check", s.variety, d.Class)})
	}
	if t, ok := e.cfg.Thresholds[d.Class]; ok && d.Confidence < t {
		d.Review = true
		detail := fmt.Sprintf("confidence %.2f below the %s threshold %.2f", d.Confidence, d.Class, t)
		if oneTemp >= t {
			// The length band sent it here: say so, or a reader sees a
			// class the head chose and wonders why it is in review.
			detail += fmt.Sprintf(" (%.2f before calibration for its length, %d words: held out, the head's %s at this length was right less often than it said)", oneTemp, s.words, d.Class)
		}
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "low_confidence", Detail: detail})
	}
	return d
}

// byLength is label k's probability for the text in s calibrated for its
// length (Head.Bands: the band's temperature and offsets), p being the
// probability at h's one temperature. The bands were fitted on Chinese
// letters: a text mostly in other scripts, of which the model knows
// little, keeps p.
func (e *Engine) byLength(s *scratch, h *Head, k int, p float64) float64 {
	if b := h.BandFor(s.words); (b.Temperature != h.Temperature || b.Offsets != nil) && 2*s.han >= s.words {
		return h.ProbIn(s.scores, k, b)
	}
	return p
}

// littleText says why a head's lead or discipline class was not taken on
// a text of words characters or words.
func (e *Engine) littleText(words int, tiny bool) string {
	if tiny {
		return fmt.Sprintf("on texts of fewer than %d characters or words (%d here) only a rule raises a lead", e.cfg.LeadHeadMinWords, words)
	}
	return fmt.Sprintf("below %.2f, the threshold for texts of fewer than %d characters or words (%d here)", e.cfg.LeadShortThreshold, e.cfg.LeadMinWords, words)
}

// bestValid is the most probable class but invalid, and but discipline
// when noDiscipline is set.
func (e *Engine) bestValid(p []float64, noDiscipline bool) int {
	best := -1
	for k, c := range e.classes {
		if c == minsheng.ClassInvalid || noDiscipline && c == minsheng.ClassDiscipline {
			continue
		}
		if best < 0 || p[k] > p[best] {
			best = k
		}
	}
	return best
}

func (e *Engine) classIndex(c minsheng.Class) int {
	for i, k := range e.classes {
		if k == c {
			return i
		}
	}
	return -1
}

// topFeatures names the three n-grams that weighed most for label k of
// head h against the head's other labels, e.g. `"拆迁" +0.41, "补偿" +0.30`.
// With a quantised model it considers the n-grams whose bucket leans to k
// most of all labels. Of n-grams that overlap ("举" and "举报"), only the
// longer is named (topN.pick), so that the three say three things. They
// come from the explainPool strongest; where those overlap so much that
// fewer than three are left, fewer are named.
func (e *Engine) topFeatures(s *scratch, h *Head, k int) string {
	return e.explain(s, h, k, true)
}

// explainPool is how many of the strongest features explain chooses its
// three from (topN.pick).
const explainPool = 6

// topN keeps the explainPool features that weigh most, each bucket once,
// the first seen on a tie.
type topN [explainPool]struct {
	f    uint32
	at   int     // position in ids
	w    float32 // contrast, in the model's units
	by   int32   // the same in q units, for a quantised model
	used bool
}

// least is the q-unit weight a feature must beat to enter.
func (t *topN) least() int32 { return t[len(t)-1].by }

func (t *topN) offer(f uint32, at int, w float32, by int32) {
	if t[len(t)-1].used && w <= t[len(t)-1].w {
		return
	}
	for j := range t {
		if t[j].used && t[j].f == f {
			return
		}
	}
	for j := range t {
		if !t[j].used || w > t[j].w {
			copy(t[j+1:], t[j:len(t)-1])
			t[j].f, t[j].at, t[j].w, t[j].by, t[j].used = f, at, w, by, true
			return
		}
	}
}

// pick returns the positions in t of the (up to) three features to name,
// heaviest first, of those weighing floor q-units or more. Going down t, a
// feature whose text is held in a picked one's is passed over, and one
// whose text holds picked ones ("孩子" after "孩") takes the place of the
// first of them, the others dropped: the longer n-gram is the one a reader
// recognises. Each keeps its own weight.
func (t *topN) pick(s *scratch, floor int32) (picked [3]int, n int) {
	text := func(j int) []byte {
		sp := s.spans[t[j].at]
		return s.buf[sp.start:sp.end]
	}
	for j := range t {
		if !t[j].used || t[j].by < floor {
			break
		}
		tj := text(j)
		held, into := false, -1
		for i := 0; i < n; i++ {
			ti := text(picked[i])
			switch {
			case bytes.Contains(ti, tj):
				held = true
			case bytes.Contains(tj, ti):
				if into < 0 {
					into, picked[i] = i, j
				} else { // a second pick it holds goes
					copy(picked[i:], picked[i+1:n])
					n--
					i--
				}
			}
			if held {
				break
			}
		}
		if !held && into < 0 && n < len(picked) {
			picked[n] = j
			n++
		}
	}
	// t is heaviest first, and a replacement may be lighter than what it
	// replaced: order by weight again, the earlier in t on a tie.
	slices.SortStableFunc(picked[:n], func(a, b int) int {
		if t[a].w != t[b].w {
			if t[a].w > t[b].w {
				return -1
			}
			return 1
		}
		return a - b
	})
	return picked, n
}

// explain is topFeatures. With fast, a packed model's explanation reads the
// packed rows: a head kept as one column directly, the marked head from
// the features scoring found strong (s.cand) first; without, every bucket
// through Model.lean (the tests compare the two).
//
// The class head's explanation names strong n-grams (leaning strongLean or
// more) when three of them that do not overlap are among the pool, and
// looks at the weaker ones only when they are not: a weak "孩子" does not
// stand in for a strong "孩". That is what lets the packed model explain
// from s.cand alone for most letters.
func (e *Engine) explain(s *scratch, h *Head, k int, fast bool) string {
	var (
		top         topN
		picked      [3]int
		n           int
		strongFirst = h == e.class && (e.m.q != nil || e.m.pk != nil)
	)
	p := e.m.pk
	switch {
	case fast && p != nil && p.mark != h.index:
		// One column: a two-label head's (label 0 is its negation), or
		// label k's of a head with no marks, such as the department's,
		// whose naive-Bayes-scaled weights are near 0 for a bucket that
		// says nothing about a sector, so that a bucket's own weight for k
		// tells what it brings to k.
		col, sign, scale := p.col[h.index]+k, int32(1), e.m.scale[h.col+k]
		if p.bin[h.index] {
			col = p.col[h.index]
			if k == 0 {
				sign = -1
			}
		}
		for i, f := range s.ids {
			if by := sign * int32(int8(p.rows[int(f)*packedRow+col])); by > top.least() {
				top.offer(f, i, float32(by)*scale, by)
			}
		}
	case fast && p != nil && p.mark == h.index:
		// The buckets strong for a label of h first: every bucket leaning
		// to k by strongLean or more is among them, so when three of those
		// can be named no other bucket is needed.
		for _, i := range s.cand {
			f := s.ids[i]
			// p.lean's first test, inline: most candidates are strong
			// for another label, and the call costs more than the test.
			if int(p.rows[int(f)*packedRow+packedMark]>>markShift) != k+1 {
				continue
			}
			if by := p.lean(h, f, k, max(top.least(), strongLean-1)); by > 0 {
				top.offer(f, int(i), float32(by)*e.m.scale[h.col], by)
			}
		}
		if strongFirst {
			if picked, n = top.pick(s, strongLean); n == len(picked) {
				break
			}
			// The full pass's strong buckets are these same ones: the
			// strong pick cannot do better there.
			strongFirst = false
		}
		top = topN{}
		fallthrough
	case e.m.q != nil || p != nil:
		for i, f := range s.ids {
			if by := e.m.lean(h, f, k, top.least()); by > 0 {
				top.offer(f, i, float32(by)*e.m.scale[h.col], by)
			}
		}
	default:
		labels := float32(len(h.Labels))
		for i, f := range s.ids {
			if c := e.m.contrast(h, f, k, labels); c > 0 {
				top.offer(f, i, c, 0)
			}
		}
	}
	if n < len(picked) && strongFirst {
		picked, n = top.pick(s, strongLean)
	}
	if n < len(picked) {
		picked, n = top.pick(s, 0)
	}
	if n == 0 {
		return "no single feature stands out"
	}
	v := Value(len(s.ids))
	b := make([]byte, 0, 80) // three quoted n-grams and weights, most often
	for j, i := range picked[:n] {
		a := top[i]
		if j > 0 {
			b = append(b, ", "...)
		}
		sp := s.spans[a.at]
		b = appendQuoted(b, s.buf[sp.start:sp.end])
		b = append(b, ' ')
		at := len(b) // %+.2f, without fmt's cost
		b = strconv.AppendFloat(b, float64(a.w*v/h.Temperature), 'f', 2, 32)
		if b[at] != '-' && b[at] != '+' {
			b = slices.Insert(b, at, '+')
		}
	}
	return string(b)
}

// appendQuoted is strconv.AppendQuote without its per-rune table search
// for the common case, an n-gram of Chinese characters or plain ASCII.
func appendQuoted(b, s []byte) []byte {
	for i := 0; i < len(s); {
		r, n := decode3(s, i)
		if !(r >= 0x4E00 && r <= 0x9FFF || r >= ' ' && r < 0x7F && r != '"' && r != '\\') {
			return strconv.AppendQuote(b, string(s))
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Argmax is the index of the largest of p (the first, on a tie).
func Argmax(p []float64) int {
	b := 0
	for i := range p {
		if p[i] > p[b] {
			b = i
		}
	}
	return b
}
