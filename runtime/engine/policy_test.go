package engine

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

func TestConflicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		policy    plan.Conflict
		crmLater  bool
		want      string
		winner    state.Side
		loserLeft bool // the losing value is the left (Dynamics) one
	}{
		{"newest, Dynamics edited last", plan.ConflictNewest, true, "Dyn", state.Left, false},
		{"newest, People edited last", plan.ConflictNewest, false, "Ppl", state.Right, true},
		{"left wins though People edited last", plan.ConflictLeft, false, "Dyn", state.Left, false},
		{"right wins though Dynamics edited last", plan.ConflictRight, true, "Ppl", state.Right, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, spec{conflict: tt.policy})
			contacts, _ := seedInitial(t, h)
			h.run()
			h.run()
			ana := byField(t, h.ppl.Records("customer"), "externalId")[contacts[0]]
			editCRM := func() {
				upsert(t, h.crm, "contact", connector.Record{Key: contacts[0], Fields: F{"firstname": "Dyn"}})
			}
			editPpl := func() {
				upsert(t, h.ppl, "customer", connector.Record{Key: ana.Key, Fields: F{"firstName": "Ppl"}})
			}
			h.clk.Advance(time.Minute)
			if tt.crmLater {
				editPpl()
				h.clk.Advance(time.Minute)
				editCRM()
			} else {
				editCRM()
				h.clk.Advance(time.Minute)
				editPpl()
			}
			rep := h.run()
			if n := flow(t, rep, lr).Conflicts + flow(t, rep, rl).Conflicts; n != 1 {
				t.Errorf("%d conflicts, want 1", n)
			}
			crm := byKey(h.crm.Records("contact"))[contacts[0]]
			ppl := byKey(h.ppl.Records("customer"))[ana.Key]
			if crm.Fields["firstname"] != tt.want || ppl.Fields["firstName"] != tt.want {
				t.Errorf("after the conflict: Dynamics %v, People %v, want both %q", crm.Fields["firstname"], ppl.Fields["firstName"], tt.want)
			}
			cs, err := h.store.Conflicts(context.Background(), "contacts", 10)
			var got *state.Conflict
			for i := range cs {
				if cs[i].LeftKey == contacts[0] {
					got = &cs[i]
				}
			}
			if err != nil || got == nil {
				t.Fatalf("no conflict recorded for %s: %v %v", contacts[0], cs, err)
			}
			if got.Winner != tt.winner || got.Policy != string(tt.policy) || got.LeftField != "firstname" || got.RightField != "firstName" ||
				got.LeftValue != `"Dyn"` || got.RightValue != `"Ppl"` || got.RightKey != ana.Key {
				t.Errorf("conflict = %+v", *got)
			}
			h.checkConverged()
			if w := writes(h.run()); w != 0 {
				t.Errorf("the pass after the conflict wrote %d", w)
			}
		})
	}
}

func TestDeletes(t *testing.T) {
	t.Parallel()
	for _, pol := range []plan.DeletePolicy{plan.DeleteIgnore, plan.DeletePropagate} {
		t.Run(string(pol), func(t *testing.T) {
			h := newHarness(t, spec{del: pol})
			contacts, _ := seedInitial(t, h)
			h.run()
			h.run()
			mia := byField(t, h.ppl.Records("customer"), "externalId")[contacts[2]]
			if _, err := h.crm.Delete(context.Background(), connector.DeleteRequest{Entity: "contact", Keys: []string{contacts[2]}}); err != nil {
				t.Fatal(err)
			}
			rep := h.run()
			l := flow(t, rep, lr)
			_, still := byKey(h.ppl.Records("customer"))[mia.Key]
			links, _ := h.store.Links(context.Background(), "contacts", state.Left, []string{contacts[2]})
			if len(links) != 0 {
				t.Errorf("the link of the deleted contact is kept: %+v", links)
			}
			switch pol {
			case plan.DeleteIgnore:
				if !still || l.Unlinked != 1 || l.Deleted != 0 {
					t.Errorf("ignore: customer kept %v, report %+v", still, l)
				}
			case plan.DeletePropagate:
				if still || l.Deleted != 1 {
					t.Errorf("propagate: customer kept %v, report %+v", still, l)
				}
			}
			if w := writes(h.run()); w != 0 {
				t.Errorf("the pass after the delete wrote %d", w)
			}
		})
	}
}

// TestPeopleWithoutExternalIdToDynamics is the one-way People -> Dynamics
// sync Infobip warns duplicates records: profiles without externalId pair
// by email or are created, and get the Dynamics id written back in the same
// run, so the next pass finds them by the link.
func TestPeopleWithoutExternalIdToDynamics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.RightToLeft})
	crmKeys := upsert(t, h.crm, "contact", contact("Ana", "Horvat", "ana@example.com"))
	pplKeys := upsert(t, h.ppl, "customer",
		connector.Record{Fields: F{"firstName": "Ana", "lastName": "Horvat", "email": "ANA@example.com"}},
		connector.Record{Fields: F{"firstName": "Yuki", "lastName": "Tanaka", "email": "yuki@example.com"}},
	)
	rep := h.run()
	r := flow(t, rep, rl)
	if r.LinkedByMatch != 1 || r.Created != 1 || r.WrittenBack != 2 {
		t.Errorf("first pass: %+v", r)
	}
	ppl := byKey(h.ppl.Records("customer"))
	if ppl[pplKeys[0]].Fields["externalId"] != crmKeys[0] {
		t.Errorf("Ana's externalId = %v, want %s", ppl[pplKeys[0]].Fields["externalId"], crmKeys[0])
	}
	yukiExt, _ := ppl[pplKeys[1]].Fields["externalId"].(string)
	if _, ok := byKey(h.crm.Records("contact"))[yukiExt]; !ok || yukiExt == "" {
		t.Errorf("Yuki's externalId %q is not a contact", yukiExt)
	}
	// Forget the state: the link field alone must prevent duplicates.
	h.store.Close()
	h.path = h.path + ".new"
	h.store = h.open()
	rep = h.run(full)
	r = flow(t, rep, rl)
	if r.Created != 0 || r.Linked != 2 || r.LinkedByMatch != 0 {
		t.Errorf("pass with fresh state: %+v", r)
	}
	if n := len(h.crm.Records("contact")); n != 2 {
		t.Errorf("%d contacts, want 2", n)
	}
	if w := writes(h.run()); w != 0 {
		t.Errorf("next pass wrote %d", w)
	}
}

func TestAmbiguousMatchesAreRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	// Dynamics allows two contacts with one email; People does not.
	dup := upsert(t, h.crm, "contact", contact("Ana", "Horvat", "ana@example.com"), contact("Anna", "Horvat", "ANA@example.com"),
		contact("Solo", "One", "solo@example.com"))
	pk := upsert(t, h.ppl, "customer", connector.Record{Fields: F{"firstName": "Ana", "email": "ana@example.com"}})
	rep := h.run()
	l, r := flow(t, rep, lr), flow(t, rep, rl)
	if l.Rejected != 2 || l.Created != 1 || r.Rejected != 1 {
		t.Fatalf("left-to-right %+v; right-to-left %+v", l, r)
	}
	rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{Sync: "contacts"})
	if len(rj) != 3 {
		t.Fatalf("rejects: %+v", rj)
	}
	for _, x := range rj {
		if x.Kind != string(RejectAmbiguous) || x.Range.Line != 23 {
			t.Errorf("reject %+v", x)
		}
		switch {
		case x.Flow == lr && (x.Key == dup[0] || x.Key == dup[1]):
			if !strings.Contains(x.Reason, "2 crm.contact records ("+dup[0]+", "+dup[1]+") pair with infobip.customer "+pk[0]) {
				t.Errorf("reason: %s", x.Reason)
			}
		case x.Flow == rl && x.Key == pk[0]:
			if !strings.Contains(x.Reason, "matches 2 crm.contact records") || !strings.HasPrefix(FromReject(x).Error(), "contacts.sync:23:3: record "+pk[0]+": match") {
				t.Errorf("reason: %s", x.Reason)
			}
		default:
			t.Errorf("unexpected reject %+v", x)
		}
	}
	if n := len(h.ppl.Records("customer")); n != 2 {
		t.Errorf("%d customers, want 2 (the ambiguous one not duplicated)", n)
	}
	// Unchanged, they stay rejected without being written.
	rep = h.run()
	if writes(rep) != 0 || rep.Rejected() != 0 {
		t.Errorf("second pass: wrote %d, rejected %d", writes(rep), rep.Rejected())
	}
	// Fixing one side resolves it: the second contact gets its own email.
	upsert(t, h.crm, "contact", connector.Record{Key: dup[1], Fields: F{"emailaddress1": "anna@example.com"}})
	rep = h.run(retry)
	if rep.Rejected() != 0 {
		t.Fatalf("after the fix: %d rejected: %v", rep.Rejected(), flow(t, rep, lr).Rejects)
	}
	if rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{}); len(rj) != 0 {
		t.Errorf("rejects left: %+v", rj)
	}
	h.checkConverged()
}

func TestRejectFixedThenSynced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{emailExpr: "normEmail(emailaddress1)"})
	keys := upsert(t, h.crm, "contact", contact("Ana", "Horvat", "not an email"), contact("Luka", "Novak", "luka@example.com"))
	rep := h.run()
	l := flow(t, rep, lr)
	if l.Rejected != 1 || l.Created != 1 || len(l.Rejects) != 1 {
		t.Fatalf("report: %+v", l)
	}
	want := `contacts.sync:28:3: field email (record ` + keys[0] + `): "not an email" is not an email address`
	if got := l.Rejects[0].Error(); got != want {
		t.Errorf("reject message:\n got %s\nwant %s", got, want)
	}
	rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{})
	if len(rj) != 1 || FromReject(rj[0]).Error() != want || rj[0].Reason != `"not an email" is not an email address` || rj[0].Field != "email" ||
		rj[0].Kind != string(RejectExpression) || rj[0].Range.Line != 28 {
		t.Fatalf("stored: %+v", rj)
	}
	// The CLI renders it as a diagnostic, with the mapping line.
	var out strings.Builder
	src := diag.NewSource(syncFile, []byte(strings.Repeat("\n", 27)+"  normEmail(emailaddress1) -> email\n"))
	if err := diag.Write(&out, diag.Diagnostics{FromReject(rj[0]).Diagnostic()}, map[string]*diag.Source{syncFile: src}, diag.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "rejected-expression") || !strings.Contains(got, "normEmail(emailaddress1) -> email") || !strings.Contains(got, "is not an email address") {
		t.Errorf("rendered:\n%s", got)
	} else {
		t.Logf("rendered:\n%s", got)
	}
	// Nothing changed: not read again, still rejected.
	if rep := h.run(); flow(t, rep, lr).Read != 0 {
		t.Errorf("unchanged reject read again")
	}
	upsert(t, h.crm, "contact", connector.Record{Key: keys[0], Fields: F{"emailaddress1": "Ana@Example.com"}})
	rep = h.run()
	if l := flow(t, rep, lr); l.Created != 1 || l.Rejected != 0 {
		t.Errorf("after the fix: %+v", l)
	}
	if rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{}); len(rj) != 0 {
		t.Errorf("reject kept after the record synced: %+v", rj)
	}
	ana := byField(t, h.ppl.Records("customer"), "externalId")[keys[0]]
	if ana.Fields["email"] != "ana@example.com" {
		t.Errorf("email = %v", ana.Fields["email"])
	}
}

func TestServiceRejectRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	refuse := true
	h.ppl.FailWrite = func(entity string, rec connector.Record) error {
		if refuse && rec.Fields["lastName"] == "Refused" {
			return &connector.Error{Kind: connector.ErrorInvalid, Service: "people", Op: "create customer", Status: 400, Code: "BAD_REQUEST", Message: "lastName is not allowed", Fields: []string{"lastName"}}
		}
		return nil
	}
	keys := upsert(t, h.crm, "contact", contact("Ana", "Refused", "ana@example.com"), contact("Luka", "Novak", "luka@example.com"))
	rep := h.run()
	l := flow(t, rep, lr)
	if l.Rejected != 1 || l.Created != 1 {
		t.Fatalf("report %+v", l)
	}
	rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{})
	// The error names lastName, so the reject points at its mapping line.
	if len(rj) != 1 || rj[0].Key != keys[0] || rj[0].Kind != string(RejectService) || rj[0].Field != "lastName" || rj[0].Range.Line != 25 ||
		!strings.Contains(rj[0].Reason, "creating infobip.customer: people: create customer: lastName is not allowed (HTTP 400, code BAD_REQUEST)") {
		t.Fatalf("rejects: %+v", rj)
	}
	refuse = false
	if rep := h.run(); writes(rep) != 0 {
		t.Errorf("an unchanged rejected record was written without retry")
	}
	rep = h.run(retry)
	if l := flow(t, rep, lr); l.Retried != 1 || l.Created != 1 || l.Rejected != 0 {
		t.Errorf("retry: %+v", l)
	}
	if rj, _ := h.store.Rejects(context.Background(), state.RejectQuery{}); len(rj) != 0 {
		t.Errorf("rejects after retry: %+v", rj)
	}
	h.checkConverged()
}

func TestValueTooLongRejectedWithRange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.RightToLeft})
	long := strings.Repeat("x", 60)
	keys := upsert(t, h.ppl, "customer", connector.Record{Fields: F{"firstName": long, "lastName": "L", "email": "l@example.com"}})
	rep := h.run()
	r := flow(t, rep, rl)
	if r.Rejected != 1 || r.Created != 0 {
		t.Fatalf("report %+v", r)
	}
	want := "contacts.sync:24:3: field firstname (record " + keys[0] + "): the value is 60 characters long; firstname allows at most 50"
	if got := r.Rejects[0].Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	seedInitial(t, h)
	var changes []Change
	rep, err := Run(context.Background(), h.plan, Env{Connectors: h.conns, Store: h.store, Now: h.clk.Now, Changes: func(c Change) { changes = append(changes, c) }},
		Options{DryRun: true, BatchSize: 2})
	checkBalanced(t, rep)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.ppl.Records("customer")); n != 2 {
		t.Errorf("dry run wrote People: %d customers", n)
	}
	if c, _ := h.store.Cursors(context.Background()); len(c) != 0 {
		t.Errorf("dry run saved cursors: %+v", c)
	}
	if n, _ := h.store.LinkCount(context.Background(), "contacts"); n != 0 {
		t.Errorf("dry run saved %d links", n)
	}
	l := flow(t, rep, lr)
	if l.Created != 3 || l.Linked != 1 || l.Skipped != 1 || l.WriteCalls == 0 {
		t.Errorf("dry run report: %+v", l)
	}
	var creates, links, updates int
	for _, c := range changes {
		switch c.Op {
		case OpCreate:
			creates++
			if c.Entity == "infobip.customer" && len(c.Fields) == 0 {
				t.Errorf("create without fields: %+v", c)
			}
		case OpLink:
			links++
			if c.By != "match lower(emailaddress1) <-> lower(email)" {
				t.Errorf("link by %q", c.By)
			}
		case OpUpdate:
			updates++
			for _, f := range c.Fields {
				if f.Field == "firstName" && (f.Before != "Lukas" || f.After != "Luka") && c.Entity == "infobip.customer" {
					t.Errorf("update %+v", f)
				}
			}
		}
	}
	// 3 customers created in People, 1 contact in Dynamics (with its id
	// written back); the matched pair is planned once: the second flow
	// skips what the first planned, as a real run would read its echoes.
	if creates != 4 || links != 1 || updates != 3 {
		t.Errorf("changes: %d creates, %d links, %d updates: %+v", creates, links, updates, changes)
	}
	if r := flow(t, rep, rl); r.Created != 1 || r.Linked != 0 || r.Unchanged != 1 {
		t.Errorf("dry run right-to-left: %+v", r)
	}
	// The real run does what the plan said.
	real := h.run()
	for _, name := range []string{lr, rl} {
		p, r := flow(t, rep, name), flow(t, real, name)
		if r.Created != p.Created || r.Linked != p.Linked || r.Updated != p.Updated || r.WrittenBack != p.WrittenBack || r.Conflicts != p.Conflicts {
			t.Errorf("%s: run %+v differs from plan %+v", name, r, p)
		}
	}
}

func TestLockedSyncDoesNotRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	seedInitial(t, h)
	other, err := state.Open(context.Background(), h.path, state.Options{Holder: state.Holder{Host: "elsewhere", PID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Acquire(context.Background(), "contacts", time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err = h.runErr()
	var locked *state.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "sync contacts") {
		t.Fatalf("run of a locked sync: %v", err)
	}
	if n := len(h.ppl.Records("customer")); n != 2 {
		t.Errorf("a locked sync wrote")
	}
}

func TestProgressAndStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.LeftToRight, noWhere: true})
	var recs []connector.Record
	for i := range 30 {
		recs = append(recs, contact("P", "L", strings.Repeat("a", i+1)+"@example.com"))
	}
	upsert(t, h.crm, "contact", recs...)
	stop := make(chan struct{})
	var seen []Progress
	env := h.env()
	env.Progress = func(p Progress) {
		seen = append(seen, p)
		if p.Read >= 9 {
			select {
			case <-stop:
			default:
				close(stop)
			}
		}
	}
	env.Stop = stop
	rep, err := Run(context.Background(), h.plan, env, Options{BatchSize: 3, InFlight: 1})
	checkBalanced(t, rep)
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	if len(seen) < 3 || seen[len(seen)-1].Written != flow(t, rep, lr).Created {
		t.Errorf("progress %+v, report %+v", seen, flow(t, rep, lr))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Read < seen[i-1].Read {
			t.Errorf("progress went back: %+v", seen)
		}
	}
	done := flow(t, rep, lr).Created
	if done >= 30 || done < 9 {
		t.Errorf("created %d before stopping", done)
	}
	// The next run continues where the stopped one committed.
	rep = h.run()
	if got := flow(t, rep, lr).Created; got != 30-done {
		t.Errorf("resumed run created %d, want %d", got, 30-done)
	}
	if n := len(h.ppl.Records("customer")); n != 30 {
		t.Errorf("%d customers, want 30", n)
	}
}

// lostLease is a store whose lease renewal finds the lock taken over.
type lostLease struct{ state.Store }

func (lostLease) Renew(context.Context, *state.Lease) error { return state.ErrLockLost }

// blockingRead reads nothing until its context ends.
type blockingRead struct{ *memory.Conn }

func (blockingRead) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestLostLockStopsTheSync(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	seedInitial(t, h)
	h.store = lostLease{h.store}
	h.conns["crm"] = blockingRead{h.crm}
	_, err := h.runErr(func(o *Options) { o.LockTTL = 40 * time.Millisecond })
	if !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("run with a lost lock: %v", err)
	}
	if n := len(h.ppl.Records("customer")); n != 2 {
		t.Errorf("a sync that lost its lock wrote")
	}
}

// estimating is a memory service that estimates ten requests per record
// written.
type estimating struct{ *memory.Conn }

func (estimating) EstimateUpsert(req connector.UpsertRequest) int { return 10 * len(req.Records) }
func (estimating) EstimateDelete(req connector.DeleteRequest) int { return 10 * len(req.Keys) }

// TestDryRunEstimatesWrites checks that a dry run asks each connector what
// its writes would cost, for the records it would write.
func TestDryRunEstimatesWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	seedInitial(t, h)
	h.conns = map[string]connector.Connector{"crm": estimating{h.crm}, "infobip": estimating{h.ppl}}
	var changes []Change
	rep, err := Run(context.Background(), h.plan, Env{Connectors: h.conns, Store: h.store, Now: h.clk.Now, Changes: func(c Change) { changes = append(changes, c) }},
		Options{DryRun: true, BatchSize: 2})
	checkBalanced(t, rep)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{lr: {}, rl: {}}
	for _, c := range changes {
		if c.Op == OpCreate || c.Op == OpUpdate {
			want[c.Flow][strings.SplitN(c.Entity, ".", 2)[0]] += 10
		}
	}
	for _, name := range []string{lr, rl} {
		if got := flow(t, rep, name).EstimatedWrites; !reflect.DeepEqual(got, want[name]) && len(want[name]) > 0 {
			t.Errorf("%s: estimated %v, want %v", name, got, want[name])
		}
	}
	if len(want[lr]) == 0 {
		t.Fatal("the dry run planned no writes")
	}
}

// TestDeletedPairsSurvivorEchoIsNotRecreated: a People profile created in
// People gets a contact and the contact's ID written back; the contact is
// deleted before the next pass. That pass forgets the pair (delete ignore)
// and then reads the profile again, modified by the write-back: an echo,
// not a change, so no second contact is created for it. When the profile
// really changes later, it is synced as a new record.
func TestDeletedPairsSurvivorEchoIsNotRecreated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	ctx := context.Background()
	yuki := upsert(t, h.ppl, "customer", connector.Record{Fields: F{"firstName": "Yuki", "lastName": "Tanaka", "email": "yuki@example.com"}})[0]
	rep := h.run()
	if r := flow(t, rep, rl); r.Created != 1 || r.WrittenBack != 1 {
		t.Fatalf("first pass: %+v", r)
	}
	contactKey, _ := byKey(h.ppl.Records("customer"))[yuki].Fields["externalId"].(string)
	if _, err := h.crm.Delete(ctx, connector.DeleteRequest{Entity: "contact", Keys: []string{contactKey}}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	rep = h.run()
	if l := flow(t, rep, lr); l.Unlinked != 1 {
		t.Errorf("the deletion did not forget the pair: %+v", l)
	}
	if r := flow(t, rep, rl); r.Read != 1 || r.Unchanged != 1 || r.Created+r.LinkedByMatch+r.Linked != 0 {
		t.Errorf("the survivor's echo was synced: %+v", r)
	}
	if n := len(h.crm.Records("contact")); n != 0 {
		t.Fatalf("%d contacts after the deletion, want 0", n)
	}
	if w := writes(h.run()); w != 0 {
		t.Errorf("the pass after wrote %d", w)
	}
	// Nor does a full pass, which reads every survivor again.
	if rep := h.run(full); writes(rep) != 0 || len(h.crm.Records("contact")) != 0 {
		t.Errorf("a full pass re-created the deleted contact: %+v", flow(t, rep, rl))
	}

	// A real change: the profile is on its own and synced as new.
	h.clk.Advance(time.Minute)
	upsert(t, h.ppl, "customer", connector.Record{Key: yuki, Fields: F{"city": "Osaka"}})
	rep = h.run()
	if r := flow(t, rep, rl); r.Created != 1 {
		t.Errorf("the changed survivor was not synced as new: %+v", r)
	}
	contacts := h.crm.Records("contact")
	if len(contacts) != 1 || contacts[0].Fields["address1_city"] != "Osaka" || contacts[0].Key == contactKey {
		t.Errorf("contacts = %+v", contacts)
	}
	if got, _ := h.store.Orphans(ctx, "contacts", state.Right, []string{yuki}); len(got) != 0 {
		t.Errorf("the orphan is kept after the record synced: %v", got)
	}
	if w := writes(h.run()); w != 0 {
		t.Errorf("the pass after wrote %d", w)
	}
}
