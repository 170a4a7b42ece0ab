package main

// secrets.go keeps the secrets a command knows out of the state store, the
// other place (besides stdout, stderr and /healthz) where text from a
// service ends up. See SPEC.md "Secrets in output".

import (
	"context"

	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/runtime/state"
)

// redactingStore masks registered secrets in the text a run writes to the
// state: a run's error and report, and reject reasons. It wraps any
// state.Store, so every backend gets the same guarantee; reads pass
// through. Record values (conflicts, hashes, keys) are data and are stored
// as they are.
type redactingStore struct {
	state.Store
	secrets *redact.Registry
}

func (s redactingStore) StartRun(ctx context.Context, l *state.Lease, r state.Run) (int64, error) {
	return s.Store.StartRun(ctx, l, s.run(r))
}

func (s redactingStore) FinishRun(ctx context.Context, l *state.Lease, r state.Run) error {
	return s.Store.FinishRun(ctx, l, s.run(r))
}

func (s redactingStore) run(r state.Run) state.Run {
	r.Error, r.Report = s.secrets.String(r.Error), s.secrets.String(r.Report)
	return r
}

func (s redactingStore) Apply(ctx context.Context, l *state.Lease, c *state.Changes) error {
	if len(c.PutRejects) > 0 {
		cc := *c
		cc.PutRejects = make([]state.Reject, len(c.PutRejects))
		for i, r := range c.PutRejects {
			r.Reason = s.secrets.String(r.Reason)
			cc.PutRejects[i] = r
		}
		c = &cc
	}
	return s.Store.Apply(ctx, l, c)
}
