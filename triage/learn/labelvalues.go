package learn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	minsheng "github.com/minsheng/minsheng"
)

// classAliases are the other names a labelled file may give a class: the
// Chinese names of TRIAGE-LABELS.md and the longer English ones. Keys are
// folded as ClassOf folds its argument.
var classAliases = map[string]minsheng.Class{
	"舆论监督": minsheng.ClassMediaOversight, "media": minsheng.ClassMediaOversight,
	"信访事项": minsheng.ClassPetition, "信访": minsheng.ClassPetition,
	"政务服务": minsheng.ClassGovService, "government_service": minsheng.ClassGovService,
	"纪检监察": minsheng.ClassDiscipline, "discipline_inspection": minsheng.ClassDiscipline,
	"无效": minsheng.ClassInvalid,
}

// ClassOf maps a class as a labelled file may write it to the class: its
// name in any case, with spaces or hyphens for the underscores ("Media
// Oversight"), or its Chinese name (舆论监督). ok is false for anything else.
func ClassOf(s string) (c minsheng.Class, ok bool) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.Join(strings.FieldsFunc(k, func(r rune) bool { return r == ' ' || r == '-' || r == '_' }), "_")
	if c := minsheng.Class(k); c.Valid() {
		return c, true
	}
	c, ok = classAliases[k]
	return c, ok
}

// LeadOf reads a discipline_lead value: a JSON boolean, the number 0 or 1,
// or a string yes/no, true/false, y/n, 1/0 or 是/否 in any case. null or an
// empty value gives nil: the item has no lead label.
func LeadOf(raw json.RawMessage) (*bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("discipline_lead %s: %w", raw, err)
		}
	}
	var v bool
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "y", "是":
		v = true
	case "false", "0", "no", "n", "否":
	case "":
		return nil, nil
	default:
		return nil, fmt.Errorf("discipline_lead %s: want true or false, 1 or 0, yes or no", raw)
	}
	return &v, nil
}

// IDOf reads an item id given as a JSON string or number.
func IDOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}
