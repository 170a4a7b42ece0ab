package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// schemaBackend opens the same locations through OpenPoolSchema on a pool
// whose connections do not see the schema (no search_path): every table
// must be qualified, as when many projects share River's pool.
var schemaBackend = statetest.Backend{
	New: func(t *testing.T) string { return pgtest.Schema(t) },
	Open: func(ctx context.Context, loc string, opts state.Options) (state.Store, error) {
		u, err := url.Parse(loc)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		schema := q.Get("search_path")
		q.Del("search_path")
		u.RawQuery = q.Encode()
		pool, err := pgxpool.New(ctx, u.String())
		if err != nil {
			return nil, err
		}
		st, err := postgres.OpenPoolSchema(ctx, pool, schema, opts)
		if err != nil {
			pool.Close()
			return nil, err
		}
		return poolStore{st, pool}, nil
	},
	Version:    backend.Version,
	SetVersion: backend.SetVersion,
	Persistent: true,
	Holders:    true,
}

// poolStore closes the pool the test made with the store.
type poolStore struct {
	*postgres.Store
	pool *pgxpool.Pool
}

func (s poolStore) Close() error { s.Store.Close(); s.pool.Close(); return nil }

func TestConformanceSchema(t *testing.T) { statetest.Run(t, schemaBackend) }

// TestSchemaNotOnSearchPath: a store in its own schema creates it and
// leaves the connections' own schema (public) alone.
func TestSchemaNotOnSearchPath(t *testing.T) {
	dsn := pgtest.Schema(t) // search_path: an empty schema of this test
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	name := "synclang_tenant_" + fmt.Sprint(time.Now().UnixNano())
	t.Cleanup(func() { pgtest.Exec(t, dsn, `DROP SCHEMA IF EXISTS `+name+` CASCADE`) })
	st, err := postgres.OpenPoolSchema(ctx, pool, name, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Acquire(ctx, "contacts", time.Minute)
	if err == nil {
		err = st.Apply(ctx, l, &state.Changes{Sync: "contacts", PutLinks: []state.Link{{Left: "a", Right: "b"}}})
	}
	if err != nil {
		t.Fatal(err)
	}
	var inSchema, onPath int
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, name).Scan(&inSchema)
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&onPath)
	if inSchema != 9 || onPath != 0 {
		t.Fatalf("tables: %d in %s (want 9), %d on the search_path (want 0)", inSchema, name, onPath)
	}
}
