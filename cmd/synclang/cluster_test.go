//go:build unix

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/runtime/state"
)

// The scale-out test runs three `synclang serve --queue` replicas (this
// test binary, as the synclang command testscript puts on PATH) over ten
// projects against the emulators, which live in the test's own process
// and are reached over loopback HTTP. Each project has its own variables
// (P03_DYNAMICS_URL, ...) and its own records (its city, in a where on
// both sides). River and its schedule live in a PostgreSQL schema of the
// test's own; each project's state is its SQLite file, shared by the
// replicas on this host.

// queueDSN returns SYNCLANG_TEST_POSTGRES with a fresh schema as its
// search_path (dropped at the end), or skips.
func queueDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SYNCLANG_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set SYNCLANG_TEST_POSTGRES=postgres://user:pass@127.0.0.1:5432/db to run the PostgreSQL tests")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "serve_test_" + hex.EncodeToString(b)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		pool.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

const clusterSync = `connection crm dynamics {
  url           = env("%[1]s_DYNAMICS_URL")
  tenant        = env("%[1]s_TENANT")
  client_id     = env("%[1]s_CLIENT_ID")
  client_secret = secret("%[1]s_CLIENT_SECRET")
}

connection infobip people {
  url     = env("%[1]s_INFOBIP_URL")
  api_key = secret("%[1]s_INFOBIP_KEY")
}

sync contacts {
  crm.contact <-> infobip.customer

  link  contactid <-> externalId
  match lower(emailaddress1) <-> lower(email)

  firstname     <-> firstName
  lastname      <-> lastName
  emailaddress1 <-> email
  address1_city <-> city

  where crm: address1_city == "%[1]s"
  where infobip: city == "%[1]s"
  every 1s
}
`

// slow delays every request a little, so passes last long enough to be
// killed in the middle of one.
func slow(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		h.ServeHTTP(w, r)
	})
}

type replica struct {
	stopped bool
	cmd     *exec.Cmd
	log     string
	done    chan error
}

func TestServeScalesOutOverReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dsn := queueDSN(t)
	bin, err := exec.LookPath("synclang")
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynemu.New(dynemu.Options{Limits: "off"})
	dynSrv := httptest.NewServer(slow(dyn))
	defer dynSrv.Close()
	ppl := pplemu.New(pplemu.Options{Limits: "off"})
	pplSrv := httptest.NewServer(slow(ppl))
	defer pplSrv.Close()
	cr := dyn.Credentials()

	root := t.TempDir()
	env := append(os.Environ(), "DYNAMICS_AUTHORITY="+dynSrv.URL, "NO_COLOR=1")
	var dirs, names []string
	for i := range 10 {
		name := fmt.Sprintf("P%02d", i)
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "contacts.sync"), fmt.Appendf(nil, clusterSync, name), 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, name+"_DYNAMICS_URL="+dynSrv.URL, name+"_TENANT="+cr.Tenant, name+"_CLIENT_ID="+cr.ClientID,
			name+"_CLIENT_SECRET="+cr.ClientSecret, name+"_INFOBIP_URL="+pplSrv.URL, name+"_INFOBIP_KEY="+ppl.APIKey())
		dirs, names = append(dirs, dir), append(names, name)
		for j := range 4 {
			dyn.Insert("contact", map[string]any{"firstname": "C", "lastname": fmt.Sprintf("%s-%d", name, j),
				"emailaddress1": fmt.Sprintf("c%d@%s.example.com", j, strings.ToLower(name)), "address1_city": name, "statecode": 0})
		}
		for j := range 2 {
			ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "P", "lastName": fmt.Sprintf("%s-%d", name, j), "city": name,
				"contactInformation": map[string]any{"email": []any{map[string]any{"address": fmt.Sprintf("p%d@%s.example.com", j, strings.ToLower(name))}}}})
		}
	}

	start := func(i int) *replica {
		args := append([]string{"serve", "--queue", dsn, "--lease", "6s", "--workers", "4", "--listen", "", "--log-level", "info"}, dirs...)
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		logPath := filepath.Join(root, fmt.Sprintf("replica%d.log", i))
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := &replica{cmd: cmd, log: logPath, done: make(chan error, 1)}
		go func() { r.done <- cmd.Wait(); f.Close() }()
		return r
	}
	// The first replica creates each project's SQLite state before the
	// others open it (two processes creating one SQLite database at once
	// may race in its first migration; a PostgreSQL state has no such
	// step per project).
	reps := []*replica{start(0)}
	waitLog := func(r *replica, what string) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			b, _ := os.ReadFile(r.log)
			if strings.Contains(string(b), what) {
				return
			}
			select {
			case err := <-r.done:
				t.Fatalf("the replica exited before %q: %v\n%s", what, err, b)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replica did not log %q:\n%s", what, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog(reps[0], "serving projects with the other replicas")
	reps = append(reps, start(1), start(2))
	defer func() {
		for _, r := range reps {
			_ = r.cmd.Process.Kill()
		}
		if t.Failed() {
			for i, r := range reps {
				b, _ := os.ReadFile(r.log)
				t.Logf("replica %d log (last 3000 bytes):\n%s", i, tail(string(b), 3000))
			}
		}
	}()

	// converged: per project, every contact and person paired, the
	// two-way fields equal, nobody twice.
	converged := func() error {
		persons := map[string][]map[string]any{}
		for _, p := range ppl.Persons() {
			persons[strings.ToLower(personEmail(p))] = append(persons[strings.ToLower(personEmail(p))], p)
		}
		contacts := map[string][]map[string]any{}
		for _, c := range dyn.Rows("contact") {
			contacts[strings.ToLower(str2(c["emailaddress1"]))] = append(contacts[strings.ToLower(str2(c["emailaddress1"]))], c)
		}
		if len(persons) != len(contacts) {
			return fmt.Errorf("%d people emails, %d contact emails", len(persons), len(contacts))
		}
		for email, cs := range contacts {
			ps := persons[email]
			if len(cs) != 1 || len(ps) != 1 {
				return fmt.Errorf("%s: %d contacts, %d persons", email, len(cs), len(ps))
			}
			c, p := cs[0], ps[0]
			if str2(p["externalId"]) != str2(c["contactid"]) || str2(c["firstname"]) != str2(p["firstName"]) || str2(c["lastname"]) != str2(p["lastName"]) {
				return fmt.Errorf("%s: contact %v %v, person %v %v (externalId %v)", email, c["firstname"], c["lastname"], p["firstName"], p["lastName"], p["externalId"])
			}
		}
		return nil
	}
	within := func(what string, d time.Duration, cond func() error) time.Duration {
		t.Helper()
		begin := time.Now()
		var err error
		for time.Since(begin) < d {
			for i, r := range reps {
				if r.stopped {
					continue
				}
				select {
				case err := <-r.done:
					t.Fatalf("%s: replica %d exited: %v", what, i, err)
				default:
				}
			}
			if err = cond(); err == nil {
				return time.Since(begin)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not after %s: %v", what, d, err)
		return 0
	}
	within("the initial load of every project", 60*time.Second, converged)

	// Edits on both sides, then a replica killed while it holds projects
	// and another stopped.
	edit := func(round int) {
		for i, c := range dyn.Rows("contact") {
			if i%2 == 0 {
				dyn.Update("contact", str2(c["contactid"]), map[string]any{"firstname": fmt.Sprintf("D%d-%d", round, i)})
			}
		}
		for i, p := range ppl.Persons() {
			if i%3 == 0 {
				if err := ppl.Update(personID(p), map[string]any{"lastName": fmt.Sprintf("L%d-%d", round, i)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	edit(1)
	// Kill replica 0 while River shows it running a project's job.
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	host, _ := os.Hostname()
	id0 := fmt.Sprintf("%s/%d", host, reps[0].cmd.Process.Pid)
	held := 0
	within("replica 0 to hold a project", 60*time.Second, func() error {
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, id0).Scan(&held)
		if err == nil && held == 0 {
			err = fmt.Errorf("it holds none")
		}
		return err
	})
	killedAt := time.Now()
	reps[0].stopped, reps[1].stopped = true, true
	if err := reps[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-reps[0].done
	if err := reps[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reps[1].done:
		if err != nil {
			t.Errorf("the replica stopped by SIGTERM exited with %v, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the replica stopped by SIGTERM did not exit")
	}
	edit(2)
	// The stated bound is lease + 36 s (42 s here); the deadline is
	// generous for a loaded machine, and the time taken is logged.
	took := within("every edit to arrive after the kill", 3*42*time.Second, converged)
	_ = took
	t.Logf("replica 0 was killed holding %d projects; every edit arrived %s after the kill (stated bound 42s)", held, time.Since(killedAt).Round(100*time.Millisecond))

	// History: no two runs of one sync overlap, whichever replica ran
	// them; a killed replica's unfinished run is followed only by runs that
	// started after it.
	pids := map[int]int{}
	unfinished := 0
	for _, name := range names {
		st, err := state.Open(context.Background(), filepath.Join(root, name, stateDir, stateFile), state.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		runs, err := st.Runs(context.Background(), "contacts", 10000)
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i].Started.Before(runs[j].Started) })
		for _, r := range runs {
			pids[r.Holder.PID]++
			if r.Finished.IsZero() {
				unfinished++
			}
		}
		for i := 1; i < len(runs); i++ {
			prev, cur := runs[i-1], runs[i]
			if !prev.Finished.IsZero() && cur.Started.Before(prev.Finished) {
				t.Errorf("project %s: run %d (%s) started at %s, before run %d (%s) finished at %s",
					name, cur.ID, cur.Holder, cur.Started.Format(time.StampMicro), prev.ID, prev.Holder, prev.Finished.Format(time.StampMicro))
			}
		}
	}
	t.Logf("runs by replica pid: %v; %d unfinished (killed mid-pass)", pids, unfinished)
	if len(pids) < 2 {
		t.Errorf("the runs were held by %d replicas, want the work shared", len(pids))
	}

	// A quiet period writes nothing: two more passes of every project
	// leave the records as they are.
	snapshot := func() string {
		var b strings.Builder
		for _, c := range dyn.Rows("contact") {
			fmt.Fprintln(&b, c["contactid"], c["modifiedon"], c["firstname"], c["lastname"])
		}
		for _, p := range ppl.Persons() {
			fmt.Fprintln(&b, p["id"], p["modifiedAt"], p["firstName"], p["lastName"], p["externalId"])
		}
		return b.String()
	}
	reps[2].stopped = true // checked below
	before := snapshot()
	runsNow := func() int {
		n := 0
		for _, name := range names {
			st, err := state.Open(context.Background(), filepath.Join(root, name, stateDir, stateFile), state.Options{ReadOnly: true})
			if err != nil {
				continue
			}
			runs, _ := st.Runs(context.Background(), "contacts", 100000)
			st.Close()
			n += len(runs)
		}
		return n
	}
	base := runsNow()
	within("two quiet passes of every project", 60*time.Second, func() error {
		if n := runsNow(); n < base+2*len(names) {
			return fmt.Errorf("%d runs since", n-base)
		}
		return nil
	})
	if after := snapshot(); after != before {
		t.Errorf("the quiet period wrote records:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	_ = reps[2].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-reps[2].done:
	case <-time.After(60 * time.Second):
		t.Error("the last replica did not stop on SIGTERM")
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
