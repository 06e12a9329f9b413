// Package triage screens, classifies and explains citizens' demands: is it a
// real demand (screening, 初筛), which of the four paths does it take (media
// oversight, petition, government service, discipline inspection), does it
// carry a lead about an official's misconduct, and which sector does it
// concern. Every decision says why.
//
// This is the v0 engine: transparent keyword rules, configurable, with a
// confidence from how strongly the rules agree. Items below their class's
// threshold go to review.
package triage

import (
	"context"
	"fmt"
	"sort"
	"strings"

	minsheng "github.com/minsheng/minsheng"
)

// Rule is a keyword rule: when the item's text holds any of Any (and all of
// All), it votes for Class with Weight, and may force the discipline lead
// flag or review.
type Rule struct {
	Name           string         `yaml:"name" validate:"required"`
	Any            []string       `yaml:"any"`
	All            []string       `yaml:"all"`
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
	// Thresholds: a decision whose confidence is below its class's threshold
	// goes to review. Lower thresholds for petition and discipline favour
	// recall: fewer of those reach people late.
	Thresholds map[minsheng.Class]float64 `yaml:"thresholds"`
	// Rules are added to the built-in ones and win over them.
	Rules []Rule `yaml:"rules"`
}

// DefaultConfig returns the default thresholds and no extra rules.
func DefaultConfig() Config {
	return Config{Thresholds: map[minsheng.Class]float64{
		minsheng.ClassMediaOversight: 0.5,
		minsheng.ClassPetition:       0.4,
		minsheng.ClassGovService:     0.45,
		minsheng.ClassDiscipline:     0.35,
		minsheng.ClassInvalid:        0.5,
	}}
}

// Engine implements minsheng.Triager.
type Engine struct {
	cfg   Config
	rules []Rule
}

var _ minsheng.Triager = (*Engine)(nil)

// ModelVersion names the rule set.
const ModelVersion = "rules-v0"

// New builds an engine.
func New(cfg Config) (*Engine, error) {
	for i, r := range cfg.Rules {
		if len(r.Any) == 0 && len(r.All) == 0 {
			return nil, fmt.Errorf("triage.rules[%d] (%s): give any or all keywords", i, r.Name)
		}
	}
	if cfg.Thresholds == nil {
		cfg.Thresholds = DefaultConfig().Thresholds
	}
	rules := append(append([]Rule(nil), cfg.Rules...), builtin...)
	return &Engine{cfg: cfg, rules: rules}, nil
}

// ModelVersion names the model or rule set deciding.
func (e *Engine) ModelVersion() string { return ModelVersion }

// Decide screens, classifies and explains one item.
func (e *Engine) Decide(_ context.Context, it *minsheng.Item) (minsheng.Decision, error) {
	d := minsheng.Decision{ModelVersion: ModelVersion}
	if it.Automated != "" {
		d.Class, d.Confidence = minsheng.ClassInvalid, 1
		d.Reasons = []minsheng.Reason{{Kind: "screen", Code: "auto_reply", Detail: it.Automated}}
		return d, nil
	}
	text := normalise(it.Title + "\n" + it.Body)
	if len([]rune(strings.TrimSpace(text))) < 4 {
		d.Class, d.Confidence = minsheng.ClassInvalid, 0.95
		d.Reasons = []minsheng.Reason{{Kind: "screen", Code: "empty", Detail: "no content to act on"}}
		return d, nil
	}
	scores := map[minsheng.Class]float64{}
	var fired []minsheng.Reason
	var forced minsheng.Class
	for _, r := range e.rules {
		hit, ok := r.match(text)
		if !ok {
			continue
		}
		fired = append(fired, minsheng.Reason{Kind: "rule", Code: r.Name, Detail: hit, Weight: r.Weight})
		if r.Class != "" {
			scores[r.Class] += r.Weight
			if r.Force && forced == "" {
				forced = r.Class
			}
		}
		d.Flags.DisciplineLead = d.Flags.DisciplineLead || r.DisciplineLead
		d.Flags.Urgent = d.Flags.Urgent || r.Urgent
		d.Review = d.Review || r.Review
	}
	// Government service is the default path: most demands are, and a
	// request with no other signal goes to 12345 dispatch.
	scores[minsheng.ClassGovService] += 0.5
	best, total := minsheng.ClassGovService, 0.0
	for _, c := range minsheng.Classes {
		total += scores[c]
		if scores[c] > scores[best] {
			best = c
		}
	}
	if forced != "" {
		best = forced
		d.Confidence = 0.99
	} else {
		d.Confidence = scores[best] / total
	}
	d.Class = best
	if best == minsheng.ClassDiscipline {
		d.Flags.DisciplineLead = true
	}
	if best == minsheng.ClassInvalid {
		d.Flags = minsheng.Flags{}
		d.Review = false
	}
	sort.SliceStable(fired, func(i, j int) bool { return fired[i].Weight > fired[j].Weight })
	if best == minsheng.ClassInvalid {
		// the screen's reason first
		for i, r := range fired {
			if ruleClass(e.rules, r.Code) == minsheng.ClassInvalid {
				fired[0], fired[i] = fired[i], fired[0]
				fired[0].Kind = "screen"
				break
			}
		}
	}
	d.Reasons = fired
	if t, ok := e.cfg.Thresholds[best]; ok && d.Confidence < t && best != minsheng.ClassInvalid {
		d.Review = true
		d.Reasons = append(d.Reasons, minsheng.Reason{Kind: "threshold", Code: "low_confidence",
			Detail: fmt.Sprintf("confidence %.2f below the %s threshold %.2f", d.Confidence, best, t)})
	}
	if len(d.Reasons) == 0 {
		d.Reasons = []minsheng.Reason{{Kind: "rule", Code: "default_gov_service", Detail: "no other signal: a service request for 12345 dispatch"}}
	}
	d.Department = department(text)
	return d, nil
}

func ruleClass(rules []Rule, name string) minsheng.Class {
	for _, r := range rules {
		if r.Name == name {
			return r.Class
		}
	}
	return ""
}

func (r Rule) match(text string) (string, bool) {
	for _, w := range r.All {
		if !strings.Contains(text, w) {
			return "", false
		}
	}
	if len(r.Any) == 0 {
		return strings.Join(r.All, "+"), len(r.All) > 0
	}
	for _, w := range r.Any {
		if strings.Contains(text, w) {
			return w, true
		}
	}
	return "", false
}

// normalise folds full-width ASCII to half-width and lower-cases Latin
// letters, for matching only; the item is never changed.
func normalise(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '！' && r <= '～':
			r -= 0xFEE0
		case r == '\u3000':
			r = ' '
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}, s)
}
