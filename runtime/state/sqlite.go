package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultPath is where the CLI keeps the state, relative to the directory
// of the .sync files.
const DefaultPath = ".synclang/state.db"

// Options tune an SQLite store; the zero value is right for production.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Holder identifies this process in locks and runs (default: the host
	// name and process id).
	Holder Holder
	// Alive reports whether a process of this host is still running; it
	// lets Acquire take over a lock left by a crashed local process at once.
	// Default: a signal-0 probe where the platform supports one.
	Alive func(pid int) bool
	// ReadOnly opens an existing database for reading only (status,
	// rejects): nothing is created, migrated or written, so it works on a
	// state file or directory the process may not write. Writes fail.
	ReadOnly bool
}

// SQLite is the embedded Store: one database file (with its WAL).
type SQLite struct {
	db    *sql.DB
	path  string
	now   func() time.Time
	self  Holder
	alive func(int) bool
}

var _ Store = (*SQLite)(nil)

// Open opens (creating it and its directory if needed) the state database
// at path and migrates it to the current schema.
func Open(ctx context.Context, path string, opts Options) (*SQLite, error) {
	return openWith(ctx, path, opts, migrations)
}

func openWith(ctx context.Context, path string, opts Options, steps []migration) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("state: no database path given")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("state: database path %q must not contain ? or #", path)
	}
	var dsn string
	if opts.ReadOnly {
		var err error
		if dsn, err = readOnlyDSN(path); err != nil {
			return nil, err
		}
	} else {
		if err := createMigrated(ctx, path, steps); err != nil {
			return nil, err
		}
		if err := createPrivate(path); err != nil {
			return nil, err
		}
		dsn = writeDSN(path)
	}
	db, err := openDB(ctx, path, dsn)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		err = checkVersion(ctx, db, path, steps)
	} else {
		err = migrate(ctx, db, path, steps)
	}
	if err != nil {
		db.Close()
		return nil, damaged(path, err)
	}
	s := &SQLite{db: db, path: path, now: opts.Now, self: opts.Holder, alive: opts.Alive}
	if s.now == nil {
		s.now = time.Now
	}
	if s.self.Host == "" {
		s.self.Host, _ = os.Hostname()
	}
	if s.self.PID == 0 {
		s.self.PID = os.Getpid()
	}
	if s.alive == nil {
		s.alive = processAlive
	}
	return s, nil
}

// writeDSN opens path for reading and writing. WAL lets readers (status,
// plan) run while a sync writes; synchronous FULL makes a committed batch
// survive power loss, not just a crash of the process; _txlock=immediate
// takes the write lock at BEGIN so two writers queue on busy_timeout
// instead of failing to upgrade a read lock.
func writeDSN(path string) string {
	return path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

func openDB(ctx context.Context, path, dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, damaged(path, fmt.Errorf("state %s: cannot open the database: %w", path, err))
	}
	return db, nil
}

// DamagedError is a state file SQLite cannot read as a database: not one
// at all (another file at its path, a truncated copy) or a damaged one.
type DamagedError struct {
	Path string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%v\nthe state file is damaged or is not a synclang state: move it aside (mv %s %s.damaged) and run again;"+
		" the next run pairs the records again by the link (People's externalId) and the match keys, so it creates no duplicates,"+
		" but rejects, conflicts and the run history start over", e.Err, e.Path, e.Path)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// damaged turns SQLite's "file is not a database" (26) and "database disk
// image is malformed" (11) into a DamagedError that says what to do.
func damaged(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
		return &DamagedError{Path: path, Err: err}
	}
	return err
}

// createMigrated creates the database at path, if there is none, whole:
// built and migrated under a private temporary name in the same directory,
// in WAL mode, then linked into place, so no other process ever opens a
// database that is still being created. A reader (`synclang status` while
// the first `run` creates the state) would otherwise find schema version
// 0, and a second writer would meet the first one's journal-mode switch,
// which SQLite answers with SQLITE_BUSY without waiting (the switch needs
// an exclusive lock, and a waiting reader could deadlock it). Two
// processes creating at once both build one; the first link wins and the
// other opens the winner's.
func createMigrated(ctx context.Context, path string, steps []migration) error {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // there is one (or Stat fails, and opening it will say why)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("state: creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("state: creating %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"} {
			_ = os.Remove(p)
		}
	}()
	// CreateTemp makes the file 0600.
	db, err := openDB(ctx, path, writeDSN(tmp))
	if err != nil {
		return err
	}
	if err := migrate(ctx, db, path, steps); err != nil {
		db.Close()
		return err
	}
	// Closing the last connection checkpoints the WAL into the file (and
	// syncs it: synchronous FULL); the file stays in WAL mode.
	if err := db.Close(); err != nil {
		return fmt.Errorf("state %s: creating the database: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("state: creating %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// Path returns the database file's path.
func (s *SQLite) Path() string { return s.path }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// UnixNanos is how the stores keep a time: Unix nanoseconds, 0 for none.
func UnixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromUnixNanos reads a time UnixNanos stored.
func FromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// NewLeaseToken is a fresh lease token (128 random bits, hex).
func NewLeaseToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

var (
	nanos     = UnixNanos
	fromNanos = FromUnixNanos
	newToken  = NewLeaseToken
)

func (s *SQLite) wrap(what string, err error) error {
	if err == nil || errors.Is(err, ErrLockLost) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var le *LockedError
	if errors.As(err, &le) {
		return err
	}
	return fmt.Errorf("state %s: %s: %w", s.path, what, err)
}

// Acquire takes the lock of sync (see the package documentation).
func (s *SQLite) Acquire(ctx context.Context, sync string, ttl time.Duration) (*Lease, error) {
	if ttl <= 0 {
		return nil, errors.New("state: lock TTL must be positive")
	}
	l, err := s.acquire(ctx, sync, ttl)
	return l, s.wrap("locking sync "+sync, err)
}

func (s *SQLite) acquire(ctx context.Context, sync string, ttl time.Duration) (*Lease, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.now()
	var h Holder
	var expires int64
	err = tx.QueryRowContext(ctx, `SELECT host, pid, expires_at FROM locks WHERE sync = ?`, sync).Scan(&h.Host, &h.PID, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		held := fromNanos(expires).After(now)
		if held && h.Host == s.self.Host && h.PID != s.self.PID && !s.alive(h.PID) {
			held = false // left behind by a crashed process of this host
		}
		if held {
			return nil, &LockedError{Sync: sync, Holder: h, Expires: fromNanos(expires)}
		}
	}
	l := &Lease{Sync: sync, Holder: s.self, Token: newToken(), Expires: now.Add(ttl), TTL: ttl}
	_, err = tx.ExecContext(ctx, `INSERT INTO locks (sync, host, pid, token, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (sync) DO UPDATE SET host = excluded.host, pid = excluded.pid, token = excluded.token,
			acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
		sync, l.Holder.Host, l.Holder.PID, l.Token, nanos(now), nanos(l.Expires))
	if err != nil {
		return nil, err
	}
	return l, tx.Commit()
}

// Renew extends the lease by its TTL.
func (s *SQLite) Renew(ctx context.Context, l *Lease) error {
	exp := s.now().Add(l.TTL)
	res, err := s.db.ExecContext(ctx, `UPDATE locks SET expires_at = ? WHERE sync = ? AND token = ?`, nanos(exp), l.Sync, l.Token)
	if err != nil {
		return s.wrap("renewing the lock of sync "+l.Sync, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLockLost
	}
	l.Expires = exp
	return nil
}

// Release gives the lock up.
func (s *SQLite) Release(ctx context.Context, l *Lease) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM locks WHERE sync = ? AND token = ?`, l.Sync, l.Token)
	return s.wrap("releasing the lock of sync "+l.Sync, err)
}

// checkLease fails with ErrLockLost unless l still holds its sync's lock.
// A lease that expired but was not taken over is still held: no other
// process can have written meanwhile, because taking over replaces the
// token.
func checkLease(ctx context.Context, tx *sql.Tx, l *Lease, sync string) error {
	if l == nil {
		return errors.New("no lease: writes need the sync's lock")
	}
	if l.Sync != sync {
		return fmt.Errorf("the lease is for sync %s, not %s", l.Sync, sync)
	}
	var token string
	err := tx.QueryRowContext(ctx, `SELECT token FROM locks WHERE sync = ?`, sync).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && token != l.Token) {
		return ErrLockLost
	}
	return err
}

// Cursor returns the saved cursor of a flow.
func (s *SQLite) Cursor(ctx context.Context, sync, flow string) (string, error) {
	var tok string
	err := s.db.QueryRowContext(ctx, `SELECT token FROM cursors WHERE sync = ? AND flow = ?`, sync, flow).Scan(&tok)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return tok, s.wrap("reading the cursor of "+sync+" "+flow, err)
}

// chunk is the most keys bound in one IN (...) list.
const chunk = 500

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Links returns the links whose key on side by is one of keys.
func (s *SQLite) Links(ctx context.Context, sync string, by Side, keys []string) (map[string]Link, error) {
	if by != Left && by != Right {
		return nil, fmt.Errorf("state: unknown side %q", by)
	}
	out := make(map[string]Link, len(keys))
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, 0, len(part)+1)
		args = append(args, sync)
		for _, k := range part {
			args = append(args, k)
		}
		rows, err := s.db.QueryContext(ctx, linksQuery(by, len(part)), args...)
		if err != nil {
			return nil, s.wrap("reading links of "+sync, err)
		}
		for rows.Next() {
			var l Link
			var lh, rh []byte
			var at int64
			if err := rows.Scan(&l.Left, &l.Right, &lh, &rh, &at); err != nil {
				rows.Close()
				return nil, s.wrap("reading links of "+sync, err)
			}
			if err := l.LeftHashes.UnmarshalBinary(lh); err != nil {
				rows.Close()
				return nil, s.wrap("reading links of "+sync, err)
			}
			if err := l.RightHashes.UnmarshalBinary(rh); err != nil {
				rows.Close()
				return nil, s.wrap("reading links of "+sync, err)
			}
			l.SyncedAt = fromNanos(at)
			out[l.Key(by)] = l
		}
		if err := rows.Close(); err != nil {
			return nil, s.wrap("reading links of "+sync, err)
		}
		if err := rows.Err(); err != nil {
			return nil, s.wrap("reading links of "+sync, err)
		}
	}
	return out, nil
}

// linksQuery selects the links of a sync (the first argument) by n keys of
// side by. Without statistics SQLite answers `sync = ? AND right_key IN
// (...)` on this WITHOUT ROWID table by scanning the primary key's sync
// prefix, every link of the sync for each chunk of keys (a reverse flow of
// a million records read a thousand records a second); the index on the
// right key is named so each key is a search.
func linksQuery(by Side, n int) string {
	col, from := "left_key", "links"
	if by == Right {
		col, from = "right_key", "links INDEXED BY links_by_right"
	}
	return `SELECT left_key, right_key, left_hashes, right_hashes, synced_at FROM ` + from +
		` WHERE sync = ? AND ` + col + ` IN (` + placeholders(n) + `)`
}

// Intents returns the unfinished creates among keys.
func (s *SQLite) Intents(ctx context.Context, sync, flow string, keys []string) (map[string]Intent, error) {
	out := map[string]Intent{}
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, 0, len(part)+2)
		args = append(args, sync, flow)
		for _, k := range part {
			args = append(args, k)
		}
		if err := s.scanIntents(ctx, sync, `SELECT flow, key, target_key, print, run_id FROM intents WHERE sync = ? AND flow = ? AND key IN (`+placeholders(len(part))+`)`, args,
			func(in Intent) { out[in.Key] = in }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// IntentsFor returns the unfinished creates of flow with one of targets or
// prints, ordered by key.
func (s *SQLite) IntentsFor(ctx context.Context, sync, flow string, targets []string, prints []uint64) ([]Intent, error) {
	seen := map[string]bool{}
	var out []Intent
	add := func(in Intent) {
		if !seen[in.Key] {
			seen[in.Key] = true
			out = append(out, in)
		}
	}
	// An empty target is an intent whose create has not answered yet: it
	// names no record (as in the other stores).
	var ts []string
	for _, t := range targets {
		if t != "" {
			ts = append(ts, t)
		}
	}
	for start := 0; start < len(ts); start += chunk {
		part := ts[start:min(start+chunk, len(ts))]
		args := []any{sync, flow}
		for _, k := range part {
			args = append(args, k)
		}
		if err := s.scanIntents(ctx, sync, `SELECT flow, key, target_key, print, run_id FROM intents INDEXED BY intents_by_target WHERE sync = ? AND flow = ? AND target_key IN (`+placeholders(len(part))+`)`, args, add); err != nil {
			return nil, err
		}
	}
	var ps []uint64
	for _, p := range prints {
		if p != 0 {
			ps = append(ps, p)
		}
	}
	for start := 0; start < len(ps); start += chunk {
		part := ps[start:min(start+chunk, len(ps))]
		args := []any{sync, flow}
		for _, p := range part {
			args = append(args, int64(p))
		}
		if err := s.scanIntents(ctx, sync, `SELECT flow, key, target_key, print, run_id FROM intents INDEXED BY intents_by_print WHERE sync = ? AND flow = ? AND print IN (`+placeholders(len(part))+`)`, args, add); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *SQLite) scanIntents(ctx context.Context, sync, query string, args []any, each func(Intent)) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return s.wrap("reading intents of "+sync, err)
	}
	defer rows.Close()
	for rows.Next() {
		var in Intent
		var print int64
		if err := rows.Scan(&in.Flow, &in.Key, &in.Target, &print, &in.RunID); err != nil {
			return s.wrap("reading intents of "+sync, err)
		}
		in.Print = uint64(print)
		each(in)
	}
	if err := rows.Err(); err != nil {
		return s.wrap("reading intents of "+sync, err)
	}
	return nil
}

// Orphans returns the orphans of a sync on one side among keys.
func (s *SQLite) Orphans(ctx context.Context, sync string, by Side, keys []string) (map[string]Hashes, error) {
	if by != Left && by != Right {
		return nil, fmt.Errorf("state: unknown side %q", by)
	}
	out := map[string]Hashes{}
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, 0, len(part)+2)
		args = append(args, sync, string(by))
		for _, k := range part {
			args = append(args, k)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT key, hashes FROM orphans WHERE sync = ? AND side = ? AND key IN (`+placeholders(len(part))+`)`, args...)
		if err != nil {
			return nil, s.wrap("reading orphans of "+sync, err)
		}
		for rows.Next() {
			var k string
			var b []byte
			var h Hashes
			err := rows.Scan(&k, &b)
			if err == nil {
				err = h.UnmarshalBinary(b)
			}
			if err != nil {
				rows.Close()
				return nil, s.wrap("reading orphans of "+sync, err)
			}
			out[k] = h
		}
		if err := rows.Close(); err != nil {
			return nil, s.wrap("reading orphans of "+sync, err)
		}
		if err := rows.Err(); err != nil {
			return nil, s.wrap("reading orphans of "+sync, err)
		}
	}
	return out, nil
}

// Apply writes c atomically after checking the lease.
func (s *SQLite) Apply(ctx context.Context, l *Lease, c *Changes) error {
	return s.wrap("saving the state of sync "+c.Sync, s.apply(ctx, l, c))
}

func (s *SQLite) apply(ctx context.Context, l *Lease, c *Changes) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, l, c.Sync); err != nil {
		return err
	}
	now := nanos(s.now())
	exec := func(query string, each func(st *sql.Stmt) error) error {
		st, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer st.Close()
		return each(st)
	}
	if len(c.DeleteLinks) > 0 {
		if err := exec(`DELETE FROM links WHERE sync = ? AND left_key = ?`, func(st *sql.Stmt) error {
			for _, k := range c.DeleteLinks {
				if _, err := st.ExecContext(ctx, c.Sync, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.PutLinks) > 0 {
		if err := exec(`INSERT INTO links (sync, left_key, right_key, left_hashes, right_hashes, synced_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (sync, left_key) DO UPDATE SET right_key = excluded.right_key, left_hashes = excluded.left_hashes,
				right_hashes = excluded.right_hashes, synced_at = excluded.synced_at`, func(st *sql.Stmt) error {
			for _, ln := range c.PutLinks {
				if ln.Left == "" || ln.Right == "" {
					return fmt.Errorf("link %q <-> %q has an empty key", ln.Left, ln.Right)
				}
				lh, _ := ln.LeftHashes.MarshalBinary()
				rh, _ := ln.RightHashes.MarshalBinary()
				at := nanos(ln.SyncedAt)
				if at == 0 {
					at = now
				}
				if _, err := st.ExecContext(ctx, c.Sync, ln.Left, ln.Right, lh, rh, at); err != nil {
					if strings.Contains(err.Error(), "UNIQUE") {
						return fmt.Errorf("right record %s is already linked to another left record than %s: %w", ln.Right, ln.Left, err)
					}
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.ClearRejects) > 0 {
		if err := exec(`DELETE FROM rejects WHERE sync = ? AND flow = ? AND key = ?`, func(st *sql.Stmt) error {
			for _, k := range c.ClearRejects {
				if _, err := st.ExecContext(ctx, c.Sync, k.Flow, k.Key); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.PutRejects) > 0 {
		if err := exec(`INSERT INTO rejects (sync, flow, key, target_key, field, range_file, range_line, range_col, range_end_line, range_end_col,
				kind, reason, first_seen, last_seen, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
			ON CONFLICT (sync, flow, key) DO UPDATE SET target_key = excluded.target_key, field = excluded.field,
				range_file = excluded.range_file, range_line = excluded.range_line, range_col = excluded.range_col,
				range_end_line = excluded.range_end_line, range_end_col = excluded.range_end_col,
				kind = excluded.kind, reason = excluded.reason, last_seen = excluded.last_seen, attempts = rejects.attempts + 1`,
			func(st *sql.Stmt) error {
				for _, r := range c.PutRejects {
					at := nanos(r.LastSeen)
					if at == 0 {
						at = now
					}
					if _, err := st.ExecContext(ctx, c.Sync, r.Flow, r.Key, r.TargetKey, r.Field, r.Range.File, r.Range.Line, r.Range.Column,
						r.Range.EndLine, r.Range.EndColumn, r.Kind, r.Reason, at, at); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
			return err
		}
	}
	if len(c.Conflicts) > 0 {
		if err := exec(`INSERT INTO conflicts (sync, run_id, left_key, right_key, left_field, right_field, winner, policy, left_value, right_value, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, func(st *sql.Stmt) error {
			for _, k := range c.Conflicts {
				at := nanos(k.At)
				if at == 0 {
					at = now
				}
				run := k.RunID
				if run == 0 {
					run = c.RunID
				}
				if _, err := st.ExecContext(ctx, c.Sync, run, k.LeftKey, k.RightKey, k.LeftField, k.RightField, string(k.Winner), k.Policy,
					k.LeftValue, k.RightValue, at); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.ClearIntents) > 0 {
		if err := exec(`DELETE FROM intents WHERE sync = ? AND flow = ? AND key = ?`, func(st *sql.Stmt) error {
			for _, k := range c.ClearIntents {
				if _, err := st.ExecContext(ctx, c.Sync, k.Flow, k.Key); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.PutIntents) > 0 {
		if err := exec(`INSERT INTO intents (sync, flow, key, created_at, target_key, print, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET
				target_key = CASE WHEN excluded.print != 0 OR excluded.target_key != '' THEN excluded.target_key ELSE intents.target_key END,
				print = CASE WHEN excluded.print != 0 THEN excluded.print ELSE intents.print END,
				run_id = CASE WHEN excluded.print != 0 THEN excluded.run_id ELSE intents.run_id END,
				created_at = CASE WHEN excluded.print != 0 THEN excluded.created_at ELSE intents.created_at END`, func(st *sql.Stmt) error {
			for _, k := range c.PutIntents {
				if _, err := st.ExecContext(ctx, c.Sync, k.Flow, k.Key, now, k.Target, int64(k.Print), c.RunID); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.ClearOrphans) > 0 {
		if err := exec(`DELETE FROM orphans WHERE sync = ? AND side = ? AND key = ?`, func(st *sql.Stmt) error {
			for _, o := range c.ClearOrphans {
				if _, err := st.ExecContext(ctx, c.Sync, string(o.Side), o.Key); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(c.PutOrphans) > 0 {
		if err := exec(`INSERT INTO orphans (sync, side, key, hashes, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sync, side, key) DO UPDATE SET hashes = excluded.hashes, at = excluded.at`, func(st *sql.Stmt) error {
			for _, o := range c.PutOrphans {
				if o.Key == "" || (o.Side != Left && o.Side != Right) {
					return fmt.Errorf("orphan %q on side %q: empty key or unknown side", o.Key, o.Side)
				}
				h, _ := o.Hashes.MarshalBinary()
				if _, err := st.ExecContext(ctx, c.Sync, string(o.Side), o.Key, h, now); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if c.Cursor != nil {
		if c.Cursor.Token == "" {
			return errors.New("refusing to save an empty cursor")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cursors (sync, flow, token, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (sync, flow) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at`,
			c.Sync, c.Cursor.Flow, c.Cursor.Token, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// StartRun records the start of a run.
func (s *SQLite) StartRun(ctx context.Context, l *Lease, r Run) (int64, error) {
	id, err := s.startRun(ctx, l, r)
	return id, s.wrap("recording a run of "+r.Sync, err)
}

func (s *SQLite) startRun(ctx context.Context, l *Lease, r Run) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, l, r.Sync); err != nil {
		return 0, err
	}
	if r.Started.IsZero() {
		r.Started = s.now()
	}
	full := 0
	if r.Full {
		full = 1
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (sync, host, pid, full, started_at, status) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Sync, s.self.Host, s.self.PID, full, nanos(r.Started), string(RunRunning))
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

// FinishRun records the end of a run.
func (s *SQLite) FinishRun(ctx context.Context, l *Lease, r Run) error {
	return s.wrap("recording a run of "+r.Sync, s.finishRun(ctx, l, r))
}

func (s *SQLite) finishRun(ctx context.Context, l *Lease, r Run) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, l, r.Sync); err != nil {
		return err
	}
	if r.Finished.IsZero() {
		r.Finished = s.now()
	}
	res, err := tx.ExecContext(ctx, `UPDATE runs SET finished_at = ?, status = ?, report = ?, error = ? WHERE id = ? AND sync = ?`,
		nanos(r.Finished), string(r.Status), r.Report, r.Error, r.ID, r.Sync)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no run %d of sync %s", r.ID, r.Sync)
	}
	return tx.Commit()
}

// Cursors lists every saved cursor.
func (s *SQLite) Cursors(ctx context.Context) ([]Cursor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sync, flow, token, updated_at FROM cursors ORDER BY sync, flow`)
	if err != nil {
		return nil, s.wrap("listing cursors", err)
	}
	defer rows.Close()
	var out []Cursor
	for rows.Next() {
		var c Cursor
		var at int64
		if err := rows.Scan(&c.Sync, &c.Flow, &c.Token, &at); err != nil {
			return nil, s.wrap("listing cursors", err)
		}
		c.UpdatedAt = fromNanos(at)
		out = append(out, c)
	}
	return out, s.wrap("listing cursors", rows.Err())
}

// Runs lists the latest runs, newest first.
func (s *SQLite) Runs(ctx context.Context, sync string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, sync, host, pid, full, started_at, finished_at, status, report, error FROM runs
		WHERE ? = '' OR sync = ? ORDER BY id DESC LIMIT ?`, sync, sync, limit)
	if err != nil {
		return nil, s.wrap("listing runs", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var full int
		var st, fin int64
		var status string
		if err := rows.Scan(&r.ID, &r.Sync, &r.Holder.Host, &r.Holder.PID, &full, &st, &fin, &status, &r.Report, &r.Error); err != nil {
			return nil, s.wrap("listing runs", err)
		}
		r.Full, r.Started, r.Finished, r.Status = full != 0, fromNanos(st), fromNanos(fin), RunStatus(status)
		out = append(out, r)
	}
	return out, s.wrap("listing runs", rows.Err())
}

// Rejects lists rejects ordered by sync, flow and key.
func (s *SQLite) Rejects(ctx context.Context, q RejectQuery) ([]Reject, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var as, af, ak string
	if q.After != nil {
		as, af, ak = q.After.Sync, q.After.Flow, q.After.Key
	}
	rows, err := s.db.QueryContext(ctx, `SELECT sync, flow, key, target_key, field, range_file, range_line, range_col, range_end_line, range_end_col,
			kind, reason, first_seen, last_seen, attempts FROM rejects
		WHERE (? = '' OR sync = ?) AND (? = '' OR flow = ?) AND (sync, flow, key) > (?, ?, ?)
		ORDER BY sync, flow, key LIMIT ?`, q.Sync, q.Sync, q.Flow, q.Flow, as, af, ak, q.Limit)
	if err != nil {
		return nil, s.wrap("listing rejects", err)
	}
	defer rows.Close()
	var out []Reject
	for rows.Next() {
		var r Reject
		var first, last int64
		if err := rows.Scan(&r.Sync, &r.Flow, &r.Key, &r.TargetKey, &r.Field, &r.Range.File, &r.Range.Line, &r.Range.Column,
			&r.Range.EndLine, &r.Range.EndColumn, &r.Kind, &r.Reason, &first, &last, &r.Attempts); err != nil {
			return nil, s.wrap("listing rejects", err)
		}
		r.FirstSeen, r.LastSeen = fromNanos(first), fromNanos(last)
		out = append(out, r)
	}
	return out, s.wrap("listing rejects", rows.Err())
}

// Conflicts lists the latest conflicts, newest first.
func (s *SQLite) Conflicts(ctx context.Context, sync string, limit int) ([]Conflict, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, sync, run_id, left_key, right_key, left_field, right_field, winner, policy, left_value, right_value, at
		FROM conflicts WHERE ? = '' OR sync = ? ORDER BY id DESC LIMIT ?`, sync, sync, limit)
	if err != nil {
		return nil, s.wrap("listing conflicts", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var winner string
		var at int64
		if err := rows.Scan(&c.ID, &c.Sync, &c.RunID, &c.LeftKey, &c.RightKey, &c.LeftField, &c.RightField, &winner, &c.Policy,
			&c.LeftValue, &c.RightValue, &at); err != nil {
			return nil, s.wrap("listing conflicts", err)
		}
		c.Winner, c.At = Side(winner), fromNanos(at)
		out = append(out, c)
	}
	return out, s.wrap("listing conflicts", rows.Err())
}

// LinkCount returns how many pairs a sync has linked.
func (s *SQLite) LinkCount(ctx context.Context, sync string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM links WHERE sync = ?`, sync).Scan(&n)
	return n, s.wrap("counting links of "+sync, err)
}
