package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/store"
)

func testItem(ref string) *minsheng.Item {
	now := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	it := &minsheng.Item{Channel: minsheng.ChannelNewspaper, Source: "qingdao-daily", Ref: ref,
		SubmittedAt: now, Title: "反映问题", Body: "正文",
		Complainant: minsheng.Complainant{Name: "王五", Phone: "13900000000", Email: "w@example.cn"}}
	it.Prepare(now)
	return it
}

func withDepartments(c Config) Config {
	c.Destinations["dept_urban"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	c.Routes.Departments = map[string][]string{"城乡建设": {"dept_urban"}}
	return c
}

func TestDestinationsFor(t *testing.T) {
	r := &Router{cfg: withDepartments(DefaultConfig())}
	r.discipline = r.cfg.disciplineDestinations()
	tests := []struct {
		name string
		d    minsheng.Decision
		want []string
		kind string
	}{
		{"gov service", minsheng.Decision{Class: minsheng.ClassGovService}, []string{"gov_service"}, minsheng.KindItem},
		{"gov service with department", minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设"}, []string{"gov_service", "dept_urban"}, minsheng.KindItem},
		{"unmapped department stays with 12345", minsheng.Decision{Class: minsheng.ClassGovService, Department: "卫生计生"}, []string{"gov_service"}, minsheng.KindItem},
		{"uncertain department stays with 12345", minsheng.Decision{Class: minsheng.ClassGovService, Department: "城乡建设", Flags: minsheng.Flags{DepartmentUncertain: true}}, []string{"gov_service"}, minsheng.KindItem},
		{"department ignored for petitions", minsheng.Decision{Class: minsheng.ClassPetition, Department: "城乡建设"}, []string{"petition"}, minsheng.KindItem},
		{"media with discipline lead fans out", minsheng.Decision{Class: minsheng.ClassMediaOversight, Flags: minsheng.Flags{DisciplineLead: true}}, []string{"media_oversight", "discipline"}, minsheng.KindItem},
		{"discipline with lead once", minsheng.Decision{Class: minsheng.ClassDiscipline, Flags: minsheng.Flags{DisciplineLead: true}}, []string{"discipline"}, minsheng.KindItem},
		{"invalid", minsheng.Decision{Class: minsheng.ClassInvalid}, []string{"rejected"}, minsheng.KindRejected},
		{"review", minsheng.Decision{Class: minsheng.ClassPetition, Review: true}, []string{"review"}, minsheng.KindReview},
		{"review keeps the lead for the inspectors", minsheng.Decision{Class: minsheng.ClassGovService, Review: true, Flags: minsheng.Flags{DisciplineLead: true}}, []string{"review", "discipline"}, minsheng.KindReview},
		{"discipline under review still reaches inspectors", minsheng.Decision{Class: minsheng.ClassDiscipline, Review: true}, []string{"review", "discipline"}, minsheng.KindReview},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, kind := r.DestinationsFor(&tc.d)
			if !slices.Equal(got, tc.want) || kind != tc.kind {
				t.Fatalf("got %v %s, want %v %s", got, kind, tc.want, tc.kind)
			}
		})
	}
}

// kafkaTopic makes name a kafka destination with topic (routed, if new).
func kafkaTopic(name, topic string) func(*Config) {
	return func(c *Config) {
		c.Kafka.Brokers = []string{"k:9092"}
		if _, ok := c.Destinations[name]; !ok {
			c.Routes.DisciplineLead = append(c.Routes.DisciplineLead, name)
		}
		c.Destinations[name] = Destination{Sink: SinkKafka, Topic: topic}
	}
}

// kafkaSASL sends petition to Kafka with these SASL settings.
func kafkaSASL(mechanism, username, passwordEnv string) func(*Config) {
	return func(c *Config) {
		kafkaTopic("petition", "")(c)
		c.Kafka.SASL.Mechanism, c.Kafka.SASL.Username, c.Kafka.SASL.PasswordEnv = mechanism, username, passwordEnv
	}
}

func TestConfigRefusesLossyRouteTables(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		path string
	}{
		{"unrouted class", func(c *Config) { delete(c.Routes.Classes, minsheng.ClassPetition) }, "routes.classes[petition]"},
		{"empty class route", func(c *Config) { c.Routes.Classes[minsheng.ClassDiscipline] = nil }, "routes.classes[discipline]"},
		{"unknown destination", func(c *Config) { c.Routes.Classes[minsheng.ClassPetition] = []string{"petiton"} }, "routes.classes[petition][0]"},
		{"unknown lead destination", func(c *Config) { c.Routes.DisciplineLead = []string{"cdi"} }, "routes.discipline_lead[0]"},
		{"no dead letter", func(c *Config) { c.Routes.DeadLetter = "" }, "routes.dead_letter"},
		{"route for invalid", func(c *Config) { c.Routes.Classes[minsheng.ClassInvalid] = []string{"rejected"} }, "routes.classes[invalid]"},
		{"dead letters into a class's destination", func(c *Config) { c.Routes.DeadLetter = "petition" }, "routes.dead_letter"},
		{"dead letters into the discipline destination", func(c *Config) { c.Routes.DeadLetter = "discipline" }, "routes.dead_letter"},
		{"dead letters into review", func(c *Config) { c.Routes.DeadLetter = "review" }, "routes.dead_letter"},
		{"no discipline dead letter", func(c *Config) { c.Routes.DisciplineDeadLetter = "" }, "routes.discipline_dead_letter"},
		{"unknown discipline dead letter", func(c *Config) { c.Routes.DisciplineDeadLetter = "cdi_dead" }, "routes.discipline_dead_letter"},
		{"discipline dead letters into the dead letter", func(c *Config) { c.Routes.DisciplineDeadLetter = "dead_letter" }, "routes.discipline_dead_letter"},
		{"discipline dead letters into review", func(c *Config) { c.Routes.DisciplineDeadLetter = "review" }, "routes.discipline_dead_letter"},
		{"discipline dead letters into a class's destination", func(c *Config) { c.Routes.DisciplineDeadLetter = "gov_service" }, "routes.discipline_dead_letter"},
		{"dead letters into a department's destination", func(c *Config) {
			*c = withDepartments(*c)
			c.Routes.DeadLetter = "dept_urban"
		}, "routes.dead_letter"},
		{"kafka without brokers", func(c *Config) { c.Destinations["petition"] = Destination{Sink: SinkKafka} }, "kafka.brokers"},
		{"kafka topic with a space", kafkaTopic("petition", "petition topic"), "destinations[petition].topic"},
		{"kafka topic with a slash", kafkaTopic("petition", "gov/petition"), "destinations[petition].topic"},
		{"kafka topic ..", kafkaTopic("petition", ".."), "destinations[petition].topic"},
		{"default kafka topic of a name Kafka refuses", kafkaTopic("城建", ""), "destinations[城建].topic"},
		{"kafka SASL password without a mechanism", kafkaSASL("", "u", "KAFKA_PW"), "kafka.sasl.mechanism"},
		{"kafka SASL username without a mechanism", kafkaSASL("", "u", ""), "kafka.sasl.mechanism"},
		{"kafka SASL mechanism without a username", kafkaSASL("scram-sha-512", "", "KAFKA_PW"), "kafka.sasl.username"},
		{"default kafka topic over 249 characters", kafkaTopic(strings.Repeat("x", 241), ""), "destinations[" + strings.Repeat("x", 241) + "].topic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			errs := c.Validate()
			for _, e := range errs {
				if e.Path == tc.path {
					return
				}
			}
			t.Fatalf("want an error on %s, got %v", tc.path, errs)
		})
	}
	if errs := DefaultConfig().Validate(); len(errs) > 0 {
		t.Fatalf("default config refused: %v", errs)
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func drain(t *testing.T, s *store.Store, dest string) []*minsheng.Envelope {
	t.Helper()
	msgs, err := s.Read(context.Background(), dest, "test-desk", 100, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []*minsheng.Envelope
	for _, m := range msgs {
		out = append(out, m.Envelope)
	}
	return out
}

// TestIdentityReachesOnlyThoseEntitled routes an item with a discipline lead
// through the embedded queues and checks who sees the complainant.
func TestIdentityReachesOnlyThoseEntitled(t *testing.T) {
	s := openStore(t)
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	it := testItem("lead-1")
	d := &minsheng.Decision{Class: minsheng.ClassMediaOversight, Flags: minsheng.Flags{DisciplineLead: true}}
	dests, err := r.Route(ctx, it, d)
	if err != nil || !slices.Equal(dests, []string{"media_oversight", "discipline"}) {
		t.Fatalf("route: %v %v", dests, err)
	}
	media := drain(t, s, "media_oversight")
	disc := drain(t, s, "discipline")
	if len(media) != 1 || len(disc) != 1 {
		t.Fatalf("media %d, discipline %d envelopes", len(media), len(disc))
	}
	if media[0].Item.Complainant.Identified() {
		t.Fatalf("media desk got the whistle-blower's identity: %+v", media[0].Item.Complainant)
	}
	if disc[0].Item.Complainant.Name != "王五" || disc[0].Item.Complainant.Phone == "" {
		t.Fatalf("inspectors did not get the identity: %+v", disc[0].Item.Complainant)
	}
	if !it.Complainant.Identified() {
		t.Fatal("routing changed the item itself")
	}

	// An ordinary service request: the department needs to call back.
	svc := testItem("svc-1")
	if _, err := r.Route(ctx, svc, &minsheng.Decision{Class: minsheng.ClassGovService}); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, "gov_service"); len(got) != 1 || got[0].Item.Complainant.Phone != "13900000000" {
		t.Fatalf("gov_service envelope: %+v", got)
	}

	// Anonymous: nobody downstream gets the identity, not even inspectors.
	anon := testItem("anon-1")
	anon.Complainant.Anonymous = true
	if _, err := r.Route(ctx, anon, &minsheng.Decision{Class: minsheng.ClassDiscipline}); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, "discipline"); len(got) != 1 || got[0].Item.Complainant.Identified() {
		t.Fatalf("anonymous complainant passed on: %+v", got[0].Item.Complainant)
	}

	// Rejected items carry the screen's reason.
	spam := testItem("spam-1")
	if _, err := r.Route(ctx, spam, &minsheng.Decision{Class: minsheng.ClassInvalid,
		Reasons: []minsheng.Reason{{Kind: "screen", Code: "spam", Detail: "advertising"}}}); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, "rejected"); len(got) != 1 || got[0].Kind != minsheng.KindRejected || !strings.HasPrefix(got[0].Reason, "spam") {
		t.Fatalf("rejected envelope: %+v", got)
	}
}

// delivered is one destination's envelope, and its JSON.
type delivered struct {
	dest string
	env  *minsheng.Envelope
	raw  string
}

// routeAndRead routes it with d, checks that it went to want, and returns
// the one envelope each destination received.
func routeAndRead(t *testing.T, r *Router, s *store.Store, it *minsheng.Item, d *minsheng.Decision, want []string) []delivered {
	t.Helper()
	dests, err := r.Route(context.Background(), it, d)
	if err != nil || !slices.Equal(dests, want) {
		t.Fatalf("route: %v %v, want %v", dests, err, want)
	}
	var out []delivered
	for _, dest := range dests {
		envs := drain(t, s, dest)
		if len(envs) != 1 {
			t.Fatalf("%s: %d envelopes", dest, len(envs))
		}
		raw, _ := json.Marshal(envs[0])
		out = append(out, delivered{dest, envs[0], string(raw)})
	}
	return out
}

// TestFreeFormIdentityReachesOnlyThoseEntitled: identity in attrs, raw_ref
// and attachment names reaches no destination that is not entitled to it,
// even when the complainant's own fields are empty (an import whose name
// column was not recognised) — for a discipline lead and for an anonymous
// complainant alike.
func TestFreeFormIdentityReachesOnlyThoseEntitled(t *testing.T) {
	secrets := []string{"370202199001011234", "13911112222", "市北区某路 8 号", "吴某身份证.jpg", "sha256:rawmail"}
	tests := []struct {
		name       string
		edit       func(*minsheng.Item)
		d          minsheng.Decision
		dests      []string
		identified []string // destinations that get the secrets
	}{
		{"discipline lead, identity only in attrs", func(it *minsheng.Item) { it.Complainant = minsheng.Complainant{} },
			minsheng.Decision{Class: minsheng.ClassMediaOversight, Flags: minsheng.Flags{DisciplineLead: true}},
			[]string{"media_oversight", "discipline"}, []string{"discipline"}},
		{"discipline lead under review", func(*minsheng.Item) {},
			minsheng.Decision{Class: minsheng.ClassGovService, Review: true, Flags: minsheng.Flags{DisciplineLead: true}},
			[]string{"review", "discipline"}, []string{"discipline"}},
		{"anonymous", func(it *minsheng.Item) { it.Complainant = minsheng.Complainant{Anonymous: true} },
			minsheng.Decision{Class: minsheng.ClassPetition}, []string{"petition"}, nil},
		{"ordinary service request", func(*minsheng.Item) {},
			minsheng.Decision{Class: minsheng.ClassGovService}, []string{"gov_service"}, []string{"gov_service"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
			if err != nil {
				t.Fatal(err)
			}
			it := testItem(fmt.Sprintf("free-%d", i))
			it.Attrs = map[string]string{"身份证号": secrets[0], "备用电话": secrets[1], "来电人住址": secrets[2], "category": "城市管理"}
			it.Attachments = []minsheng.Attachment{{Name: secrets[3], Type: "image/jpeg", SHA256: strings.Repeat("a", 64), Ref: "sha256:" + strings.Repeat("a", 64)}}
			it.RawRef = secrets[4]
			it.Location = &minsheng.Location{Address: "黄岛区长江中路"}
			tc.edit(it)
			for _, got := range routeAndRead(t, r, s, it, &tc.d, tc.dests) {
				for _, secret := range secrets {
					if has, want := strings.Contains(got.raw, secret), slices.Contains(tc.identified, got.dest); has != want {
						t.Errorf("%s: holds %q = %v, want %v", got.dest, secret, has, want)
					}
				}
				if got.env.Item.Attrs["category"] != "城市管理" || got.env.Item.Location.Address != "黄岛区长江中路" {
					t.Errorf("%s: lost the case's category or location: %+v", got.dest, got.env.Item)
				}
			}
		})
	}
}

func TestViewHidesWhatADeskMayNotSee(t *testing.T) {
	r := &Router{cfg: DefaultConfig()}
	r.discipline = r.cfg.disciplineDestinations()
	it := testItem("v-1")
	it.Via = minsheng.ViaDesk
	d := &minsheng.Decision{Class: minsheng.ClassMediaOversight, Confidence: 0.8, Flags: minsheng.Flags{DisciplineLead: true}, Reasons: leadReasons()}
	rec := &minsheng.Record{ID: it.ID, Item: it, Decision: d, Destinations: []string{"media_oversight", "discipline"},
		Trail: []minsheng.Event{{Step: minsheng.StepClassified, Detail: "media_oversight (confidence 0.80, model m)" + minsheng.TrailDisciplineLead},
			{Step: minsheng.StepRouted, Destinations: []string{"media_oversight", "discipline"}}}}
	tests := []struct {
		name string
		p    minsheng.Principal
		told bool // of the identity, the lead and the inspectors
	}{
		{"submitting desk", minsheng.Principal{Name: "qingdao-daily", Channel: minsheng.ChannelNewspaper}, true},
		{"media reader", minsheng.Principal{Name: "tv-desk", Reads: []string{"media_oversight"}}, false},
		{"inspectors", minsheng.Principal{Name: "cdi", Reads: []string{"discipline"}}, true},
		{"reads both", minsheng.Principal{Name: "ops", Reads: []string{"media_oversight", "discipline"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := r.View(rec, &tc.p)
			if !ok {
				t.Fatal("not shown")
			}
			raw, _ := json.Marshal(v)
			for _, s := range []string{"王五", `"discipline_lead":true`, `"code":"corruption"`, `"code":"discipline_lead"`, `"discipline"`, minsheng.TrailDisciplineLead} {
				if strings.Contains(string(raw), s) != tc.told {
					t.Errorf("holds %s = %v, want %v: %s", s, !tc.told, tc.told, raw)
				}
			}
			if v.Decision.Class != d.Class || v.Decision.Confidence != d.Confidence || !strings.Contains(string(raw), `"code":"low_confidence"`) {
				t.Errorf("the rest of the decision is lost: %+v", v.Decision)
			}
		})
	}
	if !d.Flags.DisciplineLead || len(d.Reasons) != 4 || !strings.HasSuffix(rec.Trail[0].Detail, minsheng.TrailDisciplineLead) {
		t.Fatal("View changed the record")
	}
	if _, ok := r.View(rec, &minsheng.Principal{Name: "petition-bureau", Reads: []string{"petition"}}); ok {
		t.Fatal("a desk unrelated to the item saw it")
	}
}

// leadReasons explain a media case whose lead a rule and the lead head raised.
func leadReasons() []minsheng.Reason {
	return []minsheng.Reason{{Kind: "feature", Code: "media_oversight", Detail: "曝光"},
		{Kind: "feature", Code: "discipline_lead", Detail: "lead 0.40", Lead: true},
		{Kind: "rule", Code: "corruption", Detail: "好处费", Lead: true},
		{Kind: "threshold", Code: "low_confidence", Detail: "below 0.5"}}
}

// TestLeadToldOnlyToInspectors: the envelopes of a lead case carry the lead
// flag and the reasons that raised it to the inspectors only; every other
// destination gets the class, confidence and the other reasons, but for
// an item in review, whose class it is not told either.
func TestLeadToldOnlyToInspectors(t *testing.T) {
	s := openStore(t)
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		d     minsheng.Decision
		dests []string
	}{
		{"media case with a lead", minsheng.Decision{Class: minsheng.ClassMediaOversight, Confidence: 0.8, Flags: minsheng.Flags{DisciplineLead: true}}, []string{"media_oversight", "discipline"}},
		{"lead under review", minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 0.3, Review: true, Flags: minsheng.Flags{DisciplineLead: true}}, []string{"review", "discipline"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Reasons = leadReasons()
			for _, e := range routeAndRead(t, r, s, testItem(fmt.Sprint("lead-told-", i)), &tc.d, tc.dests) {
				dest, told := e.dest, e.dest == "discipline"
				for _, s := range []string{`"discipline_lead":true`, `"code":"corruption"`, `"code":"discipline_lead"`} {
					if strings.Contains(e.raw, s) != told {
						t.Errorf("%s: holds %s = %v, want %v", dest, s, !told, told)
					}
				}
				got := e.env.Decision
				if tc.d.Review && !told {
					// In review, triage's class is withheld too, and every
					// reason, which names it (TestReviewClassWithheld).
					if got.Class != "" || got.Confidence != 0 || len(got.Reasons) != 0 || !got.Review || strings.Contains(e.raw, `"class"`) {
						t.Errorf("%s: triage's class is not withheld: %+v", dest, got)
					}
					continue
				}
				if got.Class != tc.d.Class || got.Confidence != tc.d.Confidence || got.Review != tc.d.Review ||
					!slices.ContainsFunc(got.Reasons, func(r minsheng.Reason) bool { return r.Code == "low_confidence" }) {
					t.Errorf("%s: the rest of the decision is lost: %+v", dest, got)
				}
			}
			if !tc.d.Flags.DisciplineLead || len(tc.d.Reasons) != 4 {
				t.Fatal("Route changed the decision")
			}
		})
	}
}

// TestViewSubmitterIsNotASourceName: only an item posted through the desk
// API, on the desk's channel under its name, is shown whole to a desk as
// its own. A desk that bears the source name of an import, a mailbox or a
// feed is not their submitter: it sees their items only as a reader of
// their destinations, without the identity in a discipline case.
func TestViewSubmitterIsNotASourceName(t *testing.T) {
	r := &Router{cfg: DefaultConfig()}
	r.discipline = r.cfg.disciplineDestinations()
	lead := &minsheng.Decision{Class: minsheng.ClassMediaOversight, Flags: minsheng.Flags{DisciplineLead: true}}
	item := func(ch minsheng.Channel, source, via string) *minsheng.Record {
		it := testItem("s-1")
		it.Channel, it.Source, it.Via = ch, source, via
		return &minsheng.Record{ID: it.ID, Item: it, Decision: lead, Destinations: []string{"media_oversight", "discipline"}}
	}
	quarantined := &minsheng.Record{ID: "q", Destinations: []string{"dead_letter"},
		Quarantine: &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mayor-mailbox", Raw: []byte("From: 王五")}}
	desk := func(name string, ch minsheng.Channel, reads ...string) *minsheng.Principal {
		return &minsheng.Principal{Name: name, Channel: ch, Reads: reads}
	}
	for _, tc := range []struct {
		name           string
		rec            *minsheng.Record
		p              *minsheng.Principal
		seen, identity bool
	}{
		{"its own item", item(minsheng.ChannelNewspaper, "qingdao-daily", minsheng.ViaDesk), desk("qingdao-daily", minsheng.ChannelNewspaper), true, true},
		{"imported under its name", item(minsheng.ChannelNewspaper, "qingdao-daily", ""), desk("qingdao-daily", minsheng.ChannelNewspaper), false, false},
		{"desk named import, imported item", item(minsheng.ChannelHotline, "import", ""), desk("import", minsheng.ChannelHotline), false, false},
		{"desk named import, reading a destination", item(minsheng.ChannelHotline, "import", ""), desk("import", minsheng.ChannelHotline, "media_oversight"), true, false},
		{"desk named like a mailbox, quarantined mail", quarantined, desk("mayor-mailbox", minsheng.ChannelMayorMailbox), false, false},
		{"same name, another channel", item(minsheng.ChannelBroadcaster, "qingdao-daily", minsheng.ViaDesk), desk("qingdao-daily", minsheng.ChannelNewspaper), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := r.View(tc.rec, tc.p)
			if ok != tc.seen {
				t.Fatalf("seen = %v, want %v", ok, tc.seen)
			}
			if ok && v.Item.Complainant.Identified() != tc.identity {
				t.Fatalf("identity shown = %v, want %v", v.Item.Complainant.Identified(), tc.identity)
			}
		})
	}
}

func kafkaConfig(k *testkafka.Cluster) Config {
	c := DefaultConfig()
	for name := range c.Destinations {
		c.Destinations[name] = Destination{Sink: SinkKafka, Identity: IdentityAuto}
	}
	c.Kafka.Brokers = k.Addrs()
	c.Kafka.CreateTopics = true
	return c
}

// TestKafkaSinkKeysHeadersAndFanOut routes through a real Kafka-protocol
// broker and reads the topics back with consumer groups.
func TestKafkaSinkKeysHeadersAndFanOut(t *testing.T) {
	k := testkafka.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := New(ctx, kafkaConfig(k), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	it := testItem("k-1")
	d := &minsheng.Decision{Class: minsheng.ClassPetition, Confidence: 0.9, ModelVersion: "test-1", Flags: minsheng.Flags{DisciplineLead: true},
		Case: &minsheng.CaseLink{ID: "k-0", Nearest: "k-0", Similarity: 0.9, Items: 2, Since: it.ReceivedAt}}
	dests, err := r.Route(ctx, it, d)
	if err != nil || !slices.Equal(dests, []string{"petition", "discipline"}) {
		t.Fatalf("route: %v %v", dests, err)
	}
	for _, topic := range []string{"minsheng.petition", "minsheng.discipline"} {
		msgs, err := k.Read(ctx, topic, "test-"+topic, 1, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages", topic, len(msgs))
		}
		m := msgs[0]
		if string(m.Key) != it.ID {
			t.Errorf("%s: key %q, want the item ID", topic, m.Key)
		}
		// Only the inspectors are told of the lead.
		lead := strconv.FormatBool(topic == "minsheng.discipline")
		for h, want := range map[string]string{"minsheng-class": "petition", "minsheng-channel": "newspaper",
			"minsheng-trace-id": it.TraceID, "minsheng-schema-version": "1", "minsheng-model-version": "test-1", "minsheng-discipline-lead": lead, "minsheng-case": "k-0"} {
			if got := testkafka.Header(m, h); got != want {
				t.Errorf("%s: header %s = %q, want %q", topic, h, got, want)
			}
		}
		var env minsheng.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatal(err)
		}
		identified := env.Item.Complainant.Identified()
		if identified != (topic == "minsheng.discipline") {
			t.Errorf("%s: complainant identified = %v", topic, identified)
		}
	}
}

// TestKafkaPermanentErrorGoesToDeadLetter: an item the broker refuses for
// its size goes to the dead letter destination, with the reason.
func TestKafkaPermanentErrorGoesToDeadLetter(t *testing.T) {
	k := testkafka.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := kafkaConfig(k)
	cfg.Destinations["dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	s := openStore(t)
	cfg.Kafka.BatchBytes = 64 << 10
	r, err := New(ctx, cfg, Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	it := testItem("huge-1")
	it.Body = strings.Repeat("很长的信", 30000) // ~360 KB, over the 64 KiB batch limit
	// Its case was found among items that reached gov_service, where it
	// never arrived: the dead letter destination is not told of it.
	d := &minsheng.Decision{Class: minsheng.ClassGovService, Case: &minsheng.CaseLink{ID: "other-item", Nearest: "other-item", Similarity: 1, Items: 2},
		Reasons: []minsheng.Reason{{Kind: minsheng.ReasonCase, Code: "same_case", Detail: "like item other-item"}}}
	dests, err := r.Route(ctx, it, d)
	if err != nil || !slices.Equal(dests, []string{"dead_letter"}) {
		t.Fatalf("route: %v %v", dests, err)
	}
	got := drain(t, s, "dead_letter")
	if len(got) != 1 || got[0].Kind != minsheng.KindDeadLetter || !strings.Contains(got[0].Reason, "permanent") || got[0].Item.Body != it.Body {
		t.Fatalf("dead letter: %+v", got)
	}
	if got[0].Decision.Case != nil || len(got[0].Decision.Reasons) != 0 {
		t.Errorf("the dead letter names the case: %+v", got[0].Decision)
	}
}

// TestDeadLetterKeepsDisciplineWithInspectors: an item Kafka refuses for its
// size goes to the dead letter whole only when it is no discipline case and
// carries no lead. A discipline case goes whole to the discipline dead
// letter alone; a lead on a service request goes whole there, and to the
// dead letter as the service desks would have had it (no lead, no
// complainant), for them to re-deliver.
func TestDeadLetterKeepsDisciplineWithInspectors(t *testing.T) {
	k := testkafka.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := kafkaConfig(k)
	cfg.Destinations["dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	cfg.Destinations["discipline_dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	cfg.Kafka.BatchBytes = 64 << 10
	s := openStore(t)
	r, err := New(ctx, cfg, Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lead := minsheng.Reason{Kind: "model", Code: "discipline_lead", Detail: "lead", Lead: true}
	for _, tc := range []struct {
		name      string
		d         minsheng.Decision
		dl, ddl   bool // reaches dead_letter, discipline_dead_letter
		wantDests []string
	}{
		{"discipline case", minsheng.Decision{Class: minsheng.ClassDiscipline, Reasons: []minsheng.Reason{lead}}, false, true, []string{"discipline_dead_letter"}},
		{"service request with a lead", minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}, Reasons: []minsheng.Reason{lead}}, true, true, []string{"dead_letter", "discipline_dead_letter"}},
		{"service request", minsheng.Decision{Class: minsheng.ClassGovService}, true, false, []string{"dead_letter"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := testItem("huge-" + tc.name)
			it.Body = strings.Repeat("很长的信", 30000) // ~360 KB, over the 64 KiB batch limit
			dests, err := r.Route(ctx, it, &tc.d)
			if err != nil || !slices.Equal(dests, tc.wantDests) {
				t.Fatalf("route: %v %v, want %v", dests, err, tc.wantDests)
			}
			dl, ddl := drain(t, s, "dead_letter"), drain(t, s, "discipline_dead_letter")
			if got := len(dl) == 1; got != tc.dl || len(dl) > 1 {
				t.Fatalf("dead_letter holds %d envelopes, want it reached = %v", len(dl), tc.dl)
			}
			if got := len(ddl) == 1; got != tc.ddl || len(ddl) > 1 {
				t.Fatalf("discipline_dead_letter holds %d envelopes, want it reached = %v", len(ddl), tc.ddl)
			}
			if tc.dl {
				e := dl[0]
				if e.Kind != minsheng.KindDeadLetter || e.Item.Body != it.Body || e.Decision.Class != tc.d.Class {
					t.Errorf("dead letter: kind %s, class %s, body kept %v", e.Kind, e.Decision.Class, e.Item.Body == it.Body)
				}
				if e.Decision.Flags.DisciplineLead || len(e.Decision.Reasons) != 0 {
					t.Errorf("the dead letter is told of the lead: %+v", e.Decision)
				}
				if tc.ddl && e.Item.Complainant.Identified() {
					t.Errorf("the dead letter names the complainant of a lead: %+v", e.Item.Complainant)
				}
			}
			if tc.ddl {
				e := ddl[0]
				if e.Kind != minsheng.KindDeadLetter || e.Item.Body != it.Body || e.Decision.Class != tc.d.Class ||
					e.Decision.Flags.DisciplineLead != tc.d.Flags.DisciplineLead || len(e.Decision.Reasons) != 1 {
					t.Errorf("discipline dead letter: %+v", e.Decision)
				}
				if !e.Item.Complainant.Identified() || e.Item.Complainant.Phone != it.Complainant.Phone {
					t.Errorf("the inspectors' dead letter lacks the complainant: %+v", e.Item.Complainant)
				}
				if !strings.Contains(e.Reason, "batch_bytes") {
					t.Errorf("reason %q does not say why", e.Reason)
				}
			}
			for _, m := range [][]*minsheng.Envelope{dl, ddl} {
				for _, e := range m {
					if _, _, err := s.Ack(ctx, e.Destination, "test-desk", []string{e.ItemID}); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestKafkaUnavailableIsNotAcked: with the broker down the router retries
// until its deadline and reports ErrUnavailable: nothing is claimed done.
func TestKafkaUnavailableIsNotAcked(t *testing.T) {
	k := testkafka.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := New(ctx, kafkaConfig(k), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	k.Stop()
	short, cancel2 := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel2()
	_, err = r.Route(short, testItem("down-1"), &minsheng.Decision{Class: minsheng.ClassGovService})
	if !errors.Is(err, minsheng.ErrUnavailable) {
		t.Fatalf("broker down: err %v, want ErrUnavailable", err)
	}
	if r.Health(ctx) == nil {
		t.Fatal("Health says ready with the broker down")
	}
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Route(ctx, testItem("down-1"), &minsheng.Decision{Class: minsheng.ClassGovService}); err != nil {
		t.Fatalf("after the broker returned: %v", err)
	}
}

// TestEntitledDisciplineProtectionWins: no identity policy gives a
// discipline case's or lead's complainant to a destination that is not a
// discipline destination; redacted and anonymity withhold it everywhere.
func TestEntitledDisciplineProtectionWins(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Destinations["media_oversight"] = Destination{Sink: SinkQueue, Identity: IdentityFull}
	cfg.Destinations["dead_letter"] = Destination{Sink: SinkQueue, Identity: IdentityFull}
	cfg.Destinations["petition"] = Destination{Sink: SinkQueue, Identity: IdentityRedacted}
	cfg.Destinations["discipline"] = Destination{Sink: SinkQueue, Identity: IdentityFull}
	r := &Router{cfg: cfg, discipline: cfg.disciplineDestinations()}
	lead := &minsheng.Decision{Class: minsheng.ClassMediaOversight, Flags: minsheng.Flags{DisciplineLead: true}}
	disc := &minsheng.Decision{Class: minsheng.ClassDiscipline}
	svc := &minsheng.Decision{Class: minsheng.ClassGovService}
	named, anon := testItem("e-1"), testItem("e-2")
	anon.Complainant.Anonymous = true
	for _, tc := range []struct {
		dest string
		it   *minsheng.Item
		d    *minsheng.Decision
		want bool
	}{
		{"media_oversight", named, lead, false}, // full does not override the protection
		{"media_oversight", named, disc, false},
		{"dead_letter", named, lead, false},
		{"media_oversight", named, svc, true},
		{"gov_service", named, lead, false}, // auto
		{"gov_service", named, svc, true},
		{"discipline", named, lead, true},
		{"discipline", named, disc, true},
		{"discipline", anon, disc, false},
		{"media_oversight", anon, svc, false},
		{"petition", named, svc, false}, // redacted
	} {
		if got := r.Entitled(tc.dest, tc.it, tc.d); got != tc.want {
			t.Errorf("Entitled(%s, anonymous=%v, %s lead=%v) = %v, want %v", tc.dest, tc.it.Complainant.Anonymous, tc.d.Class, tc.d.Flags.DisciplineLead, got, tc.want)
		}
	}

	// Routed through the queues: the media desk with identity: full gets
	// the lead without its complainant.
	s := openStore(t)
	rr, err := New(context.Background(), cfg, Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Route(context.Background(), testItem("lead-full"), lead); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, "media_oversight"); len(got) != 1 || got[0].Item.Complainant.Identified() {
		t.Fatalf("media_oversight (identity: full) envelope: %+v", got)
	}
	if got := drain(t, s, "discipline"); len(got) != 1 || !got[0].Item.Complainant.Identified() {
		t.Fatalf("discipline envelope: %+v", got)
	}
}

// A weak lead goes to the inspectors as any lead, with the identity and
// the flags; the item's other destinations keep the identity but are told
// of neither the lead nor its weakness.
func TestWeakLeadKeepsIdentityElsewhere(t *testing.T) {
	s := openStore(t)
	r, err := New(context.Background(), DefaultConfig(), Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	for _, weak := range []bool{false, true} {
		d := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.7, Flags: minsheng.Flags{DisciplineLead: true, WeakLead: weak},
			Reasons: []minsheng.Reason{{Kind: "feature", Code: "discipline_lead", Detail: "lead 0.11", Lead: true}}}
		for _, e := range routeAndRead(t, r, s, testItem(fmt.Sprint("weak-", weak)), d, []string{"gov_service", "discipline"}) {
			inspectors := e.dest == "discipline"
			if got, want := e.env.Item.Complainant.Name != "", inspectors || weak; got != want {
				t.Errorf("weak %v, %s: identity %v, want %v", weak, e.dest, got, want)
			}
			if got := e.env.Decision.Flags; got.DisciplineLead != inspectors || got.WeakLead != (inspectors && weak) {
				t.Errorf("weak %v, %s: flags %+v", weak, e.dest, got)
			}
		}
	}
}

// TestMarshalEnvelopeKeepsMarkupAsIs: a letter quoting markup is encoded
// at its own size, not six bytes for each <, > and &, and reads back the
// same.
func TestMarshalEnvelopeKeepsMarkupAsIs(t *testing.T) {
	it := testItem("markup")
	it.Body = strings.Repeat("<p>水&电</p>", 1000)
	e := &minsheng.Envelope{SchemaVersion: minsheng.SchemaVersion, Destination: "gov_service", Kind: minsheng.KindItem, ItemID: it.ID, Item: it}
	b, err := marshalEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(it.Body)) || bytes.HasSuffix(b, []byte("\n")) {
		t.Fatalf("envelope escapes the body or ends in a newline (%d bytes for a %d-byte body)", len(b), len(it.Body))
	}
	var back minsheng.Envelope
	if err := json.Unmarshal(b, &back); err != nil || back.Item.Body != it.Body {
		t.Fatalf("read back: %v", err)
	}
}

// TestDeadLetterOnKafkaWarned: a dead letter destination on Kafka is
// warned of at start (an item Kafka refuses could not be dead-lettered
// there, and would be offered again and again); on the embedded queue,
// as deployments keep them, nothing is said.
func TestDeadLetterOnKafkaWarned(t *testing.T) {
	k := testkafka.StartT(t)
	for _, tc := range []struct {
		name   string
		queued []string // destinations moved to the embedded queue
		want   []string // dead letters warned of
	}{
		{"all on Kafka", nil, []string{"dead_letter", "discipline_dead_letter"}},
		{"inspectors' dead letter on Kafka", []string{"dead_letter"}, []string{"discipline_dead_letter"}},
		{"both on the queue", []string{"dead_letter", "discipline_dead_letter"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kafkaConfig(k)
			cfg.Kafka.CreateTopics = false
			for _, n := range tc.queued {
				cfg.Destinations[n] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
			}
			var buf bytes.Buffer
			r, err := New(context.Background(), cfg, Options{Queues: openStore(t), Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var rec struct{ Msg, Destination string }
				if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Msg, "dead letter destination is on Kafka") {
					got = append(got, rec.Destination)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("warned of %v, want %v\n%s", got, tc.want, buf.String())
			}
		})
	}
}

// TestQueueLeftOnKafkaWarned: a destination moved from the embedded queue
// to Kafka while its queue still holds messages is warned of at start,
// with how many: the queue API answers not_a_queue for it, so no desk can
// read or ack them until it is on the queue again. Before, nothing was
// said, and the messages (a discipline queue's complainants among them)
// lay unread with no sign. An empty queue, or one still on the queue
// sink, is not warned of.
func TestQueueLeftOnKafkaWarned(t *testing.T) {
	k := testkafka.StartT(t)
	s := openStore(t)
	var envs []*minsheng.Envelope
	for _, id := range []string{"ms1aaaaaaaaaaaaaaaaaaaaaaaaaa", "ms1bbbbbbbbbbbbbbbbbbbbbbbbbb"} {
		envs = append(envs, &minsheng.Envelope{SchemaVersion: "1", Destination: "petition", Kind: minsheng.KindItem, ItemID: id})
	}
	envs = append(envs, &minsheng.Envelope{SchemaVersion: "1", Destination: "gov_service", Kind: minsheng.KindItem, ItemID: "ms1cccccccccccccccccccccccccc"})
	if _, err := s.Enqueue(context.Background(), envs); err != nil {
		t.Fatal(err)
	}
	cfg := kafkaConfig(k)
	cfg.Kafka.CreateTopics = false
	cfg.Destinations["gov_service"] = Destination{Sink: SinkQueue, Identity: IdentityAuto}
	var buf bytes.Buffer
	r, err := New(context.Background(), cfg, Options{Queues: s, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Msg, Destination string
			Messages         int
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Msg, "embedded queue still holds") {
			got[rec.Destination] = rec.Messages
		}
	}
	if len(got) != 1 || got["petition"] != 2 {
		t.Errorf("warned of %v, want petition with 2 messages\n%s", got, buf.String())
	}
}
