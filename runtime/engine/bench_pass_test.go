package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// genSource is a Dynamics-like contact source that generates its n records
// instead of storing them, so a benchmark measures the engine's memory, not
// the service's. A full read emits them all; an incremental read emits the
// records in changed, with a new first name.
type genSource struct {
	n        int
	changed  []int
	requests atomic.Int64
}

func genKey(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func genIndex(key string) int {
	i, _ := strconv.ParseInt(key[:8], 16, 64)
	return int(i)
}

func genContact(i int, first string) connector.Record {
	return connector.Record{Key: genKey(i), Fields: map[string]any{
		"contactid": genKey(i), "firstname": first, "lastname": fmt.Sprint("Last", i%89),
		"emailaddress1": fmt.Sprintf("p%d@example.com", i), "address1_city": "Zagreb", "jobtitle": "Engineer",
		"gendercode": int64(1 + i%3), "statecode": int64(0),
	}}
}

func (g *genSource) Discover(context.Context) (*connector.Schema, error) {
	return dynamics.StandardSchema(), nil
}
func (g *genSource) Close() error { return nil }
func (g *genSource) Stats() connector.Stats {
	return connector.Stats{Requests: g.requests.Load()}
}

func (g *genSource) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	g.requests.Add(1)
	size := req.BatchSize
	if !req.Since.IsZero() {
		b := connector.Batch{Next: connector.Cursor{Token: "v1"}}
		for _, i := range g.changed {
			b.Records = append(b.Records, genContact(i, "Changed"))
		}
		return emit(b)
	}
	for start := 0; start < g.n; start += size {
		if start > 0 && start%(50*size) == 0 {
			g.requests.Add(1) // a page request every 50 batches, as a service with large pages
		}
		b := connector.Batch{Records: make([]connector.Record, 0, size)}
		for i := start; i < min(start+size, g.n); i++ {
			b.Records = append(b.Records, genContact(i, fmt.Sprint("First", i%97)))
		}
		if start+size >= g.n {
			b.Next = connector.Cursor{Token: "v1"}
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

func (g *genSource) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	g.requests.Add(1)
	return connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}, nil
}

func (g *genSource) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	return connector.BatchResult{}, fmt.Errorf("genSource is read-only")
}

// sink is a People-like target that keeps nothing: it creates customers
// keyed by the externalId they carry, finds none by identity, and rebuilds a
// customer from its key (as created from the generated contact) on a lookup
// by key.
type sink struct {
	requests, created, updated atomic.Int64
}

func (s *sink) Discover(context.Context) (*connector.Schema, error) { return peopleSchema(), nil }
func (s *sink) Close() error                                        { return nil }
func (s *sink) Stats() connector.Stats                              { return connector.Stats{Requests: s.requests.Load()} }
func (s *sink) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	return fmt.Errorf("sink is write-only")
}

func (s *sink) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	s.requests.Add(1)
	res := connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}
	if req.Field != "id" {
		return res, nil
	}
	for i, v := range req.Values {
		ext := strings.TrimPrefix(keyString(v), "p:")
		c := genContact(genIndex(ext), fmt.Sprint("First", genIndex(ext)%97))
		g := map[int64]any{1: "MALE", 2: "FEMALE"}[c.Fields["gendercode"].(int64)]
		res.Records[i] = []connector.Record{{Key: "p:" + ext, Fields: map[string]any{
			"externalId": ext, "firstName": c.Fields["firstname"], "lastName": c.Fields["lastname"], "email": c.Fields["emailaddress1"],
			"city": c.Fields["address1_city"], "custom.JobTitle": c.Fields["jobtitle"], "gender": g,
		}}}
	}
	return res, nil
}

func (s *sink) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	s.requests.Add(1)
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Records))}
	for i, r := range req.Records {
		if r.Key == "" {
			s.created.Add(1)
			res.Results[i] = connector.WriteResult{Key: "p:" + r.Fields["externalId"].(string), Effect: connector.Created}
		} else {
			s.updated.Add(1)
			res.Results[i] = connector.WriteResult{Key: r.Key, Effect: connector.Updated}
		}
	}
	return res, nil
}

// peakHeap samples the live heap every few milliseconds until stopped.
type peakHeap struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

func watchHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	go func() {
		defer close(p.done)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > p.peak.Load() {
				p.peak.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakHeap) Stop() float64 {
	close(p.stop)
	<-p.done
	return float64(p.peak.Load()) / (1 << 20)
}

// passFigures runs an initial load of n generated contacts into the sink,
// then a pass without changes and one with 100, and returns the figures.
func passFigures(tb testing.TB, n int) map[string]float64 {
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	src, dst := &genSource{n: n}, &sink{}
	p := contactsPlan(spec{direction: plan.LeftToRight})
	env := Env{Connectors: map[string]connector.Connector{"crm": src, "infobip": dst}, Store: st}

	heap := watchHeap()
	start, cpu := time.Now(), cpuTime()
	rep, err := Run(ctx, p, env, Options{})
	elapsed, cpuUsed := time.Since(start), cpuTime()-cpu
	peak := heap.Stop()
	if err != nil {
		tb.Fatal(err)
	}
	if f := rep.Syncs[0].Flows[0]; f.Created != n || dst.created.Load() != int64(n) {
		tb.Fatalf("initial load: %+v", f)
	}
	out := map[string]float64{
		"records/s":    float64(n) / elapsed.Seconds(),
		"peak-heap-MB": peak,
		// CPU per record (engine, generator, sink and SQLite together):
		// what the machine must spend, however busy it is with others.
		"cpu-µs/record": float64(cpuUsed.Microseconds()) / float64(n),
	}
	if fi, err := os.Stat(filepath.Join(dir, "state.db")); err == nil {
		wal, _ := os.Stat(filepath.Join(dir, "state.db-wal"))
		size := fi.Size()
		if wal != nil {
			size += wal.Size()
		}
		out["state-bytes/pair"] = float64(size) / float64(n)
	}
	before := src.requests.Load() + dst.requests.Load()
	if _, err := Run(ctx, p, env, Options{}); err != nil {
		tb.Fatal(err)
	}
	out["requests-no-change"] = float64(src.requests.Load() + dst.requests.Load() - before)
	for i := range 100 {
		src.changed = append(src.changed, i*(n/100))
	}
	before = src.requests.Load() + dst.requests.Load()
	rep, err = Run(ctx, p, env, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if f := rep.Syncs[0].Flows[0]; f.Updated != 100 {
		tb.Fatalf("100 changes: %+v", f)
	}
	out["requests-100-changes"] = float64(src.requests.Load() + dst.requests.Load() - before)
	return out
}

// BenchmarkPass: an initial load through the whole engine (bounded
// pipeline, SQLite state) of 20k and 200k records; the peak heap must stay
// flat as the count grows tenfold. Run with -benchtime=1x.
func BenchmarkPass(b *testing.B) {
	for _, n := range []int{20_000, 200_000} {
		b.Run(fmt.Sprintf("generated-%dk", n/1000), func(b *testing.B) {
			var figs map[string]float64
			for b.Loop() {
				figs = passFigures(b, n)
			}
			for k, v := range figs {
				b.ReportMetric(v, k)
			}
		})
	}
}

// BenchmarkPassMemory: a two-way initial load between two memory services.
// The reference connector scans every record on each looked-up value, so
// the run is quadratic in n and measures the connector more than the
// engine: keep n small (BenchmarkPass measures the engine).
func BenchmarkPassMemory(b *testing.B) {
	const n = 2_000
	for b.Loop() {
		crm, ppl := memory.New(dynamics.StandardSchema()), memory.New(peopleSchema())
		var recs []connector.Record
		for i := range n {
			recs = append(recs, connector.Record{Fields: genContact(i, "F").Fields})
			delete(recs[i].Fields, "contactid")
			recs[i].Fields["gendercode"] = int64(1 + i%2)
		}
		res, err := crm.Upsert(context.Background(), connector.UpsertRequest{Entity: "contact", Records: recs})
		if err != nil || res.Count(connector.Created) != n {
			b.Fatalf("seeding: %v, %d created", err, res.Count(connector.Created))
		}
		st, err := state.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		rep, err := Run(context.Background(), contactsPlan(spec{}), Env{Connectors: map[string]connector.Connector{"crm": crm, "infobip": ppl}, Store: st}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if f := rep.Syncs[0].Flows[0]; f.Created != n {
			b.Fatalf("%+v", f)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		st.Close()
	}
}

// TestPassMemoryIsFlat runs the pass figures for 20k and 200k records and
// logs them; set SYNCLANG_BENCH=1. It checks the heap does not grow with
// the record count (at most 1.5x for 10x the records), not time.
func TestPassMemoryIsFlat(t *testing.T) {
	if os.Getenv("SYNCLANG_BENCH") == "" {
		t.Skip("set SYNCLANG_BENCH=1 to measure")
	}
	small, large := passFigures(t, 20_000), passFigures(t, 200_000)
	t.Logf("20k:  %v", small)
	t.Logf("200k: %v", large)
	if large["peak-heap-MB"] > 1.5*small["peak-heap-MB"]+5 {
		t.Errorf("peak heap grew with the record count: %.1f MB for 20k, %.1f MB for 200k", small["peak-heap-MB"], large["peak-heap-MB"])
	}
}
