package engine

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/plan"
)

// digitsOnly is a People stand-in that stores phone numbers as People does,
// as digits without "+", and says so through connector.Normalizer.
type digitsOnly struct{ *memory.Conn }

func stripPlus(v any) any {
	if s, ok := v.(string); ok {
		return strings.TrimPrefix(s, "+")
	}
	return v
}

func (c digitsOnly) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.UpsertResult, error) {
	recs := make([]connector.Record, len(req.Records))
	for i, r := range req.Records {
		r.Fields = maps.Clone(r.Fields) // the caller's map stays as it was
		if v, ok := r.Fields["phone"]; ok {
			r.Fields["phone"] = stripPlus(v)
		}
		recs[i] = r
	}
	req.Records = recs
	return c.Conn.Upsert(ctx, req)
}

func (c digitsOnly) Normalize(entity, field string, v any) any {
	if field == "phone" {
		return stripPlus(v)
	}
	return v
}

// TestNormalizedValuesAreNoChange maps mobilephone <-> phone into a service
// that drops the "+": the value read back is the echo of the write, not a
// change to send back, so Dynamics keeps "+385..." and the next pass writes
// nothing.
func TestNormalizedValuesAreNoChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	h.conns["infobip"] = digitsOnly{h.ppl}
	s := h.plan.Syncs[0]
	for _, f := range s.Flows {
		m := &plan.FieldMap{Target: "phone", Expr: x("mobilephone", 29, 3), TwoWay: true, Range: rng(29, 3, 25)}
		if f.From == plan.Right {
			m = &plan.FieldMap{Target: "mobilephone", Expr: x("phone", 29, 23), TwoWay: true, Range: rng(29, 3, 25)}
		}
		f.Maps = append(f.Maps, m)
	}
	c := contact("Ana", "Horvat", "ana@example.com")
	c.Fields["mobilephone"] = "+385911234567"
	keys := upsert(t, h.crm, "contact", c)
	rep := h.run()
	if l := flow(t, rep, lr); l.Created != 1 {
		t.Fatalf("left-to-right: %+v", l)
	}
	for range 2 {
		if rep := h.run(); writes(rep) != 0 {
			t.Errorf("a pass after the load writes: %+v %+v", flow(t, rep, lr), flow(t, rep, rl))
		}
	}
	if got := byKey(h.crm.Records("contact"))[keys[0]].Fields["mobilephone"]; got != "+385911234567" {
		t.Errorf("Dynamics mobilephone = %v; the People form came back", got)
	}
	if got := h.ppl.Records("customer")[0].Fields["phone"]; got != "385911234567" {
		t.Errorf("People phone = %v", got)
	}
}
