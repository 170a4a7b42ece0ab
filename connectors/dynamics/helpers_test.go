package dynamics

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
	"github.com/synclang/synclang/internal/testkit"
)

// testEnv is a connector bound to an emulator on a loopback httptest server.
type testEnv struct {
	emu  *emulator.Emulator
	srv  *httptest.Server
	conn *Conn
	cfg  connector.Config
}

// newTestEnv starts an emulator and builds a connector for it. rateScale 0
// means the emulator's limits are off and the connector's pacing is lifted.
func newTestEnv(t testing.TB, opts emulator.Options, rateScale float64) *testEnv {
	t.Helper()
	emu, srv := emulator.NewTestServer(t, opts)
	if rateScale == 0 {
		rateScale = 1000
	}
	cfg := connector.Config{Name: "crm", Settings: emu.Settings(srv.URL), HTTPClient: srv.Client(), CacheDir: t.TempDir(), RateScale: rateScale}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &testEnv{emu: emu, srv: srv, conn: c.(*Conn), cfg: cfg}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads an entity in full or since a cursor and returns the records
// and the last cursor (testkit.ReadAll).
func readAll(t testing.TB, c connector.Connector, entity string, since connector.Cursor, batch int, fields []string) ([]connector.Record, connector.Cursor, []connector.Batch) {
	t.Helper()
	return testkit.ReadAll(t, testCtx(t), c, connector.ReadRequest{Entity: entity, Since: since, BatchSize: batch, Fields: fields})
}

func errorsAs(err error, target **connector.Error) bool { return errors.As(err, target) }
