package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/format"
	"github.com/synclang/synclang/runtime/synctest"
)

var testCmd = &command{
	name:    "test",
	summary: "run the tests of *_test.sync files against in-memory services (offline)",
	run:     runTest,
}

type testOptions struct {
	run     string
	format  string
	verbose bool
	update  bool
	paths   []string
}

// testJSONVersion is the version of `synclang test --format json` (SPEC.md
// "synclang test"); it changes only when a field changes meaning or goes.
const testJSONVersion = 1

func runTest(ctx context.Context, s *Stdio, args []string) int {
	var opts testOptions
	fs := newFlags(s, "test", "[flags] [PATHS]",
		"Run the tests in the *_test.sync files of the project (directories or files; default .) through the compiled\n"+
			"plan and the engine against in-memory stand-ins of the services: no network, no credentials.\n"+
			"Exits 0 when every test passes, 1 when one fails or the files have errors, 2 on bad usage.")
	fs.StringVar(&opts.run, "run", "", "run only the tests whose name matches this regular expression")
	fs.StringVar(&opts.format, "format", "text", "output: text, json (versioned schema, see SPEC.md) or github (workflow annotations)")
	fs.BoolVarP(&opts.verbose, "verbose", "v", false, "list every test with its result and time")
	fs.BoolVar(&opts.update, "update", false, "rewrite the expected values of failing tests with the actual ones")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !oneOf(s, "test", "format", opts.format, "text", "json", "github") {
		return exitUsage
	}
	var re *regexp.Regexp
	if opts.run != "" {
		var err error
		if re, err = regexp.Compile(opts.run); err != nil {
			fmt.Fprintf(s.Err, "synclang test: --run: %v\n", err)
			return exitUsage
		}
	}
	opts.paths = fs.Args()
	p, err := loadProjectWithTests(ctx, s, opts.paths)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang test: %v\n", err)
		return exitError
	}
	if p.diags.HasErrors() || p.plan == nil {
		switch opts.format {
		case "json":
			_ = diag.WriteJSON(s.Out, p.diags)
		case "github":
			_ = diag.WriteGitHub(s.Out, p.diags)
		default:
			writeDiags(s, p.diags, p.sources)
		}
		return exitError
	}
	start := time.Now()
	results, err := synctest.Run(ctx, p.plan, synctest.Options{Registry: s.Registry, NewStandIn: standIn, Run: re})
	if err != nil {
		fmt.Fprintf(s.Err, "synclang test: %v\n", err)
		return exitError
	}
	elapsed := time.Since(start)
	failed := 0
	for _, r := range results {
		if !r.Passed {
			failed++
		}
	}
	switch opts.format {
	case "json":
		writeTestJSON(s, results)
	case "github":
		var ds diag.Diagnostics
		for _, r := range results {
			for _, f := range r.Failures {
				ds = append(ds, f.Diagnostic(r.Name))
			}
		}
		_ = diag.WriteGitHub(s.Out, ds)
	default:
		writeTestText(s, results, p.sources, opts.verbose)
	}
	if opts.update && failed > 0 {
		fixed, left, err := applyFixes(results)
		if err != nil {
			fmt.Fprintf(s.Err, "synclang test --update: %v\n", err)
			return exitError
		}
		fmt.Fprintf(s.Err, "updated %s; run `git diff` to review\n", plural(fixed, "expectation"))
		if left == 0 {
			return exitOK
		}
		fmt.Fprintf(s.Err, "%s cannot be updated (fix the test or the mapping)\n", plural(left, "failure"))
		return exitError
	}
	if opts.format == "text" {
		switch {
		case len(results) == 0:
			fmt.Fprintln(s.Err, "no tests to run (tests are test blocks in *_test.sync files)")
		case failed > 0:
			fmt.Fprintf(s.Err, "FAIL: %s of %s failed (%s)\n", diag.Thousands(failed), plural(len(results), "test"), elapsed.Round(time.Millisecond))
		default:
			fmt.Fprintf(s.Err, "ok: %s passed (%s)\n", plural(len(results), "test"), elapsed.Round(time.Millisecond))
		}
	}
	if failed > 0 {
		return exitError
	}
	return exitOK
}

// standIn is the in-memory service of a kind (internal/kinds): its own
// (People's account semantics for people), or the reference memory
// connector (option sets, lengths, read-only and required fields).
func standIn(kind string, schema *connector.Schema) (synctest.StandIn, error) {
	return kinds.NewStandIn(kind, schema), nil
}

func writeTestText(s *Stdio, results []*synctest.Result, sources map[string]*diag.Source, verbose bool) {
	color := s.ErrTerminal && s.Getenv("NO_COLOR") == ""
	for _, r := range results {
		if verbose || !r.Passed {
			status := "PASS"
			if !r.Passed {
				status = "FAIL"
			}
			fmt.Fprintf(s.Err, "--- %s: %s (%s) %s\n", status, r.Name, r.Duration.Round(time.Microsecond*100), r.Range)
		}
		var ds diag.Diagnostics
		for _, f := range r.Failures {
			ds = append(ds, f.Diagnostic(r.Name))
		}
		if len(ds) > 0 {
			_ = diag.Write(s.Err, ds, sources, diag.WriteOptions{Color: color})
		}
	}
}

// The JSON output of `synclang test --format json` (schema version 1).
type (
	testJSON struct {
		Version int              `json:"version"`
		Passed  int              `json:"passed"`
		Failed  int              `json:"failed"`
		Tests   []testResultJSON `json:"tests"`
	}
	testResultJSON struct {
		Name       string            `json:"name"`
		Range      diag.JSONRange    `json:"range"`
		Passed     bool              `json:"passed"`
		DurationMs float64           `json:"durationMs"`
		Failures   []testFailureJSON `json:"failures"`
	}
	testFailureJSON struct {
		Range    diag.JSONRange  `json:"range"`
		Mapping  *diag.JSONRange `json:"mapping,omitempty"`
		Record   string          `json:"record,omitempty"`
		Entity   string          `json:"entity,omitempty"`
		Field    string          `json:"field,omitempty"`
		Expected string          `json:"expected,omitempty"`
		Actual   string          `json:"actual,omitempty"`
		Message  string          `json:"message"`
	}
)

func jsonRange(r diag.Range) diag.JSONRange {
	return diag.JSONRange{File: r.Filename, Start: r.Start, End: r.End}
}

func writeTestJSON(s *Stdio, results []*synctest.Result) {
	out := testJSON{Version: testJSONVersion, Tests: []testResultJSON{}}
	for _, r := range results {
		tr := testResultJSON{Name: r.Name, Range: jsonRange(r.Range), Passed: r.Passed,
			DurationMs: float64(r.Duration.Microseconds()) / 1000, Failures: []testFailureJSON{}}
		if r.Passed {
			out.Passed++
		} else {
			out.Failed++
		}
		for _, f := range r.Failures {
			fj := testFailureJSON{Range: jsonRange(f.Range), Record: f.Record, Entity: f.Entity, Field: f.Field,
				Expected: f.Expected, Actual: f.Actual, Message: f.Message}
			if f.Mapping.IsValid() {
				m := jsonRange(f.Mapping)
				fj.Mapping = &m
			}
			tr.Failures = append(tr.Failures, fj)
		}
		out.Tests = append(out.Tests, tr)
	}
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// applyFixes rewrites the test files with the fixes of the failures: each
// file's edits applied from its end, so earlier offsets stay valid. It
// returns how many were applied and how many failures had none.
func applyFixes(results []*synctest.Result) (fixed, left int, err error) {
	byFile := map[string][]*synctest.Edit{}
	for _, r := range results {
		for _, f := range r.Failures {
			if f.Fix == nil {
				left++
				continue
			}
			byFile[f.Fix.File] = append(byFile[f.Fix.File], f.Fix)
		}
	}
	files := make([]string, 0, len(byFile))
	for name := range byFile {
		files = append(files, name)
	}
	sort.Strings(files)
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			return fixed, left, err
		}
		// From the end of the file; edits at one offset (lines added to
		// one body) last first, so they end up in their order.
		edits := byFile[name]
		for i, j := 0, len(edits)-1; i < j; i, j = i+1, j-1 {
			edits[i], edits[j] = edits[j], edits[i]
		}
		sort.SliceStable(edits, func(i, j int) bool { return edits[i].Start > edits[j].Start })
		end := len(src) + 1
		for _, e := range edits {
			if e.Start < 0 || e.End > len(src) || e.Start > e.End || e.End > end {
				left++ // overlapping or stale: leave it to the user
				continue
			}
			src = append(src[:e.Start], append([]byte(e.Text), src[e.End:]...)...)
			end = e.Start
			fixed++
		}
		// The edits change values and add lines; the formatter lays them
		// out as the rest of the file (it changes white space only).
		if out, diags := format.Source(name, src); !diags.HasErrors() {
			src = out
		}
		if err := os.WriteFile(name, src, 0o644); err != nil {
			return fixed, left, err
		}
	}
	return fixed, left, nil
}
