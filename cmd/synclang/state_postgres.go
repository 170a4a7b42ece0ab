package main

import (
	"context"
	"errors"
	"strings"

	"github.com/synclang/synclang/runtime/state"
)

// isPostgresURL reports whether a --state value names a PostgreSQL
// database rather than an SQLite file.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openPostgresState opens the PostgreSQL state at dsn for project (the
// project's name among the several one database holds under serve
// --queue; "" for a command over one project). It is the one seam between
// the commands and the PostgreSQL store (runtime/state/postgres), which
// this build does not have yet.
func openPostgresState(ctx context.Context, s *Stdio, dsn, project string) (state.Store, error) {
	s.Secrets.RegisterURL(dsn)
	return nil, errors.New("--state: this build of synclang keeps its state in SQLite only (a file path); with serve --queue, leave --state out and each project keeps .synclang/state.db next to its .sync files")
}
