package people

import (
	"fmt"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people/emulator"
)

// The benchmarks run against the emulator with its real limits (TimeScale
// 1) and the connector pacing at the documented rates (RateScale 1). They
// report persons per second and the ratio to the bound those limits allow:
// 5 bulk requests per second × 1000 persons = 5000 persons per second.
//
//	go test -run '^$' -bench . -benchtime 1x ./connectors/people/
const bound = 5 * maxBatch

func benchHarness(b *testing.B) *harness {
	b.Helper()
	h := newHarness(b, emulator.Options{Limits: "real", TimeScale: 1}, tuning{minBackoff: 250 * time.Millisecond, maxBackoff: 30 * time.Second})
	warm(b, h)
	return h
}

func report(b *testing.B, persons int, elapsed time.Duration, h *harness) {
	rate := float64(persons) / elapsed.Seconds()
	b.ReportMetric(rate, "persons/s")
	b.ReportMetric(rate/bound, "ratio-to-bound")
	st := h.c.Stats()
	b.ReportMetric(float64(st.Requests), "requests")
	b.ReportMetric(float64(st.Throttled), "429s")
}

// BenchmarkCreate creates 10,000 persons: 10 batch creates (5/s) and 10
// matches (15/s) to learn the ids.
func BenchmarkCreate(b *testing.B) {
	const n = 10_000
	var total time.Duration
	var h *harness
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h = benchHarness(b)
		recs := make([]connector.Record, n)
		for j := range recs {
			recs[j] = connector.Record{Fields: map[string]any{"firstName": fmt.Sprint("P", j), "lastName": "Bench",
				"email": fmt.Sprintf("p%d@example.com", j), "phone": fmt.Sprintf("4477%08d", j), "externalId": fmt.Sprint("crm-", j)}}
		}
		b.StartTimer()
		start := time.Now()
		res, err := h.c.Upsert(b.Context(), connector.UpsertRequest{Entity: EntityCustomer, Records: recs})
		total += time.Since(start)
		if err != nil || res.Count(connector.Created) != n {
			b.Fatalf("created %d of %d: %v", res.Count(connector.Created), n, err)
		}
	}
	report(b, n*b.N, total, h)
}

// BenchmarkUpdate updates two attributes of 10,000 persons: 10 PATCH
// batches (5/s).
func BenchmarkUpdate(b *testing.B) {
	const n = 10_000
	var total time.Duration
	var h *harness
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h = benchHarness(b)
		ids := insertMany(b, h.emu, n, "CUSTOMER", 0)
		recs := make([]connector.Record, n)
		for j, id := range ids {
			recs[j] = connector.Record{Key: fmt.Sprint(id), Fields: map[string]any{"city": "Split", "lastName": fmt.Sprint("L", j)}}
		}
		b.StartTimer()
		start := time.Now()
		res, err := h.c.Upsert(b.Context(), connector.UpsertRequest{Entity: EntityCustomer, Records: recs})
		total += time.Since(start)
		if err != nil || res.Count(connector.Updated) != n {
			b.Fatalf("updated %d of %d: %v", res.Count(connector.Updated), n, err)
		}
	}
	report(b, n*b.N, total, h)
}

// BenchmarkFullRead reads 20,000 customers (GET 5/s, 1000 a page), written
// either in bulk (5000 in each second, as this connector writes them) or
// one every few seconds.
func BenchmarkFullRead(b *testing.B) {
	const n = 20_000
	for _, tc := range []struct {
		name      string
		perSecond int
	}{{"bulk", 5000}, {"sparse", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			var h *harness
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h = benchHarness(b)
				for j := 0; j < n; j += tc.perSecond {
					insertMany(b, h.emu, tc.perSecond, "CUSTOMER", j)
					h.clock.Advance(3 * time.Second)
				}
				b.StartTimer()
				start := time.Now()
				got := 0
				err := h.c.Read(b.Context(), connector.ReadRequest{Entity: EntityCustomer}, func(batch connector.Batch) error {
					got += len(batch.Records)
					return nil
				})
				total += time.Since(start)
				if err != nil || got != n {
					b.Fatalf("read %d of %d: %v", got, n, err)
				}
			}
			report(b, n*b.N, total, h)
		})
	}
}
