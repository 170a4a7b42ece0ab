package memory

import (
	"fmt"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/conntest"
)

func testSchema() *connector.Schema { return StandardSchema() }

func TestConformance(t *testing.T) {
	conntest.Run(t, func(t *testing.T) connector.Connector { return New(testSchema()) }, conntest.Options{
		Entity: "contact",
		NewRecord: func(i int) map[string]any {
			return map[string]any{"name": fmt.Sprint("n", i), "email": fmt.Sprintf("p%d@example.com", i), "score": i}
		},
		UpdateField:  "score",
		UpdateValue:  func(i int) any { return i + 1000 },
		LookupFields: []string{"email"},
		MissingKey:   "contact-999999",
		Invalid:      func(i int) map[string]any { return map[string]any{"name": "a name that is far too long"} },
	})
}

func TestDuplicateUniqueIsConflict(t *testing.T) {
	c := New(testSchema())
	res, err := c.Upsert(t.Context(), connector.UpsertRequest{Entity: "contact", Records: []connector.Record{
		{Fields: map[string]any{"name": "a", "email": "x@y.z"}},
		{Fields: map[string]any{"name": "b", "email": "X@Y.Z"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Results[1].Effect != connector.Failed || connector.KindOf(res.Results[1].Err) != connector.ErrorConflict {
		t.Fatalf("second record with the same email (other case): %+v", res.Results[1])
	}
}

func TestLookupByIntKey(t *testing.T) {
	s := &connector.Schema{Version: connector.SchemaVersion, Kind: "memory", Entities: []*connector.Entity{{
		Name: "person", Key: "id",
		Fields: []*connector.Field{{Name: "id", Type: connector.Int, ReadOnly: true, Lookup: true}, {Name: "name", Type: connector.String}},
	}}}
	c := New(s)
	res, err := c.Upsert(t.Context(), connector.UpsertRequest{Entity: "person", Records: []connector.Record{{Fields: map[string]any{"name": "a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	key := res.Results[0].Key
	got, err := c.Lookup(t.Context(), connector.LookupRequest{Entity: "person", Field: "id", Values: []any{key, int64(1), "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records[0]) != 1 || got.Records[0][0].Key != key || len(got.Records[1]) != 1 || len(got.Records[2]) != 0 {
		t.Fatalf("lookup by int key %q: %+v", key, got.Records)
	}
}

// TestKind: the memory kind validates, and opens an empty service of its
// schema.
func TestKind(t *testing.T) {
	k := Kind()
	if err := k.Schema.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := k.New(t.Context(), connector.Config{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Discover(t.Context())
	if err != nil || len(s.Entities) != 1 || s.Entities[0].Name != "contact" {
		t.Fatalf("Discover: %+v %v", s, err)
	}
}
