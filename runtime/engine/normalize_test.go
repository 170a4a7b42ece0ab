package engine

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
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

func (c digitsOnly) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
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
	mapPhones(h)
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

// rated declares how fast a full read of the wrapped connector can go
// (connector.ReadRater), as Dynamics and People do.
type rated struct {
	connector.Connector
	rate float64
}

func (c rated) ReadRate(string) float64 { return c.rate }

// ratedDigits is digitsOnly, slow to read like People.
type ratedDigits struct {
	digitsOnly
	rate float64
}

func (c ratedDigits) ReadRate(string) float64 { return c.rate }

// TestFirstRunPairsFromTheSlowerSide: in a two-way sync's first run the
// side slower to read (People) goes first, so it pairs a person with the
// contact sharing its email. The pair agrees in People's form ("+385..."
// is stored as "385..."), so the contact keeps its "+": which side pairs
// a record must not decide how its number is spelt. Later runs go left to
// right first again.
func TestFirstRunPairsFromTheSlowerSide(t *testing.T) {
	h := newHarness(t, spec{})
	h.conns["crm"] = rated{h.crm, 100_000}
	h.conns["infobip"] = ratedDigits{digitsOnly{h.ppl}, 5_000}
	mapPhones(h)
	c := contact("Ana", "Horvat", "ana@example.com")
	c.Fields["mobilephone"] = "+385911234567"
	keys := upsert(t, h.crm, "contact", c)
	upsert(t, h.ppl, "customer", connector.Record{Fields: F{"firstName": "Ana", "lastName": "Horvat", "email": "ana@example.com", "phone": "385911234567"}})
	// More than a batch (3) on the slower side, or the order would not
	// matter.
	for _, n := range []string{"Ivo", "Eva", "Tin"} {
		upsert(t, h.ppl, "customer", connector.Record{Fields: F{"firstName": n, "lastName": "People"}})
	}
	var order []string
	h.log = slog.New(slog.NewTextHandler(&lineWriter{fn: func(line string) {
		if i := strings.Index(line, "msg=\"flow finished\""); i >= 0 {
			if j := strings.Index(line, " flow="); j >= 0 {
				order = append(order, strings.Fields(line[j+6:])[0])
			}
		}
	}}, nil))
	rep := h.run()
	if r := flow(t, rep, rl); r.LinkedByMatch != 1 {
		t.Errorf("right-to-left in the first run: %+v; want the pair found by match", r)
	}
	if got := byKey(h.crm.Records("contact"))[keys[0]].Fields["mobilephone"]; got != "+385911234567" {
		t.Errorf("Dynamics mobilephone = %v after the pair was found from People; want +385911234567", got)
	}
	for range 2 {
		if rep := h.run(); writes(rep) != 0 {
			t.Errorf("a pass after the load writes: %+v %+v", flow(t, rep, lr), flow(t, rep, rl))
		}
	}
	if want := []string{rl, lr, lr, rl, lr, rl}; strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("flows ran in the order %v, want %v", order, want)
	}
}

// lineWriter calls fn with each write (slog writes a line at a time).
type lineWriter struct{ fn func(string) }

func (w *lineWriter) Write(b []byte) (int, error) {
	w.fn(string(b))
	return len(b), nil
}

// TestAgreementNeedsTheWholeInput: a pair "agrees" (reconcile writes
// nothing) only when the forward map reads nothing but the field the
// reverse map writes. Here People's middleName is made of two contact
// fields and mapped back into one of them; the target's value, mapped
// back, still equals that one field after the other changed, and the
// change must reach People all the same.
func TestAgreementNeedsTheWholeInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	s := h.plan.Syncs[0]
	contactE, _ := dynamics.StandardSchema().Entity("contact")
	customerE, _ := peopleSchema().Entity("customer")
	s.Left.Fields = append(s.Left.Fields, pick(contactE, "middlename")...)
	s.Right.Fields = append(s.Right.Fields, pick(customerE, "middleName")...)
	for _, f := range s.Flows {
		m := &plan.FieldMap{Target: "middleName", Expr: x(`middlename + address1_city`, 29, 3), TwoWay: true, Range: rng(29, 3, 25)}
		if f.From == plan.Right {
			m = &plan.FieldMap{Target: "middlename", Expr: x(`middleName[0:1]`, 29, 23), TwoWay: true, Range: rng(29, 3, 25)}
		}
		f.Maps = append(f.Maps, m)
	}
	c := contact("Ana", "Horvat", "ana@example.com")
	c.Fields["middlename"], c.Fields["address1_city"] = "M", "Zagreb"
	keys := upsert(t, h.crm, "contact", c)
	if l := flow(t, h.run(), lr); l.Created != 1 {
		t.Fatalf("left-to-right: %+v", l)
	}
	if got := h.ppl.Records("customer")[0].Fields["middleName"]; got != "MZagreb" {
		t.Fatalf("People middleName = %v after the load, want MZagreb", got)
	}
	h.clk.Advance(time.Minute)
	upsert(t, h.crm, "contact", connector.Record{Key: keys[0], Fields: F{"address1_city": "Split"}})
	h.run()
	if got := h.ppl.Records("customer")[0].Fields["middleName"]; got != "MSplit" {
		t.Errorf("People middleName = %v after the contact's city changed, want MSplit: the change was lost", got)
	}
}

// mapPhones adds `mobilephone <-> phone` to the harness's sync.
func mapPhones(h *harness) {
	for _, f := range h.plan.Syncs[0].Flows {
		m := &plan.FieldMap{Target: "phone", Expr: x("mobilephone", 29, 3), TwoWay: true, Range: rng(29, 3, 25)}
		if f.From == plan.Right {
			m = &plan.FieldMap{Target: "mobilephone", Expr: x("phone", 29, 23), TwoWay: true, Range: rng(29, 3, 25)}
		}
		f.Maps = append(f.Maps, m)
	}
}
