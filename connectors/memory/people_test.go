package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/conntest"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/connectors/people"
)

func TestPeopleConformance(t *testing.T) {
	clk := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	var p *People
	conntest.Run(t, func(t *testing.T) connector.Connector {
		p = NewPeople(people.StandardSchema())
		p.SetClock(func() time.Time { return clk })
		return p
	}, conntest.Options{
		Entity: "customer",
		NewRecord: func(i int) map[string]any {
			return map[string]any{"lastName": fmt.Sprint("n", i), "email": fmt.Sprintf("p%d@example.com", i), "city": "Zagreb"}
		},
		UpdateField:  "city",
		UpdateValue:  func(i int) any { return fmt.Sprint("City ", i) },
		LookupFields: []string{"email"},
		MissingKey:   "999999",
		Invalid:      func(i int) map[string]any { return map[string]any{"gender": "OTHER"} },
		// People's modifiedAt has one-second steps: move the clock on
		// between writes and the incremental read.
		Settle: func(t *testing.T) { clk = clk.Add(time.Second) },
	})
}

func upsertPeople(t *testing.T, p *People, entity string, recs ...connector.Record) []connector.WriteResult {
	t.Helper()
	res, err := p.Upsert(context.Background(), connector.UpsertRequest{Entity: entity, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return res.Results
}

// TestPeopleIdentities: email (without case), phone (in normal form) and
// externalId identify one person across customer and lead.
func TestPeopleIdentities(t *testing.T) {
	p := NewPeople(people.StandardSchema())
	res := upsertPeople(t, p, "lead", connector.Record{Fields: map[string]any{"email": "Ada@Example.com", "phone": "+44 20 7946 0958", "externalId": "L1"}})
	if res[0].Effect != connector.Created {
		t.Fatalf("create: %+v", res[0])
	}
	for _, f := range []map[string]any{{"email": "ada@example.COM"}, {"phone": "44-20-7946-0958"}, {"externalId": "L1"}} {
		res := upsertPeople(t, p, "customer", connector.Record{Fields: f})
		if res[0].Effect != connector.Failed || connector.KindOf(res[0].Err) != connector.ErrorConflict {
			t.Errorf("a customer with %v: %+v, want a conflict", f, res[0])
		}
	}
	if res := upsertPeople(t, p, "customer", connector.Record{Fields: map[string]any{"externalId": "l1"}}); res[0].Effect != connector.Created {
		t.Errorf("externalId is case-sensitive: %+v", res[0])
	}
	got, err := p.Lookup(context.Background(), connector.LookupRequest{Entity: "customer", Field: "phone", Values: []any{"(44) 20 7946 0958"}})
	if err != nil || len(got.Records[0]) != 1 || got.Records[0][0].Fields["phone"] != "442079460958" || got.Records[0][0].Fields["type"] != "LEAD" {
		t.Fatalf("lookup by phone: %+v %v", got, err)
	}
	if v := p.Normalize("customer", "phone", "+385 91 123 4567"); v != "385911234567" {
		t.Errorf("Normalize = %v", v)
	}
}

// TestPeopleViews: a customer write promotes a lead; a lead lookup marks a
// customer foreign; reads return the persons of the entity's type.
func TestPeopleViews(t *testing.T) {
	p := NewPeople(people.StandardSchema())
	ctx := context.Background()
	lead := upsertPeople(t, p, "lead", connector.Record{Fields: map[string]any{"email": "mia@example.com"}})[0].Key
	count := func(entity string) int {
		n := 0
		p.Read(ctx, connector.ReadRequest{Entity: entity}, func(b connector.Batch) error { n += len(b.Records); return nil })
		return n
	}
	if count("lead") != 1 || count("customer") != 0 {
		t.Fatalf("after a lead create: %d leads, %d customers", count("lead"), count("customer"))
	}
	if r := upsertPeople(t, p, "customer", connector.Record{Key: lead, Fields: map[string]any{"externalId": "C1"}}); r[0].Effect != connector.Updated {
		t.Fatalf("promote: %+v", r[0])
	}
	if count("lead") != 0 || count("customer") != 1 {
		t.Fatalf("after the promotion: %d leads, %d customers", count("lead"), count("customer"))
	}
	got, _ := p.Lookup(ctx, connector.LookupRequest{Entity: "lead", Field: "email", Values: []any{"MIA@example.com"}})
	if len(got.Records[0]) != 1 || got.Records[0][0].Foreign == "" {
		t.Fatalf("a lead lookup of a customer: %+v", got)
	}
	upsertPeople(t, p, "lead", connector.Record{Key: lead, Fields: map[string]any{"city": "Rome"}})
	if count("customer") != 1 {
		t.Error("a lead write demoted a customer")
	}
}

// TestDynamicsOptionSets: the memory connector refuses a value outside a
// Dynamics option set, as Dataverse does.
func TestDynamicsOptionSets(t *testing.T) {
	c := New(dynamics.StandardSchema())
	res, err := c.Upsert(context.Background(), connector.UpsertRequest{Entity: "contact", Records: []connector.Record{
		{Fields: map[string]any{"lastname": "A", "gendercode": 2}},
		{Fields: map[string]any{"lastname": "B", "gendercode": 3}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Results[0].Effect != connector.Created || res.Results[1].Effect != connector.Failed || connector.KindOf(res.Results[1].Err) != connector.ErrorInvalid {
		t.Fatalf("results: %+v", res.Results)
	}
}
