package engine

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
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
	emu, srv := emulator.NewTestServer(t, emulator.Options{TimeScale: 50, Now: clk.Now})
	ctx := context.Background()
	// The example maps custom.JobTitle: define it in the account.
	req, _ := http.NewRequest("POST", srv.URL+"/people/2/customAttributes", strings.NewReader(`{"name":"JobTitle","dataType":"STRING"}`))
	req.Header.Set("Authorization", "App "+emu.APIKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("creating the custom attribute: %v %v", err, resp)
	}
	resp.Body.Close()
	ppl, err := people.New(ctx, connector.Config{Name: "infobip", Settings: emu.Settings(srv.URL), RateScale: 50, HTTPClient: srv.Client(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ppl.Close()
	crm := memory.New(dynamics.StandardSchema())
	crm.SetClock(clk.Now)
	st, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.db"), state.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
