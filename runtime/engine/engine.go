package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// Env is what a run works with: live connectors by connection name, the
// state store, a clock, a logger and callbacks. Only Connectors and Store
// are required.
type Env struct {
	Connectors map[string]connector.Connector
	Store      state.Store
	// Now is the clock for durations (default time.Now).
	Now func() time.Time
	// Logger receives one line per sync and flow, per-batch debug lines,
	// and a warning per rejected record naming its key (never its values).
	Logger *slog.Logger
	// Progress, when set, is called after every committed batch, from one
	// goroutine at a time.
	Progress func(Progress)
	// Changes, when set, receives each change of a dry run as it is found
	// (from one goroutine at a time); otherwise the report collects them.
	Changes func(Change)
	// Stop, when closed, ends the run gracefully: no new batch is read, the
	// batches in flight are written and committed, then Run returns
	// ErrStopped. Cancelling ctx instead abandons writes in flight.
	Stop <-chan struct{}
}

// Options select what a run does.
type Options struct {
	// Sync runs one sync by name; "" runs all, in plan order.
	Sync string
	// Full reads every source record instead of the changes since the
	// saved cursors.
	Full bool
	// DryRun writes nothing (no service write, no state) and reports what
	// would be written, for `synclang plan`.
	DryRun bool
	// RetryRejects reads the records rejected earlier again (by key)
	// before the normal pass, even if they did not change.
	RetryRejects bool
	// BatchSize is the number of records per read batch, lookup and write
	// (default 1000).
	BatchSize int
	// InFlight is the number of batches per flow written concurrently while
	// the next one is read and prepared (default 4). Connectors pace their
	// own requests; this keeps enough of them queued to use the limit.
	InFlight int
	// LockTTL is the lifetime of the sync's lock, renewed while the sync
	// runs (default 2 minutes).
	LockTTL time.Duration
}

// ErrStopped is returned when Env.Stop ended a run before it finished.
var ErrStopped = errors.New("stopped before the pass finished; the next run continues from the last committed batch")

const (
	defaultBatch     = 1000
	defaultInFlight  = 4
	defaultLockTTL   = 2 * time.Minute
	maxReportRejects = 100
)

// Run runs one pass of every sync of the plan (or the one Options.Sync
// names): each flow reads its source (in full, or since its cursor), pairs
// and writes records, and commits state and cursors batch by batch.
//
// Rejected records do not make Run fail; they are counted in the report and
// kept in the store. Run returns an error when a sync could not run or
// stopped (a connection failed, the store failed, the lock is held); the
// other syncs still run, and the report covers all of them.
func Run(ctx context.Context, p *plan.Plan, env Env, opts Options) (*Report, error) {
	if p == nil {
		return nil, errors.New("engine: no plan")
	}
	if env.Store == nil {
		return nil, errors.New("engine: no state store")
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatch
	}
	if opts.InFlight <= 0 {
		opts.InFlight = defaultInFlight
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = defaultLockTTL
	}
	var syncs []*plan.Sync
	if opts.Sync != "" {
		s, ok := p.Sync(opts.Sync)
		if !ok {
			var names []string
			for _, s := range p.Syncs {
				names = append(names, s.Name)
			}
			return nil, fmt.Errorf("no sync named %q (the plan has %v)", opts.Sync, names)
		}
		syncs = []*plan.Sync{s}
	} else {
		syncs = p.Syncs
	}
	// Check every sync before running any, so a broken plan writes nothing.
	rts := make([]*syncRT, len(syncs))
	for i, s := range syncs {
		rt, err := compileSync(s, env.Connectors)
		if err != nil {
			return nil, err
		}
		rts[i] = rt
	}
	r := &runner{env: env, opts: opts}
	rep := &Report{DryRun: opts.DryRun, Started: env.Now()}
	r.report = rep
	var errs []error
	for _, rt := range rts {
		sr, err := r.runSync(ctx, rt)
		rep.Syncs = append(rep.Syncs, sr)
		if err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", rt.p.Name, err))
			if ctx.Err() != nil || errors.Is(err, ErrStopped) {
				break
			}
		}
	}
	rep.Duration = env.Now().Sub(rep.Started)
	return rep, errors.Join(errs...)
}

// runner holds what all syncs of one Run share.
type runner struct {
	env    Env
	opts   Options
	report *Report

	mu sync.Mutex // guards report.Changes, the Changes callback and planned

	// planned holds, in a dry run, the records (by sync, side and key) a
	// flow planned to write or pair: a later flow of the sync would read
	// them as echoes of those writes in a real run, so it skips them.
	planned map[string]map[state.Side]map[string]bool
	// done holds the flows ("sync/flow") that completed a pass in this run;
	// unsure the intents ("sync/flow/key") whose created record a pass read
	// but could not pair (see recover.go).
	done   map[string]bool
	unsure map[string]bool
}

func (r *runner) finished(sync, flow string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		r.done = map[string]bool{}
	}
	r.done[sync+"/"+flow] = true
}

func (r *runner) flowDone(sync, flow string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[sync+"/"+flow]
}

func (r *runner) markUnsure(sync, flow, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unsure == nil {
		r.unsure = map[string]bool{}
	}
	r.unsure[sync+"/"+flow+"/"+key] = true
}

func (r *runner) isUnsure(sync, flow, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unsure[sync+"/"+flow+"/"+key]
}

func (r *runner) plan(sync string, side state.Side, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.planned == nil {
		r.planned = map[string]map[state.Side]map[string]bool{}
	}
	if r.planned[sync] == nil {
		r.planned[sync] = map[state.Side]map[string]bool{}
	}
	if r.planned[sync][side] == nil {
		r.planned[sync][side] = map[string]bool{}
	}
	r.planned[sync][side][key] = true
}

func (r *runner) isPlanned(sync string, side state.Side, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.planned[sync][side][key]
}

func (r *runner) change(c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.env.Changes != nil {
		r.env.Changes(c)
		return
	}
	r.report.Changes = append(r.report.Changes, c)
}

func (r *runner) stopped() bool {
	if r.env.Stop == nil {
		return false
	}
	select {
	case <-r.env.Stop:
		return true
	default:
		return false
	}
}

func statsOf(c connector.Connector) connector.Stats {
	if m, ok := c.(connector.Metered); ok {
		return m.Stats()
	}
	return connector.Stats{}
}

func sub(a, b connector.Stats) connector.Stats {
	return connector.Stats{Requests: a.Requests - b.Requests, Retries: a.Retries - b.Retries, Throttled: a.Throttled - b.Throttled}
}

// requestsSince returns the requests each connection of rt sent since
// before.
func requestsSince(rt *syncRT, before map[string]connector.Stats) map[string]connector.Stats {
	out := map[string]connector.Stats{}
	for _, sd := range rt.sides {
		if _, done := out[sd.p.Connection]; done {
			continue
		}
		if _, ok := sd.conn.(connector.Metered); ok {
			out[sd.p.Connection] = sub(statsOf(sd.conn), before[sd.p.Connection])
		}
	}
	return out
}

func statsNow(rt *syncRT) map[string]connector.Stats {
	out := map[string]connector.Stats{}
	for _, sd := range rt.sides {
		out[sd.p.Connection] = statsOf(sd.conn)
	}
	return out
}

func (r *runner) runSync(ctx context.Context, rt *syncRT) (sr *SyncReport, err error) {
	start := r.env.Now()
	sr = &SyncReport{Sync: rt.p.Name}
	log := r.env.Logger.With("sync", rt.p.Name)
	before := statsNow(rt)
	defer func() {
		sr.Duration = r.env.Now().Sub(start)
		sr.Requests = requestsSince(rt, before)
		if err != nil {
			sr.Error, sr.Err = err.Error(), err
		}
		sr.Status = statusOf(err, rejectedIn(sr))
	}()

	// Decided before this run is recorded: is it the sync's first?
	slowFirst, err := r.slowerSideFirst(ctx, rt)
	if err != nil {
		return sr, err
	}
	var lease *state.Lease
	var runID int64
	if !r.opts.DryRun {
		lease, err = r.env.Store.Acquire(ctx, rt.p.Name, r.opts.LockTTL)
		if err != nil {
			return sr, err
		}
		var stopRenew func()
		ctx, stopRenew = keepLease(ctx, r.env.Store, lease, log)
		defer func() {
			stopRenew()
			if errors.Is(context.Cause(ctx), state.ErrLockLost) {
				err = state.ErrLockLost
			}
			// Release even when ctx was cancelled.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if rerr := r.env.Store.Release(rctx, lease); rerr != nil && err == nil {
				err = rerr
			}
		}()
		runID, err = r.env.Store.StartRun(ctx, lease, state.Run{Sync: rt.p.Name, Full: r.opts.Full, Started: start})
		if err != nil {
			return sr, err
		}
		sr.RunID = runID
		defer func() {
			run := state.Run{ID: runID, Sync: rt.p.Name, Status: state.RunOK, Finished: r.env.Now()}
			switch {
			case err != nil:
				run.Status, run.Error = state.RunFailed, err.Error()
			case rejectedIn(sr) > 0:
				run.Status = state.RunRejects
			}
			if b, jerr := json.Marshal(sr); jerr == nil {
				run.Report = string(b)
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if ferr := r.env.Store.FinishRun(fctx, lease, run); ferr != nil && err == nil {
				err = ferr
			}
		}()
	}

	log.Info("sync started", "full", r.opts.Full, "dryRun", r.opts.DryRun)
	// The report lists the flows in plan order, whatever order they run in.
	runs := make([]*flowRun, len(rt.flows))
	for i, f := range rt.flows {
		runs[i] = newFlowRun(r, rt, f, lease, runID)
		sr.Flows = append(sr.Flows, runs[i].rep)
	}
	if slowFirst {
		runs[0], runs[1] = runs[1], runs[0]
		log.Info("first run of the sync: the side slower to read goes first", "flow", runs[0].f.name)
	}
	for _, fr := range runs {
		f := fr.f
		ferr := fr.run(ctx)
		fl := fr.rep
		fl.Status = statusOf(ferr, fl.Rejected)
		if ferr != nil {
			fl.Error = ferr.Error()
		}
		log.Info("flow finished", "flow", fl.Flow, "read", fl.Read, "created", fl.Created, "updated", fl.Updated,
			"unchanged", fl.Unchanged, "linked", fl.Linked, "deleted", fl.Deleted, "rejected", fl.Rejected,
			"conflicts", fl.Conflicts, "duration", fl.Duration)
		if ferr != nil {
			return sr, fmt.Errorf("%s (%s -> %s): %w", f.name, f.src.label, f.dst.label, ferr)
		}
		r.finished(rt.p.Name, f.name)
	}
	return sr, nil
}

// slowerSideFirst tells whether the sync's flows run right to left first.
// They do in the first run of a two-way sync (no run recorded yet: both
// flows read in full, the state holds nothing, no crashed run left intents
// to resolve) when the right side's source is slower to read by the
// services' limits (connector.ReadRater) and holds more than a batch of
// records (connector.Counter; with fewer, each lookup and read costs about
// a request in either order). The first flow then pairs each record by a
// lookup in the faster service, and the second reads what the first wrote
// back from it. For Dynamics and People: the persons are read once (1,000
// a page, 5 pages a second) and paired with contacts by Dynamics lookups,
// instead of the contacts being paired by People's match, which answers
// ids, so every person found is read again by id (200 ids to a request),
// and then every person the first flow wrote being read back in the same
// run. (The pass after reads back what the run wrote into People, in
// either order.)
//
// Every later run goes left to right first, as the plan reads; so does a
// first run interrupted and run again (a run is recorded before its flows
// start). A dry run decides as the run would, so `synclang plan` shows the
// pairs the run makes and counts the requests it sends.
func (r *runner) slowerSideFirst(ctx context.Context, rt *syncRT) (bool, error) {
	if len(rt.flows) != 2 {
		return false, nil
	}
	rate := func(f *flowRT) float64 {
		if rr, ok := f.src.conn.(connector.ReadRater); ok {
			return rr.ReadRate(f.src.p.Entity)
		}
		return 0
	}
	first, second := rate(rt.flows[0]), rate(rt.flows[1])
	if first <= 0 || second <= 0 || second >= first {
		return false, nil
	}
	runs, err := r.env.Store.Runs(ctx, rt.p.Name, 1)
	if err != nil || len(runs) > 0 {
		return false, err
	}
	// With no more than a batch on the slower side (an empty People
	// account, a trial) each lookup and read costs about a request in
	// either order: keep the plan's.
	if c, ok := rt.flows[1].src.conn.(connector.Counter); ok {
		n, _, err := c.Count(ctx, rt.flows[1].src.p.Entity)
		if err != nil || n <= r.opts.BatchSize {
			return false, nil
		}
	}
	return true, nil
}

func rejectedIn(sr *SyncReport) int {
	n := 0
	for _, f := range sr.Flows {
		n += f.Rejected
	}
	return n
}

// keepLease renews the lease every TTL/4 until stop is called; when
// renewal finds the lease lost, the returned context is cancelled with cause
// state.ErrLockLost, which stops the flows before their next write.
func keepLease(ctx context.Context, st state.Store, l *state.Lease, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(l.TTL/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := st.Renew(ctx, l); err != nil {
					if errors.Is(err, state.ErrLockLost) {
						log.Error("lock lost; stopping the sync", "error", err)
						cancel(state.ErrLockLost)
						return
					}
					// A passing store error: try again at the next tick;
					// the lease holds until it expires.
					log.Warn("renewing the lock failed", "error", err)
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}
