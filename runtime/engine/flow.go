package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/runtime/state"
)

// A flow runs as a pipeline with bounded memory:
//
//	reader ──chan(1)──► prepare ──► up to InFlight writers ──► committer
//
// The reader emits the source's batches. prepare (one goroutine, the
// caller's) evaluates the flow's expressions and pairs each record with its
// target, looking targets up in batches. Writers send each batch's creates
// and updates to the target, write link keys and reconciled values back to
// the source, and delete. The committer applies each batch's state changes
// in one store transaction, in batch order, and saves the batch's cursor
// only when it and every batch before it were written completely.
//
// Batches in flight must not touch the same records: prepare tracks the
// source keys, target keys and match values of the batches in flight
// ("claims") and waits for a conflicting batch to be committed before it
// pairs a batch that shares one, so it sees that batch's creates and links.

// incoming is a batch from the reader.
type incoming struct {
	b connector.Batch
	// force marks records read again for `rejects retry`: they are
	// processed even if their hashes did not change.
	force bool
	// gone lists rejected records that no longer exist: their rejects are
	// cleared (nothing else: a record missing from a lookup is not a
	// deletion the flow's delete policy should act on).
	gone []string
}

// batchWork is one batch on its way through the pipeline.
type batchWork struct {
	seq    int
	items  []*item
	next   connector.Cursor
	resync bool
	claims []string
	// failed is the error of a write call that failed as a whole: the
	// batch's cursor (and every later one) is not saved.
	failed  error
	changes *state.Changes
	counts  FlowReport
	rejects []*RecordError
}

// flowRun runs one flow once.
type flowRun struct {
	r     *runner
	rt    *syncRT
	f     *flowRT
	lease *state.Lease
	runID int64
	rep   *FlowReport
	log   *slog.Logger
	dry   bool
	// inputs are the source fields the flow's maps read.
	inputs []string

	// Owned by the prepare goroutine.
	machine    eval.Machine
	envS, envT map[string]any // what the expressions read (see fill)
	// scratchS and scratchT are the environments fill builds for sides
	// with custom attributes.
	scratchS, scratchT map[string]any
	// retried holds the modification time of each record read for
	// `rejects retry` in this pass (see prepare).
	retried map[string]time.Time

	mu       sync.Mutex
	inflight map[int]bool
	claimed  map[string]int
	changed  chan struct{} // closed and replaced whenever a batch leaves
	err      error         // the first error; stops the flow
}

func newFlowRun(r *runner, rt *syncRT, f *flowRT, lease *state.Lease, runID int64) *flowRun {
	fr := &flowRun{
		r: r, rt: rt, f: f, lease: lease, runID: runID, dry: r.opts.DryRun,
		rep:      &FlowReport{Flow: f.name, From: f.src.label, To: f.dst.label},
		log:      r.env.Logger.With("sync", rt.p.Name, "flow", f.name),
		scratchS: map[string]any{},
		scratchT: map[string]any{},
		inflight: map[int]bool{},
		claimed:  map[string]int{},
		changed:  make(chan struct{}),
	}
	seen := map[string]bool{}
	for _, m := range f.maps {
		for _, in := range m.inputs {
			if !seen[in] {
				seen[in] = true
				fr.inputs = append(fr.inputs, in)
			}
		}
	}
	return fr
}

// fail records the flow's first error.
func (fr *flowRun) fail(err error) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.err == nil {
		fr.err = err
	}
}

func (fr *flowRun) failed() error {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.err
}

// waitClear blocks until no batch in flight holds one of claims (and, when
// slot is set, fewer than InFlight batches are in flight), then registers
// w's claims when w is not nil.
func (fr *flowRun) waitClear(ctx context.Context, claims []string, slot bool, w *batchWork) error {
	for {
		fr.mu.Lock()
		free := !slot || len(fr.inflight) < fr.r.opts.InFlight
		if free {
			for _, c := range claims {
				if _, ok := fr.claimed[c]; ok {
					free = false
					break
				}
			}
		}
		if free {
			if w != nil {
				fr.inflight[w.seq] = true
				for _, c := range w.claims {
					fr.claimed[c] = w.seq
				}
			}
			fr.mu.Unlock()
			return nil
		}
		ch := fr.changed
		fr.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// conflicting returns the claims another batch in flight holds.
func (fr *flowRun) conflicting(claims []string) bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for _, c := range claims {
		if _, ok := fr.claimed[c]; ok {
			return true
		}
	}
	return false
}

// leave removes a committed batch from the window.
func (fr *flowRun) leave(w *batchWork) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	delete(fr.inflight, w.seq)
	for _, c := range w.claims {
		if fr.claimed[c] == w.seq {
			delete(fr.claimed, c)
		}
	}
	close(fr.changed)
	fr.changed = make(chan struct{})
}

func (fr *flowRun) run(ctx context.Context) (err error) {
	start := fr.r.env.Now()
	before := statsNow(fr.rt)
	defer func() {
		fr.rep.Duration = fr.r.env.Now().Sub(start)
		fr.rep.Requests = requestsSince(fr.rt, before)
	}()

	since := connector.Cursor{}
	if fr.f.src.p.Incremental && !fr.r.opts.Full {
		tok, err := fr.r.env.Store.Cursor(ctx, fr.rt.p.Name, fr.f.name)
		if err != nil {
			return err
		}
		since = connector.Cursor{Token: tok}
	}
	fr.rep.Full = since.IsZero()

	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	batches := make(chan incoming, 1)
	var readErr error
	go func() {
		defer close(batches)
		readErr = fr.read(readCtx, since, batches)
	}()

	results := make(chan *batchWork, fr.r.opts.InFlight)
	commitErr := make(chan error, 1)
	go func() { commitErr <- fr.commit(ctx, results) }()

	var writers sync.WaitGroup
	seq := 0
	var stopped bool
	for in := range batches {
		if fr.failed() != nil || stopped {
			cancelRead()
			continue // drain
		}
		if fr.r.stopped() {
			stopped = true
			cancelRead()
			continue
		}
		seq++
		w, err := fr.prepare(ctx, in, seq)
		if err != nil {
			fr.fail(err)
			cancelRead()
			continue
		}
		if err := fr.waitClear(ctx, nil, true, w); err != nil {
			fr.fail(err)
			cancelRead()
			continue
		}
		writers.Add(1)
		go func() {
			defer writers.Done()
			fr.write(ctx, w)
			results <- w
		}()
	}
	writers.Wait()
	close(results)
	cerr := <-commitErr

	if err := fr.failed(); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if readErr != nil && !(stopped && errors.Is(readErr, context.Canceled)) {
		return fmt.Errorf("reading %s: %w", fr.f.src.label, readErr)
	}
	if stopped {
		return ErrStopped
	}
	return ctx.Err()
}

// read emits the rejects to retry (when asked), then the source's batches.
func (fr *flowRun) read(ctx context.Context, since connector.Cursor, out chan<- incoming) error {
	send := func(in incoming) error {
		select {
		case out <- in:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fr.r.opts.RetryRejects {
		if err := fr.readRejects(ctx, send); err != nil {
			return err
		}
	}
	src := fr.f.src
	req := connector.ReadRequest{Entity: src.p.Entity, Fields: src.names, Since: since, BatchSize: fr.r.opts.BatchSize}
	emitted := false
	err := src.conn.Read(ctx, req, func(b connector.Batch) error {
		emitted = true
		return send(incoming{b: b})
	})
	if err != nil && !emitted && !since.IsZero() && connector.KindOf(err) == connector.ErrorExpiredCursor {
		// The connector should fall back itself; if it did not, read in
		// full and say so.
		fr.log.Warn("the saved cursor expired; reading in full", "error", err)
		req.Since = connector.Cursor{}
		return src.conn.Read(ctx, req, func(b connector.Batch) error {
			b.Resync = true
			return send(incoming{b: b})
		})
	}
	return err
}

// readRejects looks the flow's rejected records up by key, a batch at a
// time, and emits them for processing. Records that no longer exist have
// their rejects cleared.
func (fr *flowRun) readRejects(ctx context.Context, send func(incoming) error) error {
	src := fr.f.src
	var after *state.Reject
	for {
		rejects, err := fr.r.env.Store.Rejects(ctx, state.RejectQuery{Sync: fr.rt.p.Name, Flow: fr.f.name, After: after, Limit: fr.r.opts.BatchSize})
		if err != nil || len(rejects) == 0 {
			return err
		}
		after = &rejects[len(rejects)-1]
		values := make([]any, len(rejects))
		for i, rj := range rejects {
			values[i] = rj.Key
		}
		found, err := fr.lookup(ctx, src, src.p.Key, values)
		if err != nil {
			return err
		}
		in := incoming{force: true}
		for i, recs := range found {
			if len(recs) == 0 {
				in.gone = append(in.gone, rejects[i].Key)
				continue
			}
			if recs[0].Foreign != "" {
				// Still unreadable: rejected again, with the reason.
				in.b.Rejects = append(in.b.Rejects, connector.RecordError{Key: rejects[i].Key, Err: errors.New(recs[0].Foreign)})
				continue
			}
			in.b.Records = append(in.b.Records, recs[0])
		}
		if err := send(in); err != nil {
			return err
		}
	}
}

// commit applies the batches' state changes in order and reports progress.
func (fr *flowRun) commit(ctx context.Context, results <-chan *batchWork) error {
	pending := map[int]*batchWork{}
	next := 1
	cursorOK := true
	var err error
	for w := range results {
		pending[w.seq] = w
		for {
			w, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			fr.account(w)
			if w.failed != nil {
				cursorOK = false
			}
			if err == nil && !fr.dry {
				ch := w.changes
				if cursorOK && !w.next.IsZero() && fr.f.src.p.Incremental {
					ch.Cursor = &state.Cursor{Flow: fr.f.name, Token: w.next.Token}
				}
				if !ch.Empty() {
					if aerr := fr.r.env.Store.Apply(ctx, fr.lease, ch); aerr != nil {
						err = aerr
						cursorOK = false
						fr.fail(aerr)
					} else {
						hook(fr.f.name + "/batch-committed")
					}
				}
			}
			fr.leave(w)
			if fr.r.env.Progress != nil {
				fr.r.env.Progress(Progress{Sync: fr.rt.p.Name, Flow: fr.f.name, Read: fr.rep.Read,
					Written: fr.rep.Created + fr.rep.Updated + fr.rep.Deleted + fr.rep.WrittenBack, Rejected: fr.rep.Rejected})
			}
			fr.log.Debug("batch committed", "batch", w.seq, "records", len(w.items), "cursor", !w.next.IsZero() && cursorOK)
		}
	}
	return err
}

// account adds a batch's counts to the flow's report.
func (fr *flowRun) account(w *batchWork) {
	c, r := &w.counts, fr.rep
	r.Read += c.Read
	r.Skipped += c.Skipped
	r.Created += c.Created
	r.Updated += c.Updated
	r.Unchanged += c.Unchanged
	r.Linked += c.Linked
	r.LinkedByMatch += c.LinkedByMatch
	r.WrittenBack += c.WrittenBack
	r.ReplacedLinks += c.ReplacedLinks
	r.Deleted += c.Deleted
	r.Unlinked += c.Unlinked
	r.Rejected += c.Rejected
	r.Retried += c.Retried
	r.Conflicts += c.Conflicts
	r.Resync += c.Resync
	r.WriteCalls += c.WriteCalls
	r.Outcome.add(c.Outcome)
	for conn, n := range c.EstimatedWrites {
		if r.EstimatedWrites == nil {
			r.EstimatedWrites = map[string]int{}
		}
		r.EstimatedWrites[conn] += n
	}
	for _, e := range w.rejects {
		if len(r.Rejects) < maxReportRejects {
			r.Rejects = append(r.Rejects, e)
		}
	}
}
