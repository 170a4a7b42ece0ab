// Package testkit holds the helpers tests across the module share, so each
// exists once: a settable clock, a full read of a connector's entity, and
// the environment of a child process.
// Only tests (and connectors/conntest, the conformance suite) import it.
package testkit

import (
	"context"
	"os"
	"strings"
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

// ChildEnv returns the environment of a child process a test starts (the
// test binary again, or a binary it built): the test's own, then extra,
// with the race detector's pause at exit turned off (see NoExitSleep).
func ChildEnv(extra ...string) []string {
	env := append(os.Environ(), extra...)
	return append(env, "GORACE="+NoExitSleep())
}

// NoExitSleep is the value of GORACE for a child process: the test's own
// GORACE with atexit_sleep_ms=0. A race-built binary otherwise sleeps a
// second as it exits (so goroutines still running can report); a test
// that starts dozens of children spends that many seconds asleep. Races
// are still reported as they happen.
func NoExitSleep() string {
	return strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
}
