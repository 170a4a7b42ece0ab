// Package memory is the reference connector: an in-memory service holding
// records of the entities of a schema. It passes connectors/conntest, and the
// engine's table tests run against it, with hooks to inject per-record
// rejections and whole-call failures.
package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
)

// Conn is an in-memory connector. It is safe for concurrent use.
type Conn struct {
	mu       sync.Mutex
	schema   *connector.Schema
	entities map[string]*table
	seq      int64
	nextID   int64
	now      func() time.Time
	requests int64

	// FailWrite, when set, is consulted for every record of an Upsert; a
	// non-nil error rejects that record alone (use a *connector.Error).
	FailWrite func(entity string, rec connector.Record) error
	// FailCall, when set, is consulted at the start of every call
	// ("read", "upsert", "lookup", "delete"); a non-nil error fails it.
	FailCall func(op, entity string) error
}

type table struct {
	ent  *connector.Entity
	rows map[string]*row
}

type row struct {
	fields   map[string]any
	seq      int64
	modified time.Time
	deleted  bool
}

// New returns an empty service for schema.
func New(schema *connector.Schema) *Conn {
	c := &Conn{schema: schema.Clone(), entities: map[string]*table{}, now: time.Now}
	c.schema.Normalize()
	for _, e := range c.schema.Entities {
		c.entities[e.Name] = &table{ent: e, rows: map[string]*row{}}
	}
	return c
}

// SetClock replaces the clock that stamps modification times.
func (c *Conn) SetClock(now func() time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func (c *Conn) table(name string) (*table, error) {
	t, ok := c.entities[name]
	if !ok {
		return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "memory", Message: fmt.Sprintf("no entity %q (have %s)", name, strings.Join(c.schema.EntityNames(), ", "))}
	}
	return t, nil
}

func (c *Conn) call(ctx context.Context, op, entity string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.requests++
	if c.FailCall != nil {
		return c.FailCall(op, entity)
	}
	return nil
}

// Discover returns the schema the service was made with.
func (c *Conn) Discover(ctx context.Context) (*connector.Schema, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.schema.Clone(), nil
}

// Close does nothing.
func (c *Conn) Close() error { return nil }

// Stats counts calls as requests.
func (c *Conn) Stats() connector.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return connector.Stats{Requests: c.requests}
}

func (t *table) record(key string, r *row, fields []string) connector.Record {
	rec := connector.Record{Key: key, Modified: r.modified, Deleted: r.deleted}
	if r.deleted {
		return rec
	}
	rec.Fields = map[string]any{}
	want := func(string) bool { return true }
	if fields != nil {
		set := map[string]bool{t.ent.Key: true, t.ent.Modified: true}
		for _, f := range fields {
			set[f] = true
		}
		want = func(n string) bool { return set[n] }
	}
	for n, v := range r.fields {
		if want(n) {
			rec.Fields[n] = copyValue(v)
		}
	}
	return rec
}

func copyValue(v any) any {
	if l, ok := v.([]any); ok {
		return append([]any(nil), l...)
	}
	return v
}

// Read emits records by key (full) or by change sequence (since a cursor).
// The cursor is the sequence number of the last change emitted.
func (c *Conn) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	c.mu.Lock()
	if err := c.call(ctx, "read", req.Entity); err != nil {
		c.mu.Unlock()
		return err
	}
	t, err := c.table(req.Entity)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	since := int64(-1)
	if !req.Since.IsZero() {
		since, err = strconv.ParseInt(req.Since.Token, 10, 64)
		if err != nil {
			c.mu.Unlock()
			return &connector.Error{Kind: connector.ErrorExpiredCursor, Service: "memory", Message: fmt.Sprintf("cursor %q is not valid", req.Since.Token)}
		}
	}
	// Snapshot under the lock, emit without it.
	type item struct {
		rec connector.Record
		seq int64
	}
	var items []item
	for key, r := range t.rows {
		if since < 0 && r.deleted {
			continue
		}
		if since >= 0 && r.seq <= since {
			continue
		}
		items = append(items, item{t.record(key, r, req.Fields), r.seq})
	}
	high := c.seq
	c.mu.Unlock()

	if since < 0 {
		sort.Slice(items, func(i, j int) bool { return items[i].rec.Key < items[j].rec.Key })
	} else {
		sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	}
	size := req.BatchSize
	if size <= 0 {
		size = 100
	}
	for start := 0; start == 0 || start < len(items); start += size {
		end := min(start+size, len(items))
		b := connector.Batch{Records: make([]connector.Record, 0, end-start)}
		for _, it := range items[start:end] {
			b.Records = append(b.Records, it.rec)
		}
		switch {
		case end == len(items):
			// The last batch: everything up to the snapshot is covered.
			b.Next = connector.Cursor{Token: strconv.FormatInt(max(high, since), 10)}
		case since >= 0:
			// Incremental batches are in sequence order, so each is a
			// checkpoint.
			b.Next = connector.Cursor{Token: strconv.FormatInt(items[end-1].seq, 10)}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// Lookup finds records by key or by a lookup field.
func (c *Conn) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call(ctx, "lookup", req.Entity); err != nil {
		return connector.LookupResult{}, err
	}
	t, err := c.table(req.Entity)
	if err != nil {
		return connector.LookupResult{}, err
	}
	f, ok := t.ent.Field(req.Field)
	if !ok || (req.Field != t.ent.Key && !f.Lookup) {
		return connector.LookupResult{}, fmt.Errorf("memory: lookup by %s.%s: %w", req.Entity, req.Field, connector.ErrUnsupported)
	}
	res := connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}
	keys := make([]string, 0, len(t.rows))
	for k := range t.rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, v := range req.Values {
		for _, k := range keys {
			r := t.rows[k]
			if r.deleted {
				continue
			}
			var hit bool
			if req.Field == t.ent.Key {
				// Keys are strings in Record.Key: compare the value's string
				// form, so 17 and "17" both find key "17" of an Int key.
				kv, err := connector.Canonical(connector.ID, v)
				hit = err == nil && kv == k
			} else {
				hit = same(f, r.fields[req.Field], v)
			}
			if hit {
				res.Records[i] = append(res.Records[i], t.record(k, r, req.Fields))
			}
		}
	}
	return res, nil
}

func same(f *connector.Field, a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	if f.CaseInsensitive {
		sa, ok1 := a.(string)
		sb, ok2 := b.(string)
		if ok1 && ok2 {
			return strings.EqualFold(sa, sb)
		}
	}
	cb, err := connector.Canonical(f.Type, b)
	if err != nil {
		return false
	}
	return connector.Equal(a, cb)
}

// Upsert creates records without a key and updates records with one.
func (c *Conn) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call(ctx, "upsert", req.Entity); err != nil {
		return connector.BatchResult{}, err
	}
	t, err := c.table(req.Entity)
	if err != nil {
		return connector.BatchResult{}, err
	}
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Records))}
	for i, rec := range req.Records {
		res.Results[i] = c.write(t, rec)
	}
	return res, nil
}

// invalid is a refusal of the record's data; field names the field it
// concerns, as a service's validation error does (connector.Error.Fields).
func invalid(op, field, format string, args ...any) *connector.Error {
	return &connector.Error{Kind: connector.ErrorInvalid, Service: "memory", Op: op, Message: fmt.Sprintf(format, args...), Fields: []string{field}}
}

func (c *Conn) write(t *table, rec connector.Record) connector.WriteResult {
	op := "create " + t.ent.Name
	if rec.Key != "" {
		op = "update " + t.ent.Name + " " + rec.Key
	}
	fail := func(err error) connector.WriteResult {
		return connector.WriteResult{Key: rec.Key, Effect: connector.Failed, Err: err}
	}
	if c.FailWrite != nil {
		if err := c.FailWrite(t.ent.Name, rec); err != nil {
			return fail(err)
		}
	}
	values := map[string]any{}
	for name, v := range rec.Fields {
		f, ok := t.ent.Field(name)
		if !ok {
			return fail(invalid(op, name, "entity %s has no field %q", t.ent.Name, name))
		}
		if f.ReadOnly {
			return fail(invalid(op, name, "field %q is read-only", name))
		}
		cv, err := connector.Canonical(f.Type, v)
		if err != nil {
			return fail(invalid(op, name, "field %q: %v", name, err))
		}
		if s, ok := cv.(string); ok && f.MaxLength > 0 && len([]rune(s)) > f.MaxLength {
			return fail(invalid(op, name, "field %q: %d characters, the maximum is %d", name, len([]rune(s)), f.MaxLength))
		}
		if f.Type == connector.Choice && cv != nil && len(f.Options) > 0 && !hasOption(f, cv.(int64)) {
			return fail(invalid(op, name, "field %q: %d is not one of its options", name, cv))
		}
		values[name] = cv
	}
	// Uniqueness.
	for name, v := range values {
		f, _ := t.ent.Field(name)
		if !f.Unique || v == nil {
			continue
		}
		for k, r := range t.rows {
			if k != rec.Key && !r.deleted && same(f, r.fields[name], v) {
				return fail(&connector.Error{Kind: connector.ErrorConflict, Service: "memory", Op: op, Message: fmt.Sprintf("%s %v already exists (record %s)", name, v, k), Fields: []string{name}})
			}
		}
	}
	now := c.now().UTC()
	if rec.Key == "" {
		for _, f := range t.ent.Fields {
			if f.Required && values[f.Name] == nil {
				return fail(invalid(op, f.Name, "field %q is required", f.Name))
			}
		}
		c.nextID++
		key := fmt.Sprintf("%s-%06d", t.ent.Name, c.nextID)
		if kf, ok := t.ent.Field(t.ent.Key); ok && kf.Type == connector.Int {
			key = strconv.FormatInt(c.nextID, 10)
		}
		c.seq++
		r := &row{fields: values, seq: c.seq, modified: now}
		c.stamp(t, key, r)
		t.rows[key] = r
		return connector.WriteResult{Key: key, Effect: connector.Created}
	}
	r, ok := t.rows[rec.Key]
	if !ok || r.deleted {
		return fail(&connector.Error{Kind: connector.ErrorNotFound, Service: "memory", Op: op, Message: fmt.Sprintf("%s %s does not exist", t.ent.Name, rec.Key)})
	}
	changed := false
	for name, v := range values {
		if !connector.Equal(r.fields[name], v) {
			changed = true
		}
	}
	if !changed {
		return connector.WriteResult{Key: rec.Key, Effect: connector.Unchanged}
	}
	for name, v := range values {
		if v == nil {
			delete(r.fields, name)
		} else {
			r.fields[name] = v
		}
	}
	c.seq++
	r.seq, r.modified = c.seq, now
	c.stamp(t, rec.Key, r)
	return connector.WriteResult{Key: rec.Key, Effect: connector.Updated}
}

// stamp sets the key and modification fields the service maintains.
func (c *Conn) stamp(t *table, key string, r *row) {
	if kf, ok := t.ent.Field(t.ent.Key); ok {
		v, err := connector.Canonical(kf.Type, key)
		if err == nil {
			r.fields[t.ent.Key] = v
		}
	}
	if t.ent.Modified != "" {
		r.fields[t.ent.Modified] = r.modified
	}
}

func hasOption(f *connector.Field, v int64) bool {
	for _, o := range f.Options {
		if o.Value == v {
			return true
		}
	}
	return false
}

// Delete removes records; later incremental reads report them as deleted.
func (c *Conn) Delete(ctx context.Context, req connector.DeleteRequest) (connector.BatchResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call(ctx, "delete", req.Entity); err != nil {
		return connector.BatchResult{}, err
	}
	t, err := c.table(req.Entity)
	if err != nil {
		return connector.BatchResult{}, err
	}
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Keys))}
	for i, k := range req.Keys {
		r, ok := t.rows[k]
		if !ok || r.deleted {
			res.Results[i] = connector.WriteResult{Key: k, Effect: connector.Failed, Err: &connector.Error{Kind: connector.ErrorNotFound, Service: "memory", Op: "delete " + t.ent.Name, Message: fmt.Sprintf("%s %s does not exist", t.ent.Name, k)}}
			continue
		}
		c.seq++
		r.deleted, r.seq, r.modified, r.fields = true, c.seq, c.now().UTC(), nil
		res.Results[i] = connector.WriteResult{Key: k, Effect: connector.Deleted}
	}
	return res, nil
}

// Records returns the live records of an entity, sorted by key, for tests to
// inspect.
func (c *Conn) Records(entity string) []connector.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entities[entity]
	if !ok {
		return nil
	}
	var out []connector.Record
	for k, r := range t.rows {
		if !r.deleted {
			out = append(out, t.record(k, r, nil))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Deleter   = (*Conn)(nil)
	_ connector.Metered   = (*Conn)(nil)
)
