package main

// statestore.go picks and opens a project's state: an SQLite file (the
// default, .synclang/state.db next to the .sync files) or a PostgreSQL
// database (--state postgres://... or SYNCLANG_STATE). See SPEC.md
// "PostgreSQL state".

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
)

// stateEnv names the state when --state is not given.
const stateEnv = "SYNCLANG_STATE"

// stateFlagHelp is the --state flag's help, shared by every command that
// keeps state.
const stateFlagHelp = "the state: an SQLite file, or a PostgreSQL database as postgres://user@host:5432/db (password from the URL, PGPASSWORD or ~/.pgpass); default $" + stateEnv + ", else " + stateDir + "/" + stateFile + " next to the .sync files"

// stateLocation is --state, else $SYNCLANG_STATE, else
// .synclang/state.db in the project's directory.
func stateLocation(s *Stdio, p *project, flag string) string {
	if flag != "" {
		return flag
	}
	if env := s.Getenv(stateEnv); env != "" {
		return env
	}
	return filepath.Join(p.dir, stateDir, stateFile)
}

// stateName is how messages, logs and status name a state: a file's path,
// or a database's URL without its password.
func stateName(loc string) string {
	if postgres.IsDSN(loc) {
		return postgres.Redact(loc)
	}
	return filepath.ToSlash(loc)
}

// registerStateSecrets masks the database password wherever this command
// prints or logs, whichever way it was given (the URL, PGPASSWORD): the
// driver and the server do not echo it, but a message quoting a URL might.
func registerStateSecrets(s *Stdio, loc string) {
	if !postgres.IsDSN(loc) {
		return
	}
	if u, err := url.Parse(loc); err == nil {
		if pw, ok := u.User.Password(); ok {
			s.Secrets.Register(pw)
		}
		s.Secrets.Register(u.Query().Get("password"))
	}
	// pgx reads the process's own environment.
	s.Secrets.Register(s.Getenv("PGPASSWORD"), os.Getenv("PGPASSWORD"))
}

// openState opens the state at loc. A read-only open of a state that
// does not exist (no file, or a database without synclang's tables)
// returns errNoState.
func openState(ctx context.Context, s *Stdio, loc string, opts state.Options) (state.Store, error) {
	registerStateSecrets(s, loc)
	if postgres.IsDSN(loc) {
		st, err := postgres.Open(ctx, loc, opts)
		var none *postgres.NoStateError
		if errors.As(err, &none) {
			return nil, errNoState
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	if opts.ReadOnly {
		if _, err := os.Stat(loc); errors.Is(err, fs.ErrNotExist) {
			return nil, errNoState
		}
	}
	st, err := state.Open(ctx, loc, opts)
	if err != nil {
		return nil, err
	}
	return st, nil
}

var errNoState = errors.New("no state yet")
