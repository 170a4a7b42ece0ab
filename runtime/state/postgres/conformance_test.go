package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
	"github.com/synclang/synclang/runtime/state/postgres/pgtest"
	"github.com/synclang/synclang/runtime/state/statetest"
)

// backend is the PostgreSQL store for the conformance suite: each
// location is a fresh schema of the test server (pgtest).
var backend = statetest.Backend{
	New: func(t *testing.T) string { return pgtest.Schema(t) },
	Open: func(ctx context.Context, loc string, opts state.Options) (state.Store, error) {
		return postgres.Open(ctx, loc, opts)
	},
	OpenAt: func(ctx context.Context, loc string, v int) (state.Store, error) {
		return postgres.OpenAtVersion(ctx, loc, v)
	},
	Version: func(t *testing.T, loc string) int {
		var v int
		queryRow(t, loc, `SELECT version FROM synclang_schema`).Scan(&v)
		return v
	},
	SetVersion: func(t *testing.T, loc string, v int) {
		pgtest.Exec(t, loc, fmt.Sprintf(`UPDATE synclang_schema SET version = %d`, v))
	},
	Persistent: true,
	Holders:    true,
}

func queryRow(t *testing.T, dsn, q string) pgx.Row {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn.QueryRow(ctx, q)
}

func TestConformance(t *testing.T) { statetest.Run(t, backend) }

// TestCrashChild is the process the suite's KilledWriter test kills.
func TestCrashChild(t *testing.T) { statetest.CrashChild(t, backend) }
