package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// TestRunIsInterruptedGracefully: the first interrupt finishes the batches
// in flight and stops (exit 1, "stopped"); the next run continues.
func TestRunIsInterruptedGracefully(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	p := &plan.Plan{Syncs: []*plan.Sync{{Name: "contacts",
		Left:  &plan.Side{Connection: "crm", Kind: "dynamics"},
		Right: &plan.Side{Connection: "infobip", Kind: "people"}}}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&connector.Error{Kind: connector.ErrorTransient, Service: "people", Op: "read persons", Message: "dial tcp: connection refused"},
			"connection infobip (people): people: read persons: dial tcp: connection refused; the service could not be reached or kept failing after retries: check the connection's url"},
		{&connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Status: 401, Hint: "run `synclang auth login crm`"},
			"connection crm (dynamics): dynamics: auth (HTTP 401); run `synclang auth login crm`"},
		{&connector.Error{Kind: connector.ErrorThrottled, Service: "dynamics", Message: "too many"}, "run again later"},
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
