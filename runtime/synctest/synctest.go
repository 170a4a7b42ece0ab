package synctest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// StandIn is an in-memory service a test runs against: a connector whose
// records can also be deleted (edits between runs) and whose clock the
// test sets.
type StandIn interface {
	connector.Connector
	connector.Deleter
	SetClock(now func() time.Time)
}

// Options configure a test run.
type Options struct {
	// Registry holds the connection kinds; their standard schemas, with
	// the custom fields the plan's syncs use, are the stand-ins' schemas.
	Registry *connector.Registry
	// NewStandIn returns an empty stand-in of a kind; required.
	NewStandIn func(kind string, schema *connector.Schema) (StandIn, error)
	// Run, when set, selects the tests whose name it matches.
	Run *regexp.Regexp
	// NewStore returns the state store of one test; nil means an empty
	// state.Memory, which has the SQLite store's contract and costs
	// microseconds instead of milliseconds a test.
	NewStore func(now func() time.Time) (state.Store, error)
}

// Result is the outcome of one test.
type Result struct {
	Name     string        `json:"name"`
	Range    diag.Range    `json:"range"`
	Passed   bool          `json:"passed"`
	Duration time.Duration `json:"durationNs"`
	Failures []*Failure    `json:"failures,omitempty"`
}

// Failure is one expectation that did not hold (or a step that could not
// run).
type Failure struct {
	// Step is the test line; Range the exact part of it (the field line of
	// a body), which annotations point at.
	Step  diag.Range `json:"step"`
	Range diag.Range `json:"range"`
	// Mapping is the mapping line that writes the field, when one does.
	Mapping diag.Range `json:"mapping,omitzero"`
	// Record, Entity and Field say what was compared ("ada",
	// "infobip.customer", "gender"); Field is empty for a whole record.
	Record string `json:"record,omitempty"`
	Entity string `json:"entity,omitempty"`
	Field  string `json:"field,omitempty"`
	// Expected and Actual are the values in the language's literal form
	// ("FEMALE" quoted, 2, nil).
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	// Message says what failed in a sentence.
	Message string `json:"message"`
	// Fix, when set, is the edit of the test file that makes the
	// expectation hold (what --update applies).
	Fix *Edit `json:"-"`
}

// Edit replaces the bytes [Start, End) of File with Text.
type Edit struct {
	File       string
	Start, End int
	Text       string
}

// Diagnostic renders the failure as a diagnostic at the test's line, with
// the mapping line as related information.
func (f *Failure) Diagnostic(test string) *diag.Diagnostic {
	d := &diag.Diagnostic{Severity: diag.Error, Code: "test-failed", Summary: "test " + strconv.Quote(test) + " failed",
		Detail: f.Message, Subject: f.Range}
	if f.Mapping.IsValid() {
		d.Related = []diag.Related{{Message: "the mapping line that writes " + f.Field, Subject: f.Mapping}}
	}
	return d
}

// Run runs the plan's tests (those Options.Run selects), one after the
// other, and returns their results in plan order. The error is for what
// stops every test (no temporary directory).
func Run(ctx context.Context, p *plan.Plan, opts Options) ([]*Result, error) {
	if opts.NewStandIn == nil {
		return nil, errors.New("synctest: no stand-in factory")
	}
	if opts.NewStore == nil {
		opts.NewStore = func(now func() time.Time) (state.Store, error) { return state.NewMemory(now), nil }
	}
	var out []*Result
	for _, t := range p.Tests {
		if opts.Run != nil && !opts.Run.MatchString(t.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, runTest(ctx, p, t, opts))
	}
	return out, nil
}

// epoch is the fixed time every test starts at; each step moves the
// clock on by a second, so "newest" conflict decisions follow the order
// of the steps.
var epoch = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

func runTest(ctx context.Context, p *plan.Plan, t *plan.Test, opts Options) *Result {
	start := time.Now()
	res := &Result{Name: t.Name, Range: t.Range}
	tr, err := newRunner(p, t, opts)
	if err != nil {
		res.Failures = append(res.Failures, &Failure{Step: t.Range, Range: t.Range, Message: err.Error()})
	} else {
		defer tr.close()
		for _, st := range t.Steps {
			stop := tr.step(ctx, st)
			if stop {
				break
			}
		}
		res.Failures = tr.failures
	}
	res.Passed = len(res.Failures) == 0
	res.Duration = time.Since(start)
	return res
}

// clock is the test's clock, shared by the stand-ins, the store and the
// engine.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// runner is one test being run.
type runner struct {
	test     *plan.Test
	plan     *plan.Plan // the test's syncs only
	clk      *clock
	conns    map[string]StandIn
	schemas  map[string]*connector.Schema
	store    state.Store
	keys     map[string]string // "conn.entity name" -> key
	linked   map[string]bool   // "sync name" pairs already put in the store
	report   *engine.Report
	runID    map[string]int64 // last run id per sync
	failures []*Failure
}

func newRunner(p *plan.Plan, t *plan.Test, opts Options) (*runner, error) {
	clk := &clock{t: epoch}
	r := &runner{test: t, clk: clk, conns: map[string]StandIn{}, schemas: map[string]*connector.Schema{},
		keys: map[string]string{}, linked: map[string]bool{}, runID: map[string]int64{}}
	sub := &plan.Plan{Version: p.Version}
	for _, s := range p.Syncs {
		for _, name := range t.Syncs {
			if s.Name == name {
				sub.Syncs = append(sub.Syncs, s)
			}
		}
	}
	for _, c := range p.Connections {
		sub.Connections = append(sub.Connections, c)
	}
	r.plan = sub
	for _, s := range sub.Syncs {
		for _, side := range []*plan.Side{s.Left, s.Right} {
			schema, err := r.schema(opts.Registry, side)
			if err != nil {
				return nil, err
			}
			r.schemas[side.Connection] = schema
		}
	}
	for name, schema := range r.schemas {
		var kind string
		for _, c := range sub.Connections {
			if c.Name == name {
				kind = c.Kind
			}
		}
		si, err := opts.NewStandIn(kind, schema)
		if err != nil {
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		si.SetClock(clk.now)
		r.conns[name] = si
	}
	st, err := opts.NewStore(clk.now)
	if err != nil {
		return nil, err
	}
	r.store = st
	return r, nil
}

// schema returns the stand-in schema of a side's connection: the kind's
// standard schema with every field the plan's sides use on it added (the
// custom attributes the connection declares).
func (r *runner) schema(reg *connector.Registry, side *plan.Side) (*connector.Schema, error) {
	s := r.schemas[side.Connection]
	if s == nil {
		if reg == nil {
			return nil, errors.New("synctest: no registry")
		}
		kind, ok := reg.Kind(side.Kind)
		if !ok || kind.Schema == nil {
			return nil, fmt.Errorf("connection %s: no stand-in schema for kind %q", side.Connection, side.Kind)
		}
		s = kind.Schema.Clone()
	}
	ent, ok := s.Entity(side.Entity)
	if !ok {
		return nil, fmt.Errorf("connection %s: kind %s has no entity %q", side.Connection, side.Kind, side.Entity)
	}
	for _, f := range side.Fields {
		if _, have := ent.Field(f.Name); !have {
			ent.AddField(f)
			// People's customer and lead share their custom attributes.
			for _, other := range s.Entities {
				if _, have := other.Field(f.Name); !have && f.Custom {
					other.AddField(f)
				}
			}
		}
	}
	return s, nil
}

func (r *runner) close() {
	for _, c := range r.conns {
		c.Close()
	}
	r.store.Close()
}

func (r *runner) tick() { r.clk.t = r.clk.t.Add(time.Second) }

// fail records a failure of a step; field, when set, is the line of the
// body the failure is about.
func (r *runner) fail(st *plan.Step, f *Failure) {
	f.Step = st.Range
	if !f.Range.IsValid() {
		f.Range = st.Range
	}
	r.failures = append(r.failures, f)
}

// step runs one step; it returns true when the test cannot go on.
func (r *runner) step(ctx context.Context, st *plan.Step) bool {
	switch st.Op {
	case plan.StepGiven, plan.StepUpdate:
		r.tick()
		return r.write(ctx, st)
	case plan.StepDelete:
		r.tick()
		return r.delete(ctx, st)
	case plan.StepRun:
		r.tick()
		return r.run(ctx, st)
	case plan.StepExpect:
		r.expectRecord(ctx, st)
	case plan.StepExpectCount:
		r.expectCount(ctx, st)
	case plan.StepExpectReport:
		r.expectReport(st)
	case plan.StepExpectRejected:
		r.expectRejected(st)
	case plan.StepExpectConflict:
		r.expectConflict(ctx, st)
	}
	return false
}

func recordKey(conn, entity, name string) string { return conn + "." + entity + " " + name }

func (r *runner) write(ctx context.Context, st *plan.Step) bool {
	fields := map[string]any{}
	for _, f := range st.Fields {
		v, err := r.value(ctx, f)
		if err != nil {
			r.fail(st, &Failure{Range: f.Range, Record: st.Record, Field: f.Name, Message: err.Error()})
			return true
		}
		fields[f.Name] = v
	}
	rec := connector.Record{Fields: fields}
	k := recordKey(st.Connection, st.Entity, st.Record)
	if st.Op == plan.StepUpdate {
		key, ok := r.key(ctx, st.Connection, st.Entity, st.Record)
		if !ok {
			r.fail(st, r.missing(st))
			return true
		}
		rec.Key = key
	}
	res, err := r.conns[st.Connection].Upsert(ctx, connector.UpsertRequest{Entity: st.Entity, Records: []connector.Record{rec}})
	if err == nil && len(res.Results) == 1 && res.Results[0].Effect == connector.Failed {
		err = res.Results[0].Err
	}
	if err != nil {
		r.fail(st, &Failure{Record: st.Record, Entity: st.Connection + "." + st.Entity,
			Message: fmt.Sprintf("%s %s.%s %s: the stand-in refused it: %v", st.Op, st.Connection, st.Entity, st.Record, err)})
		return true
	}
	if st.Op == plan.StepGiven {
		r.keys[k] = res.Results[0].Key
	}
	return false
}

// missing is the failure of a step about a record the name does not
// resolve to on the step's entity.
func (r *runner) missing(st *plan.Step) *Failure {
	label := st.Connection + "." + st.Entity
	return &Failure{Record: st.Record, Entity: label,
		Message: fmt.Sprintf("%s has no record %s: it was not given there, and no sync of the test linked one to it", label, st.Record)}
}

func (r *runner) delete(ctx context.Context, st *plan.Step) bool {
	key, ok := r.key(ctx, st.Connection, st.Entity, st.Record)
	if !ok {
		r.fail(st, r.missing(st))
		return true
	}
	res, err := r.conns[st.Connection].Delete(ctx, connector.DeleteRequest{Entity: st.Entity, Keys: []string{key}})
	if err == nil && len(res.Results) == 1 && res.Results[0].Effect == connector.Failed {
		err = res.Results[0].Err
	}
	if err != nil {
		r.fail(st, &Failure{Record: st.Record, Message: fmt.Sprintf("delete %s.%s %s: %v", st.Connection, st.Entity, st.Record, err)})
		return true
	}
	return false
}

// run links the pairs given under one name on both sides of a sync (as if
// an earlier run had paired them), then runs one pass of the test's
// syncs.
func (r *runner) run(ctx context.Context, st *plan.Step) bool {
	if err := r.linkGiven(ctx); err != nil {
		r.fail(st, &Failure{Message: err.Error()})
		return true
	}
	conns := map[string]connector.Connector{}
	for n, c := range r.conns {
		conns[n] = c
	}
	rep, err := engine.Run(ctx, r.plan, engine.Env{Connectors: conns, Store: r.store, Now: r.clk.now}, engine.Options{})
	if rep != nil {
		r.report = rep
		for _, s := range rep.Syncs {
			r.runID[s.Sync] = s.RunID
		}
	}
	if err != nil {
		r.fail(st, &Failure{Message: "the run failed: " + err.Error()})
		return true
	}
	return false
}

// linkGiven puts into the store the pairs given under one name on the two
// sides of a sync, with the link field set as the run that paired them
// would have written it, and no hashes: a pair paired but not synced yet,
// which the next run reconciles field by field under the conflict policy.
func (r *runner) linkGiven(ctx context.Context) error {
	for _, s := range r.plan.Syncs {
		for k, lkey := range r.keys {
			conn, entity, name := splitKey(k)
			if conn != s.Left.Connection || entity != s.Left.Entity {
				continue
			}
			rkey, ok := r.keys[recordKey(s.Right.Connection, s.Right.Entity, name)]
			if !ok || r.linked[s.Name+" "+name] {
				continue
			}
			r.linked[s.Name+" "+name] = true
			if s.Link != nil {
				owner, other := s.Side(s.Link.Owner), s.Side(s.Link.Owner.Other())
				ownerKey, otherKey := lkey, rkey
				if s.Link.Owner == plan.Right {
					ownerKey, otherKey = rkey, lkey
				}
				res, err := r.conns[other.Connection].Upsert(ctx, connector.UpsertRequest{Entity: other.Entity,
					Records: []connector.Record{{Key: otherKey, Fields: map[string]any{s.Link.Field(s.Link.Owner.Other()): ownerKey}}}})
				if err == nil && res.Results[0].Effect == connector.Failed {
					err = res.Results[0].Err
				}
				if err != nil {
					return fmt.Errorf("linking %s on %s.%s and %s.%s: %v", name, owner.Connection, owner.Entity, other.Connection, other.Entity, err)
				}
			}
			lease, err := r.store.Acquire(ctx, s.Name, time.Minute)
			if err != nil {
				return err
			}
			err = r.store.Apply(ctx, lease, &state.Changes{Sync: s.Name, PutLinks: []state.Link{{Left: lkey, Right: rkey, SyncedAt: r.clk.now()}}})
			r.store.Release(ctx, lease)
			if err != nil {
				return fmt.Errorf("linking %s: %v", name, err)
			}
		}
	}
	return nil
}

func splitKey(k string) (conn, entity, name string) {
	var ce string
	fmt.Sscanf(k, "%s %s", &ce, &name)
	for i := 0; i < len(ce); i++ {
		if ce[i] == '.' {
			return ce[:i], ce[i+1:], name
		}
	}
	return ce, "", name
}
