package people

import (
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people/emulator"
)

// What Normalize says People stores is what a read returns after Upsert
// wrote the value.
func TestNormalizeIsWhatReadsReturn(t *testing.T) {
	h := newHarness(t, emulator.Options{Limits: "off"}, tuning{})
	written := map[string]any{
		"firstName": "Ana",
		"lastName":  "Horvat",
		"city":      "",
		"email":     "  ana@example.com ",
		"phone":     "+385 (91) 234-5678",
		"phones":    []any{"+385 91 234 5678", " ", "+44 20 7946 0958", "442079460958"},
		"tags":      []any{" VIP", "VIP", "Newsletter"},
	}
	created, err := h.c.Upsert(t.Context(), connector.UpsertRequest{Entity: EntityCustomer, Records: []connector.Record{
		{Fields: map[string]any{"firstName": "x", "lastName": "y", "city": "Zagreb", "email": "old@example.com", "externalId": "ext-1"}},
	}})
	if err != nil || created.Results[0].Op != connector.Created {
		t.Fatalf("create: %v %+v", err, created)
	}
	key := created.Results[0].Key
	res, err := h.c.Upsert(t.Context(), connector.UpsertRequest{Entity: EntityCustomer, Records: []connector.Record{{Key: key, Fields: written}}})
	if err != nil || res.Results[0].Op == connector.Failed {
		t.Fatalf("update: %v %+v", err, res)
	}
	found, err := h.c.Lookup(t.Context(), connector.LookupRequest{Entity: EntityCustomer, Field: "id", Values: []any{key}})
	if err != nil || len(found.Records[0]) != 1 {
		t.Fatalf("lookup: %v %+v", err, found)
	}
	read := found.Records[0][0].Fields
	for field, v := range written {
		if want, got := h.c.Normalize(EntityCustomer, field, v), read[field]; !connector.Equal(want, got) {
			t.Errorf("%s: wrote %#v, Normalize gives %#v, read %#v", field, v, want, got)
		}
	}
	// The primary phone comes first in the list the connector wrote.
	if got := read["phones"]; !connector.Equal(got, []any{"385912345678", "442079460958"}) {
		t.Errorf("phones read %#v", got)
	}
}

func TestNormalizeLeavesOtherValues(t *testing.T) {
	c := &Conn{}
	for _, tc := range []struct {
		field string
		in    any
		want  any
	}{
		{"phone", "", nil},
		{"phone", nil, nil},
		{"email", " ", nil},
		{"emails", []any{"A@x.com", "a@x.com"}, []any{"A@x.com"}},
		{"tags", []any{}, nil},
		{"lastName", "", nil},
		{"lastName", " Horvat ", " Horvat "},
		{"externalId", "", ""},
		{"custom.JobTitle", "", ""},
		{"birthDate", nil, nil},
	} {
		if got := c.Normalize(EntityLead, tc.field, tc.in); !connector.Equal(got, tc.want) {
			t.Errorf("Normalize(%s, %#v) = %#v, want %#v", tc.field, tc.in, got, tc.want)
		}
	}
}
