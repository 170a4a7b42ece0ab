package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// JobKind is the River job kind of a project.
const JobKind = "synclang_project"

// Queue is the River queue the project jobs live in.
const Queue = "synclang"

// DefaultLease is the lease of [Options.Lease] when it is zero.
const DefaultLease = time.Minute

// DefaultWorkers is the number of projects one replica holds at once
// when [Options.Workers] is zero.
const DefaultWorkers = 100

// ProjectArgs are a project job's arguments: the project's name, the same
// on every replica that serves it.
type ProjectArgs struct {
	Project string `json:"project"`
}

// Kind implements river.JobArgs.
func (ProjectArgs) Kind() string { return JobKind }

// InsertOpts makes the job unique by project in every state a job can be
// in before it is finalized (a snoozed job is scheduled), so each project
// has one job whichever replicas insert it.
func (ProjectArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: Queue,
		// A job that never completes: it snoozes for ever, and a rescue
		// counts an attempt.
		MaxAttempts: 1 << 30,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
				rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled},
		},
	}
}

// Runner runs the syncs of the projects this replica serves.
type Runner interface {
	// Hold runs a pass of every sync of h.Project whose time has come
	// (h.Due, absent meaning now), side by side, and sets each one's next
	// due time in h.Due: its start plus its interval when it ran, now
	// when it stopped before it finished. When h.Stop closes, the passes
	// finish the batches in flight and Hold returns. Cancelling ctx
	// abandons the passes (River's timeout, or StopAndCancel). An error
	// means the project cannot run here (this replica does not serve it);
	// it is tried again a lease later.
	Hold(ctx context.Context, h *Hold) error
}

// Hold is one holding of a project by a replica.
type Hold struct {
	Project string
	// Due is when each sync's next pass is due, kept in the queue's
	// database (table synclang_schedule) between holdings, whichever
	// replica holds the project.
	Due map[string]time.Time
	// Stop closes when the replica must hand the project back: half a
	// lease passed, or the replica is stopping.
	Stop <-chan struct{}
}

// Options configure a [Cluster].
type Options struct {
	// Lease is the time a replica holds a project before handing it back
	// to the queue (half of it), River's job timeout and rescue threshold,
	// and the state lease of the passes (default 1 minute).
	Lease time.Duration
	// Workers is how many projects this replica holds at once (default
	// 100).
	Workers int
	// Schema is the PostgreSQL schema of River's tables ("" for the
	// search_path).
	Schema string
	// ID identifies this replica in River (its client ID: unique per
	// process), e.g. "host/pid".
	ID string
	// Logger receives River's warnings and the cluster's own lines.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ObserveLag, when set, is called with each job's queue lag: how
	// long after its due time it started here.
	ObserveLag func(time.Duration)
}

// Stats are what a replica did through the cluster, for /metrics.
type Stats struct {
	// Holds counts the project jobs this replica ran; Handbacks those
	// stopped before their passes finished (a slice ended, or Stop).
	Holds, Handbacks int64
	// Held is the number of projects held now.
	Held int64
	// LagSeconds is the sum, and LagCount the number, of the delays
	// between a job's due time and its start here (queue lag); LagMax is
	// the largest of the last minute's.
	LagSeconds float64
	LagCount   int64
	LagMax     time.Duration
}

// Cluster is one replica's share of the projects.
type Cluster struct {
	client   *river.Client[pgx.Tx]
	pool     *pgxpool.Pool
	opts     Options
	projects []string
	runner   Runner
	log      *slog.Logger

	stopping  chan struct{}
	stopOnce  sync.Once
	ensureEnd chan struct{}
	ensureWG  sync.WaitGroup

	holds, handbacks, held atomic.Int64
	mu                     sync.Mutex
	lagSum                 float64
	lagCount               int64
	lagMax                 time.Duration
	lagMaxAt               time.Time
	events                 map[string]int64
	unsubscribe            func()
}

// Migrate applies River's migrations to the database of pool (in
// opts.Schema), so a new database is ready; it is what Open runs first.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, log *slog.Logger) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema, Logger: log})
	if err != nil {
		return err
	}
	// Replicas start together: one at a time migrates, under a session
	// advisory lock held on a connection of its own (River's migrations
	// run one transaction each), and the others find it done.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating the queue database: %w", err)
	}
	defer conn.Release()
	const key = "SELECT hashtext('synclang migrate ' || $1)"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(("+key+"))", schema); err != nil {
		return fmt.Errorf("migrating the queue database: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(("+key+"))", schema) }()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("applying River's migrations to the queue database: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table(schema, scheduleTable)+` (
		project text NOT NULL,
		sync text NOT NULL,
		due timestamptz NOT NULL,
		PRIMARY KEY (project, sync))`); err != nil {
		return fmt.Errorf("creating the schedule table in the queue database: %w", err)
	}
	return nil
}

// scheduleTable holds each sync's next due time, so that whichever
// replica holds a project next keeps its syncs' intervals.
const scheduleTable = "synclang_schedule"

// table is name in schema ("" for the search_path), quoted.
func table(schema, name string) string {
	if schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// loadDue reads a project's due times.
func (c *Cluster) loadDue(ctx context.Context, project string) (map[string]time.Time, error) {
	rows, err := c.pool.Query(ctx, "SELECT sync, due FROM "+table(c.opts.Schema, scheduleTable)+" WHERE project = $1", project)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	due := map[string]time.Time{}
	for rows.Next() {
		var sync string
		var t time.Time
		if err := rows.Scan(&sync, &t); err != nil {
			return nil, err
		}
		due[sync] = t
	}
	return due, rows.Err()
}

// saveDue writes the due times that changed.
func (c *Cluster) saveDue(ctx context.Context, project string, before, after map[string]time.Time) error {
	b := &pgx.Batch{}
	for sync, t := range after {
		if old, ok := before[sync]; ok && old.Equal(t) {
			continue
		}
		b.Queue("INSERT INTO "+table(c.opts.Schema, scheduleTable)+" (project, sync, due) VALUES ($1, $2, $3) ON CONFLICT (project, sync) DO UPDATE SET due = excluded.due",
			project, sync, t)
	}
	if b.Len() == 0 {
		return nil
	}
	return c.pool.SendBatch(ctx, b).Close()
}

// Open prepares a replica: it applies River's migrations and builds the
// River client that works the jobs of projects (the names of the projects
// this replica serves) with runner. Nothing runs before Start.
func Open(ctx context.Context, pool *pgxpool.Pool, runner Runner, projects []string, opts Options) (*Cluster, error) {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(projects) == 0 {
		return nil, errors.New("cluster: no project to serve")
	}
	if err := Migrate(ctx, pool, opts.Schema, opts.Logger); err != nil {
		return nil, err
	}
	c := &Cluster{pool: pool, opts: opts, projects: slices.Clone(projects), runner: runner,
		log: opts.Logger, stopping: make(chan struct{}), ensureEnd: make(chan struct{})}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &projectWorker{c: c}); err != nil {
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:      opts.ID,
		Queues:  map[string]river.QueueConfig{Queue: {MaxWorkers: opts.Workers}},
		Workers: workers,
		Schema:  opts.Schema,
		Logger:  opts.Logger,
		// The rescue of a dead replica's jobs: see the package doc.
		JobTimeout:           opts.Lease,
		RescueStuckJobsAfter: opts.Lease,
		// Only this kind is ours; other kinds in the same database are
		// left to their own workers.
		FetchOnlyKnownKinds: true,
	})
	if err != nil {
		return nil, err
	}
	c.client = client
	return c, nil
}

// Start inserts the jobs of this replica's projects (a no-op for those
// that exist) and starts working them; it re-inserts them every lease.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	events, unsubscribe := c.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobSnoozed, river.EventKindJobCancelled)
	c.unsubscribe = unsubscribe
	go func() {
		for e := range events {
			c.mu.Lock()
			if c.events == nil {
				c.events = map[string]int64{}
			}
			c.events[string(e.Kind)]++
			c.mu.Unlock()
		}
	}()
	if err := c.client.Start(ctx); err != nil {
		return err
	}
	c.ensureWG.Add(1)
	go func() {
		defer c.ensureWG.Done()
		t := time.NewTicker(c.opts.Lease)
		defer t.Stop()
		for {
			select {
			case <-c.ensureEnd:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.ensure(ctx); err != nil && ctx.Err() == nil {
					c.log.Warn("could not re-insert the project jobs", "error", err)
				}
			}
		}
	}()
	return nil
}

// ensure inserts a job per project; River skips those that exist.
func (c *Cluster) ensure(ctx context.Context) error {
	params := make([]river.InsertManyParams, len(c.projects))
	for i, p := range c.projects {
		params[i] = river.InsertManyParams{Args: ProjectArgs{Project: p}}
	}
	// Unique inserts, in batches so one statement stays small.
	for len(params) > 0 {
		n := min(len(params), 500)
		if _, err := c.client.InsertMany(ctx, params[:n]); err != nil {
			return fmt.Errorf("inserting the project jobs: %w", err)
		}
		params = params[n:]
	}
	return nil
}

// Stop hands every held project back after the batches in flight and
// stops River; it returns when the jobs running have returned or ctx
// ends.
func (c *Cluster) Stop(ctx context.Context) error {
	c.beginStop()
	err := c.client.Stop(ctx)
	if err == nil {
		c.endEvents()
	}
	return err
}

func (c *Cluster) endEvents() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unsubscribe != nil {
		c.unsubscribe()
		c.unsubscribe = nil
	}
}

// StopAndCancel stops River and cancels the passes running (River's
// Client.StopAndCancel).
func (c *Cluster) StopAndCancel(ctx context.Context) error {
	c.beginStop()
	err := c.client.StopAndCancel(ctx)
	c.endEvents()
	return err
}

func (c *Cluster) beginStop() {
	c.stopOnce.Do(func() {
		close(c.stopping)
		close(c.ensureEnd)
	})
	c.ensureWG.Wait()
}

// Stats returns what this replica did so far.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{Holds: c.holds.Load(), Handbacks: c.handbacks.Load(), Held: c.held.Load(),
		LagSeconds: c.lagSum, LagCount: c.lagCount}
	if c.opts.Now().Sub(c.lagMaxAt) < time.Minute {
		st.LagMax = c.lagMax
	}
	return st
}

// Events counts the River job events of this replica by kind
// (job_snoozed, job_failed, job_cancelled, job_completed).
func (c *Cluster) Events() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.events)
}

// JobStates counts River's jobs of this queue by state (available,
// running, scheduled, retryable, ...), for /metrics.
func (c *Cluster) JobStates(ctx context.Context) (map[string]int64, error) {
	rows, err := c.pool.Query(ctx, "SELECT state::text, count(*) FROM "+table(c.opts.Schema, "river_job")+" WHERE queue = $1 GROUP BY state", Queue)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

func (c *Cluster) observeLag(d time.Duration) {
	d = max(d, 0)
	if c.opts.ObserveLag != nil {
		c.opts.ObserveLag(d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lagSum += d.Seconds()
	c.lagCount++
	now := c.opts.Now()
	if d >= c.lagMax || now.Sub(c.lagMaxAt) >= time.Minute {
		c.lagMax, c.lagMaxAt = d, now
	}
}

// projectWorker works the project jobs.
type projectWorker struct {
	river.WorkerDefaults[ProjectArgs]
	c *Cluster
}

// Timeout is the lease: River cancels a job running longer, and its
// rescuer returns the job of a dead replica to the queue only after it
// (see the package doc).
func (w *projectWorker) Timeout(*river.Job[ProjectArgs]) time.Duration { return w.c.opts.Lease }

// NextRetry makes a rescued job available at once: its replica is gone.
func (w *projectWorker) NextRetry(*river.Job[ProjectArgs]) time.Time { return w.c.opts.Now() }

// Work holds the project for at most half a lease, then snoozes the job
// until the project's next pass is due. It never fails the job: a pass
// that fails is the runner's to report, and the project is tried again at
// its next interval.
func (w *projectWorker) Work(ctx context.Context, job *river.Job[ProjectArgs]) error {
	c := w.c
	start := c.opts.Now()
	c.observeLag(start.Sub(job.ScheduledAt))
	c.holds.Add(1)
	c.held.Add(1)
	defer c.held.Add(-1)

	stop := make(chan struct{})
	slice := time.AfterFunc(c.opts.Lease/2, func() { close(stop) })
	go func() {
		select {
		case <-c.stopping:
			if slice.Stop() {
				close(stop)
			}
		case <-stop:
		case <-ctx.Done():
		}
	}()
	defer func() {
		if slice.Stop() {
			close(stop)
		}
	}()
	select {
	case <-c.stopping:
		// Fetched while stopping: hand it back untouched.
		c.handbacks.Add(1)
		return river.JobSnooze(0)
	default:
	}
	due, err := c.loadDue(ctx, job.Args.Project)
	if err != nil {
		// The queue's database failed: try again soon.
		c.log.Warn("cannot read the project's schedule", "project", job.Args.Project, "error", err)
		return river.JobSnooze(time.Second)
	}
	h := &Hold{Project: job.Args.Project, Due: maps.Clone(due), Stop: stop}
	if err := c.runner.Hold(ctx, h); err != nil {
		c.log.Warn("cannot hold the project here; it is tried again a lease later", "project", job.Args.Project, "error", err)
		return river.JobSnooze(c.opts.Lease)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.saveDue(sctx, job.Args.Project, due, h.Due); err != nil {
		c.log.Warn("cannot save the project's schedule; its syncs run again at once", "project", job.Args.Project, "error", err)
	}
	now := c.opts.Now()
	if len(h.Due) == 0 {
		return river.JobSnooze(c.opts.Lease)
	}
	var next time.Time
	for _, t := range h.Due {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	wait := next.Sub(now)
	if wait <= 0 {
		select {
		case <-stop:
			c.handbacks.Add(1)
		default:
		}
		return river.JobSnooze(0)
	}
	return river.JobSnooze(wait)
}
