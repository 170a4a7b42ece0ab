package state

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Memory is a Store kept in memory, with the contract of the SQLite store
// (leases checked on every write, Apply atomic, deletions before
// insertions, a right key linked once per sync) and nothing on disk. It
// serves `synclang test`, which gives every test a fresh state in
// microseconds where opening a database takes milliseconds; what it holds
// is gone when the process ends.
type Memory struct {
	mu        sync.Mutex
	now       func() time.Time
	locks     map[string]*Lease
	cursors   map[[2]string]Cursor
	links     map[string]map[string]Link   // sync -> left key -> link
	rights    map[string]map[string]string // sync -> right key -> left key
	rejects   map[[3]string]Reject
	conflicts []Conflict
	intents   map[[3]string]Intent
	orphans   map[[3]string]Hashes
	runs      []Run
}

// NewMemory returns an empty in-memory store; now is its clock (nil:
// time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, locks: map[string]*Lease{}, cursors: map[[2]string]Cursor{},
		links: map[string]map[string]Link{}, rights: map[string]map[string]string{},
		rejects: map[[3]string]Reject{}, intents: map[[3]string]Intent{}, orphans: map[[3]string]Hashes{}}
}

// Acquire takes the lock of sync; one process holds every lease, so a
// lock is held until it is released or expires.
func (m *Memory) Acquire(ctx context.Context, sync string, ttl time.Duration) (*Lease, error) {
	if ttl <= 0 {
		return nil, errors.New("state: lock TTL must be positive")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if l, ok := m.locks[sync]; ok && l.Expires.After(now) {
		return nil, &LockedError{Sync: sync, Holder: l.Holder, Expires: l.Expires}
	}
	l := &Lease{Sync: sync, Token: newToken(), Expires: now.Add(ttl), TTL: ttl}
	m.locks[sync] = &Lease{Sync: sync, Token: l.Token, Expires: l.Expires, TTL: ttl}
	return l, nil
}

// check fails with ErrLockLost unless l holds the lock of sync.
func (m *Memory) check(l *Lease, sync string) error {
	if l == nil {
		return errors.New("no lease: writes need the sync's lock")
	}
	if l.Sync != sync {
		return fmt.Errorf("the lease is for sync %s, not %s", l.Sync, sync)
	}
	if held, ok := m.locks[sync]; !ok || held.Token != l.Token {
		return ErrLockLost
	}
	return nil
}

// Renew extends a lease by its TTL.
func (m *Memory) Renew(ctx context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(l, l.Sync); err != nil {
		return err
	}
	l.Expires = m.now().Add(l.TTL)
	m.locks[l.Sync].Expires = l.Expires
	return nil
}

// Release gives the lock up.
func (m *Memory) Release(ctx context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if held, ok := m.locks[l.Sync]; ok && held.Token == l.Token {
		delete(m.locks, l.Sync)
	}
	return nil
}

// Cursor returns the saved cursor of a flow.
func (m *Memory) Cursor(ctx context.Context, sync, flow string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursors[[2]string{sync, flow}].Token, nil
}

// Links returns the links whose key on side by is one of keys.
func (m *Memory) Links(ctx context.Context, sync string, by Side, keys []string) (map[string]Link, error) {
	if by != Left && by != Right {
		return nil, fmt.Errorf("state: unknown side %q", by)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Link, len(keys))
	for _, k := range keys {
		left := k
		if by == Right {
			var ok bool
			if left, ok = m.rights[sync][k]; !ok {
				continue
			}
		}
		if l, ok := m.links[sync][left]; ok {
			out[k] = l
		}
	}
	return out, nil
}

// Intents returns the unfinished creates of flow among keys, by key.
func (m *Memory) Intents(ctx context.Context, sync, flow string, keys []string) (map[string]Intent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Intent{}
	for _, k := range keys {
		if in, ok := m.intents[[3]string{sync, flow, k}]; ok {
			out[k] = in
		}
	}
	return out, nil
}

// IntentsFor returns the unfinished creates of flow whose Target is one of
// targets or whose Print is one of prints (zero never matches), by key.
func (m *Memory) IntentsFor(ctx context.Context, sync, flow string, targets []string, prints []uint64) ([]Intent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := map[string]bool{}
	for _, t := range targets {
		ts[t] = true
	}
	ps := map[uint64]bool{}
	for _, p := range prints {
		if p != 0 {
			ps[p] = true
		}
	}
	var out []Intent
	for k, in := range m.intents {
		if k[0] != sync || k[1] != flow {
			continue
		}
		if (in.Target != "" && ts[in.Target]) || ps[in.Print] {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Orphans returns the orphans of a sync on one side among keys.
func (m *Memory) Orphans(ctx context.Context, sync string, by Side, keys []string) (map[string]Hashes, error) {
	if by != Left && by != Right {
		return nil, fmt.Errorf("state: unknown side %q", by)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Hashes{}
	for _, k := range keys {
		if h, ok := m.orphans[[3]string{sync, string(by), k}]; ok {
			out[k] = h
		}
	}
	return out, nil
}

// Apply writes c atomically after checking the lease: it is checked
// whole first, so a change that fails leaves the store as it was.
func (m *Memory) Apply(ctx context.Context, l *Lease, c *Changes) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(l, c.Sync); err != nil {
		return err
	}
	links, rights := cloneMap(m.links[c.Sync]), cloneMap(m.rights[c.Sync])
	for _, k := range c.DeleteLinks {
		if old, ok := links[k]; ok {
			delete(rights, old.Right)
			delete(links, k)
		}
	}
	now := m.now()
	for _, ln := range c.PutLinks {
		if ln.Left == "" || ln.Right == "" {
			return fmt.Errorf("state: saving the state of sync %s: link %q <-> %q has an empty key", c.Sync, ln.Left, ln.Right)
		}
		if other, ok := rights[ln.Right]; ok && other != ln.Left {
			return fmt.Errorf("state: saving the state of sync %s: right record %s is already linked to another left record than %s", c.Sync, ln.Right, ln.Left)
		}
		if old, ok := links[ln.Left]; ok {
			delete(rights, old.Right)
		}
		if ln.SyncedAt.IsZero() {
			ln.SyncedAt = now
		}
		ln.LeftHashes, ln.RightHashes = copyHashes(ln.LeftHashes), copyHashes(ln.RightHashes)
		links[ln.Left], rights[ln.Right] = ln, ln.Left
	}
	for _, o := range c.PutOrphans {
		if o.Key == "" || (o.Side != Left && o.Side != Right) {
			return fmt.Errorf("state: saving the state of sync %s: orphan %q on side %q: empty key or unknown side", c.Sync, o.Key, o.Side)
		}
	}
	if c.Cursor != nil && c.Cursor.Token == "" {
		return fmt.Errorf("state: saving the state of sync %s: refusing to save an empty cursor", c.Sync)
	}
	m.links[c.Sync], m.rights[c.Sync] = links, rights
	for _, k := range c.ClearRejects {
		delete(m.rejects, [3]string{c.Sync, k.Flow, k.Key})
	}
	for _, r := range c.PutRejects {
		key := [3]string{c.Sync, r.Flow, r.Key}
		if r.LastSeen.IsZero() {
			r.LastSeen = now
		}
		r.Sync = c.Sync
		if old, ok := m.rejects[key]; ok {
			r.FirstSeen, r.Attempts = old.FirstSeen, old.Attempts+1
		} else {
			r.FirstSeen, r.Attempts = r.LastSeen, 1
		}
		m.rejects[key] = r
	}
	for _, k := range c.Conflicts {
		k.ID = int64(len(m.conflicts) + 1)
		k.Sync = c.Sync
		if k.RunID == 0 {
			k.RunID = c.RunID
		}
		if k.At.IsZero() {
			k.At = now
		}
		m.conflicts = append(m.conflicts, k)
	}
	for _, k := range c.ClearIntents {
		delete(m.intents, [3]string{c.Sync, k.Flow, k.Key})
	}
	for _, k := range c.PutIntents {
		// As SQLite's upsert: a later put with neither print nor target
		// keeps what the first recorded; one with a print replaces it.
		id := [3]string{c.Sync, k.Flow, k.Key}
		in, ok := m.intents[id]
		if !ok || k.Print != 0 {
			in = Intent{Flow: k.Flow, Key: k.Key, Target: k.Target, Print: k.Print, RunID: c.RunID}
		} else if k.Target != "" {
			in.Target = k.Target
		}
		m.intents[id] = in
	}
	for _, o := range c.ClearOrphans {
		delete(m.orphans, [3]string{c.Sync, string(o.Side), o.Key})
	}
	for _, o := range c.PutOrphans {
		m.orphans[[3]string{c.Sync, string(o.Side), o.Key}] = copyHashes(o.Hashes)
	}
	if c.Cursor != nil {
		m.cursors[[2]string{c.Sync, c.Cursor.Flow}] = Cursor{Sync: c.Sync, Flow: c.Cursor.Flow, Token: c.Cursor.Token, UpdatedAt: now}
	}
	return nil
}

// copyHashes copies h, as the database stores a copy (nil stays nil:
// unknown).
func copyHashes(h Hashes) Hashes {
	if h == nil {
		return nil
	}
	out := make(Hashes, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// StartRun records the start of a run.
func (m *Memory) StartRun(ctx context.Context, l *Lease, r Run) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(l, r.Sync); err != nil {
		return 0, err
	}
	if r.Started.IsZero() {
		r.Started = m.now()
	}
	r.ID, r.Status = int64(len(m.runs)+1), RunRunning
	m.runs = append(m.runs, r)
	return r.ID, nil
}

// FinishRun records the end of a run.
func (m *Memory) FinishRun(ctx context.Context, l *Lease, r Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(l, r.Sync); err != nil {
		return err
	}
	if r.ID < 1 || int(r.ID) > len(m.runs) || m.runs[r.ID-1].Sync != r.Sync {
		return fmt.Errorf("no run %d of sync %s", r.ID, r.Sync)
	}
	run := &m.runs[r.ID-1]
	if r.Finished.IsZero() {
		r.Finished = m.now()
	}
	run.Finished, run.Status, run.Report, run.Error = r.Finished, r.Status, r.Report, r.Error
	return nil
}

// Cursors lists every saved cursor, sorted by sync and flow.
func (m *Memory) Cursors(ctx context.Context) ([]Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Cursor, 0, len(m.cursors))
	for _, c := range m.cursors {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sync != out[j].Sync {
			return out[i].Sync < out[j].Sync
		}
		return out[i].Flow < out[j].Flow
	})
	return out, nil
}

// Runs lists the latest runs of a sync ("" for all), newest first.
func (m *Memory) Runs(ctx context.Context, sync string, limit int) ([]Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Run
	for i := len(m.runs) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		if sync == "" || m.runs[i].Sync == sync {
			out = append(out, m.runs[i])
		}
	}
	return out, nil
}

// Rejects lists rejects ordered by sync, flow and key.
func (m *Memory) Rejects(ctx context.Context, q RejectQuery) ([]Reject, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Reject
	for _, r := range m.rejects {
		if (q.Sync != "" && r.Sync != q.Sync) || (q.Flow != "" && r.Flow != q.Flow) {
			continue
		}
		if q.After != nil && !less3([3]string{q.After.Sync, q.After.Flow, q.After.Key}, [3]string{r.Sync, r.Flow, r.Key}) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return less3([3]string{out[i].Sync, out[i].Flow, out[i].Key}, [3]string{out[j].Sync, out[j].Flow, out[j].Key})
	})
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func less3(a, b [3]string) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// Conflicts lists the latest conflicts of a sync ("" for all), newest
// first.
func (m *Memory) Conflicts(ctx context.Context, sync string, limit int) ([]Conflict, error) {
	if limit <= 0 {
		limit = 100
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Conflict
	for i := len(m.conflicts) - 1; i >= 0 && len(out) < limit; i-- {
		if sync == "" || m.conflicts[i].Sync == sync {
			out = append(out, m.conflicts[i])
		}
	}
	return out, nil
}

// LinkCount returns how many pairs a sync has linked.
func (m *Memory) LinkCount(ctx context.Context, sync string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.links[sync]), nil
}

// Close does nothing; the state is gone with the value.
func (m *Memory) Close() error { return nil }

var _ Store = (*Memory)(nil)
