package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

var rejectsCmd = &command{
	name:     "rejects",
	summary:  "list the records syncs rejected, with the reason and mapping line; rejects retry replays them",
	run:      runRejects,
	graceful: true,
}

const rejectsDoc = `List the records the syncs rejected (a value that does not fit its target
field, an expression that failed, a record the service refused, an ambiguous
pairing), each as a diagnostic: the mapping line that produced the bad value
(file:line:col, the line, a caret), the record's key and the reason. Rejected
records never stop a run; each is tried again when it changes, or on

  synclang rejects retry [--sync NAME] [PATHS]

which reads every rejected record again (even unchanged) and syncs it, after
you fixed the data or the mapping. retry connects to the services like run,
prints the same summary and exits like run (0; 1 a sync failed; 3 records are
still rejected, unless --allow-rejects). Listing reads only the state.`

// rejectsOptions are the flags of `synclang rejects`.
type rejectsOptions struct {
	runFlags
	limit        int
	allowRejects bool
	json         bool
	paths        []string
}

func runRejects(ctx context.Context, s *Stdio, args []string) int {
	var o rejectsOptions
	fs := newFlags(s, "rejects", "[retry] [flags] [PATHS]", rejectsDoc)
	o.register(fs, "error")
	fs.IntVar(&o.limit, "limit", 100, "list at most this many rejects (0: all)")
	fs.BoolVar(&o.allowRejects, "allow-rejects", false, "retry: exit 0 even when records are still rejected")
	fs.BoolVar(&o.json, "json", false, "list the rejects as one JSON document (see SPEC.md) instead of text")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "retry" {
		o.paths = rest[1:]
		return retryRejects(ctx, s, o)
	}
	o.paths = rest
	if o.limit < 0 {
		fmt.Fprintf(s.Err, "synclang rejects: --limit must be 0 or more, not %d\n", o.limit)
		return exitUsage
	}
	return listRejects(ctx, s, o)
}

func listRejects(ctx context.Context, s *Stdio, o rejectsOptions) int {
	st, p, _, code := openStateOnly(ctx, s, "rejects", o.state, o.paths)
	if st == nil {
		return code
	}
	defer st.Close()
	if o.sync != "" && p.plan != nil {
		if _, err := selectSyncs(p.plan, o.sync); err != nil {
			fmt.Fprintf(s.Err, "synclang rejects: %v\n", err)
			return exitUsage
		}
	}
	sources := map[string]*diag.Source{}
	for name, src := range p.sources {
		sources[name] = src
	}
	var ds diag.Diagnostics
	doc := rejectsJSON{Version: 1, Rejects: []rejectJSON{}}
	shown, total := 0, 0
	var after *state.Reject
	for {
		page, err := st.Rejects(ctx, state.RejectQuery{Sync: o.sync, After: after, Limit: 1000})
		if err != nil {
			fmt.Fprintf(s.Err, "synclang rejects: %v\n", err)
			return exitError
		}
		for _, r := range page {
			total++
			if o.limit > 0 && shown >= o.limit {
				continue
			}
			shown++
			note := relocate(&r, p)
			if o.json {
				rj := toRejectJSON(r)
				rj.Note = note
				doc.Rejects = append(doc.Rejects, rj)
				continue
			}
			d := rejectDiagnostic(r, p)
			if note != "" {
				d.Detail += "\n" + note
			}
			ds = append(ds, d)
			loadSource(sources, r.Range.File)
		}
		if len(page) < 1000 {
			break
		}
		after = &page[len(page)-1]
	}
	if o.json {
		doc.Total, doc.Omitted = total, total-shown
		enc := json.NewEncoder(s.Out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
		return exitOK
	}
	if total == 0 {
		if o.sync != "" {
			fmt.Fprintf(s.Out, "Sync %s has no rejected records.\n", o.sync)
		} else {
			fmt.Fprintln(s.Out, "No rejected records.")
		}
		return exitOK
	}
	// The rejects are the output here: stdout, coloured on a terminal.
	_ = diag.Write(s.Out, ds, sources, diag.WriteOptions{Color: s.Terminal && s.Getenv("NO_COLOR") == ""})
	fmt.Fprintf(s.Out, "\n%s", plural(total, "rejected record"))
	if shown < total {
		fmt.Fprintf(s.Out, " (%s shown; --limit 0 for all)", diag.Thousands(shown))
	}
	fmt.Fprintln(s.Out, ". Fix the data or the mapping, then `synclang rejects retry`; a record is also retried when it changes.")
	return exitOK
}

// relocate points a stored reject at its mapping line as the files are now.
// A reject keeps what identifies that line (sync, direction, target
// field) besides its position, so after an edit above it the line is found
// again in the project's current plan and the position moved with it; a
// line that is gone, or a reject of a whole record whose file changed
// since, is said instead of pointing at whatever is there now. It returns
// the note to print ("" when nothing moved).
func relocate(r *state.Reject, p *project) string {
	file := r.Range.File
	if file == "" || r.Range.Line == 0 {
		return ""
	}
	changed := false
	if fi, err := os.Stat(file); err == nil && fi.ModTime().After(r.LastSeen) {
		changed = true
	}
	var fm *plan.FieldMap
	if p.plan != nil && r.Field != "" {
		if sy, ok := p.plan.Sync(r.Sync); ok {
			for _, f := range sy.Flows {
				if flowName(f) != r.Flow {
					continue
				}
				for _, m := range f.Maps {
					if m.Target == r.Field {
						fm = m
					}
				}
			}
		}
	}
	switch {
	case fm != nil:
		cur := fm.Range
		if cur.Start.Line == r.Range.Line && filepath.Clean(cur.Filename) == filepath.Clean(file) {
			return ""
		}
		moved := fmt.Sprintf("(%s changed since this reject: its mapping line, for %s, is now line %d)", file, r.Field, cur.Start.Line)
		if cur.Start.Line == cur.End.Line && r.Range.Line == r.Range.EndLine && r.Range.Column >= cur.Start.Column && r.Range.EndColumn <= cur.End.Column {
			// Same line moved: keep the columns (a part of the expression).
			r.Range.Line, r.Range.EndLine = cur.Start.Line, cur.Start.Line
		} else {
			r.Range = state.Range{File: cur.Filename, Line: cur.Start.Line, Column: cur.Start.Column, EndLine: cur.End.Line, EndColumn: cur.End.Column}
		}
		r.Range.File = cur.Filename
		return moved
	case r.Field != "" && p.plan != nil && changed:
		note := fmt.Sprintf("(%s changed since this reject, and no line of sync %s writes %s any more; it was line %d)", file, r.Sync, r.Field, r.Range.Line)
		r.Range = state.Range{File: file}
		return note
	case changed:
		return fmt.Sprintf("(%s changed since this reject: line %d may have moved)", file, r.Range.Line)
	}
	return ""
}

// rejectsJSON is `rejects --json`: the rejects listed (--limit of them),
// how many there are, and how many --limit left out.
type rejectsJSON struct {
	Version int          `json:"version"`
	Total   int          `json:"total"`
	Omitted int          `json:"omitted"`
	Rejects []rejectJSON `json:"rejects"`
}

type rejectJSON struct {
	Sync      string    `json:"sync"`
	Flow      string    `json:"flow"`
	Key       string    `json:"key"`
	TargetKey string    `json:"targetKey,omitempty"`
	Field     string    `json:"field,omitempty"`
	File      string    `json:"file,omitempty"`
	Line      int       `json:"line,omitempty"`
	Column    int       `json:"column,omitempty"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	Attempts  int       `json:"attempts"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	// Note says the .sync file changed since the reject: where its
	// mapping line is now, or that it is gone.
	Note string `json:"note,omitempty"`
}

func toRejectJSON(r state.Reject) rejectJSON {
	return rejectJSON{Sync: r.Sync, Flow: r.Flow, Key: r.Key, TargetKey: r.TargetKey, Field: r.Field,
		File: r.Range.File, Line: r.Range.Line, Column: r.Range.Column, Kind: r.Kind, Reason: r.Reason,
		Attempts: max(r.Attempts, 1), FirstSeen: r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC()}
}

// rejectDiagnostic renders a stored reject as the engine's diagnostic, with
// where it came from and how often it failed.
func rejectDiagnostic(r state.Reject, p *project) *diag.Diagnostic {
	d := untrusted(engine.FromReject(r).Diagnostic())
	where := fmt.Sprintf("sync %s, %s", r.Sync, r.Flow)
	if p.plan != nil {
		if from, to := flowLabels(p.plan, r.Sync, r.Flow); from != "" {
			where = fmt.Sprintf("sync %s, %s -> %s", r.Sync, from, to)
		}
	}
	if r.TargetKey != "" {
		where += ", target " + redact.Line(r.TargetKey)
	}
	tries := plural(max(r.Attempts, 1), "time")
	d.Detail += fmt.Sprintf("\n(%s; rejected %s, first %s, last %s)", where, tries,
		r.FirstSeen.UTC().Format("2006-01-02 15:04:05"), r.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC"))
	return d
}

// loadSource adds a .sync file a reject points into to sources when the
// project did not load it (rejects listed with --state from elsewhere).
func loadSource(sources map[string]*diag.Source, file string) {
	if file == "" || sources[file] != nil || !strings.HasSuffix(file, ".sync") {
		return
	}
	if src, err := os.ReadFile(file); err == nil {
		sources[file] = diag.NewSource(file, src)
	}
}

func retryRejects(ctx context.Context, s *Stdio, o rejectsOptions) int {
	ss, code := openSession(ctx, s, "rejects retry", sessionOptions{flags: o.runFlags, paths: o.paths})
	if code != exitOK {
		return code
	}
	defer ss.close()
	rep, code := ss.runOnce(ctx, engine.Options{Sync: o.sync, RetryRejects: true})
	if code != exitOK {
		return code
	}
	if n := rep.Rejected(); n > 0 && !o.allowRejects {
		fmt.Fprintf(s.Err, "synclang rejects retry: %s still rejected (`synclang rejects`)\n", plural(n, "record"))
		return exitRejects
	}
	return exitOK
}
