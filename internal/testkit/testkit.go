// Package testkit holds the helpers tests across the module share, so each
// exists once: a settable clock and a full read of a connector's entity.
// Only tests (and connectors/conntest, the conformance suite) import it.
package testkit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
)

// Clock is a clock a test sets and advances; safe for concurrent use. Pass
// its Now wherever code takes a clock (func() time.Time).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// ReadAll reads req in full (or since req.Since) and returns the records
// of every batch, the last non-zero cursor a batch carried, and the
// batches; a read error fails the test.
func ReadAll(t testing.TB, ctx context.Context, c connector.Connector, req connector.ReadRequest) ([]connector.Record, connector.Cursor, []connector.Batch) {
	t.Helper()
	var recs []connector.Record
	var last connector.Cursor
	var batches []connector.Batch
	err := c.Read(ctx, req, func(b connector.Batch) error {
		recs = append(recs, b.Records...)
		batches = append(batches, b)
		if !b.Next.IsZero() {
			last = b.Next
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Read %s since %.40q: %v", req.Entity, req.Since.Token, err)
	}
	return recs, last, batches
}
