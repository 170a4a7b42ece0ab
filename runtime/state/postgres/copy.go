package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/synclang/synclang/runtime/state"
)

// CopyOptions tune CopyFromSQLite.
type CopyOptions struct {
	// Overwrite replaces what the target holds; without it a target that
	// holds any state is refused.
	Overwrite bool
	// Now is the clock that decides whether a lock is live (default
	// time.Now).
	Now func() time.Time
}

// CopyFromSQLite copies an SQLite state into dst: cursors, links with
// their hashes, rejects, intents, conflicts, runs (the history) and
// orphans, in one transaction of the target (with COPY), from one read
// transaction of the source, so a project moves to PostgreSQL without a
// resync. It refuses while a process holds a live lock on either side
// (its writes after the copy would be lost, or mixed in), and a target
// that holds state unless opts.Overwrite. It returns the rows copied per
// table.
func CopyFromSQLite(ctx context.Context, src *state.SQLite, dst *Store, opts CopyOptions) (map[string]int64, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := dst.writable(); err != nil {
		return nil, err
	}
	now := nanos(opts.Now())
	counts := map[string]int64{}
	err := pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error {
		// Lock the target's tables for the copy: no process starts a sync
		// on it half-way.
		var names []string
		for _, t := range append([]state.Table{state.LocksTable}, state.CopiedTables...) {
			names = append(names, dst.table(t.Name))
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var sync string
		var h state.Holder
		err := tx.QueryRow(ctx, dst.sql(`SELECT sync, host, pid FROM locks WHERE expires_at > $1 LIMIT 1`), now).Scan(&sync, &h.Host, &h.PID)
		switch {
		case err == nil:
			return fmt.Errorf("sync %s is running against the target (%s holds its lock); stop every synclang using %s first", sync, h, dst.name)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var used []string
		for _, t := range state.CopiedTables {
			var any bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+dst.table(t.Name)+`)`).Scan(&any); err != nil {
				return err
			}
			if any {
				used = append(used, t.Name)
			}
		}
		if len(used) > 0 && !opts.Overwrite {
			return fmt.Errorf("the target %s already holds state (%s): refusing to overwrite it; pass --overwrite to replace it", dst.name, strings.Join(used, ", "))
		}
		if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(names, ", ")); err != nil {
			return err
		}
		err = src.Export(ctx, append([]state.Table{state.LocksTable}, state.CopiedTables...), func(t state.Table, next func() ([]any, error)) error {
			if t.Name == state.LocksTable.Name {
				return checkSourceLocks(next, now, src.Path())
			}
			n, err := tx.CopyFrom(ctx, dst.ident(t.Name), t.Columns, pgx.CopyFromFunc(next))
			if err != nil {
				return fmt.Errorf("copying table %s: %w", t.Name, err)
			}
			counts[t.Name] = n
			return nil
		})
		if err != nil {
			return err
		}
		// Later runs and conflicts get ids after the copied ones.
		for _, t := range []string{"runs", "conflicts"} {
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE((SELECT max(id) FROM `+dst.table(t)+`), 0) + 1, false)`, dst.table(t)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, dst.wrap("copying "+src.Path(), err)
	}
	return counts, nil
}

func checkSourceLocks(next func() ([]any, error), now int64, path string) error {
	for {
		row, err := next()
		if err != nil || row == nil {
			return err
		}
		if exp, _ := row[5].(int64); exp > now {
			pid, _ := row[2].(int64)
			return fmt.Errorf("sync %v is running against %s (%v pid %d holds its lock); stop it first, or the writes it makes after the copy are lost", row[0], path, row[1], pid)
		}
	}
}
