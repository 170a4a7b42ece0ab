package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/lang/plan"
)

// persons is a People stand-in with the connector's documented semantics:
// customer and lead are views of one set of persons; reads return the
// persons of the entity's type; lookups by id, externalId, email and phone
// find a person whatever its type (those identities are unique across all
// persons); writing through customer promotes a lead, writing through lead
// sets LEAD only on create.
type persons struct {
	mu     sync.Mutex
	schema *connector.Schema
	rows   map[int64]*person
	seq    int64
	nextID int64
	now    func() time.Time
}

type person struct {
	typ      string
	fields   map[string]any
	seq      int64
	modified time.Time
}

func newPersons(now func() time.Time) *persons {
	return &persons{schema: peopleSchema(), rows: map[int64]*person{}, now: now}
}

func personType(entity string) string {
	if entity == "lead" {
		return "LEAD"
	}
	return "CUSTOMER"
}

func (p *persons) Discover(context.Context) (*connector.Schema, error) { return p.schema.Clone(), nil }
func (p *persons) Close() error                                        { return nil }

func (p *persons) record(id int64, r *person) connector.Record {
	f := map[string]any{"id": id, "type": r.typ, "modifiedAt": r.modified}
	for k, v := range r.fields {
		f[k] = v
	}
	return connector.Record{Key: strconv.FormatInt(id, 10), Fields: f, Modified: r.modified}
}

func (p *persons) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	p.mu.Lock()
	since := int64(-1)
	if !req.Since.IsZero() {
		since, _ = strconv.ParseInt(req.Since.Token, 10, 64)
	}
	var out []connector.Record
	var seqs []int64
	for id, r := range p.rows {
		if r.typ == personType(req.Entity) && r.seq > since {
			out = append(out, p.record(id, r))
			seqs = append(seqs, r.seq)
		}
	}
	high := p.seq
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return emit(connector.Batch{Records: out, Next: connector.Cursor{Token: strconv.FormatInt(high, 10)}})
}

func (p *persons) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}
	for i, v := range req.Values {
		for id, r := range p.rows {
			var have any = r.fields[req.Field]
			if req.Field == "id" {
				have = strconv.FormatInt(id, 10)
			}
			if hs, ok := have.(string); ok && strings.EqualFold(hs, keyString(v)) {
				rec := p.record(id, r)
				if req.Entity == "lead" && r.typ == "CUSTOMER" {
					rec.Foreign = fmt.Sprintf("a CUSTOMER (externalId %v), which a lead never writes over", r.fields["externalId"])
				}
				res.Records[i] = append(res.Records[i], rec)
			}
		}
	}
	return res, nil
}

func (p *persons) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Records))}
	for i, rec := range req.Records {
		for _, u := range []string{"email", "externalId"} {
			if v, ok := rec.Fields[u].(string); ok {
				for id, r := range p.rows {
					if other, _ := r.fields[u].(string); strings.EqualFold(other, v) && strconv.FormatInt(id, 10) != rec.Key {
						res.Results[i] = connector.WriteResult{Key: rec.Key, Effect: connector.Failed, Err: &connector.Error{Kind: connector.ErrorConflict,
							Service: "people", Message: fmt.Sprintf("Destination(%s) %s already exists.", u, v)}}
					}
				}
			}
		}
		if res.Results[i].Effect == connector.Failed {
			continue
		}
		p.seq++
		var id int64
		var r *person
		if rec.Key == "" {
			p.nextID++
			id = p.nextID
			r = &person{typ: personType(req.Entity), fields: map[string]any{}}
			p.rows[id] = r
			res.Results[i] = connector.WriteResult{Key: strconv.FormatInt(id, 10), Effect: connector.Created}
		} else {
			id, _ = strconv.ParseInt(rec.Key, 10, 64)
			r = p.rows[id]
			if r == nil {
				res.Results[i] = connector.WriteResult{Key: rec.Key, Effect: connector.Failed, Err: &connector.Error{Kind: connector.ErrorNotFound, Message: "no person " + rec.Key}}
				continue
			}
			if req.Entity == "customer" {
				r.typ = "CUSTOMER" // promotes a lead
			}
			res.Results[i] = connector.WriteResult{Key: rec.Key, Effect: connector.Updated}
		}
		for k, v := range rec.Fields {
			if v == nil {
				delete(r.fields, k)
			} else {
				r.fields[k] = v
			}
		}
		r.seq, r.modified = p.seq, p.now()
	}
	return res, nil
}

func (p *persons) all() []connector.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []connector.Record
	for id, r := range p.rows {
		out = append(out, p.record(id, r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// leadsPlan adds examples' leads sync (crm.lead -> infobip.lead) to the
// contacts plan; leadWhere sets its where filter.
func leadsPlan(leadWhere bool) *plan.Plan {
	p := contactsPlan(spec{})
	crm := dynamics.StandardSchema()
	lead, _ := crm.Entity("lead")
	ppl := peopleSchema()
	plead, _ := ppl.Entity("lead")
	s := &plan.Sync{Name: "leads", Range: rng(1, 1, 10), Direction: plan.LeftToRight, Conflict: plan.ConflictNewest,
		Left: &plan.Side{Connection: "crm", Kind: "dynamics", Entity: "lead", Key: "leadid", Modified: "modifiedon", Incremental: true, Deletes: true,
			Fields: pick(lead, "leadid", "firstname", "lastname", "emailaddress1", "companyname", "statecode", "modifiedon")},
		Right: &plan.Side{Connection: "infobip", Kind: "people", Entity: "lead", Key: "id", Modified: "modifiedAt", Incremental: true,
			Fields: pick(plead, "id", "externalId", "firstName", "lastName", "email", "modifiedAt")},
		Link:  &plan.Link{Left: "leadid", Right: "externalId", Owner: plan.Left, Range: rng(3, 3, 20)},
		Match: []*plan.Match{{Left: x("lower(emailaddress1)", 4, 9), Right: x("lower(email)", 4, 33), LeftField: "emailaddress1", RightField: "email", Range: rng(4, 3, 40)}},
	}
	f := &plan.Flow{From: plan.Left, To: plan.Right, Delete: plan.DeleteIgnore, Maps: []*plan.FieldMap{
		{Target: "email", Expr: x("emailaddress1", 6, 3), Range: rng(6, 3, 20)},
		{Target: "firstName", Expr: x("firstname", 5, 3), Range: rng(5, 3, 20)},
		{Target: "lastName", Expr: x("lastname", 7, 3), Range: rng(7, 3, 20)},
	}}
	if leadWhere {
		f.Where = x("statecode == 0", 8, 13)
	}
	s.Flows = []*plan.Flow{f}
	p.Syncs = append([]*plan.Sync{s}, p.Syncs...)
	return p
}

func TestLeadQualificationKeepsOnePerson(t *testing.T) {
	t.Parallel()
	for _, where := range []bool{true, false} {
		t.Run(fmt.Sprintf("lead where=%v", where), func(t *testing.T) {
			h := newHarness(t, spec{})
			ppl := newPersons(h.clk.Now)
			h.conns["infobip"] = ppl
			h.plan = leadsPlan(where)
			ctx := context.Background()

			leadKeys := upsert(t, h.crm, "lead", connector.Record{Fields: F{"firstname": "Ana", "lastname": "Horvat", "emailaddress1": "ana@example.com", "statecode": 0}},
				connector.Record{Fields: F{"firstname": "Luka", "lastname": "Novak", "emailaddress1": "luka@example.com", "statecode": 0}})
			h.run()
			people := ppl.all()
			if len(people) != 2 || people[0].Fields["type"] != "LEAD" || people[0].Fields["externalId"] != leadKeys[0] {
				t.Fatalf("after the lead sync: %+v", people)
			}

			// Dynamics qualifies Ana's lead: a contact with her email, the
			// lead's state Qualified.
			h.clk.Advance(time.Minute)
			contactKeys := upsert(t, h.crm, "contact", connector.Record{Fields: F{"firstname": "Ana", "lastname": "Horvat-Kovač",
				"emailaddress1": "ana@example.com", "statecode": 0, "jobtitle": "CTO"}})
			upsert(t, h.crm, "lead", connector.Record{Key: leadKeys[0], Fields: F{"statecode": 1}})

			rep := h.run()
			leads, contacts := rep.Syncs[0].Flows[0], rep.Syncs[1].Flows[0]
			if leads.Created+leads.Updated+leads.WrittenBack != 0 {
				t.Errorf("the lead sync wrote after the qualification: %+v", leads)
			}
			if contacts.LinkedByMatch != 1 || contacts.Created != 0 || contacts.Rejected != 0 {
				t.Errorf("the contact sync did not pair with the lead's person: %+v", contacts)
			}
			people = ppl.all()
			if len(people) != 2 {
				t.Fatalf("%d persons, want 2: %+v", len(people), people)
			}
			ana := people[0]
			if ana.Fields["type"] != "CUSTOMER" || ana.Fields["externalId"] != contactKeys[0] || ana.Fields["lastName"] != "Horvat-Kovač" ||
				ana.Fields["custom.JobTitle"] != "CTO" {
				t.Errorf("Ana's person = %v", ana.Fields)
			}
			if people[1].Fields["type"] != "LEAD" {
				t.Errorf("Luka's lead person = %v", people[1].Fields)
			}
			// And it stays that way.
			for range 2 {
				if w := writes(h.run()); w != 0 {
					t.Errorf("a later pass wrote %d", w)
				}
			}
			// The qualified lead changing again does not flip the person back.
			h.clk.Advance(time.Minute)
			upsert(t, h.crm, "lead", connector.Record{Key: leadKeys[0], Fields: F{"statuscode": 3}})
			h.run()
			if p := ppl.all()[0]; p.Fields["type"] != "CUSTOMER" || p.Fields["externalId"] != contactKeys[0] {
				t.Errorf("after the lead changed again: %v", p.Fields)
			}
			if n, _ := h.store.LinkCount(ctx, "contacts"); n != 1 {
				t.Errorf("contacts links = %d", n)
			}
			// Even an edit of a mapped field of the qualified lead: filtered
			// out by where, or reported without a write, never written over
			// the contact's person.
			h.clk.Advance(time.Minute)
			upsert(t, h.crm, "lead", connector.Record{Key: leadKeys[0], Fields: F{"lastname": "Old-Lead-Name"}})
			rep = h.run()
			leads = rep.Syncs[0].Flows[0]
			if where && leads.Skipped != 1 || !where && (leads.Rejected != 1 || !strings.Contains(leads.Rejects[0].Error(), "which is now a CUSTOMER (externalId "+contactKeys[0])) {
				t.Errorf("lead sync after editing the qualified lead: %+v %v", leads, leads.Rejects)
			}
			if p := ppl.all()[0]; p.Fields["type"] != "CUSTOMER" || p.Fields["externalId"] != contactKeys[0] || p.Fields["lastName"] != "Horvat-Kovač" {
				t.Errorf("after the qualified lead was edited: %v", p.Fields)
			}
			if w := writes(h.run()); w != 0 {
				t.Errorf("a later pass wrote %d", w)
			}
		})
	}
}

// TestLeadNeverOverwritesCustomer: a lead whose email is a customer's finds
// the customer's person; the lead sync rejects it instead of writing the
// lead over the customer (or failing to create a second person), and the
// contacts sync keeps the person as it was.
func TestLeadNeverOverwritesCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	ppl := newPersons(h.clk.Now)
	h.conns["infobip"] = ppl
	h.plan = leadsPlan(true)
	ctx := context.Background()

	contactKeys := upsert(t, h.crm, "contact", connector.Record{Fields: F{"firstname": "Ana", "lastname": "Horvat", "emailaddress1": "ana@example.com", "statecode": 0}})
	h.run()
	h.clk.Advance(time.Minute)
	leadKeys := upsert(t, h.crm, "lead", connector.Record{Fields: F{"firstname": "Ana", "lastname": "Lead-Name", "emailaddress1": "ANA@example.com", "statecode": 0}},
		connector.Record{Fields: F{"firstname": "Luka", "lastname": "Novak", "emailaddress1": "luka@example.com", "statecode": 0}})
	rep := h.run()
	leads, contacts := rep.Syncs[0].Flows[0], rep.Syncs[1]
	if leads.Created != 1 || leads.Rejected != 1 || leads.LinkedByMatch != 0 {
		t.Fatalf("lead sync: %+v", leads)
	}
	rej := leads.Rejects[0]
	if rej.Key != leadKeys[0] || rej.Kind != RejectForeign || !strings.Contains(rej.Error(), "but it is a CUSTOMER (externalId "+contactKeys[0]+")") {
		t.Errorf("reject: %v (%s)", rej, rej.Kind)
	}
	if n, _ := h.store.LinkCount(ctx, "leads"); n != 1 {
		t.Errorf("leads links = %d, want 1 (Luka only)", n)
	}
	for _, f := range contacts.Flows {
		if f.Rejected != 0 || f.Created+f.Updated+f.WrittenBack != 0 {
			t.Errorf("contacts %s: %+v", f.Flow, f)
		}
	}
	people := ppl.all()
	if len(people) != 2 {
		t.Fatalf("%d persons, want 2: %+v", len(people), people)
	}
	if ana := people[0]; ana.Fields["type"] != "CUSTOMER" || ana.Fields["externalId"] != contactKeys[0] || ana.Fields["lastName"] != "Horvat" {
		t.Errorf("Ana's person = %v", ana.Fields)
	}
	// The reject stays until the lead changes; the next pass is quiet.
	rep = h.run()
	if w := writes(rep); w != 0 || rep.Syncs[0].Flows[0].Rejected != 0 {
		t.Errorf("the next pass: %d writes, %+v", w, rep.Syncs[0].Flows[0])
	}
}
