package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/synclang/synclang/runtime/cluster"
	"github.com/synclang/synclang/runtime/state/postgres/pgtest"
)

// testPool connects to SYNCLANG_TEST_POSTGRES and returns a pool whose
// River tables live in a schema of their own, dropped at the end.
func testPool(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	dsn, schema := pgtest.NewSchema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, schema
}

// recorder is a Runner that records who holds which project, and fails
// the test when two replicas hold one at once.
type recorder struct {
	t       *testing.T
	mu      sync.Mutex
	holding map[string]string
	holds   map[string]map[string]int // project -> replica -> holds
	every   time.Duration
	work    time.Duration
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, holding: map[string]string{}, holds: map[string]map[string]int{},
		every: 300 * time.Millisecond, work: 50 * time.Millisecond}
}

type replicaRunner struct {
	r    *recorder
	name string
}

func (rr replicaRunner) Hold(ctx context.Context, h *cluster.Hold) error {
	r, project, stop := rr.r, h.Project, h.Stop
	if due, ok := h.Due["s"]; ok && time.Now().Add(50*time.Millisecond).Before(due) {
		r.t.Errorf("project %s held before its sync was due (%s)", project, time.Until(due))
	}
	r.mu.Lock()
	if other, ok := r.holding[project]; ok {
		r.t.Errorf("project %s held by %s and %s at once", project, other, rr.name)
	}
	r.holding[project] = rr.name
	if r.holds[project] == nil {
		r.holds[project] = map[string]int{}
	}
	r.holds[project][rr.name]++
	r.mu.Unlock()
	start := time.Now()
	next := start.Add(r.every)
	select {
	case <-time.After(r.work):
	case <-stop:
		next = time.Now() // stopped: continue at once
	case <-ctx.Done():
	}
	r.mu.Lock()
	delete(r.holding, project)
	r.mu.Unlock()
	h.Due["s"] = next
	return nil
}

func (r *recorder) count(project string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.holds[project] {
		n += c
	}
	return n
}

func (r *recorder) by(project, replica string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holds[project][replica]
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicasShareProjectsOneAtATime(t *testing.T) {
	pool, schema := testPool(t)
	ctx := context.Background()
	rec := newRecorder(t)
	var projects []string
	for i := range 8 {
		projects = append(projects, fmt.Sprintf("p%02d", i))
	}
	open := func(name string) *cluster.Cluster {
		c, err := cluster.Open(ctx, pool, replicaRunner{rec, name}, projects,
			cluster.Options{Lease: 4 * time.Second, Schema: schema, ID: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := open("a"), open("b")
	defer func() { _ = a.StopAndCancel(ctx) }()
	for _, p := range projects {
		waitFor(t, "every project held three times", func() bool { return rec.count(p) >= 3 })
	}
	states, err := a.JobStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, n := range states {
		total += n
	}
	if total != int64(len(projects)) {
		t.Errorf("the queue holds %d jobs (%v), want one per project (%d)", total, states, len(projects))
	}

	// b stops: every project goes on with a alone.
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	for _, p := range projects {
		before[p] = rec.by(p, "a")
	}
	for _, p := range projects {
		waitFor(t, "a to hold "+p+" after b stopped", func() bool { return rec.by(p, "a") >= before[p]+2 })
	}
	if st := a.Stats(); st.Holds == 0 || st.LagCount == 0 {
		t.Errorf("stats %+v: want holds and lag observations", st)
	}
}

func TestStopHandsBackAtOnce(t *testing.T) {
	pool, schema := testPool(t)
	ctx := context.Background()
	rec := newRecorder(t)
	// A project whose passes last until they are told to stop.
	rec.work = time.Hour
	a, err := cluster.Open(ctx, pool, replicaRunner{rec, "a"}, []string{"long"}, cluster.Options{Lease: time.Hour, Schema: schema, ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to hold the project", func() bool { return rec.by("long", "a") == 1 })
	b, err := cluster.Open(ctx, pool, replicaRunner{rec, "b"}, []string{"long"}, cluster.Options{Lease: time.Hour, Schema: schema, ID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.StopAndCancel(ctx) }()
	// With an hour's lease, only a hand-back lets b hold it soon.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to hold the project a handed back", func() bool { return rec.by("long", "b") == 1 })
	if st := a.Stats(); st.Handbacks != 1 {
		t.Errorf("a handed back %d projects, want 1", st.Handbacks)
	}
}
