package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/internal/testkit"
)

// newClock is the tests' settable clock, at a fixed start.
func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) }

func openTest(t *testing.T, path string, clk *testkit.Clock, h Holder) *SQLite {
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
