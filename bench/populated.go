package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
)

// The populated load is the two-way initial load users run when they
// connect two accounts that already hold their customers (issue 12, goal
// 2): Dynamics has C active contacts; People has P persons, S of them
// sharing a contact's email (the first flow pairs them by the match key
// and writes the contact's ID into their externalId) and P-S People-only
// (the reverse flow creates a contact for each and writes its ID back),
// some of them with no email and some with neither email nor phone. The
// proportions are the issue's: 18,000 contacts, 20,000 persons of which
// 13,000 People-only.
//
// Its bound counts the requests the connectors must send (per endpoint, at
// 1000 records per request, the most each People endpoint takes) and lets
// the endpoints of one flow run in parallel and the two flows one after
// the other (the second reads what the first wrote):
//
//	first flow, People:  match: ⌈C/1000⌉ by externalId + ⌈C/1000⌉ by email
//	                     + ⌈(C-S)/1000⌉ to learn the new ids, 15/s
//	                     batch create: ⌈(C-S)/1000⌉, 5/s
//	                     batch update: ⌈S/1000⌉ (the paired persons' externalId), 5/s
//	                     list: ⌈S/1000⌉ to read the persons the match found
//	                     (match answers ids only), 5/s
//	reverse flow, People: list: ⌈(P + C-S)/1000⌉ pages, 5/s
//	                     batch update: ⌈(P-S)/1000⌉ (the new contacts' IDs), 5/s
//
// Dynamics (6000 requests per 5 minutes) is far from bounding either flow:
// a read page holds 5000 rows, a CreateMultiple 1000. The People connector
// reads persons by id 200 to a request, not 1000 (the ids go in the URL's
// filter, and 1000 of them make a 27 KB URL, past what common gateways
// take); the bound counts 1000.
//
// The engine does not run that plan: in a two-way sync's first run it reads
// the side slower to read first (runtime/engine's slowerSideFirst), here
// People. The pass is measured against the bound above, as the issue
// defines it, and against the bound of the plan run, counted the same way:
//
//	reverse flow, first, People: list: ⌈P/1000⌉ pages, 5/s
//	                     batch update: ⌈P/1000⌉ (every person's externalId:
//	                     S paired, P-S created), 5/s
//	first flow, second, People: match: ⌈(C-S)/1000⌉ by externalId and by
//	                     email + ⌈(C-S)/1000⌉ to learn the new ids, 15/s
//	                     batch create: ⌈(C-S)/1000⌉, 5/s
//
// That plan leaves to the pass after it the reading back of what the first
// run wrote into People (P + C-S persons, where the plan reads S in
// the pass itself and P-S in the next): the report shows that pass's
// requests too.

// populatedShape is the data of a populated load.
type populatedShape struct {
	Contacts   int // C
	Shared     int // S: persons sharing a contact's email
	PeopleOnly int // P-S
}

func shapeFor(contacts int) populatedShape {
	return populatedShape{Contacts: contacts, Shared: contacts * 7 / 18, PeopleOnly: contacts * 13 / 18}
}

// Persons is P.
func (s populatedShape) Persons() int { return s.Shared + s.PeopleOnly }

// PopulatedResult is a populated two-way initial load.
type PopulatedResult struct {
	Shape populatedShape
	Pass  *engine.SyncReport
	Sent  map[string]map[string]int64
	// Bound is the least time the limits allow for each flow (in plan
	// order) with the flows left to right first, as the issue defines it,
	// and the terms that set it; RunBound and RunTerms the same for the
	// plan the engine ran (SlowerFirst: right to left first).
	Bound       [2]time.Duration
	Terms       [2][]populatedTerm
	SlowerFirst bool
	RunBound    [2]time.Duration
	RunTerms    [2][]populatedTerm
	Endpoints   []EndpointCount
	// Contacts and Persons count the records on each side afterwards;
	// QuietWrites the records a pass right after wrote (goal 0), and
	// QuietSent and QuietDuration its requests and time.
	Contacts, Persons int
	QuietWrites       int
	QuietSent         []EndpointCount
	QuietDuration     time.Duration
	CPU               float64
}

// populatedTerm is one endpoint's least time in a flow.
type populatedTerm struct {
	Endpoint string
	Requests int
	Rate     float64 // requests/s, scaled
}

func (t populatedTerm) least() time.Duration {
	return time.Duration(float64(t.Requests) / t.Rate * float64(time.Second))
}

// Ratio is the bound's time over the measured time of the pass.
func (r *PopulatedResult) Ratio() float64 {
	return (r.Bound[0] + r.Bound[1]).Seconds() / r.Pass.Duration.Seconds()
}

// RunRatio is the bound of the plan run over the measured time.
func (r *PopulatedResult) RunRatio() float64 {
	return (r.RunBound[0] + r.RunBound[1]).Seconds() / r.Pass.Duration.Seconds()
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// measurePopulated runs the contacts sync's initial load with both sides
// populated, then a quiet pass, and checks that nothing was duplicated.
func measurePopulated(ctx context.Context, o Options, p *plan.Plan, res *Results) error {
	s, err := twoWaySync(p)
	if err != nil {
		return err
	}
	shape := shapeFor(o.Populated)
	progress(o, "populated load: %d Dynamics contacts, %d People persons (%d share a contact's email, %d People-only)",
		shape.Contacts, shape.Persons(), shape.Shared, shape.PeopleOnly)
	svc, err := startInProcess(serviceOptions{Contacts: shape.Contacts, Limits: o.Limits, Scale: o.Scale})
	if err != nil {
		return err
	}
	defer svc.close()
	seedPeople(svc, shape)

	dir := o.Dir + "/populated"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pr, err := openProject(ctx, p, svc, o.Scale, dir, o.Logger)
	if err != nil {
		return err
	}
	defer pr.close()
	pr.progress = func(format string, args ...any) { progress(o, format, args...) }

	cpu := cpuSeconds(0)
	rep, sent, err := pr.run(ctx, s.Name, o.Engine)
	if err != nil {
		return fmt.Errorf("populated load: %w", err)
	}
	r := &PopulatedResult{Shape: shape, Pass: rep.Syncs[0], Sent: sent, CPU: cpuSeconds(0) - cpu}
	r.Endpoints = endpointCounts(pr, sent, o.Scale)
	r.Terms, r.Bound = populatedBound(pr, s, shape, o.Scale, false)
	// The reverse flow read P persons if it went first, P + C-S if second.
	r.SlowerFirst = r.Pass.Flows[1].Read == shape.Persons()
	r.RunTerms, r.RunBound = populatedBound(pr, s, shape, o.Scale, r.SlowerFirst)
	res.Populated = r
	if err := checkPopulated(r); err != nil {
		return err
	}
	r.Contacts = len(svc.dyn.Rows("contact"))
	r.Persons = svc.ppl.Len()
	if want := shape.Contacts + shape.PeopleOnly; r.Contacts != want {
		return fmt.Errorf("populated load: %d contacts afterwards, want %d (duplicates or losses)", r.Contacts, want)
	}
	if want := shape.Persons() + shape.Contacts - shape.Shared; r.Persons != want {
		return fmt.Errorf("populated load: %d persons afterwards, want %d (duplicates or losses)", r.Persons, want)
	}
	// People's cursor keeps the load's last seconds open (see
	// passQuietFirst); wait them out, then a pass must write nothing.
	time.Sleep(time.Duration(float64(2*time.Second) / o.Scale))
	progress(o, "populated load: a pass without changes")
	quiet, qsent, err := pr.run(ctx, s.Name, o.Engine)
	if err != nil {
		return fmt.Errorf("populated load, quiet pass: %w", err)
	}
	r.QuietSent, r.QuietDuration = endpointCounts(pr, qsent, o.Scale), quiet.Syncs[0].Duration
	for _, f := range quiet.Syncs[0].Flows {
		r.QuietWrites += f.Created + f.Updated + f.WrittenBack
	}
	progress(o, "  populated: pass %.1f s, bound %.1f s, ratio %.3f", r.Pass.Duration.Seconds(), (r.Bound[0] + r.Bound[1]).Seconds(), r.Ratio())
	return nil
}

// seedPeople adds the persons of shape to the People emulator: for the
// first Shared contacts a person with the same name, email and phone and no
// externalId, then People-only persons with addresses and numbers no
// contact uses; every tenth People-only person has no email, and every
// hundredth neither email nor phone.
func seedPeople(svc *services, shape populatedShape) {
	person := func(first, last, city, email, phone string) map[string]any {
		m := map[string]any{"type": "CUSTOMER", "firstName": first, "lastName": last, "city": city}
		ci := map[string]any{}
		if email != "" {
			ci["email"] = []map[string]any{{"address": email}}
		}
		if phone != "" {
			ci["phone"] = []map[string]any{{"number": phone}}
		}
		if len(ci) > 0 {
			m["contactInformation"] = ci
		}
		return m
	}
	str := func(v any) string { s, _ := v.(string); return s }
	rows := svc.dyn.Rows("contact")
	for _, c := range rows[:shape.Shared] {
		svc.ppl.Insert(person(str(c["firstname"]), str(c["lastname"]), str(c["address1_city"]), str(c["emailaddress1"]),
			strings.TrimPrefix(str(c["mobilephone"]), "+")))
	}
	for i := range shape.PeopleOnly {
		email, phone := fmt.Sprintf("people.only.%d@example.org", i), fmt.Sprintf("38598%07d", i) // Croatian mobile range
		if i%10 == 0 {
			email = ""
		}
		if i%100 == 0 {
			phone = ""
		}
		svc.ppl.Insert(person("Only", fmt.Sprintf("Person%d", i), "Split", email, phone))
	}
}

// checkPopulated checks the load did what the data asks: the first flow
// created the contacts People lacked and paired the rest by email, the
// reverse flow created a contact for each People-only person, and nothing
// was rejected.
// (Which flow pairs the shared ones depends on which ran first.)
func checkPopulated(r *PopulatedResult) error {
	f, b := r.Pass.Flows[0], r.Pass.Flows[1]
	sh := r.Shape
	if f.Created != sh.Contacts-sh.Shared || f.Rejected != 0 {
		return fmt.Errorf("populated load, first flow: created %d, rejected %d; want %d, 0 (first reject: %v)",
			f.Created, f.Rejected, sh.Contacts-sh.Shared, firstReject(f))
	}
	if b.Created != sh.PeopleOnly || b.Rejected != 0 {
		return fmt.Errorf("populated load, reverse flow: created %d, rejected %d; want %d, 0 (first reject: %v)",
			b.Created, b.Rejected, sh.PeopleOnly, firstReject(b))
	}
	if n := f.LinkedByMatch + b.LinkedByMatch; n != sh.Shared {
		return fmt.Errorf("populated load: %d pairs found by match, want %d", n, sh.Shared)
	}
	return nil
}

// populatedBound computes each flow's least time (in plan order) from the
// requests it must send per endpoint and the endpoints' documented rates,
// for the flows left to right first or, slowerFirst, right to left first
// (see the comment at the top of this file).
func populatedBound(pr *project, s *plan.Sync, sh populatedShape, scale float64, slowerFirst bool) (terms [2][]populatedTerm, bound [2]time.Duration) {
	lim := pr.limits()[s.Right.Connection]
	rate := func(scope string) float64 {
		for _, l := range lim {
			if l.Scope == scope && l.Per > 0 {
				return float64(l.Requests) / l.Per.Seconds() * scale
			}
		}
		return math.Inf(1)
	}
	lookups := len(s.Match)
	if s.Link != nil {
		lookups++
	}
	c, news := sh.Contacts, sh.Contacts-sh.Shared
	add := func(flow int, ep string, n int) {
		terms[flow] = append(terms[flow], populatedTerm{Endpoint: ep, Requests: n, Rate: rate(ep)})
	}
	if slowerFirst {
		add(1, "GET /people/2/persons", ceilDiv(sh.Persons(), peopleBatch))
		add(1, "PATCH /people/2/persons/batch", ceilDiv(sh.Persons(), peopleBatch))
		add(0, "POST /people/2/persons/match", (lookups+1)*ceilDiv(news, peopleBatch))
		add(0, "POST /people/2/persons/batch", ceilDiv(news, peopleBatch))
	} else {
		add(0, "POST /people/2/persons/match", lookups*ceilDiv(c, peopleBatch)+ceilDiv(news, peopleBatch))
		add(0, "POST /people/2/persons/batch", ceilDiv(news, peopleBatch))
		add(0, "PATCH /people/2/persons/batch", ceilDiv(sh.Shared, peopleBatch))
		add(0, "GET /people/2/persons", ceilDiv(sh.Shared, peopleBatch))
		add(1, "GET /people/2/persons", ceilDiv(sh.Persons()+news, peopleBatch))
		add(1, "PATCH /people/2/persons/batch", ceilDiv(sh.PeopleOnly, peopleBatch))
	}
	for f := range terms {
		for _, t := range terms[f] {
			bound[f] = max(bound[f], t.least())
		}
	}
	return terms, bound
}

// twoWaySync is the project's first two-way sync, which the populated
// load and the growth measurement run.
func twoWaySync(p *plan.Plan) (*plan.Sync, error) {
	for _, s := range p.Syncs {
		if s.Direction == plan.Both {
			return s, nil
		}
	}
	return nil, fmt.Errorf("the project has no two-way sync")
}
