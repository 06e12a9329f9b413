package router

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// Sink kinds a destination can use.
const (
	SinkQueue = "queue" // the embedded durable queue, read over HTTP
	SinkKafka = "kafka" // a Kafka topic
)

// Identity policies: who sees the complainant's name, phone and e-mail.
const (
	// IdentityAuto: the identity is withheld when the complainant asked to
	// be anonymous, and — to protect whistle-blowers — from every
	// destination that is not a discipline destination when the item is a
	// discipline case or carries a discipline lead.
	IdentityAuto = "auto"
	// IdentityFull: passed on unless the complainant is anonymous — but,
	// like auto, never to a destination that is not a discipline
	// destination when the item is a discipline case or carries a discipline
	// lead: no policy overrides whistle-blower protection. It therefore gives
	// what auto gives; files that say it keep loading.
	IdentityFull = "full"
	// IdentityRedacted: never passed on.
	IdentityRedacted = "redacted"
)

// Config is the routing part of the gateway's configuration: the
// destinations, the route table from classes and flags to destinations, the
// Kafka connection and the retry policy.
type Config struct {
	Destinations map[string]Destination `yaml:"destinations"`
	Routes       Routes                 `yaml:"routes"`
	Kafka        KafkaConfig            `yaml:"kafka"`
	Retry        RetryConfig            `yaml:"retry"`
}

// Destination is where items of one kind go.
type Destination struct {
	// Sink: "queue" (embedded, the default) or "kafka".
	Sink string `yaml:"sink" default:"queue" validate:"oneof=queue kafka"`
	// Topic for a kafka destination; default "minsheng.<name>".
	Topic string `yaml:"topic" validate:"omitempty,max=249"`
	// Identity policy: auto, full or redacted.
	Identity string `yaml:"identity" default:"auto" validate:"oneof=auto full redacted"`
}

// Routes is the route table.
type Routes struct {
	// Classes maps each of the four valid classes to its destinations.
	Classes map[minsheng.Class][]string `yaml:"classes"`
	// DisciplineLead: extra destinations for any item with a discipline
	// lead, whatever its class (fan-out, 一信多转).
	DisciplineLead []string `yaml:"discipline_lead"`
	// Departments maps a gov_service item's department label (e.g. 城乡建设)
	// to extra destinations: the department's own queue, next to 12345's.
	Departments map[string][]string `yaml:"departments"`
	// Rejected receives invalid items with the screen's reason.
	Rejected string `yaml:"rejected" default:"rejected"`
	// Review receives decisions below their confidence threshold.
	Review string `yaml:"review" default:"review"`
	// DeadLetter receives what cannot be delivered or parsed.
	DeadLetter string `yaml:"dead_letter" default:"dead_letter"`
	// DisciplineDeadLetter receives, whole, an item that cannot be
	// delivered and is a discipline case or carries a discipline lead, so
	// that the inspectors still have it and whoever reads DeadLetter never
	// sees a discipline case. A lead on an item of another class goes to
	// DeadLetter too, as that class's desks would have received it
	// (without the lead and the complainant), for them to re-deliver. Keep
	// it an embedded queue: it must work when Kafka refuses the item.
	DisciplineDeadLetter string `yaml:"discipline_dead_letter" default:"discipline_dead_letter"`
}

// RetryConfig bounds delivery retries. A delivery that keeps failing with a
// transient error is retried until the pipeline's route timeout, then the
// source is not acknowledged (it retries later: 503 for HTTP desks). A
// permanent error (the destination refuses this item) sends it to the dead
// letter destination at once.
type RetryConfig struct {
	InitialBackoff time.Duration `yaml:"initial_backoff" default:"50ms" validate:"gt=0"`
	MaxBackoff     time.Duration `yaml:"max_backoff" default:"1s" validate:"gtefield=InitialBackoff"`
}

// ValidClasses are the classes the route table must cover.
var ValidClasses = []minsheng.Class{minsheng.ClassMediaOversight, minsheng.ClassPetition, minsheng.ClassGovService, minsheng.ClassDiscipline}

// DefaultConfig is the embedded default: one embedded queue per class, plus
// rejected, review and dead letter; discipline leads fan out to the
// discipline queue.
func DefaultConfig() Config {
	c := Config{Destinations: map[string]Destination{}, Routes: Routes{
		Classes:        map[minsheng.Class][]string{},
		DisciplineLead: []string{string(minsheng.ClassDiscipline)},
		Rejected:       "rejected", Review: "review", DeadLetter: "dead_letter",
		DisciplineDeadLetter: "discipline_dead_letter",
	}}
	for _, cl := range ValidClasses {
		c.Destinations[string(cl)] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
		c.Routes.Classes[cl] = []string{string(cl)}
	}
	for _, d := range []string{"rejected", "review", "dead_letter", "discipline_dead_letter"} {
		c.Destinations[d] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	}
	c.Retry = RetryConfig{InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	c.Kafka = DefaultKafkaConfig()
	return c
}

// Validate refuses a route table that could drop an item: every class must
// be routed, every named destination must exist, kafka destinations need
// brokers.
func (c Config) Validate() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	known := func(path, name string) {
		if _, ok := c.Destinations[name]; !ok {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: fmt.Sprintf("destination %q is not defined under destinations", name)})
		}
	}
	for _, cl := range ValidClasses {
		ds := c.Routes.Classes[cl]
		if len(ds) == 0 {
			errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("routes.classes[%s]", cl), Msg: "class is not routed: every item of it would be lost; name at least one destination"})
		}
		for i, d := range ds {
			known(fmt.Sprintf("routes.classes[%s][%d]", cl, i), d)
		}
	}
	for cl := range c.Routes.Classes {
		if cl == minsheng.ClassInvalid {
			errs = append(errs, minsheng.FieldError{Path: "routes.classes[invalid]", Msg: "invalid items go to routes.rejected, not a class route"})
		} else if !cl.Valid() {
			errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("routes.classes[%s]", cl), Msg: "unknown class (media_oversight, petition, gov_service, discipline)"})
		}
	}
	for i, d := range c.Routes.DisciplineLead {
		known(fmt.Sprintf("routes.discipline_lead[%d]", i), d)
	}
	depts := make([]string, 0, len(c.Routes.Departments))
	for k := range c.Routes.Departments {
		depts = append(depts, k)
	}
	sort.Strings(depts)
	for _, k := range depts {
		for i, d := range c.Routes.Departments[k] {
			known(fmt.Sprintf("routes.departments[%s][%d]", k, i), d)
		}
	}
	for path, d := range map[string]string{"routes.rejected": c.Routes.Rejected, "routes.review": c.Routes.Review, "routes.dead_letter": c.Routes.DeadLetter, "routes.discipline_dead_letter": c.Routes.DisciplineDeadLetter} {
		if d == "" {
			errs = append(errs, minsheng.FieldError{Path: path, Msg: "is required"})
		} else {
			known(path, d)
		}
	}
	errs = append(errs, c.deadLetterApart()...)
	errs = append(errs, c.disciplineDeadLetterApart()...)
	errs = append(errs, c.checkTopics()...)
	if c.UsesKafka() && len(c.Kafka.Brokers) == 0 {
		errs = append(errs, minsheng.FieldError{Path: "kafka.brokers", Msg: "is required: a destination uses the kafka sink"})
	}
	if c.UsesKafka() {
		errs = append(errs, c.Kafka.checkSASL()...)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
	return errs
}

// checkTopics refuses a kafka destination whose topic (set, or the default
// "minsheng.<name>") Kafka would refuse: 1-249 of a-z, A-Z, 0-9, '.', '_'
// and '-', and neither "." nor "..".
func (c Config) checkTopics() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	for _, name := range slices.Sorted(maps.Keys(c.Destinations)) {
		if c.Destinations[name].Sink != SinkKafka {
			continue
		}
		t := c.topic(name)
		if validTopic(t) {
			continue
		}
		msg := "is not a topic name Kafka accepts: 1-249 of a-z, A-Z, 0-9, '.', '_', '-', and not . or .."
		if c.Destinations[name].Topic == "" {
			msg = fmt.Sprintf("is not set, and the default %q %s; set one", t, msg)
		}
		errs = append(errs, minsheng.FieldError{Path: fmt.Sprintf("destinations[%s].topic", name), Msg: msg})
	}
	return errs
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// UsesKafka reports whether a destination sends to Kafka: only then does
// the router connect to it (and read its password).
func (c Config) UsesKafka() bool {
	for _, d := range c.Destinations {
		if d.Sink == SinkKafka {
			return true
		}
	}
	return false
}

// deadLetterApart refuses a dead letter destination that another route also
// names: dead letters hold raw input that nothing parsed or screened (an
// anonymous or a whistle-blower's name included, unredacted) and no
// decision, and would mix with that destination's items, before its desks.
func (c Config) deadLetterApart() minsheng.FieldErrors {
	dl := c.Routes.DeadLetter
	if dl == "" {
		return nil
	}
	var also []string
	for _, cl := range ValidClasses {
		if slices.Contains(c.Routes.Classes[cl], dl) {
			also = append(also, fmt.Sprintf("routes.classes[%s]", cl))
		}
	}
	if slices.Contains(c.Routes.DisciplineLead, dl) {
		also = append(also, "routes.discipline_lead")
	}
	for _, k := range slices.Sorted(maps.Keys(c.Routes.Departments)) {
		if slices.Contains(c.Routes.Departments[k], dl) {
			also = append(also, fmt.Sprintf("routes.departments[%s]", k))
		}
	}
	if c.Routes.Rejected == dl {
		also = append(also, "routes.rejected")
	}
	if c.Routes.Review == dl {
		also = append(also, "routes.review")
	}
	if len(also) == 0 {
		return nil
	}
	return minsheng.FieldErrors{{Path: "routes.dead_letter", Msg: fmt.Sprintf("destination %q is also where %s sends items: dead letters (raw input nothing parsed or redacted, with no decision) would mix with them; give dead letters a destination of their own", dl, strings.Join(also, ", "))}}
}

// disciplineDeadLetterApart refuses a discipline dead letter that a desk
// other than the inspectors' reads by its routes: the dead letter, or a
// destination that a class other than discipline, a department, rejected
// items or review send items to. Reusing a discipline destination is
// allowed.
func (c Config) disciplineDeadLetterApart() minsheng.FieldErrors {
	ddl := c.Routes.DisciplineDeadLetter
	if ddl == "" {
		return nil
	}
	var also []string
	for _, cl := range ValidClasses {
		if cl != minsheng.ClassDiscipline && slices.Contains(c.Routes.Classes[cl], ddl) {
			also = append(also, fmt.Sprintf("routes.classes[%s]", cl))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Routes.Departments)) {
		if slices.Contains(c.Routes.Departments[k], ddl) {
			also = append(also, fmt.Sprintf("routes.departments[%s]", k))
		}
	}
	for path, d := range map[string]string{"routes.dead_letter": c.Routes.DeadLetter, "routes.rejected": c.Routes.Rejected, "routes.review": c.Routes.Review} {
		if d == ddl {
			also = append(also, path)
		}
	}
	if len(also) == 0 {
		return nil
	}
	sort.Strings(also)
	return minsheng.FieldErrors{{Path: "routes.discipline_dead_letter", Msg: fmt.Sprintf("destination %q is also where %s sends items: discipline cases that could not be delivered would reach desks other than the inspectors'; give it a destination of its own (or a discipline one)", ddl, strings.Join(also, ", "))}}
}

// disciplineDestinations are the destinations entitled to discipline cases.
func (c Config) disciplineDestinations() map[string]bool {
	m := map[string]bool{}
	if c.Routes.DisciplineDeadLetter != "" {
		m[c.Routes.DisciplineDeadLetter] = true
	}
	for _, d := range c.Routes.Classes[minsheng.ClassDiscipline] {
		m[d] = true
	}
	for _, d := range c.Routes.DisciplineLead {
		m[d] = true
	}
	return m
}

func (c Config) topic(name string) string {
	if t := c.Destinations[name].Topic; t != "" {
		return t
	}
	return "minsheng." + name
}
