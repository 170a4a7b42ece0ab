package main

// serve_cluster.go is `synclang serve --queue postgres://... PROJECT_DIR...`:
// several projects, shared with the other replicas through River
// (runtime/cluster).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/synclang/synclang/runtime/cluster"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
)

// clusterOptions are serve's flags for running with other replicas.
type clusterOptions struct {
	queue   string
	lease   time.Duration
	workers int
}

// queueURL is the queue's database, --queue: serving several projects
// with other replicas is asked for explicitly, since `serve --state
// postgres://...` alone serves one project whose state is that database's
// (its search_path schema), as every other command reads it.
func (o serveOptions) queueURL() string { return o.queue }

// projectSchema is the PostgreSQL schema that holds project's state when
// replicas share it (serve --queue): the first schema of the state URL's
// search_path, else "synclang", then "_" and the project's name, so that
// several deployments can share one database.
func projectSchema(dsn, project string) string {
	prefix := "synclang"
	if u, err := url.Parse(dsn); err == nil {
		if sp := strings.TrimSpace(strings.Split(u.Query().Get("search_path"), ",")[0]); sp != "" {
			prefix = strings.Trim(sp, `"`)
		}
	}
	return prefix + "_" + project
}

// projectRun is one project a cluster replica serves.
type projectRun struct {
	name   string
	ss     *session
	m      *metrics
	health *healthState
}

// clusterRunner runs the projects of this replica when River hands them
// over (cluster.Runner).
type clusterRunner struct {
	projects map[string]*projectRun
	lease    time.Duration
}

func runServeCluster(ctx context.Context, s *Stdio, o serveOptions) int {
	dsn := o.queueURL()
	registerStateSecrets(s, dsn)
	if !postgres.IsDSN(dsn) {
		fmt.Fprintf(s.Err, "synclang serve: --queue must be a PostgreSQL URL (postgres://user@host:5432/db), not %q\n", postgres.Redact(dsn))
		return exitUsage
	}
	// The state is shared by the replicas, so it is in PostgreSQL: --state
	// or $SYNCLANG_STATE, else the queue's database.
	stateDSN := o.state
	if stateDSN == "" {
		stateDSN = s.Getenv(stateEnv)
	}
	if stateDSN != "" && !postgres.IsDSN(stateDSN) {
		fmt.Fprintf(s.Err, "synclang serve: the state %s is an SQLite file, and replicas share their projects' state: give --state postgres://... (each project gets a schema of its own) or leave --state and $%s out to keep the state in the queue's database\n", stateDSN, stateEnv)
		return exitUsage
	}
	if stateDSN == "" {
		stateDSN = dsn
	}
	registerStateSecrets(s, stateDSN)
	dirs := defaultPaths(o.paths)
	names, err := projectNames(dirs)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang serve: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(s.Err, s.ErrTerminal, o.logLevel, s.Secrets)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang serve: %v\n", err)
		return exitUsage
	}

	pool, err := connectPool(ctx, s, dsn, "queue")
	if err != nil {
		fmt.Fprintln(s.Err, err)
		return exitError
	}
	defer pool.Close()

	set := newMetricSet(true)
	r := &clusterRunner{projects: map[string]*projectRun{}, lease: o.lease}
	defer func() {
		for _, pr := range r.projects {
			pr.ss.close()
		}
	}()
	statePool := pool
	if stateDSN != dsn {
		if statePool, err = connectPool(ctx, s, stateDSN, "state"); err != nil {
			fmt.Fprintln(s.Err, err)
			return exitError
		}
		defer statePool.Close()
	}
	for i, dir := range dirs {
		schema := projectSchema(stateDSN, names[i])
		if len(schema) > 63 {
			fmt.Fprintf(s.Err, "synclang serve: project %s: its state schema %q is longer than PostgreSQL's 63 bytes; shorten the directory's name\n", dir, schema)
			return exitUsage
		}
		open := func(ctx context.Context) (state.Store, string, error) {
			st, err := postgres.OpenPoolSchema(ctx, statePool, schema, state.Options{Now: s.Now})
			if err != nil {
				return nil, "", err
			}
			return st, st.Name(), nil
		}
		ss, code := openSession(ctx, s, "serve", sessionOptions{flags: o.runFlags, paths: []string{dir}, openState: open})
		if code != exitOK {
			fmt.Fprintf(s.Err, "synclang serve: project %s (%s) cannot be served; nothing was started\n", names[i], dir)
			return code
		}
		ss.log = ss.log.With("project", names[i])
		pr := &projectRun{name: names[i], ss: ss, m: set.attach(ss, names[i]), health: &healthState{syncs: map[string]*syncHealth{}}}
		for _, sy := range ss.syncs {
			pr.health.syncs[sy.Name] = &syncHealth{Every: fmtDuration(every(sy))}
		}
		r.projects[names[i]] = pr
	}

	host, _ := os.Hostname()
	replica := state.Holder{Host: host, PID: os.Getpid()}
	lagHist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "synclang_queue_lag_seconds",
		Help: "How late project jobs started after they were due (queue lag).", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)})
	cl, err := cluster.Open(ctx, pool, r, names, cluster.Options{Lease: o.lease, Workers: o.workers,
		ID: fmt.Sprintf("%s/%d", host, replica.PID), Logger: log, ObserveLag: func(d time.Duration) { lagHist.Observe(d.Seconds()) }})
	if err != nil {
		fmt.Fprintf(s.Err, "synclang serve: the queue database %s: %s\n", postgres.Redact(dsn), s.Secrets.String(err.Error()))
		return exitError
	}
	registerClusterMetrics(set.reg, cl, lagHist)
	ch := &clusterHealth{replica: replica, cl: cl, projects: r.projects}

	ctx, stop, release := graceful(ctx, s, func() {
		ch.setStopping()
		log.Info("stopping: finishing the batches in flight, then handing the projects back (interrupt again to abort)")
	})
	defer release()

	var srv *http.Server
	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			fmt.Fprintf(s.Err, "synclang serve: cannot listen on %s: %v (choose another --listen, or \"\" for no HTTP)\n", o.listen, err)
			return exitError
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(set.reg, promhttp.HandlerOpts{Registry: set.reg}))
		mux.Handle("/healthz", ch)
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("the metrics server stopped; the syncs go on without /metrics and /healthz", "error", err)
			}
		}()
		log.Info("serving metrics", "addr", "http://"+ln.Addr().String(), "paths", "/metrics /healthz")
	}
	if err := cl.Start(ctx); err != nil {
		fmt.Fprintf(s.Err, "synclang serve: cannot start working the queue: %s\n", s.Secrets.String(err.Error()))
		return exitError
	}
	log.Info("serving projects with the other replicas", "projects", strings.Join(names, " "), "replica", replica.String(),
		"lease", o.lease.String(), "queue", postgres.Redact(dsn))

	aborted := false
	select {
	case <-stop:
		// SIGTERM: the passes finish their batches in flight and the
		// projects go back to the queue; a second signal cancels them.
		if err := cl.Stop(ctx); err != nil {
			aborted = true
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = cl.StopAndCancel(cctx)
			cancel()
		}
	case <-ctx.Done():
		aborted = true
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = cl.StopAndCancel(cctx)
		cancel()
	}
	ch.setStopping()
	if srv != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}
	if aborted {
		log.Warn("aborted; the projects continue from their last committed batch on the other replicas")
		return exitError
	}
	log.Info("stopped; the projects were handed back")
	return exitOK
}

// projectNames names each project by its directory's name, which every
// replica must use for the same project; two with one name are refused.
func projectNames(dirs []string) ([]string, error) {
	names := make([]string, len(dirs))
	seen := map[string]string{}
	for i, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("project %s: %v", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory: with --queue each PATH is a project directory (its .sync files, connections and variables)", d)
		}
		name := filepath.Base(abs)
		if prev, ok := seen[name]; ok {
			return nil, fmt.Errorf("projects %s and %s have the same name %q: a project is named by its directory, the same on every replica; rename one", prev, d, name)
		}
		seen[name] = d
		names[i] = name
	}
	return names, nil
}

// connectPool connects to the queue's or the state's database (what),
// failing with a message that names it without its password.
func connectPool(ctx context.Context, s *Stdio, dsn, what string) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("synclang serve: the %s database %s is not a valid PostgreSQL URL: %s", what, postgres.Redact(dsn), s.Secrets.String(err.Error()))
	}
	// River and every project's passes share the pool; pgxpool's default
	// (the CPUs, at least 4) would queue the passes of a small machine
	// behind each other. pool_max_conns in the URL still rules.
	if !strings.Contains(dsn, "pool_max_conns") && cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	var pool *pgxpool.Pool
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("synclang serve: cannot reach the %s database %s: %s (check the URL, that PostgreSQL runs and accepts this user; the password comes from the URL, PGPASSWORD or ~/.pgpass)",
			what, postgres.Redact(dsn), s.Secrets.String(err.Error()))
	}
	return pool, nil
}

// Hold runs the due syncs of a project (cluster.Runner).
func (r *clusterRunner) Hold(ctx context.Context, h *cluster.Hold) error {
	pr := r.projects[h.Project]
	if pr == nil {
		names := make([]string, 0, len(r.projects))
		for n := range r.projects {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("this replica does not serve project %q (it serves %s); give every replica the same project directories", h.Project, joinAnd(names))
	}
	ss := pr.ss
	now := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sy := range ss.syncs {
		if due, ok := h.Due[sy.Name]; ok && due.After(now) {
			continue
		}
		select {
		case <-h.Stop:
			h.Due[sy.Name] = now
			continue
		default:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			log := ss.log.With("sync", sy.Name)
			start := time.Now()
			pr.m.running.WithLabelValues(sy.Name).Set(1)
			env := ss.env()
			env.Stop = h.Stop
			rep, err := engine.Run(ctx, ss.plan, env, engine.Options{Sync: sy.Name, LockTTL: r.lease})
			pr.m.running.WithLabelValues(sy.Name).Set(0)
			status := pr.m.observe(ctx, sy.Name, rep, err, time.Since(start))
			pr.health.record(sy.Name, status, rep, err, ss.plan, ss.s.Now(), ss.s.Secrets)
			next := start.Add(every(sy))
			var locked *state.LockedError
			switch {
			case ss.logPass(ctx, log, rep, err):
				// Stopped after the batches in flight (the slice ended,
				// or SIGTERM): continue at once, here or elsewhere.
				log.Debug("pass handed back after the batches in flight; it continues from the last committed batch")
				next = time.Now()
			case errors.As(err, &locked) && locked.Expires.After(time.Now()):
				// Another replica holds the sync (a dead one's lease not
				// yet expired): try when its lease ends.
				next = locked.Expires
			}
			mu.Lock()
			h.Due[sy.Name] = next
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nil
}

// registerClusterMetrics adds the replica's queue metrics: jobs run,
// hand-backs, projects held, queue lag and River's jobs by state.
func registerClusterMetrics(reg *prometheus.Registry, cl clusterStats, lag prometheus.Histogram) {
	reg.MustRegister(lag,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synclang_jobs_total",
			Help: "Project jobs this replica ran (each a holding of a project: its due passes, at most half a lease)."},
			func() float64 { return float64(cl.Stats().Holds) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synclang_job_handbacks_total",
			Help: "Project jobs this replica handed back before their passes finished (the half lease ended, or SIGTERM)."},
			func() float64 { return float64(cl.Stats().Handbacks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "synclang_jobs_running",
			Help: "Projects this replica holds now."}, func() float64 { return float64(cl.Stats().Held) }),
		&riverCollector{cl: cl},
	)
}

// riverCollector reads River's counters at scrape time: the jobs of the
// queue by state, and River's events seen by this replica.
type riverCollector struct{ cl clusterStats }

// clusterStats is what the metrics read of a *cluster.Cluster.
type clusterStats interface {
	Stats() cluster.Stats
	Events() map[string]int64
	JobStates(ctx context.Context) (map[string]int64, error)
}

var (
	riverJobsDesc = prometheus.NewDesc("synclang_river_jobs", "River's jobs of the synclang queue, by state (all replicas).", []string{"state"}, nil)
	riverEvtDesc  = prometheus.NewDesc("synclang_river_events_total", "River job events this replica saw, by kind (job_snoozed, job_failed, job_cancelled, ...).", []string{"kind"}, nil)
)

func (c *riverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- riverJobsDesc
	ch <- riverEvtDesc
}

func (c *riverCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if states, err := c.cl.JobStates(ctx); err == nil {
		for _, st := range []string{"available", "pending", "running", "retryable", "scheduled", "completed", "cancelled", "discarded"} {
			ch <- prometheus.MustNewConstMetric(riverJobsDesc, prometheus.GaugeValue, float64(states[st]), st)
		}
	}
	for kind, n := range c.cl.Events() {
		ch <- prometheus.MustNewConstMetric(riverEvtDesc, prometheus.CounterValue, float64(n), kind)
	}
}

// clusterHealth is /healthz of a replica: its projects' syncs and what it
// holds.
type clusterHealth struct {
	replica  state.Holder
	cl       *cluster.Cluster
	projects map[string]*projectRun
	mu       sync.Mutex
	stopping bool
}

func (h *clusterHealth) setStopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

func (h *clusterHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	status, code := healthStatus(h.stopping)
	h.mu.Unlock()
	st := h.cl.Stats()
	projects := map[string]map[string]*syncHealth{}
	for name, pr := range h.projects {
		pr.health.mu.Lock()
		syncs := map[string]*syncHealth{}
		for s, sh := range pr.health.syncs {
			c := *sh
			syncs[s] = &c
		}
		pr.health.mu.Unlock()
		projects[name] = syncs
	}
	body, err := json.Marshal(struct {
		Status   string                            `json:"status"`
		Replica  state.Holder                      `json:"replica"`
		Jobs     int64                             `json:"jobs"`
		Held     int64                             `json:"held"`
		Handed   int64                             `json:"handbacks"`
		LagMax   float64                           `json:"queueLagMaxSeconds"`
		Projects map[string]map[string]*syncHealth `json:"projects"`
	}{status, h.replica, st.Holds, st.Held, st.Handbacks, st.LagMax.Seconds(), projects})
	writeHealth(w, code, body, err)
}
