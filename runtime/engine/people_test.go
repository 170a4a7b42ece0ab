package engine

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/connectors/people"
	"github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/runtime/state"
)

// TestExamplePlanAgainstPeopleEmulator runs the examples' compiled plan with
// Dynamics in memory and the real People connector over HTTP against its
// emulator (with its rate limits, scaled up): an initial load both ways,
// the echo-free pass after it, and the request count of a pass without
// changes.
func TestExamplePlanAgainstPeopleEmulator(t *testing.T) {
	t.Parallel()
	clk := newClock()
	ctx := context.Background()
	emu, ppl, crm, st := peopleWorld(t, clk, nil)
	p := loadPlan(t, "examples/plan.json")
	env := Env{Connectors: map[string]connector.Connector{"crm": crm, "infobip": ppl}, Store: st, Now: clk.Now}
	run := func() *Report {
		t.Helper()
		clk.Advance(2 * time.Second) // People's modifiedAt has one-second steps
		rep, err := Run(ctx, p, env, Options{BatchSize: 50})
		checkBalanced(t, rep)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	var contacts []connector.Record
	for i := range 120 {
		c := connector.Record{Fields: F{"firstname": "F" + string(rune('a'+i%26)), "lastname": "L", "emailaddress1": "p" + strconv.Itoa(i) + "@example.com",
			"statecode": 0, "gendercode": int64(1 + i%2), "jobtitle": "Engineer"}}
		contacts = append(contacts, c)
	}
	upsert(t, crm, "contact", contacts...)
	upsert(t, crm, "lead", connector.Record{Fields: F{"firstname": "Mia", "lastname": "Rossi", "emailaddress1": "mia@example.com", "statecode": 0}})
	res, err := ppl.Upsert(ctx, connector.UpsertRequest{Entity: "customer", Records: []connector.Record{
		{Fields: F{"firstName": "Fa", "lastName": "L", "email": "P0@example.com", "city": "Zagreb"}},
		{Fields: F{"firstName": "Yuki", "lastName": "Tanaka", "email": "yuki@example.com", "gender": "FEMALE"}},
	}})
	if err != nil || res.Count(connector.Created) != 2 {
		t.Fatalf("seeding People: %v %+v", err, res)
	}

	rep := run()
	if rep.Rejected() != 0 {
		for _, s := range rep.Syncs {
			for _, f := range s.Flows {
				t.Errorf("%s %s rejects: %v", s.Sync, f.Flow, f.Rejects)
			}
		}
	}
	c := rep.Syncs[0].Flows[0]
	if c.Created != 119 || c.LinkedByMatch != 1 {
		t.Errorf("contacts left-to-right: %+v", c)
	}
	for i := 0; i < 3 && writes(run()) != 0; i++ {
	}
	if w := writes(run()); w != 0 {
		t.Fatalf("passes after the load still write")
	}
	before := emu.Requests()
	rep = run()
	perSync := map[string]int64{}
	for _, s := range rep.Syncs {
		perSync[s.Sync] = s.Requests["infobip"].Requests + s.Requests["crm"].Requests
	}
	t.Logf("a pass without changes: %d People requests; per sync (both services): %v", emu.Requests()-before, perSync)
	for name, n := range perSync {
		if n > 2 {
			t.Errorf("sync %s sent %d requests in a pass without changes, want at most 2", name, n)
		}
	}
	// Everything linked, one person per email.
	all, err := st.LinkCount(ctx, "contacts")
	if err != nil || all != 121 {
		t.Errorf("contacts links = %d, %v", all, err)
	}
}

// countGETs counts the person list and by-id requests (GET
// /people/2/persons) that reach the People emulator.
type countGETs struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countGETs) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.Path == "/people/2/persons" {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

// TestPopulatedTwoWayLoadReadsPeopleOnce: the first run of the contacts
// sync with both sides populated (persons sharing a contact's email,
// People-only persons, some with no email) reads People's persons once,
// a page per 1000 (issue 12, goal 2): the slower side goes first, so no
// person found by a match is read again by id and no person the run wrote
// is read back in the same run. Nothing is duplicated, and the passes
// after write nothing.
func TestPopulatedTwoWayLoadReadsPeopleOnce(t *testing.T) {
	clk := newClock()
	ctx := context.Background()
	var gets *countGETs
	emu, ppl, crm, st := peopleWorld(t, clk, func(base http.RoundTripper) http.RoundTripper {
		gets = &countGETs{base: base}
		return gets
	})
	// The memory Dynamics declares Dynamics' read rate (pages of 5000, 20
	// a second), as the real connector does.
	env := Env{Connectors: map[string]connector.Connector{"crm": rated{crm, 100_000}, "infobip": ppl}, Store: st, Now: clk.Now}
	p := loadPlan(t, "examples/plan.json")

	const contacts, shared, only = 300, 120, 180
	var recs []connector.Record
	for i := range contacts {
		recs = append(recs, connector.Record{Fields: F{"firstname": "C", "lastname": "L" + strconv.Itoa(i),
			"emailaddress1": "c" + strconv.Itoa(i) + "@example.com", "statecode": 0, "jobtitle": "Engineer"}})
	}
	upsert(t, crm, "contact", recs...)
	for i := range shared {
		emu.Insert(map[string]any{"type": "CUSTOMER", "firstName": "C", "lastName": "L" + strconv.Itoa(i),
			"contactInformation": map[string]any{"email": []any{map[string]any{"address": "c" + strconv.Itoa(i) + "@example.com"}}}})
	}
	for i := range only {
		ci := map[string]any{"phone": []any{map[string]any{"number": "38598" + strconv.Itoa(1000000+i)}}}
		if i%10 != 0 {
			ci["email"] = []any{map[string]any{"address": "only" + strconv.Itoa(i) + "@example.org"}}
		}
		emu.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Only", "lastName": "P" + strconv.Itoa(i), "contactInformation": ci})
	}
	run := func() *Report {
		t.Helper()
		clk.Advance(3 * time.Second)
		rep, err := Run(ctx, p, env, Options{Sync: "contacts", BatchSize: 50})
		checkBalanced(t, rep)
		if err != nil {
			t.Fatal(err)
		}
		if n := rep.Rejected(); n != 0 {
			t.Fatalf("%d rejects: %v %v", n, rep.Syncs[0].Flows[0].Rejects, rep.Syncs[0].Flows[1].Rejects)
		}
		return rep
	}
	gets.n.Store(0)
	rep := run()
	lr, rl := rep.Syncs[0].Flows[0], rep.Syncs[0].Flows[1]
	if lr.Created != contacts-shared || rl.Created != only || lr.LinkedByMatch+rl.LinkedByMatch != shared {
		t.Errorf("created %d persons and %d contacts, paired %d by match; want %d, %d, %d", lr.Created, rl.Created,
			lr.LinkedByMatch+rl.LinkedByMatch, contacts-shared, only, shared)
	}
	// One page holds every person; one more request of slack.
	if n := gets.n.Load(); n > 2 {
		t.Errorf("the first run sent %d person GETs for %d persons, want at most 2 (the list read once)", n, shared+only)
	}
	for i := 0; i < 3 && writes(run()) != 0; i++ {
	}
	if w := writes(run()); w != 0 {
		t.Errorf("passes after the load still write (%d)", w)
	}
	if n := len(crm.Records("contact")); n != contacts+only {
		t.Errorf("%d contacts afterwards, want %d", n, contacts+only)
	}
	if n := emu.Len(); n != contacts+only {
		t.Errorf("%d persons afterwards, want %d", n, contacts+only)
	}
}

// peopleWorld is what the tests of the examples' plan against the People
// emulator run on: the emulator (rate limits scaled up 50 times, the
// examples' custom.JobTitle defined), the People connector over HTTP to
// it (through wrap's transport, when wrap is set), Dynamics in memory and
// a state file, each closed when the test ends.
func peopleWorld(t *testing.T, clk *clock, wrap func(http.RoundTripper) http.RoundTripper) (*emulator.Emulator, connector.Connector, *memory.Conn, state.Store) {
	t.Helper()
	ctx := context.Background()
	emu, srv := emulator.NewTestServer(t, emulator.Options{TimeScale: 50, Now: clk.Now})
	if err := emu.DefineAttribute("JobTitle", "STRING"); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	if wrap != nil {
		client = &http.Client{Transport: wrap(client.Transport)}
	}
	ppl, err := people.New(ctx, connector.Config{Name: "infobip", Settings: emu.Settings(srv.URL), RateScale: 50, HTTPClient: client, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ppl.Close() })
	crm := memory.New(dynamics.StandardSchema())
	crm.SetClock(clk.Now)
	st, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.db"), state.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return emu, ppl, crm, st
}
