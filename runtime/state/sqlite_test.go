package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t *testing.T, path string, clk *clock, h Holder) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Now: clk.Now, Holder: h, Alive: func(int) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), ".synclang", "state.db") }

var (
	hostA = Holder{Host: "a", PID: 1}
	hostB = Holder{Host: "b", PID: 2}
)

func TestMigrateFreshAndReopen(t *testing.T) {
	path := tempDB(t)
	clk := newClock()
	s := openTest(t, path, clk, hostA)
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("user_version = %d, %v; want %d", v, err, SchemaVersion)
	}
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	ctx := context.Background()
	l, err := s.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "contacts", Cursor: &Cursor{Flow: "left-to-right", Token: "42"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Reopening migrates nothing and keeps the data.
	s2 := openTest(t, path, clk, hostA)
	if tok, err := s2.Cursor(ctx, "contacts", "left-to-right"); err != nil || tok != "42" {
		t.Fatalf("cursor after reopen = %q, %v", tok, err)
	}
}

func TestMigrateStepsAndFailureRollsBack(t *testing.T) {
	path := tempDB(t)
	ctx := context.Background()
	opts := Options{Now: newClock().Now, Alive: func(int) bool { return true }}
	s, err := openWith(ctx, path, opts, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	l, _ := s.Acquire(ctx, "x", time.Minute)
	if err := s.Apply(ctx, l, &Changes{Sync: "x", PutLinks: []Link{{Left: "l1", Right: "r1"}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A later step that fails half-way leaves the database at version 1,
	// without the step's first table.
	bad := append(append([]migration(nil), migrations[:1]...), migration{name: "broken", stmts: []string{
		`CREATE TABLE half (x INTEGER)`,
		`THIS IS NOT SQL`,
	}})
	if _, err := openWith(ctx, path, opts, bad); err == nil || !strings.Contains(err.Error(), "migrating to schema version 2 (broken)") {
		t.Fatalf("open with a broken migration: %v", err)
	}
	good := append(append([]migration(nil), migrations[:1]...), migration{name: "add notes", stmts: []string{
		`CREATE TABLE notes (x INTEGER)`,
	}})
	s, err = openWith(ctx, path, opts, good)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v, half int
	s.db.QueryRow(`PRAGMA user_version`).Scan(&v)
	s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&half)
	if v != 2 || half != 0 {
		t.Fatalf("after the good step: version %d, half-table present %d", v, half)
	}
	if n, err := s.LinkCount(ctx, "x"); err != nil || n != 1 {
		t.Fatalf("links kept across migrations: %d, %v", n, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := tempDB(t)
	s := openTest(t, path, newClock(), hostA)
	if _, err := s.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer synclang") {
		t.Fatalf("opening a newer database: %v", err)
	}
}

func TestLock(t *testing.T) {
	path := tempDB(t)
	clk := newClock()
	a := openTest(t, path, clk, hostA)
	b := openTest(t, path, clk, hostB)
	ctx := context.Background()

	la, err := a.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Another process cannot take it, but can take another sync.
	_, err = b.Acquire(ctx, "contacts", time.Minute)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Holder != hostA {
		t.Fatalf("second Acquire: %v", err)
	}
	if !strings.Contains(err.Error(), "a pid 1") {
		t.Errorf("locked error does not name the holder: %v", err)
	}
	if _, err := b.Acquire(ctx, "leads", time.Minute); err != nil {
		t.Fatalf("another sync: %v", err)
	}
	// Renewing keeps it past the first expiry.
	clk.Add(50 * time.Second)
	if err := a.Renew(ctx, la); err != nil {
		t.Fatal(err)
	}
	clk.Add(50 * time.Second)
	if _, err := b.Acquire(ctx, "contacts", time.Minute); !errors.As(err, &locked) {
		t.Fatalf("Acquire of a renewed lock: %v", err)
	}
	// An expired lease that nobody took over still writes.
	clk.Add(2 * time.Minute)
	if err := a.Apply(ctx, la, &Changes{Sync: "contacts", Cursor: &Cursor{Flow: "f", Token: "1"}}); err != nil {
		t.Fatalf("write with an expired but not taken-over lease: %v", err)
	}
	// Once taken over, the old holder can neither write nor renew.
	lb, err := b.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatalf("Acquire of an expired lock: %v", err)
	}
	if err := a.Apply(ctx, la, &Changes{Sync: "contacts", Cursor: &Cursor{Flow: "f", Token: "2"}}); !errors.Is(err, ErrLockLost) {
		t.Fatalf("write with a lost lease: %v", err)
	}
	if _, err := a.StartRun(ctx, la, Run{Sync: "contacts"}); !errors.Is(err, ErrLockLost) {
		t.Fatalf("StartRun with a lost lease: %v", err)
	}
	if err := a.Renew(ctx, la); !errors.Is(err, ErrLockLost) {
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
	if _, err := a.Acquire(ctx, "contacts", time.Minute); err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	// A lease is for one sync only.
	if err := a.Apply(ctx, la, &Changes{Sync: "leads"}); err == nil {
		t.Fatal("a lease of contacts wrote leads")
	}
}

func TestLockTakenOverFromDeadLocalProcess(t *testing.T) {
	path := tempDB(t)
	clk := newClock()
	ctx := context.Background()
	dead := map[int]bool{7: true}
	alive := func(pid int) bool { return !dead[pid] }
	crashed, err := Open(ctx, path, Options{Now: clk.Now, Holder: Holder{Host: "h", PID: 7}, Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	defer crashed.Close()
	if _, err := crashed.Acquire(ctx, "contacts", time.Hour); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, path, Options{Now: clk.Now, Holder: Holder{Host: "h", PID: 8}, Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Acquire(ctx, "contacts", time.Hour); err != nil {
		t.Fatalf("the holder's process is gone, the lock should be taken over: %v", err)
	}
	// A live local holder keeps it.
	third, _ := Open(ctx, path, Options{Now: clk.Now, Holder: Holder{Host: "h", PID: 9}, Alive: alive})
	defer third.Close()
	var locked *LockedError
	if _, err := third.Acquire(ctx, "contacts", time.Hour); !errors.As(err, &locked) {
		t.Fatalf("live holder: %v", err)
	}
}

func TestApplyIsAtomic(t *testing.T) {
	s := openTest(t, tempDB(t), newClock(), hostA)
	ctx := context.Background()
	l, _ := s.Acquire(ctx, "c", time.Minute)
	if err := s.Apply(ctx, l, &Changes{Sync: "c", PutLinks: []Link{{Left: "l1", Right: "r1"}}}); err != nil {
		t.Fatal(err)
	}
	// The second link reuses r1: the whole Changes must roll back.
	err := s.Apply(ctx, l, &Changes{Sync: "c",
		PutRejects: []Reject{{Flow: "f", Key: "k", Kind: "value", Reason: "bad"}},
		PutLinks:   []Link{{Left: "l2", Right: "r2"}, {Left: "l3", Right: "r1"}},
		Cursor:     &Cursor{Flow: "f", Token: "9"},
	})
	if err == nil || !strings.Contains(err.Error(), "already linked") {
		t.Fatalf("apply with a right key linked twice: %v", err)
	}
	if n, _ := s.LinkCount(ctx, "c"); n != 1 {
		t.Errorf("links = %d after a failed apply, want 1", n)
	}
	if tok, _ := s.Cursor(ctx, "c", "f"); tok != "" {
		t.Errorf("cursor %q saved by a failed apply", tok)
	}
	if rj, _ := s.Rejects(ctx, RejectQuery{}); len(rj) != 0 {
		t.Errorf("rejects saved by a failed apply: %v", rj)
	}
	// Unlink and relink in one batch: deletes go first.
	if err := s.Apply(ctx, l, &Changes{Sync: "c", DeleteLinks: []string{"l1"}, PutLinks: []Link{{Left: "l9", Right: "r1"}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Links(ctx, "c", Right, []string{"r1"})
	if got["r1"].Left != "l9" {
		t.Fatalf("relinked r1 = %+v", got)
	}
}

func TestLinksAndHashes(t *testing.T) {
	clk := newClock()
	s := openTest(t, tempDB(t), clk, hostA)
	ctx := context.Background()
	l, _ := s.Acquire(ctx, "c", time.Minute)
	var links []Link
	var keys []string
	for i := range 1234 {
		ln := Link{Left: fmt.Sprint("L", i), Right: fmt.Sprint("R", i), LeftHashes: Hashes{"firstname": uint64(i), "custom.Job Title": 1 << 63}}
		if i%2 == 0 {
			ln.RightHashes = Hashes{"firstName": uint64(i) * 7}
		}
		links = append(links, ln)
		keys = append(keys, ln.Left)
	}
	other := Link{Left: "L1", Right: "R1", LeftHashes: Hashes{"x": 1}}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", PutLinks: links}); err != nil {
		t.Fatal(err)
	}
	l2, _ := s.Acquire(ctx, "d", time.Minute)
	if err := s.Apply(ctx, l2, &Changes{Sync: "d", PutLinks: []Link{other}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Links(ctx, "c", Left, append(keys, "missing"))
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
		if g.SyncedAt != clk.Now() {
			t.Fatalf("synced_at = %v", g.SyncedAt)
		}
	}
	if got["L1"].LeftHashes["x"] != 0 {
		t.Fatal("links of another sync leaked")
	}
	byRight, err := s.Links(ctx, "c", Right, []string{"R5", "R6"})
	if err != nil || byRight["R5"].Left != "L5" || byRight["R6"].Left != "L6" || byRight["R5"].RightHashes != nil {
		t.Fatalf("by right: %+v, %v", byRight, err)
	}
}

func TestHashesEncoding(t *testing.T) {
	for _, h := range []Hashes{nil, {}, {"a": 0}, {"firstname": 1<<64 - 1, "é": 3, "": 4}} {
		b, _ := h.MarshalBinary()
		var back Hashes
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 && len(back) == 0 {
			continue
		}
		if !reflect.DeepEqual(h, back) {
			t.Fatalf("%v -> %v", h, back)
		}
	}
	b1, _ := Hashes{"a": 1, "b": 2}.MarshalBinary()
	b2, _ := Hashes{"b": 2, "a": 1}.MarshalBinary()
	if string(b1) != string(b2) {
		t.Fatal("encoding is not deterministic")
	}
	for _, bad := range [][]byte{{9}, {1, 5, 'a'}, {1, 1, 'a', 0, 0}} {
		var h Hashes
		if err := h.UnmarshalBinary(bad); err == nil {
			t.Fatalf("%v decoded", bad)
		}
	}
}

func TestRejectsIntentsRunsConflicts(t *testing.T) {
	clk := newClock()
	s := openTest(t, tempDB(t), clk, hostA)
	ctx := context.Background()
	l, _ := s.Acquire(ctx, "c", time.Minute)
	rng := Range{File: "contacts.sync", Line: 14, Column: 3, EndLine: 14, EndColumn: 20}
	put := func(keys ...string) {
		var rj []Reject
		for _, k := range keys {
			rj = append(rj, Reject{Flow: "left-to-right", Key: k, Field: "email", Range: rng, Kind: "value", Reason: "bad " + k})
		}
		if err := s.Apply(ctx, l, &Changes{Sync: "c", PutRejects: rj}); err != nil {
			t.Fatal(err)
		}
	}
	put("k1", "k2", "k3")
	clk.Add(time.Minute)
	put("k2")
	all, err := s.Rejects(ctx, RejectQuery{Sync: "c"})
	if err != nil || len(all) != 3 {
		t.Fatalf("rejects: %v %v", all, err)
	}
	k2 := all[1]
	if k2.Key != "k2" || k2.Attempts != 2 || !k2.LastSeen.After(k2.FirstSeen) || k2.Range != rng || k2.Range.String() != "contacts.sync:14:3" {
		t.Fatalf("k2 = %+v", k2)
	}
	page, _ := s.Rejects(ctx, RejectQuery{Sync: "c", After: &all[0], Limit: 1})
	if len(page) != 1 || page[0].Key != "k2" {
		t.Fatalf("page after k1 = %+v", page)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", ClearRejects: []Intent{{Flow: "left-to-right", Key: "k1"}, {Flow: "other", Key: "k2"}}}); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.Rejects(ctx, RejectQuery{}); len(left) != 2 || left[0].Key != "k2" {
		t.Fatalf("after clearing k1: %+v", left)
	}

	if err := s.Apply(ctx, l, &Changes{Sync: "c", PutIntents: []Intent{{Flow: "f", Key: "a"}, {Flow: "f", Key: "a"}, {Flow: "f", Key: "b"}}}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.Intents(ctx, "c", "f", []string{"a", "b", "z"})
	if _, ok := in["z"]; in["a"].Key != "a" || in["b"].Key != "b" || ok {
		t.Fatalf("intents = %v", in)
	}
	s.Apply(ctx, l, &Changes{Sync: "c", ClearIntents: []Intent{{Flow: "f", Key: "a"}}})
	in, _ = s.Intents(ctx, "c", "f", []string{"a", "b"})
	if _, ok := in["a"]; ok || in["b"].Key != "b" {
		t.Fatalf("intents after clear = %v", in)
	}
	// An intent records its create's fingerprint, then the new key; found
	// by either.
	if err := s.Apply(ctx, l, &Changes{Sync: "c", RunID: 7, PutIntents: []Intent{{Flow: "f", Key: "p", Print: 1 << 63}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", RunID: 8, PutIntents: []Intent{{Flow: "f", Key: "p", Target: "T1"}}}); err != nil {
		t.Fatal(err)
	}
	byT, _ := s.IntentsFor(ctx, "c", "f", []string{"T1"}, nil)
	byP, _ := s.IntentsFor(ctx, "c", "f", []string{"nope"}, []uint64{0, 1 << 63})
	want := Intent{Flow: "f", Key: "p", Target: "T1", Print: 1 << 63, RunID: 7}
	if len(byT) != 1 || byT[0] != want || len(byP) != 1 || byP[0] != want {
		t.Fatalf("IntentsFor: by target %+v, by print %+v, want %+v", byT, byP, want)
	}

	id, err := s.StartRun(ctx, l, Run{Sync: "c", Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", RunID: id, Conflicts: []Conflict{{LeftKey: "l", RightKey: "r", LeftField: "firstname",
		RightField: "firstName", Winner: Right, Policy: "newest", LeftValue: `"Ana"`, RightValue: `"Anna"`}}}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if err := s.FinishRun(ctx, l, Run{ID: id, Sync: "c", Status: RunRejects, Report: `{}`}); err != nil {
		t.Fatal(err)
	}
	runs, _ := s.Runs(ctx, "c", 5)
	if len(runs) != 1 || runs[0].Status != RunRejects || !runs[0].Full || runs[0].Finished.Sub(runs[0].Started) != time.Second || runs[0].Holder != hostA {
		t.Fatalf("runs = %+v", runs)
	}
	cs, _ := s.Conflicts(ctx, "c", 5)
	if len(cs) != 1 || cs[0].RunID != id || cs[0].Winner != Right || cs[0].RightValue != `"Anna"` {
		t.Fatalf("conflicts = %+v", cs)
	}
	curs, _ := s.Cursors(ctx)
	if len(curs) != 0 {
		t.Fatalf("cursors = %+v", curs)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", Cursor: &Cursor{Flow: "f"}}); err == nil {
		t.Fatal("an empty cursor was saved")
	}
}

// Links are found by either side's key with an index search, not by
// reading every link of the sync: a reverse flow looks up each batch's
// records by the right key.
func TestLinksQueriesSearchByKey(t *testing.T) {
	s := openTest(t, tempDB(t), newClock(), Holder{})
	for by, want := range map[Side]string{
		Left:  "SEARCH links USING PRIMARY KEY (sync=? AND left_key=?)",
		Right: "SEARCH links USING INDEX links_by_right (sync=? AND right_key=?)",
	} {
		rows, err := s.db.Query("EXPLAIN QUERY PLAN "+linksQuery(by, 3), "contacts", "a", "b", "c")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) != 1 || plan[0] != want {
			t.Errorf("links by %s: plan %q, want %q", by, plan, want)
		}
	}
}

// TestOrphans stores a survivor's hashes with the forgotten link in one
// Apply, reads them by side and key (across query chunks), replaces and
// clears them.
func TestOrphans(t *testing.T) {
	s := openTest(t, tempDB(t), newClock(), hostA)
	ctx := context.Background()
	l, _ := s.Acquire(ctx, "c", time.Minute)
	if err := s.Apply(ctx, l, &Changes{Sync: "c", PutLinks: []Link{{Left: "L1", Right: "R1"}}}); err != nil {
		t.Fatal(err)
	}
	var orphans []Orphan
	var keys []string
	for i := range 1100 {
		orphans = append(orphans, Orphan{Side: Right, Key: fmt.Sprint("R", i), Hashes: Hashes{"email": uint64(i), "externalId": 7}})
		keys = append(keys, fmt.Sprint("R", i))
	}
	orphans = append(orphans, Orphan{Side: Left, Key: "R5", Hashes: Hashes{"x": 1}})
	if err := s.Apply(ctx, l, &Changes{Sync: "c", DeleteLinks: []string{"L1"}, PutOrphans: orphans}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.LinkCount(ctx, "c"); n != 0 {
		t.Errorf("links = %d after the delete", n)
	}
	got, err := s.Orphans(ctx, "c", Right, append(keys, "missing"))
	if err != nil || len(got) != 1100 || got["R1099"]["email"] != 1099 || got["R5"]["externalId"] != 7 || len(got["R5"]) != 2 {
		t.Fatalf("orphans: %d, %v, %v", len(got), err, got["R5"])
	}
	if got, _ := s.Orphans(ctx, "other", Right, keys[:3]); len(got) != 0 {
		t.Errorf("another sync's orphans: %v", got)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", ClearOrphans: []Orphan{{Side: Right, Key: "R5"}},
		PutOrphans: []Orphan{{Side: Right, Key: "R6", Hashes: Hashes{"email": 60}}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Orphans(ctx, "c", Right, []string{"R5", "R6"})
	if _, ok := got["R5"]; ok || got["R6"]["email"] != 60 || len(got["R6"]) != 1 {
		t.Errorf("after clearing R5 and replacing R6: %v", got)
	}
	if got, _ := s.Orphans(ctx, "c", Left, []string{"R5"}); got["R5"]["x"] != 1 {
		t.Errorf("the left side's orphan R5 went with the right one's: %v", got)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: "c", PutOrphans: []Orphan{{Side: "middle", Key: "x"}}}); err == nil {
		t.Error("an orphan on an unknown side was stored")
	}
}

// A state file SQLite cannot read (another file at its path, a damaged
// page) is refused with what to do, not SQLite's bare code.
func TestDamagedStateSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	notADB := tempDB(t)
	if err := os.MkdirAll(filepath.Dir(notADB), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notADB, bytes.Repeat([]byte("not a database "), 600), 0o600); err != nil {
		t.Fatal(err)
	}

	// A real state whose schema pages are overwritten.
	malformed := tempDB(t)
	s, err := Open(ctx, malformed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, err := os.OpenFile(malformed, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := bytes.Repeat([]byte{0xA5}, 3000)
	if _, err := f.WriteAt(page, 100); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for name, path := range map[string]string{"not a database": notADB, "malformed": malformed} {
		for _, ro := range []bool{false, true} {
			_, err := Open(ctx, path, Options{ReadOnly: ro})
			var de *DamagedError
			if !errors.As(err, &de) {
				t.Errorf("%s (read-only %v): %v; want a DamagedError", name, ro, err)
				continue
			}
			for _, want := range []string{path, "move it aside", "creates no duplicates"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %q does not say %q", name, err, want)
				}
			}
		}
	}
}
