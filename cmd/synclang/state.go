package main

import (
	"context"
	"fmt"
	"os"

	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
)

var stateCmd = &command{
	name:    "state",
	summary: "state copy: move a project's state from its SQLite file to PostgreSQL, without a resync",
	run:     runState,
}

const stateDoc = `  synclang state copy --from .synclang/state.db --to postgres://user@host:5432/db [--overwrite]

copies a project's state from an SQLite file into a PostgreSQL database:
cursors, links and their field hashes, rejects, unfinished creates, conflicts,
run history and orphans, so the project carries on from where it was, with
--state postgres://... (or SYNCLANG_STATE), instead of reading everything
again. The copy reads one snapshot of the file and writes the database in one
transaction: it is all there or not at all. It refuses while a sync runs
against either side, and refuses a database that holds state already unless
--overwrite (which replaces it). --to defaults to $SYNCLANG_STATE. The password
comes from the URL, PGPASSWORD or ~/.pgpass and is never printed.`

// stateCopyOptions are the flags of `synclang state copy`.
type stateCopyOptions struct {
	from, to  string
	overwrite bool
}

func runState(ctx context.Context, s *Stdio, args []string) int {
	var o stateCopyOptions
	fs := newFlags(s, "state", "copy --from FILE --to URL [--overwrite]", stateDoc)
	fs.StringVar(&o.from, "from", "", "the SQLite state file to copy (e.g. .synclang/state.db)")
	fs.StringVar(&o.to, "to", "", "the PostgreSQL database to copy into, as postgres://user@host:5432/db (default $"+stateEnv+")")
	fs.BoolVar(&o.overwrite, "overwrite", false, "replace the state the target database holds already")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) != 1 || rest[0] != "copy" {
		fmt.Fprintf(s.Err, "synclang state: expected `synclang state copy --from FILE --to URL`, got %q\n", rest)
		return exitUsage
	}
	if o.to == "" {
		o.to = s.Getenv(stateEnv)
	}
	registerStateSecrets(s, o.to)
	switch {
	case o.from == "":
		fmt.Fprintf(s.Err, "synclang state copy: --from FILE is required (the SQLite state, e.g. .synclang/state.db)\n")
		return exitUsage
	case o.to == "":
		fmt.Fprintf(s.Err, "synclang state copy: --to URL is required (or set %s)\n", stateEnv)
		return exitUsage
	case !postgres.IsDSN(o.to):
		fmt.Fprintf(s.Err, "synclang state copy: --to must be a postgres:// URL, not %q; copying into another SQLite file is `cp` of a stopped project's state.db\n", stateName(o.to))
		return exitUsage
	case postgres.IsDSN(o.from):
		fmt.Fprintf(s.Err, "synclang state copy: --from must be an SQLite file; copying out of PostgreSQL is not supported (use pg_dump)\n")
		return exitUsage
	}
	return copyState(ctx, s, o)
}

func copyState(ctx context.Context, s *Stdio, o stateCopyOptions) int {
	// The source is opened for writing so that an older schema is
	// migrated first; nothing else is written to it.
	if _, err := os.Stat(o.from); err != nil {
		fmt.Fprintf(s.Err, "synclang state copy: --from: %v\n", err)
		return exitError
	}
	src, err := state.Open(ctx, o.from, state.Options{Now: s.Now})
	if err != nil {
		fmt.Fprintf(s.Err, "synclang state copy: %v\n", err)
		return exitError
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, o.to, state.Options{Now: s.Now})
	if err != nil {
		fmt.Fprintf(s.Err, "synclang state copy: %v\n", err)
		return exitError
	}
	defer dst.Close()
	n, err := postgres.CopyFromSQLite(ctx, src, dst, postgres.CopyOptions{Overwrite: o.overwrite, Now: s.Now})
	if err != nil {
		fmt.Fprintf(s.Err, "synclang state copy: %v\n", err)
		return exitError
	}
	fmt.Fprintf(s.Out, "Copied %s to %s: %d links, %d cursors, %d rejects, %d unfinished creates, %d conflicts, %d runs, %d orphans.\n",
		stateName(o.from), dst.Name(), n["links"], n["cursors"], n["rejects"], n["intents"], n["conflicts"], n["runs"], n["orphans"])
	fmt.Fprintf(s.Out, "Run the project with --state %s (or %s=...) from now on; the file is left as it was.\n", dst.Name(), stateEnv)
	return exitOK
}
