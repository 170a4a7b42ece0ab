package dynamics

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

// The benchmarks measure records per second read and written against the
// emulator with real service protection limits, and the ratio to the bound
// those limits allow: 6000 requests per 5 minutes × records per request
// (5000 per page for reads, 1000 per UpdateMultiple for writes). The limits'
// window can be shrunk with SYNCLANG_BENCH_SCALE (the emulator's TimeScale
// and the connector's RateScale together; the bound scales with it), so a
// run shorter than 5 minutes can still span several windows. Ratios from a
// run shorter than a few windows include the pacer's initial burst.
//
//	go test -run XXX -bench RealLimits -benchtime 60s ./connectors/dynamics/

func benchScale(b *testing.B) float64 {
	if s := os.Getenv("SYNCLANG_BENCH_SCALE"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			b.Fatalf("SYNCLANG_BENCH_SCALE=%q", s)
		}
		return f
	}
	return 1
}

// bound is the limits' records per second: 6000 requests per 300 s (scaled)
// times records per request.
func bound(scale float64, perRequest int) float64 {
	return float64(limitRequests) / limitWindow.Seconds() * scale * float64(perRequest)
}

func report(b *testing.B, env *testEnv, records int, elapsed time.Duration, perRequest int, scale float64) {
	rate := float64(records) / elapsed.Seconds()
	st := env.conn.Stats()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(rate/bound(scale, perRequest), "ratio-to-bound")
	b.ReportMetric(float64(st.Requests)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(float64(st.Throttled), "throttled")
	b.ReportMetric(0, "ns/op")
	b.Logf("scale %g: %d records in %v = %.0f records/s; bound %.0f records/s; ratio %.3f; %d requests, %d throttled",
		scale, records, elapsed.Round(time.Millisecond), rate, bound(scale, perRequest), rate/bound(scale, perRequest), st.Requests, st.Throttled)
}

func BenchmarkReadRealLimits(b *testing.B) {
	const contacts = 20000 // 4 pages of 5000
	scale := benchScale(b)
	env := newTestEnv(b, emulator.Options{Seed: contacts, Limits: "real", TimeScale: scale}, scale)
	if _, err := env.conn.Discover(testCtx(b)); err != nil {
		b.Fatal(err)
	}
	fields := []string{"firstname", "lastname", "emailaddress1", "mobilephone", "birthdate", "gendercode"}
	read := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		err := env.conn.Read(testCtx(b), connector.ReadRequest{Entity: "contact", Fields: fields}, func(bt connector.Batch) error {
			read += len(bt.Records)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	report(b, env, read, time.Since(start), 5000, scale)
}

func BenchmarkWriteRealLimits(b *testing.B) {
	const perRequest = 1000
	scale := benchScale(b)
	env := newTestEnv(b, emulator.Options{Seed: perRequest, Limits: "real", TimeScale: scale}, scale)
	if _, err := env.conn.Discover(testCtx(b)); err != nil {
		b.Fatal(err)
	}
	rows := env.emu.Rows("contact")
	written := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		recs := make([]connector.Record, len(rows))
		for j, r := range rows {
			recs[j] = connector.Record{Key: r["contactid"].(string), Fields: map[string]any{"jobtitle": fmt.Sprint("T", i), "telephone1": fmt.Sprint(j)}}
		}
		res, err := env.conn.Upsert(testCtx(b), connector.UpsertRequest{Entity: "contact", Records: recs})
		if err != nil {
			b.Fatal(err)
		}
		written += res.Count(connector.Updated)
	}
	report(b, env, written, time.Since(start), perRequest, scale)
}
