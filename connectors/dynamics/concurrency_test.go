package dynamics

import (
	"fmt"
	"sync"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

// TestConcurrentUse runs reads, writes and lookups at once on one Conn
// (the race detector checks the shared state), starting before discovery
// so the first calls race to discover.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 50}, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for g := 0; g < 10; g++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			n := 0
			err := env.conn.Read(testCtx(t), connector.ReadRequest{Entity: "contact", BatchSize: 20}, func(b connector.Batch) error { n += len(b.Records); return nil })
			if err == nil && n < 50 {
				err = fmt.Errorf("read %d records", n)
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			res, err := env.conn.Upsert(testCtx(t), connector.UpsertRequest{Entity: "lead", Records: []connector.Record{{Fields: map[string]any{"lastname": fmt.Sprint("G", g)}}}})
			if err == nil && res.Results[0].Effect != connector.Created {
				err = fmt.Errorf("upsert: %+v", res.Results[0])
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "lastname", Values: []any{"Smith", "Novak"}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(env.emu.Rows("lead")); n != 50/4+10 {
		t.Errorf("%d leads, want %d", n, 50/4+10)
	}
}
