package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
)

// Options select what a run measures.
type Options struct {
	// Records is the number of Dynamics contacts of the initial load (the
	// Dynamics emulator also seeds a quarter as many leads).
	Records int
	// Changes is the number of records changed on each side before the
	// incremental passes with changes.
	Changes int
	// Freshness lists the intervals at which edit-to-arrival latency and
	// idle cost are measured (see freshness.go), with FreshnessEdits edits
	// on each side.
	Freshness      []time.Duration
	FreshnessEdits int
	// Populated is the number of Dynamics contacts of the two-way initial
	// load with both sides populated (see populated.go); 0 skips it.
	Populated int
	// Limits is "real" (the services' documented limits) or "off" (tests).
	Limits string
	// Scale shrinks the emulators' rate-limit windows and raises the
	// connectors' pacing by the same factor; bounds scale with it.
	Scale float64
	// Memory lists the sizes of the peak-memory runs, each with its scale.
	Memory []memoryRun
	// Transform runs the engine's transform benchmark (go test -bench).
	Transform bool
	// Engine are the engine options of every pass (batch size, in flight).
	Engine engine.Options
	// Examples is the directory of the project to run (examples/).
	Examples string
	// Dir holds the state stores; a temporary directory when "".
	Dir string
	// Progress, when set, receives a line per step.
	Progress io.Writer
	// Logger receives the engine's and the connectors' logs.
	Logger *slog.Logger
	// StatePostgres, when set, is a PostgreSQL database (a postgres://
	// URL) to compare the initial load with the state there against the
	// state in SQLite, over StateRecords contacts.
	StatePostgres string
	StateRecords  int
	// StateRounds is how many pairs of loads (one per backend) run.
	StateRounds int
	// HeapProfile, when set, is the path prefix of heap profiles written
	// near each memory run's peak (PATH.RECORDS).
	HeapProfile string
}

// memoryRun is one peak-memory measurement: an initial load of Records
// contacts with the emulators' windows shrunk by Scale.
type memoryRun struct {
	Records int
	Scale   float64
}

// Results are every figure of one run.
type Results struct {
	Machine     Machine
	Options     Options
	Load        []*LoadResult // contacts, then leads
	Populated   *PopulatedResult
	Freshness   []*FreshnessResult
	Incremental []*PassResult
	Transform   *TransformResult
	Memory      []*MemoryResult
	State       *StateResult
	Wall        time.Duration
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs       int
	GOMAXPROCS int
	Go         string
	OS, Arch   string
	CPUModel   string
	LoadAvg    string // /proc/loadavg before the run
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(data))
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = trimFields(string(data), 3)
	}
	return m
}

// LoadResult is an initial load of one sync: its first flow (the Dynamics
// records into People) and the whole pass (in a two-way sync, the reverse
// flow reads every person back and finds each an echo).
type LoadResult struct {
	Sync    string
	Records int
	Flow    *engine.FlowReport
	Pass    *engine.SyncReport
	// Sent counts each connection's requests by endpoint during the pass;
	// FlowSent during the first flow only (from the report's per-flow
	// Stats).
	Sent map[string]map[string]int64
	// Bound is the bound the limits allow for the flow and the pass.
	Bound Bound
	// Endpoints are the requests the pass sent per endpoint, with the
	// documented rate of each endpoint's limit.
	Endpoints []EndpointCount
	// CPU is this process's CPU time during the pass (emulators included:
	// they run in this process), in seconds.
	CPU float64
}

// FlowRate and PassRate are records per second.
func (l *LoadResult) FlowRate() float64 { return rate(l.Records, l.Flow.Duration) }
func (l *LoadResult) PassRate() float64 { return rate(l.Records, l.Pass.Duration) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// PassResult is one incremental pass of every sync.
type PassResult struct {
	Name string // "no changes", "100 changes in Dynamics", ...
	// Syncs holds each sync's report.
	Syncs []*engine.SyncReport
	Sent  map[string]map[string]int64
}

// Requests returns the requests a sync sent to all connections.
func (p *PassResult) Requests(sync string) int64 {
	for _, s := range p.Syncs {
		if s.Sync == sync {
			var n int64
			for _, st := range s.Requests {
				n += st.Requests
			}
			return n
		}
	}
	return 0
}

// Run measures everything Options ask for, in one run.
func Run(ctx context.Context, o Options) (res *Results, err error) {
	start := time.Now()
	defer func() {
		if res != nil {
			res.Wall = time.Since(start)
		}
	}()
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.Limits == "" {
		o.Limits = "real"
	}
	if o.Changes < 0 {
		o.Changes = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "synclang-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	p, err := compileExamples(o.Examples)
	if err != nil {
		return nil, err
	}
	res = &Results{Machine: machine(), Options: o}
	if o.Records > 0 {
		if err := measureLoadAndPasses(ctx, o, p, res); err != nil {
			return res, err
		}
	}
	if o.Populated > 0 {
		if err := measurePopulated(ctx, o, p, res); err != nil {
			return res, err
		}
	}
	for _, every := range o.Freshness {
		fr, err := measureFreshness(ctx, o, p, every, max(o.FreshnessEdits, 1))
		if fr != nil {
			res.Freshness = append(res.Freshness, fr)
		}
		if err != nil {
			return res, fmt.Errorf("freshness at every %v: %w", every, err)
		}
	}
	if o.Transform {
		progress(o, "transform: go test -bench Transform ./runtime/engine")
		t, err := measureTransform(ctx, o.Examples)
		if err != nil {
			return res, fmt.Errorf("transform: %w", err)
		}
		res.Transform = t
	}
	if o.StatePostgres != "" {
		st, err := measureState(ctx, o, p, o.StatePostgres)
		if err != nil {
			return res, fmt.Errorf("state: %w", err)
		}
		res.State = st
	}
	for i, m := range o.Memory {
		progress(o, "memory: initial load of %d contacts (scale %g), emulators in a child process", m.Records, m.Scale)
		mr, err := measureMemory(ctx, o, p, m, fmt.Sprintf("%s/memory-%d", o.Dir, i))
		if err != nil {
			return res, fmt.Errorf("memory run of %d records: %w", m.Records, err)
		}
		res.Memory = append(res.Memory, mr)
	}
	return res, nil
}

func progress(o Options, format string, args ...any) {
	fmt.Fprintf(o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// measureLoadAndPasses runs the initial loads of both syncs against
// in-process emulators with the configured limits, then incremental passes
// without and with changes.
func measureLoadAndPasses(ctx context.Context, o Options, p *plan.Plan, res *Results) error {
	progress(o, "seeding the emulators: %d Dynamics contacts, %d leads; People empty", o.Records, o.Records/4)
	svc, err := startInProcess(serviceOptions{Contacts: o.Records, Limits: o.Limits, Scale: o.Scale})
	if err != nil {
		return err
	}
	defer svc.close()
	dir := o.Dir + "/load"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pr, err := openProject(ctx, p, svc, o.Scale, dir, o.Logger)
	if err != nil {
		return err
	}
	defer func() { pr.close() }() // the project open at the end
	pr.progress = func(format string, args ...any) { progress(o, format, args...) }

	for _, s := range p.Syncs {
		n := o.Records
		if s.Left.Entity == "lead" {
			n = o.Records / 4
		}
		progress(o, "initial load: sync %s, %d records", s.Name, n)
		cpu := cpuSeconds(0)
		rep, sent, err := pr.run(ctx, s.Name, o.Engine)
		if err != nil {
			return fmt.Errorf("initial load of %s: %w", s.Name, err)
		}
		sr := rep.Syncs[0]
		lr := &LoadResult{Sync: s.Name, Records: n, Flow: sr.Flows[0], Pass: sr, Sent: sent, CPU: cpuSeconds(0) - cpu}
		if err := checkLoad(lr); err != nil {
			return err
		}
		lr.Bound = loadBound(pr, s, n, o.Scale)
		lr.Endpoints = endpointCounts(pr, sent, o.Scale)
		res.Load = append(res.Load, lr)
		progress(o, "  %s: flow %.0f records/s, pass %.0f records/s", s.Name, lr.FlowRate(), lr.PassRate())
	}

	pass := func(name string) (*PassResult, error) {
		progress(o, "incremental pass: %s", name)
		rep, sent, err := pr.run(ctx, "", o.Engine)
		if err != nil {
			return nil, fmt.Errorf("incremental pass (%s): %w", name, err)
		}
		pr := &PassResult{Name: name, Syncs: rep.Syncs, Sent: sent}
		res.Incremental = append(res.Incremental, pr)
		return pr, nil
	}
	// The first quiet pass after a bulk load reads the load's last second
	// of People persons again (the connector's cursor keeps it open until
	// the service's clock is two seconds past it when a read begins); the
	// second shows the steady state.
	if _, err := pass(passQuietFirst); err != nil {
		return err
	}
	time.Sleep(time.Duration(float64(2*time.Second) / o.Scale))
	if _, err := pass(passQuiet); err != nil {
		return err
	}
	// A quiet pass of a new process, as `synclang run` from cron makes
	// one: new connectors with the same cache directory (the Dynamics
	// schema and the People attribute definitions cached by the first) and
	// the same state.
	pr.close()
	if pr, err = openProject(ctx, p, svc, o.Scale, dir, o.Logger); err != nil {
		return err
	}
	pr.progress = func(format string, args ...any) { progress(o, format, args...) }
	if _, err := pass(passNewProcess); err != nil {
		return err
	}
	if o.Changes == 0 {
		return nil
	}
	// Changes on the Dynamics side: a new last name on contacts spread over
	// the table.
	rows := svc.dyn.Rows("contact")
	step := max(1, len(rows)/o.Changes)
	changed := 0
	for i := 0; i < len(rows) && changed < o.Changes; i += step {
		id, _ := rows[i]["contactid"].(string)
		svc.dyn.Update("contact", id, map[string]any{"lastname": fmt.Sprintf("Changed%d", i)})
		changed++
	}
	pd, err := pass(fmt.Sprintf("%d changes in Dynamics", changed))
	if err != nil {
		return err
	}
	if got := updated(pd, "contacts", 0); got != changed {
		return fmt.Errorf("%d contacts changed in Dynamics, %d persons updated", changed, got)
	}
	// Changes on the People side: a new city on customers.
	persons := svc.ppl.Persons()
	var customers []int64
	for _, m := range persons {
		if m["type"] == "CUSTOMER" {
			if id, ok := m["id"].(float64); ok {
				customers = append(customers, int64(id))
			}
		}
	}
	step = max(1, len(customers)/o.Changes)
	changed = 0
	for i := 0; i < len(customers) && changed < o.Changes; i += step {
		if err := svc.ppl.Update(customers[i], map[string]any{"city": fmt.Sprintf("City%d", i)}); err != nil {
			return err
		}
		changed++
	}
	pp, err := pass(fmt.Sprintf("%d changes in People", changed))
	if err != nil {
		return err
	}
	if got := updated(pp, "contacts", 1); got != changed {
		return fmt.Errorf("%d customers changed in People, %d contacts updated", changed, got)
	}
	return nil
}

// Names of the passes without changes.
const (
	passQuietFirst = "no changes, right after the loads"
	passQuiet      = "no changes, steady state"
	passNewProcess = "no changes, a new process"
)

// updated returns the records flow i of sync updated.
func updated(p *PassResult, sync string, i int) int {
	for _, s := range p.Syncs {
		if s.Sync == sync && i < len(s.Flows) {
			return s.Flows[i].Updated
		}
	}
	return -1
}

// checkLoad checks an initial load created every record once and the
// reverse flow (if any) read every record back and rejected none.
func checkLoad(l *LoadResult) error {
	f := l.Flow
	if f.Read != l.Records || f.Created != l.Records || f.Rejected != 0 {
		return fmt.Errorf("initial load of %s: read %d, created %d, rejected %d of %d records (first reject: %v)",
			l.Sync, f.Read, f.Created, f.Rejected, l.Records, firstReject(f))
	}
	for _, r := range l.Pass.Flows[1:] {
		if r.Read != l.Records || r.Created != 0 || r.Rejected != 0 {
			return fmt.Errorf("initial load of %s, flow %s: read %d of %d, created %d, rejected %d (first reject: %v)",
				l.Sync, r.Flow, r.Read, l.Records, r.Created, r.Rejected, firstReject(r))
		}
	}
	return nil
}

// writtenBack returns the records the flows after the first wrote during
// an initial load (none, if every value People stores equals the value
// written).
func (l *LoadResult) writtenBack() int {
	n := 0
	for _, r := range l.Pass.Flows[1:] {
		n += r.Updated + r.WrittenBack
	}
	return n
}

func firstReject(f *engine.FlowReport) any {
	if len(f.Rejects) == 0 {
		return nil
	}
	return f.Rejects[0]
}

// statsTotal sums connector stats.
func statsTotal(m map[string]connector.Stats) connector.Stats {
	var t connector.Stats
	for _, s := range m {
		t.Requests += s.Requests
		t.Retries += s.Retries
		t.Throttled += s.Throttled
	}
	return t
}
