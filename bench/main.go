// Command bench measures synclang's runtime against the Dynamics and People
// emulators with their real rate limits, all figures in one run (issue 5,
// "Benchmarks"; README.md says what each figure means and how its bound is
// derived):
//
//   - the initial load of --records Dynamics contacts into an empty People
//     account, in records/s and as a ratio to the bound the two services'
//     documented limits allow;
//   - incremental passes of every sync with no change and with --changes
//     changes on each side, in requests per sync;
//   - the transform throughput of the compiled contacts mapping against the
//     same mapping written in Go (runtime/engine's BenchmarkTransform);
//   - the peak memory of initial loads of --memory-sizes contacts;
//   - with --state-postgres, the initial load with the state in PostgreSQL
//     against SQLite, and what the PostgreSQL state costs per batch and per
//     million links.
//
// It is a separate program, not part of the runtime, so it builds the
// concrete connectors itself, as cmd/synclang does.
//
//	go run ./bench                      # the full run (about 13 minutes here)
//	go run ./bench --records 5000 --memory-sizes 20000@10 --transform=false
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := serveChild(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench emulators:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

// cliMain parses the flags, runs the measurements and prints the report.
// Exit codes: 0 done (or --help), 1 a measurement failed, 2 usage.
func cliMain(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o         Options
		memory    string
		freshness string
		cpuprof   string
		verbose   bool
		noPasses  bool
		transform bool
	)
	fs.IntVar(&o.Records, "records", 50_000, "Dynamics contacts of the initial load (0 skips the load and the incremental passes)")
	fs.IntVar(&o.Populated, "populated", 18_000, "Dynamics contacts of the two-way initial load with People populated too (persons: 7/18 sharing a contact's email, 13/18 People-only); 0 skips it")
	fs.StringVar(&freshness, "freshness", "5s,1m", "intervals at which to measure edit-to-arrival latency and idle polling cost, comma-separated (empty: none)")
	fs.IntVar(&o.FreshnessEdits, "freshness-edits", 30, "edits on each side per freshness interval")
	fs.IntVar(&o.Changes, "changes", 100, "records changed on each side before the incremental passes with changes")
	fs.Float64Var(&o.Scale, "scale", 1, "shrink the emulators' rate-limit windows (and raise the connectors' pacing) by this factor; 1 is real time")
	fs.StringVar(&o.Limits, "limits", "real", `emulator limits: "real", "sliding" (People counts each second before a request) or "off"`)
	fs.StringVar(&memory, "memory-sizes", "200000,1000000", "peak-memory runs: contact counts, each optionally @SCALE (default --scale); empty skips them")
	fs.BoolVar(&transform, "transform", true, "run runtime/engine's transform benchmark (needs the go command)")
	fs.IntVar(&o.Engine.BatchSize, "batch", 0, "engine batch size (0: the engine's default)")
	fs.IntVar(&o.Engine.InFlight, "inflight", 0, "engine batches written at once per flow (0: the engine's default)")
	fs.StringVar(&o.Examples, "examples", "", "the project to run (default: examples/ of the module the working directory is in)")
	fs.StringVar(&o.StatePostgres, "state-postgres", os.Getenv("SYNCLANG_TEST_POSTGRES"), "compare the initial load with the state in this PostgreSQL database (a schema of its own, dropped after) against SQLite; default $SYNCLANG_TEST_POSTGRES, empty skips it")
	fs.IntVar(&o.StateRecords, "state-records", 100_000, "contacts of each initial load of the state comparison")
	fs.IntVar(&o.StateRounds, "state-rounds", 2, "pairs of initial loads (one per backend, in ABBA order) of the state comparison")
	fs.StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&o.HeapProfile, "heapprofile", "", "write heap profiles near each memory run's peak to this path, suffixed .RECORDS")
	fs.BoolVarP(&verbose, "verbose", "v", false, "log the engine's and the connectors' warnings to stderr")
	fs.BoolVar(&noPasses, "no-progress", false, "do not print progress lines to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.Scale <= 0 || o.Records < 0 || o.Populated < 0 || o.StateRecords <= 0 || (o.Limits != "real" && o.Limits != "sliding" && o.Limits != "off") {
		fmt.Fprintln(stderr, "bench: --scale must be positive, --records and --populated not negative, --state-records positive, --limits real, sliding or off")
		return 2
	}
	var err error
	if o.Memory, err = parseMemoryRuns(memory, o.Scale); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	o.Transform = transform
	for _, f := range strings.Split(freshness, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "bench: --freshness: %q is not a positive duration (5s, 1m)\n", f)
			return 2
		}
		o.Freshness = append(o.Freshness, d)
	}
	if o.Examples == "" {
		if o.Examples, err = findExamples(); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
	}
	if !noPasses {
		o.Progress = stderr
	}
	if verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cpuprof != "" {
		f, err := os.Create(cpuprof)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, o)
	if res != nil {
		writeReport(stdout, res)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}
