// Package statetest is the conformance suite every state.Store
// implementation runs, as connectors/conntest is for connectors: links and
// hashes, cursors, rejects, conflicts, orphans, intents, runs, atomic
// batches, the lease and fencing rules with two clients as two hosts,
// concurrent writers, migrations from empty and from each earlier schema
// version, a newer schema refused, read-only opens, and a writer process
// killed mid-batch.
//
// A backend's test file is short:
//
//	func TestConformance(t *testing.T) { statetest.Run(t, backend) }
//	func TestCrashChild(t *testing.T)  { statetest.CrashChild(t, backend) }
//
// TestCrashChild is the process the crash test starts and kills (the test
// binary itself, run with -test.run=^TestCrashChild$); it must have that
// name.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/runtime/state"
)

// Backend says how to make and open stores of one implementation.
type Backend struct {
	// New returns a fresh, empty location (a file path, a DSN) that the
	// test owns.
	New func(t *testing.T) string
	// Open opens a store at a location. Two opens of one location are two
	// clients of one state (two processes, two hosts).
	Open func(ctx context.Context, loc string, opts state.Options) (state.Store, error)
	// OpenAt, when set, opens a fresh location migrated to schema version v
	// only (v < state.SchemaVersion): migrations from each earlier version.
	OpenAt func(ctx context.Context, loc string, v int) (state.Store, error)
	// Version returns the schema version stored at loc; SetVersion
	// overwrites it (a database written by a newer synclang). Both are
	// needed for the schema tests.
	Version    func(t *testing.T, loc string) int
	SetVersion func(t *testing.T, loc string, v int)
	// Persistent means the state outlives its clients, in other
	// processes: reopen, read-only and crash tests run.
	Persistent bool
	// Holders means the store records which host holds a lease (the
	// memory store, one process, does not).
	Holders bool
	// Check, when set, verifies the location's integrity after a crash
	// (SQLite's integrity_check).
	Check func(t *testing.T, loc string)
}

// newClock is the tests' settable clock, at a fixed start.
func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) }

var (
	hostA = state.Holder{Host: "a", PID: 1}
	hostB = state.Holder{Host: "b", PID: 2}
)

// suite is one subtest's view of the backend.
type suite struct {
	t   *testing.T
	b   Backend
	ctx context.Context
	clk *testkit.Clock
}

func (s *suite) open(loc string, h state.Holder) state.Store {
	s.t.Helper()
	st, err := s.b.Open(s.ctx, loc, state.Options{Now: s.clk.Now, Holder: h, Alive: func(int) bool { return true }})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	return st
}

func (s *suite) acquire(st state.Store, sync string) *state.Lease {
	s.t.Helper()
	l, err := st.Acquire(s.ctx, sync, time.Minute)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

func (s *suite) apply(st state.Store, l *state.Lease, c *state.Changes) {
	s.t.Helper()
	if err := st.Apply(s.ctx, l, c); err != nil {
		s.t.Fatal(err)
	}
}

// Run runs the suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*suite)
		need bool
	}{
		{"LinksAndHashes", testLinksAndHashes, true},
		{"ApplyIsAtomic", testApplyIsAtomic, true},
		{"RejectsIntentsRunsConflicts", testRejectsIntentsRunsConflicts, true},
		{"IntentsFolded", testIntentsFolded, true},
		{"Orphans", testOrphans, true},
		{"Lock", testLock, true},
		{"LockTwoHosts", testLockTwoHosts, b.Holders},
		{"LockTakenOverFromDeadLocalProcess", testDeadLocalProcess, b.Holders},
		{"ConcurrentWriters", testConcurrentWriters, true},
		{"ContendedLock", testContendedLock, true},
		{"Reopen", testReopen, b.Persistent},
		{"MigrateFromEarlierVersions", testMigrateFromEarlier, b.OpenAt != nil && b.Version != nil},
		{"NewerSchemaRefused", testNewerSchemaRefused, b.Persistent && b.SetVersion != nil},
		{"ReadOnly", testReadOnly, b.Persistent},
		{"KilledWriter", testKilledWriter, b.Persistent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.need {
				t.Skip("the backend does not have what this test needs (see statetest.Backend)")
			}
			tc.fn(&suite{t: t, b: b, ctx: context.Background(), clk: newClock()})
		})
	}
}

func testLinksAndHashes(s *suite) {
	t := s.t
	st := s.open(s.b.New(t), hostA)
	l := s.acquire(st, "c")
	var links []state.Link
	var keys []string
	for i := range 1234 {
		ln := state.Link{Left: fmt.Sprint("L", i), Right: fmt.Sprint("R", i), LeftHashes: state.Hashes{"firstname": uint64(i), "custom.Job Title": 1 << 63}}
		if i%2 == 0 {
			ln.RightHashes = state.Hashes{"firstName": uint64(i) * 7}
		}
		links = append(links, ln)
		keys = append(keys, ln.Left)
	}
	s.apply(st, l, &state.Changes{Sync: "c", PutLinks: links})
	l2 := s.acquire(st, "d")
	s.apply(st, l2, &state.Changes{Sync: "d", PutLinks: []state.Link{{Left: "L1", Right: "R1", LeftHashes: state.Hashes{"x": 1}}}})
	got, err := st.Links(s.ctx, "c", state.Left, append(keys, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(links) {
		t.Fatalf("got %d links, want %d", len(got), len(links))
	}
	for _, want := range links {
		g := got[want.Left]
		if g.Right != want.Right || !g.LeftHashes.Equal(want.LeftHashes) || !g.RightHashes.Equal(want.RightHashes) {
			t.Fatalf("link %s = %+v, want %+v", want.Left, g, want)
		}
		if !g.SyncedAt.Equal(s.clk.Now()) {
			t.Fatalf("synced_at = %v, want %v", g.SyncedAt, s.clk.Now())
		}
	}
	if got["L1"].LeftHashes["x"] != 0 {
		t.Fatal("links of another sync leaked")
	}
	byRight, err := st.Links(s.ctx, "c", state.Right, []string{"R5", "R6"})
	if err != nil || byRight["R5"].Left != "L5" || byRight["R6"].Left != "L6" || byRight["R5"].RightHashes != nil {
		t.Fatalf("by right: %+v, %v", byRight, err)
	}
	if n, err := st.LinkCount(s.ctx, "c"); err != nil || n != 1234 {
		t.Fatalf("LinkCount = %d, %v", n, err)
	}
	if _, err := st.Links(s.ctx, "c", "middle", keys[:1]); err == nil {
		t.Fatal("links by an unknown side")
	}
	// A link put twice in one batch: the last one counts, as if applied
	// one after the other.
	s.apply(st, l, &state.Changes{Sync: "c", PutLinks: []state.Link{{Left: "L1", Right: "Rx"}, {Left: "L1", Right: "Ry"}, {Left: "L2", Right: "Rx"}}})
	byRight, _ = st.Links(s.ctx, "c", state.Right, []string{"Rx", "Ry", "R1", "R2"})
	if byRight["Rx"].Left != "L2" || byRight["Ry"].Left != "L1" || len(byRight) != 2 {
		t.Fatalf("after relinking in one batch: %+v", byRight)
	}
	// Cursors.
	s.apply(st, l, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "left-to-right", Token: "42"}})
	s.apply(st, l2, &state.Changes{Sync: "d", Cursor: &state.Cursor{Flow: "a", Token: "1"}})
	s.apply(st, l, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "left-to-right", Token: "43"}})
	if tok, err := st.Cursor(s.ctx, "c", "left-to-right"); err != nil || tok != "43" {
		t.Fatalf("cursor = %q, %v", tok, err)
	}
	if tok, err := st.Cursor(s.ctx, "c", "none"); err != nil || tok != "" {
		t.Fatalf("missing cursor = %q, %v", tok, err)
	}
	curs, err := st.Cursors(s.ctx)
	if err != nil || len(curs) != 2 || curs[0].Sync != "c" || curs[1].Sync != "d" || curs[0].Token != "43" || !curs[0].UpdatedAt.Equal(s.clk.Now()) {
		t.Fatalf("cursors = %+v, %v", curs, err)
	}
}

func testApplyIsAtomic(s *suite) {
	t := s.t
	st := s.open(s.b.New(t), hostA)
	l := s.acquire(st, "c")
	s.apply(st, l, &state.Changes{Sync: "c", PutLinks: []state.Link{{Left: "l1", Right: "r1"}}})
	// The second link reuses r1: the whole Changes must roll back.
	err := st.Apply(s.ctx, l, &state.Changes{Sync: "c",
		PutRejects: []state.Reject{{Flow: "f", Key: "k", Kind: "value", Reason: "bad"}},
		PutLinks:   []state.Link{{Left: "l2", Right: "r2"}, {Left: "l3", Right: "r1"}},
		Cursor:     &state.Cursor{Flow: "f", Token: "9"},
	})
	if err == nil || !strings.Contains(err.Error(), "already linked") {
		t.Fatalf("apply with a right key linked twice: %v", err)
	}
	if n, _ := st.LinkCount(s.ctx, "c"); n != 1 {
		t.Errorf("links = %d after a failed apply, want 1", n)
	}
	if tok, _ := st.Cursor(s.ctx, "c", "f"); tok != "" {
		t.Errorf("cursor %q saved by a failed apply", tok)
	}
	if rj, _ := st.Rejects(s.ctx, state.RejectQuery{}); len(rj) != 0 {
		t.Errorf("rejects saved by a failed apply: %v", rj)
	}
	// Unlink and relink in one batch: deletes go first.
	s.apply(st, l, &state.Changes{Sync: "c", DeleteLinks: []string{"l1"}, PutLinks: []state.Link{{Left: "l9", Right: "r1"}}})
	got, _ := st.Links(s.ctx, "c", state.Right, []string{"r1"})
	if got["r1"].Left != "l9" {
		t.Fatalf("relinked r1 = %+v", got)
	}
	for _, bad := range []*state.Changes{
		{Sync: "c", PutLinks: []state.Link{{Left: "", Right: "x"}}},
		{Sync: "c", Cursor: &state.Cursor{Flow: "f"}},
		{Sync: "c", PutOrphans: []state.Orphan{{Side: "middle", Key: "x"}}},
	} {
		if err := st.Apply(s.ctx, l, bad); err == nil {
			t.Errorf("bad changes %+v were applied", bad)
		}
	}
	if err := st.Apply(s.ctx, nil, &state.Changes{Sync: "c"}); err == nil {
		t.Error("an apply without a lease")
	}
}

func testRejectsIntentsRunsConflicts(s *suite) {
	t := s.t
	ctx := s.ctx
	st := s.open(s.b.New(t), hostA)
	l := s.acquire(st, "c")
	rng := state.Range{File: "contacts.sync", Line: 14, Column: 3, EndLine: 14, EndColumn: 20}
	put := func(keys ...string) {
		var rj []state.Reject
		for _, k := range keys {
			rj = append(rj, state.Reject{Flow: "left-to-right", Key: k, TargetKey: "t" + k, Field: "email", Range: rng, Kind: "value", Reason: "bad " + k})
		}
		s.apply(st, l, &state.Changes{Sync: "c", PutRejects: rj})
	}
	put("k1", "k2", "k3")
	s.clk.Advance(time.Minute)
	put("k2")
	put("k3", "k3") // twice in one batch: two attempts
	all, err := st.Rejects(ctx, state.RejectQuery{Sync: "c"})
	if err != nil || len(all) != 3 {
		t.Fatalf("rejects: %v %v", all, err)
	}
	k2 := all[1]
	if k2.Key != "k2" || k2.Attempts != 2 || !k2.LastSeen.After(k2.FirstSeen) || k2.Range != rng || k2.TargetKey != "tk2" || k2.Reason != "bad k2" || k2.Sync != "c" {
		t.Fatalf("k2 = %+v", k2)
	}
	if all[2].Attempts != 3 {
		t.Fatalf("k3 put once, then twice in one batch: %d attempts, want 3", all[2].Attempts)
	}
	page, _ := st.Rejects(ctx, state.RejectQuery{Sync: "c", After: &all[0], Limit: 1})
	if len(page) != 1 || page[0].Key != "k2" {
		t.Fatalf("page after k1 = %+v", page)
	}
	if other, _ := st.Rejects(ctx, state.RejectQuery{Sync: "c", Flow: "other"}); len(other) != 0 {
		t.Fatalf("rejects of another flow: %+v", other)
	}
	s.apply(st, l, &state.Changes{Sync: "c", ClearRejects: []state.Intent{{Flow: "left-to-right", Key: "k1"}, {Flow: "other", Key: "k2"}}})
	if left, _ := st.Rejects(ctx, state.RejectQuery{}); len(left) != 2 || left[0].Key != "k2" {
		t.Fatalf("after clearing k1: %+v", left)
	}
	// Keys sort bytewise, whatever the database's collation.
	s.apply(st, l, &state.Changes{Sync: "c", PutRejects: []state.Reject{{Flow: "z", Key: "b"}, {Flow: "z", Key: "B"}, {Flow: "z", Key: "a"}, {Flow: "z", Key: "_"}}})
	zs, _ := st.Rejects(ctx, state.RejectQuery{Flow: "z"})
	var order []string
	for _, r := range zs {
		order = append(order, r.Key)
	}
	if strings.Join(order, "") != "B_ab" {
		t.Errorf("rejects ordered %q, want bytewise B_ab", order)
	}

	s.apply(st, l, &state.Changes{Sync: "c", PutIntents: []state.Intent{{Flow: "f", Key: "a"}, {Flow: "f", Key: "a"}, {Flow: "f", Key: "b"}}})
	in, _ := st.Intents(ctx, "c", "f", []string{"a", "b", "z"})
	if _, ok := in["z"]; in["a"].Key != "a" || in["b"].Key != "b" || in["a"].Flow != "f" || ok {
		t.Fatalf("intents = %v", in)
	}
	s.apply(st, l, &state.Changes{Sync: "c", ClearIntents: []state.Intent{{Flow: "f", Key: "a"}}})
	in, _ = st.Intents(ctx, "c", "f", []string{"a", "b"})
	if _, ok := in["a"]; ok || in["b"].Key != "b" {
		t.Fatalf("intents after clear = %v", in)
	}
	// An intent records its create's fingerprint, then the new key; found
	// by either.
	s.apply(st, l, &state.Changes{Sync: "c", RunID: 7, PutIntents: []state.Intent{{Flow: "f", Key: "p", Print: 1 << 63}}})
	s.apply(st, l, &state.Changes{Sync: "c", RunID: 8, PutIntents: []state.Intent{{Flow: "f", Key: "p", Target: "T1"}}})
	byT, _ := st.IntentsFor(ctx, "c", "f", []string{"T1"}, nil)
	byP, _ := st.IntentsFor(ctx, "c", "f", []string{"nope"}, []uint64{0, 1 << 63})
	want := state.Intent{Flow: "f", Key: "p", Target: "T1", Print: 1 << 63, RunID: 7}
	if len(byT) != 1 || byT[0] != want || len(byP) != 1 || byP[0] != want {
		t.Fatalf("IntentsFor: by target %+v, by print %+v, want %+v", byT, byP, want)
	}
	// An intent without a target is not found by the empty target, nor
	// one without a print by print 0.
	if none, _ := st.IntentsFor(ctx, "c", "f", []string{""}, []uint64{0}); len(none) != 0 {
		t.Fatalf("IntentsFor empty target and zero print: %+v", none)
	}
	if none, _ := st.IntentsFor(ctx, "c", "other", []string{"T1"}, []uint64{1 << 63}); len(none) != 0 {
		t.Fatalf("IntentsFor another flow: %+v", none)
	}

	id, err := st.StartRun(ctx, l, state.Run{Sync: "c", Full: true})
	if err != nil {
		t.Fatal(err)
	}
	s.apply(st, l, &state.Changes{Sync: "c", RunID: id, Conflicts: []state.Conflict{
		{LeftKey: "l", RightKey: "r", LeftField: "firstname", RightField: "firstName", Winner: state.Right, Policy: "newest", LeftValue: `"Ana"`, RightValue: `"Anna"`},
		{LeftKey: "l", RightKey: "r", LeftField: "lastname", RightField: "lastName", Winner: state.Left, Policy: "newest", LeftValue: `"B"`, RightValue: `"C"`},
	}})
	s.clk.Advance(time.Second)
	if err := st.FinishRun(ctx, l, state.Run{ID: id, Sync: "c", Status: state.RunRejects, Report: `{"x":1}`, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, l, state.Run{ID: id + 100, Sync: "c", Status: state.RunOK}); err == nil {
		t.Error("finishing a run that does not exist")
	}
	id2, _ := st.StartRun(ctx, l, state.Run{Sync: "c"})
	runs, _ := st.Runs(ctx, "c", 5)
	if len(runs) != 2 || runs[0].ID != id2 || runs[0].Status != state.RunRunning || runs[0].Full || !runs[0].Finished.IsZero() {
		t.Fatalf("runs = %+v", runs)
	}
	r := runs[1]
	if r.Status != state.RunRejects || !r.Full || r.Finished.Sub(r.Started) != time.Second || r.Report != `{"x":1}` || r.Error != "boom" || r.Sync != "c" {
		t.Fatalf("finished run = %+v", r)
	}
	if s.b.Holders && r.Holder != hostA {
		t.Fatalf("run holder = %+v", r.Holder)
	}
	if one, _ := st.Runs(ctx, "", 1); len(one) != 1 || one[0].ID != id2 {
		t.Fatalf("Runs limit 1 = %+v", one)
	}
	cs, _ := st.Conflicts(ctx, "c", 5)
	if len(cs) != 2 || cs[0].RunID != id || cs[0].LeftField != "lastname" || cs[1].Winner != state.Right || cs[1].RightValue != `"Anna"` || cs[1].Policy != "newest" || cs[0].ID <= cs[1].ID {
		t.Fatalf("conflicts (newest first) = %+v", cs)
	}
	if cs, _ := st.Conflicts(ctx, "other", 5); len(cs) != 0 {
		t.Fatalf("conflicts of another sync = %+v", cs)
	}
}

// testIntentsFolded puts one intent several times in one batch: the store
// keeps what applying them one after the other would.
func testIntentsFolded(s *suite) {
	t := s.t
	st := s.open(s.b.New(s.t), hostA)
	l := s.acquire(st, "c")
	s.apply(st, l, &state.Changes{Sync: "c", RunID: 1, PutIntents: []state.Intent{{Flow: "f", Key: "x", Print: 5}, {Flow: "f", Key: "x", Target: "T"}, {Flow: "f", Key: "x"}}})
	s.apply(st, l, &state.Changes{Sync: "c", RunID: 2, PutIntents: []state.Intent{{Flow: "f", Key: "y", Target: "T0"}, {Flow: "f", Key: "y", Print: 9}}})
	in, _ := st.Intents(s.ctx, "c", "f", []string{"x", "y"})
	if want := (state.Intent{Flow: "f", Key: "x", Target: "T", Print: 5, RunID: 1}); in["x"] != want {
		t.Errorf("x = %+v, want %+v", in["x"], want)
	}
	if want := (state.Intent{Flow: "f", Key: "y", Print: 9, RunID: 2}); in["y"] != want {
		t.Errorf("y = %+v, want %+v", in["y"], want)
	}
}

func testOrphans(s *suite) {
	t := s.t
	st := s.open(s.b.New(t), hostA)
	l := s.acquire(st, "c")
	s.apply(st, l, &state.Changes{Sync: "c", PutLinks: []state.Link{{Left: "L1", Right: "R1"}}})
	var orphans []state.Orphan
	var keys []string
	for i := range 1100 {
		orphans = append(orphans, state.Orphan{Side: state.Right, Key: fmt.Sprint("R", i), Hashes: state.Hashes{"email": uint64(i), "externalId": 7}})
		keys = append(keys, fmt.Sprint("R", i))
	}
	orphans = append(orphans, state.Orphan{Side: state.Left, Key: "R5", Hashes: state.Hashes{"x": 1}})
	s.apply(st, l, &state.Changes{Sync: "c", DeleteLinks: []string{"L1"}, PutOrphans: orphans})
	if n, _ := st.LinkCount(s.ctx, "c"); n != 0 {
		t.Errorf("links = %d after the delete", n)
	}
	got, err := st.Orphans(s.ctx, "c", state.Right, append(keys, "missing"))
	if err != nil || len(got) != 1100 || got["R1099"]["email"] != 1099 || got["R5"]["externalId"] != 7 || len(got["R5"]) != 2 {
		t.Fatalf("orphans: %d, %v, %v", len(got), err, got["R5"])
	}
	if got, _ := st.Orphans(s.ctx, "other", state.Right, keys[:3]); len(got) != 0 {
		t.Errorf("another sync's orphans: %v", got)
	}
	s.apply(st, l, &state.Changes{Sync: "c", ClearOrphans: []state.Orphan{{Side: state.Right, Key: "R5"}},
		PutOrphans: []state.Orphan{{Side: state.Right, Key: "R6", Hashes: state.Hashes{"email": 60}}, {Side: state.Right, Key: "R7", Hashes: state.Hashes{"a": 1}}, {Side: state.Right, Key: "R7", Hashes: state.Hashes{"a": 2}}}})
	got, _ = st.Orphans(s.ctx, "c", state.Right, []string{"R5", "R6", "R7"})
	if _, ok := got["R5"]; ok || got["R6"]["email"] != 60 || len(got["R6"]) != 1 || got["R7"]["a"] != 2 {
		t.Errorf("after clearing R5 and replacing R6 and R7: %v", got)
	}
	if got, _ := st.Orphans(s.ctx, "c", state.Left, []string{"R5"}); got["R5"]["x"] != 1 {
		t.Errorf("the left side's orphan R5 went with the right one's: %v", got)
	}
	if _, err := st.Orphans(s.ctx, "c", "middle", keys[:1]); err == nil {
		t.Error("orphans by an unknown side")
	}
}

// testLock is the lease and fencing rules on one client (the memory store
// has one process) or two.
func testLock(s *suite) {
	t := s.t
	loc := s.b.New(t)
	a := s.open(loc, hostA)
	b := a
	if s.b.Persistent {
		b = s.open(loc, hostB)
	}
	ctx := s.ctx
	la := s.acquire(a, "contacts")
	_, err := b.Acquire(ctx, "contacts", time.Minute)
	var locked *state.LockedError
	if !errors.As(err, &locked) || locked.Sync != "contacts" {
		t.Fatalf("second Acquire: %v", err)
	}
	lb2 := s.acquire(b, "leads")
	// Renewing keeps it past the first expiry.
	s.clk.Advance(50 * time.Second)
	if err := a.Renew(ctx, la); err != nil {
		t.Fatal(err)
	}
	if !la.Expires.Equal(s.clk.Now().Add(time.Minute)) {
		t.Fatalf("renewed lease expires %v", la.Expires)
	}
	s.clk.Advance(50 * time.Second)
	if _, err := b.Acquire(ctx, "contacts", time.Minute); !errors.As(err, &locked) {
		t.Fatalf("Acquire of a renewed lock: %v", err)
	}
	// An expired lease that nobody took over still writes.
	s.clk.Advance(2 * time.Minute)
	if err := a.Apply(ctx, la, &state.Changes{Sync: "contacts", Cursor: &state.Cursor{Flow: "f", Token: "1"}}); err != nil {
		t.Fatalf("write with an expired but not taken-over lease: %v", err)
	}
	// Once taken over, the old holder can neither write nor renew.
	lb, err := b.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatalf("Acquire of an expired lock: %v", err)
	}
	if err := a.Apply(ctx, la, &state.Changes{Sync: "contacts", Cursor: &state.Cursor{Flow: "f", Token: "2"}}); !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("write with a lost lease: %v", err)
	}
	if _, err := a.StartRun(ctx, la, state.Run{Sync: "contacts"}); !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("StartRun with a lost lease: %v", err)
	}
	if err := a.FinishRun(ctx, la, state.Run{ID: 1, Sync: "contacts"}); !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("FinishRun with a lost lease: %v", err)
	}
	if err := a.Renew(ctx, la); !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("Renew of a lost lease: %v", err)
	}
	if tok, _ := b.Cursor(ctx, "contacts", "f"); tok != "1" {
		t.Fatalf("cursor = %q, the lost lease's write must not land", tok)
	}
	// Releasing a lost lease does not release the new holder's.
	if err := a.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, "contacts", time.Minute); !errors.As(err, &locked) {
		t.Fatalf("Acquire after releasing a lost lease: %v", err)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, lb, &state.Changes{Sync: "contacts"}); !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("write after release: %v", err)
	}
	la = s.acquire(a, "contacts")
	// A lease is for one sync only.
	if err := a.Apply(ctx, la, &state.Changes{Sync: "leads"}); err == nil {
		t.Fatal("a lease of contacts wrote leads")
	}
	if err := b.Apply(ctx, lb2, &state.Changes{Sync: "leads", Cursor: &state.Cursor{Flow: "f", Token: "x"}}); err != nil {
		t.Fatalf("the other sync's lease: %v", err)
	}
	if _, err := a.Acquire(ctx, "x", 0); err == nil {
		t.Fatal("a lease without a TTL")
	}
}

// testLockTwoHosts: the error names the holder; a lease taken over while
// its old holder is writing fences the old holder's later writes.
func testLockTwoHosts(s *suite) {
	t := s.t
	loc := s.b.New(t)
	a, b := s.open(loc, hostA), s.open(loc, hostB)
	la := s.acquire(a, "contacts")
	if la.Holder != hostA {
		t.Errorf("lease holder = %+v", la.Holder)
	}
	_, err := b.Acquire(s.ctx, "contacts", time.Minute)
	var locked *state.LockedError
	if !errors.As(err, &locked) || locked.Holder != hostA || !locked.Expires.Equal(la.Expires) {
		t.Fatalf("second Acquire: %v", err)
	}
	if !strings.Contains(err.Error(), "a pid 1") {
		t.Errorf("locked error does not name the holder: %v", err)
	}
	// Host a stalls past its lease while b takes over and writes; a wakes
	// up and tries to commit its batch.
	s.clk.Advance(2 * time.Minute)
	lb := s.acquire(b, "contacts")
	s.apply(b, lb, &state.Changes{Sync: "contacts", PutLinks: []state.Link{{Left: "L", Right: "R-b"}}, Cursor: &state.Cursor{Flow: "f", Token: "b"}})
	err = a.Apply(s.ctx, la, &state.Changes{Sync: "contacts", PutLinks: []state.Link{{Left: "L", Right: "R-a"}, {Left: "L2", Right: "R2"}}, Cursor: &state.Cursor{Flow: "f", Token: "a"}})
	if !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("the stalled host's commit: %v", err)
	}
	links, _ := b.Links(s.ctx, "contacts", state.Left, []string{"L", "L2"})
	if tok, _ := b.Cursor(s.ctx, "contacts", "f"); tok != "b" || links["L"].Right != "R-b" || len(links) != 1 {
		t.Fatalf("after the stalled host's commit: cursor %q, links %+v", tok, links)
	}
}

func testDeadLocalProcess(s *suite) {
	t := s.t
	loc := s.b.New(t)
	dead := map[int]bool{7: true}
	alive := func(pid int) bool { return !dead[pid] }
	open := func(pid int) state.Store {
		st, err := s.b.Open(s.ctx, loc, state.Options{Now: s.clk.Now, Holder: state.Holder{Host: "h", PID: pid}, Alive: alive})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	if _, err := open(7).Acquire(s.ctx, "contacts", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := open(8).Acquire(s.ctx, "contacts", time.Hour); err != nil {
		t.Fatalf("the holder's process is gone, the lock should be taken over: %v", err)
	}
	var locked *state.LockedError
	if _, err := open(9).Acquire(s.ctx, "contacts", time.Hour); !errors.As(err, &locked) {
		t.Fatalf("live holder: %v", err)
	}
	// A holder on another host is not probed: its pid means nothing here.
	other, err := s.b.Open(s.ctx, loc, state.Options{Now: s.clk.Now, Holder: state.Holder{Host: "elsewhere", PID: 7}, Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Acquire(s.ctx, "leads", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := open(8).Acquire(s.ctx, "leads", time.Hour); !errors.As(err, &locked) {
		t.Fatalf("a holder on another host with a dead local pid: %v", err)
	}
}

// testConcurrentWriters runs writers of several syncs at once, each its
// own client, and checks every batch landed whole.
func testConcurrentWriters(s *suite) {
	t := s.t
	loc := s.b.New(t)
	first := s.open(loc, hostA)
	const writers, batches, per = 4, 15, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		st := first
		if s.b.Persistent {
			st = s.open(loc, state.Holder{Host: "w", PID: 100 + w})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sync := fmt.Sprint("sync", w)
			l, err := st.Acquire(s.ctx, sync, time.Minute)
			if err != nil {
				errs <- err
				return
			}
			for i := range batches {
				c := &state.Changes{Sync: sync, Cursor: &state.Cursor{Flow: "f", Token: fmt.Sprint(i)}}
				for j := range per {
					k := fmt.Sprint(i*per + j)
					c.PutLinks = append(c.PutLinks, state.Link{Left: "L" + k, Right: "R" + k, LeftHashes: state.Hashes{"a": uint64(j)}})
				}
				c.PutRejects = []state.Reject{{Flow: "f", Key: fmt.Sprint(i), Kind: "value", Reason: "x"}}
				if err := st.Apply(s.ctx, l, c); err != nil {
					errs <- fmt.Errorf("%s batch %d: %w", sync, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range writers {
		sync := fmt.Sprint("sync", w)
		n, err := first.LinkCount(s.ctx, sync)
		tok, _ := first.Cursor(s.ctx, sync, "f")
		rj, _ := first.Rejects(s.ctx, state.RejectQuery{Sync: sync})
		if err != nil || n != batches*per || tok != fmt.Sprint(batches-1) || len(rj) != batches {
			t.Errorf("%s: %d links, cursor %q, %d rejects, %v", sync, n, tok, len(rj), err)
		}
	}
}

// testContendedLock has clients race for one sync's lock again and again:
// each time exactly one wins, and the winner's writes are the only ones.
func testContendedLock(s *suite) {
	t := s.t
	loc := s.b.New(t)
	const clients, rounds = 4, 10
	stores := make([]state.Store, clients)
	for i := range stores {
		stores[i] = s.open(loc, state.Holder{Host: fmt.Sprint("host", i), PID: 1})
		if !s.b.Persistent {
			stores[i] = stores[0]
		}
	}
	for round := range rounds {
		leases := make([]*state.Lease, clients)
		var wg sync.WaitGroup
		for i, st := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := st.Acquire(s.ctx, "contacts", time.Minute)
				var locked *state.LockedError
				switch {
				case err == nil:
					leases[i] = l
				case !errors.As(err, &locked):
					t.Errorf("round %d client %d: %v", round, i, err)
				}
			}()
		}
		wg.Wait()
		winner := -1
		for i, l := range leases {
			if l != nil {
				if winner >= 0 {
					t.Fatalf("round %d: clients %d and %d both hold the lock", round, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody got the lock", round)
		}
		s.apply(stores[winner], leases[winner], &state.Changes{Sync: "contacts", Cursor: &state.Cursor{Flow: "f", Token: fmt.Sprint(round)}})
		if err := stores[winner].Release(s.ctx, leases[winner]); err != nil {
			t.Fatal(err)
		}
	}
	if tok, _ := stores[0].Cursor(s.ctx, "contacts", "f"); tok != fmt.Sprint(rounds-1) {
		t.Fatalf("cursor = %q", tok)
	}
}

func testReopen(s *suite) {
	t := s.t
	loc := s.b.New(t)
	st := s.open(loc, hostA)
	l := s.acquire(st, "contacts")
	s.apply(st, l, &state.Changes{Sync: "contacts", Cursor: &state.Cursor{Flow: "left-to-right", Token: "42"}, PutLinks: []state.Link{{Left: "a", Right: "b"}}})
	st.Close()
	if s.b.Version != nil {
		if v := s.b.Version(t, loc); v != state.SchemaVersion {
			t.Fatalf("schema version %d, want %d", v, state.SchemaVersion)
		}
	}
	st2 := s.open(loc, hostA)
	if tok, err := st2.Cursor(s.ctx, "contacts", "left-to-right"); err != nil || tok != "42" {
		t.Fatalf("cursor after reopen = %q, %v", tok, err)
	}
	if n, _ := st2.LinkCount(s.ctx, "contacts"); n != 1 {
		t.Fatalf("links after reopen = %d", n)
	}
}

// testMigrateFromEarlier opens a state of each earlier schema version,
// with a link and a cursor written at that version, with this synclang:
// it is migrated and keeps them.
func testMigrateFromEarlier(s *suite) {
	t := s.t
	for v := 1; v < state.SchemaVersion; v++ {
		loc := s.b.New(t)
		old, err := s.b.OpenAt(s.ctx, loc, v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		l, err := old.Acquire(s.ctx, "c", time.Minute)
		if err == nil {
			err = old.Apply(s.ctx, l, &state.Changes{Sync: "c", PutLinks: []state.Link{{Left: "l", Right: "r", LeftHashes: state.Hashes{"a": 1}}}, Cursor: &state.Cursor{Flow: "f", Token: "7"}})
		}
		if err == nil {
			err = old.Release(s.ctx, l)
		}
		old.Close()
		if err != nil {
			t.Fatalf("writing at version %d: %v", v, err)
		}
		if got := s.b.Version(t, loc); got != v {
			t.Fatalf("OpenAt(%d) left version %d", v, got)
		}
		st := s.open(loc, hostA)
		if got := s.b.Version(t, loc); got != state.SchemaVersion {
			t.Fatalf("from version %d: migrated to %d, want %d", v, got, state.SchemaVersion)
		}
		links, err := st.Links(s.ctx, "c", state.Left, []string{"l"})
		tok, _ := st.Cursor(s.ctx, "c", "f")
		if err != nil || links["l"].LeftHashes["a"] != 1 || tok != "7" {
			t.Fatalf("from version %d: links %+v, cursor %q, %v", v, links, tok, err)
		}
		// What the later versions added works.
		l = s.acquire(st, "c")
		s.apply(st, l, &state.Changes{Sync: "c", PutIntents: []state.Intent{{Flow: "f", Key: "k", Print: 3, Target: "T"}}, PutOrphans: []state.Orphan{{Side: state.Left, Key: "o"}}})
		if got, _ := st.IntentsFor(s.ctx, "c", "f", []string{"T"}, nil); len(got) != 1 {
			t.Fatalf("from version %d: intents after migrating: %+v", v, got)
		}
	}
}

func testNewerSchemaRefused(s *suite) {
	t := s.t
	loc := s.b.New(t)
	st := s.open(loc, hostA)
	st.Close()
	s.b.SetVersion(t, loc, state.SchemaVersion+1)
	for _, ro := range []bool{false, true} {
		_, err := s.b.Open(s.ctx, loc, state.Options{ReadOnly: ro})
		if err == nil || !strings.Contains(err.Error(), "newer synclang") || !strings.Contains(err.Error(), fmt.Sprint("version ", state.SchemaVersion+1)) {
			t.Fatalf("opening a newer state (read-only %v): %v", ro, err)
		}
	}
}

// testReadOnly: a read-only open reads what was written and writes
// nothing.
func testReadOnly(s *suite) {
	t := s.t
	loc := s.b.New(t)
	st := s.open(loc, hostA)
	l := s.acquire(st, "c")
	s.apply(st, l, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: "1"}, PutRejects: []state.Reject{{Flow: "f", Key: "k", Kind: "value", Reason: "r"}}})
	ro, err := s.b.Open(s.ctx, loc, state.Options{ReadOnly: true, Now: s.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if tok, err := ro.Cursor(s.ctx, "c", "f"); err != nil || tok != "1" {
		t.Fatalf("read-only cursor: %q, %v", tok, err)
	}
	if rj, err := ro.Rejects(s.ctx, state.RejectQuery{}); err != nil || len(rj) != 1 {
		t.Fatalf("read-only rejects: %v, %v", rj, err)
	}
	if _, err := ro.Acquire(s.ctx, "d", time.Minute); err == nil {
		t.Fatal("a read-only store took a lock")
	}
	if err := ro.Apply(s.ctx, l, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: "2"}}); err == nil {
		t.Fatal("a read-only store wrote")
	}
	if tok, _ := st.Cursor(s.ctx, "c", "f"); tok != "1" {
		t.Fatalf("cursor = %q after a read-only write", tok)
	}
}
