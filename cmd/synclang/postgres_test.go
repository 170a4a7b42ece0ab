package main

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/state/postgres/pgtest"
)

// pgPassword returns the password in a test DSN (the tests check it is
// never printed).
func pgPassword(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	if len(pw) < 6 {
		t.Skipf("%s needs a password of at least 6 characters for the leak checks", pgtest.Env)
	}
	return pw
}

func noPassword(t *testing.T, pw string, r result) {
	t.Helper()
	if strings.Contains(r.out+r.err, pw) {
		t.Fatalf("the database password was printed:\n%s", r)
	}
}

// TestPostgresState runs a project with its state in PostgreSQL, named by
// SYNCLANG_STATE: run, plan, status, rejects and rejects retry use it, no
// state file is created, and the password never shows.
func TestPostgresState(t *testing.T) {
	dsn := pgtest.Schema(t)
	pw := pgPassword(t, dsn)
	w := newWorld(t, worldOptions{contacts: 6})
	w.env[stateEnv] = dsn
	r := w.pass(exitOK)
	noPassword(t, pw, r)
	w.pass(exitOK)
	w.checkConverged()
	if _, err := os.Stat(filepath.Join(w.dir, stateDir)); !os.IsNotExist(err) {
		t.Fatalf("a state directory was created next to the project: %v", err)
	}
	r = w.synclang("plan", w.dir)
	noPassword(t, pw, r)
	if r.code != exitOK {
		t.Fatalf("plan after converging: %s", r)
	}
	// --state wins over the environment: a second, empty database.
	other := pgtest.Schema(t)
	r = w.synclang("status", "--json", "--state", other, w.dir)
	if r.code != exitOK || !strings.Contains(r.out, "No state at postgres://") || strings.Contains(r.out, pw) {
		t.Fatalf("status of an empty database: %s", r)
	}
	r = w.synclang("status", "--json", w.dir)
	noPassword(t, pw, r)
	var rep statusReport
	if r.code != exitOK || json.Unmarshal([]byte(r.out), &rep) != nil {
		t.Fatalf("status: %s", r)
	}
	if !strings.HasPrefix(rep.State, "postgres://") {
		t.Errorf("status names the state %q", rep.State)
	}
	links := 0
	for _, s := range rep.Syncs {
		links += s.Links
		if s.LastRun == nil {
			t.Errorf("sync %s has no last run in status", s.Name)
		}
	}
	if links == 0 {
		t.Fatalf("status shows no links: %s", r.out)
	}
	for _, args := range [][]string{{"rejects", w.dir}, {"rejects", "retry", w.dir}} {
		r = w.synclang(args...)
		noPassword(t, pw, r)
		if r.code != exitOK {
			t.Fatalf("synclang %v: %s", args, r)
		}
	}
	// The state file flag still works next to the variable.
	file := filepath.Join(t.TempDir(), "s.db")
	w.pass(exitOK, "--state", file)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("--state FILE with SYNCLANG_STATE set: %v", err)
	}
}

// TestPostgresStateErrors: an unreachable server, a wrong password and a
// database written by a newer synclang each stop the command with a
// message that names the server and not the password.
func TestPostgresStateErrors(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const pw = "closed-port-password"
	for _, cmd := range []string{"run", "plan", "status", "rejects"} {
		r := w.synclang(cmd, "--state", "postgres://ana:"+pw+"@"+addr+"/db?connect_timeout=10", w.dir)
		noPassword(t, pw, r)
		if r.code != exitError || !strings.Contains(r.err, "cannot connect to the PostgreSQL server at "+addr) {
			t.Fatalf("%s against a closed port: %s", cmd, r)
		}
	}

	dsn := pgtest.Schema(t)
	real := pgPassword(t, dsn)
	u, _ := url.Parse(dsn)
	const wrong = "wrong-password-value"
	u.User = url.UserPassword(u.User.Username(), wrong)
	r := w.synclang("run", "--state", u.String(), w.dir)
	noPassword(t, wrong, r)
	noPassword(t, real, r)
	if r.code != exitError || !strings.Contains(r.err, "refused user") {
		t.Fatalf("run with a wrong password: %s", r)
	}

	w.env[stateEnv] = dsn
	w.pass(exitOK)
	pgtest.Exec(t, dsn, `UPDATE synclang_schema SET version = version + 1`)
	for _, cmd := range []string{"run", "status"} {
		r = w.synclang(cmd, w.dir)
		noPassword(t, real, r)
		if r.code != exitError || !strings.Contains(r.err, "newer synclang") {
			t.Fatalf("%s on a newer schema: %s", cmd, r)
		}
	}
}

// TestStateCopy moves a project's SQLite state, with its history and a
// reject, into PostgreSQL: status reads the same there, the next pass
// changes nothing (no resync), and a second copy is refused unless
// --overwrite.
func TestStateCopy(t *testing.T) {
	dsn := pgtest.Schema(t)
	pw := pgPassword(t, dsn)
	w := newWorld(t, worldOptions{contacts: 8})
	w.pass(exitOK)
	w.pass(exitOK)
	file := filepath.Join(w.dir, stateDir, stateFile)
	st, err := state.Open(context.Background(), file, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := st.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, l, &state.Changes{Sync: "contacts", PutRejects: []state.Reject{{Flow: "left-to-right", Key: "k1", Kind: "value", Reason: "too long"}},
		Conflicts: []state.Conflict{{LeftKey: "a", RightKey: "b", LeftField: "x", RightField: "y", Winner: state.Left, Policy: "newest", LeftValue: "1", RightValue: "2"}}}); err != nil {
		t.Fatal(err)
	}
	// A live lock on the source refuses the copy.
	r := w.synclang("state", "copy", "--from", file, "--to", dsn)
	noPassword(t, pw, r)
	if r.code != exitError || !strings.Contains(r.err, "is running against") {
		t.Fatalf("copy while a sync holds the source's lock: %s", r)
	}
	st.Release(ctx, l)
	st.Close()

	before := w.synclang("status", "--json", w.dir)
	r = w.synclang("state", "copy", "--from", file, "--to", dsn)
	noPassword(t, pw, r)
	if r.code != exitOK || !strings.Contains(r.out, "1 conflicts") {
		t.Fatalf("state copy: %s", r)
	}
	after := w.synclang("status", "--json", "--state", dsn, w.dir)
	noPassword(t, pw, after)
	var a, b statusReport
	if json.Unmarshal([]byte(before.out), &b) != nil || json.Unmarshal([]byte(after.out), &a) != nil {
		t.Fatalf("status:\n%s\n%s", before, after)
	}
	a.State, b.State = "", ""
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("status differs after the copy:\n--- sqlite\n%s\n--- postgres\n%s", jb, ja)
	}
	// The next pass, on PostgreSQL, finds nothing to do: no resync.
	r = w.synclang("plan", "--state", dsn, w.dir)
	if r.code != exitOK {
		t.Fatalf("plan after the copy: %s", r)
	}
	beforeContacts, beforePersons := len(w.dyn.Rows("contact")), len(w.persons())
	w.pass(exitOK, "--state", dsn)
	w.checkConverged()
	if len(w.dyn.Rows("contact")) != beforeContacts || len(w.persons()) != beforePersons {
		t.Errorf("the pass after the copy created records: contacts %d -> %d, persons %d -> %d",
			beforeContacts, len(w.dyn.Rows("contact")), beforePersons, len(w.persons()))
	}
	runs := 0
	pgtestRow(t, dsn, `SELECT count(*) FROM runs`, &runs)
	if runs < 5 {
		t.Errorf("%d runs in PostgreSQL after copying four and running two", runs)
	}
	// Copying again is refused, unless --overwrite.
	r = w.synclang("state", "copy", "--from", file, "--to", dsn)
	if r.code != exitError || !strings.Contains(r.err, "already holds state") || !strings.Contains(r.err, "--overwrite") {
		t.Fatalf("copy onto a used database: %s", r)
	}
	r = w.synclang("state", "copy", "--from", file, "--to", dsn, "--overwrite")
	if r.code != exitOK {
		t.Fatalf("copy --overwrite: %s", r)
	}
	pgtestRow(t, dsn, `SELECT count(*) FROM runs`, &runs)
	if runs != 4 {
		t.Errorf("%d runs after --overwrite, want the source's 4", runs)
	}
	// Later runs get new ids.
	w.pass(exitOK, "--state", dsn)
}

func pgtestRow(t *testing.T, dsn, q string, dst any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, q).Scan(dst); err != nil {
		t.Fatal(err)
	}
}

// TestServeWithPostgresState: serve keeps its state in PostgreSQL; the
// password shows in neither the logs, /healthz nor /metrics.
func TestServeWithPostgresState(t *testing.T) {
	dsn := pgtest.Schema(t)
	pw := pgPassword(t, dsn)
	w := newWorld(t, worldOptions{contacts: 3, files: map[string]string{
		"contacts.sync": strings.Replace(readExample(t, "contacts.sync"), "every 1m", "every 1s", 1),
	}})
	base, sig, code, logs := w.serve(t, "serve", "--listen", "127.0.0.1:0", "--state", dsn)
	waitMetric(t, base, regexp.MustCompile(`synclang_passes_total\{outcome="ok",sync="contacts"\} (\d+)`), 2)
	_, metrics := get(t, base+"/metrics")
	_, health := get(t, base+"/healthz")
	sig <- os.Interrupt
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("serve exited %d:\n%s", c, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop after an interrupt")
	}
	for what, text := range map[string]string{"logs": logs.String(), "/metrics": metrics, "/healthz": health} {
		if strings.Contains(text, pw) {
			t.Errorf("%s show the database password:\n%s", what, text)
		}
	}
	if !strings.Contains(logs.String(), `"state":"postgres://`) {
		t.Errorf("the logs do not name the state:\n%s", logs.String())
	}
	var runs int
	pgtestRow(t, dsn, `SELECT count(*) FROM runs WHERE status = 'ok'`, &runs)
	if runs < 2 {
		t.Errorf("%d ok runs recorded in PostgreSQL", runs)
	}
	w.checkConverged()
}
