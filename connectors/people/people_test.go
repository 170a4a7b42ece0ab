package people

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/conntest"
	"github.com/synclang/synclang/connectors/people/emulator"
)

// testScale speeds up the emulator's rate-limit windows and the
// connector's pacing alike, so tests run against real limits quickly.
const testScale = 50

// newTestConn starts an emulator and returns a connector to it, with small
// pages so reads page.
func newTestConn(t testing.TB, opts emulator.Options, tune tuning) (*Conn, *emulator.Emulator) {
	t.Helper()
	if opts.TimeScale == 0 {
		opts.TimeScale = testScale
	}
	emu, srv := emulator.NewTestServer(t, opts)
	c, err := newConn(connector.Config{Name: "cdp", Settings: emu.Settings(srv.URL), RateScale: opts.TimeScale,
		HTTPClient: srv.Client()}, tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, emu
}

func TestConformance(t *testing.T) {
	conntest.Run(t, func(t *testing.T) connector.Connector {
		c, emu := newTestConn(t, emulator.Options{}, tuning{pageSize: 7})
		if err := emu.DefineAttribute("JobTitle", "STRING"); err != nil {
			t.Fatal(err)
		}
		return c
	}, conntest.Options{
		Entity: EntityCustomer,
		NewRecord: func(i int) map[string]any {
			return map[string]any{"firstName": fmt.Sprint("F", i), "lastName": "Lovelace", "city": "London",
				"email": fmt.Sprintf("p%d@example.com", i), "phone": fmt.Sprintf("4477009%05d", i),
				"externalId": fmt.Sprintf("crm-%d", i), "custom.JobTitle": "Engineer"}
		},
		UpdateField:  "city",
		UpdateValue:  func(i int) any { return fmt.Sprint("Paris ", i) },
		LookupFields: []string{"email", "phone", "externalId"},
		MissingKey:   "999999",
		Invalid:      func(i int) map[string]any { return map[string]any{"lastName": "X", "email": "not-an-email"} },
	})
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
