// Package conntest is the conformance suite every connector passes. A
// connector adopts it in about ten lines:
//
//	func TestConformance(t *testing.T) {
//		conntest.Run(t, func(t *testing.T) connector.Connector { return newAgainstEmulator(t) }, conntest.Options{
//			Entity:      "contact",
//			NewRecord:   func(i int) map[string]any { return map[string]any{"lastname": fmt.Sprint("L", i), ...} },
//			UpdateField: "firstname",
//			...
//		})
//	}
//
// Each subtest gets a fresh connector over an empty service from the factory.
// The suite checks the contract written in connectors/connector: discovery is
// stable, a full read returns everything written exactly once, incremental
// reads return changes and only changes, writes are partial and repeatable,
// lookups find what was written, per-record failures stay per record, and
// cancellation is honoured; and each optional capability the connector
// implements (Estimator, Counter, Normalizer, Deleter, Limited, Metered)
// does what it declares.
package conntest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/testkit"
)

// Options describe the entity the suite exercises.
type Options struct {
	// Entity is the entity to write and read.
	Entity string
	// NewRecord returns the fields of a valid new record; records for
	// different i must not collide on unique fields.
	NewRecord func(i int) map[string]any
	// UpdateField is a writable field NewRecord sets; UpdateValue returns a
	// new valid value for it (different from NewRecord's).
	UpdateField string
	UpdateValue func(i int) any
	// LookupFields are fields set by NewRecord to look records up by (the
	// key is always tried).
	LookupFields []string
	// MissingKey is a well-formed key of a record that does not exist.
	MissingKey string
	// Invalid, when set, returns fields of a record the service rejects
	// (to check that a failure stays with its record).
	Invalid func(i int) map[string]any
	// Corrupt, when set, makes the service answer the record with key c
	// wrote with a value its field cannot hold (a string field holding a
	// number), and returns that field. The suite then checks that a full
	// read goes on past it: the record comes as a Batch.Rejects entry for
	// that field, of ErrorInvalid, and every other record as usual.
	Corrupt func(t *testing.T, c connector.Connector, key string) (field string)
	// Records is how many records the suite writes (default 25), and
	// BatchSize the read batch size hint (default 10), so reads page.
	Records   int
	BatchSize int
	// Settle, when set, is called after writes and before an incremental
	// read (a service whose change stream has a granularity, such as People's
	// one-second modifiedAt, may need the clock to move on).
	Settle func(t *testing.T)

	// The optional capabilities (capabilities.go).

	// Served, when set, returns how many requests the service behind c has
	// answered so far (an emulator's count): a Metered connector's Stats
	// must agree, and an Estimator's estimates are checked against it (else
	// against Stats).
	Served func(c connector.Connector) int64
	// EstimateSizes are the record counts of the Estimator check's writes
	// (default 1, 2 and Records); a connector whose requests change at a
	// batch size passes sizes around it.
	EstimateSizes []int
	// EstimateRequests, when set, returns more writes for the Estimator
	// check, over the records it created (keys): shapes whose cost differs
	// (records without an identity, another entity).
	EstimateRequests func(t *testing.T, c connector.Connector, keys []string) []connector.UpsertRequest
	// NormalizeValues are values in forms the service rewrites, for the
	// Normalizer check: each is written to a record, and what a read
	// returns must be what Normalize says.
	NormalizeValues []FieldValue
	// Limits, when set, are the limits a Limited connector must declare.
	Limits []connector.Limit
}

// FieldValue is a value for a field.
type FieldValue struct {
	Field string
	Value any
}

func (o *Options) defaults() {
	if o.Records <= 0 {
		o.Records = 25
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Settle == nil {
		o.Settle = func(*testing.T) {}
	}
	if o.EstimateSizes == nil {
		o.EstimateSizes = []int{1, 2, o.Records}
	}
}

// Run runs the suite. newConn returns a connector over an empty service; it
// should register its own cleanup (t.Cleanup) for servers it starts.
func Run(t *testing.T, newConn func(t *testing.T) connector.Connector, opts Options) {
	opts.defaults()
	s := &suite{opts: opts, newConn: newConn}
	t.Run("DiscoverIsStable", s.discover)
	t.Run("CreateThenFullRead", s.createRead)
	t.Run("UpsertTwiceChangesNothing", s.upsertTwice)
	t.Run("PartialUpdateKeepsOtherFields", s.partialUpdate)
	t.Run("NilClearsField", s.clearField)
	t.Run("UpdateMissingIsNotFound", s.updateMissing)
	t.Run("Lookup", s.lookup)
	t.Run("Incremental", s.incremental)
	t.Run("Delete", s.delete)
	t.Run("FailureStaysWithRecord", s.perRecordFailure)
	t.Run("EmitErrorStopsRead", s.emitError)
	t.Run("MalformedRecordIsRejected", s.malformed)
	t.Run("Cancellation", s.cancellation)
	t.Run("EstimatesAreTheRequestsSent", s.estimates)
	t.Run("CountCountsTheRecords", s.count)
	t.Run("NormalizeIsWhatReadsReturn", s.normalize)
	t.Run("LimitsAreWellFormed", s.limits)
	t.Run("StatsCountTheRequests", s.stats)
	t.Run("ReadRateIsARate", s.readRate)
}

type suite struct {
	opts    Options
	newConn func(t *testing.T) connector.Connector
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) conn(t *testing.T) (connector.Connector, *connector.Entity) {
	t.Helper()
	c := s.newConn(t)
	t.Cleanup(func() { _ = c.Close() })
	schema, err := c.Discover(ctxT(t))
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	ent, ok := schema.Entity(s.opts.Entity)
	if !ok {
		t.Fatalf("Discover: no entity %q (have %v)", s.opts.Entity, schema.EntityNames())
	}
	return c, ent
}

// create writes n new records and returns their keys.
func (s *suite) create(t *testing.T, c connector.Connector, from, n int) []string {
	t.Helper()
	req := connector.UpsertRequest{Entity: s.opts.Entity}
	for i := from; i < from+n; i++ {
		req.Records = append(req.Records, connector.Record{Fields: s.opts.NewRecord(i)})
	}
	res, err := c.Upsert(ctxT(t), req)
	if err != nil {
		t.Fatalf("Upsert (create %d): %v", n, err)
	}
	if len(res.Results) != n {
		t.Fatalf("Upsert: %d results for %d records", len(res.Results), n)
	}
	keys := make([]string, n)
	seen := map[string]bool{}
	for i, r := range res.Results {
		if r.Effect != connector.Created || r.Key == "" || r.Err != nil {
			t.Fatalf("create record %d: op %q key %q err %v", from+i, r.Effect, r.Key, r.Err)
		}
		if seen[r.Key] {
			t.Fatalf("create: key %q returned twice", r.Key)
		}
		seen[r.Key] = true
		keys[i] = r.Key
	}
	return keys
}

func (s *suite) readAll(t *testing.T, c connector.Connector, since connector.Cursor) ([]connector.Record, connector.Cursor) {
	t.Helper()
	recs, _, batches := testkit.ReadAll(t, ctxT(t), c, connector.ReadRequest{Entity: s.opts.Entity, Since: since, BatchSize: s.opts.BatchSize})
	if len(batches) == 0 {
		t.Fatalf("Read emitted no batch; the last batch must carry the cursor even when empty")
	}
	return recs, batches[len(batches)-1].Next
}

// malformed checks that one record the connector cannot convert is a
// reject of that record, not a failure of the read (Options.Corrupt).
func (s *suite) malformed(t *testing.T) {
	if s.opts.Corrupt == nil {
		t.Skip("Options.Corrupt not set: the service cannot be made to answer a malformed record")
	}
	c, ent := s.conn(t)
	keys := s.create(t, c, 0, s.opts.Records)
	bad := keys[len(keys)/2]
	field := s.opts.Corrupt(t, c, bad)
	var recs []connector.Record
	var rejects []connector.RecordError
	var last connector.Cursor
	err := c.Read(ctxT(t), connector.ReadRequest{Entity: s.opts.Entity, BatchSize: s.opts.BatchSize}, func(b connector.Batch) error {
		recs = append(recs, b.Records...)
		rejects = append(rejects, b.Rejects...)
		last = b.Next
		return nil
	})
	if err != nil {
		t.Fatalf("a full read with one malformed record failed: %v", err)
	}
	if len(rejects) != 1 || rejects[0].Key != bad || rejects[0].Field != field || connector.KindOf(rejects[0].Err) != connector.ErrorInvalid {
		t.Fatalf("rejects %+v; want one for record %s, field %s, of kind invalid", rejects, bad, field)
	}
	got := byKey(recs)
	if _, ok := got[bad]; ok || len(recs) != len(keys)-1 || len(got) != len(keys)-1 {
		t.Errorf("full read returned %d records (%d distinct); want the %d others, not the malformed one", len(recs), len(got), len(keys)-1)
	}
	if ent.Incremental && last.IsZero() {
		t.Error("the last batch of the read has no cursor")
	}
}

func byKey(recs []connector.Record) map[string]connector.Record {
	m := map[string]connector.Record{}
	for _, r := range recs {
		m[r.Key] = r
	}
	return m
}

func (s *suite) discover(t *testing.T) {
	c, ent := s.conn(t)
	a, err := c.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	a.Normalize()
	b.Normalize()
	if !reflect.DeepEqual(a, b) {
		t.Error("two Discover calls returned different schemas")
	}
	if err := a.Validate(); err != nil {
		t.Errorf("schema is not valid: %v", err)
	}
	if _, ok := ent.Field(ent.Key); !ok {
		t.Errorf("entity %s: key %q is not a field", ent.Name, ent.Key)
	}
	for name := range s.opts.NewRecord(0) {
		if _, ok := ent.Field(name); !ok {
			t.Errorf("NewRecord sets %q, which Discover does not list", name)
		}
	}
	for _, f := range s.opts.LookupFields {
		if fd, ok := ent.Field(f); !ok || !fd.Lookup {
			t.Errorf("lookup field %q is not marked Lookup in the schema", f)
		}
	}
}

func (s *suite) checkFields(t *testing.T, ent *connector.Entity, got connector.Record, want map[string]any) {
	t.Helper()
	for name, w := range want {
		f, _ := ent.Field(name)
		cw, err := connector.Canonical(f.Type, w)
		if err != nil {
			t.Fatalf("NewRecord value for %s: %v", name, err)
		}
		g := got.Fields[name]
		if f.CaseInsensitive {
			if gs, ok := g.(string); ok {
				if ws, ok := cw.(string); ok && strings.EqualFold(gs, ws) {
					continue
				}
			}
		}
		if !connector.Equal(g, cw) {
			t.Errorf("record %s: field %s = %#v, want %#v", got.Key, name, g, cw)
		}
	}
}

func (s *suite) createRead(t *testing.T) {
	c, ent := s.conn(t)
	keys := s.create(t, c, 0, s.opts.Records)
	recs, next := s.readAll(t, c, connector.Cursor{})
	if len(recs) != len(keys) {
		t.Fatalf("full read returned %d records, wrote %d", len(recs), len(keys))
	}
	got := byKey(recs)
	if len(got) != len(keys) {
		t.Fatalf("full read returned a key twice")
	}
	for i, k := range keys {
		r, ok := got[k]
		if !ok {
			t.Fatalf("full read lacks record %s", k)
		}
		if r.Deleted {
			t.Errorf("full read returned %s as deleted", k)
		}
		s.checkFields(t, ent, r, s.opts.NewRecord(i))
	}
	if ent.Incremental && next.IsZero() {
		t.Error("the last batch of a full read of an incremental entity has no cursor")
	}
}

func (s *suite) update(t *testing.T, c connector.Connector, key string, fields map[string]any) connector.WriteResult {
	t.Helper()
	res, err := c.Upsert(ctxT(t), connector.UpsertRequest{Entity: s.opts.Entity, Records: []connector.Record{{Key: key, Fields: fields}}})
	if err != nil {
		t.Fatalf("Upsert (update %s): %v", key, err)
	}
	if len(res.Results) != 1 {
		t.Fatalf("Upsert: %d results for 1 record", len(res.Results))
	}
	return res.Results[0]
}

func (s *suite) upsertTwice(t *testing.T) {
	c, ent := s.conn(t)
	keys := s.create(t, c, 0, 3)
	for round := 0; round < 2; round++ {
		for i, k := range keys {
			fields := s.opts.NewRecord(i)
			fields[s.opts.UpdateField] = s.opts.UpdateValue(i)
			r := s.update(t, c, k, fields)
			if r.Err != nil || (r.Effect != connector.Updated && r.Effect != connector.Unchanged) || r.Key != k {
				t.Fatalf("round %d: update %s: op %q key %q err %v", round, k, r.Effect, r.Key, r.Err)
			}
		}
	}
	recs, _ := s.readAll(t, c, connector.Cursor{})
	got := byKey(recs)
	if len(got) != len(keys) {
		t.Fatalf("after two identical upserts the full read has %d records, want %d", len(got), len(keys))
	}
	for i, k := range keys {
		want := s.opts.NewRecord(i)
		want[s.opts.UpdateField] = s.opts.UpdateValue(i)
		s.checkFields(t, ent, got[k], want)
	}
}

func (s *suite) partialUpdate(t *testing.T) {
	c, ent := s.conn(t)
	keys := s.create(t, c, 0, 1)
	r := s.update(t, c, keys[0], map[string]any{s.opts.UpdateField: s.opts.UpdateValue(0)})
	if r.Err != nil || r.Effect != connector.Updated {
		t.Fatalf("update: op %q err %v", r.Effect, r.Err)
	}
	recs, _ := s.readAll(t, c, connector.Cursor{})
	want := s.opts.NewRecord(0)
	want[s.opts.UpdateField] = s.opts.UpdateValue(0)
	s.checkFields(t, ent, byKey(recs)[keys[0]], want)
}

func (s *suite) clearField(t *testing.T) {
	c, _ := s.conn(t)
	keys := s.create(t, c, 0, 1)
	r := s.update(t, c, keys[0], map[string]any{s.opts.UpdateField: nil})
	if r.Err != nil || r.Effect != connector.Updated {
		t.Fatalf("clear: op %q err %v", r.Effect, r.Err)
	}
	recs, _ := s.readAll(t, c, connector.Cursor{})
	if v := byKey(recs)[keys[0]].Fields[s.opts.UpdateField]; v != nil {
		t.Errorf("after writing nil, %s = %#v", s.opts.UpdateField, v)
	}
}

func (s *suite) updateMissing(t *testing.T) {
	if s.opts.MissingKey == "" {
		t.Skip("no MissingKey")
	}
	c, _ := s.conn(t)
	r := s.update(t, c, s.opts.MissingKey, map[string]any{s.opts.UpdateField: s.opts.UpdateValue(0)})
	if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorNotFound {
		t.Fatalf("update of a missing record: op %q err %v; want failed, not-found", r.Effect, r.Err)
	}
	recs, _ := s.readAll(t, c, connector.Cursor{})
	if len(recs) != 0 {
		t.Fatalf("updating a missing record created %d records", len(recs))
	}
}

func (s *suite) lookup(t *testing.T) {
	c, ent := s.conn(t)
	keys := s.create(t, c, 0, 5)
	fields := append([]string{ent.Key}, s.opts.LookupFields...)
	for _, field := range fields {
		t.Run(field, func(t *testing.T) {
			f, _ := ent.Field(field)
			var values []any
			for i := range keys {
				if field == ent.Key {
					values = append(values, keys[i])
				} else {
					v := s.opts.NewRecord(i)[field]
					if f.CaseInsensitive {
						if sv, ok := v.(string); ok {
							v = strings.ToUpper(sv) // the service compares without case
						}
					}
					values = append(values, v)
				}
			}
			missing := any(s.opts.MissingKey)
			if field != ent.Key {
				missing = s.opts.NewRecord(1_000_000)[field]
			}
			if missing != nil && missing != "" {
				values = append(values, missing)
			}
			res, err := c.Lookup(ctxT(t), connector.LookupRequest{Entity: s.opts.Entity, Field: field, Values: values})
			if err != nil {
				t.Fatalf("Lookup by %s: %v", field, err)
			}
			if len(res.Records) != len(values) {
				t.Fatalf("Lookup by %s: %d result lists for %d values", field, len(res.Records), len(values))
			}
			for i, k := range keys {
				if len(res.Records[i]) != 1 || res.Records[i][0].Key != k {
					t.Errorf("Lookup %s=%v: got %v, want record %s", field, values[i], keysOf(res.Records[i]), k)
				}
			}
			if len(values) > len(keys) && len(res.Records[len(keys)]) != 0 {
				t.Errorf("Lookup of a missing value found %v", keysOf(res.Records[len(keys)]))
			}
		})
	}
}

func keysOf(recs []connector.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Key)
	}
	sort.Strings(out)
	return out
}

func (s *suite) incremental(t *testing.T) {
	c, ent := s.conn(t)
	if !ent.Incremental {
		err := c.Read(ctxT(t), connector.ReadRequest{Entity: s.opts.Entity, Since: connector.Cursor{Token: "x"}}, func(connector.Batch) error { return nil })
		if !errors.Is(err, connector.ErrUnsupported) {
			t.Fatalf("incremental read of a non-incremental entity: %v, want ErrUnsupported", err)
		}
		return
	}
	keys := s.create(t, c, 0, 6)
	_, cur := s.readAll(t, c, connector.Cursor{})
	s.opts.Settle(t)

	// Nothing changed: an incremental read returns nothing.
	recs, cur2 := s.readAll(t, c, cur)
	if len(recs) != 0 {
		t.Errorf("incremental read with no changes returned %v", keysOf(recs))
	}
	if cur2.IsZero() {
		t.Fatal("incremental read returned no cursor")
	}
	s.opts.Settle(t)

	// One update and one create come back, and nothing else.
	if r := s.update(t, c, keys[0], map[string]any{s.opts.UpdateField: s.opts.UpdateValue(0)}); r.Err != nil {
		t.Fatal(r.Err)
	}
	created := s.create(t, c, 100, 1)
	s.opts.Settle(t)
	recs, cur3 := s.readAll(t, c, cur2)
	got := byKey(recs)
	if _, ok := got[keys[0]]; !ok {
		t.Errorf("incremental read lacks the updated record %s (got %v)", keys[0], keysOf(recs))
	}
	if _, ok := got[created[0]]; !ok {
		t.Errorf("incremental read lacks the created record %s (got %v)", created[0], keysOf(recs))
	}
	for _, k := range keys[1:] {
		if _, ok := got[k]; ok {
			t.Errorf("incremental read returned unchanged record %s", k)
		}
	}
	if r, ok := got[keys[0]]; ok {
		want := s.opts.NewRecord(0)
		want[s.opts.UpdateField] = s.opts.UpdateValue(0)
		s.checkFields(t, ent, r, want)
	}
	s.opts.Settle(t)
	recs, _ = s.readAll(t, c, cur3)
	if len(recs) != 0 {
		t.Errorf("second incremental read with no changes returned %v", keysOf(recs))
	}

	if d, ok := c.(connector.Deleter); ok && ent.Deletes {
		res, err := d.Delete(ctxT(t), connector.DeleteRequest{Entity: s.opts.Entity, Keys: []string{keys[1]}})
		if err != nil || res.Results[0].Effect != connector.Deleted {
			t.Fatalf("Delete: %v %+v", err, res)
		}
		s.opts.Settle(t)
		recs, _ = s.readAll(t, c, cur3)
		r, ok := byKey(recs)[keys[1]]
		if !ok || !r.Deleted {
			t.Errorf("incremental read after a delete: %+v, want %s deleted", recs, keys[1])
		}
	}
}

func (s *suite) delete(t *testing.T) {
	c, _ := s.conn(t)
	d, ok := c.(connector.Deleter)
	if !ok {
		t.Skip("connector does not delete")
	}
	keys := s.create(t, c, 0, 2)
	missing := s.opts.MissingKey
	if missing == "" {
		missing = keys[0] + "-missing"
	}
	res, err := d.Delete(ctxT(t), connector.DeleteRequest{Entity: s.opts.Entity, Keys: []string{keys[0], missing}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 2 || res.Results[0].Effect != connector.Deleted {
		t.Fatalf("Delete: %+v", res.Results)
	}
	if res.Results[1].Effect != connector.Failed || connector.KindOf(res.Results[1].Err) != connector.ErrorNotFound {
		t.Errorf("deleting a missing record: %+v, want failed, not-found", res.Results[1])
	}
	recs, _ := s.readAll(t, c, connector.Cursor{})
	if got := keysOf(recs); !reflect.DeepEqual(got, []string{keys[1]}) {
		t.Errorf("after delete the full read has %v, want [%s]", got, keys[1])
	}
}

func (s *suite) perRecordFailure(t *testing.T) {
	if s.opts.Invalid == nil {
		t.Skip("no Invalid record")
	}
	c, _ := s.conn(t)
	req := connector.UpsertRequest{Entity: s.opts.Entity, Records: []connector.Record{
		{Fields: s.opts.NewRecord(0)},
		{Fields: s.opts.Invalid(1)},
		{Fields: s.opts.NewRecord(2)},
	}}
	res, err := c.Upsert(ctxT(t), req)
	if err != nil {
		t.Fatalf("Upsert with one bad record failed as a whole: %v", err)
	}
	if len(res.Results) != 3 {
		t.Fatalf("%d results for 3 records", len(res.Results))
	}
	if res.Results[0].Effect != connector.Created || res.Results[2].Effect != connector.Created {
		t.Errorf("good records: %+v, %+v", res.Results[0], res.Results[2])
	}
	if res.Results[1].Effect != connector.Failed || !connector.RecordLevel(res.Results[1].Err) {
		t.Errorf("bad record: op %q err %v (kind %q), want a record-level failure", res.Results[1].Effect, res.Results[1].Err, connector.KindOf(res.Results[1].Err))
	}
	recs, _ := s.readAll(t, c, connector.Cursor{})
	if len(recs) != 2 {
		t.Errorf("after a batch with one bad record the service has %d records, want 2", len(recs))
	}
}

func (s *suite) emitError(t *testing.T) {
	c, _ := s.conn(t)
	s.create(t, c, 0, s.opts.BatchSize+1)
	stop := fmt.Errorf("stop here")
	calls := 0
	err := c.Read(ctxT(t), connector.ReadRequest{Entity: s.opts.Entity, BatchSize: s.opts.BatchSize}, func(connector.Batch) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("Read returned %v, want the emit error", err)
	}
	if calls != 1 {
		t.Errorf("emit called %d times after returning an error", calls)
	}
}

func (s *suite) cancellation(t *testing.T) {
	c, ent := s.conn(t)
	s.create(t, c, 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Read(ctx, connector.ReadRequest{Entity: s.opts.Entity}, func(connector.Batch) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: %v", err)
	}
	if _, err := c.Upsert(ctx, connector.UpsertRequest{Entity: s.opts.Entity, Records: []connector.Record{{Fields: s.opts.NewRecord(1)}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Upsert with a cancelled context: %v", err)
	}
	if _, err := c.Lookup(ctx, connector.LookupRequest{Entity: s.opts.Entity, Field: ent.Key, Values: []any{"x"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup with a cancelled context: %v", err)
	}
}
