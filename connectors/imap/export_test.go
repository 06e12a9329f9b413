package imap

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
)

// For the external tests (package imap_test, which may import the gateway).

func StartMemServerAddr(t *testing.T) string { return startMemServer(t).addr }

func AppendFixtures(t *testing.T, addr string, names ...string) {
	cl := testClient(t, addr)
	for _, n := range names {
		appendMail(t, cl, "INBOX", fixture(t, n))
	}
}

func ConfigFor(t *testing.T, addr string) Config {
	t.Setenv(pwEnv, testPass)
	return testConfig(addr)
}

func CheckpointUID(t *testing.T, st *store.Store) uint32 { return readCheckpoint(t, st, "INBOX").UID }

func WaitFor(t *testing.T, what string, d time.Duration, cond func() bool) { waitFor(t, what, d, cond) }

// FixtureItemID is the item ID the connector named name gives a fixture.
func FixtureItemID(t *testing.T, name, fixtureName string) string {
	m, err := Parse(fixture(t, fixtureName))
	if err != nil {
		t.Fatal(err)
	}
	return minsheng.ItemID(minsheng.ChannelMayorMailbox, name, m.Ref())
}

// Metric reads one of the connector's metrics for mailbox INBOX.
func (c *Connector) Metric(name string, labels ...string) float64 {
	labels = append([]string{"INBOX"}, labels...)
	switch name {
	case "fetched":
		return testutil.ToFloat64(c.fetched.WithLabelValues(labels...))
	case "parsed":
		return testutil.ToFloat64(c.parsed.WithLabelValues(labels...))
	case "quarantined":
		return testutil.ToFloat64(c.quarantined.WithLabelValues(labels...))
	case "lag":
		return testutil.ToFloat64(c.lag.WithLabelValues(labels...))
	}
	return -1
}
