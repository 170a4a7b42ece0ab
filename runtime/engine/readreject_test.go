package engine

import (
	"context"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/runtime/state"
)

// unreadable is a connector whose records with lastname "Broken" cannot be
// converted: its reads return them as Batch.Rejects, its lookups as
// Foreign, as the Dynamics and People connectors do with a malformed row.
type unreadable struct{ *memory.Conn }

func broken(r connector.Record) bool { return r.Fields["lastname"] == "Broken" }

func (u unreadable) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	return u.Conn.Read(ctx, req, func(b connector.Batch) error {
		var keep []connector.Record
		for _, r := range b.Records {
			if broken(r) {
				b.Rejects = append(b.Rejects, connector.RecordError{Key: r.Key, Field: "firstname", Err: &connector.Error{
					Kind: connector.ErrorInvalid, Service: "dynamics", Message: "column firstname holds a JSON number, which is not a valid string"}})
				continue
			}
			keep = append(keep, r)
		}
		b.Records = keep
		return emit(b)
	})
}

func (u unreadable) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	res, err := u.Conn.Lookup(ctx, req)
	for _, recs := range res.Records {
		for i := range recs {
			if broken(recs[i]) {
				recs[i].Foreign = "a record synclang cannot read: column firstname holds a JSON number"
			}
		}
	}
	return res, err
}

// A record the source connector cannot convert is a reject of kind value,
// counted as read and rejected; the others sync and the cursor moves on.
// Once fixed at the source, it syncs and its reject is cleared.
func TestReadRejectsBecomeRejects(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	h.conns["crm"] = unreadable{h.crm}
	keys := upsert(t, h.crm, "contact", contact("Ana", "Broken", "ana@example.com"), contact("Luka", "Novak", "luka@example.com"),
		contact("Iva", "Kos", "iva@example.com"), contact("Marko", "Car", "marko@example.com"))
	rep := h.run()
	l := flow(t, rep, lr)
	if l.Read != 4 || l.Rejected != 1 || l.Created != 3 {
		t.Fatalf("report %+v; want 4 read, 1 rejected, 3 created", l)
	}
	rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{})
	if len(rj) != 1 || rj[0].Key != keys[0] || rj[0].Kind != string(RejectValue) {
		t.Fatalf("rejects: %+v; want one of kind value for %s", rj, keys[0])
	}
	if d := FromReject(rj[0]).Diagnostic(); d.Code != "rejected-value" {
		t.Errorf("diagnostic code %q", d.Code)
	}
	// The cursor moved on: nothing is read again.
	if rep := h.run(); flow(t, rep, lr).Read != 0 {
		t.Errorf("second run read %d records; the cursor did not move past the reject", flow(t, rep, lr).Read)
	}
	// Retrying while it is still unreadable rejects it again, stops nothing.
	rep, err := h.runErr(retry)
	if err != nil {
		t.Fatalf("retry of an unreadable record: %v", err)
	}
	if l := flow(t, rep, lr); l.Rejected != 1 {
		t.Errorf("retry while unreadable: %+v", l)
	}
	upsert(t, h.crm, "contact", connector.Record{Key: keys[0], Fields: F{"lastname": "Fixed"}})
	rep = h.run()
	if l := flow(t, rep, lr); l.Created != 1 || l.Rejected != 0 {
		t.Errorf("after the fix: %+v", l)
	}
	if rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{}); len(rj) != 0 {
		t.Errorf("reject kept after the record synced: %+v", rj)
	}
}
