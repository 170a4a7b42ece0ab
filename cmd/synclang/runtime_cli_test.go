package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// TestRunErrorsAUserCanCause: each is one clear line naming the connection
// and what to do, with the right exit code, and never a secret.
func TestRunErrorsAUserCanCause(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 4})
	secret, key := w.env["AZURE_CLIENT_SECRET"], w.env["INFOBIP_API_KEY"]
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "a.sync"), []byte("sync x {\n  crm.contact -> infobip.customer\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string // changes; "" unsets
		args []string
		code int
		want []string
	}{
		{"unknown flag", nil, []string{"run", "--bogus"}, exitUsage, []string{"unknown flag: --bogus"}},
		{"unknown sync", nil, []string{"run", "--sync", "nope"}, exitUsage, []string{`--sync: the project has no sync "nope" (it has contacts and leads)`}},
		{"bad log level", nil, []string{"run", "--log-level", "loud"}, exitUsage, []string{"--log-level must be one of"}},
		{"project with errors", nil, []string{"run", broken}, exitError, []string{"unknown-connection", "the project has errors; nothing was run"}},
		{"missing variables", map[string]string{"DYNAMICS_URL": "", "AZURE_CLIENT_SECRET": "", "INFOBIP_API_KEY": ""}, []string{"run"}, exitError,
			[]string{"contacts.sync:5:1: connection crm: AZURE_CLIENT_SECRET and DYNAMICS_URL are not set; export them and run again",
				"contacts.sync:13:1: connection infobip: INFOBIP_API_KEY is not set; export it and run again"}},
		{"wrong secret", map[string]string{"AZURE_CLIENT_SECRET": "not-the-secret-1234"}, []string{"run"}, exitError,
			[]string{"synclang run: syncs contacts and leads: connection crm (dynamics): ", "AADSTS7000215", "the client secret is wrong"}},
		{"wrong API key", map[string]string{"INFOBIP_API_KEY": "0123456789abcdef0123456789abcdef-00000000-0000-0000-0000-000000000000"}, []string{"run", "--sync", "leads"}, exitError,
			[]string{"synclang run: sync leads: connection infobip (people): ", "HTTP 401"}},
		{"unreachable host", map[string]string{"INFOBIP_BASE_URL": "http://127.0.0.1:1"}, []string{"run", "--sync", "leads"}, exitError,
			[]string{"synclang run: sync leads: connection infobip (people): ", "connection refused", "the connection's url"}},
		{"plain http elsewhere", map[string]string{"DYNAMICS_URL": "http://crm.example.com"}, []string{"run"}, exitError,
			[]string{"connection crm: setting url (from DYNAMICS_URL): the value must use https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := map[string]string{}
			for k, v := range tc.env {
				saved[k] = w.env[k]
				w.env[k] = v
			}
			defer func() {
				for k, v := range saved {
					w.env[k] = v
				}
			}()
			args := tc.args
			if !strings.HasPrefix(args[len(args)-1], "/") {
				args = append(args, w.dir)
			}
			r := w.synclang(args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.err, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.err)
				}
			}
			for _, s := range []string{secret, key, "not-the-secret-1234", "0123456789abcdef0123456789abcdef"} {
				if strings.Contains(r.out+r.err, s) {
					t.Errorf("the output holds a secret:\n%s", r)
				}
			}
		})
	}
}

// TestRunWhileLocked: a sync another process is running is not run twice.
func TestRunWhileLocked(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 8})
	st, err := state.Open(context.Background(), filepath.Join(w.dir, stateDir, stateFile), state.Options{Holder: state.Holder{Host: "other-host", PID: 42}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Acquire(context.Background(), "contacts", time.Hour); err != nil {
		t.Fatal(err)
	}
	r := w.synclang("run", w.dir)
	if r.code != exitError || !strings.Contains(r.err, "synclang run: sync contacts: another synclang process is running it (other-host pid 42, lock valid until ") {
		t.Errorf("run while locked: %s", r)
	}
	// The other sync ran.
	if !regexp.MustCompile(`leads\s+crm.lead -> infobip.lead\s+2\s+2.*\s+ok\n`).MatchString(r.out) {
		t.Errorf("the unlocked sync did not run:\n%s", r)
	}
	// The locked one did not, and its row says so (issue 9).
	if !regexp.MustCompile(`contacts\s+\(did not run\)(\s+-)+\s+failed\n`).MatchString(r.out) {
		t.Errorf("the locked sync's row does not say it failed:\n%s", r)
	}
}

// TestPlanCommand: changes and the requests against the limits, exit 2;
// no change, exit 0; an error, exit 1; JSON; nothing written.
func TestPlanCommand(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 6})
	w.seedPeople()
	persons := len(w.ppl.Persons())
	r := w.synclang("plan", w.dir)
	if r.code != exitChanges {
		t.Fatalf("plan of an initial load: %s", r)
	}
	for _, want := range []string{"sync contacts:", "+ create infobip.customer from crm.contact ", `      firstName        "`, "= link infobip.customer ",
		"(found by match lower(emailaddress1) <-> lower(email))", "+ create crm.contact from infobip.customer ", "~ update infobip.customer ",
		`externalId  (none) -> "(the new contactid)"`,
		"requests a run would send:", "  crm: ", "of 6,000 per 5 minutes", "  infobip: ", "reads and lookups", "writes); within limits from 5 per second per endpoint"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, stateDir)); err == nil {
		t.Error("plan created the state directory")
	}
	if n := len(w.ppl.Persons()); n != persons || len(w.dyn.Rows("contact")) != 6 {
		t.Errorf("plan wrote: %d persons (had %d)", n, persons)
	}

	r = w.synclang("plan", "--json", w.dir)
	var doc struct {
		Version  int             `json:"version"`
		Changes  []engine.Change `json:"changes"`
		Changed  int             `json:"changed"`
		Rejected int             `json:"rejected"`
		Syncs    []engine.SyncReport
		Requests map[string]planRequests `json:"requests"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || r.code != exitChanges {
		t.Fatalf("plan --json: %v\n%s", err, r)
	}
	creates := 0
	for _, c := range doc.Changes {
		if c.Op == engine.OpCreate {
			creates++
		}
	}
	if doc.Version != 1 || creates == 0 || doc.Changed == 0 || len(doc.Syncs) != 2 ||
		doc.Requests["crm"].Reads == 0 || len(doc.Requests["crm"].Limits) == 0 || doc.Requests["infobip"].Writes == 0 ||
		doc.Requests["infobip"].Total != doc.Requests["infobip"].Reads+int64(doc.Requests["infobip"].Writes) {
		t.Errorf("plan --json: %+v", doc)
	}

	// The estimate is what the run then sends.
	rep := w.pass(exitOK)
	m := regexp.MustCompile(`requests: crm (\d+), infobip (\d+)`).FindStringSubmatch(rep.out)
	if m == nil || m[1] != num(int(doc.Requests["crm"].Total)) || m[2] != num(int(doc.Requests["infobip"].Total)) {
		t.Errorf("plan estimated crm %d, infobip %d; the run sent %v", doc.Requests["crm"].Total, doc.Requests["infobip"].Total, m)
	}

	w.pass(exitOK)
	if r := w.synclang("plan", w.dir); r.code != exitOK || !strings.Contains(r.out, "No changes: the systems are in sync.") {
		t.Errorf("plan when in sync: %s", r)
	}
	c := w.dyn.Rows("contact")[0]
	w.dyn.Update("contact", str2(c["contactid"]), map[string]any{"lastname": "Planned"})
	r = w.synclang("plan", w.dir)
	if r.code != exitChanges || !regexp.MustCompile(`~ update infobip.customer \d+ from crm.contact `+str2(c["contactid"])+`\n      lastName  "[^"]+" -> "Planned"`).MatchString(r.out) {
		t.Errorf("plan of one edit: %s", r)
	}
	w.env["AZURE_CLIENT_SECRET"] = "wrong"
	if r := w.synclang("plan", w.dir); r.code != exitError || !strings.Contains(r.err, "connection crm (dynamics)") {
		t.Errorf("plan with a wrong secret: %s", r)
	}
	// A failed sync never looks like a quiet one (issue 9): no "in sync"
	// headline, its row says failed, and so does the JSON, per sync.
	r = w.synclang("plan", w.dir)
	if strings.Contains(r.out, "in sync") || !strings.Contains(r.out, "No changes found, but syncs contacts and leads failed") ||
		!regexp.MustCompile(`contacts\s+crm.contact -> infobip.customer(\s+0)+\s+failed\n`).MatchString(r.out) {
		t.Errorf("plan with a failed sync:\n%s", r)
	}
	r = w.synclang("plan", "--json", w.dir)
	doc.Syncs = nil
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || len(doc.Syncs) != 2 {
		t.Fatalf("plan --json with a failed sync: %v\n%s", err, r)
	}
	for _, sr := range doc.Syncs {
		if sr.Status != engine.StatusFailed || sr.Error == "" {
			t.Errorf("plan --json: sync %s has status %q (error %q), want failed", sr.Sync, sr.Status, sr.Error)
		}
	}
}

// TestStatusCommand reads the state offline.
func TestStatusCommand(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 4})
	if r := w.synclang("status", w.dir); r.code != exitOK || !strings.Contains(r.out, "No state at ") {
		t.Errorf("status before any run: %s", r)
	}
	if _, err := os.Stat(filepath.Join(w.dir, stateDir)); err == nil {
		t.Error("status created the state")
	}
	w.pass(exitOK)
	// No credentials are needed.
	for k := range w.env {
		if k != "NO_COLOR" {
			w.env[k] = ""
		}
	}
	r := w.synclang("status", w.dir)
	for _, want := range []string{"state: " + filepath.ToSlash(filepath.Join(w.dir, stateDir, stateFile)), "sync contacts (crm.contact <-> infobip.customer, every 1m)",
		"  last run   ok, ", "crm.contact -> infobip.customer: read 4, created 4", "  links      4", "  rejects    0", "  cursors    left-to-right ",
		"right-to-left", "sync leads (crm.lead -> infobip.lead, every 1m)", "  links      1"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status lacks %q:\n%s", want, r)
		}
	}
	r = w.synclang("status", "--json", "--state", filepath.Join(w.dir, stateDir, stateFile))
	var st statusReport
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != exitOK || len(st.Syncs) != 2 || st.Syncs[0].Links != 4 ||
		st.Syncs[0].LastRun == nil || st.Syncs[0].LastRun.Status != "ok" || len(st.Syncs[0].Cursors) != 2 {
		t.Errorf("status --json: %v\n%s", err, r)
	}
	if r := w.synclang("status", "--state", filepath.Join(w.dir, "nope.db"), w.dir); r.code != exitOK || !strings.Contains(r.out, "No state at") {
		t.Errorf("status of a missing --state: %s", r)
	}
}

// serveWorld starts `synclang serve` (or args) in this world and returns
// the metrics base URL, the interrupt channel and the exit code channel.
func (w *world) serve(t *testing.T, args ...string) (string, chan os.Signal, <-chan int, *syncBuffer) {
	t.Helper()
	var out, errb syncBuffer
	s := w.stdio(&out, &errb)
	sig := make(chan os.Signal, 2)
	s.Interrupt = sig
	code := make(chan int, 1)
	go func() { code <- Main(append(args, w.dir), s) }()
	addr := waitFor(t, &errb, regexp.MustCompile(`"msg":"serving metrics","addr":"(http://[^"]+)"`))
	return addr, sig, code, &errb
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the first metric line matching rx (as a
// string), polling until it is at least min.
func waitMetric(t *testing.T, base string, rx *regexp.Regexp, min float64) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(t, base+"/metrics")
		if m := rx.FindStringSubmatch(body); m != nil {
			var v float64
			if _, err := fmtSscan(m[1], &v); err == nil && v >= min {
				return m[1]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s >= %v in:\n%s", rx, min, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServe keeps the syncs running: a pass per interval, /metrics and
// /healthz, JSON logs without secrets or record values, and a graceful stop
// on the first interrupt.
func TestServe(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 5, files: map[string]string{
		"contacts.sync": strings.Replace(readExample(t, "contacts.sync"), "every 1m", "every 1s", 1),
		"leads.sync":    readExample(t, "leads.sync"),
	}})
	base, sig, code, logs := w.serve(t, "serve", "--listen", "127.0.0.1:0")
	// contacts runs every second: a second pass comes.
	waitMetric(t, base, regexp.MustCompile(`synclang_passes_total\{outcome="ok",sync="contacts"\} (\d+)`), 2)
	waitMetric(t, base, regexp.MustCompile(`synclang_passes_total\{outcome="ok",sync="leads"\} (\d+)`), 1)
	_, body := get(t, base+"/metrics")
	for _, want := range []string{`synclang_records_total{flow="left-to-right",outcome="created",sync="contacts"} 5`,
		`synclang_links{sync="contacts"} 5`, `synclang_requests_total{connection="crm",kind="dynamics"}`,
		`synclang_requests_total{connection="infobip",kind="people"}`, `synclang_pass_duration_seconds_bucket{sync="contacts"`,
		`synclang_last_success_timestamp_seconds{sync="leads"}`, "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	status, hbody := get(t, base+"/healthz")
	var h struct {
		Status string                 `json:"status"`
		Syncs  map[string]*syncHealth `json:"syncs"`
	}
	if err := json.Unmarshal([]byte(hbody), &h); err != nil || status != 200 || h.Status != "ok" || h.Syncs["contacts"].LastOutcome != "ok" || h.Syncs["contacts"].Every != "1s" {
		t.Errorf("/healthz %d: %s", status, hbody)
	}

	// An edit arrives at the next interval.
	c := w.dyn.Rows("contact")[0]
	w.dyn.Update("contact", str2(c["contactid"]), map[string]any{"lastname": "Served"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p := w.persons()[strings.ToLower(str2(c["emailaddress1"]))]; len(p) == 1 && p[0]["lastName"] == "Served" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edit did not arrive while serving")
		}
		time.Sleep(20 * time.Millisecond)
	}

	sig <- os.Interrupt
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("serve exited %d after an interrupt:\n%s", c, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after an interrupt")
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	lines := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("a log line is not JSON: %q", sc.Text())
		}
		lines++
	}
	for _, secret := range []string{w.env["AZURE_CLIENT_SECRET"], w.env["INFOBIP_API_KEY"], str2(c["emailaddress1"]), "Served"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}
	if lines < 4 || !strings.Contains(logs.String(), `"msg":"pass finished"`) || !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// TestRunWatchIsServe: run --watch serves too; a second interrupt aborts.
func TestRunWatchIsServe(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 3})
	base, sig, code, logs := w.serve(t, "run", "--watch", "--listen", "127.0.0.1:0")
	waitMetric(t, base, regexp.MustCompile(`synclang_passes_total\{outcome="ok",sync="leads"\} (\d+)`), 1)
	sig <- os.Interrupt
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("exit %d:\n%s", c, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run --watch did not stop")
	}
	if r := w.synclang("run", "--watch", "--full", w.dir); r.code != exitUsage {
		t.Errorf("run --watch --full: %s", r)
	}
	if r := w.synclang("serve", "--listen", "256.1.1.1:1", w.dir); r.code != exitError || !strings.Contains(r.err, "cannot listen on 256.1.1.1:1") {
		t.Errorf("serve on a bad address: %s", r)
	}
}

// TestRunIsInterruptedGracefully: the first interrupt finishes the batches
// in flight and stops (exit 1, "stopped"); the next run continues.
func TestRunIsInterruptedGracefully(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 30})
	var out, errb syncBuffer
	s := w.stdio(&out, &errb)
	sig := make(chan os.Signal, 2)
	s.Interrupt = sig
	sig <- os.Interrupt // before the first batch: nothing is read
	if code := Main([]string{"run", w.dir}, s); code != exitError || !strings.Contains(errb.String(), "stopped before the pass finished") {
		t.Errorf("exit %d:\n%s\n%s", code, out.String(), errb.String())
	}
	w.pass(exitOK)
	w.checkConverged()
}

// TestDemo runs the demo small and without limits: every check passes.
func TestDemo(t *testing.T) {
	var out, errb syncBuffer
	code := Main([]string{"demo", "--contacts", "60", "--limits", "off"}, Stdio{Out: &out, Err: &errb, Getenv: func(k string) string {
		// The user's own settings must not leak into the demo.
		return map[string]string{"DYNAMICS_URL": "https://real.crm4.dynamics.com", "NO_COLOR": "1"}[k]
	}})
	if code != exitOK || strings.Contains(out.String(), "FAIL") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"60 contacts, 15 leads", "$ synclang run examples/", "== 2. Someone edits records on both sides",
		"ok   Dynamics jobtitle ", "arrived in People: custom.JobTitle", "ok   People city ", "ok   the firstname conflict was decided by `conflict newest` for People",
		"ok   People customer Yuki Tanaka was created in Dynamics", "kept one People profile (1 with that email), now type CUSTOMER",
		"its People profile stays", "ok   nothing written back and forth (echo suppression): 0 writes", "The demo took "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo lacks %q:\n%s", want, out.String())
		}
	}
	if code := Main([]string{"demo", "--contacts", "5"}, Stdio{Out: &out, Err: &errb}); code != exitUsage {
		t.Errorf("--contacts 5: exit %d", code)
	}
}

// TestProgress renders progress lines: the ETA once a total is known, a
// plain line per interval when not on a terminal.
func TestProgress(t *testing.T) {
	clk := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	var out syncBuffer
	p := newProgress(&out, false, clk.Now, 10*time.Second)
	p.label = func(sync, flow string) string { return sync + " a -> b" }
	counted := make(chan struct{})
	p.count = func(sync, flow string) (int, bool) { defer close(counted); return 4000, true }
	clk.Advance(2 * time.Second)
	p.update(engine.Progress{Sync: "contacts", Flow: "left-to-right", Read: 1000, Written: 900})
	<-counted
	if out.String() != "" {
		t.Errorf("printed before the interval: %q", out.String())
	}
	clk.Advance(10 * time.Second)
	p.update(engine.Progress{Sync: "contacts", Flow: "left-to-right", Read: 3000, Written: 2900, Rejected: 2})
	want := "progress: contacts a -> b: read 3,000 of 4,000, written 2,900, rejected 2, 250 records/s, ETA 4s\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}

	// An approximate total (Dataverse past 5000 rows, from
	// RetrieveTotalRecordCount) prints with ~, its ETA too.
	var approx syncBuffer
	p = newProgress(&approx, false, clk.Now, 10*time.Second)
	p.label = func(sync, flow string) string { return sync + " a -> b" }
	counted = make(chan struct{})
	p.count = func(sync, flow string) (int, bool) { defer close(counted); return 120_000, false }
	clk.Advance(2 * time.Second)
	p.update(engine.Progress{Sync: "contacts", Flow: "left-to-right", Read: 5000})
	<-counted
	clk.Advance(10 * time.Second)
	p.update(engine.Progress{Sync: "contacts", Flow: "left-to-right", Read: 60_000, Written: 60_000})
	want = "progress: contacts a -> b: read 60,000 of ~120,000, written 60,000, 5,000 records/s, ETA ~12s\n"
	if approx.String() != want {
		t.Errorf("approximate total: got  %q\nwant %q", approx.String(), want)
	}

	var term syncBuffer
	p = newProgress(&term, true, clk.Now, 0)
	clk.Advance(time.Second)
	p.update(engine.Progress{Sync: "s", Flow: "f", Read: 10})
	p.done()
	line := "s f: read 10, written 0, 10 records/s"
	if got := term.String(); got != "\r"+line+"\r"+strings.Repeat(" ", len(line))+"\r" {
		t.Errorf("terminal: %q", got)
	}
}

// TestDescribe turns errors into lines that name the connection and say
// what to do.
func TestDescribe(t *testing.T) {
	p := &plan.Plan{Syncs: []*plan.Sync{{Name: "contacts",
		Left:  &plan.Side{Connection: "crm", Kind: "dynamics"},
		Right: &plan.Side{Connection: "infobip", Kind: "people"}}}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&connector.Error{Kind: connector.KindTransient, Service: "people", Op: "read persons", Message: "dial tcp: connection refused"},
			"connection infobip (people): people: read persons: dial tcp: connection refused; the service could not be reached or kept failing after retries: check the connection's url"},
		{&connector.Error{Kind: connector.KindAuth, Service: "dynamics", Status: 401, Hint: "run `synclang auth login crm`"},
			"connection crm (dynamics): dynamics: auth (HTTP 401); run `synclang auth login crm`"},
		{&connector.Error{Kind: connector.KindThrottled, Service: "dynamics", Message: "too many"}, "run again later"},
		{&state.LockedError{Sync: "contacts", Holder: state.Holder{Host: "h", PID: 7}, Expires: time.Unix(0, 0)}, "another synclang process is running it (h pid 7, lock valid until 1970-01-01T00:00:00Z); wait for it to finish"},
		{engine.ErrStopped, "stopped before the pass finished"},
		{context.Canceled, "stopped at once by a second interrupt; the next run continues"},
		{errors.New("reading crm.contact: boom"), "reading crm.contact: boom"},
	} {
		got := describe(p, syncFailure{sync: "contacts", err: tc.err})
		if !strings.Contains(got, tc.want) || strings.HasPrefix(got, "sync contacts: ") {
			t.Errorf("describe(%v) = %q; want it to contain %q", tc.err, got, tc.want)
		}
	}
}

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
