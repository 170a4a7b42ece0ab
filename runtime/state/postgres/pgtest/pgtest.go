// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the server that SYNCLANG_TEST_POSTGRES names, dropped when the
// test ends. Tests that need PostgreSQL skip, saying how to enable them,
// only when the variable is unset; CI always sets it (.ci/run starts the
// server).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test server, e.g.
// postgres://synclang:PASSWORD@127.0.0.1:5432/synclang_test.
const Env = "SYNCLANG_TEST_POSTGRES"

// SkipMessage says how to enable the PostgreSQL tests.
const SkipMessage = Env + " is not set: the PostgreSQL tests need a server. Start one and set it, e.g. " +
	"`pg_ctlcluster 15 main start` and " + Env + "=postgres://synclang:PASSWORD@127.0.0.1:5432/synclang_test (README \"Tests\" says how to create the role and database)"

// Server returns the DSN of the test server, skipping the test when none
// is configured.
func Server(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip(SkipMessage)
	}
	return dsn
}

// Schema creates a schema of its own in the test server and returns a DSN
// whose connections use it (search_path), so the test sees an empty
// database. The schema is dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	dsn, _ := NewSchema(t)
	return dsn
}

// NewSchema is Schema, also returning the schema's name. When the test
// ends it drops the schema and the schemas named after it (NAME_…: those
// `serve --queue` makes for each project's state).
func NewSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn = Server(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "synclang_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", Env, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("pgtest: dropping schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')`, name)
		if err != nil {
			t.Logf("pgtest: dropping schema %s: %v", name, err)
			return
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Logf("pgtest: dropping schema %s: %v", name, err)
			return
		}
		for _, n := range names {
			if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{n}.Sanitize()+` CASCADE`); err != nil {
				t.Logf("pgtest: dropping schema %s: %v", n, err)
			}
		}
	})
	return WithSchema(t, dsn, name), name
}

// WithSchema returns dsn with its connections' search_path set to schema.
func WithSchema(t testing.TB, dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs statements on dsn (a test's own database), failing the test
// on error.
func Exec(t testing.TB, dsn string, sql ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("pgtest: %s: %v", s, err)
		}
	}
}
