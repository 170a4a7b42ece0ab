package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/synclang/synclang/runtime/state"
)

// Store is the PostgreSQL state.Store. It keeps the SQLite store's
// contract (see runtime/state): one transaction per Apply, checked against
// the sync's lease inside that transaction, deletions before insertions.
type Store struct {
	pool     *pgxpool.Pool
	ownPool  bool
	name     string // postgres://user@host:port/db, for messages
	password string // masked in errors
	now      func() time.Time
	self     state.Holder
	alive    func(int) bool
	readOnly bool
	stats    counters
	// schema, when set, qualifies every table (OpenPoolSchema); "" uses
	// the connections' search_path.
	schema  string
	queries sync.Map // SQL as written -> SQL with qualified tables
}

var _ state.Store = (*Store)(nil)

// Name returns the database's URL without the password.
func (s *Store) Name() string { return s.name }

// Pool returns the store's connection pool (shared with River when the
// store was opened with OpenPool).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool when the store opened it (Open), not when it was
// given one (OpenPool).
func (s *Store) Close() error {
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// Stats counts what the store sent: statements and rows written. The
// bench reports them per batch.
type Stats struct {
	// Statements counts SQL statements (each statement of a pipelined
	// batch counts), RoundTrips the exchanges with the server, and
	// RowsWritten the rows inserted, updated or deleted.
	Statements, RoundTrips, RowsWritten int64
}

type counters struct{ statements, roundTrips, rows atomic.Int64 }

// Stats returns the counts since the store was opened.
func (s *Store) Stats() Stats {
	return Stats{Statements: s.stats.statements.Load(), RoundTrips: s.stats.roundTrips.Load(), RowsWritten: s.stats.rows.Load()}
}

func (s *Store) count(statements, roundTrips int) {
	s.stats.statements.Add(int64(statements))
	s.stats.roundTrips.Add(int64(roundTrips))
}

// inTx runs fn in a transaction, counting its BEGIN and COMMIT.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	s.count(2, 2)
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// sql returns q with its tables qualified by the store's schema.
func (s *Store) sql(q string) string {
	if s.schema == "" {
		return q
	}
	if out, ok := s.queries.Load(q); ok {
		return out.(string)
	}
	out := qualify(s.schema, q)
	s.queries.Store(q, out)
	return out
}

// table returns a table's name, qualified by the store's schema.
func (s *Store) table(name string) string {
	if s.schema == "" {
		return name
	}
	return pgx.Identifier{s.schema, name}.Sanitize()
}

// ident returns a table's name as a pgx.Identifier (CopyFrom).
func (s *Store) ident(name string) pgx.Identifier {
	if s.schema == "" {
		return pgx.Identifier{name}
	}
	return pgx.Identifier{s.schema, name}
}

// Times and lease tokens are stored as the SQLite store stores them, so
// `synclang state copy` moves them as they are.
var (
	nanos     = state.UnixNanos
	fromNanos = state.FromUnixNanos
	newToken  = state.NewLeaseToken
)

var errReadOnly = errors.New("the state was opened read-only")

func (s *Store) wrap(what string, err error) error {
	if err == nil || errors.Is(err, state.ErrLockLost) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var le *state.LockedError
	if errors.As(err, &le) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return connectError(s.name, &s.pool.Config().ConnConfig.Config, err)
	}
	return fmt.Errorf("state %s: %s: %w", s.name, what, redactErr(err, s.password))
}

func (s *Store) writable() error {
	if s.readOnly {
		return errReadOnly
	}
	return nil
}

// Acquire takes the lock of sync (see runtime/state's package doc). The
// lock row is locked FOR UPDATE, so an Apply of the previous holder that
// is committing finishes first.
func (s *Store) Acquire(ctx context.Context, sync string, ttl time.Duration) (*state.Lease, error) {
	if ttl <= 0 {
		return nil, errors.New("state: lock TTL must be positive")
	}
	if err := s.writable(); err != nil {
		return nil, s.wrap("locking sync "+sync, err)
	}
	var l *state.Lease
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		l, err = s.acquire(ctx, tx, sync, ttl)
		return err
	})
	return l, s.wrap("locking sync "+sync, err)
}

func (s *Store) acquire(ctx context.Context, tx pgx.Tx, sync string, ttl time.Duration) (*state.Lease, error) {
	now := s.now()
	l := &state.Lease{Sync: sync, Holder: s.self, Token: newToken(), Expires: now.Add(ttl), TTL: ttl}
	// First come: a new row. ON CONFLICT DO NOTHING waits for a
	// concurrent insert of the same sync and then does nothing.
	tag, err := tx.Exec(ctx, s.sql(`INSERT INTO locks (sync, host, pid, token, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (sync) DO NOTHING`), sync, l.Holder.Host, l.Holder.PID, l.Token, nanos(now), nanos(l.Expires))
	s.count(1, 1)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 1 {
		return l, nil
	}
	var h state.Holder
	var expires int64
	err = tx.QueryRow(ctx, s.sql(`SELECT host, pid, expires_at FROM locks WHERE sync = $1 FOR UPDATE`), sync).Scan(&h.Host, &h.PID, &expires)
	s.count(1, 1)
	if err != nil {
		return nil, err
	}
	held := fromNanos(expires).After(now)
	if held && h.Host == s.self.Host && h.PID != s.self.PID && !s.alive(h.PID) {
		held = false // left behind by a crashed process of this host
	}
	if held {
		return nil, &state.LockedError{Sync: sync, Holder: h, Expires: fromNanos(expires)}
	}
	_, err = tx.Exec(ctx, s.sql(`UPDATE locks SET host = $2, pid = $3, token = $4, acquired_at = $5, expires_at = $6 WHERE sync = $1`),
		sync, l.Holder.Host, l.Holder.PID, l.Token, nanos(now), nanos(l.Expires))
	s.count(1, 1)
	return l, err
}

// Renew extends the lease by its TTL.
func (s *Store) Renew(ctx context.Context, l *state.Lease) error {
	if err := s.writable(); err != nil {
		return s.wrap("renewing the lock of sync "+l.Sync, err)
	}
	exp := s.now().Add(l.TTL)
	tag, err := s.pool.Exec(ctx, s.sql(`UPDATE locks SET expires_at = $1 WHERE sync = $2 AND token = $3`), nanos(exp), l.Sync, l.Token)
	s.count(1, 1)
	if err != nil {
		return s.wrap("renewing the lock of sync "+l.Sync, err)
	}
	if tag.RowsAffected() == 0 {
		return state.ErrLockLost
	}
	l.Expires = exp
	return nil
}

// Release gives the lock up.
func (s *Store) Release(ctx context.Context, l *state.Lease) error {
	if err := s.writable(); err != nil {
		return s.wrap("releasing the lock of sync "+l.Sync, err)
	}
	_, err := s.pool.Exec(ctx, s.sql(`DELETE FROM locks WHERE sync = $1 AND token = $2`), l.Sync, l.Token)
	s.count(1, 1)
	return s.wrap("releasing the lock of sync "+l.Sync, err)
}

// checkLease fails with ErrLockLost unless l still holds its sync's lock.
// It locks the lock row FOR SHARE until the transaction ends: a takeover
// (Acquire's UPDATE) waits for this transaction, so nothing this lease
// writes can land after another holder took the sync over, even on
// another host.
func (s *Store) checkLease(ctx context.Context, tx pgx.Tx, l *state.Lease, sync string) error {
	if err := s.writable(); err != nil {
		return err
	}
	if l == nil {
		return errors.New("no lease: writes need the sync's lock")
	}
	if l.Sync != sync {
		return fmt.Errorf("the lease is for sync %s, not %s", l.Sync, sync)
	}
	var token string
	err := tx.QueryRow(ctx, s.sql(`SELECT token FROM locks WHERE sync = $1 FOR SHARE`), sync).Scan(&token)
	s.count(1, 1)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && token != l.Token) {
		return state.ErrLockLost
	}
	return err
}

// Cursor returns the saved cursor of a flow.
func (s *Store) Cursor(ctx context.Context, sync, flow string) (string, error) {
	var tok string
	err := s.pool.QueryRow(ctx, s.sql(`SELECT token FROM cursors WHERE sync = $1 AND flow = $2`), sync, flow).Scan(&tok)
	s.count(1, 1)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return tok, s.wrap("reading the cursor of "+sync+" "+flow, err)
}

// Links returns the links whose key on side by is one of keys.
func (s *Store) Links(ctx context.Context, sync string, by state.Side, keys []string) (map[string]state.Link, error) {
	col := "left_key"
	switch by {
	case state.Left:
	case state.Right:
		col = "right_key"
	default:
		return nil, fmt.Errorf("state: unknown side %q", by)
	}
	out := make(map[string]state.Link, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT left_key, right_key, left_hashes, right_hashes, synced_at FROM links
		WHERE sync = $1 AND `+col+` = ANY($2)`), sync, keys)
	s.count(1, 1)
	if err != nil {
		return nil, s.wrap("reading links of "+sync, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l state.Link
		var lh, rh []byte
		var at int64
		if err := rows.Scan(&l.Left, &l.Right, &lh, &rh, &at); err != nil {
			return nil, s.wrap("reading links of "+sync, err)
		}
		if err := l.LeftHashes.UnmarshalBinary(lh); err != nil {
			return nil, s.wrap("reading links of "+sync, err)
		}
		if err := l.RightHashes.UnmarshalBinary(rh); err != nil {
			return nil, s.wrap("reading links of "+sync, err)
		}
		l.SyncedAt = fromNanos(at)
		out[l.Key(by)] = l
	}
	return out, s.wrap("reading links of "+sync, rows.Err())
}

// Intents returns the unfinished creates among keys.
func (s *Store) Intents(ctx context.Context, sync, flow string, keys []string) (map[string]state.Intent, error) {
	out := map[string]state.Intent{}
	if len(keys) == 0 {
		return out, nil
	}
	err := s.scanIntents(ctx, sync, s.sql(`SELECT flow, key, target_key, print, run_id FROM intents WHERE sync = $1 AND flow = $2 AND key = ANY($3)`),
		[]any{sync, flow, keys}, func(in state.Intent) { out[in.Key] = in })
	return out, err
}

// IntentsFor returns the unfinished creates of flow with one of targets or
// prints, ordered by key.
func (s *Store) IntentsFor(ctx context.Context, sync, flow string, targets []string, prints []uint64) ([]state.Intent, error) {
	ps := make([]int64, 0, len(prints))
	for _, p := range prints {
		if p != 0 {
			ps = append(ps, int64(p))
		}
	}
	if len(targets) == 0 && len(ps) == 0 {
		return nil, nil
	}
	var out []state.Intent
	// target_key '' is an intent whose create has not answered: it matches
	// no target (the other stores skip it too).
	err := s.scanIntents(ctx, sync, s.sql(`SELECT flow, key, target_key, print, run_id FROM intents
		WHERE sync = $1 AND flow = $2 AND ((target_key <> '' AND target_key = ANY($3)) OR print = ANY($4)) ORDER BY key`),
		[]any{sync, flow, targets, ps}, func(in state.Intent) { out = append(out, in) })
	return out, err
}

func (s *Store) scanIntents(ctx context.Context, sync, query string, args []any, each func(state.Intent)) error {
	rows, err := s.pool.Query(ctx, query, args...)
	s.count(1, 1)
	if err != nil {
		return s.wrap("reading intents of "+sync, err)
	}
	defer rows.Close()
	for rows.Next() {
		var in state.Intent
		var print int64
		if err := rows.Scan(&in.Flow, &in.Key, &in.Target, &print, &in.RunID); err != nil {
			return s.wrap("reading intents of "+sync, err)
		}
		in.Print = uint64(print)
		each(in)
	}
	return s.wrap("reading intents of "+sync, rows.Err())
}

// Orphans returns the orphans of a sync on one side among keys.
func (s *Store) Orphans(ctx context.Context, sync string, by state.Side, keys []string) (map[string]state.Hashes, error) {
	if by != state.Left && by != state.Right {
		return nil, fmt.Errorf("state: unknown side %q", by)
	}
	out := map[string]state.Hashes{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT key, hashes FROM orphans WHERE sync = $1 AND side = $2 AND key = ANY($3)`), sync, string(by), keys)
	s.count(1, 1)
	if err != nil {
		return nil, s.wrap("reading orphans of "+sync, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var b []byte
		var h state.Hashes
		err := rows.Scan(&k, &b)
		if err == nil {
			err = h.UnmarshalBinary(b)
		}
		if err != nil {
			return nil, s.wrap("reading orphans of "+sync, err)
		}
		out[k] = h
	}
	return out, s.wrap("reading orphans of "+sync, rows.Err())
}

// StartRun records the start of a run.
func (s *Store) StartRun(ctx context.Context, l *state.Lease, r state.Run) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.checkLease(ctx, tx, l, r.Sync); err != nil {
			return err
		}
		if r.Started.IsZero() {
			r.Started = s.now()
		}
		full := 0
		if r.Full {
			full = 1
		}
		s.count(1, 1)
		return tx.QueryRow(ctx, s.sql(`INSERT INTO runs (sync, host, pid, "full", started_at, status) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`),
			r.Sync, s.self.Host, s.self.PID, full, nanos(r.Started), string(state.RunRunning)).Scan(&id)
	})
	return id, s.wrap("recording a run of "+r.Sync, err)
}

// FinishRun records the end of a run.
func (s *Store) FinishRun(ctx context.Context, l *state.Lease, r state.Run) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.checkLease(ctx, tx, l, r.Sync); err != nil {
			return err
		}
		if r.Finished.IsZero() {
			r.Finished = s.now()
		}
		tag, err := tx.Exec(ctx, s.sql(`UPDATE runs SET finished_at = $1, status = $2, report = $3, error = $4 WHERE id = $5 AND sync = $6`),
			nanos(r.Finished), string(r.Status), r.Report, r.Error, r.ID, r.Sync)
		s.count(1, 1)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("no run %d of sync %s", r.ID, r.Sync)
		}
		return err
	})
	return s.wrap("recording a run of "+r.Sync, err)
}

// Cursors lists every saved cursor.
func (s *Store) Cursors(ctx context.Context) ([]state.Cursor, error) {
	rows, err := s.pool.Query(ctx, s.sql(`SELECT sync, flow, token, updated_at FROM cursors ORDER BY sync, flow`))
	s.count(1, 1)
	if err != nil {
		return nil, s.wrap("listing cursors", err)
	}
	defer rows.Close()
	var out []state.Cursor
	for rows.Next() {
		var c state.Cursor
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
func (s *Store) Runs(ctx context.Context, sync string, limit int) ([]state.Run, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT id, sync, host, pid, "full", started_at, finished_at, status, report, error FROM runs
		WHERE $1 = '' OR sync = $1 ORDER BY id DESC LIMIT $2`), sync, limit)
	s.count(1, 1)
	if err != nil {
		return nil, s.wrap("listing runs", err)
	}
	defer rows.Close()
	var out []state.Run
	for rows.Next() {
		var r state.Run
		var full int
		var st, fin int64
		var status string
		if err := rows.Scan(&r.ID, &r.Sync, &r.Holder.Host, &r.Holder.PID, &full, &st, &fin, &status, &r.Report, &r.Error); err != nil {
			return nil, s.wrap("listing runs", err)
		}
		r.Full, r.Started, r.Finished, r.Status = full != 0, fromNanos(st), fromNanos(fin), state.RunStatus(status)
		out = append(out, r)
	}
	return out, s.wrap("listing runs", rows.Err())
}

// Rejects lists rejects ordered by sync, flow and key.
func (s *Store) Rejects(ctx context.Context, q state.RejectQuery) ([]state.Reject, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var as, af, ak string
	if q.After != nil {
		as, af, ak = q.After.Sync, q.After.Flow, q.After.Key
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT sync, flow, key, target_key, field, range_file, range_line, range_col, range_end_line, range_end_col,
			kind, reason, first_seen, last_seen, attempts FROM rejects
		WHERE ($1 = '' OR sync = $1) AND ($2 = '' OR flow = $2) AND (sync, flow, key) > ($3, $4, $5)
		ORDER BY sync, flow, key LIMIT $6`), q.Sync, q.Flow, as, af, ak, q.Limit)
	s.count(1, 1)
	if err != nil {
		return nil, s.wrap("listing rejects", err)
	}
	defer rows.Close()
	var out []state.Reject
	for rows.Next() {
		var r state.Reject
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
func (s *Store) Conflicts(ctx context.Context, sync string, limit int) ([]state.Conflict, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT id, sync, run_id, left_key, right_key, left_field, right_field, winner, policy, left_value, right_value, at
		FROM conflicts WHERE $1 = '' OR sync = $1 ORDER BY id DESC LIMIT $2`), sync, limit)
	s.count(1, 1)
	if err != nil {
		return nil, s.wrap("listing conflicts", err)
	}
	defer rows.Close()
	var out []state.Conflict
	for rows.Next() {
		var c state.Conflict
		var winner string
		var at int64
		if err := rows.Scan(&c.ID, &c.Sync, &c.RunID, &c.LeftKey, &c.RightKey, &c.LeftField, &c.RightField, &winner, &c.Policy,
			&c.LeftValue, &c.RightValue, &at); err != nil {
			return nil, s.wrap("listing conflicts", err)
		}
		c.Winner, c.At = state.Side(winner), fromNanos(at)
		out = append(out, c)
	}
	return out, s.wrap("listing conflicts", rows.Err())
}

// LinkCount returns how many pairs a sync has linked.
func (s *Store) LinkCount(ctx context.Context, sync string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, s.sql(`SELECT count(*) FROM links WHERE sync = $1`), sync).Scan(&n)
	s.count(1, 1)
	return n, s.wrap("counting links of "+sync, err)
}
