package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// lastReports returns the report of each sync's last run, from
// `synclang status --json`.
func (w *world) lastReports() map[string]*engine.SyncReport {
	w.t.Helper()
	r := w.synclang("status", "--json", w.dir)
	if r.code != exitOK {
		w.t.Fatalf("status: %s", r)
	}
	var st statusReport
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, r.out)
	}
	out := map[string]*engine.SyncReport{}
	for _, s := range st.Syncs {
		if s.LastRun != nil {
			out[s.Name] = s.LastRun.Report
		}
	}
	return out
}

// writesOf counts what a sync report wrote.
func writesOf(sr *engine.SyncReport) int {
	n := 0
	for _, f := range sr.Flows {
		n += f.Created + f.Updated + f.WrittenBack + f.Deleted + f.WriteCalls
	}
	return n
}

// openState opens the project's state for inspection.
func (w *world) openState() state.Store {
	w.t.Helper()
	st, err := state.Open(context.Background(), filepath.Join(w.dir, stateDir, stateFile), state.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { st.Close() })
	return st
}

// TestE2EEditsOnBothSidesAndConflicts edits both sides before one pass:
// different fields of one pair merge; the same field changed on both sides
// is decided by `conflict newest`, and the decision is recorded.
func TestE2EEditsOnBothSidesAndConflicts(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 12})
	w.seedPeople()
	w.pass(exitOK)
	rows := w.dyn.Rows("contact")
	byEmail := func(c map[string]any) map[string]any {
		return w.persons()[strings.ToLower(str2(c["emailaddress1"]))][0]
	}
	merge, dynWins, pplWins := rows[0], rows[1], rows[2]

	// Different fields of one pair, changed on each side.
	w.clk.Advance(2 * time.Second)
	w.dyn.Update("contact", str2(merge["contactid"]), map[string]any{"lastname": "Merged"})
	if err := w.ppl.Update(personID(byEmail(merge)), map[string]any{"city": "Osijek"}); err != nil {
		t.Fatal(err)
	}
	// The same field: People first, Dynamics two seconds later...
	if err := w.ppl.Update(personID(byEmail(dynWins)), map[string]any{"firstName": "PeopleSaid"}); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(2 * time.Second)
	w.dyn.Update("contact", str2(dynWins["contactid"]), map[string]any{"firstname": "DynamicsSaid"})
	// ... and Dynamics first, People later.
	w.dyn.Update("contact", str2(pplWins["contactid"]), map[string]any{"firstname": "DynamicsSaid"})
	w.clk.Advance(2 * time.Second)
	if err := w.ppl.Update(personID(byEmail(pplWins)), map[string]any{"firstName": "PeopleSaid"}); err != nil {
		t.Fatal(err)
	}
	w.pass(exitOK)
	w.pass(exitOK)

	c, _ := w.dyn.Get("contact", str2(merge["contactid"]))
	p := byEmail(merge)
	if c["lastname"] != "Merged" || p["lastName"] != "Merged" || c["address1_city"] != "Osijek" || p["city"] != "Osijek" {
		t.Errorf("merge: Dynamics %v/%v, People %v/%v", c["lastname"], c["address1_city"], p["lastName"], p["city"])
	}
	for _, tc := range []struct {
		row    map[string]any
		want   string
		winner state.Side
	}{{dynWins, "DynamicsSaid", state.Left}, {pplWins, "PeopleSaid", state.Right}} {
		c, _ := w.dyn.Get("contact", str2(tc.row["contactid"]))
		p := byEmail(tc.row)
		if c["firstname"] != tc.want || p["firstName"] != tc.want {
			t.Errorf("conflict: Dynamics %v, People %v; want %s on both", c["firstname"], p["firstName"], tc.want)
		}
	}
	confs, err := w.openState().Conflicts(context.Background(), "contacts", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]state.Side{}
	for _, cf := range confs {
		if cf.LeftField == "firstname" && cf.Policy == "newest" {
			got[cf.LeftKey] = cf.Winner
		}
	}
	if got[str2(dynWins["contactid"])] != state.Left || got[str2(pplWins["contactid"])] != state.Right {
		t.Errorf("recorded conflicts: %+v", confs)
	}
	w.checkConverged()
}

const propagateSync = `connection crm dynamics {
  url           = env("DYNAMICS_URL")
  tenant        = env("AZURE_TENANT_ID")
  client_id     = env("AZURE_CLIENT_ID")
  client_secret = secret("AZURE_CLIENT_SECRET")
}

connection infobip people {
  url     = env("INFOBIP_BASE_URL")
  api_key = secret("INFOBIP_API_KEY")
}

sync contacts {
  crm.contact -> infobip.customer

  link  contactid <-> externalId
  match lower(emailaddress1) <-> lower(email)

  firstname     -> firstName
  lastname      -> lastName
  emailaddress1 -> email

  delete propagate
}
`

// TestE2EDeletes deletes Dynamics contacts: change tracking reports them;
// `delete propagate` deletes the linked People profile, the examples'
// default (ignore) keeps it and forgets the pair.
func TestE2EDeletes(t *testing.T) {
	t.Run("propagate", func(t *testing.T) {
		w := newWorld(t, worldOptions{contacts: 8, files: map[string]string{"contacts.sync": propagateSync}})
		w.pass(exitOK)
		gone := w.dyn.Rows("contact")[3]
		email := strings.ToLower(str2(gone["emailaddress1"]))
		if len(w.persons()[email]) != 1 {
			t.Fatal("the contact was not synced")
		}
		w.dyn.Delete("contact", str2(gone["contactid"]))
		r := w.pass(exitOK)
		if n := len(w.persons()[email]); n != 0 {
			t.Errorf("the deleted contact's profile is still there (%d)", n)
		}
		if !regexp.MustCompile(`contacts\s+crm.contact -> infobip.customer\s+1\s+0\s+0\s+0\s+0\s+0\s+1\s+0\n`).MatchString(r.out) {
			t.Errorf("summary:\n%s", r.out)
		}
		if n, _ := w.openState().LinkCount(context.Background(), "contacts"); n != 7 {
			t.Errorf("%d links left, want 7", n)
		}
	})
	t.Run("ignore", func(t *testing.T) {
		w := newWorld(t, worldOptions{contacts: 8})
		w.pass(exitOK)
		gone := w.dyn.Rows("contact")[3]
		w.dyn.Delete("contact", str2(gone["contactid"]))
		r := w.pass(exitOK)
		if n := len(w.persons()[strings.ToLower(str2(gone["emailaddress1"]))]); n != 1 {
			t.Errorf("delete ignore removed the profile (%d left)", n)
		}
		if !strings.Contains(r.out, "1 pair forgotten") {
			t.Errorf("summary:\n%s", r.out)
		}
		links, _ := w.openState().Links(context.Background(), "contacts", state.Left, []string{str2(gone["contactid"])})
		if len(links) != 0 {
			t.Errorf("the deleted contact is still linked: %v", links)
		}
	})
}

// TestE2EDeletedContactNotRecreatedFromEcho: a profile that exists only in
// People gets a contact, and the contact's ID is written back to it; the
// contact is deleted before the next pass, which reads the profile again
// for that write-back. The echo does not bring the contact back.
func TestE2EDeletedContactNotRecreatedFromEcho(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 4})
	const email = "yuki.only@example.net"
	w.ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Yuki", "lastName": "Tanaka",
		"contactInformation": map[string]any{"email": []any{map[string]any{"address": email}}}})
	w.pass(exitOK)
	created := w.contacts()[email]
	if len(created) != 1 || str2(w.persons()[email][0]["externalId"]) != str2(created[0]["contactid"]) {
		t.Fatalf("the profile did not get a contact with its ID written back: %v %v", created, w.persons()[email])
	}
	w.dyn.Delete("contact", str2(created[0]["contactid"]))
	r := w.pass(exitOK)
	if n := len(w.contacts()[email]); n != 0 {
		t.Errorf("the deleted contact came back (%d contacts with its email):\n%s", n, r.out)
	}
	if n := len(w.persons()[email]); n != 1 {
		t.Errorf("%d profiles with the email, want the one that stays", n)
	}
	w.pass(exitOK)
	if n := len(w.contacts()[email]); n != 0 {
		t.Errorf("the deleted contact came back a pass later (%d)", n)
	}
}

// TestE2ELeadWithACustomersEmail: a Dynamics lead with the email of a synced
// contact finds the contact's CUSTOMER profile; the lead sync rejects it
// (rejected-foreign) and the customer's profile keeps its data and its
// externalId.
func TestE2ELeadWithACustomersEmail(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 4})
	w.pass(exitOK)
	c := w.dyn.Rows("contact")[1]
	email := strings.ToLower(str2(c["emailaddress1"]))
	before := w.persons()[email]
	if len(before) != 1 || before[0]["type"] != "CUSTOMER" {
		t.Fatalf("the contact's profile: %v", before)
	}
	w.clk.Advance(time.Second)
	w.dyn.Insert("lead", map[string]any{"firstname": "Lead", "lastname": "Overwrite", "emailaddress1": str2(c["emailaddress1"]),
		"subject": "New interest", "statecode": 0})
	r := w.pass(exitRejects)
	if !strings.Contains(r.out+r.err, "[rejected-foreign]") || !strings.Contains(r.out+r.err, "which a lead never writes over") {
		t.Errorf("no rejected-foreign reject:\n%s", r)
	}
	after := w.persons()[email]
	if len(after) != 1 || after[0]["type"] != "CUSTOMER" || after[0]["externalId"] != c["contactid"] || after[0]["lastName"] != before[0]["lastName"] {
		t.Errorf("the customer's profile changed: %v (was %v)", after, before)
	}
	w.pass(exitOK)
	w.checkConverged()
}

// TestE2ELeadQualification qualifies a lead that has a People profile: the
// new contact takes the profile over (one profile, promoted to CUSTOMER);
// the lead sync leaves it alone afterwards.
func TestE2ELeadQualification(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 8})
	w.seedPeople()
	w.pass(exitOK)
	lead := w.dyn.Rows("lead")[0]
	email := strings.ToLower(str2(lead["emailaddress1"]))
	before := w.persons()[email]
	if len(before) != 1 || before[0]["type"] != "LEAD" {
		t.Fatalf("before: %v", before)
	}
	w.clk.Advance(time.Second)
	contactID, err := w.dyn.QualifyLead(str2(lead["leadid"]))
	if err != nil {
		t.Fatal(err)
	}
	w.pass(exitOK)
	w.pass(exitOK)
	after := w.persons()[email]
	if len(after) != 1 || after[0]["type"] != "CUSTOMER" || after[0]["externalId"] != contactID || personID(after[0]) != personID(before[0]) {
		t.Errorf("after qualification: %v (was %v, contact %s)", after, before, contactID)
	}
	for name, sr := range w.lastReports() {
		if n := writesOf(sr); n != 0 {
			t.Errorf("sync %s still writes after the qualification: %+v", name, sr.Flows)
		}
	}
	w.checkConverged()
}

// TestE2EPeopleWithoutExternalIDToDynamics runs the People -> Dynamics
// example: profiles without externalId are paired by email or created, the
// new contact ids are written back at once, and later passes, even with the
// state lost, create no second contact.
func TestE2EPeopleWithoutExternalIDToDynamics(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 6, files: map[string]string{"customers.sync": readExample(t, "people-to-dynamics/customers.sync")}})
	existing := w.dyn.Rows("contact")[2]
	w.ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Ana", "lastName": "Existing", "origin": "PORTAL",
		"contactInformation": map[string]any{"email": []any{map[string]any{"address": strings.ToUpper(str2(existing["emailaddress1"]))}},
			"phone": []any{map[string]any{"number": "385911111111"}}}})
	for i := range 3 {
		w.ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "New", "lastName": fmt.Sprint("Person", i), "origin": "PORTAL", "birthDate": "1990-04-0" + fmt.Sprint(i+1),
			"contactInformation": map[string]any{"email": []any{map[string]any{"address": fmt.Sprintf("new%d@example.org", i)}},
				"phone": []any{map[string]any{"number": fmt.Sprintf("38591222222%d", i)}}}})
	}
	r := w.pass(exitOK)
	if !regexp.MustCompile(`customers\s+infobip.customer -> crm.contact\s+4\s+3\s+1\s+0\s+0\s+0\s+0\s+0\n`).MatchString(r.out) {
		t.Errorf("first pass:\n%s", r.out)
	}
	check := func() {
		t.Helper()
		if n := len(w.dyn.Rows("contact")); n != 9 {
			t.Errorf("%d contacts, want 6 + 3 new", n)
		}
		for _, p := range w.ppl.Persons() {
			c, ok := w.dyn.Get("contact", str2(p["externalId"]))
			if !ok || !strings.EqualFold(str2(c["emailaddress1"]), personEmail(p)) {
				t.Errorf("person %v (%s): externalId %q is not its contact", p["id"], personEmail(p), p["externalId"])
			}
		}
	}
	check()
	if c, _ := w.dyn.Get("contact", str2(existing["contactid"])); c["lastname"] != "Existing" || c["mobilephone"] != "+385911111111" {
		t.Errorf("the paired contact: %v %v", c["lastname"], c["mobilephone"])
	}
	w.pass(exitOK)
	check()
	// Lose the state: the externalIds written back still link.
	if err := os.RemoveAll(filepath.Join(w.dir, stateDir)); err != nil {
		t.Fatal(err)
	}
	w.pass(exitOK)
	check()
}

// crashingStore is the state store of a process that dies between a
// batch's writes and their commit: the crash-th commit (a batch's links,
// hashes and cursor, or the intents recorded before a batch's creates)
// fails, and so does every later store operation.
type crashingStore struct {
	state.Store
	crash   int64
	commits atomic.Int64
	dead    atomic.Bool
}

var errCrashed = errors.New("simulated crash")

func (s *crashingStore) Apply(ctx context.Context, l *state.Lease, ch *state.Changes) error {
	if s.dead.Load() {
		return errCrashed
	}
	if s.commits.Add(1) == s.crash {
		s.dead.Store(true)
		return errCrashed
	}
	return s.Store.Apply(ctx, l, ch)
}

func (s *crashingStore) FinishRun(ctx context.Context, l *state.Lease, r state.Run) error {
	if s.dead.Load() {
		return errCrashed
	}
	return s.Store.FinishRun(ctx, l, r)
}

func (s *crashingStore) Release(ctx context.Context, l *state.Lease) error {
	if s.dead.Load() {
		return errCrashed // a dead process releases nothing
	}
	return s.Store.Release(ctx, l)
}

// TestE2ECrashBeforeCursorCommit crashes a pass between a batch's writes
// and their commit, at every commit of the pass (each batch of each
// direction of each sync, in batches of 7), then runs again as a new
// process: nothing is duplicated and nothing is lost. It does so for the
// initial load, and for an incremental pass carrying edits on both sides.
func TestE2ECrashBeforeCursorCommit(t *testing.T) {
	for _, incremental := range []bool{false, true} {
		crashed := 0
		for crash := int64(1); ; crash++ {
			name := fmt.Sprintf("initial/commit%d", crash)
			if incremental {
				name = fmt.Sprintf("incremental/commit%d", crash)
			}
			didCrash := false
			t.Run(name, func(t *testing.T) { didCrash = crashAndResume(t, crash, incremental) })
			if !didCrash {
				break // past the pass's last commit
			}
			crashed++
		}
		if crashed < 4 {
			t.Errorf("incremental %v: the pass crashed at only %d commits", incremental, crashed)
		}
	}
}

// crashAndResume runs one crash of TestE2ECrashBeforeCursorCommit and
// reports whether the pass crashed (false once crash is past its last
// commit).
func crashAndResume(t *testing.T, crash int64, incremental bool) bool {
	w := newWorld(t, worldOptions{contacts: 20})
	w.seedPeople()
	ctx := testContext(t)
	type edit struct{ email, dynField, dynValue, pplField, pplValue string }
	var edits []edit
	if incremental {
		w.pass(exitOK)
		w.clk.Advance(2 * time.Second)
		for i, c := range w.dyn.Rows("contact")[:8] {
			email := strings.ToLower(str2(c["emailaddress1"]))
			if i%2 == 0 {
				v := fmt.Sprint("Edited", i)
				w.dyn.Update("contact", str2(c["contactid"]), map[string]any{"lastname": v})
				edits = append(edits, edit{email, "lastname", v, "lastName", v})
			} else {
				v := fmt.Sprint("Town", i)
				if err := w.ppl.Update(personID(w.persons()[email][0]), map[string]any{"city": v}); err != nil {
					t.Fatal(err)
				}
				edits = append(edits, edit{email, "address1_city", v, "city", v})
			}
		}
		w.dyn.Insert("contact", map[string]any{"firstname": "Fresh", "lastname": "Contact", "emailaddress1": "fresh.contact@example.com"})
		w.ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Fresh", "lastName": "Person",
			"contactInformation": map[string]any{"email": []any{map[string]any{"address": "fresh.person@example.com"}}}})
		w.clk.Advance(2 * time.Second)
	}
	var out, errb syncBuffer
	s := w.stdio(&out, &errb)
	s.Registry = DefaultRegistry()
	ss, code := openSession(ctx, &s, "run", sessionOptions{flags: runFlags{logLevel: "off"}, paths: []string{w.dir}})
	if code != exitOK {
		t.Fatalf("open: %s", errb.String())
	}
	// The crashing process holds its locks as another, dead process of
	// this host, so the next run may take them over at once.
	host, _ := os.Hostname()
	dying, err := state.Open(ctx, ss.statePath, state.Options{Holder: state.Holder{Host: host, PID: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	ss.store.Close()
	ss.store = &crashingStore{Store: dying, crash: crash}
	_, err = engine.Run(ctx, ss.plan, ss.env(), engine.Options{BatchSize: 7, InFlight: 2})
	ss.close()
	if err == nil {
		return false // past the last commit: every point was tried
	}
	if !errors.Is(err, errCrashed) {
		t.Fatalf("the run failed otherwise: %v", err)
	}

	w.pass(exitOK)
	w.pass(exitOK)
	w.checkConverged()
	// 20 contacts and the 2 People-only customers' new contacts; a customer
	// for each, and a People lead for each of the 5 leads (plus the fresh
	// contact and person of the incremental pass, on both sides).
	extra := 0
	if incremental {
		extra = 2
	}
	if n := len(w.dyn.Rows("contact")); n != 22+extra {
		t.Errorf("%d contacts, want %d", n, 22+extra)
	}
	if n := len(w.ppl.Persons()); n != 22+5+extra {
		t.Errorf("%d persons, want %d", n, 27+extra)
	}
	persons, contacts := w.persons(), w.contacts()
	for _, e := range edits {
		if c, p := contacts[e.email][0], persons[e.email][0]; str2(c[e.dynField]) != e.dynValue || str2(p[e.pplField]) != e.pplValue {
			t.Errorf("edit of %s lost: Dynamics %s = %v, People %s = %v; want %s", e.email, e.dynField, c[e.dynField], e.pplField, p[e.pplField], e.dynValue)
		}
	}
	return true
}

// TestE2EThrottlingAndServerErrors runs the initial load through 429
// storms on both services (consecutive 429s; Dynamics says how long to
// wait, People does not), and an incremental pass through 5xx answers: the
// connectors wait and retry, the runs finish and say how often.
func TestE2EThrottlingAndServerErrors(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 16})
	w.seedPeople()
	w.dyn.FailNext(2, http.StatusTooManyRequests) // with Retry-After: 1
	w.ppl.FailNext(5, http.StatusTooManyRequests) // People sends no Retry-After
	r := w.pass(exitOK)
	if !regexp.MustCompile(`crm \d+ \(\d+ retried, \d+ throttled \(429\)\)`).MatchString(r.out) ||
		!regexp.MustCompile(`infobip \d+ \(\d+ retried, \d+ throttled \(429\)\)`).MatchString(r.out) {
		t.Errorf("the summary does not show the retries and 429s:\n%s", r.out)
	}
	w.checkConverged()

	// 5xx on both sides in the middle of incremental passes: retried, then
	// the edit goes through.
	c := w.dyn.Rows("contact")[0]
	w.dyn.Update("contact", str2(c["contactid"]), map[string]any{"lastname": "AfterTheStorm"})
	w.ppl.FailNext(4, http.StatusServiceUnavailable)
	w.dyn.FailNext(2, http.StatusServiceUnavailable)
	w.pass(exitOK)
	if p := w.persons()[strings.ToLower(str2(c["emailaddress1"]))]; len(p) != 1 || p[0]["lastName"] != "AfterTheStorm" {
		t.Errorf("after the storm: %v", p)
	}
	w.checkConverged()
}

// TestE2ERejectFixRetry gives a record a value its target cannot take: the
// run finishes (exit 3), `rejects` shows the mapping line, the record is
// fixed and `rejects retry` syncs it.
func TestE2ERejectFixRetry(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 6})
	w.pass(exitOK)
	c := w.dyn.Rows("contact")[1]
	p := w.persons()[strings.ToLower(str2(c["emailaddress1"]))][0]
	long := strings.Repeat("Maximiliana", 6) // 66 characters; Dynamics firstname allows 50
	if err := w.ppl.Update(personID(p), map[string]any{"firstName": long}); err != nil {
		t.Fatal(err)
	}
	r := w.pass(exitRejects)
	if !strings.Contains(r.err, "contacts.sync:25:3: error: field firstname (record "+fmt.Sprint(personID(p))+")") ||
		!strings.Contains(r.err, "firstname allows at most 50") || !strings.Contains(r.err, "25 |   firstname        <-> firstName") ||
		!strings.Contains(r.err, "1 record rejected") {
		t.Errorf("run with a reject:\n%s", r)
	}
	if strings.Contains(r.out+r.err, long) {
		t.Error("the rejected value was printed in full")
	}
	if r := w.pass(exitOK, "--allow-rejects"); r.code != exitOK {
		t.Errorf("--allow-rejects: %s", r)
	}

	r = w.synclang("rejects", w.dir)
	if r.code != exitOK || !strings.Contains(r.out, "[rejected-value]") || !strings.Contains(r.out, "   |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^") ||
		!strings.Contains(r.out, "sync contacts, infobip.customer -> crm.contact, target "+str2(c["contactid"])) || !strings.Contains(r.out, "1 rejected record.") {
		t.Errorf("rejects:\n%s", r)
	}
	// Retrying before the fix rejects it again.
	if r := w.synclang("rejects", "retry", w.dir); r.code != exitRejects || !strings.Contains(r.out, "1 rejected earlier retried") {
		t.Errorf("retry before the fix: %s", r)
	}
	if err := w.ppl.Update(personID(p), map[string]any{"firstName": "Maxi"}); err != nil {
		t.Fatal(err)
	}
	// The fixed record changed, so a pass would pick it up; retry does it
	// even without a change (here: retry right away).
	if r := w.synclang("rejects", "retry", "--sync", "contacts", w.dir); r.code != exitOK {
		t.Errorf("retry after the fix: %s", r)
	}
	if got, _ := w.dyn.Get("contact", str2(c["contactid"])); got["firstname"] != "Maxi" {
		t.Errorf("after the retry Dynamics has %v", got["firstname"])
	}
	if r := w.synclang("rejects", w.dir); r.code != exitOK || !strings.Contains(r.out, "No rejected records.") {
		t.Errorf("rejects after the retry: %s", r)
	}
	w.checkConverged()
}
