package state

import (
	"context"
	"fmt"
	"strings"
)

// Table is one table of the state schema with its columns, named as in
// every SQL backend's schema (runtime/state/postgres uses SQLite's names),
// so rows can be copied between them column for column.
type Table struct {
	Name    string
	Columns []string
}

// LocksTable holds the leases of running processes.
var LocksTable = Table{"locks", []string{"sync", "host", "pid", "token", "acquired_at", "expires_at"}}

// CopiedTables are the tables of schema version [SchemaVersion] that
// `synclang state copy` moves: everything but the locks, which belong to
// the processes running against the source.
var CopiedTables = []Table{
	{"cursors", []string{"sync", "flow", "token", "updated_at"}},
	{"links", []string{"sync", "left_key", "right_key", "left_hashes", "right_hashes", "synced_at"}},
	{"rejects", []string{"sync", "flow", "key", "target_key", "field", "range_file", "range_line", "range_col", "range_end_line", "range_end_col",
		"kind", "reason", "first_seen", "last_seen", "attempts"}},
	{"intents", []string{"sync", "flow", "key", "created_at", "target_key", "print", "run_id"}},
	{"conflicts", []string{"id", "sync", "run_id", "left_key", "right_key", "left_field", "right_field", "winner", "policy", "left_value", "right_value", "at"}},
	{"runs", []string{"id", "sync", "host", "pid", "full", "started_at", "finished_at", "status", "report", "error"}},
	{"orphans", []string{"sync", "side", "key", "hashes", "at"}},
}

// Export reads tables in one read transaction, a consistent snapshot even
// while a sync writes, and calls each per table with a function that
// returns the table's next row (int64, string, []byte or nil per column)
// and nil at the end.
func (s *SQLite) Export(ctx context.Context, tables []Table, each func(t Table, next func() ([]any, error)) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("reading the state", err)
	}
	defer tx.Rollback()
	for _, t := range tables {
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = `"` + c + `"`
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+t.Name)
		if err != nil {
			return s.wrap("reading table "+t.Name, err)
		}
		next := func() ([]any, error) {
			if !rows.Next() {
				return nil, rows.Err()
			}
			vals := make([]any, len(t.Columns))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return nil, fmt.Errorf("table %s: %w", t.Name, err)
			}
			return vals, nil
		}
		err = each(t, next)
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
