package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
)

// lowerEmails is a service that stores email addresses in lower case, as
// People stores phone numbers without "+", and says so
// (connector.Normalizer).
type lowerEmails struct{ *memory.Conn }

func (l lowerEmails) Normalize(entity, field string, v any) any {
	if s, ok := v.(string); ok && field == "email" {
		return strings.ToLower(s)
	}
	return v
}

func (l lowerEmails) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.UpsertResult, error) {
	for i, r := range req.Records {
		fields := map[string]any{}
		for k, v := range r.Fields {
			fields[k] = l.Normalize(req.Entity, k, v)
		}
		req.Records[i].Fields = fields
	}
	return l.Conn.Upsert(ctx, req)
}

// A value the target stores in another form than written is read back as
// an echo, not as a change to write to the source.
func TestNormalizedValueIsNoChange(t *testing.T) {
	h := newHarness(t, spec{})
	h.conns["infobip"] = lowerEmails{h.ppl}
	keys := upsert(t, h.crm, "contact", contact("Luka", "Novak", "Luka.Novak@Example.com"))
	rep := h.run()
	if l := flow(t, rep, lr); l.Created != 1 {
		t.Fatalf("left-to-right: %+v", l)
	}
	if r := flow(t, rep, rl); r.Read != 1 || r.Updated+r.WrittenBack+r.Created != 0 {
		t.Errorf("right-to-left wrote the stored form back: %+v", r)
	}
	if got := byKey(h.crm.Records("contact"))[keys[0]].Fields["emailaddress1"]; got != "Luka.Novak@Example.com" {
		t.Errorf("Dynamics email = %v", got)
	}
	if got := byField(t, h.ppl.Records("customer"), "externalId")[keys[0]].Fields["email"]; got != "luka.novak@example.com" {
		t.Errorf("People email = %v", got)
	}
	// A change in the source that only the stored form hides is no write
	// either; a real change is.
	upsert(t, h.crm, "contact", connector.Record{Key: keys[0], Fields: F{"emailaddress1": "LUKA.NOVAK@example.com"}})
	rep = h.run()
	if l := flow(t, rep, lr); l.Updated != 0 || l.Unchanged != 1 {
		t.Errorf("a change of case only: %+v", l)
	}
	upsert(t, h.crm, "contact", connector.Record{Key: keys[0], Fields: F{"emailaddress1": "Luka@Example.com"}})
	rep = h.run()
	if l, r := flow(t, rep, lr), flow(t, rep, rl); l.Updated != 1 || r.Updated+r.WrittenBack != 0 {
		t.Errorf("a new address: %+v / %+v", l, r)
	}
	if n := writes(h.run()); n != 0 {
		t.Errorf("the pass after wrote %d records", n)
	}
}
