package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
)

var runCmd = &command{
	name:     "run",
	summary:  "run every sync once against the live systems, then print a summary (--watch: keep running)",
	run:      runRun,
	graceful: true,
}

const runDoc = `Run one pass of every sync (or --sync NAME) of the project: the first pass of a
direction reads its source in full (the initial load), later passes read what
changed since the saved cursor. PATHS are .sync files, directories of them, or
a plan written by ` + "`synclang compile`" + ` (default .). The state (cursors, links,
rejects, run history) is kept in .synclang/state.db next to the .sync files.

Progress goes to stderr on a terminal; the summary (per sync and direction:
read, then created, updated, linked, unchanged, skipped, deleted, rejected,
which add up to read; a status column when a sync failed; requests per
service; duration) to stdout. An interrupt (Ctrl+C, SIGTERM) finishes the
batches in flight and stops; a second one aborts. Either way the next run
continues from the last committed batch.

Exit status: 0 every sync finished and nothing was rejected; 1 a sync could
not run or stopped (connection, credentials, state, lock); 2 usage; 3 every
sync finished but records were rejected (see ` + "`synclang rejects`" + `; --allow-rejects
makes that 0).`

// runOptions are the flags of `synclang run`.
type runOptions struct {
	runFlags
	full         bool
	allowRejects bool
	watch        bool
	listen       string
	paths        []string
}

func runRun(ctx context.Context, s *Stdio, args []string) int {
	var o runOptions
	fs := newFlags(s, "run", "[flags] [PATHS]", runDoc)
	o.register(fs, "error")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "print only warnings and errors: no progress and no summary")
	fs.BoolVar(&o.full, "full", false, "read every source record, not just the changes since the saved cursors")
	fs.BoolVar(&o.allowRejects, "allow-rejects", false, "exit 0 even when records were rejected")
	fs.BoolVar(&o.watch, "watch", false, "keep running every sync at its `every` interval, as `synclang serve` does")
	fs.StringVar(&o.listen, "listen", defaultListen, "with --watch: the address of /metrics and /healthz (\"\" for none)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.paths = fs.Args()
	if o.watch {
		if o.full {
			fmt.Fprintln(s.Err, "synclang run: --full and --watch do not go together (run --full once, then watch)")
			return exitUsage
		}
		if !fs.Changed("log-level") {
			o.logLevel = "info"
		}
		return runServe(ctx, s, serveOptions{runFlags: o.runFlags, listen: o.listen, paths: o.paths, cmd: "run --watch"})
	}
	ss, code := openSession(ctx, s, "run", sessionOptions{flags: o.runFlags, paths: o.paths})
	if code != exitOK {
		return code
	}
	defer ss.close()
	rep, code := ss.runOnce(ctx, engine.Options{Sync: o.sync, Full: o.full})
	if code != exitOK {
		return code
	}
	if n := rep.Rejected(); n > 0 && !o.allowRejects {
		fmt.Fprintf(s.Err, "synclang run: %s rejected; they are kept with the reason (`synclang rejects`) and retried when they change or on `synclang rejects retry`\n", plural(n, "record"))
		return exitRejects
	}
	return exitOK
}

// runOnce runs one pass with progress, interrupts and the summary, and
// returns the report and exit code (exitOK when every sync finished). The
// summary goes to stdout, rejects and errors to stderr.
func (ss *session) runOnce(ctx context.Context, opts engine.Options) (*engine.Report, int) {
	s := ss.s
	ctx, stop, release := graceful(ctx, s, func() {
		fmt.Fprintf(s.Err, "\nsynclang %s: stopping after the batches in flight (interrupt again to abort)\n", ss.cmd)
	})
	defer release()
	progOut, progTerm := s.Err, s.ErrTerminal
	if ss.quiet {
		progOut, progTerm = io.Discard, false
	}
	prog := newProgress(progOut, progTerm, s.Now, 15*time.Second)
	prog.label = ss.flowLabel
	if progTerm {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		prog.count = ss.counter(cctx, opts)
	}
	env := ss.env()
	env.Progress, env.Stop = prog.update, stop
	rep, err := engine.Run(ctx, ss.plan, env, opts)
	ss.addConnectRequests(rep)
	prog.done()
	if rep != nil && worthSummary(rep) {
		if !ss.quiet {
			writeSummary(s.Out, rep, nil)
		}
		writeRejects(s, rep, ss.proj.sources, 10)
	}
	if n := replacedLinks(rep); rep != nil && n > 0 {
		// Once per run: a match paired records whose link field (People's
		// externalId) held a value someone else wrote; it now holds the
		// Dynamics ID. `synclang plan` lists them before a run.
		fmt.Fprintf(s.Err, "synclang %s: warning: %s found by a match key replaced a link value synclang did not write (such as another system's externalId); `synclang plan` lists them before a run\n",
			ss.cmd, plural(n, "pair"))
	}
	if err != nil {
		writeFailures(s.Err, "synclang "+ss.cmd, ss.plan, failures(rep, err))
		return rep, exitError
	}
	return rep, exitOK
}

// worthSummary reports whether a report says more than that every sync
// failed before reading anything.
func worthSummary(rep *engine.Report) bool {
	for _, sr := range rep.Syncs {
		if sr.Error == "" {
			return true
		}
		for _, f := range sr.Flows {
			if f.Read > 0 {
				return true
			}
		}
	}
	return false
}

// writeFailures prints one line per distinct reason syncs failed for,
// naming the syncs ("syncs contacts and leads: connection crm ...").
func writeFailures(w io.Writer, prefix string, p *plan.Plan, fs []syncFailure) {
	var order []string
	syncs := map[string][]string{}
	for _, f := range fs {
		msg := describe(p, f)
		if _, seen := syncs[msg]; !seen {
			order = append(order, msg)
		}
		if f.sync != "" {
			syncs[msg] = append(syncs[msg], f.sync)
		} else if syncs[msg] == nil {
			syncs[msg] = []string{}
		}
	}
	for _, msg := range order {
		switch names := syncs[msg]; len(names) {
		case 0:
			fmt.Fprintf(w, "%s: %s\n", prefix, msg)
		case 1:
			fmt.Fprintf(w, "%s: sync %s: %s\n", prefix, names[0], msg)
		default:
			fmt.Fprintf(w, "%s: syncs %s: %s\n", prefix, joinAnd(names), msg)
		}
	}
}
