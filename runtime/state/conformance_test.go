package state_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/statetest"
)

// sqliteBackend is the SQLite store for the conformance suite.
var sqliteBackend = statetest.Backend{
	New: func(t *testing.T) string { return filepath.Join(t.TempDir(), ".synclang", "state.db") },
	Open: func(ctx context.Context, loc string, opts state.Options) (state.Store, error) {
		return state.Open(ctx, loc, opts)
	},
	OpenAt: func(ctx context.Context, loc string, v int) (state.Store, error) {
		return state.OpenAtVersion(ctx, loc, v)
	},
	Version:    func(t *testing.T, loc string) int { return sqliteInt(t, loc, `PRAGMA user_version`) },
	SetVersion: func(t *testing.T, loc string, v int) { sqliteInt(t, loc, fmt.Sprintf(`PRAGMA user_version = %d`, v)) },
	Persistent: true,
	Holders:    true,
	Check: func(t *testing.T, loc string) {
		db := sqliteDB(t, loc)
		var check string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("integrity_check = %q, %v", check, err)
		}
	},
}

func sqliteDB(t *testing.T, loc string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqliteInt runs a PRAGMA and returns its integer answer (0 for a
// PRAGMA that sets).
func sqliteInt(t *testing.T, loc, q string) int {
	t.Helper()
	var v int
	if err := sqliteDB(t, loc).QueryRow(q).Scan(&v); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return v
}

func TestSQLiteConformance(t *testing.T) { statetest.Run(t, sqliteBackend) }

// TestCrashChild is the process the suite's KilledWriter test kills.
func TestCrashChild(t *testing.T) { statetest.CrashChild(t, sqliteBackend) }

// memoryBackend is the in-memory store: one process, one client per
// location (a second open of a location is the same store).
func memoryBackend() statetest.Backend {
	stores := map[string]*state.Memory{}
	return statetest.Backend{
		New: func(t *testing.T) string { return t.Name() + fmt.Sprint(len(stores)) },
		Open: func(ctx context.Context, loc string, opts state.Options) (state.Store, error) {
			if m, ok := stores[loc]; ok {
				return m, nil
			}
			stores[loc] = state.NewMemory(opts.Now)
			return stores[loc], nil
		},
	}
}

func TestMemoryConformance(t *testing.T) { statetest.Run(t, memoryBackend()) }
