package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
)

// StateResult compares the initial load of the contacts sync with its
// state in SQLite and in PostgreSQL, on the same data at the same limits
// (issue 15, "Benchmarks"), and what the PostgreSQL state costs.
type StateResult struct {
	Records          int
	SQLite, Postgres *LoadResult
	// Stats are the PostgreSQL store's statements, round trips and rows
	// written during its pass; Read the records the pass's flows read
	// (both directions).
	Stats postgres.Stats
	Read  int
	// Links is the pairs stored; LinksBytes the links table with its
	// indexes and TOAST, DBBytes every table of the schema, SQLiteBytes
	// the SQLite file (checkpointed) after its load.
	Links                            int
	LinksBytes, DBBytes, SQLiteBytes int64
}

// Ratio is the PostgreSQL pass's throughput over the SQLite pass's.
func (r *StateResult) Ratio() float64 { return r.Postgres.PassRate() / r.SQLite.PassRate() }

// measureState runs the contacts sync's initial load twice on fresh
// emulators seeded alike, once per state backend. The PostgreSQL state
// lives in a schema of its own in the database dsn names, dropped after.
func measureState(ctx context.Context, o Options, p *plan.Plan, dsn string) (*StateResult, error) {
	res := &StateResult{Records: o.StateRecords}
	var sync *plan.Sync
	for _, s := range p.Syncs {
		if s.Name == "contacts" {
			sync = s
		}
	}
	if sync == nil {
		return nil, fmt.Errorf("the project has no contacts sync")
	}
	schemaDSN, drop, err := benchSchema(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer drop()
	for _, backend := range []string{"sqlite", "postgres"} {
		progress(o, "state: initial load of %d contacts with the state in %s", o.StateRecords, backend)
		svc, err := startInProcess(serviceOptions{Contacts: o.StateRecords, Limits: o.Limits, Scale: o.Scale})
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(o.Dir, "state-"+backend)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			svc.close()
			return nil, err
		}
		pr, err := openProject(ctx, p, svc, o.Scale, dir, o.Logger)
		if err != nil {
			svc.close()
			return nil, err
		}
		var pg *postgres.Store
		if backend == "postgres" {
			if pg, err = postgres.Open(ctx, schemaDSN, state.Options{}); err != nil {
				pr.close()
				svc.close()
				return nil, err
			}
			pr.store.Close()
			pr.store = pg
		}
		pr.progress = func(format string, args ...any) { progress(o, format, args...) }
		before := postgres.Stats{}
		if pg != nil {
			before = pg.Stats()
		}
		rep, sent, err := pr.run(ctx, sync.Name, o.Engine)
		if err == nil {
			sr := rep.Syncs[0]
			lr := &LoadResult{Sync: sync.Name, Records: o.StateRecords, Flow: sr.Flows[0], Pass: sr, Sent: sent}
			if err = checkLoad(lr); err == nil {
				lr.Bound = loadBound(pr, sync, o.StateRecords, o.Scale)
				if pg == nil {
					res.SQLite = lr
				} else {
					res.Postgres = lr
					after := pg.Stats()
					res.Stats = postgres.Stats{Statements: after.Statements - before.Statements, RoundTrips: after.RoundTrips - before.RoundTrips,
						RowsWritten: after.RowsWritten - before.RowsWritten}
					for _, f := range sr.Flows {
						res.Read += f.Read
					}
					err = pgSizes(ctx, pg, res)
				}
				progress(o, "  %s: pass %.0f records/s", backend, lr.PassRate())
			}
		}
		pr.close()
		svc.close()
		if err == nil && pg == nil {
			res.SQLiteBytes, err = sqliteSize(ctx, filepath.Join(dir, "state.db"))
		}
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", backend, err)
		}
	}
	return res, nil
}

// benchSchema creates a schema of its own in dsn's database and returns a
// DSN that uses it, and a function that drops it.
func benchSchema(ctx context.Context, dsn string) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "synclang_bench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("--state-postgres %s: %w", postgres.Redact(dsn), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`)
			conn.Close(ctx)
		}
	}
	return u.String(), drop, nil
}

func pgSizes(ctx context.Context, pg *postgres.Store, res *StateResult) error {
	// VACUUM (ANALYZE) settles the free space map, so sizes are of the
	// data, as they would be on a server that has run a while.
	if _, err := pg.Pool().Exec(ctx, `VACUUM ANALYZE links`); err != nil {
		return err
	}
	return pg.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM links), pg_total_relation_size('links'),
		(SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind = 'r')::bigint`).Scan(&res.Links, &res.LinksBytes, &res.DBBytes)
}

func sqliteSize(ctx context.Context, path string) (int64, error) {
	st, err := state.Open(ctx, path, state.Options{})
	if err != nil {
		return 0, err
	}
	st.Close() // the last connection's close checkpoints the WAL
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func writeState(w io.Writer, r *StateResult) {
	fmt.Fprintf(w, "\nSTATE IN POSTGRESQL (the contacts sync's initial load, %d records, once per backend on fresh emulators seeded alike)\n", r.Records)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "figure\tsqlite\tpostgres\tratio\tgoal\n")
	fmt.Fprintf(tw, "first flow\t%.0f records/s\t%.0f records/s\t%.3f\t\n", r.SQLite.FlowRate(), r.Postgres.FlowRate(), r.Postgres.FlowRate()/r.SQLite.FlowRate())
	fmt.Fprintf(tw, "whole pass\t%.0f records/s\t%.0f records/s\t%.3f\t>= 0.95\n", r.SQLite.PassRate(), r.Postgres.PassRate(), r.Ratio())
	tw.Flush()
	per := float64(max(r.Read, 1)) / 1000
	fmt.Fprintf(w, "PostgreSQL per 1000 records read (%d read by the pass's two flows): %.1f statements, %.1f round trips, %.0f rows written\n",
		r.Read, float64(r.Stats.Statements)/per, float64(r.Stats.RoundTrips)/per, float64(r.Stats.RowsWritten)/per)
	if r.Links > 0 {
		m := 1e6 / float64(r.Links)
		fmt.Fprintf(w, "size per million links (extrapolated linearly from %d measured): PostgreSQL links table with indexes %.0f MB, all tables %.0f MB; SQLite file %.0f MB\n",
			r.Links, float64(r.LinksBytes)*m/(1<<20), float64(r.DBBytes)*m/(1<<20), float64(r.SQLiteBytes)*m/(1<<20))
	}
}
