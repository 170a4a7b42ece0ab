package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/synclang/synclang/runtime/state"
)

// Apply writes c atomically after checking the lease: one transaction,
// and in it one pipelined batch of at most ten statements, one per kind of
// change, each over arrays (unnest) rather than a statement per record. A
// batch of a thousand records costs four round trips (BEGIN, the lease
// check, the batch, COMMIT) whatever its size. A connection that drops
// before COMMIT is answered leaves nothing of the batch: the server rolls
// the transaction back.
func (s *Store) Apply(ctx context.Context, l *state.Lease, c *state.Changes) error {
	return s.wrap("saving the state of sync "+c.Sync, s.apply(ctx, l, c))
}

func (s *Store) apply(ctx context.Context, l *state.Lease, c *state.Changes) error {
	b, err := s.batch(c)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.checkLease(ctx, tx, l, c.Sync); err != nil {
			return err
		}
		if b.Len() == 0 {
			return nil
		}
		s.count(b.Len(), 1)
		br := tx.SendBatch(ctx, &b.Batch)
		for _, what := range b.what {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return explain(what, err)
			}
			s.stats.rows.Add(tag.RowsAffected())
		}
		return br.Close()
	})
}

// explain turns a constraint violation into the message the SQLite store
// gives for it.
func explain(what string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ConstraintName == "links_by_right" {
		return fmt.Errorf("a right record is already linked to another left record (%s): %w", pe.Detail, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// batch is a pgx.Batch that remembers what each statement writes.
type batch struct {
	pgx.Batch
	what []string
	sql  func(string) string // the store's Store.sql
}

func (b *batch) add(what, sql string, args ...any) {
	b.Queue(sql, args...)
	b.what = append(b.what, what)
}

// batch builds the statements of c in the SQLite store's order. Within
// one statement a key may appear once (ON CONFLICT cannot update a row
// twice), so repeated keys are folded first into what applying them one
// after the other would leave.
func (s *Store) batch(c *state.Changes) (*batch, error) {
	b := &batch{sql: s.sql}
	now := nanos(s.now())
	if len(c.DeleteLinks) > 0 {
		b.add("deleting links", b.sql(`DELETE FROM links WHERE sync = $1 AND left_key = ANY($2)`), c.Sync, c.DeleteLinks)
	}
	if len(c.PutLinks) > 0 {
		last := map[string]int{}
		for i, ln := range c.PutLinks {
			if ln.Left == "" || ln.Right == "" {
				return nil, fmt.Errorf("link %q <-> %q has an empty key", ln.Left, ln.Right)
			}
			last[ln.Left] = i
		}
		var lefts, rights []string
		var lhs, rhs [][]byte
		var ats []int64
		for i, ln := range c.PutLinks {
			if last[ln.Left] != i {
				continue
			}
			lh, _ := ln.LeftHashes.MarshalBinary()
			rh, _ := ln.RightHashes.MarshalBinary()
			at := nanos(ln.SyncedAt)
			if at == 0 {
				at = now
			}
			lefts, rights, lhs, rhs, ats = append(lefts, ln.Left), append(rights, ln.Right), append(lhs, lh), append(rhs, rh), append(ats, at)
		}
		b.add("saving links", b.sql(`INSERT INTO links (sync, left_key, right_key, left_hashes, right_hashes, synced_at)
			SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::bigint[])
			ON CONFLICT (sync, left_key) DO UPDATE SET right_key = excluded.right_key, left_hashes = excluded.left_hashes,
				right_hashes = excluded.right_hashes, synced_at = excluded.synced_at`), c.Sync, lefts, rights, lhs, rhs, ats)
	}
	if len(c.ClearRejects) > 0 {
		flows, keys := intentKeys(c.ClearRejects)
		b.add("clearing rejects", b.sql(`DELETE FROM rejects WHERE sync = $1 AND (flow, key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`), c.Sync, flows, keys)
	}
	if len(c.PutRejects) > 0 {
		addRejects(b, c.Sync, c.PutRejects, now)
	}
	if len(c.Conflicts) > 0 {
		addConflicts(b, c, now)
	}
	if len(c.ClearIntents) > 0 {
		flows, keys := intentKeys(c.ClearIntents)
		b.add("clearing intents", b.sql(`DELETE FROM intents WHERE sync = $1 AND (flow, key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`), c.Sync, flows, keys)
	}
	if len(c.PutIntents) > 0 {
		addIntents(b, c, now)
	}
	if len(c.ClearOrphans) > 0 {
		var sides, keys []string
		for _, o := range c.ClearOrphans {
			sides, keys = append(sides, string(o.Side)), append(keys, o.Key)
		}
		b.add("clearing orphans", b.sql(`DELETE FROM orphans WHERE sync = $1 AND (side, key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`), c.Sync, sides, keys)
	}
	if len(c.PutOrphans) > 0 {
		last := map[[2]string]int{}
		for i, o := range c.PutOrphans {
			if o.Key == "" || (o.Side != state.Left && o.Side != state.Right) {
				return nil, fmt.Errorf("orphan %q on side %q: empty key or unknown side", o.Key, o.Side)
			}
			last[[2]string{string(o.Side), o.Key}] = i
		}
		var sides, keys []string
		var hs [][]byte
		for i, o := range c.PutOrphans {
			if last[[2]string{string(o.Side), o.Key}] != i {
				continue
			}
			h, _ := o.Hashes.MarshalBinary()
			sides, keys, hs = append(sides, string(o.Side)), append(keys, o.Key), append(hs, h)
		}
		b.add("saving orphans", b.sql(`INSERT INTO orphans (sync, side, key, hashes, at)
			SELECT $1, side, key, hashes, $5 FROM unnest($2::text[], $3::text[], $4::bytea[]) AS u(side, key, hashes)
			ON CONFLICT (sync, side, key) DO UPDATE SET hashes = excluded.hashes, at = excluded.at`), c.Sync, sides, keys, hs, now)
	}
	if c.Cursor != nil {
		if c.Cursor.Token == "" {
			return nil, errors.New("refusing to save an empty cursor")
		}
		b.add("saving the cursor", b.sql(`INSERT INTO cursors (sync, flow, token, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sync, flow) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at`),
			c.Sync, c.Cursor.Flow, c.Cursor.Token, now)
	}
	return b, nil
}

func intentKeys(in []state.Intent) (flows, keys []string) {
	for _, k := range in {
		flows, keys = append(flows, k.Flow), append(keys, k.Key)
	}
	return flows, keys
}

// addRejects upserts rejects; a key put n times in one batch counts n
// attempts, as n puts one after the other would.
func addRejects(b *batch, sync string, rejects []state.Reject, now int64) {
	type folded struct {
		r state.Reject
		n int
	}
	idx := map[[2]string]int{}
	var fs []folded
	for _, r := range rejects {
		k := [2]string{r.Flow, r.Key}
		if i, ok := idx[k]; ok {
			fs[i].r, fs[i].n = r, fs[i].n+1
			continue
		}
		idx[k] = len(fs)
		fs = append(fs, folded{r, 1})
	}
	n := len(fs)
	flows, keys, targets, fields, files, kinds, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	lines, cols, endLines, endCols, ats, attempts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, f := range fs {
		r := f.r
		at := nanos(r.LastSeen)
		if at == 0 {
			at = now
		}
		flows[i], keys[i], targets[i], fields[i], files[i], kinds[i], reasons[i] = r.Flow, r.Key, r.TargetKey, r.Field, r.Range.File, r.Kind, r.Reason
		lines[i], cols[i], endLines[i], endCols[i], ats[i], attempts[i] = int64(r.Range.Line), int64(r.Range.Column), int64(r.Range.EndLine), int64(r.Range.EndColumn), at, int64(f.n)
	}
	b.add("saving rejects", b.sql(`INSERT INTO rejects (sync, flow, key, target_key, field, range_file, range_line, range_col, range_end_line, range_end_col,
			kind, reason, first_seen, last_seen, attempts)
		SELECT $1, flow, key, target_key, field, range_file, range_line, range_col, range_end_line, range_end_col, kind, reason, at, at, attempts
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
			$11::text[], $12::text[], $13::bigint[], $14::bigint[])
			AS u(flow, key, target_key, field, range_file, range_line, range_col, range_end_line, range_end_col, kind, reason, at, attempts)
		ON CONFLICT (sync, flow, key) DO UPDATE SET target_key = excluded.target_key, field = excluded.field,
			range_file = excluded.range_file, range_line = excluded.range_line, range_col = excluded.range_col,
			range_end_line = excluded.range_end_line, range_end_col = excluded.range_end_col,
			kind = excluded.kind, reason = excluded.reason, last_seen = excluded.last_seen, attempts = rejects.attempts + excluded.attempts`),
		sync, flows, keys, targets, fields, files, lines, cols, endLines, endCols, kinds, reasons, ats, attempts)
}

func addConflicts(b *batch, c *state.Changes, now int64) {
	n := len(c.Conflicts)
	runs, ats := make([]int64, n), make([]int64, n)
	lk, rk, lf, rf, win, pol, lv, rv := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, k := range c.Conflicts {
		runs[i], ats[i] = k.RunID, nanos(k.At)
		if runs[i] == 0 {
			runs[i] = c.RunID
		}
		if ats[i] == 0 {
			ats[i] = now
		}
		lk[i], rk[i], lf[i], rf[i], win[i], pol[i], lv[i], rv[i] = k.LeftKey, k.RightKey, k.LeftField, k.RightField, string(k.Winner), k.Policy, k.LeftValue, k.RightValue
	}
	// WITH ORDINALITY keeps the conflicts' ids in the order given.
	b.add("saving conflicts", b.sql(`INSERT INTO conflicts (sync, run_id, left_key, right_key, left_field, right_field, winner, policy, left_value, right_value, at)
		SELECT $1, run_id, left_key, right_key, left_field, right_field, winner, policy, left_value, right_value, at
		FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[])
			WITH ORDINALITY AS u(run_id, left_key, right_key, left_field, right_field, winner, policy, left_value, right_value, at, n)
		ORDER BY n`), c.Sync, runs, lk, rk, lf, rf, win, pol, lv, rv, ats)
}

// addIntents upserts intents. A put with a Print records (or replaces)
// the intent; one without only sets the Target of the intent recorded
// (or records a bare one). Puts of one key are folded first: a later put
// with a print wins whole; one with only a target sets the target of what
// came before; an empty one changes nothing.
func addIntents(b *batch, c *state.Changes, now int64) {
	idx := map[[2]string]int{}
	var fs []state.Intent
	for _, k := range c.PutIntents {
		id := [2]string{k.Flow, k.Key}
		i, ok := idx[id]
		switch {
		case !ok:
			idx[id] = len(fs)
			fs = append(fs, k)
		case k.Print != 0:
			fs[i] = k
		case k.Target != "":
			fs[i].Target = k.Target
		}
	}
	n := len(fs)
	flows, keys, targets := make([]string, n), make([]string, n), make([]string, n)
	prints := make([]int64, n)
	for i, k := range fs {
		flows[i], keys[i], targets[i], prints[i] = k.Flow, k.Key, k.Target, int64(k.Print)
	}
	b.add("saving intents", b.sql(`INSERT INTO intents (sync, flow, key, created_at, target_key, print, run_id)
		SELECT $1, flow, key, $2, target_key, print, $3 FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[]) AS u(flow, key, target_key, print)
		ON CONFLICT (sync, flow, key) DO UPDATE SET
			target_key = CASE WHEN excluded.print <> 0 OR excluded.target_key <> '' THEN excluded.target_key ELSE intents.target_key END,
			print = CASE WHEN excluded.print <> 0 THEN excluded.print ELSE intents.print END,
			run_id = CASE WHEN excluded.print <> 0 THEN excluded.run_id ELSE intents.run_id END,
			created_at = CASE WHEN excluded.print <> 0 THEN excluded.created_at ELSE intents.created_at END`),
		c.Sync, now, c.RunID, flows, keys, targets, prints)
}
