package engine

import (
	"context"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/runtime/state"
)

// TestServiceRejectNamesTheFieldTheErrorCarries (issue 14.1): a service
// refusal is attributed to a mapping line by the fields the connector's
// error names (connector.Error.Fields), never by the words of its message.
func TestServiceRejectNamesTheFieldTheErrorCarries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    *connector.Error
		field  string
		onLine bool
	}{
		{"fields named, message silent", &connector.Error{Kind: connector.ErrorInvalid, Service: "people", Message: "the surname is refused", Fields: []string{"lastName"}}, "lastName", true},
		{"a field not written is ignored", &connector.Error{Kind: connector.ErrorInvalid, Service: "people", Message: "refused", Fields: []string{"birthDate", "lastName"}}, "lastName", true},
		{"message names fields, error none", &connector.Error{Kind: connector.ErrorInvalid, Service: "people", Message: "lastName is not allowed"}, "", false},
		{"two written fields", &connector.Error{Kind: connector.ErrorInvalid, Service: "people", Message: "refused", Fields: []string{"firstName", "lastName"}}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, spec{})
			h.ppl.FailWrite = func(entity string, rec connector.Record) error {
				if rec.Fields["lastName"] == "Refused" {
					return tc.err
				}
				return nil
			}
			upsert(t, h.crm, "contact", contact("Ana", "Refused", "ana@example.com"))
			if l := flow(t, h.run(), lr); l.Rejected != 1 {
				t.Fatalf("report %+v", l)
			}
			rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{})
			if len(rj) != 1 || rj[0].Field != tc.field || (rj[0].Range.Line == 25) != tc.onLine {
				t.Fatalf("rejects: %+v; want field %q (on its mapping line: %v)", rj, tc.field, tc.onLine)
			}
		})
	}
}
