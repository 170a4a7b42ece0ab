package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/cluster"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

var serveCmd = &command{
	name:     "serve",
	summary:  "keep every sync running at its `every` interval, with /metrics and /healthz",
	run:      runServeCmd,
	graceful: true,
}

const serveDoc = `Keep every sync (or --sync NAME) of the project running: each sync runs a
pass (as ` + "`synclang run`" + ` does), then the next one when its ` + "`every`" + ` interval
(default 1m) has passed since the last began. Syncs run side by side, sharing
one connector per connection, so each service is paced to its limits across
them. A pass that fails is logged and tried again at the next interval. A
pass that runs longer than --pass-timeout (default 6h) is stopped: it
fails, releases its lock, and the next interval tries again from the last
committed batch.

SIGINT or SIGTERM finishes the batches in flight, then exits 0; a second one
aborts at once (exit 1). Either way the next start continues from the last
committed batch.

HTTP on --listen: /metrics (Prometheus: passes, records, durations, links,
requests per connection) and /healthz (200 with each sync's last pass as
JSON while serving, 503 while stopping; a failing sync does not make the
process unhealthy, since restarting it would not fix a remote service).
Logs go to stderr: text on a terminal, JSON lines otherwise, with record keys
but never record values or credentials.

With --queue postgres://... (the state there too, unless --state names
another PostgreSQL database), each PATH is a
project directory and the replicas given the same queue share the projects
through River: a project is held by one replica at a time (so one account's
rate limit is never spent twice), for at most half of --lease, and a killed
replica's projects run elsewhere within --lease + 36s (SPEC.md, "serve on
several replicas").`

// defaultListen serves metrics on loopback only; containers pass
// --listen :9464.
const defaultListen = "127.0.0.1:9464"

// defaultEvery is a sync's interval when it sets no `every`.
const defaultEvery = time.Minute

// defaultPassTimeout is the time budget of one pass. Requests have their
// own deadlines and retry budgets (SPEC.md, "Connections at run time");
// this is the backstop that keeps a pass stuck anywhere else from holding
// its lock forever. It is long enough for a first load of a large table
// at the services' rate limits, and short enough that a stuck pass clears
// the same day.
const defaultPassTimeout = 6 * time.Hour

// serveOptions are the flags of `synclang serve` (and `run --watch`).
type serveOptions struct {
	runFlags
	listen      string
	passTimeout time.Duration // 0: defaultPassTimeout
	paths       []string
	cmd         string
	clusterOptions
}

func runServeCmd(ctx context.Context, s *Stdio, args []string) int {
	o := serveOptions{cmd: "serve"}
	fs := newFlags(s, "serve", "[flags] [PATHS]", serveDoc)
	o.register(fs, "info")
	fs.StringVar(&o.listen, "listen", defaultListen, "address of /metrics and /healthz (\"\" for none; :9464 for every interface)")
	fs.DurationVar(&o.passTimeout, "pass-timeout", defaultPassTimeout, "stop a pass that runs longer than this (it fails, releases its lock, and the next interval tries again)")
	fs.StringVar(&o.queue, "queue", "", "share the projects (each PATH a project directory) with the other replicas through River in this PostgreSQL database (the projects' state too, one schema each, unless --state gives another postgres:// URL)")
	fs.DurationVar(&o.lease, "lease", cluster.DefaultLease, "with --queue: how long a replica holds a project before handing it back, and the bound on taking over a dead replica's (see SPEC.md)")
	fs.IntVar(&o.workers, "workers", cluster.DefaultWorkers, "with --queue: how many projects this replica holds at once")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if o.passTimeout <= 0 {
		fmt.Fprintf(s.Err, "synclang serve: --pass-timeout must be positive, not %s\n", o.passTimeout)
		return exitUsage
	}
	o.paths = fs.Args()
	if o.queueURL() != "" {
		if o.lease < 2*time.Second || o.workers <= 0 {
			fmt.Fprintf(s.Err, "synclang serve: --lease must be at least 2s and --workers positive (not %s and %d)\n", o.lease, o.workers)
			return exitUsage
		}
		return runServeCluster(ctx, s, o)
	}
	return runServe(ctx, s, o)
}

func runServe(ctx context.Context, s *Stdio, o serveOptions) int {
	ss, code := openSession(ctx, s, o.cmd, sessionOptions{flags: o.runFlags, paths: o.paths})
	if code != exitOK {
		return code
	}
	defer ss.close()
	log := ss.log
	m := newMetrics(ss)
	health := &healthState{syncs: map[string]*syncHealth{}}
	for _, sy := range ss.syncs {
		health.syncs[sy.Name] = &syncHealth{Every: fmtDuration(every(sy))}
	}
	ctx, stop, release := graceful(ctx, s, func() {
		health.setStopping()
		log.Info("stopping: finishing the batches in flight (interrupt again to abort)")
	})
	defer release()

	var srv *http.Server
	srvDone := make(chan error, 1)
	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			fmt.Fprintf(s.Err, "synclang %s: cannot listen on %s: %v (choose another --listen, or \"\" for no HTTP)\n", o.cmd, o.listen, err)
			return exitError
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
		mux.Handle("/healthz", health)
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { srvDone <- srv.Serve(ln) }()
		log.Info("serving metrics", "addr", "http://"+ln.Addr().String(), "paths", "/metrics /healthz")
	}
	log.Info("serving syncs", "syncs", syncNames(&plan.Plan{Syncs: ss.syncs}), "state", stateName(ss.statePath))

	var wg sync.WaitGroup
	for _, sy := range ss.syncs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.loop(ctx, stop, sy, m, health, cmp.Or(o.passTimeout, defaultPassTimeout))
		}()
	}
	loopsDone := make(chan struct{})
	go func() { wg.Wait(); close(loopsDone) }()
	select {
	case <-loopsDone:
	case err := <-srvDone:
		// The listener failed: the syncs go on without metrics.
		log.Error("the metrics server stopped; the syncs go on without /metrics and /healthz", "error", err)
		srv = nil
		<-loopsDone
	}
	health.setStopping()
	if srv != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}
	if ctx.Err() != nil {
		log.Warn("stopped at once by a second interrupt; the next start continues from the last committed batch")
		return exitError
	}
	log.Info("stopped")
	return exitOK
}

// every is a sync's interval.
func every(sy *plan.Sync) time.Duration {
	if sy.Every > 0 {
		return time.Duration(sy.Every)
	}
	return defaultEvery
}

// loop runs one sync's passes until stop or ctx ends.
// Each pass runs under budget (see runPass).
func (ss *session) loop(ctx context.Context, stop <-chan struct{}, sy *plan.Sync, m *metrics, h *healthState, budget time.Duration) {
	log := ss.log.With("sync", sy.Name)
	for {
		start := time.Now()
		m.running.WithLabelValues(sy.Name).Set(1)
		env := ss.env()
		env.Stop = stop
		rep, err := runPass(ctx, ss.plan, env, sy.Name, budget)
		m.running.WithLabelValues(sy.Name).Set(0)
		status := m.observe(ctx, sy.Name, rep, err, time.Since(start))
		h.record(sy.Name, status, rep, err, ss.plan, ss.s.Now(), ss.s.Secrets)
		if stopped := ss.logPass(ctx, log, rep, err); stopped {
			log.Info("pass stopped before it finished; the next start continues from the last committed batch")
			return
		}
		wait := time.Until(start.Add(every(sy)))
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// logPass logs a pass's outcome, except a stop, which it reports
// (stopped) for the caller to say what happens next.
func (ss *session) logPass(ctx context.Context, log *slog.Logger, rep *engine.Report, err error) (stopped bool) {
	switch {
	case err == nil:
		log.Info("pass finished", passAttrs(rep)...)
	case errors.Is(err, engine.ErrStopped) || ctx.Err() != nil:
		return true
	default:
		var locked *state.LockedError
		msg := "pass failed; trying again at the next interval"
		for _, f := range failures(rep, err) {
			if errors.As(err, &locked) {
				log.Warn(msg, "error", describe(ss.plan, f))
			} else {
				log.Error(msg, "error", describe(ss.plan, f))
			}
		}
	}
	return false
}

// errPassTimeout is the cause of a pass's context when its time budget
// ends.
var errPassTimeout = errors.New("pass time budget exceeded")

// runPass runs one pass of a sync under its time budget. A pass that runs
// out of it is stopped like an interrupted one (nothing committed after
// the last batch, the lock released) and fails with an error that says
// so.
func runPass(ctx context.Context, p *plan.Plan, env engine.Env, sync string, budget time.Duration) (*engine.Report, error) {
	pctx, cancel := context.WithTimeoutCause(ctx, budget, errPassTimeout)
	defer cancel()
	rep, err := engine.Run(pctx, p, env, engine.Options{Sync: sync})
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(pctx), errPassTimeout) {
		err = fmt.Errorf("the pass ran longer than its time budget of %s (--pass-timeout) and was stopped; the next interval tries again from the last committed batch", budget)
		// Failures are read per sync from the report (failures).
		if rep != nil {
			for _, sr := range rep.Syncs {
				if sr.Err != nil {
					sr.Err = err
				}
			}
		}
	}
	return rep, err
}

// passAttrs are a pass's totals as log attributes (counts only).
func passAttrs(rep *engine.Report) []any {
	var read, created, updated, linked, deleted, rejected int
	for _, sr := range rep.Syncs {
		for _, f := range sr.Flows {
			read += f.Read
			created += f.Created
			updated += f.Updated + f.WrittenBack
			linked += f.Linked
			deleted += f.Deleted
			rejected += f.Rejected
		}
	}
	return []any{"read", read, "created", created, "updated", updated, "linked", linked, "deleted", deleted,
		"rejected", rejected, "duration", rep.Duration.Round(time.Millisecond)}
}

// ---- metrics ----

// metrics are serve's Prometheus metrics of one project, in a registry
// that may hold several projects' (serve --queue), told apart by a
// project label.
type metrics struct {
	ss          *session
	reg         *prometheus.Registry
	passes      *prometheus.CounterVec
	records     *prometheus.CounterVec
	duration    prometheus.ObserverVec
	lastPass    *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	links       *prometheus.GaugeVec
	running     *prometheus.GaugeVec
	interval    *prometheus.GaugeVec
}

// metricSet is the registry and the metric vectors of every project a
// serve process runs.
type metricSet struct {
	reg         *prometheus.Registry
	perProject  bool
	passes      *prometheus.CounterVec
	records     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastPass    *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	links       *prometheus.GaugeVec
	running     *prometheus.GaugeVec
	interval    *prometheus.GaugeVec
}

// newMetricSet builds the registry; perProject adds a project label to
// every per-sync and per-connection metric (serve over several projects).
func newMetricSet(perProject bool) *metricSet {
	labels := func(names ...string) []string {
		if perProject {
			return append([]string{"project"}, names...)
		}
		return names
	}
	m := &metricSet{reg: prometheus.NewRegistry(), perProject: perProject}
	m.passes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synclang_passes_total",
		Help: "Passes run, by sync and outcome: ok, rejects (finished with rejected records), failed, stopped."}, labels("sync", "outcome"))
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synclang_records_total",
		Help: "Records handled, by sync, direction (flow) and what happened to them: read, skipped, created, updated, unchanged, linked, linked_by_match, written_back, deleted, unlinked, rejected, conflicts."},
		labels("sync", "flow", "outcome"))
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "synclang_pass_duration_seconds",
		Help: "Duration of passes, by sync.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, labels("sync"))
	m.lastPass = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synclang_last_pass_timestamp_seconds",
		Help: "When the last pass of a sync ended (Unix time)."}, labels("sync"))
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synclang_last_success_timestamp_seconds",
		Help: "When the last pass of a sync that finished ended (Unix time); alert when it falls behind."}, labels("sync"))
	m.links = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synclang_links",
		Help: "Linked pairs a sync keeps in its state."}, labels("sync"))
	m.running = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synclang_pass_running",
		Help: "1 while a pass of the sync runs."}, labels("sync"))
	m.interval = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synclang_sync_interval_seconds",
		Help: "A sync's every interval; alert when time() - synclang_last_success_timestamp_seconds passes a multiple of it."}, labels("sync"))
	m.reg.MustRegister(m.passes, m.records, m.duration, m.lastPass, m.lastSuccess, m.links, m.running, m.interval,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// newMetrics is the metrics of a one-project serve.
func newMetrics(ss *session) *metrics { return newMetricSet(false).attach(ss, "") }

// attach returns the metrics of one project's session (project "" when
// the set has no project label) and registers its connections' request
// counters.
func (set *metricSet) attach(ss *session, project string) *metrics {
	m := &metrics{ss: ss, reg: set.reg, passes: set.passes, records: set.records, duration: set.duration,
		lastPass: set.lastPass, lastSuccess: set.lastSuccess, links: set.links, running: set.running, interval: set.interval}
	if set.perProject {
		l := prometheus.Labels{"project": project}
		m.passes, m.records, m.duration = set.passes.MustCurryWith(l), set.records.MustCurryWith(l), set.duration.MustCurryWith(l)
		m.lastPass, m.lastSuccess = set.lastPass.MustCurryWith(l), set.lastSuccess.MustCurryWith(l)
		m.links, m.running, m.interval = set.links.MustCurryWith(l), set.running.MustCurryWith(l), set.interval.MustCurryWith(l)
	}
	for name, c := range ss.conns {
		met, ok := c.(connector.Metered)
		if !ok {
			continue
		}
		kind := ""
		if pc, ok := ss.plan.Connection(name); ok {
			kind = pc.Kind
		}
		labels := prometheus.Labels{"connection": name, "kind": kind}
		if set.perProject {
			labels["project"] = project
		}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synclang_requests_total", ConstLabels: labels,
				Help: "HTTP requests a connection sent (retries included)."}, func() float64 { return float64(met.Stats().Requests) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synclang_request_retries_total", ConstLabels: labels,
				Help: "Requests a connection sent again after a 429, a 5xx or a network error."}, func() float64 { return float64(met.Stats().Retries) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synclang_throttled_total", ConstLabels: labels,
				Help: "429 (too many requests) answers a connection received."}, func() float64 { return float64(met.Stats().Throttled) }),
		)
	}
	for _, sy := range ss.syncs {
		for _, o := range []string{"ok", "rejects", "failed", "stopped"} {
			m.passes.WithLabelValues(sy.Name, o)
		}
		m.running.WithLabelValues(sy.Name).Set(0)
		m.interval.WithLabelValues(sy.Name).Set(every(sy).Seconds())
	}
	return m
}

// observe records a pass and returns its outcome.
func (m *metrics) observe(ctx context.Context, sync string, rep *engine.Report, err error, d time.Duration) string {
	outcome := "ok"
	switch {
	case errors.Is(err, engine.ErrStopped) || (err != nil && ctx.Err() != nil):
		outcome = "stopped"
	case err != nil:
		outcome = "failed"
	case rep.Rejected() > 0:
		outcome = "rejects"
	}
	m.passes.WithLabelValues(sync, outcome).Inc()
	m.duration.WithLabelValues(sync).Observe(d.Seconds())
	now := float64(m.ss.s.Now().UnixNano()) / 1e9
	m.lastPass.WithLabelValues(sync).Set(now)
	if err == nil {
		m.lastSuccess.WithLabelValues(sync).Set(now)
	}
	if rep != nil {
		for _, sr := range rep.Syncs {
			for _, f := range sr.Flows {
				for outcome, n := range map[string]int{"read": f.Read, "skipped": f.Skipped, "created": f.Created, "updated": f.Updated,
					"unchanged": f.Unchanged, "linked": f.Linked, "linked_by_match": f.LinkedByMatch, "written_back": f.WrittenBack,
					"deleted": f.Deleted, "unlinked": f.Unlinked, "rejected": f.Rejected, "conflicts": f.Conflicts} {
					m.records.WithLabelValues(sync, f.Flow, outcome).Add(float64(n))
				}
			}
		}
	}
	if ctx.Err() == nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if n, err := m.ss.store.LinkCount(lctx, sync); err == nil {
			m.links.WithLabelValues(sync).Set(float64(n))
		}
	}
	return outcome
}

// ---- health ----

// healthState is what /healthz reports.
type healthState struct {
	mu       sync.Mutex
	stopping bool
	syncs    map[string]*syncHealth
}

// syncHealth is one sync's last pass, as /healthz shows it.
type syncHealth struct {
	Every       string    `json:"every"`
	LastPass    time.Time `json:"lastPass,omitzero"`
	LastOutcome string    `json:"lastOutcome,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	Rejected    int       `json:"rejected"`
}

// record keeps a pass's outcome; its error is masked with secrets, since
// /healthz is served to whoever can reach --listen.
func (h *healthState) record(sync, outcome string, rep *engine.Report, err error, p *plan.Plan, now time.Time, secrets *redact.Registry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.syncs[sync]
	sh.LastPass, sh.LastOutcome, sh.LastError = now, outcome, ""
	if err != nil {
		for _, f := range failures(rep, err) {
			sh.LastError = secrets.String(describe(p, f))
		}
	} else {
		sh.LastSuccess = now
	}
	if rep != nil {
		sh.Rejected = rep.Rejected()
	}
}

func (h *healthState) setStopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

func (h *healthState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	status, code := healthStatus(h.stopping)
	body, err := json.Marshal(struct {
		Status string                 `json:"status"`
		Syncs  map[string]*syncHealth `json:"syncs"`
	}{status, h.syncs})
	h.mu.Unlock()
	writeHealth(w, code, body, err)
}

// healthStatus is /healthz's status and HTTP code: "ok" (200), or
// "stopping" (503) once a shutdown has begun, so a load balancer or an
// orchestrator stops counting on this process before it exits.
func healthStatus(stopping bool) (status string, code int) {
	if stopping {
		return "stopping", http.StatusServiceUnavailable
	}
	return "ok", http.StatusOK
}

// writeHealth answers /healthz with the JSON document body (marshalled by
// the caller, under its own lock), or 500 when marshalling failed.
func writeHealth(w http.ResponseWriter, code int, body []byte, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
