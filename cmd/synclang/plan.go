package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
)

var planCmd = &command{
	name:    "plan",
	summary: "show what run would change in the live systems, writing nothing (exit 2: changes)",
	run:     runPlan,
}

const planDoc = `Dry-run every sync (or --sync NAME) against the live systems and print each
record that would be created, updated (field by field, before -> after),
linked, deleted or rejected (and why), then the summary and the API requests a
real run would send to each service, against that service's documented limits.
It reads and looks records up as a run does, but writes nothing to any service
or to the state, and advances no cursor. A project without state yet is
planned as its first run (the initial load).

Exit status, as ` + "`terraform plan -detailed-exitcode`" + `: 0 no changes, 1 error,
2 changes (records to create, update, link, delete or reject).`

// exitChanges is plan's exit code when a run would change something.
const exitChanges = 2

// planOptions are the flags of `synclang plan`.
type planOptions struct {
	runFlags
	full  bool
	json  bool
	paths []string
}

func runPlan(ctx context.Context, s *Stdio, args []string) int {
	var o planOptions
	fs := newFlags(s, "plan", "[flags] [PATHS]", planDoc)
	o.register(fs, "error")
	fs.BoolVar(&o.full, "full", false, "plan a run --full: every source record, not just the changes since the saved cursors")
	fs.BoolVar(&o.json, "json", false, "print one JSON document (changes, summary, requests; see SPEC.md) instead of text")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.paths = fs.Args()
	ss, code := openSession(ctx, s, "plan", sessionOptions{flags: o.runFlags, paths: o.paths, dry: true})
	if code != exitOK {
		return code
	}
	defer ss.close()

	var out changeWriter = &textChanges{w: s.Out, p: ss.plan, color: s.Terminal && s.Getenv("NO_COLOR") == ""}
	if o.json {
		out = &jsonChanges{w: s.Out}
	}
	var mu sync.Mutex
	env := ss.env()
	env.Changes = func(c engine.Change) {
		mu.Lock()
		defer mu.Unlock()
		out.change(c)
	}
	rep, err := engine.Run(ctx, ss.plan, env, engine.Options{Sync: o.sync, Full: o.full, DryRun: true})
	ss.addConnectRequests(rep)
	limits := ss.limits()
	if rep != nil {
		out.finish(rep, limits)
	}
	if err != nil {
		writeFailures(s.Err, "synclang plan", ss.plan, failures(rep, err))
		return exitError
	}
	if rep.Changed()+rep.Rejected() > 0 {
		return exitChanges
	}
	return exitOK
}

// limits are the documented limits of the session's connections
// (connector.Limited), by connection name.
func (ss *session) limits() map[string][]connector.Limit {
	out := map[string][]connector.Limit{}
	for name, c := range ss.conns {
		if l, ok := c.(connector.Limited); ok {
			out[name] = l.Limits()
		}
	}
	return out
}

// changeWriter prints a plan's changes as they are found, then the rest.
type changeWriter interface {
	change(engine.Change)
	finish(*engine.Report, map[string][]connector.Limit)
}

// textChanges prints changes for people:
//
//	sync contacts (crm.contact <-> infobip.customer):
//	  + create infobip.customer from crm.contact 0e7c…
//	      firstName  "Ana"
//	  ~ update infobip.customer 1234 from crm.contact 0e7c…
//	      firstName  "Ana" -> "Anna"
type textChanges struct {
	w    io.Writer
	p    *plan.Plan
	sync string
	n    int
	// color paints each change's first line on a terminal (NO_COLOR unset):
	// creates green, updates yellow, deletes and rejects red, links cyan.
	color bool
}

// ANSI colours of plan's change lines.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiCyan   = "\x1b[36m"
	ansiReset  = "\x1b[0m"
)

// head prints a change's first line, in colour when t.color.
func (t *textChanges) head(color, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if t.color {
		line = color + strings.TrimSuffix(line, "\n") + ansiReset + "\n"
	}
	fmt.Fprint(t.w, line)
}

func (t *textChanges) change(c engine.Change) {
	if c.Sync != t.sync {
		if t.n > 0 {
			fmt.Fprintln(t.w)
		}
		fmt.Fprintf(t.w, "sync %s:\n", c.Sync)
		t.sync = c.Sync
	}
	t.n++
	// Keys and reasons come from the services: printed escaped.
	c.Key, c.TargetKey, c.Reason = redact.Line(c.Key), redact.Line(c.TargetKey), redact.Line(c.Reason)
	src, _ := flowLabels(t.p, c.Sync, c.Flow)
	from := ""
	if src != "" {
		from = " from " + src + " " + c.Key
	}
	switch c.Op {
	case engine.OpCreate:
		t.head(ansiGreen, "  + create %s%s\n", c.Entity, from)
	case engine.OpUpdate:
		if c.Entity == src {
			// A write-back into the source record itself.
			t.head(ansiYellow, "  ~ update %s %s\n", c.Entity, c.Key)
		} else {
			t.head(ansiYellow, "  ~ update %s %s%s\n", c.Entity, c.TargetKey, from)
		}
	case engine.OpLink:
		t.head(ansiCyan, "  = link %s %s%s (found by %s)\n", c.Entity, c.TargetKey, strings.Replace(from, " from ", " to ", 1), c.By)
	case engine.OpDelete:
		t.head(ansiRed, "  - delete %s %s (%s %s was deleted)\n", c.Entity, c.TargetKey, src, c.Key)
	case engine.OpUnlink:
		reason := c.Reason
		if reason == "" {
			reason = fmt.Sprintf("%s %s was deleted; the record stays", src, c.Key)
		}
		t.head(ansiRed, "  - unlink %s %s from %s %s (%s)\n", c.Entity, c.TargetKey, src, c.Key, reason)
	case engine.OpReject:
		t.head(ansiRed, "  ! reject %s %s: %s\n", src, c.Key, c.Reason)
	default:
		t.head(ansiYellow, "  ? %s %s %s\n", c.Op, c.Entity, c.Key)
	}
	width := 0
	for _, f := range c.Fields {
		width = max(width, len(f.Field))
	}
	link := linkFieldOf(t.p, c.Sync, c.Entity)
	for _, f := range c.Fields {
		if c.Op == engine.OpCreate {
			fmt.Fprintf(t.w, "      %-*s  %s\n", width, f.Field, fmtValue(f.After))
			continue
		}
		note := ""
		if old, _ := f.Before.(string); f.Field == link && strings.TrimSpace(old) != "" && old != fmt.Sprint(f.After) {
			// A match pairs this record, and its link field holds a
			// value another system (or person) wrote.
			note = "   (replaces a value synclang did not write)"
			if t.color {
				note = ansiRed + note + ansiReset
			}
		}
		fmt.Fprintf(t.w, "      %-*s  %s -> %s%s\n", width, f.Field, fmtValue(f.Before), fmtValue(f.After), note)
	}
}

// linkFieldOf is the link field of the side of sync whose entity is
// entity ("infobip.customer"), when that side holds the other's key
// (People's externalId); "" otherwise.
func linkFieldOf(p *plan.Plan, sync, entity string) string {
	sy, ok := p.Sync(sync)
	if !ok || sy.Link == nil {
		return ""
	}
	for _, n := range []plan.SideName{plan.Left, plan.Right} {
		sd := sy.Side(n)
		if sd.Connection+"."+sd.Entity == entity && n != sy.Link.Owner {
			return sy.Link.Field(n)
		}
	}
	return ""
}

// replacedLinks counts the pairs of a report whose link field held a
// value synclang did not write.
func replacedLinks(rep *engine.Report) int {
	n := 0
	for _, sr := range rep.Syncs {
		for _, f := range sr.Flows {
			n += f.ReplacedLinks
		}
	}
	return n
}

// flowLabels names the source and target entities of a sync's flow
// ("crm.contact", "infobip.customer").
func flowLabels(p *plan.Plan, sync, flow string) (string, string) {
	sy, ok := p.Sync(sync)
	if !ok {
		return "", ""
	}
	for _, f := range sy.Flows {
		if flowName(f) == flow {
			a, b := sy.Side(f.From), sy.Side(f.To)
			return a.Connection + "." + a.Entity, b.Connection + "." + b.Entity
		}
	}
	return "", ""
}

func (t *textChanges) finish(rep *engine.Report, limits map[string][]connector.Limit) {
	if t.n > 0 {
		fmt.Fprintln(t.w)
	} else if failed := failedSyncs(rep); len(failed) > 0 {
		// A sync that failed found nothing because it did not finish: never
		// claim the systems are in sync then.
		fmt.Fprintf(t.w, "No changes found, but %s failed, so this plan is incomplete (see the errors below).\n", syncList(failed))
		fmt.Fprintln(t.w)
	} else {
		fmt.Fprintln(t.w, "No changes: the systems are in sync.")
		fmt.Fprintln(t.w)
	}
	writeSummary(t.w, rep, nil)
	if n := replacedLinks(rep); n > 0 {
		fmt.Fprintf(t.w, "%s found by a match key would replace a link value synclang did not write (marked above); check that those records are the same.\n",
			plural(n, "pair"))
	}
	writePlanRequests(t.w, rep, limits)
}

// failedSyncs names the syncs of a report that failed or stopped.
func failedSyncs(rep *engine.Report) []string {
	var out []string
	for _, sr := range rep.Syncs {
		if sr.Status == engine.StatusFailed || sr.Status == engine.StatusStopped {
			out = append(out, sr.Sync)
		}
	}
	return out
}

// syncList says "sync a" or "syncs a and b".
func syncList(names []string) string {
	if len(names) == 1 {
		return "sync " + names[0]
	}
	return "syncs " + joinAnd(names)
}

// fmtValue prints a field value briefly: strings quoted, none for nil,
// dates as dates.
func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		return fmt.Sprintf("%q", x)
	case time.Time:
		if x.Equal(x.Truncate(24*time.Hour)) && x.Location() == time.UTC {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// writePlanRequests prints what a real run would send to each service: the
// reads and lookups the dry run sent (a run sends the same), plus the write
// requests the connectors estimate, against the services' limits.
func writePlanRequests(w io.Writer, rep *engine.Report, limits map[string][]connector.Limit) {
	total, names := requestTotals(rep)
	writes := map[string]int{}
	for _, sr := range rep.Syncs {
		for _, f := range sr.Flows {
			for conn, n := range f.EstimatedWrites {
				writes[conn] += n
				if _, ok := total[conn]; !ok {
					names = append(names, conn)
					total[conn] = connector.Stats{}
				}
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w, "requests a run would send:")
	for _, n := range names {
		reads, wr := int(total[n].Requests), writes[n]
		fmt.Fprintf(w, "  %s: %s (%s reads and lookups, %s writes)", n, diag.Thousands(reads+wr), diag.Thousands(reads), diag.Thousands(wr))
		if ls := limits[n]; len(ls) > 0 {
			fmt.Fprintf(w, "; %s", againstLimits(reads+wr, ls))
		}
		fmt.Fprintln(w)
	}
}

// againstLimits compares a number of requests with a service's limits: the
// share of the largest window they use, or how long the limits make them
// take.
func againstLimits(n int, ls []connector.Limit) string {
	var parts []string
	for _, l := range ls {
		if l.Requests <= 0 || l.Per <= 0 {
			continue
		}
		if l.Per >= time.Minute {
			parts = append(parts, fmt.Sprintf("%.1f%% of %s per %s", 100*float64(n)/float64(l.Requests), diag.Thousands(l.Requests), perString(l.Per)))
			break
		}
	}
	if len(parts) == 0 {
		// Per-second limits per endpoint: without the split of the
		// requests over the endpoints, bound the time by the slowest.
		low := connector.Limit{}
		for _, l := range ls {
			if l.Requests > 0 && l.Per > 0 && (low.Requests == 0 || float64(l.Requests)/l.Per.Seconds() < float64(low.Requests)/low.Per.Seconds()) {
				low = l
			}
		}
		if low.Requests > 0 {
			secs := float64(n) / (float64(low.Requests) / low.Per.Seconds())
			parts = append(parts, fmt.Sprintf("within limits from %s per %s per endpoint, up to %s", diag.Thousands(low.Requests), perString(low.Per),
				roundDur(time.Duration(secs*float64(time.Second)))))
		}
	}
	if len(parts) == 0 {
		return describeLimits(ls)
	}
	return strings.Join(parts, "; ")
}

// jsonChanges streams the plan as one JSON document:
//
//	{"version": 1, "changes": [...], "syncs": [...], "requests": {...}}
type jsonChanges struct {
	w io.Writer
	n int
}

// planJSONVersion is the version of plan's JSON document.
const planJSONVersion = 1

func (j *jsonChanges) change(c engine.Change) {
	if j.n == 0 {
		fmt.Fprintf(j.w, "{\"version\": %d, \"changes\": [\n", planJSONVersion)
	} else {
		fmt.Fprint(j.w, ",\n")
	}
	j.n++
	b, err := marshalPlain(c)
	if err != nil {
		b, _ = marshalPlain(map[string]string{"sync": c.Sync, "key": c.Key, "error": err.Error()})
	}
	j.w.Write(b)
}

// planRequests is one service's entry in the JSON document: the reads and
// lookups the dry run sent, the estimated write requests, their total, and
// the service's documented limits.
type planRequests struct {
	Reads  int64       `json:"reads"`
	Writes int         `json:"writes"`
	Total  int64       `json:"total"`
	Limits []planLimit `json:"limits,omitempty"`
}

// planLimit is a documented limit in the JSON document.
type planLimit struct {
	Scope       string `json:"scope"`
	Requests    int    `json:"requests,omitempty"`
	Per         string `json:"per,omitempty"` // a Go duration: "5m0s", "1s"
	Concurrency int    `json:"concurrency,omitempty"`
}

func planLimits(ls []connector.Limit) []planLimit {
	var out []planLimit
	for _, l := range ls {
		pl := planLimit{Scope: l.Scope, Requests: l.Requests, Concurrency: l.Concurrency}
		if l.Per > 0 {
			pl.Per = l.Per.String()
		}
		out = append(out, pl)
	}
	return out
}

func (j *jsonChanges) finish(rep *engine.Report, limits map[string][]connector.Limit) {
	if j.n == 0 {
		fmt.Fprintf(j.w, "{\"version\": %d, \"changes\": [", planJSONVersion)
	}
	fmt.Fprint(j.w, "\n],\n")
	total, _ := requestTotals(rep)
	reqs := map[string]*planRequests{}
	get := func(conn string) *planRequests {
		if reqs[conn] == nil {
			reqs[conn] = &planRequests{Limits: planLimits(limits[conn])}
		}
		return reqs[conn]
	}
	for conn, st := range total {
		get(conn).Reads = st.Requests
	}
	for _, sr := range rep.Syncs {
		for _, f := range sr.Flows {
			for conn, n := range f.EstimatedWrites {
				get(conn).Writes += n
			}
		}
	}
	for _, r := range reqs {
		r.Total = r.Reads + int64(r.Writes)
	}
	field := func(name string, v any, last bool) {
		b, err := marshalPlain(v)
		if err != nil {
			b = []byte("null")
		}
		sep := ",\n"
		if last {
			sep = "\n}\n"
		}
		fmt.Fprintf(j.w, "%q: %s%s", name, b, sep)
	}
	field("changed", rep.Changed(), false)
	field("rejected", rep.Rejected(), false)
	field("syncs", rep.Syncs, false)
	field("requests", reqs, true)
}

// marshalPlain is json.Marshal without HTML escaping: "<->" stays readable.
func marshalPlain(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
