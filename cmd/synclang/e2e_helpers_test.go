package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/internal/testkit"
)

// The Go end-to-end tests run the CLI (Main, with buffers) against both
// emulators over real HTTP on loopback; most end-to-end tests are scripts
// now (testdata/script, script_world_test.go), and these are the ones that
// need Go: a crashing state store, an interrupt before the first batch,
// a terminal, servers or an HTTP client in front of the emulators, another
// user, PostgreSQL. The emulators' limits are off and the connectors'
// pacing is scaled up (Stdio.RateScale), so the tests do not wait for the
// real limits. A shared fake clock stamps both services' modification
// times, so conflicts are decided deterministically.

// testClock is a clock the tests advance (testkit.Clock).
type testClock = testkit.Clock

// world is a Dynamics and a People emulator, a project directory and the
// environment its connections read.
type world struct {
	t      *testing.T
	clk    *testClock
	dyn    *dynemu.Emulator
	dynSrv *httptest.Server
	ppl    *pplemu.Emulator
	pplSrv *httptest.Server
	dir    string
	env    map[string]string
}

// worldOptions configure a world.
type worldOptions struct {
	// contacts seeds Dynamics (plus a quarter as many leads).
	contacts int
	// files are the project's .sync files by name; nil means the
	// examples' contacts and leads project.
	files map[string]string
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	clk := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	w := &world{t: t, clk: clk, dir: t.TempDir()}
	w.dyn, w.dynSrv = dynemu.NewTestServer(t, dynemu.Options{Seed: o.contacts, Limits: "off", Now: clk.Now})
	w.ppl, w.pplSrv = pplemu.NewTestServer(t, pplemu.Options{Limits: "off", Now: clk.Now})
	if err := w.ppl.DefineAttribute("JobTitle", "STRING"); err != nil {
		t.Fatal(err)
	}
	files := o.files
	if files == nil {
		files = map[string]string{"contacts.sync": readExample(t, "contacts.sync"), "leads.sync": readExample(t, "leads.sync")}
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cr := w.dyn.Credentials()
	w.env = map[string]string{
		"DYNAMICS_URL": w.dynSrv.URL, "DYNAMICS_AUTHORITY": w.dynSrv.URL,
		"AZURE_TENANT_ID": cr.Tenant, "AZURE_CLIENT_ID": cr.ClientID, "AZURE_CLIENT_SECRET": cr.ClientSecret,
		"INFOBIP_BASE_URL": w.pplSrv.URL, "INFOBIP_API_KEY": w.ppl.APIKey(), "NO_COLOR": "1",
	}
	return w
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// result is what one invocation of the CLI did.
type result struct {
	code     int
	out, err string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.out, r.err)
}

// stdio is the Stdio of a CLI invocation in this world.
func (w *world) stdio(out, errb *syncBuffer) Stdio {
	return Stdio{Out: out, Err: errb, Getenv: func(k string) string { return w.env[k] }, RateScale: 1000,
		CacheDir: filepath.Join(w.dir, "cache"), Now: w.clk.Now}
}

// synclang runs the CLI with args; the project directory is appended
// unless an argument names a path already.
func (w *world) synclang(args ...string) result {
	w.t.Helper()
	var out, errb syncBuffer
	code := Main(args, w.stdio(&out, &errb))
	r := result{code, out.String(), errb.String()}
	checkSummaryAddsUp(w.t, r)
	return r
}

// checkSummaryAddsUp asserts that every summary table and JSON report a
// command printed adds up (summaryErrors).
func checkSummaryAddsUp(t *testing.T, r result) {
	t.Helper()
	for _, e := range summaryErrors(r.out) {
		t.Errorf("%s\n%s", e, r)
	}
}

// pass advances the clock and runs `synclang run` on the project,
// failing the test unless it exits with want.
func (w *world) pass(want int, flags ...string) result {
	w.t.Helper()
	w.clk.Advance(2 * time.Second)
	r := w.synclang(append(append([]string{"run"}, flags...), w.dir)...)
	if r.code != want {
		w.t.Fatalf("synclang run %v: %s", flags, r)
	}
	return r
}

// ---- inspecting the emulators ----

func str2(v any) string { s, _ := v.(string); return s }

// persons returns the People persons, indexed by lower-cased primary
// email (a list, so duplicates show).
func (w *world) persons() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, p := range w.ppl.Persons() {
		out[strings.ToLower(personEmail(p))] = append(out[strings.ToLower(personEmail(p))], p)
	}
	return out
}

// contacts returns the Dynamics contacts by lower-cased email.
func (w *world) contacts() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, c := range w.dyn.Rows("contact") {
		e := strings.ToLower(str2(c["emailaddress1"]))
		out[e] = append(out[e], c)
	}
	return out
}

func personID(p map[string]any) int64 { return intOf(p["id"]) }

// intOf reads a number of either emulator's maps.
func intOf(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	case int:
		return int64(x)
	}
	return 0
}

// checkConverged asserts what the contacts sync promises
// (convergedErrors).
func (w *world) checkConverged() {
	w.t.Helper()
	for _, e := range convergedErrors(w.dyn, w.ppl) {
		w.t.Error(e)
	}
}

// seedPeople adds People persons that overlap the Dynamics contacts
// (seedOverlap).
func (w *world) seedPeople() { seedOverlap(w.dyn, w.ppl) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serve starts `synclang serve` (or args) in this world and returns
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

// waitMetric returns the value of the first metric line matching rx (as a
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

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
