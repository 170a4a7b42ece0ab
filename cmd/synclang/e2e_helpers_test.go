package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/runtime/engine"
)

// The end-to-end tests run the CLI (Main, with buffers) against both
// emulators over real HTTP on loopback. The emulators' limits are off and
// the connectors' pacing is scaled up (Stdio.RateScale), so the tests do
// not wait for the real limits; the 429 and 5xx tests inject failures.
// A shared fake clock stamps both services' modification times, so
// conflicts are decided deterministically.

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

// checkSummaryAddsUp asserts, for every summary table and JSON report a
// command printed, that each direction's records read add up to its
// columns: every record read is counted exactly once (issue 9).
func checkSummaryAddsUp(t *testing.T, r result) {
	t.Helper()
	if strings.HasPrefix(strings.TrimSpace(r.out), "{") {
		var doc struct {
			Syncs []*engine.SyncReport `json:"syncs"`
		}
		if err := json.Unmarshal([]byte(r.out), &doc); err == nil {
			for _, sr := range doc.Syncs {
				for _, f := range sr.Flows {
					if err := f.Balanced(); err != nil {
						t.Errorf("JSON report of sync %s: %v\n%s", sr.Sync, err, r)
					}
				}
			}
		}
		return
	}
	// status: "crm.contact -> infobip.customer: read 6, created 4, ...".
	for _, m := range regexp.MustCompile(`-> \S+: read (\d{1,3}(?:,\d{3})*)((?:, [a-z]+ \d{1,3}(?:,\d{3})*)+)`).FindAllStringSubmatch(r.out, -1) {
		atoi := func(s string) int { n, _ := strconv.Atoi(strings.ReplaceAll(s, ",", "")); return n }
		sum := 0
		for _, part := range strings.Split(strings.TrimPrefix(m[2], ", "), ", ") {
			_, n, _ := strings.Cut(part, " ")
			sum += atoi(n)
		}
		if atoi(m[1]) != sum {
			t.Errorf("status line %q: %s read but %d in the outcomes\n%s", m[0], m[1], sum, r)
		}
	}
	cols := regexp.MustCompile(`\s{2,}`)
	var header []string
	for _, line := range strings.Split(r.out, "\n") {
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
			t.Errorf("summary row %q has %d cells, the header %d\n%s", line, len(cells), len(header), r)
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
				t.Errorf("summary row %q: column %s is %q\n%s", line, h, cells[i], r)
			}
			if h == "read" {
				read = n
			} else {
				sum += n
			}
		}
		if read != sum {
			t.Errorf("summary row %q: %d read but %d in the columns %v\n%s", line, read, sum, header[3:], r)
		}
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

// checkConverged asserts what the contacts sync promises: every active
// contact has exactly one People customer, linked by externalId, with the
// two-way fields equal; every customer has exactly one contact; nobody is
// duplicated on either side.
func (w *world) checkConverged() {
	w.t.Helper()
	persons, contacts := w.persons(), w.contacts()
	for email, ps := range persons {
		if len(ps) > 1 {
			w.t.Errorf("%d People persons with email %s", len(ps), email)
		}
	}
	for email, cs := range contacts {
		if len(cs) > 1 && email != "" {
			w.t.Errorf("%d Dynamics contacts with email %s", len(cs), email)
		}
	}
	byExt := map[string]map[string]any{}
	for _, ps := range persons {
		for _, p := range ps {
			if x := str2(p["externalId"]); x != "" {
				byExt[x] = p
			}
		}
	}
	for _, c := range w.dyn.Rows("contact") {
		if intOf(c["statecode"]) != 0 {
			continue
		}
		id := str2(c["contactid"])
		p := byExt[id]
		if p == nil {
			w.t.Errorf("contact %s (%s) has no People profile with its id as externalId", id, c["emailaddress1"])
			continue
		}
		if p["type"] != "CUSTOMER" {
			w.t.Errorf("contact %s: its profile is a %v", id, p["type"])
		}
		for dyn, ppl := range map[string]string{"firstname": "firstName", "lastname": "lastName", "address1_city": "city", "address1_country": "country"} {
			if str2(c[dyn]) != str2(p[ppl]) {
				w.t.Errorf("contact %s %s = %q, People %s = %q", id, dyn, c[dyn], ppl, p[ppl])
			}
		}
		if !strings.EqualFold(str2(c["emailaddress1"]), personEmail(p)) {
			w.t.Errorf("contact %s email %q, People %q", id, c["emailaddress1"], personEmail(p))
		}
	}
	for _, ps := range persons {
		for _, p := range ps {
			if p["type"] != "CUSTOMER" {
				continue
			}
			c, ok := w.dyn.Get("contact", str2(p["externalId"]))
			if !ok {
				w.t.Errorf("People customer %v (%s) has no contact (externalId %q)", p["id"], personEmail(p), p["externalId"])
			} else if intOf(c["statecode"]) != 0 {
				// An inactive contact's customer stays (where filter).
				continue
			}
		}
	}
}

// seedPeople adds People persons that overlap the Dynamics contacts as a
// live account would: every third contact has a customer with its email
// (alternately carrying the contact's id as externalId, or none), half the
// leads a People lead, and two customers exist only in People.
func (w *world) seedPeople() {
	w.t.Helper()
	for i, c := range w.dyn.Rows("contact") {
		if i%3 != 0 {
			continue
		}
		p := personFrom(c, "CUSTOMER")
		if i%2 == 0 {
			p["externalId"] = c["contactid"]
		}
		w.ppl.Insert(p)
	}
	for j, l := range w.dyn.Rows("lead") {
		if j%2 == 0 {
			w.ppl.Insert(personFrom(l, "LEAD"))
		}
	}
	for _, n := range []string{"only.one@example.net", "only.two@example.net"} {
		w.ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Only", "lastName": strings.Split(n, "@")[0], "city": "Graz",
			"contactInformation": map[string]any{"email": []any{map[string]any{"address": n}}}})
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}
