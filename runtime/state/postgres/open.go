package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/synclang/synclang/runtime/state"
)

// IsDSN reports whether a --state value names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than an SQLite file.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the PostgreSQL database dsn (a postgres:// URL; the
// password comes from the URL, PGPASSWORD or ~/.pgpass, as libpq reads
// them, and the other PG* variables fill what the URL leaves out), migrates
// it to the current schema (unless opts.ReadOnly) and returns the store,
// which owns its connection pool and closes it on Close.
//
// Errors name the server (host:port), user and database, never the
// password: an unreachable server, wrong credentials, a database of a
// newer schema version, and, for a read-only open, a database that holds
// no state yet (*[NoStateError]).
func Open(ctx context.Context, dsn string, opts state.Options) (*Store, error) {
	return openSteps(ctx, dsn, opts, migrations)
}

func openSteps(ctx context.Context, dsn string, opts state.Options, steps []migration) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors mask the password already; drop the URL
		// anyway, the message says what is wrong with it.
		return nil, fmt.Errorf("state %s: not a valid PostgreSQL URL: %v", Redact(dsn), redactErr(err, ""))
	}
	name := describe(&cfg.ConnConfig.Config)
	if opts.ReadOnly {
		// The server refuses writes too, not just this code.
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "synclang"
	}
	cfg.MaxConnIdleTime = time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(name, &cfg.ConnConfig.Config, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectError(name, &cfg.ConnConfig.Config, err)
	}
	s, err := open(ctx, pool, name, "", opts, steps)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// OpenPool is Open over a pool the caller owns and shares (River's
// riverpgxv5 driver and several projects' stores can use one pool): it
// migrates the schema the pool's connections see (their search_path) and
// does not close the pool on Close. opts.ReadOnly is enforced by the
// store, not by the server. Stores opened on one pool this way share one
// state: sync names must then be unique across them; OpenPoolSchema keeps
// each project apart.
func OpenPool(ctx context.Context, pool *pgxpool.Pool, opts state.Options) (*Store, error) {
	return OpenPoolSchema(ctx, pool, "", opts)
}

// OpenPoolSchema is OpenPool with every table in schema (created when
// missing, with the tables), whatever the connections' search_path: many
// projects, one schema each, on one shared pool. "" is OpenPool.
func OpenPoolSchema(ctx context.Context, pool *pgxpool.Pool, schema string, opts state.Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("state: postgres.OpenPool needs a pool")
	}
	name := describe(&pool.Config().ConnConfig.Config)
	if schema != "" {
		name += "?schema=" + url.QueryEscape(schema)
	}
	return open(ctx, pool, name, schema, opts, migrations)
}

func open(ctx context.Context, pool *pgxpool.Pool, name, schema string, opts state.Options, steps []migration) (*Store, error) {
	var err error
	if opts.ReadOnly {
		err = checkVersion(ctx, pool, name, schema, steps)
	} else {
		err = migrate(ctx, pool, name, schema, steps)
	}
	if err != nil {
		return nil, redactErr(err, pool.Config().ConnConfig.Password)
	}
	s := &Store{pool: pool, name: name, schema: schema, now: opts.Now, self: opts.Holder, alive: opts.Alive, readOnly: opts.ReadOnly,
		password: pool.Config().ConnConfig.Password}
	if s.now == nil {
		s.now = time.Now
	}
	if s.self.Host == "" {
		s.self.Host, _ = os.Hostname()
	}
	if s.self.PID == 0 {
		s.self.PID = os.Getpid()
	}
	if s.alive == nil {
		s.alive = state.ProcessAlive
	}
	return s, nil
}

// Redact returns dsn without its password, for messages and logs: the
// URL's password is dropped (not masked, so its length does not show
// either), and a password= query parameter removed. A value that does not
// parse as a URL is replaced by a fixed text.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "postgres://(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// describe names a database for messages: postgres://user@host:port/db,
// no password.
func describe(c *pgconn.Config) string {
	u := url.URL{Scheme: "postgres", User: url.User(c.User), Host: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), Path: "/" + c.Database}
	if strings.HasPrefix(c.Host, "/") { // a Unix socket directory
		u.Host = ""
		u.RawQuery = "host=" + url.QueryEscape(c.Host)
	}
	return u.String()
}

// connectError says which server could not be reached or refused us, and
// what to do, without the password.
func connectError(name string, c *pgconn.Config, err error) error {
	addr := net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
	err = redactErr(cause(err), c.Password)
	switch pgCode(err) {
	case "28P01", "28000": // invalid_password, invalid_authorization_specification
		return fmt.Errorf("state %s: the server at %s refused user %q: %v; check the password (in the URL, PGPASSWORD or ~/.pgpass) and the user name", name, addr, c.User, err)
	case "3D000": // invalid_catalog_name
		return fmt.Errorf("state %s: the server at %s has no database %q: %v; create it (createdb %s) or fix the URL", name, addr, c.Database, err, c.Database)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("state %s: the server at %s refused the connection: %v", name, addr, err)
	}
	return fmt.Errorf("state %s: cannot connect to the PostgreSQL server at %s: %v; check that it is running and reachable (host and port in the URL)", name, addr, err)
}

// cause is the part of a connection error worth showing: pgconn's
// ConnectError lists every address and TLS attempt on lines of their own,
// and repeats the user and database the message names already; the
// server's answer or the network error says what happened.
func cause(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	if strings.Contains(err.Error(), "\n") {
		return errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	return err
}

// redactErr removes password from an error's text (a server never echoes
// it, but a driver message might quote a connection string). The error
// keeps its chain when there is nothing to remove.
func redactErr(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[redacted]"))
}
