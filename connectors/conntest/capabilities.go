package conntest

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
)

// The optional capabilities (connector.Estimator, Counter, Normalizer,
// Deleter, Limited, Metered, ReadRater) are checked like the core contract: a
// connector that declares one, by implementing it, passes its check;
// one that does not skips it. (Deleter is checked by Delete and
// Incremental in conntest.go.)

// requests returns a function counting the requests sent so far: the
// service's own count (Options.Served), else the connector's (Metered);
// nil when neither can tell.
func (s *suite) requests(c connector.Connector) func() int64 {
	if s.opts.Served != nil {
		return func() int64 { return s.opts.Served(c) }
	}
	if m, ok := c.(connector.Metered); ok {
		// An estimate counts the requests a write needs; a retry after a
		// 429 or a 5xx is the service's doing, not the write's.
		return func() int64 { st := m.Stats(); return st.Requests - st.Retries }
	}
	return nil
}

// estimates checks that EstimateUpsert and EstimateDelete give the requests
// the writes then send: creates, updates and both in one call, for each of
// Options.EstimateSizes, then Options.EstimateRequests, then a delete.
func (s *suite) estimates(t *testing.T) {
	c, _ := s.conn(t)
	e, ok := c.(connector.Estimator)
	if !ok {
		t.Skip("connector is not an Estimator")
	}
	sent := s.requests(c)
	if sent == nil {
		t.Skip("neither Options.Served nor connector.Metered counts the requests sent")
	}
	check := func(what string, want int, do func()) {
		t.Helper()
		before := sent()
		do()
		if got := sent() - before; got != int64(want) {
			t.Errorf("%s sent %d requests; estimated %d", what, got, want)
		}
	}
	upsert := func(req connector.UpsertRequest) {
		t.Helper()
		res, err := c.Upsert(ctxT(t), req)
		if err != nil {
			t.Fatalf("Upsert: %v", err)
		}
		for i, r := range res.Results {
			if r.Effect == connector.Failed {
				t.Fatalf("Upsert record %d: %v", i, r.Err)
			}
		}
	}
	next := 0
	var keys []string
	for _, n := range s.opts.EstimateSizes {
		creates := connector.UpsertRequest{Entity: s.opts.Entity}
		for i := 0; i < n; i++ {
			creates.Records = append(creates.Records, connector.Record{Fields: s.opts.NewRecord(next + i)})
		}
		check(fmt.Sprintf("creating %d records", n), e.EstimateUpsert(creates), func() {
			res, err := c.Upsert(ctxT(t), creates)
			if err != nil {
				t.Fatalf("Upsert: %v", err)
			}
			for _, r := range res.Results {
				keys = append(keys, r.Key)
			}
		})
		updates := connector.UpsertRequest{Entity: s.opts.Entity}
		for i, k := range keys[len(keys)-n:] {
			updates.Records = append(updates.Records, connector.Record{Key: k, Fields: map[string]any{s.opts.UpdateField: s.opts.UpdateValue(next + i)}})
		}
		check(fmt.Sprintf("updating %d records", n), e.EstimateUpsert(updates), func() { upsert(updates) })
		next += n
		mixed := connector.UpsertRequest{Entity: s.opts.Entity}
		for i, k := range keys[len(keys)-n:] {
			mixed.Records = append(mixed.Records, connector.Record{Key: k, Fields: map[string]any{s.opts.UpdateField: s.opts.UpdateValue(next + i)}},
				connector.Record{Fields: s.opts.NewRecord(next + i)})
		}
		check(fmt.Sprintf("updating %d records and creating %d in one call", n, n), e.EstimateUpsert(mixed), func() {
			res, err := c.Upsert(ctxT(t), mixed)
			if err != nil {
				t.Fatalf("Upsert: %v", err)
			}
			for i, r := range res.Results {
				if mixed.Records[i].Key == "" {
					keys = append(keys, r.Key)
				}
			}
		})
		next += n
	}
	if s.opts.EstimateRequests != nil {
		for _, req := range s.opts.EstimateRequests(t, c, keys) {
			check(fmt.Sprintf("upserting %d %s records %v", len(req.Records), req.Entity, req.Records), e.EstimateUpsert(req), func() { upsert(req) })
		}
	}
	if d, ok := c.(connector.Deleter); ok {
		req := connector.DeleteRequest{Entity: s.opts.Entity, Keys: keys}
		check(fmt.Sprintf("deleting %d records", len(keys)), e.EstimateDelete(req), func() {
			if _, err := d.Delete(ctxT(t), req); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		})
	}
}

// count checks that Count counts the records written, exactly (the suite
// writes fewer than any service's cap), and fails for an unknown entity.
func (s *suite) count(t *testing.T) {
	c, _ := s.conn(t)
	ct, ok := c.(connector.Counter)
	if !ok {
		t.Skip("connector is not a Counter")
	}
	if n, exact, err := ct.Count(ctxT(t), s.opts.Entity); err != nil || n != 0 || !exact {
		t.Errorf("Count(%s) of an empty service = %d, %v, %v; want 0, exact", s.opts.Entity, n, exact, err)
	}
	s.create(t, c, 0, s.opts.Records)
	if n, exact, err := ct.Count(ctxT(t), s.opts.Entity); err != nil || n != s.opts.Records || !exact {
		t.Errorf("Count(%s) = %d, %v, %v; want %d, exact", s.opts.Entity, n, exact, err, s.opts.Records)
	}
	if _, _, err := ct.Count(ctxT(t), "conntest_no_such_entity"); err == nil {
		t.Error("Count of an unknown entity did not fail")
	}
}

// normalize checks that Normalize predicts what a read returns after a
// write: every field NewRecord writes, and each of Options.NormalizeValues
// written to one record in turn.
func (s *suite) normalize(t *testing.T) {
	c, ent := s.conn(t)
	nz, ok := c.(connector.Normalizer)
	if !ok {
		t.Skip("connector is not a Normalizer")
	}
	key := s.create(t, c, 0, 1)[0]
	readBack := func(field string) any {
		t.Helper()
		res, err := c.Lookup(ctxT(t), connector.LookupRequest{Entity: s.opts.Entity, Field: ent.Key, Values: []any{key}, Fields: []string{field}})
		if err != nil || len(res.Records) != 1 || len(res.Records[0]) != 1 {
			t.Fatalf("Lookup %s: %v %+v", key, err, res)
		}
		return res.Records[0][0].Fields[field]
	}
	for field, v := range s.opts.NewRecord(0) {
		f, ok := ent.Field(field)
		if !ok {
			continue
		}
		cv, err := connector.Canonical(f.Type, v)
		if err != nil {
			t.Fatalf("NewRecord's %s: %v", field, err)
		}
		if got, want := readBack(field), nz.Normalize(s.opts.Entity, field, cv); !connector.Equal(got, want) {
			t.Errorf("%s = %#v: read back %#v, Normalize says %#v", field, v, got, want)
		}
	}
	for _, fv := range s.opts.NormalizeValues {
		res, err := c.Upsert(ctxT(t), connector.UpsertRequest{Entity: s.opts.Entity, Records: []connector.Record{{Key: key, Fields: map[string]any{fv.Field: fv.Value}}}})
		if err != nil || res.Results[0].Effect == connector.Failed {
			t.Fatalf("writing %s = %#v: %v %+v", fv.Field, fv.Value, err, res.Results)
		}
		if got, want := readBack(fv.Field), nz.Normalize(s.opts.Entity, fv.Field, fv.Value); !connector.Equal(got, want) {
			t.Errorf("%s = %#v: read back %#v, Normalize says %#v", fv.Field, fv.Value, got, want)
		}
	}
}

// limits checks that the declared limits are well-formed (each has a scope
// and limits something; a rate has its window), and equal Options.Limits
// when it is set.
func (s *suite) limits(t *testing.T) {
	c := s.newConn(t)
	t.Cleanup(func() { _ = c.Close() })
	l, ok := c.(connector.Limited)
	if !ok {
		t.Skip("connector is not Limited")
	}
	got := l.Limits()
	if len(got) == 0 {
		t.Error("Limits() is empty; a connector without limits should not be Limited")
	}
	for _, lim := range got {
		if lim.Scope == "" || (lim.Requests <= 0 && lim.Concurrency <= 0) || (lim.Requests > 0) != (lim.Per > 0) || lim.Requests < 0 || lim.Concurrency < 0 {
			t.Errorf("malformed limit %+v", lim)
		}
	}
	if s.opts.Limits != nil && !reflect.DeepEqual(got, s.opts.Limits) {
		t.Errorf("Limits() = %+v, want %+v", got, s.opts.Limits)
	}
}

// readRate checks that a ReadRater's rate for the suite's entity is a
// positive, finite number of records per second: the engine compares two
// sides' rates to choose which a two-way sync's first run reads first, and
// a NaN, negative or infinite rate would make that choice meaningless.
func (s *suite) readRate(t *testing.T) {
	c := s.newConn(t)
	t.Cleanup(func() { _ = c.Close() })
	r, ok := c.(connector.ReadRater)
	if !ok {
		t.Skip("connector is not a ReadRater")
	}
	if v := r.ReadRate(s.opts.Entity); !(v > 0) || math.IsInf(v, 0) {
		t.Errorf("ReadRate(%q) = %v, want a positive finite number of records per second", s.opts.Entity, v)
	}
}

// stats checks that a Metered connector counts the requests it sends: what
// the service served (Options.Served) when it can tell, else more than
// none after a discovery, a write and a read.
func (s *suite) stats(t *testing.T) {
	c, _ := s.conn(t)
	m, ok := c.(connector.Metered)
	if !ok {
		t.Skip("connector is not Metered")
	}
	s.create(t, c, 0, 2)
	s.readAll(t, c, connector.Cursor{})
	st := m.Stats()
	if st.Requests <= 0 || st.Retries < 0 || st.Throttled < 0 || st.Retries > st.Requests || st.Throttled > st.Requests {
		t.Errorf("Stats() = %+v after a discovery, a write and a read", st)
	}
	if s.opts.Served != nil {
		if served := s.opts.Served(c); st.Requests != served {
			t.Errorf("Stats().Requests = %d; the service served %d", st.Requests, served)
		}
	}
}
