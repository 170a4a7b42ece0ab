package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/runtime/engine"
)

// TestMain lets the test binary serve emulators for the memory runs, as
// the bench program does (startChild runs this executable).
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := serveChild(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench emulators:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunTiny runs every measurement except the transform benchmark (a
// `go test` of its own) at tiny sizes with the emulators' limits off, and
// checks the counts add up. It asserts nothing about time.
func TestRunTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := Run(ctx, Options{
		Records: 300, Changes: 10, Populated: 360, Limits: "off", Scale: 1000,
		Freshness: []time.Duration{200 * time.Millisecond}, FreshnessEdits: 6,
		Memory:   []memoryRun{{Records: 200, Scale: 1000}, {Records: 400, Scale: 1000}},
		Engine:   engine.Options{BatchSize: 50},
		Examples: "../examples", Dir: t.TempDir(), Progress: &progress,
	})
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, &progress)
	}
	if len(res.Load) != 2 || res.Load[0].Sync != "contacts" || res.Load[1].Sync != "leads" {
		t.Fatalf("loads: %+v", res.Load)
	}
	contacts, leads := res.Load[0], res.Load[1]
	if contacts.Records != 300 || contacts.Flow.Created != 300 || leads.Records != 75 || leads.Flow.Created != 75 {
		t.Errorf("created %d of %d contacts, %d of %d leads", contacts.Flow.Created, contacts.Records, leads.Flow.Created, leads.Records)
	}
	// The reverse flow reads every person back and finds each an echo:
	// phones People stores without "+" are no change.
	if rev := contacts.Pass.Flows[1]; rev.Read != 300 || contacts.writtenBack() != 0 {
		t.Errorf("reverse flow of the load: %+v", rev)
	}
	if leads.Bound.Reverse != nil || contacts.Bound.Reverse == nil {
		t.Errorf("reverse bound of a one-way sync %v, of a two-way sync %v", leads.Bound.Reverse, contacts.Bound.Reverse)
	}
	var batch, match int64
	for _, e := range contacts.Endpoints {
		switch e.Endpoint {
		case "POST /people/2/persons/batch":
			batch = e.Requests
		case "POST /people/2/persons/match":
			match = e.Requests
		}
	}
	// 300 records in batches of 50: a batch create and three matches each.
	if batch != 6 || match != 18 {
		t.Errorf("the load sent %d batch creates and %d matches, want 6 and 18", batch, match)
	}

	// The populated load: 360 contacts, 140 persons sharing an email, 260
	// People-only; checkPopulated and the counts afterwards already failed
	// the run if anything was duplicated or lost.
	if p := res.Populated; p == nil || p.Contacts != 360+260 || p.Persons != 400+220 || p.QuietWrites != 0 {
		t.Errorf("populated load: %+v", p)
	}

	// Freshness at a short interval: every edit arrives (how fast is not
	// asserted).
	if len(res.Freshness) != 1 || res.Freshness[0].Lost != 0 || len(res.Freshness[0].ToPeople)+len(res.Freshness[0].ToDynamics) != 12 {
		t.Errorf("freshness: %+v", res.Freshness)
	}

	if len(res.Incremental) != 5 {
		t.Fatalf("incremental passes: %d", len(res.Incremental))
	}
	for _, quiet := range res.Incremental[:3] {
		for _, s := range quiet.Syncs {
			for _, f := range s.Flows {
				if f.Created+f.Updated+f.WrittenBack+f.Rejected != 0 {
					t.Errorf("%s, %s %s: %+v", quiet.Name, s.Sync, f.Flow, f)
				}
			}
			if n := quiet.Requests(s.Sync); n < 1 || n > 2 {
				t.Errorf("%s, sync %s: %d requests", quiet.Name, s.Sync, n)
			}
		}
	}
	if got := updated(res.Incremental[3], "contacts", 0); got != 10 {
		t.Errorf("10 changes in Dynamics: %d persons updated", got)
	}
	if got := updated(res.Incremental[4], "contacts", 1); got != 10 {
		t.Errorf("10 changes in People: %d contacts updated", got)
	}

	if len(res.Memory) != 2 {
		t.Fatalf("memory runs: %+v", res.Memory)
	}
	for _, m := range res.Memory {
		if m.PeakHeap == 0 || m.PeakLive == 0 || m.PeakGo < m.PeakHeap || m.Duration <= 0 || m.FlowRate <= 0 || m.Bound.Flow != 5000*1000 {
			t.Errorf("memory run of %d: %+v", m.Records, m)
		}
	}

	var out bytes.Buffer
	writeReport(&out, res)
	for _, want := range []string{"INITIAL LOAD", "how the bound is derived", "INCREMENTAL PASSES", "PEAK MEMORY", "POST /people/2/persons/batch"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, &out)
		}
	}
}

// The bound of the examples' initial loads, from the connectors' documented
// limits: People's batch create (5/s, 1000 a request) and match (15/s, 3
// per 1000 records) both allow 5000 records/s; the two-way contacts pass
// reads everything back at 5000/s after that.
func TestLoadBound(t *testing.T) {
	p, err := compileExamples("../examples")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := startInProcess(serviceOptions{Limits: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	pr, err := openProject(context.Background(), p, svc, 1, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.close()
	for _, tc := range []struct {
		sync       string
		flow, pass float64
	}{{"contacts", 5000, 2500}, {"leads", 5000, 5000}} {
		s, _ := p.Sync(tc.sync)
		b := loadBound(pr, s, 50_000, 1)
		if math.Abs(b.Flow-tc.flow) > 1e-6 || math.Abs(b.Pass-tc.pass) > 1e-6 {
			t.Errorf("%s: bound %.1f / %.1f records/s, want %.0f / %.0f", tc.sync, b.Flow, b.Pass, tc.flow, tc.pass)
		}
		if got := b.Bottleneck(); got != "POST /people/2/persons/batch = POST /people/2/persons/match" {
			t.Errorf("%s: bottleneck %q", tc.sync, got)
		}
		if b2 := loadBound(pr, s, 50_000, 10); math.Abs(b2.Flow-10*tc.flow) > 1e-6 {
			t.Errorf("%s: the bound at scale 10 is %.1f", tc.sync, b2.Flow)
		}
	}
}

func TestParseTransform(t *testing.T) {
	out := `goos: linux
BenchmarkTransform/compiled-2         	  900000	      2100 ns/op	     320 B/op	       9 allocs/op
BenchmarkTransform/go-2               	 5000000	       400 ns/op	      64 B/op	       2 allocs/op
BenchmarkTransform/compiled-2         	 1000000	      2000 ns/op	     320 B/op	       9 allocs/op
BenchmarkTransform/go-2               	 5000000	       420 ns/op	      64 B/op	       2 allocs/op
PASS
`
	tr, err := parseTransform(out)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Compiled.NsPerOp != 2000 || tr.Go.NsPerOp != 400 || tr.Ratio() != 5 || tr.Compiled.AllocsPerOp != 9 || tr.GoMaxProcs != 2 {
		t.Errorf("%+v", tr)
	}
	if _, err := parseTransform("PASS\n"); err == nil {
		t.Error("no benchmark lines: no error")
	}
}

func TestParseMemoryRuns(t *testing.T) {
	got, err := parseMemoryRuns("200000, 1_000_000@10", 2)
	if err != nil || len(got) != 2 || got[0] != (memoryRun{200000, 2}) || got[1] != (memoryRun{1000000, 10}) {
		t.Errorf("%v %v", got, err)
	}
	if got, err := parseMemoryRuns("", 1); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"x", "-5", "100@0", "100@y"} {
		if _, err := parseMemoryRuns(bad, 1); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestEndpointNames(t *testing.T) {
	for path, want := range map[string]string{
		"/api/data/v9.2/contacts":                                            "GET dataverse contacts",
		"/api/data/v9.2/contacts(00000000-0000-0000-0000-00000000)":          "GET dataverse contacts(…)",
		"/api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes": "GET dataverse EntityDefinitions(…)/Attributes",
		"/5f0c7e0a/oauth2/v2.0/token":                                        "GET identity token",
		"/people/2/persons":                                                  "GET /people/2/persons",
	} {
		if got := endpoint("GET", path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"--scale", "0"}, {"--memory-sizes", "x"}, {"extra"}, {"--limits", "some"}} {
		if code := cliMain(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
