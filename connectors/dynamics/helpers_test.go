package dynamics

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
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
// and the last cursor.
func readAll(t testing.TB, c connector.Connector, entity string, since connector.Cursor, batch int, fields []string) ([]connector.Record, connector.Cursor, []connector.Batch) {
	t.Helper()
	var recs []connector.Record
	var last connector.Cursor
	var batches []connector.Batch
	err := c.Read(testCtx(t), connector.ReadRequest{Entity: entity, Since: since, BatchSize: batch, Fields: fields}, func(b connector.Batch) error {
		recs = append(recs, b.Records...)
		batches = append(batches, b)
		if !b.Next.IsZero() {
			last = b.Next
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Read %s since %.40q: %v", entity, since.Token, err)
	}
	return recs, last, batches
}

func errorsAs(err error, target **connector.Error) bool { return errors.As(err, target) }
