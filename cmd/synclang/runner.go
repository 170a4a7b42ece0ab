package main

// runner.go is what the commands that execute plans share (run, plan,
// serve, rejects retry, demo): loading a project for a run, opening its
// connectors and state store, signals, logging, turning engine errors into
// one line a user can act on, progress, and the summary.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/connect"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
)

// exitRejects is run's (and rejects retry's) exit code when every sync
// finished but records were rejected, so scripts can tell that apart from
// a failed run (1). --allow-rejects turns it into 0.
const exitRejects = 3

// stateDir and stateFile are where a project's state lives by default:
// .synclang/state.db next to its .sync files.
const (
	stateDir  = ".synclang"
	stateFile = "state.db"
)

// runFlags are the flags the commands that execute plans share.
type runFlags struct {
	sync     string
	state    string
	logLevel string
	quiet    bool // run: no progress, no summary (warnings and errors only)
}

func (f *runFlags) register(fs *pflag.FlagSet, logDefault string) {
	fs.StringVar(&f.sync, "sync", "", "only the sync with this name (default: every sync, in the project's order)")
	fs.StringVar(&f.state, "state", "", stateFlagHelp)
	fs.StringVar(&f.logLevel, "log-level", logDefault, "log on stderr at this level: debug, info, warn, error or off (text on a terminal, JSON lines otherwise)")
}

// session is a project ready to run: the plan and the syncs selected, the
// connectors of their connections, and the state store.
type session struct {
	s     *Stdio
	cmd   string
	proj  *project
	plan  *plan.Plan
	syncs []*plan.Sync
	conns map[string]connector.Connector
	store state.Store
	// statePath is where the state is: a file, or a postgres:// URL
	// (stateName gives it without the password).
	statePath string
	// temp is the directory of a throwaway store (a dry run of a project
	// that has no state yet), removed on close.
	temp string
	log  *slog.Logger
	// quiet leaves out progress and the summary (--quiet).
	quiet bool
	// connectStats are the requests compareLive sent, per connection,
	// until addConnectRequests puts them in a report.
	connectStats map[string]connector.Stats
}

// sessionOptions say how a session opens.
type sessionOptions struct {
	flags runFlags
	paths []string
	// dry opens the state read-only in spirit: when the project has no
	// state yet, a throwaway store stands in, so a dry run creates no file.
	dry bool
	// project, when set, is the project to run instead of loading paths
	// (the demo's embedded examples).
	project *project
	// openState, when set, opens the state instead of --state (serve
	// --queue: each project's schema on the pool the replica shares); it
	// returns the store and how messages name it.
	openState func(ctx context.Context) (state.Store, string, error)
}

// openSession loads the project, selects the syncs, opens the state store
// and the connectors. On failure it has printed why and returns the exit
// code.
func openSession(ctx context.Context, s *Stdio, cmd string, o sessionOptions) (*session, int) {
	ss := &session{s: s, cmd: cmd, quiet: o.flags.quiet}
	log, err := newLogger(s.Err, s.ErrTerminal, o.flags.logLevel, s.Secrets)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang %s: %v\n", cmd, err)
		return nil, exitUsage
	}
	ss.log = log
	p := o.project
	if p == nil {
		if p, err = loadProject(ctx, s, o.paths); err != nil {
			fmt.Fprintf(s.Err, "synclang %s: %v\n", cmd, err)
			return nil, exitError
		}
	}
	writeDiags(s, p.diags, p.sources)
	if p.plan == nil || p.diags.HasErrors() {
		fmt.Fprintf(s.Err, "synclang %s: the project has errors; nothing was run (see `synclang check`)\n", cmd)
		return nil, exitError
	}
	ss.proj, ss.plan = p, p.plan
	if len(ss.plan.Syncs) == 0 {
		fmt.Fprintf(s.Err, "synclang %s: %s declares no sync\n", cmd, strings.Join(defaultPaths(o.paths), " "))
		return nil, exitError
	}
	if ss.syncs, err = selectSyncs(ss.plan, o.flags.sync); err != nil {
		fmt.Fprintf(s.Err, "synclang %s: %v\n", cmd, err)
		return nil, exitUsage
	}
	if o.openState != nil {
		st, name, err := o.openState(ctx)
		if err != nil {
			fmt.Fprintf(s.Err, "synclang %s: %v\n", cmd, s.Secrets.String(err.Error()))
			return nil, exitError
		}
		ss.statePath, ss.store = name, redactingStore{Store: st, secrets: s.Secrets}
	} else {
		ss.statePath = stateLocation(s, p, o.flags.state)
		if code := ss.openStore(ctx, o.dry); code != exitOK {
			return nil, code
		}
	}
	if code := ss.openConnectors(ctx); code != exitOK {
		ss.close()
		return nil, code
	}
	if code := ss.compareLive(ctx); code != exitOK {
		ss.close()
		return nil, code
	}
	return ss, exitOK
}

// addConnectRequests adds the requests compareLive sent to the report of
// the first sync that used each connection, as if that sync had read the
// schema itself (as it did before the comparison existed), so the
// summary counts every request the command sent.
func (ss *session) addConnectRequests(rep *engine.Report) {
	if rep == nil {
		return
	}
	for conn, st := range ss.connectStats {
		for _, sr := range rep.Syncs {
			if cur, ok := sr.Requests[conn]; ok {
				sr.Requests[conn] = connector.Stats{Requests: cur.Requests + st.Requests, Retries: cur.Retries + st.Retries, Throttled: cur.Throttled + st.Throttled}
				break
			}
		}
	}
	ss.connectStats = nil
}

// compareLive compares, once per connection, the custom fields the project
// declares, and its schema snapshot, with the schema the service has
// (lang.CompareLive), so a plan does not promise what the run would reject
// record by record. Only connections that declare fields or have a
// snapshot are asked (one Discover each, which the
// connectors keep for their reads); a declaration the service contradicts
// stops the command before anything is read or written.
func (ss *session) compareLive(ctx context.Context) int {
	var diags diag.Diagnostics
	for _, c := range ss.plan.Connections {
		conn, ok := ss.conns[c.Name]
		if !ok {
			continue
		}
		var before connector.Stats
		var snap *connector.Schema
		var snapPath string
		if ss.proj.sources != nil {
			// A project of .sync files (not a compiled plan): its
			// snapshot, as check read it (an unreadable one was an error
			// already).
			snap, snapPath, _ = lang.SnapshotBeside(c.Name, c.Range.Filename)
		}
		if len(c.Declarations) == 0 && snap == nil {
			continue
		}
		m, metered := conn.(connector.Metered)
		if metered {
			before = m.Stats()
		}
		live, err := conn.Discover(ctx)
		var found diag.Diagnostics
		if err == nil {
			found = lang.CompareLive(ss.plan, c.Name, live, snap, filepath.Base(snapPath))
			// A schema the connector cached may predate a column the
			// project declares: check it with the service before
			// refusing the run.
			if rv, ok := conn.(connector.Revalidator); ok && found.HasErrors() {
				if fresh, rerr := rv.Revalidate(ctx); rerr == nil {
					found = lang.CompareLive(ss.plan, c.Name, fresh, snap, filepath.Base(snapPath))
				}
			}
		}
		if metered {
			after := m.Stats()
			if ss.connectStats == nil {
				ss.connectStats = map[string]connector.Stats{}
			}
			ss.connectStats[c.Name] = connector.Stats{Requests: after.Requests - before.Requests,
				Retries: after.Retries - before.Retries, Throttled: after.Throttled - before.Throttled}
		}
		if err != nil {
			// The run reports an unreachable or refusing service in its
			// own words (which sync, which connection, what to do).
			ss.log.Warn("could not read the service's schema to compare the declarations with it", "connection", c.Name, "error", err)
			continue
		}
		diags = append(diags, found...)
	}
	if len(diags) == 0 {
		return exitOK
	}
	writeDiags(ss.s, diags, ss.proj.sources)
	if diags.HasErrors() {
		fmt.Fprintf(ss.s.Err, "synclang %s: the declarations above contradict the services; nothing was run\n", ss.cmd)
		return exitError
	}
	return exitOK
}

// selectSyncs returns the sync named name, or every sync when name is "".
func selectSyncs(p *plan.Plan, name string) ([]*plan.Sync, error) {
	if name == "" {
		return p.Syncs, nil
	}
	if sy, ok := p.Sync(name); ok {
		return []*plan.Sync{sy}, nil
	}
	return nil, fmt.Errorf("--sync: the project has no sync %q (it has %s)", name, joinAnd(syncNames(p)))
}

func syncNames(p *plan.Plan) []string {
	var names []string
	for _, sy := range p.Syncs {
		names = append(names, sy.Name)
	}
	return names
}

func (ss *session) openStore(ctx context.Context, dry bool) int {
	path := ss.statePath
	opts := state.Options{Now: ss.s.Now}
	if dry && postgres.IsDSN(path) {
		// A dry run reads the database and writes nothing; one that has
		// no state yet is a run from scratch, against an empty store.
		opts.ReadOnly = true
	} else if dry {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			dir, err := os.MkdirTemp("", "synclang-plan-")
			if err != nil {
				fmt.Fprintf(ss.s.Err, "synclang %s: %v\n", ss.cmd, err)
				return exitError
			}
			ss.temp = dir
			path = filepath.Join(dir, stateFile)
		}
	}
	st, err := openState(ctx, ss.s, path, opts)
	if errors.Is(err, errNoState) {
		st, err = state.NewMemory(ss.s.Now), nil
	}
	if err != nil {
		fmt.Fprintf(ss.s.Err, "synclang %s: %v\n", ss.cmd, err)
		ss.close()
		return exitError
	}
	ss.store = redactingStore{Store: st, secrets: ss.s.Secrets}
	return exitOK
}

// openConnectors builds the connectors of every connection the selected
// syncs use. Every connection that cannot be opened is reported, each on
// its own line.
func (ss *session) openConnectors(ctx context.Context) int {
	opts := connectOptions(ss.s, ss.log)
	opts.Uses = ss.uses
	conns, errs := connect.Open(ctx, ss.plan.Connections, opts)
	for _, err := range errs {
		// A factory may quote what a service answered (a discovery).
		fmt.Fprintf(ss.s.Err, "synclang %s: %s\n", ss.cmd, redact.Line(err.Error()))
	}
	if len(errs) > 0 {
		return exitError
	}
	ss.conns = conns
	return exitOK
}

// uses reports whether a selected sync uses connection name.
func (ss *session) uses(name string) bool {
	for _, sy := range ss.syncs {
		if sy.Left.Connection == name || sy.Right.Connection == name {
			return true
		}
	}
	return false
}

func (ss *session) close() {
	for _, c := range ss.conns {
		_ = c.Close()
	}
	if ss.store != nil {
		_ = ss.store.Close()
	}
	if ss.temp != "" {
		_ = os.RemoveAll(ss.temp)
	}
}

// env is the engine environment of the session.
func (ss *session) env() engine.Env {
	return engine.Env{Connectors: ss.conns, Store: ss.store, Now: ss.s.Now, Logger: ss.log}
}

// newLogger logs to w at level: text on a terminal, JSON lines otherwise.
// Records are never logged with their values (the engine and connectors
// log keys only), and connectors never log credentials; whatever a service
// wrote into an error is masked (secrets, before encoding) and escaped
// (control characters) by the handler.
func newLogger(w io.Writer, terminal bool, level string, secrets *redact.Registry) (*slog.Logger, error) {
	var l slog.Level
	switch level {
	case "off":
		return slog.New(slog.DiscardHandler), nil
	case "debug":
		l = slog.LevelDebug
	case "info", "":
		l = slog.LevelInfo
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level must be one of debug, info, warn, error, off, not %q", level)
	}
	opts := &slog.HandlerOptions{Level: l, ReplaceAttr: durationString}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if terminal {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(secrets.Handler(h)), nil
}

// durationString logs a duration as "1.5s", as the text handler and
// every other JSON document synclang prints do, not as integer nanoseconds.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// graceful returns a context and a stop channel for a command that stops
// gracefully: the first SIGINT or SIGTERM closes stop (the engine finishes
// the batches in flight and returns) and calls first; a second one cancels
// the context (writes in flight are abandoned; the next run resumes from
// the last committed batch). Call release when done.
func graceful(ctx context.Context, s *Stdio, first func()) (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(ctx)
	sig := s.Interrupt
	unhook := func() {}
	if sig == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		sig, unhook = ch, func() { signal.Stop(ch) }
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sig:
				if n > 1 {
					cancel()
					return
				}
				close(stop)
				if first != nil {
					first()
				}
			case <-done:
				return
			}
		}
	}()
	var once bool
	return ctx, stop, func() {
		if !once {
			once = true
			close(done)
			unhook()
			cancel()
		}
	}
}

// syncFailure is a sync a run could not finish, with the error that
// stopped it.
type syncFailure struct {
	sync string
	err  error
}

// failures lists the syncs a run could not finish, each with the error
// that stopped it, as the report carries them (engine.SyncReport.Err). An
// error Run returned without a report of a failed sync (a plan it refused
// before running any) is one failure without a sync.
func failures(rep *engine.Report, err error) []syncFailure {
	if err == nil {
		return nil
	}
	var out []syncFailure
	if rep != nil {
		for _, sr := range rep.Syncs {
			if sr.Err != nil {
				out = append(out, syncFailure{sync: sr.Sync, err: sr.Err})
			}
		}
	}
	if len(out) == 0 {
		out = []syncFailure{{err: err}}
	}
	return out
}

// describe turns the error that stopped a sync into one line that names
// the connection and says what to do (the caller names the sync).
// Connector errors carry the service's code and text and never a
// credential. The service's text is escaped (redact.Line): control
// characters and newlines it wrote are shown, not obeyed, wherever the
// line goes (terminal, log, /healthz).
func describe(p *plan.Plan, f syncFailure) string {
	return redact.Line(describeRaw(p, f))
}

func describeRaw(p *plan.Plan, f syncFailure) string {
	err := f.err
	var locked *state.LockedError
	var ce *connector.Error
	switch {
	case errors.As(err, &locked):
		return fmt.Sprintf("another synclang process is running it (%s, lock valid until %s); wait for it to finish, or stop it",
			locked.Holder, locked.Expires.UTC().Format(time.RFC3339))
	case errors.Is(err, engine.ErrStopped):
		return "stopped before the pass finished; the next run continues from the last committed batch"
	case errors.As(err, &ce):
		msg := ce.Error()
		if ce.Hint == "" {
			if h := kindHint(ce.Kind); h != "" {
				msg += "; " + h
			}
		}
		return connectionOf(p, f.sync, ce.Service) + ": " + msg
	case errors.Is(err, context.Canceled):
		return "stopped at once by a second interrupt; the next run continues from the last committed batch"
	}
	return err.Error()
}

// connectionOf names the connection of sync whose kind is service
// ("connection crm (dynamics)"), or the service when it is not one side's.
func connectionOf(p *plan.Plan, sync, service string) string {
	if sy, ok := p.Sync(sync); ok {
		var names []string
		for _, sd := range []*plan.Side{sy.Left, sy.Right} {
			if sd.Kind == service && !slices.Contains(names, sd.Connection) {
				names = append(names, sd.Connection)
			}
		}
		if len(names) == 1 {
			return fmt.Sprintf("connection %s (%s)", names[0], service)
		}
	}
	if service == "" {
		return "a connection"
	}
	return service
}

// kindHint says what to do about a connector error that brought no hint of
// its own.
func kindHint(k connector.ErrorKind) string {
	switch k {
	case connector.ErrorAuth:
		return "check the connection's credentials (the variables its secret() settings read) and run again"
	case connector.ErrorPermission:
		return "give the connection's application user or API key the permission the operation needs"
	case connector.ErrorTransient:
		return "the service could not be reached or kept failing after retries: check the connection's url and the network, then run again (it continues from the last committed batch)"
	case connector.ErrorThrottled:
		return "the service kept throttling after retries: run again later (it continues from the last committed batch)"
	case connector.ErrorConfig:
		return "fix the connection's settings"
	case connector.ErrorExpiredCursor:
		return "run again with --full"
	}
	return ""
}

// ---- summary ----

// writeSummary prints what a run did (or, dry, would do): one row per sync
// and direction, then notes, requests per service and the duration.
func writeSummary(w io.Writer, rep *engine.Report, limits map[string][]connector.Limit) {
	verb := ""
	if rep.DryRun {
		verb = "would be "
	}
	// Each record read lands in exactly one column (engine.Outcome); a
	// status column appears when a sync failed or stopped, and an unwritten
	// one when a failed write call left records unwritten.
	unwritten, troubled := false, false
	for _, sr := range rep.Syncs {
		troubled = troubled || sr.Status == engine.StatusFailed || sr.Status == engine.StatusStopped
		for _, f := range sr.Flows {
			unwritten = unwritten || f.Outcome.Unwritten > 0
		}
	}
	header := []string{"sync", "direction", "read", "created", "updated", "linked", "unchanged", "skipped", "deleted", "rejected"}
	if unwritten {
		header = append(header, "unwritten")
	}
	if troubled {
		header = append(header, "status")
	}
	rows := [][]string{header}
	row := func(sync, dir string, f *engine.FlowReport, status engine.Status) {
		r := []string{sync, dir}
		if f == nil {
			for len(r) < len(header)-1 {
				r = append(r, "-")
			}
		} else {
			o := f.Outcome
			r = append(r, diag.Thousands(f.Read), diag.Thousands(o.Created), diag.Thousands(o.Updated), diag.Thousands(o.Linked), diag.Thousands(o.Unchanged), diag.Thousands(o.Skipped), diag.Thousands(o.Deleted), diag.Thousands(o.Rejected))
			if unwritten {
				r = append(r, diag.Thousands(o.Unwritten))
			}
		}
		if troubled {
			r = append(r, string(status))
		}
		rows = append(rows, r)
	}
	var notes []string
	for _, sr := range rep.Syncs {
		if len(sr.Flows) == 0 {
			// The sync failed before any direction ran (lock, connection).
			row(sr.Sync, "(did not run)", nil, sr.Status)
		}
		for _, f := range sr.Flows {
			st := f.Status
			if st == "" {
				st = engine.StatusOK
			}
			row(sr.Sync, f.From+" -> "+f.To, f, st)
			var parts []string
			if f.Full && f.Read > 0 {
				parts = append(parts, "read in full")
			}
			if f.LinkedByMatch > 0 {
				parts = append(parts, fmt.Sprintf("%s linked by match", diag.Thousands(f.LinkedByMatch)))
			}
			if n := f.Linked - f.LinkedByMatch; n > 0 {
				parts = append(parts, fmt.Sprintf("%s linked by the link field", diag.Thousands(n)))
			}
			if f.WrittenBack > 0 {
				parts = append(parts, fmt.Sprintf("%s %s %swritten back (link keys, or values from the other side)", diag.Thousands(f.WrittenBack), f.From, verb))
			}
			if f.Skipped > 0 {
				parts = append(parts, fmt.Sprintf("%s left out by where", diag.Thousands(f.Skipped)))
			}
			if f.Conflicts > 0 {
				parts = append(parts, fmt.Sprintf("%s decided by the conflict policy", plural(f.Conflicts, "conflict")))
			}
			if f.Unlinked > 0 {
				parts = append(parts, fmt.Sprintf("%s %sforgotten", plural(f.Unlinked, "pair"), verb))
			}
			if f.Retried > 0 {
				parts = append(parts, fmt.Sprintf("%s rejected earlier retried", diag.Thousands(f.Retried)))
			}
			if f.Resync > 0 {
				parts = append(parts, fmt.Sprintf("the saved cursor had expired: %s records read again in full", diag.Thousands(f.Resync)))
			}
			if len(parts) > 0 {
				notes = append(notes, fmt.Sprintf("  %s %s -> %s: %s", sr.Sync, f.From, f.To, strings.Join(parts, "; ")))
			}
		}
	}
	writeTable(w, rows, 2)
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	fmt.Fprintln(w)
	if !rep.DryRun {
		// A dry run's own requests are in plan's estimate instead.
		writeRequests(w, rep, limits)
	}
	// Per sync: the requests it sent to each service, and its duration.
	var rows2 [][]string
	for _, sr := range rep.Syncs {
		var reqs []string
		if !rep.DryRun {
			names := make([]string, 0, len(sr.Requests))
			for n := range sr.Requests {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				reqs = append(reqs, fmt.Sprintf("%s %s", n, diag.Thousands(int(sr.Requests[n].Requests))))
			}
		}
		rows2 = append(rows2, []string{"  " + sr.Sync, strings.Join(reqs, ", "), roundDur(sr.Duration)})
	}
	if len(rows2) > 1 || rep.DryRun {
		writeTable(w, rows2, 2)
	}
	fmt.Fprintf(w, "duration: %s\n", roundDur(rep.Duration))
}

// writeTable prints rows with the first text columns left-aligned and the
// others (numbers) right-aligned, two spaces apart.
func writeTable(w io.Writer, rows [][]string, text int) {
	if len(rows) == 0 {
		return
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < text {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// requestTotals adds up the requests each connection sent over the syncs
// of a report.
func requestTotals(rep *engine.Report) (map[string]connector.Stats, []string) {
	total := map[string]connector.Stats{}
	for _, sr := range rep.Syncs {
		for conn, st := range sr.Requests {
			t := total[conn]
			t.Requests += st.Requests
			t.Retries += st.Retries
			t.Throttled += st.Throttled
			total[conn] = t
		}
	}
	names := make([]string, 0, len(total))
	for n := range total {
		names = append(names, n)
	}
	sort.Strings(names)
	return total, names
}

// writeRequests prints the requests sent to each service, with retries,
// 429s and, when limits are given, the service's documented limits.
func writeRequests(w io.Writer, rep *engine.Report, limits map[string][]connector.Limit) {
	total, names := requestTotals(rep)
	if len(names) == 0 {
		return
	}
	var parts []string
	for _, n := range names {
		st := total[n]
		p := fmt.Sprintf("%s %s", n, diag.Thousands(int(st.Requests)))
		var extra []string
		if st.Retries > 0 {
			extra = append(extra, fmt.Sprintf("%s retried", diag.Thousands(int(st.Retries))))
		}
		if st.Throttled > 0 {
			extra = append(extra, fmt.Sprintf("%s throttled (429)", diag.Thousands(int(st.Throttled))))
		}
		if len(extra) > 0 {
			p += " (" + strings.Join(extra, ", ") + ")"
		}
		parts = append(parts, p)
	}
	fmt.Fprintf(w, "requests: %s\n", strings.Join(parts, ", "))
	for _, n := range names {
		if ls := limits[n]; len(ls) > 0 {
			fmt.Fprintf(w, "  %s limits: %s\n", n, describeLimits(ls))
		}
	}
}

// describeLimits renders a service's documented limits briefly.
func describeLimits(ls []connector.Limit) string {
	var parts []string
	for _, l := range ls {
		var p []string
		if l.Requests > 0 {
			p = append(p, fmt.Sprintf("%s per %s", diag.Thousands(l.Requests), perString(l.Per)))
		}
		if l.Concurrency > 0 {
			p = append(p, fmt.Sprintf("%d at once", l.Concurrency))
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", strings.Join(p, ", "), l.Scope))
	}
	return strings.Join(parts, "; ")
}

func perString(d time.Duration) string {
	switch {
	case d == time.Second:
		return "second"
	case d == time.Minute:
		return "minute"
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// writeRejects prints the first rejects of a report as diagnostics, with
// the mapping line that produced the bad value, on stderr.
func writeRejects(s *Stdio, rep *engine.Report, sources map[string]*diag.Source, max int) {
	n := rep.Rejected()
	if n == 0 {
		return
	}
	var ds diag.Diagnostics
	for _, sr := range rep.Syncs {
		for _, f := range sr.Flows {
			for _, e := range f.Rejects {
				if len(ds) < max {
					d := untrusted(e.Diagnostic())
					if e.Kind == engine.RejectService && !s.ErrTerminal {
						// A service's reason may quote the record (an email
						// address); stderr that is not a terminal is a log,
						// and rejects are logged by key only.
						d.Detail = "the service refused the record; its answer may quote the record, so it is not logged: see `synclang rejects`"
					}
					ds = append(ds, d)
				}
			}
		}
	}
	_ = diag.Write(s.Err, ds, sources, diag.WriteOptions{Color: s.ErrTerminal && s.Getenv("NO_COLOR") == ""})
	if n > len(ds) {
		fmt.Fprintf(s.Err, "... and %s more.\n", diag.Thousands(n-len(ds)))
	}
}

// untrusted escapes what a service may have written into a reject's
// diagnostic (its summary names the record's key, its detail quotes the
// service) so that it prints as text (redact.Line).
func untrusted(d *diag.Diagnostic) *diag.Diagnostic {
	d.Summary, d.Detail = redact.Line(d.Summary), redact.Line(d.Detail)
	return d
}

// roundDur rounds a duration for people: 1.234s, 12.3s, 2m3s.
func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// flowName is the engine's name of a flow.
func flowName(f *plan.Flow) string {
	if f.From == plan.Left {
		return string(plan.LeftToRight)
	}
	return string(plan.RightToLeft)
}

// counter returns progress's count function: for a flow that reads its
// source in full on this pass (the first pass, --full, a source without
// change tracking), the source's record count (connector.Counter), for an
// ETA, and whether it is exact. Sources that cannot count give 0. Counting
// costs a request or two per such flow; later passes send none.
func (ss *session) counter(ctx context.Context, opts engine.Options) func(sync, flow string) (int, bool) {
	full := map[[2]string]bool{}
	for _, sy := range ss.syncs {
		if opts.Sync != "" && sy.Name != opts.Sync {
			continue
		}
		for _, f := range sy.Flows {
			src := sy.Side(f.From)
			isFull := opts.Full || !src.Incremental
			if !isFull {
				tok, err := ss.store.Cursor(ctx, sy.Name, flowName(f))
				isFull = err == nil && tok == ""
			}
			full[[2]string{sy.Name, flowName(f)}] = isFull
		}
	}
	return func(sync, flow string) (int, bool) {
		if !full[[2]string{sync, flow}] {
			return 0, false
		}
		sy, ok := ss.plan.Sync(sync)
		if !ok {
			return 0, false
		}
		for _, f := range sy.Flows {
			if flowName(f) != flow {
				continue
			}
			src := sy.Side(f.From)
			c, ok := ss.conns[src.Connection].(connector.Counter)
			if !ok {
				return 0, false
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			n, exact, err := c.Count(cctx, src.Entity)
			if err != nil {
				ss.log.Debug("cannot count the records for the ETA", "sync", sync, "entity", src.Connection+"."+src.Entity, "error", err)
				return 0, false
			}
			return n, exact
		}
		return 0, false
	}
}

// flowLabel names a flow for people: "contacts crm.contact -> infobip.customer".
func (ss *session) flowLabel(sync, flow string) string {
	if from, to := flowLabels(ss.plan, sync, flow); from != "" {
		return sync + " " + from + " -> " + to
	}
	return sync + " " + flow
}

// fmtDuration prints an interval briefly: 1m, 30s, 1h30m.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
