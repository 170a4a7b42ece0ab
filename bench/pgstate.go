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
	Records int
	// Rounds are the loads in the order they ran (ABBA: sqlite,
	// postgres, postgres, sqlite, ...), so a machine whose load drifts
	// during the run favours neither backend.
	Rounds []StateRound
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

// StateRound is one initial load with the state in Backend.
type StateRound struct {
	Backend string
	Load    *LoadResult
}

// rates returns a backend's throughput over all its rounds: records over
// the sum of the durations, of the first flow and of the whole pass.
func (r *StateResult) rates(backend string) (flow, pass float64) {
	var n int
	var df, dp time.Duration
	for _, rd := range r.Rounds {
		if rd.Backend == backend {
			n += rd.Load.Records
			df += rd.Load.Flow.Duration
			dp += rd.Load.Pass.Duration
		}
	}
	return rate(n, df), rate(n, dp)
}

// Ratio is the PostgreSQL passes' throughput over the SQLite passes'.
func (r *StateResult) Ratio() float64 {
	_, s := r.rates("sqlite")
	_, p := r.rates("postgres")
	return p / s
}

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
	var order []string
	for i := range max(o.StateRounds, 1) {
		if i%2 == 0 {
			order = append(order, "sqlite", "postgres")
		} else {
			order = append(order, "postgres", "sqlite")
		}
	}
	for i, backend := range order {
		progress(o, "state: initial load %d of %d: %d contacts with the state in %s", i+1, len(order), o.StateRecords, backend)
		svc, err := startInProcess(serviceOptions{Contacts: o.StateRecords, Limits: o.Limits, Scale: o.Scale})
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(o.Dir, fmt.Sprintf("state-%d-%s", i, backend))
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
			// Each round starts from an empty state, as the SQLite round
			// does in its own directory.
			if err = resetSchema(ctx, schemaDSN); err == nil {
				pg, err = postgres.Open(ctx, schemaDSN, state.Options{})
			}
			if err != nil {
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
				res.Rounds = append(res.Rounds, StateRound{backend, lr})
				if pg != nil {
					after := pg.Stats()
					res.Stats = postgres.Stats{Statements: after.Statements - before.Statements, RoundTrips: after.RoundTrips - before.RoundTrips,
						RowsWritten: after.RowsWritten - before.RowsWritten}
					res.Read = 0
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

// resetSchema drops synclang's tables from the schema dsn uses.
func resetSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP TABLE IF EXISTS synclang_schema, locks, cursors, links, rejects, intents, conflicts, runs, orphans`)
	return err
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
	fmt.Fprintf(w, "\nSTATE IN POSTGRESQL (the contacts sync's initial load, %d records, on fresh emulators seeded alike, %d loads in ABBA order)\n", r.Records, len(r.Rounds))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "load\tstate\tfirst flow\twhole pass\n")
	for i, rd := range r.Rounds {
		fmt.Fprintf(tw, "%d\t%s\t%.0f records/s\t%.0f records/s\n", i+1, rd.Backend, rd.Load.FlowRate(), rd.Load.PassRate())
	}
	tw.Flush()
	sf, sp := r.rates("sqlite")
	pf, pp := r.rates("postgres")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "figure (all loads of a backend)\tsqlite\tpostgres\tratio\tgoal\n")
	fmt.Fprintf(tw, "first flow\t%.0f records/s\t%.0f records/s\t%.3f\t\n", sf, pf, pf/sf)
	fmt.Fprintf(tw, "whole pass\t%.0f records/s\t%.0f records/s\t%.3f\t>= 0.95\n", sp, pp, r.Ratio())
	tw.Flush()
	per := float64(max(r.Read, 1)) / 1000
	fmt.Fprintf(w, "PostgreSQL per 1000 records read (%d read by the last pass's two flows): %.1f statements, %.1f round trips, %.0f rows written\n",
		r.Read, float64(r.Stats.Statements)/per, float64(r.Stats.RoundTrips)/per, float64(r.Stats.RowsWritten)/per)
	if r.Links > 0 {
		m := 1e6 / float64(r.Links)
		fmt.Fprintf(w, "size per million links (extrapolated linearly from %d measured): PostgreSQL links table with indexes %.0f MB, all tables %.0f MB; SQLite file %.0f MB\n",
			r.Links, float64(r.LinksBytes)*m/(1<<20), float64(r.DBBytes)*m/(1<<20), float64(r.SQLiteBytes)*m/(1<<20))
	}
}
