package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// The runtime commands (run, plan, serve, status, rejects) are tested as
// scripts in testdata/script against both emulators, which the script
// command `emulate` starts in the test process over real HTTP on loopback
// (as cue's scripts start a registry). `synclang` itself runs as a child
// process (testscript.RunMain), so what a script sees is what a user sees.
//
// The child reads a few test-only variables that the production binary
// never looks at (scriptSynclang): the emulators' clock, the pacing
// scale and the token cache directory; `emulate` sets them. After every
// invocation the child checks that each summary it printed adds up
// (summaryErrors); if one does not, it says so and exits 99.

// Variables only the test binary's synclang reads.
const (
	envClock     = "SYNCLANG_TEST_CLOCK"      // a file holding the emulators' time (RFC 3339)
	envRateScale = "SYNCLANG_TEST_RATE_SCALE" // Stdio.RateScale
	envCacheDir  = "SYNCLANG_TEST_CACHE_DIR"  // Stdio.CacheDir
	envExitFile  = "SYNCLANG_TEST_EXIT"       // where the exit code is written, for `exitcode`
	envLog       = "SYNCLANG_TEST_LOG"        // a file stderr is copied to, for polling a background serve
)

// exitUnbalanced is the exit code of an invocation whose summary does not
// add up (a harness failure, never a synclang exit code).
const exitUnbalanced = 99

// scriptSynclang is the `synclang` of the scripts: Main with the process's
// streams, plus the test knobs above.
func scriptSynclang() int {
	s := DefaultStdio()
	if v := os.Getenv(envRateScale); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "test harness: %s=%q: %v\n", envRateScale, v, err)
			return exitUnbalanced
		}
		s.RateScale = f
	}
	s.CacheDir = os.Getenv(envCacheDir)
	if f := os.Getenv(envClock); f != "" {
		b, err := os.ReadFile(f)
		var now time.Time
		if err == nil {
			now, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "test harness: the clock file: %v\n", err)
			return exitUnbalanced
		}
		s.Now = func() time.Time { return now }
	}
	if f := os.Getenv(envLog); f != "" {
		lf, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "test harness: %v\n", err)
			return exitUnbalanced
		}
		defer lf.Close()
		s.Err = io.MultiWriter(os.Stderr, lf)
	}
	var out syncBuffer
	s.Out = io.MultiWriter(os.Stdout, &out)
	exitFile := os.Getenv(envExitFile)
	if exitFile != "" {
		os.Remove(exitFile)
	}
	code := Main(os.Args[1:], s)
	if errs := summaryErrors(out.String()); len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "test harness: the summary does not add up:\n  %s\n", strings.Join(errs, "\n  "))
		code = exitUnbalanced
	}
	if exitFile != "" {
		os.WriteFile(exitFile, []byte(strconv.Itoa(code)), 0o644)
	}
	return code
}

// summaryErrors checks, for every summary table and JSON report in out,
// that each direction's records read add up to its columns: every record
// read is counted exactly once (issue 9).
func summaryErrors(out string) []string {
	var errs []string
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		var doc struct {
			Syncs []*engine.SyncReport `json:"syncs"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err == nil {
			for _, sr := range doc.Syncs {
				for _, f := range sr.Flows {
					if err := f.Balanced(); err != nil {
						errs = append(errs, fmt.Sprintf("JSON report of sync %s: %v", sr.Sync, err))
					}
				}
			}
		}
		return errs
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(strings.ReplaceAll(s, ",", "")); return n }
	// status: "crm.contact -> infobip.customer: read 6, created 4, ...".
	for _, m := range regexp.MustCompile(`-> \S+: read (\d{1,3}(?:,\d{3})*)((?:, [a-z]+ \d{1,3}(?:,\d{3})*)+)`).FindAllStringSubmatch(out, -1) {
		sum := 0
		for _, part := range strings.Split(strings.TrimPrefix(m[2], ", "), ", ") {
			_, n, _ := strings.Cut(part, " ")
			sum += atoi(n)
		}
		if atoi(m[1]) != sum {
			errs = append(errs, fmt.Sprintf("status line %q: %s read but %d in the outcomes", m[0], m[1], sum))
		}
	}
	cols := regexp.MustCompile(`\s{2,}`)
	var header []string
	for _, line := range strings.Split(out, "\n") {
		cells := cols.Split(strings.TrimSpace(line), -1)
		if len(cells) > 3 && cells[0] == "sync" && cells[1] == "direction" && cells[2] == "read" {
			header = cells
			continue
		}
		if header == nil || strings.TrimSpace(line) == "" {
			header = nil
			continue
		}
		if len(cells) != len(header) {
			errs = append(errs, fmt.Sprintf("summary row %q has %d cells, the header %d", line, len(cells), len(header)))
			continue
		}
		if cells[2] == "-" {
			continue // a sync that did not run
		}
		read, sum := 0, 0
		for i, h := range header {
			if i < 2 || h == "status" {
				continue
			}
			n, err := strconv.Atoi(strings.ReplaceAll(cells[i], ",", ""))
			if err != nil {
				errs = append(errs, fmt.Sprintf("summary row %q: column %s is %q", line, h, cells[i]))
			}
			if h == "read" {
				read = n
			} else {
				sum += n
			}
		}
		if read != sum {
			errs = append(errs, fmt.Sprintf("summary row %q: %d read but %d in the columns %v", line, read, sum, header[3:]))
		}
	}
	return errs
}

// scriptWorld is what a script's commands share: the emulators and their
// clock, started by `emulate`.
type scriptWorld struct {
	clk *testkit.Clock
	dyn *dynemu.Emulator
	ppl *pplemu.Emulator
	// dynMark and pplMark are the request counts at the last `requests`.
	dynMark, pplMark int64
}

// requests is `requests [N]`: with N, it checks that N requests were
// answered since the mark; either way it moves the mark to now.
func (w *scriptWorld) requests(mark *int64, now int64, service string, args []string) error {
	since := now - *mark
	*mark = now
	if len(args) == 1 && strconv.FormatInt(since, 10) != args[0] {
		return fmt.Errorf("%s answered %d requests, want %s", service, since, args[0])
	}
	return nil
}

type worldKey struct{}

// scriptSetup gives each script a world and the variables every script
// may use: $EXAMPLES (the examples directory) and the exit-code file.
func scriptSetup(env *testscript.Env) error {
	env.Setenv("NO_COLOR", "1")
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		return err
	}
	env.Setenv("EXAMPLES", examples)
	env.Setenv(envExitFile, filepath.Join(env.WorkDir, ".synclang-exit"))
	// Under -race each child would sleep a second before exiting
	// (GORACE's atexit_sleep_ms defaults to 1000, so that goroutines still
	// running can report); the scripts run some 150 children. Races are
	// still reported as they happen.
	env.Setenv("GORACE", testkit.NoExitSleep())
	env.Values[worldKey{}] = &scriptWorld{}
	return nil
}

func worldOf(ts *testscript.TestScript) *scriptWorld {
	return ts.Value(worldKey{}).(*scriptWorld)
}

// scriptTB adapts a script to the emulators' TB: cleanups run when the
// script ends.
type scriptTB struct{ ts *testscript.TestScript }

func (scriptTB) Helper()            {}
func (t scriptTB) Cleanup(f func()) { t.ts.Defer(f) }

// scriptCmds are the commands the scripts use besides the builtins.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"gen":      genFile,
	"emulate":  cmdEmulate,
	"clock":    cmdClock,
	"exitcode": cmdExitCode,
	"people":   asCheck(peopleCmd),
	"dynamics": asCheck(dynamicsCmd),
	"converged": asCheck(func(ts *testscript.TestScript, args []string) error {
		return convergedCheck(ts, args)
	}),
	"poll":      cmdPoll,
	"match":     asCheck(matchCheck),
	"metric":    asCheck(metricCheck),
	"http":      cmdHTTP,
	"json":      asCheck(jsonCheck),
	"jsonset":   cmdJSONSet,
	"jsontype":  asCheck(jsonTypeCheck),
	"sum":       cmdSum,
	"quiet":     asCheck(quietCheck),
	"jsonlines": asCheck(jsonLinesCheck),
	"replace":   cmdReplace,
	"upper":     cmdUpper,
	"absent":    cmdAbsent,
	"mtime":     cmdMtime,
	"hang":      cmdHang,
	"state":     asCheck(stateCheck),
}

// asCheck turns a check (an error when the condition does not hold) into
// a script command that ! negates.
func asCheck(f func(ts *testscript.TestScript, args []string) error) func(*testscript.TestScript, bool, []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		err := f(ts, args)
		switch {
		case errUsage(err):
			ts.Fatalf("%v", err)
		case neg && err == nil:
			ts.Fatalf("unexpectedly true: %s", strings.Join(args, " "))
		case !neg && err != nil:
			ts.Fatalf("%v", err)
		}
	}
}

// usageError is a script mistake (or a document without the asked-for
// path), which ! does not turn into success.
type usageError string

func (e usageError) Error() string { return "usage: " + string(e) }

func errUsage(err error) bool { _, ok := err.(usageError); return ok }

// cmdEmulate is `emulate CONTACTS`: it starts a Dynamics emulator seeded
// with CONTACTS contacts (and a quarter as many leads) and an empty People
// emulator with the custom attribute JobTitle, both with limits off and
// stamping times from one clock (`clock`), and sets the variables the
// examples' connections read. Both stop when the script ends.
func cmdEmulate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: emulate CONTACTS")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	w := worldOf(ts)
	if w.dyn != nil {
		ts.Fatalf("emulate: the emulators are running already")
	}
	w.clk = testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	dyn, dynSrv := dynemu.NewTestServer(scriptTB{ts}, dynemu.Options{Seed: n, Limits: "off", Now: w.clk.Now})
	ppl, pplSrv := pplemu.NewTestServer(scriptTB{ts}, pplemu.Options{Limits: "off", Now: w.clk.Now})
	ts.Check(ppl.DefineAttribute("JobTitle", "STRING"))
	w.dyn, w.ppl = dyn, ppl
	cr := dyn.Credentials()
	for k, v := range map[string]string{
		"DYNAMICS_URL": dynSrv.URL, "DYNAMICS_AUTHORITY": dynSrv.URL,
		"AZURE_TENANT_ID": cr.Tenant, "AZURE_CLIENT_ID": cr.ClientID, "AZURE_CLIENT_SECRET": cr.ClientSecret,
		"INFOBIP_BASE_URL": pplSrv.URL, "INFOBIP_API_KEY": ppl.APIKey(),
		envRateScale: "1000", envCacheDir: ts.MkAbs(".synclang-cache"), envClock: ts.MkAbs(".synclang-clock"),
	} {
		ts.Setenv(k, v)
	}
	writeClock(ts, w)
}

func writeClock(ts *testscript.TestScript, w *scriptWorld) {
	ts.Check(os.WriteFile(ts.Getenv(envClock), []byte(w.clk.Now().Format(time.RFC3339Nano)), 0o644))
}

// cmdClock is `clock DURATION`: the emulators' clock, and the clock of
// every synclang started afterwards, move on by DURATION.
func cmdClock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: clock DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	w := started(ts)
	w.clk.Advance(d)
	writeClock(ts, w)
}

// started returns the script's started world.
func started(ts *testscript.TestScript) *scriptWorld {
	w := worldOf(ts)
	if w.dyn == nil {
		ts.Fatalf("run `emulate` first")
	}
	return w
}

// cmdExitCode is `exitcode N`: the last synclang to finish exited with N.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	b, err := os.ReadFile(ts.Getenv(envExitFile))
	if err != nil {
		ts.Fatalf("no exit code recorded: %v", err)
	}
	if got := string(b); got != args[0] {
		ts.Fatalf("synclang exited %s, want %s", got, args[0])
	}
}

// ---- records ----

// fieldOf reads a dotted path (customAttributes.JobTitle) from a record;
// "email" of a People person is its first email address.
func fieldOf(rec map[string]any, path string, person bool) string {
	if person && path == "email" {
		return personEmail(rec)
	}
	var v any = rec
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[part]
	}
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// assign parses FIELD=VALUE arguments; a VALUE that is JSON (a number,
// true, null, an object) is taken as such, anything else as a string.
func assign(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, usageError("FIELD=VALUE, not " + a)
		}
		var j any
		if err := json.Unmarshal([]byte(v), &j); err == nil && !isString(j) {
			out[k] = j
		} else {
			out[k] = v
		}
	}
	return out, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

// hasFields says which FIELD=VALUE of want rec does not hold.
func hasFields(rec map[string]any, want []string, person bool) error {
	for _, a := range want {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return usageError("FIELD=VALUE, not " + a)
		}
		if got := fieldOf(rec, k, person); got != v {
			return fmt.Errorf("%s is %q, want %q in\n%s", k, got, v, showJSON(rec))
		}
	}
	return nil
}

func showJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// personsWith returns the People persons whose first email is email (any
// case), in id order.
func personsWith(ppl *pplemu.Emulator, email string) []map[string]any {
	var out []map[string]any
	for _, p := range ppl.Persons() {
		if strings.EqualFold(personEmail(p), email) {
			out = append(out, p)
		}
	}
	return out
}

// recordJSON decodes a record given as JSON text or as a file of it.
func recordJSON(ts *testscript.TestScript, arg string) (map[string]any, error) {
	src := arg
	if !strings.HasPrefix(strings.TrimSpace(arg), "{") {
		src = ts.ReadFile(arg)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(src), &m); err != nil {
		return nil, usageError(fmt.Sprintf("a record as JSON: %v", err))
	}
	return m, nil
}

// peopleCmd is the People emulator's script command:
//
//	people overlap                  persons overlapping the contacts, as a live account has (seedOverlap)
//	people add JSON|FILE            insert a person
//	people from KEY TYPE [FIELD=VALUE...]  insert the person of a Dynamics contact (see dynamicsCmd's KEY)
//	people set EMAIL FIELD=VALUE... update the one person with that email
//	people show EMAIL               print the persons with that email as JSON
//	people pick EMAIL VAR           set $VAR_ID to the one person's id
//	people count [EMAIL] N          N persons (with that email); >=N: at least N
//	people has EMAIL FIELD=VALUE... one person with that email, with those values
//	people fail N STATUS            answer the next N requests with STATUS
//	people define NAME TYPE         define a custom attribute
//	people requests [N]             N requests were answered since the last `people requests`
func peopleCmd(ts *testscript.TestScript, args []string) error {
	w := started(ts)
	if len(args) == 0 {
		return usageError("people overlap|add|set|show|pick|count|has|fail ...")
	}
	one := func(email string) (map[string]any, error) {
		ps := personsWith(w.ppl, email)
		if len(ps) != 1 {
			return nil, fmt.Errorf("%d People persons with email %s, want 1:\n%s", len(ps), email, showJSON(ps))
		}
		return ps[0], nil
	}
	switch verb, a := args[0], args[1:]; {
	case verb == "overlap" && len(a) == 0:
		seedOverlap(w.dyn, w.ppl)
	case verb == "add" && len(a) == 1:
		p, err := recordJSON(ts, a[0])
		if err != nil {
			return err
		}
		w.ppl.Insert(p)
	case verb == "from" && len(a) >= 2:
		c, ok := contactByKey(w.dyn, a[0])
		if !ok {
			return fmt.Errorf("no contact %s", a[0])
		}
		p := personFrom(c, a[1])
		more, err := assign(a[2:])
		if err != nil {
			return err
		}
		for k, v := range more {
			p[k] = v
		}
		w.ppl.Insert(p)
	case verb == "set" && len(a) >= 2:
		p, err := one(a[0])
		if err != nil {
			return err
		}
		patch, err := assign(a[1:])
		if err != nil {
			return err
		}
		return w.ppl.Update(intOf(p["id"]), patch)
	case verb == "show" && len(a) == 1:
		fmt.Fprintln(ts.Stdout(), showJSON(personsWith(w.ppl, a[0])))
	case verb == "pick" && len(a) == 2:
		p, err := one(a[0])
		if err != nil {
			return err
		}
		ts.Setenv(a[1]+"_ID", fmt.Sprint(intOf(p["id"])))
	case verb == "count" && (len(a) == 1 || len(a) == 2):
		ps := w.ppl.Persons()
		if len(a) == 2 {
			ps = personsWith(w.ppl, a[0])
		}
		if err := countIs(len(ps), a[len(a)-1]); err != nil {
			return fmt.Errorf("People persons: %v", err)
		}
	case verb == "has" && len(a) >= 1:
		p, err := one(a[0])
		if err != nil {
			return err
		}
		return hasFields(p, a[1:], true)
	case verb == "fail" && len(a) == 2:
		n, status, err := failArgs(a)
		if err != nil {
			return err
		}
		w.ppl.FailNext(n, status)
	case verb == "define" && len(a) == 2:
		return w.ppl.DefineAttribute(a[0], a[1])
	case verb == "requests" && len(a) <= 1:
		return w.requests(&w.pplMark, w.ppl.Requests(), "People", a)
	default:
		return usageError("people " + strings.Join(args, " "))
	}
	return nil
}

// dynamicsCmd is the Dynamics emulator's script command; a KEY is a row's
// id, its email address, or row:N (the Nth row, from 0):
//
//	dynamics add TABLE JSON|FILE          insert a row
//	dynamics set TABLE KEY FIELD=VALUE... update a row
//	dynamics delete TABLE KEY             delete a row
//	dynamics show TABLE KEY               print the row as JSON
//	dynamics pick TABLE KEY VAR           set $VAR_ID and $VAR_EMAIL to the row's id and email
//	dynamics qualify KEY VAR              qualify a lead; $VAR_ID is the new contact's id
//	dynamics count TABLE [EMAIL] N        N rows (with that email)
//	dynamics has TABLE KEY FIELD=VALUE... the row has those values
//	dynamics fail N STATUS                answer the next N requests with STATUS
//	dynamics raw TABLE KEY COLUMN JSON    store a value as is, unvalidated (a malformed row)
//	dynamics requests [N]                 N requests were answered since the last `dynamics requests`
func dynamicsCmd(ts *testscript.TestScript, args []string) error {
	w := started(ts)
	if len(args) == 0 {
		return usageError("dynamics add|set|delete|show|pick|qualify|count|has|fail ...")
	}
	row := func(table, key string) (map[string]any, string, error) {
		return rowByKey(w.dyn, table, key)
	}
	switch verb, a := args[0], args[1:]; {
	case verb == "add" && len(a) == 2:
		m, err := recordJSON(ts, a[1])
		if err != nil {
			return err
		}
		w.dyn.Insert(a[0], m)
	case verb == "set" && len(a) >= 3:
		_, id, err := row(a[0], a[1])
		if err != nil {
			return err
		}
		fields, err := assign(a[2:])
		if err != nil {
			return err
		}
		w.dyn.Update(a[0], id, fields)
	case verb == "delete" && len(a) == 2:
		_, id, err := row(a[0], a[1])
		if err != nil {
			return err
		}
		w.dyn.Delete(a[0], id)
	case verb == "show" && len(a) == 2:
		r, _, err := row(a[0], a[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(ts.Stdout(), showJSON(r))
	case verb == "pick" && len(a) == 3:
		r, id, err := row(a[0], a[1])
		if err != nil {
			return err
		}
		ts.Setenv(a[2]+"_ID", id)
		ts.Setenv(a[2]+"_EMAIL", strings.ToLower(str2(r["emailaddress1"])))
	case verb == "qualify" && len(a) == 2:
		_, id, err := row("lead", a[0])
		if err != nil {
			return err
		}
		contact, err := w.dyn.QualifyLead(id)
		if err != nil {
			return err
		}
		ts.Setenv(a[1]+"_ID", contact)
	case verb == "count" && (len(a) == 2 || len(a) == 3):
		rows := w.dyn.Rows(a[0])
		if len(a) == 3 {
			var with []map[string]any
			for _, r := range rows {
				if strings.EqualFold(str2(r["emailaddress1"]), a[1]) {
					with = append(with, r)
				}
			}
			rows = with
		}
		if err := countIs(len(rows), a[len(a)-1]); err != nil {
			return fmt.Errorf("%s rows: %v", a[0], err)
		}
	case verb == "has" && len(a) >= 2:
		r, _, err := row(a[0], a[1])
		if err != nil {
			return err
		}
		return hasFields(r, a[2:], false)
	case verb == "fail" && len(a) == 2:
		n, status, err := failArgs(a)
		if err != nil {
			return err
		}
		w.dyn.FailNext(n, status)
	case verb == "raw" && len(a) == 4:
		_, id, err := row(a[0], a[1])
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal([]byte(a[3]), &v); err != nil {
			return usageError("dynamics raw TABLE KEY COLUMN JSON: " + err.Error())
		}
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			v = int64(f)
		}
		w.dyn.SetRaw(a[0], id, a[2], v)
	case verb == "requests" && len(a) <= 1:
		return w.requests(&w.dynMark, w.dyn.Requests(), "Dynamics", a)
	default:
		return usageError("dynamics " + strings.Join(args, " "))
	}
	return nil
}

// failArgs parses `fail N STATUS`.
func failArgs(a []string) (n, status int, err error) {
	n, err1 := strconv.Atoi(a[0])
	status, err2 := strconv.Atoi(a[1])
	if err1 != nil || err2 != nil {
		return 0, 0, usageError("fail N STATUS, not fail " + strings.Join(a, " "))
	}
	return n, status, nil
}

// countIs checks a count against N, or >=N for at least N.
func countIs(n int, want string) error {
	min, atLeast := strings.CutPrefix(want, ">=")
	w, err := strconv.Atoi(min)
	switch {
	case err != nil:
		return usageError("a count N or >=N, not " + want)
	case atLeast && n < w, !atLeast && n != w:
		return fmt.Errorf("%d, want %s", n, want)
	}
	return nil
}

// rowByKey finds a row of table by KEY (see dynamicsCmd).
func rowByKey(dyn *dynemu.Emulator, table, key string) (map[string]any, string, error) {
	rows := dyn.Rows(table)
	var found []map[string]any
	switch {
	case strings.HasPrefix(key, "row:"):
		i, err := strconv.Atoi(key[len("row:"):])
		if err != nil || i < 0 || i >= len(rows) {
			return nil, "", fmt.Errorf("no %s %s (%d rows)", table, key, len(rows))
		}
		found = rows[i : i+1]
	case strings.Contains(key, "@"):
		for _, r := range rows {
			if strings.EqualFold(str2(r["emailaddress1"]), key) {
				found = append(found, r)
			}
		}
	default:
		if r, ok := dyn.Get(table, key); ok {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return nil, "", fmt.Errorf("%d %s rows for %s, want 1", len(found), table, key)
	}
	return found[0], str2(found[0][table+"id"]), nil
}

func contactByKey(dyn *dynemu.Emulator, key string) (map[string]any, bool) {
	c, _, err := rowByKey(dyn, "contact", key)
	return c, err == nil
}

// convergedCheck is `converged`: what the contacts sync promises holds
// (convergedErrors).
//
// `converged leads` checks the examples' lead sync instead: every lead has
// one People lead, linked by its id; `converged customers` the People to
// Dynamics example's: every person's externalId is its contact's id.
func convergedCheck(ts *testscript.TestScript, args []string) error {
	w := started(ts)
	var errs []string
	switch {
	case len(args) == 0:
		errs = convergedErrors(w.dyn, w.ppl)
	case len(args) == 1 && args[0] == "customers":
		for _, p := range w.ppl.Persons() {
			c, ok := w.dyn.Get("contact", str2(p["externalId"]))
			if !ok || !strings.EqualFold(str2(c["emailaddress1"]), personEmail(p)) {
				errs = append(errs, fmt.Sprintf("person %v (%s): externalId %q is not its contact", p["id"], personEmail(p), p["externalId"]))
			}
		}
	case len(args) == 1 && args[0] == "leads":
		for _, l := range w.dyn.Rows("lead") {
			ps := personsWith(w.ppl, str2(l["emailaddress1"]))
			if len(ps) != 1 || ps[0]["type"] != "LEAD" || ps[0]["externalId"] != l["leadid"] {
				errs = append(errs, fmt.Sprintf("lead %s: People %v", l["leadid"], ps))
			}
		}
	default:
		return usageError("converged [leads|customers]")
	}
	if len(errs) > 0 {
		return fmt.Errorf("not converged:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// convergedErrors lists where the contacts sync's promise does not hold:
// every active contact has exactly one People customer, linked by
// externalId, with the two-way fields equal; every customer has exactly one
// contact; nobody is duplicated on either side.
func convergedErrors(dyn *dynemu.Emulator, ppl *pplemu.Emulator) []string {
	var errs []string
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	persons := map[string][]map[string]any{}
	for _, p := range ppl.Persons() {
		e := strings.ToLower(personEmail(p))
		persons[e] = append(persons[e], p)
	}
	contacts := map[string][]map[string]any{}
	for _, c := range dyn.Rows("contact") {
		e := strings.ToLower(str2(c["emailaddress1"]))
		contacts[e] = append(contacts[e], c)
	}
	for _, email := range slices.Sorted(maps.Keys(persons)) {
		if ps := persons[email]; len(ps) > 1 {
			errorf("%d People persons with email %s", len(ps), email)
		}
	}
	for _, email := range slices.Sorted(maps.Keys(contacts)) {
		if cs := contacts[email]; len(cs) > 1 && email != "" {
			errorf("%d Dynamics contacts with email %s", len(cs), email)
		}
	}
	byExt := map[string]map[string]any{}
	for _, p := range ppl.Persons() {
		if x := str2(p["externalId"]); x != "" {
			byExt[x] = p
		}
	}
	for _, c := range dyn.Rows("contact") {
		if intOf(c["statecode"]) != 0 {
			continue
		}
		id := str2(c["contactid"])
		p := byExt[id]
		if p == nil {
			errorf("contact %s (%s) has no People profile with its id as externalId", id, c["emailaddress1"])
			continue
		}
		if p["type"] != "CUSTOMER" {
			errorf("contact %s: its profile is a %v", id, p["type"])
		}
		for _, f := range [][2]string{{"firstname", "firstName"}, {"lastname", "lastName"}, {"address1_city", "city"}, {"address1_country", "country"}} {
			if str2(c[f[0]]) != str2(p[f[1]]) {
				errorf("contact %s %s = %q, People %s = %q", id, f[0], c[f[0]], f[1], p[f[1]])
			}
		}
		if !strings.EqualFold(str2(c["emailaddress1"]), personEmail(p)) {
			errorf("contact %s email %q, People %q", id, c["emailaddress1"], personEmail(p))
		}
	}
	for _, p := range ppl.Persons() {
		if p["type"] != "CUSTOMER" {
			continue
		}
		if _, ok := dyn.Get("contact", str2(p["externalId"])); !ok {
			errorf("People customer %v (%s) has no contact (externalId %q)", p["id"], personEmail(p), p["externalId"])
		}
	}
	return errs
}

// seedOverlap adds People persons that overlap the Dynamics contacts as a
// live account would: every third contact has a customer with its email
// (alternately carrying the contact's id as externalId, or none), half the
// leads a People lead, and two customers exist only in People.
func seedOverlap(dyn *dynemu.Emulator, ppl *pplemu.Emulator) {
	for i, c := range dyn.Rows("contact") {
		if i%3 != 0 {
			continue
		}
		p := personFrom(c, "CUSTOMER")
		if i%2 == 0 {
			p["externalId"] = c["contactid"]
		}
		ppl.Insert(p)
	}
	for j, l := range dyn.Rows("lead") {
		if j%2 == 0 {
			ppl.Insert(personFrom(l, "LEAD"))
		}
	}
	for _, n := range []string{"only.one@example.net", "only.two@example.net"} {
		ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Only", "lastName": strings.Split(n, "@")[0], "city": "Graz",
			"contactInformation": map[string]any{"email": []any{map[string]any{"address": n}}}})
	}
}

// stateCheck reads the project's state (.synclang/state.db in the current
// directory) as a test inspects it:
//
//	state conflicts SYNC          print the recorded conflicts, one a line: LEFTKEY LEFTFIELD POLICY WINNER
//	state links SYNC N            the sync has N links
//	state linked SYNC left|right KEY  the record KEY of that side is linked
//	state lock SYNC HOST PID      hold the sync's lock for an hour as process PID of HOST, until the script ends
func stateCheck(ts *testscript.TestScript, args []string) error {
	ctx := context.Background()
	path := ts.MkAbs(filepath.Join(".synclang", "state.db"))
	if len(args) == 4 && args[0] == "lock" {
		pid, err := strconv.Atoi(args[3])
		if err != nil {
			return usageError("state lock SYNC HOST PID")
		}
		st, err := state.Open(ctx, path, state.Options{Holder: state.Holder{Host: args[2], PID: pid}})
		if err != nil {
			return err
		}
		ts.Defer(func() { st.Close() })
		_, err = st.Acquire(ctx, args[1], time.Hour)
		return err
	}
	st, err := state.Open(ctx, path, state.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	switch {
	case len(args) == 2 && args[0] == "conflicts":
		confs, err := st.Conflicts(ctx, args[1], 1000)
		if err != nil {
			return err
		}
		for _, cf := range confs {
			fmt.Fprintf(ts.Stdout(), "%s %s %s %s\n", cf.LeftKey, cf.LeftField, cf.Policy, cf.Winner)
		}
	case len(args) == 3 && args[0] == "links":
		n, err := st.LinkCount(ctx, args[1])
		if err != nil {
			return err
		}
		if strconv.Itoa(n) != args[2] {
			return fmt.Errorf("sync %s has %d links, want %s", args[1], n, args[2])
		}
	case len(args) == 4 && args[0] == "linked":
		links, err := st.Links(ctx, args[1], state.Side(args[2]), []string{args[3]})
		if err != nil {
			return err
		}
		if len(links) == 0 {
			return fmt.Errorf("sync %s: %s record %s is not linked", args[1], args[2], args[3])
		}
	default:
		return usageError("state conflicts|links|linked|lock ...")
	}
	return nil
}

// ---- waiting, serving, documents ----

// pollTimeout bounds `poll`: generous, since a loaded CI machine is many
// times slower than a quiet one; polling returns as soon as the condition
// holds.
const pollTimeout = 60 * time.Second

// cmdPoll is `poll CHECK ARGS...`: it runs the check command CHECK (people,
// dynamics, converged, match, metric, json, quiet) until it holds, or
// fails after pollTimeout of wall-clock time.
func cmdPoll(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: poll CHECK ARGS...")
	}
	checks := map[string]func(*testscript.TestScript, []string) error{
		"people": peopleCmd, "dynamics": dynamicsCmd, "converged": convergedCheck, "match": matchCheck,
		"metric": metricCheck, "json": jsonCheck, "quiet": quietCheck,
	}
	check := checks[args[0]]
	if check == nil {
		ts.Fatalf("poll: %s is not a check", args[0])
	}
	deadline := time.Now().Add(pollTimeout)
	for {
		err := check(ts, args[1:])
		if err == nil {
			return
		}
		if errUsage(err) || time.Now().After(deadline) {
			ts.Fatalf("poll %s: after %v: %v", strings.Join(args, " "), pollTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matchCheck is `match FILE REGEXP [VAR]`: FILE matches; VAR, when given,
// is set to the first submatch.
func matchCheck(ts *testscript.TestScript, args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return usageError("match FILE REGEXP [VAR]")
	}
	rx, err := regexp.Compile(args[1])
	if err != nil {
		return usageError(err.Error())
	}
	var text string
	if args[0] == "stdout" || args[0] == "stderr" {
		text = ts.ReadFile(args[0])
	} else {
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		if err != nil {
			return err
		}
		text = string(b)
	}
	m := rx.FindStringSubmatch(text)
	if m == nil {
		return fmt.Errorf("no match for %s in %s", args[1], args[0])
	}
	if len(args) == 3 {
		if len(m) < 2 {
			return usageError("match: the regexp has no submatch for " + args[2])
		}
		ts.Setenv(args[2], m[1])
	}
	return nil
}

// metricCheck is `metric URL REGEXP MIN`: the first line of URL/metrics
// that REGEXP matches has a value (its first submatch) of at least MIN.
func metricCheck(ts *testscript.TestScript, args []string) error {
	if len(args) != 3 {
		return usageError("metric URL REGEXP MIN")
	}
	rx, err := regexp.Compile(args[1])
	min, err2 := strconv.ParseFloat(args[2], 64)
	if err != nil || err2 != nil {
		return usageError(fmt.Sprint("metric: ", err, err2))
	}
	_, body, err := httpGet(args[0] + "/metrics")
	if err != nil {
		return err
	}
	m := rx.FindStringSubmatch(body)
	if m == nil {
		return fmt.Errorf("no %s in /metrics", args[1])
	}
	if v, err := strconv.ParseFloat(m[1], 64); err != nil || v < min {
		return fmt.Errorf("%s is %s, want at least %v", args[1], m[1], min)
	}
	return nil
}

func httpGet(url string) (int, string, error) {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// cmdHTTP is `http URL`: GET URL, answered 200; its body is stdout.
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: http URL")
	}
	status, body, err := httpGet(args[0])
	ts.Check(err)
	fmt.Fprint(ts.Stdout(), body)
	if status != http.StatusOK {
		ts.Fatalf("GET %s: %d", args[0], status)
	}
}

// jsonValue reads a dotted path of a JSON document: object keys, array
// indices, and (len) for an array's or object's length. A path that does
// not exist fails the script even under !, so `! json` asserts a value
// that differs, never a typo.
func jsonValue(ts *testscript.TestScript, file, path string) (string, error) {
	v, err := jsonAt(ts, file, path)
	if err != nil {
		return "", err
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	b, _ := json.Marshal(v)
	return string(b), nil
}

// jsonAt returns the decoded value at path (see jsonValue).
func jsonAt(ts *testscript.TestScript, file, path string) (any, error) {
	var doc any
	if err := json.Unmarshal([]byte(ts.ReadFile(file)), &doc); err != nil {
		return nil, usageError(fmt.Sprintf("%s is not JSON: %v", file, err))
	}
	v := doc
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			if part == "(len)" {
				v = float64(len(x))
			} else {
				v = x[part]
			}
		case []any:
			if part == "(len)" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, usageError(fmt.Sprintf("%s: no element %s of %d", path, part, len(x)))
			}
			v = x[i]
		default:
			return nil, usageError(fmt.Sprintf("%s: no %s in %v", path, part, v))
		}
	}
	return v, nil
}

// jsonCheck is `json FILE PATH VALUE`: the value at PATH (see jsonValue)
// is VALUE.
func jsonCheck(ts *testscript.TestScript, args []string) error {
	if len(args) != 3 {
		return usageError("json FILE PATH VALUE")
	}
	got, err := jsonValue(ts, args[0], args[1])
	if err != nil {
		return err
	}
	if got != args[2] {
		return fmt.Errorf("%s is %q, want %q", args[1], got, args[2])
	}
	return nil
}

// jsonTypeCheck is `jsontype FILE PATH TYPE`: the value at PATH is a
// string, number, bool, object, array or null.
func jsonTypeCheck(ts *testscript.TestScript, args []string) error {
	if len(args) != 3 {
		return usageError("jsontype FILE PATH TYPE")
	}
	v, err := jsonAt(ts, args[0], args[1])
	if err != nil {
		return err
	}
	got := "null"
	switch v.(type) {
	case string:
		got = "string"
	case float64:
		got = "number"
	case bool:
		got = "bool"
	case map[string]any:
		got = "object"
	case []any:
		got = "array"
	}
	if got != args[2] {
		return fmt.Errorf("%s is a %s, want a %s", args[1], got, args[2])
	}
	return nil
}

// cmdJSONSet is `jsonset VAR FILE PATH`: $VAR is the value at PATH.
func cmdJSONSet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonset VAR FILE PATH")
	}
	v, err := jsonValue(ts, args[1], args[2])
	ts.Check(err)
	ts.Setenv(args[0], v)
}

// cmdSum is `sum VAR N...`: $VAR is the sum of the numbers.
func cmdSum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: sum VAR N...")
	}
	var sum int64
	for _, a := range args[1:] {
		n, err := strconv.ParseInt(a, 10, 64)
		ts.Check(err)
		sum += n
	}
	ts.Setenv(args[0], strconv.FormatInt(sum, 10))
}

// quietCheck is `quiet FILE [MAXREQUESTS]`: in FILE, a `status --json`
// document, every sync's last run wrote nothing and sent at most
// MAXREQUESTS requests.
func quietCheck(ts *testscript.TestScript, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usageError("quiet FILE [MAXREQUESTS]")
	}
	maxReqs := int64(-1)
	if len(args) == 2 {
		n, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return usageError("quiet: " + err.Error())
		}
		maxReqs = n
	}
	var st struct {
		Syncs []struct {
			Name    string `json:"name"`
			LastRun *struct {
				Report *engine.SyncReport `json:"report"`
			} `json:"lastRun"`
		} `json:"syncs"`
	}
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &st); err != nil {
		return fmt.Errorf("%s is not a status --json document: %v", args[0], err)
	}
	var errs []string
	for _, s := range st.Syncs {
		if s.LastRun == nil || s.LastRun.Report == nil {
			continue
		}
		sr := s.LastRun.Report
		n := 0
		for _, f := range sr.Flows {
			n += f.Created + f.Updated + f.WrittenBack + f.Deleted + f.WriteCalls
		}
		if n != 0 {
			errs = append(errs, fmt.Sprintf("sync %s wrote %d times in its last run: %s", s.Name, n, showJSON(sr.Flows)))
		}
		var reqs int64
		for _, r := range sr.Requests {
			reqs += r.Requests
		}
		if maxReqs >= 0 && reqs > maxReqs {
			errs = append(errs, fmt.Sprintf("sync %s sent %d requests in its last run; want at most %d", s.Name, reqs, maxReqs))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// jsonLinesCheck is `jsonlines FILE MIN`: FILE has at least MIN lines,
// each a JSON object.
func jsonLinesCheck(ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		return usageError("jsonlines FILE MIN")
	}
	min, err := strconv.Atoi(args[1])
	if err != nil {
		return usageError(err.Error())
	}
	lines := 0
	for _, line := range strings.Split(strings.TrimRight(ts.ReadFile(args[0]), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return fmt.Errorf("a line of %s is not JSON: %q", args[0], line)
		}
		lines++
	}
	if lines < min {
		return fmt.Errorf("%s has %d lines, want at least %d", args[0], lines, min)
	}
	return nil
}

// cmdReplace is `replace FILE OLD NEW`: the first OLD in FILE becomes NEW
// (\n in either is a newline).
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE OLD NEW")
	}
	nl := func(s string) string { return strings.ReplaceAll(s, `\n`, "\n") }
	src := ts.ReadFile(args[0])
	if !strings.Contains(src, nl(args[1])) {
		ts.Fatalf("replace: %s holds no %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Replace(src, nl(args[1]), nl(args[2]), 1)), 0o644))
}

// cmdUpper is `upper VAR TEXT`: $VAR is TEXT in upper case.
func cmdUpper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: upper VAR TEXT")
	}
	ts.Setenv(args[0], strings.ToUpper(args[1]))
}

// cmdAbsent is `absent TEXT...`: neither stdout nor stderr of the last
// command holds any TEXT (secrets, say); empty TEXTs are skipped.
func cmdAbsent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: absent TEXT...")
	}
	for _, text := range args {
		for _, f := range []string{"stdout", "stderr"} {
			if text != "" && strings.Contains(ts.ReadFile(f), text) {
				ts.Fatalf("%s holds %q", f, text)
			}
		}
	}
}

// cmdMtime is `mtime FILE DURATION`: FILE's modification time is now plus
// DURATION (wall clock).
func cmdMtime(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mtime FILE DURATION")
	}
	d, err := time.ParseDuration(args[1])
	ts.Check(err)
	t := time.Now().Add(d)
	ts.Check(os.Chtimes(ts.MkAbs(args[0]), t, t))
}

// cmdHang is `hang VAR`: $VAR is the URL of a Web API that issues tokens
// (as the identity platform's token endpoint) and never answers anything
// else: each request waits until its client goes, or 30 seconds.
func cmdHang(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hang VAR")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":3600}`))
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}
