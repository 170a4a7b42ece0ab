package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres"
	"github.com/synclang/synclang/runtime/state/postgres/pgtest"
)

// withUser returns dsn with its password replaced (pw "" drops it).
func withPassword(t *testing.T, dsn, pw string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if pw == "" {
		u.User = url.User(u.User.Username())
	} else {
		u.User = url.UserPassword(u.User.Username(), pw)
	}
	return u.String()
}

func password(t *testing.T, dsn string) string {
	u, _ := url.Parse(dsn)
	pw, _ := u.User.Password()
	if pw == "" {
		t.Skip("the test server's URL has no password; these tests need one")
	}
	return pw
}

func TestUnreachableServer(t *testing.T) {
	// No server needed: nothing listens on the port of a listener just
	// closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const pw = "s3cret-password-value"
	_, err = postgres.Open(context.Background(), "postgres://ana:"+pw+"@"+addr+"/db?connect_timeout=10", state.Options{})
	if err == nil {
		t.Fatal("opened a state on a closed port")
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot connect to the PostgreSQL server at "+addr) || strings.Contains(msg, pw) || !strings.Contains(msg, "postgres://ana@"+addr+"/db") {
		t.Fatalf("unreachable server: %v", msg)
	}
}

func TestBadURL(t *testing.T) {
	const pw = "s3cret-password-value"
	_, err := postgres.Open(context.Background(), "postgres://ana:"+pw+"@localhost:notaport/db", state.Options{})
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "not a valid PostgreSQL URL") {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ana:pw@h:5432/db?sslmode=require": "postgres://ana@h:5432/db?sslmode=require",
		"postgres://h/db?password=pw&sslmode=disable": "postgres://h/db?sslmode=disable",
		"postgresql://ana@h/db":                       "postgresql://ana@h/db",
		"postgres://ana:pw@[::1":                      "postgres://(unparsable URL)",
	} {
		if got := postgres.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if !postgres.IsDSN("postgres://x") || !postgres.IsDSN("postgresql://x") || postgres.IsDSN(".synclang/state.db") {
		t.Error("IsDSN")
	}
}

func TestWrongCredentials(t *testing.T) {
	dsn := pgtest.Server(t)
	const wrong = "not-the-password-42"
	_, err := postgres.Open(context.Background(), withPassword(t, dsn, wrong), state.Options{})
	if err == nil || !strings.Contains(err.Error(), "refused user") || strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "PGPASSWORD") {
		t.Fatalf("wrong password: %v", err)
	}
	u, _ := url.Parse(dsn)
	u.Path = "/no_such_database_here"
	_, err = postgres.Open(context.Background(), u.String(), state.Options{})
	if err == nil || !strings.Contains(err.Error(), `no database "no_such_database_here"`) || strings.Contains(err.Error(), password(t, dsn)) {
		t.Fatalf("missing database: %v", err)
	}
}

// The password may come from PGPASSWORD or a password file instead of the
// URL, as libpq reads them.
func TestPasswordFromEnvironmentAndFile(t *testing.T) {
	dsn := pgtest.Schema(t)
	pw := password(t, dsn)
	bare := withPassword(t, dsn, "")
	t.Run("PGPASSWORD", func(t *testing.T) {
		t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("PGPASSWORD", pw)
		st, err := postgres.Open(context.Background(), bare, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	})
	t.Run("pgpass", func(t *testing.T) {
		u, _ := url.Parse(dsn)
		file := filepath.Join(t.TempDir(), "pgpass")
		line := fmt.Sprintf("%s:%s:%s:%s:%s\n", u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), u.User.Username(), pw)
		if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSWORD", "")
		os.Unsetenv("PGPASSWORD")
		t.Setenv("PGPASSFILE", file)
		st, err := postgres.Open(context.Background(), bare, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	})
}

// A read-only open of a database without synclang's tables says so.
func TestReadOnlyEmpty(t *testing.T) {
	_, err := postgres.Open(context.Background(), pgtest.Schema(t), state.Options{ReadOnly: true})
	var none *postgres.NoStateError
	if !errors.As(err, &none) {
		t.Fatalf("read-only open of an empty database: %v", err)
	}
}

// OpenPool uses a pool the caller shares (River): closing the store
// leaves the pool open.
func TestOpenPool(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st, err := postgres.OpenPool(ctx, pool, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Acquire(ctx, "c", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, l, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: "1"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var tok string
	if err := pool.QueryRow(ctx, `SELECT token FROM cursors`).Scan(&tok); err != nil || tok != "1" {
		t.Fatalf("the pool after the store closed: %q, %v", tok, err)
	}
	if st.Pool() != pool {
		t.Error("Pool() is not the pool given")
	}
}

// cutProxy forwards TCP connections to the server and drops every one of
// them, without forwarding it, when the client sends a chunk containing
// cut: the server sees its client vanish at that moment.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    []byte
	cuts   int
	// hold, when set, makes the next chunk containing holdOn wait: held is
	// closed when it arrives, and it is forwarded once release is closed.
	holdOn        []byte
	held, release chan struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// cutCount returns how many connections were cut.
func (p *cutProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *cutProxy) arm(cut string) {
	p.mu.Lock()
	p.cut = []byte(cut)
	p.mu.Unlock()
}

// holdNext makes the next chunk containing text wait until release is
// closed; held is closed when it arrives.
func (p *cutProxy) holdNext(text string) (held, release chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdOn, p.held, p.release = []byte(text), make(chan struct{}), make(chan struct{})
	return p.held, p.release
}

func (p *cutProxy) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { io.Copy(c, s); c.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.cut != nil && bytes.Contains(buf[:n], p.cut)
			if drop {
				p.cut = nil
				p.cuts++
			}
			var release chan struct{}
			if p.holdOn != nil && bytes.Contains(buf[:n], p.holdOn) {
				p.holdOn, release = nil, p.release
				close(p.held)
			}
			p.mu.Unlock()
			if drop {
				return
			}
			if release != nil {
				<-release
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestConnectionLostBeforeCommit drops the connection after a batch's
// statements ran in the server but before its COMMIT arrived: the batch
// fails, nothing of it is in the database, and retrying it succeeds.
func TestConnectionLostBeforeCommit(t *testing.T) {
	dsn := pgtest.Schema(t)
	u, _ := url.Parse(dsn)
	p := newCutProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	// In clear, so the proxy sees the COMMIT.
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	st, err := postgres.Open(ctx, u.String(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	direct, err := postgres.Open(ctx, dsn, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	l, err := st.Acquire(ctx, "c", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(n int, cursor string) *state.Changes {
		c := &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: cursor}}
		for i := range n {
			c.PutLinks = append(c.PutLinks, state.Link{Left: fmt.Sprint("L", cursor, i), Right: fmt.Sprint("R", cursor, i)})
			c.PutRejects = append(c.PutRejects, state.Reject{Flow: "f", Key: fmt.Sprint(cursor, i), Kind: "value", Reason: "x"})
		}
		return c
	}
	if err := st.Apply(ctx, l, batch(10, "1")); err != nil {
		t.Fatal(err)
	}
	p.arm("commit")
	err = st.Apply(ctx, l, batch(1000, "2"))
	if err == nil || p.cutCount() != 1 {
		t.Fatalf("a batch whose COMMIT never arrived: %v (cuts %d)", err, p.cutCount())
	}
	if strings.Contains(err.Error(), password(t, dsn)) {
		t.Fatalf("the error shows the password: %v", err)
	}
	// The server rolls the transaction back when it sees the client gone;
	// until then the batch is invisible anyway.
	if tok, _ := direct.Cursor(ctx, "c", "f"); tok != "1" {
		t.Fatalf("cursor %q after the lost batch", tok)
	}
	if n, _ := direct.LinkCount(ctx, "c"); n != 10 {
		t.Fatalf("%d links after the lost batch, want 10", n)
	}
	if rj, _ := direct.Rejects(ctx, state.RejectQuery{}); len(rj) != 10 {
		t.Fatalf("%d rejects after the lost batch, want 10", len(rj))
	}
	// The retry (the engine's next pass) goes through a new connection.
	if err := st.Apply(ctx, l, batch(1000, "2")); err != nil {
		t.Fatalf("retrying the batch: %v", err)
	}
	if n, _ := direct.LinkCount(ctx, "c"); n != 1010 {
		t.Fatalf("%d links after the retry, want 1010", n)
	}
}

// proxied returns dsn through p, in clear (the proxy reads the protocol).
func proxied(dsn string, p *cutProxy) string {
	u, _ := url.Parse(dsn)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// TestTakeoverWaitsForCommitInFlight: host a stalled past its lease with a
// batch sent but its COMMIT not yet arrived; host b takes the sync over.
// The takeover must wait for that commit (a's lease check holds the lock
// row), so a's batch lands before b holds the lease, never after: b reads
// it once it has the lock. Without the row lock b would get the lease at
// once and a's batch would land under b's lease.
func TestTakeoverWaitsForCommitInFlight(t *testing.T) {
	dsn := pgtest.Schema(t)
	u, _ := url.Parse(dsn)
	p := newCutProxy(t, u.Host)
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, err := postgres.Open(ctx, proxied(dsn, p), state.Options{Now: clock, Holder: state.Holder{Host: "a", PID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, dsn+"&application_name=synclang-host-b", state.Options{Now: clock, Holder: state.Holder{Host: "b", PID: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, err := a.Acquire(ctx, "c", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	held, release := p.holdNext("commit")
	applied := make(chan error, 1)
	go func() {
		applied <- a.Apply(ctx, la, &state.Changes{Sync: "c", PutLinks: []state.Link{{Left: "L", Right: "R"}}, Cursor: &state.Cursor{Flow: "f", Token: "a"}})
	}()
	select {
	case <-held:
	case err := <-applied:
		t.Fatalf("the apply finished before its commit was held: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the apply's commit never came")
	}
	mu.Lock()
	now = now.Add(2 * time.Minute) // a's lease has expired
	mu.Unlock()
	acquired := make(chan error, 1)
	var lb *state.Lease
	go func() {
		var err error
		lb, err = b.Acquire(ctx, "c", time.Minute)
		acquired <- err
	}()
	// b must be waiting for a's row lock: the server says so.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var waiting bool
		if err := b.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = 'synclang-host-b' AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-acquired:
			close(release)
			t.Fatalf("host b took the sync over (%v) while host a's commit was in flight: a's batch would land under b's lease", err)
		default:
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("host b's takeover neither waited nor finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if err := <-applied; err != nil {
		t.Fatalf("host a's batch, committed before the takeover: %v", err)
	}
	if err := <-acquired; err != nil {
		t.Fatalf("host b's takeover after a's commit: %v", err)
	}
	if tok, _ := b.Cursor(ctx, "c", "f"); tok != "a" {
		t.Fatalf("host b sees cursor %q once it holds the lock, want a's batch", tok)
	}
	// From now on a is fenced off.
	if err := a.Apply(ctx, la, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: "a2"}}); !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("host a after the takeover: %v", err)
	}
	if err := b.Apply(ctx, lb, &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: "b"}}); err != nil {
		t.Fatal(err)
	}
}
