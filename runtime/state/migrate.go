package state

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one step of the schema: it takes the database from version
// index to index+1 (the first step creates version 1).
type migration struct {
	name  string
	stmts []string
}

// migrations is the schema history. Append new steps; never edit one that
// has shipped.
var migrations = []migration{
	{name: "initial schema", stmts: []string{
		`CREATE TABLE locks (
			sync        TEXT PRIMARY KEY,
			host        TEXT NOT NULL,
			pid         INTEGER NOT NULL,
			token       TEXT NOT NULL,
			acquired_at INTEGER NOT NULL,
			expires_at  INTEGER NOT NULL
		)`,
		`CREATE TABLE cursors (
			sync       TEXT NOT NULL,
			flow       TEXT NOT NULL,
			token      TEXT NOT NULL,
			updated_at INTEGER NOT NULL,
			PRIMARY KEY (sync, flow)
		) WITHOUT ROWID`,
		`CREATE TABLE links (
			sync         TEXT NOT NULL,
			left_key     TEXT NOT NULL,
			right_key    TEXT NOT NULL,
			left_hashes  BLOB,
			right_hashes BLOB,
			synced_at    INTEGER NOT NULL,
			PRIMARY KEY (sync, left_key)
		) WITHOUT ROWID`,
		`CREATE UNIQUE INDEX links_by_right ON links (sync, right_key)`,
		`CREATE TABLE rejects (
			sync           TEXT NOT NULL,
			flow           TEXT NOT NULL,
			key            TEXT NOT NULL,
			target_key     TEXT NOT NULL DEFAULT '',
			field          TEXT NOT NULL DEFAULT '',
			range_file     TEXT NOT NULL DEFAULT '',
			range_line     INTEGER NOT NULL DEFAULT 0,
			range_col      INTEGER NOT NULL DEFAULT 0,
			range_end_line INTEGER NOT NULL DEFAULT 0,
			range_end_col  INTEGER NOT NULL DEFAULT 0,
			kind           TEXT NOT NULL,
			reason         TEXT NOT NULL,
			first_seen     INTEGER NOT NULL,
			last_seen      INTEGER NOT NULL,
			attempts       INTEGER NOT NULL DEFAULT 1,
			PRIMARY KEY (sync, flow, key)
		) WITHOUT ROWID`,
		`CREATE TABLE intents (
			sync       TEXT NOT NULL,
			flow       TEXT NOT NULL,
			key        TEXT NOT NULL,
			created_at INTEGER NOT NULL,
			PRIMARY KEY (sync, flow, key)
		) WITHOUT ROWID`,
		`CREATE TABLE conflicts (
			id          INTEGER PRIMARY KEY,
			sync        TEXT NOT NULL,
			run_id      INTEGER NOT NULL DEFAULT 0,
			left_key    TEXT NOT NULL,
			right_key   TEXT NOT NULL,
			left_field  TEXT NOT NULL,
			right_field TEXT NOT NULL,
			winner      TEXT NOT NULL,
			policy      TEXT NOT NULL,
			left_value  TEXT NOT NULL,
			right_value TEXT NOT NULL,
			at          INTEGER NOT NULL
		)`,
		`CREATE INDEX conflicts_by_sync ON conflicts (sync, id)`,
		`CREATE TABLE runs (
			id          INTEGER PRIMARY KEY,
			sync        TEXT NOT NULL,
			host        TEXT NOT NULL,
			pid         INTEGER NOT NULL,
			full        INTEGER NOT NULL DEFAULT 0,
			started_at  INTEGER NOT NULL,
			finished_at INTEGER NOT NULL DEFAULT 0,
			status      TEXT NOT NULL,
			report      TEXT NOT NULL DEFAULT '',
			error       TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX runs_by_sync ON runs (sync, id)`,
	}},
	{name: "orphans", stmts: []string{
		`CREATE TABLE orphans (
			sync   TEXT NOT NULL,
			side   TEXT NOT NULL,
			key    TEXT NOT NULL,
			hashes BLOB,
			at     INTEGER NOT NULL,
			PRIMARY KEY (sync, side, key)
		) WITHOUT ROWID`,
	}},
	{name: "intents find their created records", stmts: []string{
		`ALTER TABLE intents ADD COLUMN target_key TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE intents ADD COLUMN print INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE intents ADD COLUMN run_id INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX intents_by_target ON intents (sync, flow, target_key)`,
		`CREATE INDEX intents_by_print ON intents (sync, flow, print)`,
	}},
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

// migrate brings db to len(steps), one transaction per step, and refuses a
// database newer than the steps it knows.
func migrate(ctx context.Context, db *sql.DB, path string, steps []migration) error {
	var have int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&have); err != nil {
		return fmt.Errorf("state %s: reading the schema version: %w", path, err)
	}
	if have > len(steps) {
		return fmt.Errorf("state %s has schema version %d, but this synclang knows only up to %d: it was written by a newer synclang; upgrade synclang (or use another --state file)", path, have, len(steps))
	}
	for v := have; v < len(steps); v++ {
		if err := migrateStep(ctx, db, v+1, steps[v]); err != nil {
			return fmt.Errorf("state %s: migrating to schema version %d (%s): %w", path, v+1, steps[v].name, err)
		}
	}
	return nil
}

// checkVersion is migrate for a database opened read-only: it cannot
// migrate, so it accepts only the current schema.
func checkVersion(ctx context.Context, db *sql.DB, path string, steps []migration) error {
	var have int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&have); err != nil {
		return fmt.Errorf("state %s: reading the schema version: %w", path, err)
	}
	switch {
	case have > len(steps):
		return fmt.Errorf("state %s has schema version %d, but this synclang knows only up to %d: it was written by a newer synclang; upgrade synclang (or use another --state file)", path, have, len(steps))
	case have < len(steps):
		return fmt.Errorf("state %s has schema version %d and this synclang reads version %d: it must be migrated, which a read-only open cannot do; run `synclang run` (or any command that writes the state) once with write access (if one is running now, it is migrating the state: try again when it has started)", path, have, len(steps))
	}
	return nil
}

func migrateStep(ctx context.Context, db *sql.DB, version int, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Another process may have migrated meanwhile: the transaction holds
	// the write lock (BEGIN IMMEDIATE), so re-read the version under it.
	var have int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&have); err != nil {
		return err
	}
	if have >= version {
		return nil
	}
	for _, s := range m.stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	// PRAGMA takes no parameters; version is an int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, version)); err != nil {
		return err
	}
	return tx.Commit()
}
