package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/plan"
)

// seedInitial fills both services: five contacts (one inactive), a People
// customer with the same email as contact 2 (but another first name and
// no externalId), and a People customer with no contact.
func seedInitial(t *testing.T, h *harness) (contacts []string, lonely string) {
	t.Helper()
	recs := []connector.Record{
		contact("Ana", "Horvat", "ana@example.com"),
		contact("Luka", "Novak", "Luka@Example.com"),
		contact("Mia", "Rossi", "mia@example.com"),
		contact("Noah", "Smith", "noah@example.com"),
		contact("Old", "Gone", "old@example.com"),
	}
	recs[0].Fields["gendercode"] = int64(2)
	recs[0].Fields["jobtitle"] = "CTO"
	recs[2].Fields["address1_city"] = "Milan"
	recs[4].Fields["statecode"] = int64(1)
	contacts = upsert(t, h.crm, "contact", recs...)
	h.clk.Advance(1e9)
	keys := upsert(t, h.ppl, "customer",
		connector.Record{Fields: F{"firstName": "Lukas", "lastName": "Novak", "email": "luka@example.com", "city": "Zagreb"}},
		connector.Record{Fields: F{"firstName": "Yuki", "lastName": "Tanaka", "email": "yuki@example.com", "gender": "FEMALE"}},
	)
	return contacts, keys[1]
}

func TestInitialLoadThenEchoSuppressed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	contacts, lonely := seedInitial(t, h)
	rep := h.run()

	l := flow(t, rep, lr)
	if l.Read != 5 || l.Skipped != 1 || l.Created != 3 || l.Linked != 1 || l.LinkedByMatch != 1 || l.Rejected != 0 {
		t.Errorf("left-to-right: %+v", l)
	}
	r := flow(t, rep, rl)
	if r.Created != 1 || r.WrittenBack != 1 || r.Rejected != 0 {
		t.Errorf("right-to-left: %+v", r)
	}
	h.checkConverged()

	customers := byField(t, h.ppl.Records("customer"), "externalId")
	ana := customers[contacts[0]]
	if ana.Fields["gender"] != "FEMALE" || ana.Fields["custom.JobTitle"] != "CTO" || ana.Fields["email"] != "ana@example.com" {
		t.Errorf("Ana in People = %v", ana.Fields)
	}
	// The customer found by email keeps its id and gets the contact's
	// values (the contact is newer: both sides count as changed for a new
	// pair, and the policy is newest... the People record was seeded later,
	// so People wins the field pairs that differ).
	luka := customers[contacts[1]]
	if luka.Fields["firstName"] != "Lukas" || luka.Fields["city"] != "Zagreb" {
		t.Errorf("Luka in People = %v", luka.Fields)
	}
	crmLuka := byKey(h.crm.Records("contact"))[contacts[1]]
	if crmLuka.Fields["firstname"] != "Lukas" || crmLuka.Fields["address1_city"] != "Zagreb" {
		t.Errorf("Luka in Dynamics = %v", crmLuka.Fields)
	}
	// Luka / Lukas and Luka@Example.com / luka@example.com differ; the
	// missing city is filled without a conflict.
	if l.Conflicts != 2 {
		t.Errorf("conflicts = %d, want 2 (first name and email of the matched pair)", l.Conflicts)
	}
	// The People-only customer was created in Dynamics, and its new id
	// written back to externalId.
	yuki := byKey(h.ppl.Records("customer"))[lonely]
	ext, _ := yuki.Fields["externalId"].(string)
	crmYuki, ok := byKey(h.crm.Records("contact"))[ext]
	if !ok || crmYuki.Fields["firstname"] != "Yuki" || crmYuki.Fields["gendercode"] != int64(2) {
		t.Fatalf("Yuki in Dynamics: %v %v", ok, crmYuki.Fields)
	}
	if n := len(h.crm.Records("contact")); n != 6 {
		t.Errorf("%d contacts, want 6", n)
	}
	if n := len(h.ppl.Records("customer")); n != 5 {
		t.Errorf("%d customers, want 5", n)
	}

	// The pass after a sync writes nothing; the one after it only reads.
	for pass := 2; pass <= 3; pass++ {
		before := h.crm.Stats().Requests + h.ppl.Stats().Requests
		rep := h.run()
		if w := writes(rep); w != 0 {
			t.Errorf("pass %d wrote: %+v %+v", pass, flow(t, rep, lr), flow(t, rep, rl))
		}
		req := h.crm.Stats().Requests + h.ppl.Stats().Requests - before
		if pass == 3 && req != 2 {
			t.Errorf("pass 3 (no changes) sent %d requests, want 2 (one read per flow)", req)
		}
		if got := rep.Syncs[0].Requests["crm"].Requests + rep.Syncs[0].Requests["infobip"].Requests; got != req {
			t.Errorf("report counts %d requests, the services %d", got, req)
		}
	}
	// A full pass re-reads everything and still writes nothing.
	if w := writes(h.run(full)); w != 0 {
		t.Errorf("full pass wrote %d", w)
	}
}

func TestIncrementalEditsBothSides(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	contacts, lonely := seedInitial(t, h)
	h.run()
	h.run()

	// Dynamics: Ana's first name; People: Yuki's city and Mia's last name.
	h.clk.Advance(5e9)
	upsert(t, h.crm, "contact", connector.Record{Key: contacts[0], Fields: F{"firstname": "Anamarija"}})
	upsert(t, h.ppl, "customer", connector.Record{Key: lonely, Fields: F{"city": "Tokyo"}})
	mia := byField(t, h.ppl.Records("customer"), "externalId")[contacts[2]]
	upsert(t, h.ppl, "customer", connector.Record{Key: mia.Key, Fields: F{"lastName": "Rossi-Bianchi"}})
	// And an edit to a field no map reads.
	upsert(t, h.crm, "contact", connector.Record{Key: contacts[3], Fields: F{"telephone1": "+44 20 7946 0958"}})

	rep := h.run()
	l, r := flow(t, rep, lr), flow(t, rep, rl)
	if l.Read != 2 || l.Updated != 1 || l.Unchanged != 1 || l.Conflicts != 0 {
		t.Errorf("left-to-right: %+v", l)
	}
	if r.Read != 3 || r.Updated != 2 || r.WrittenBack != 0 || r.Unchanged != 1 || r.Conflicts != 0 {
		t.Errorf("right-to-left: %+v", r)
	}
	h.checkConverged()
	if w := writes(h.run()); w != 0 {
		t.Errorf("the pass after the edits wrote %d", w)
	}
}

func TestEditsSameRecordDifferentFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	contacts, _ := seedInitial(t, h)
	h.run()
	h.run()
	ana := byField(t, h.ppl.Records("customer"), "externalId")[contacts[0]]
	h.clk.Advance(5e9)
	upsert(t, h.crm, "contact", connector.Record{Key: contacts[0], Fields: F{"firstname": "Anja"}})
	h.clk.Advance(5e9)
	upsert(t, h.ppl, "customer", connector.Record{Key: ana.Key, Fields: F{"city": "Split"}})
	rep := h.run()
	if c := flow(t, rep, lr).Conflicts + flow(t, rep, rl).Conflicts; c != 0 {
		t.Errorf("%d conflicts for edits of different fields", c)
	}
	h.checkConverged()
	got := byKey(h.crm.Records("contact"))[contacts[0]]
	if got.Fields["firstname"] != "Anja" || got.Fields["address1_city"] != "Split" {
		t.Errorf("Ana in Dynamics = %v", got.Fields)
	}
	if w := writes(h.run()); w != 0 {
		t.Errorf("next pass wrote %d", w)
	}
}

func TestStatePersistsAcrossProcesses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	seedInitial(t, h)
	h.run()
	h.run()
	// A new process: reopen the store.
	h.store.Close()
	h.store = h.open()
	if w := writes(h.run()); w != 0 {
		t.Errorf("a new process wrote %d", w)
	}
	n, _ := h.store.LinkCount(context.Background(), "contacts")
	if n != 5 {
		t.Errorf("%d links, want 5", n)
	}
	runs, _ := h.store.Runs(context.Background(), "contacts", 10)
	if len(runs) != 3 || !strings.Contains(runs[0].Report, `"flow":"left-to-right"`) {
		t.Errorf("runs: %d, last report %q", len(runs), runs[0].Report)
	}
}

// lookupLog records the fields a connector was asked to look records up by.
// The engine sends a round of lookups concurrently.
type lookupLog struct {
	*memory.Conn
	mu     sync.Mutex
	fields []string
}

func (l *lookupLog) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	l.mu.Lock()
	l.fields = append(l.fields, req.Field)
	l.mu.Unlock()
	return l.Conn.Lookup(ctx, req)
}

// A changed record whose pair is known costs one lookup by key, not the
// link field and match lookups a record without a pair needs: on People
// each of those is a rate-limited request per batch.
func TestLinkedRecordIsLookedUpByKeyOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.LeftToRight})
	contacts, _ := seedInitial(t, h)
	ppl := &lookupLog{Conn: h.ppl}
	h.conns["infobip"] = ppl
	h.run()
	if !slices.Contains(ppl.fields, "externalId") || !slices.Contains(ppl.fields, "email") {
		t.Fatalf("the initial load looked up by %v, want the link field and the match key", ppl.fields)
	}
	ppl.fields = nil
	upsert(t, h.crm, "contact", connector.Record{Key: contacts[0], Fields: F{"lastname": "Horvat-Kos"}})
	rep := h.run()
	if l := flow(t, rep, lr); l.Updated != 1 {
		t.Fatalf("left-to-right: %+v", l)
	}
	if !slices.Equal(ppl.fields, []string{"id"}) {
		t.Errorf("a changed linked contact was looked up by %v, want [id]", ppl.fields)
	}
	// A linked target that is gone is paired afresh: link field, match.
	gone := byField(t, h.ppl.Records("customer"), "externalId")[contacts[0]].Key
	if _, err := h.ppl.Delete(context.Background(), connector.DeleteRequest{Entity: "customer", Keys: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	ppl.fields = nil
	upsert(t, h.crm, "contact", connector.Record{Key: contacts[0], Fields: F{"lastname": "Horvat"}})
	rep = h.run()
	if l := flow(t, rep, lr); l.Created != 1 {
		t.Fatalf("left-to-right after the target was deleted: %+v", l)
	}
	if !slices.Equal(ppl.fields, []string{"id", "externalId", "email"}) {
		t.Errorf("a contact whose target is gone was looked up by %v, want [id externalId email]", ppl.fields)
	}
}
