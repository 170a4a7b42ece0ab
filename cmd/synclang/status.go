package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

var statusCmd = &command{
	name:    "status",
	summary: "show each sync's last run, cursors, links and rejected records (from the state, offline)",
	run:     runStatus,
}

const statusDoc = `Show, from the project's state (.synclang/state.db next to the .sync files, or
--state), each sync's last run (when, outcome, what it did), its saved cursors,
the pairs it has linked and the records it rejected. It sends no request to
any service and needs no credentials.`

// statusOptions are the flags of `synclang status`.
type statusOptions struct {
	state string
	json  bool
	sync  string
	paths []string
}

func runStatus(ctx context.Context, s *Stdio, args []string) int {
	var o statusOptions
	fs := newFlags(s, "status", "[flags] [PATHS]", statusDoc)
	fs.StringVar(&o.state, "state", "", stateFlagHelp)
	fs.BoolVar(&o.json, "json", false, "print JSON (see SPEC.md) instead of text")
	fs.StringVar(&o.sync, "sync", "", "only the sync with this name")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.paths = fs.Args()
	st, p, path, code := openStateOnly(ctx, s, "status", o.state, o.paths)
	if st == nil {
		return code
	}
	defer st.Close()
	rep, err := collectStatus(ctx, st, p, path, s.Now())
	if err != nil {
		fmt.Fprintf(s.Err, "synclang status: %v\n", err)
		return exitError
	}
	if o.sync != "" {
		if rep.Syncs, err = onlySync(rep.Syncs, o.sync); err != nil {
			fmt.Fprintf(s.Err, "synclang status: %v\n", err)
			return exitUsage
		}
	}
	if o.json {
		enc := json.NewEncoder(s.Out)
		enc.SetEscapeHTML(false) // "<->" stays readable
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return exitOK
	}
	writeStatus(s.Out, rep, s.Now())
	return exitOK
}

// openStateOnly opens the state of a project for commands that only read
// it (status, rejects): no connector, no credentials. The project is
// loaded when it can be, for its directory, syncs and sources; its plan is
// nil when it does not compile (or there is no project, with --state).
// When the state file does not exist, it says so and returns a nil store.
func openStateOnly(ctx context.Context, s *Stdio, cmd, flag string, paths []string) (state.Store, *project, string, int) {
	p, err := loadProject(ctx, s, paths)
	if err != nil && flag == "" && s.Getenv(stateEnv) == "" {
		fmt.Fprintf(s.Err, "synclang %s: %v (or pass --state)\n", cmd, err)
		return nil, nil, "", exitError
	}
	if err != nil {
		p = &project{}
	}
	registerSecrets(s, p)
	path := stateLocation(s, p, flag)
	// Read-only: status and rejects work on a state they may not write
	// (a read-only mount, a copy owned by another user, a CI artifact, a
	// database role that may only read).
	st, err := openState(ctx, s, path, state.Options{Now: s.Now, ReadOnly: true})
	if errors.Is(err, errNoState) {
		fmt.Fprintf(s.Out, "No state at %s: no sync of this project has run yet (`synclang run`).\n", stateName(path))
		return nil, p, path, exitOK
	}
	if err != nil {
		fmt.Fprintf(s.Err, "synclang %s: %v\n", cmd, err)
		return nil, p, path, exitError
	}
	return st, p, path, exitOK
}

// registerSecrets registers the values of the project's secret()
// settings that are set in the environment, without opening a connection,
// so that a secret a state written by an older synclang holds (in a run's
// error, a reject reason) is masked when status or rejects print it.
func registerSecrets(s *Stdio, p *project) {
	if p == nil || p.plan == nil {
		return
	}
	for _, c := range p.plan.Connections {
		for _, st := range c.Settings {
			if st.Secret != "" {
				s.Secrets.Register(s.Getenv(st.Secret))
			}
		}
	}
}

// statusReport is what status prints; its JSON form is documented in
// SPEC.md.
type statusReport struct {
	Version int           `json:"version"`
	State   string        `json:"state"`
	Syncs   []*syncStatus `json:"syncs"`
}

type syncStatus struct {
	Name string `json:"name"`
	// Pair and Every come from the project; empty when it was not loaded
	// or no longer has the sync.
	Pair    string          `json:"pair,omitempty"`
	Every   string          `json:"every,omitempty"`
	Links   int             `json:"links"`
	Rejects int             `json:"rejects"`
	LastRun *runInfo        `json:"lastRun,omitempty"`
	Cursors []*cursorStatus `json:"cursors"`
}

type runInfo struct {
	ID       int64              `json:"id"`
	Status   string             `json:"status"`
	Started  time.Time          `json:"started"`
	Finished time.Time          `json:"finished,omitzero"`
	Full     bool               `json:"full,omitempty"`
	Holder   string             `json:"holder"`
	Error    string             `json:"error,omitempty"`
	Report   *engine.SyncReport `json:"report,omitempty"`
}

type cursorStatus struct {
	Flow  string    `json:"flow"`
	Saved time.Time `json:"saved"`
}

func collectStatus(ctx context.Context, st state.Store, p *project, path string, now time.Time) (*statusReport, error) {
	rep := &statusReport{Version: 1, State: stateName(path)}
	bySync := map[string]*syncStatus{}
	get := func(name string) *syncStatus {
		if ss := bySync[name]; ss != nil {
			return ss
		}
		ss := &syncStatus{Name: name, Cursors: []*cursorStatus{}}
		bySync[name] = ss
		rep.Syncs = append(rep.Syncs, ss)
		return ss
	}
	if p.plan != nil {
		for _, sy := range p.plan.Syncs {
			ss := get(sy.Name)
			ss.Pair = pairLabel(sy)
			ss.Every = fmtDuration(every(sy))
		}
	}
	cursors, err := st.Cursors(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cursors {
		ss := get(c.Sync)
		ss.Cursors = append(ss.Cursors, &cursorStatus{Flow: c.Flow, Saved: c.UpdatedAt})
	}
	runs, err := st.Runs(ctx, "", 1000)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		ss := get(r.Sync)
		if ss.LastRun != nil {
			continue // newest first
		}
		rs := &runInfo{ID: r.ID, Status: string(r.Status), Started: r.Started, Finished: r.Finished, Full: r.Full,
			Holder: r.Holder.String(), Error: r.Error}
		if r.Report != "" {
			var sr engine.SyncReport
			if json.Unmarshal([]byte(r.Report), &sr) == nil {
				rs.Report = &sr
				if r.Status == state.RunFailed && sr.Status == engine.StatusStopped {
					// An interrupted pass is recorded as failed; say
					// stopped, as run, serve and /healthz do.
					rs.Status = string(engine.StatusStopped)
				}
			}
		}
		ss.LastRun = rs
	}
	for _, ss := range rep.Syncs {
		if ss.Links, err = st.LinkCount(ctx, ss.Name); err != nil {
			return nil, err
		}
		if ss.Rejects, err = countRejects(ctx, st, ss.Name); err != nil {
			return nil, err
		}
	}
	// Project order first, then syncs only the state knows, by name.
	order := map[string]int{}
	if p.plan != nil {
		for i, sy := range p.plan.Syncs {
			order[sy.Name] = i + 1
		}
	}
	sort.SliceStable(rep.Syncs, func(i, j int) bool {
		a, b := order[rep.Syncs[i].Name], order[rep.Syncs[j].Name]
		if (a == 0) != (b == 0) {
			return a != 0
		}
		if a != b {
			return a < b
		}
		return rep.Syncs[i].Name < rep.Syncs[j].Name
	})
	return rep, nil
}

// onlySync keeps the named sync, or says which syncs there are.
func onlySync(syncs []*syncStatus, name string) ([]*syncStatus, error) {
	var names []string
	for _, ss := range syncs {
		if ss.Name == name {
			return []*syncStatus{ss}, nil
		}
		names = append(names, ss.Name)
	}
	hint := diag.DidYouMean(name, names)
	if len(names) == 0 {
		return nil, fmt.Errorf("no sync named %q: the project declares none and the state knows none", name)
	}
	return nil, fmt.Errorf("no sync named %q (syncs: %s).%s", name, strings.Join(names, ", "), hint)
}

// pairLabel is a sync's pair line: "crm.contact <-> infobip.customer".
func pairLabel(sy *plan.Sync) string {
	arrow := "<->"
	switch sy.Direction {
	case plan.LeftToRight:
		arrow = "->"
	case plan.RightToLeft:
		arrow = "<-"
	}
	return fmt.Sprintf("%s.%s %s %s.%s", sy.Left.Connection, sy.Left.Entity, arrow, sy.Right.Connection, sy.Right.Entity)
}

// countRejects pages through a sync's rejects.
func countRejects(ctx context.Context, st state.Store, sync string) (int, error) {
	n := 0
	var after *state.Reject
	for {
		page, err := st.Rejects(ctx, state.RejectQuery{Sync: sync, After: after, Limit: 1000})
		if err != nil {
			return 0, err
		}
		n += len(page)
		if len(page) < 1000 {
			return n, nil
		}
		after = &page[len(page)-1]
	}
}

func writeStatus(w io.Writer, rep *statusReport, now time.Time) {
	fmt.Fprintf(w, "state: %s\n", rep.State)
	if len(rep.Syncs) == 0 {
		fmt.Fprintln(w, "\nNo sync has run yet.")
		return
	}
	for _, ss := range rep.Syncs {
		fmt.Fprintf(w, "\nsync %s", ss.Name)
		var about []string
		if ss.Pair != "" {
			about = append(about, ss.Pair)
		}
		if ss.Every != "" {
			about = append(about, "every "+ss.Every)
		}
		if len(about) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(about, ", "))
		}
		fmt.Fprintln(w)
		if r := ss.LastRun; r != nil {
			when := r.Started
			if !r.Finished.IsZero() {
				when = r.Finished
			}
			line := fmt.Sprintf("  last run   %s, %s", r.Status, ago(when, now))
			if !r.Finished.IsZero() {
				line += ", took " + roundDur(r.Finished.Sub(r.Started)) + ", by " + r.Holder
			} else {
				line += fmt.Sprintf(" (not finished: running in %s, or it stopped without recording its end)", r.Holder)
			}
			if r.Full {
				line += ", read in full"
			}
			fmt.Fprintln(w, line)
			if r.Report != nil {
				for _, f := range r.Report.Flows {
					// The outcomes add up to read (engine.Outcome), as in
					// run's summary.
					o := f.Outcome
					fmt.Fprintf(w, "             %s -> %s: read %s, created %s, updated %s, linked %s, unchanged %s, skipped %s, deleted %s, rejected %s",
						f.From, f.To, diag.Thousands(f.Read), diag.Thousands(o.Created), diag.Thousands(o.Updated), diag.Thousands(o.Linked), diag.Thousands(o.Unchanged), diag.Thousands(o.Skipped), diag.Thousands(o.Deleted), diag.Thousands(o.Rejected))
					if o.Unwritten > 0 {
						fmt.Fprintf(w, ", unwritten %s", diag.Thousands(o.Unwritten))
					}
					if f.Status == engine.StatusFailed {
						fmt.Fprint(w, " (failed)")
					}
					fmt.Fprintln(w)
				}
			}
			if r.Error != "" {
				// Escaped: the error quotes what a service wrote.
				fmt.Fprintf(w, "             error: %s\n", redact.Line(r.Error))
			}
		} else {
			fmt.Fprintln(w, "  last run   never")
		}
		fmt.Fprintf(w, "  links      %s\n", diag.Thousands(ss.Links))
		rj := diag.Thousands(ss.Rejects)
		if ss.Rejects > 0 {
			rj += " (`synclang rejects --sync " + ss.Name + "`)"
		}
		fmt.Fprintf(w, "  rejects    %s\n", rj)
		if len(ss.Cursors) == 0 {
			fmt.Fprintln(w, "  cursors    none (the next run reads in full)")
		}
		for i, c := range ss.Cursors {
			label := "  cursors   "
			if i > 0 {
				label = "            "
			}
			fmt.Fprintf(w, "%s %-13s saved %s\n", label, c.Flow, ago(c.Saved, now))
		}
	}
}

// ago renders a time with how long ago it was.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	rel := ""
	switch {
	case d < 0:
		rel = "in the future"
	case d < time.Minute:
		rel = fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		rel = fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		rel = fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	default:
		rel = fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return fmt.Sprintf("%s (%s)", t.UTC().Format("2006-01-02 15:04:05 UTC"), rel)
}
