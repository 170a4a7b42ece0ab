package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// repeatConn re-emits every record of a batch again in the next batch, as
// an at-least-once change stream may.
type repeatConn struct{ *memory.Conn }

func (c repeatConn) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	var prev []connector.Record
	return c.Conn.Read(ctx, req, func(b connector.Batch) error {
		recs := append(append([]connector.Record(nil), prev...), b.Records...)
		prev = b.Records
		b.Records = recs
		return emit(b)
	})
}

func TestRepeatedRecordsInFlightCreateOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.LeftToRight, noWhere: true})
	var recs []connector.Record
	for i := range 60 {
		recs = append(recs, contact(fmt.Sprint("F", i), "L", fmt.Sprintf("p%d@example.com", i)))
	}
	upsert(t, h.crm, "contact", recs...)
	// Some already in People, without externalId: paired by email.
	upsert(t, h.ppl, "customer", connector.Record{Fields: F{"email": "p7@example.com"}}, connector.Record{Fields: F{"email": "p33@example.com"}})
	h.conns["crm"] = repeatConn{h.crm}
	h.opts = Options{BatchSize: 4, InFlight: 4}
	rep := h.run()
	l := flow(t, rep, lr)
	if l.Created != 58 || l.LinkedByMatch != 2 || l.Rejected != 0 {
		t.Errorf("report: %+v", l)
	}
	if n := len(h.ppl.Records("customer")); n != 60 {
		t.Errorf("%d customers, want 60", n)
	}
	byField(t, h.ppl.Records("customer"), "externalId") // fails on duplicates
	if w := writes(h.run()); w != 0 {
		t.Errorf("next pass wrote %d", w)
	}
}

func TestSameEmailInBatchesInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.LeftToRight, noWhere: true})
	var recs []connector.Record
	for i := range 12 {
		recs = append(recs, contact(fmt.Sprint("F", i), "L", fmt.Sprintf("p%d@example.com", i)))
	}
	// Records 0 and 9 share an email and land in different batches.
	recs[9].Fields["emailaddress1"] = "P0@example.com"
	keys := upsert(t, h.crm, "contact", recs...)
	h.opts = Options{BatchSize: 3, InFlight: 4}
	rep := h.run()
	l := flow(t, rep, lr)
	if l.Created != 11 || l.Rejected != 1 {
		t.Fatalf("report: %+v", l)
	}
	rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{})
	if len(rj) != 1 || rj[0].Key != keys[9] || rj[0].Kind != string(RejectAmbiguous) || !contains2(rj[0].Reason, "already linked to crm.contact "+keys[0]) {
		t.Errorf("rejects: %+v", rj)
	}
	if n := len(h.ppl.Records("customer")); n != 11 {
		t.Errorf("%d customers, want 11", n)
	}
}

func TestLargerTwoWayLoadConverges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	var crm, ppl []connector.Record
	for i := range 300 {
		c := contact(fmt.Sprint("F", i), fmt.Sprint("L", i), fmt.Sprintf("p%d@example.com", i))
		c.Fields["gendercode"] = int64(1 + i%2)
		crm = append(crm, c)
		if i%3 == 0 {
			// A third already in People (some with another city), a few
			// only in People.
			ppl = append(ppl, connector.Record{Fields: F{"email": fmt.Sprintf("P%d@EXAMPLE.com", i), "city": "Zagreb"}})
		}
	}
	for i := range 20 {
		ppl = append(ppl, connector.Record{Fields: F{"firstName": "Only", "lastName": fmt.Sprint("P", i), "email": fmt.Sprintf("only%d@example.com", i)}})
	}
	upsert(t, h.crm, "contact", crm...)
	upsert(t, h.ppl, "customer", ppl...)
	h.opts = Options{BatchSize: 7, InFlight: 4}
	h.run()
	h.recoverRuns()
	h.checkConverged()
	if n := len(h.crm.Records("contact")); n != 320 {
		t.Errorf("%d contacts, want 320", n)
	}
	if n := len(h.ppl.Records("customer")); n != 320 {
		t.Errorf("%d customers, want 320", n)
	}
	before := h.crm.Stats().Requests + h.ppl.Stats().Requests
	h.run()
	if d := h.crm.Stats().Requests + h.ppl.Stats().Requests - before; d != 2 {
		t.Errorf("a pass without changes sent %d requests", d)
	}
}
