package people

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people/emulator"
)

func TestCreateReturnsEachIDToItsRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{batchSize: 4})
	var recs []connector.Record
	for i := 0; i < 10; i++ {
		f := map[string]any{"firstName": fmt.Sprint("N", i)}
		switch i % 3 {
		case 0:
			f["externalId"] = fmt.Sprint("ext-", i)
		case 1:
			f["email"] = fmt.Sprintf("n%d@example.com", i)
		case 2:
			f["phone"] = fmt.Sprintf("+44 7700 9000%02d", i) // normalized to 44770090000i
		}
		recs = append(recs, connector.Record{Fields: f})
	}
	recs = append(recs, connector.Record{Fields: map[string]any{"firstName": "Nobody"}}) // no identifier: single create
	res := upsert(t, h.c, EntityCustomer, recs...)
	for i, r := range res {
		if r.Effect != connector.Created || r.Err != nil {
			t.Fatalf("record %d: %+v", i, r)
		}
		p := get(t, h.emu, r.Key)
		if p["firstName"] != recs[i].Fields["firstName"] || p["type"] != "CUSTOMER" {
			t.Errorf("record %d got key %s, which is %v", i, r.Key, p)
		}
	}
	if got := phonesOf(get(t, h.emu, res[2].Key)); fmt.Sprint(got) != "[447700900002]" {
		t.Errorf("phone stored as %v", got)
	}
	c := counts(h.rec.reset())
	// 10 records in batches of 4: 3 batch creates and 3 matches; one single
	// create; the definitions once.
	want := map[string]int{"POST /people/2/persons/batch": 3, "POST /people/2/persons/match": 3,
		"POST /people/2/persons": 1, "GET /people/2/customAttributes": 1}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("requests %v, want %v", c, want)
	}
}

func TestDuplicateEmailOnCreate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	h.emu.Insert(personMap("taken@example.com", nil))
	res := upsert(t, h.c, EntityCustomer,
		connector.Record{Fields: map[string]any{"firstName": "A", "email": "TAKEN@example.com"}},
		connector.Record{Fields: map[string]any{"firstName": "B", "email": "new@example.com"}},
		connector.Record{Fields: map[string]any{"firstName": "C", "email": "New@Example.com"}},
	)
	for _, i := range []int{0, 2} {
		if res[i].Effect != connector.Failed || connector.KindOf(res[i].Err) != connector.ErrorConflict {
			t.Errorf("record %d: %+v, want a conflict", i, res[i])
			continue
		}
		msg := res[i].Err.Error()
		if !strings.Contains(msg, "already exists") || !strings.Contains(msg, fmt.Sprintf("record %d", i)) || !strings.Contains(msg, "look the person up") {
			t.Errorf("record %d: the message must say what, which record and what to do: %s", i, msg)
		}
	}
	if res[1].Effect != connector.Created || get(t, h.emu, res[1].Key)["firstName"] != "B" {
		t.Errorf("record 1: %+v", res[1])
	}
	if h.emu.Len() != 2 {
		t.Errorf("%d persons, want 2", h.emu.Len())
	}
}

func TestBatchWithMixedFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	if err := h.emu.DefineAttribute("Score", "INTEGER"); err != nil {
		t.Fatal(err)
	}
	existing := h.emu.Insert(personMap("old@example.com", map[string]any{"externalId": "E-1"}))
	recs := []connector.Record{
		{Fields: map[string]any{"firstName": "ok0", "email": "ok0@example.com", "custom.Score": 3}},
		{Fields: map[string]any{"firstName": "dup", "externalId": "E-1"}},                     // conflict (server)
		{Fields: map[string]any{"firstName": "bad email", "email": "nope@"}},                  // invalid (server)
		{Fields: map[string]any{"firstName": "bad gender", "gender": "OTHER"}},                // invalid (client)
		{Fields: map[string]any{"firstName": "bad score", "custom.Score": "many"}},            // invalid (client)
		{Fields: map[string]any{"firstName": "undefined", "custom.Nope": "x"}},                // undefined attribute
		{Fields: map[string]any{"firstName": "read-only", "modifiedAt": time.Now()}},          // read-only
		{Fields: map[string]any{"firstName": "ok7", "phone": "41790000007"}},                  // ok
		{Key: fmt.Sprint(existing), Fields: map[string]any{"city": "Split"}},                  // update ok
		{Key: "424242", Fields: map[string]any{"city": "Split"}},                              // missing
		{Key: "abc", Fields: map[string]any{"city": "Split"}},                                 // not an id
		{Fields: map[string]any{"firstName": strings.Repeat("x", 256), "email": "long@x.io"}}, // too long
		{Fields: map[string]any{"firstName": "ok12", "email": "ok12@example.com", "nickName": "x"}},
	}
	res := upsert(t, h.c, EntityCustomer, recs...)
	want := []struct {
		op   connector.Effect
		kind connector.ErrorKind
		text string
	}{
		{connector.Created, "", ""},
		{connector.Failed, connector.ErrorConflict, "already exists"},
		{connector.Failed, connector.ErrorInvalid, "nope@"},
		{connector.Failed, connector.ErrorInvalid, "field gender"},
		{connector.Failed, connector.ErrorInvalid, "custom.Score"},
		{connector.Failed, connector.ErrorInvalid, `custom attribute "Nope" is not defined`},
		{connector.Failed, connector.ErrorInvalid, "field modifiedAt is set by People"},
		{connector.Created, "", ""},
		{connector.Updated, "", ""},
		{connector.Failed, connector.ErrorNotFound, "no person with id 424242"},
		{connector.Failed, connector.ErrorNotFound, "not a People person id"},
		{connector.Failed, connector.ErrorInvalid, "256 characters, People allows 255"},
		{connector.Failed, connector.ErrorInvalid, `no field "nickName"`},
	}
	for i, w := range want {
		r := res[i]
		if r.Effect != w.op || connector.KindOf(r.Err) != w.kind || (w.text != "" && !strings.Contains(r.Err.Error(), w.text)) {
			t.Errorf("record %d: op %q err %v; want %q %q containing %q", i, r.Effect, r.Err, w.op, w.kind, w.text)
		}
		if r.Err != nil {
			if e, ok := r.Err.(*connector.Error); !ok || e.Hint == "" {
				t.Errorf("record %d: the error has no hint: %v", i, r.Err)
			}
		}
	}
	if get(t, h.emu, res[0].Key)["firstName"] != "ok0" || get(t, h.emu, res[7].Key)["firstName"] != "ok7" {
		t.Error("created keys are mapped to the wrong records")
	}
	if h.emu.Len() != 3 {
		t.Errorf("%d persons, want 3", h.emu.Len())
	}
}

// A partial update writes only the fields it has: the person keeps its
// other attributes, custom attributes, tags, contacts and externalId. The
// connector never sends PUT /people/2/persons (which clears what it omits).
func TestPartialUpdateKeepsWhatItDoesNotOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	for _, a := range [][2]string{{"JobTitle", "STRING"}, {"Company", "STRING"}, {"Since", "DATE"}, {"Seen", "DATE_TIME"}} {
		if err := h.emu.DefineAttribute(a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	id := h.emu.Insert(map[string]any{
		"externalId": "E-1", "firstName": "Ann", "lastName": "Lee", "city": "Zagreb", "tags": []any{"VIP"},
		"customAttributes": map[string]any{"JobTitle": "CTO", "Company": "Acme"},
		"contactInformation": map[string]any{
			"email": []any{map[string]any{"address": "ann@example.com"}, map[string]any{"address": "ann@work.example.com"}},
			"phone": []any{map[string]any{"number": "41790000001"}}},
	})
	key := fmt.Sprint(id)
	warm(t, h)
	res := upsert(t, h.c, EntityCustomer, connector.Record{Key: key, Fields: map[string]any{
		"lastName": "Smith", "city": nil, "custom.JobTitle": "CEO", "custom.Since": "2020-02-03",
		"custom.Seen": time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
	}})
	if res[0].Effect != connector.Updated || res[0].Err != nil {
		t.Fatalf("%+v", res[0])
	}
	p := get(t, h.emu, key)
	want := map[string]any{"externalId": "E-1", "firstName": "Ann", "lastName": "Smith", "type": "CUSTOMER"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if _, ok := p["city"]; ok {
		t.Errorf("a nil field was not cleared: city %v", p["city"])
	}
	if got := fmt.Sprint(p["customAttributes"]); got != "map[Company:Acme JobTitle:CEO Seen:2024-01-02T02:04:05 Since:2020-02-03]" {
		t.Errorf("customAttributes %s", got)
	}
	if fmt.Sprint(p["tags"]) != "[VIP]" || fmt.Sprint(emailsOf(p)) != "[ann@example.com ann@work.example.com]" || fmt.Sprint(phonesOf(p)) != "[41790000001]" {
		t.Errorf("tags or contacts changed: %v %v %v", p["tags"], emailsOf(p), phonesOf(p))
	}
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, map[string]int{"PATCH /people/2/persons/batch": 1}) {
		t.Errorf("an attribute-only update must cost one PATCH batch, not %v", c)
	}
}

// Replacing the primary email replaces the first address (the old one
// does not stay next to it, and another person can take it); other
// addresses and the phones stay. It costs a read, the PATCH, and one PUT
// of the contact information; an unchanged email costs no PUT; setting an
// email on a person without one travels in the PATCH.
func TestReplaceEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	id := h.emu.Insert(map[string]any{"contactInformation": map[string]any{
		"email": []any{map[string]any{"address": "old@example.com"}, map[string]any{"address": "second@example.com"}},
		"phone": []any{map[string]any{"number": "41790000001"}}}})
	key := fmt.Sprint(id)
	warm(t, h)
	if r := upsert(t, h.c, EntityLead, connector.Record{Key: key, Fields: map[string]any{"email": "new@example.com"}})[0]; r.Effect != connector.Updated {
		t.Fatalf("%+v", r)
	}
	p := get(t, h.emu, key)
	if got := emailsOf(p); fmt.Sprint(got) != "[new@example.com second@example.com]" {
		t.Errorf("emails %v, want the primary replaced", got)
	}
	if got := phonesOf(p); fmt.Sprint(got) != "[41790000001]" {
		t.Errorf("phones %v", got)
	}
	want := map[string]int{"GET /people/2/persons": 1, "PUT /people/2/persons/contactInformation": 1}
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, want) {
		t.Errorf("requests %v, want %v (a lead write has no attributes to PATCH)", c, want)
	}
	mustCreate(t, h.c, EntityCustomer, map[string]any{"email": "old@example.com"})

	// The same email again: nothing to send.
	h.rec.reset()
	if r := upsert(t, h.c, EntityLead, connector.Record{Key: key, Fields: map[string]any{"email": "new@example.com"}})[0]; r.Effect != connector.Unchanged {
		t.Errorf("unchanged email: %+v", r)
	}
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, map[string]int{"GET /people/2/persons": 1}) {
		t.Errorf("requests %v", c)
	}
	// In another case it is a change: People keeps the case written, and a
	// read returning the old one would be synced back to the source.
	if r := upsert(t, h.c, EntityLead, connector.Record{Key: key, Fields: map[string]any{"email": "New@Example.com"}})[0]; r.Effect != connector.Updated {
		t.Errorf("case-only change: %+v", r)
	}
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, want) {
		t.Errorf("case-only change: requests %v, want %v", c, want)
	}
	if got := emailsOf(get(t, h.emu, key)); fmt.Sprint(got) != "[New@Example.com second@example.com]" {
		t.Errorf("after a case-only change: %v", got)
	}

	// Through customer: the type is written too, in the same PATCH.
	if r := upsert(t, h.c, EntityCustomer, connector.Record{Key: key, Fields: map[string]any{"email": "second@example.com"}})[0]; r.Effect != connector.Updated {
		t.Fatalf("%+v", r)
	}
	if got := emailsOf(get(t, h.emu, key)); fmt.Sprint(got) != "[second@example.com]" {
		t.Errorf("making the second address primary: %v", got)
	}

	// A person without email: the address is appended by the PATCH.
	bare := fmt.Sprint(h.emu.Insert(map[string]any{"firstName": "Bare"}))
	h.rec.reset()
	upsert(t, h.c, EntityCustomer, connector.Record{Key: bare, Fields: map[string]any{"email": "bare@example.com", "phone": "+41 79 000 0002"}})
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, map[string]int{"GET /people/2/persons": 1, "PATCH /people/2/persons/batch": 1}) {
		t.Errorf("requests %v", c)
	}
	p = get(t, h.emu, bare)
	if fmt.Sprint(emailsOf(p), phonesOf(p)) != "[bare@example.com] [41790000002]" {
		t.Errorf("%v %v", emailsOf(p), phonesOf(p))
	}

	// Clearing the email removes the primary address only; a whole list
	// replaces the list.
	upsert(t, h.c, EntityCustomer, connector.Record{Key: key, Fields: map[string]any{"emails": []any{"a@example.com", "b@example.com"}}})
	upsert(t, h.c, EntityCustomer, connector.Record{Key: key, Fields: map[string]any{"email": nil}})
	if got := emailsOf(get(t, h.emu, key)); fmt.Sprint(got) != "[b@example.com]" {
		t.Errorf("after clearing the primary: %v", got)
	}

	// Taking another person's address fails for that record only.
	r := upsert(t, h.c, EntityCustomer, connector.Record{Key: key, Fields: map[string]any{"email": "bare@example.com"}})[0]
	if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorConflict {
		t.Errorf("taking another person's email: %+v", r)
	}
}

// warm loads the custom attribute definitions and clears the request log.
func warm(t testing.TB, h *harness) {
	t.Helper()
	if _, err := h.c.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	h.rec.reset()
}

func TestTagsAreReplaced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	a := fmt.Sprint(h.emu.Insert(map[string]any{"firstName": "A", "tags": []any{"Old", "Keep"}}))
	b := fmt.Sprint(h.emu.Insert(map[string]any{"firstName": "B", "tags": []any{"Old"}}))
	warm(t, h)
	res := upsert(t, h.c, EntityCustomer,
		connector.Record{Key: a, Fields: map[string]any{"tags": []any{"Keep", "New"}}},
		connector.Record{Key: b, Fields: map[string]any{"tags": nil}},
	)
	for _, r := range res {
		if r.Effect != connector.Updated {
			t.Fatalf("%+v", r)
		}
	}
	if got := get(t, h.emu, a)["tags"]; fmt.Sprint(got) != "[Keep New]" {
		t.Errorf("a: tags %v", got)
	}
	if got := get(t, h.emu, b)["tags"]; got != nil {
		t.Errorf("b: tags %v", got)
	}
	want := map[string]int{"POST /people/2/tags": 2, "GET /people/2/persons": 1, "PATCH /people/2/persons/batch": 1, "DELETE /people/2/tags/Old/persons": 1}
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, want) {
		t.Errorf("requests %v, want %v (each new tag created once, one removal request for both persons)", c, want)
	}
	// Known tags are not created again; a tag People refuses fails its
	// record only.
	res = upsert(t, h.c, EntityCustomer,
		connector.Record{Key: b, Fields: map[string]any{"tags": []any{"New"}}},
		connector.Record{Key: a, Fields: map[string]any{"tags": []any{strings.Repeat("t", 300)}}},
	)
	if res[0].Effect != connector.Updated || res[1].Effect != connector.Failed || connector.KindOf(res[1].Err) != connector.ErrorInvalid {
		t.Errorf("%+v", res)
	}
	if c := counts(h.rec.reset()); c["POST /people/2/tags"] != 1 {
		t.Errorf("requests %v: only the unknown tag is created", c)
	}
	if got := get(t, h.emu, a)["tags"]; fmt.Sprint(got) != "[Keep New]" {
		t.Errorf("the refused record changed: %v", got)
	}
}

func TestPersonTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	lead := mustCreate(t, h.c, EntityLead, map[string]any{"email": "lead@example.com"})
	if get(t, h.emu, lead)["type"] != "LEAD" {
		t.Fatal("a create through lead must make a LEAD")
	}
	// A lead write leaves the type alone.
	upsert(t, h.c, EntityLead, connector.Record{Key: lead, Fields: map[string]any{"city": "Split"}})
	if get(t, h.emu, lead)["type"] != "LEAD" {
		t.Error("lead update changed the type")
	}
	// Writing through customer promotes.
	upsert(t, h.c, EntityCustomer, connector.Record{Key: lead, Fields: map[string]any{"city": "Rome"}})
	if get(t, h.emu, lead)["type"] != "CUSTOMER" {
		t.Error("a customer write must promote the lead")
	}
	// ... and a lead write never demotes a customer.
	if r := upsert(t, h.c, EntityLead, connector.Record{Key: lead, Fields: map[string]any{"city": "Rome"}})[0]; r.Effect != connector.Unchanged && r.Effect != connector.Updated {
		t.Fatalf("%+v", r)
	}
	if get(t, h.emu, lead)["type"] != "CUSTOMER" {
		t.Error("a lead write demoted a customer")
	}
	if r := upsert(t, h.c, EntityCustomer, connector.Record{Fields: map[string]any{"type": "LEAD"}})[0]; connector.KindOf(r.Err) != connector.ErrorInvalid || !strings.Contains(r.Err.Error(), "write through customer") {
		t.Errorf("writing type: %+v", r)
	}
	// Reads return only the entity's type; lookups find either.
	if recs, _ := readAll(t, h.c, EntityLead, connector.Cursor{}); len(recs) != 0 {
		t.Errorf("lead read returned %d customers", len(recs))
	}
	res, err := h.c.Lookup(testCtx(t), connector.LookupRequest{Entity: EntityLead, Field: "email", Values: []any{"LEAD@example.com"}})
	if err != nil || len(res.Records[0]) != 1 || res.Records[0][0].Fields["type"] != "CUSTOMER" {
		t.Errorf("lookup through lead of a customer: %+v %v", res, err)
	}
}

func TestDeleteResults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	a := mustCreate(t, h.c, EntityCustomer, map[string]any{"email": "a@example.com"})
	h.rec.reset()
	res, err := h.c.Delete(testCtx(t), connector.DeleteRequest{Entity: EntityCustomer, Keys: []string{a, "777", "x", a}})
	if err != nil {
		t.Fatal(err)
	}
	ops := []connector.Effect{res.Results[0].Effect, res.Results[1].Effect, res.Results[2].Effect, res.Results[3].Effect}
	if !reflect.DeepEqual(ops, []connector.Effect{connector.Deleted, connector.Failed, connector.Failed, connector.Failed}) {
		t.Errorf("ops %v", ops)
	}
	for _, r := range res.Results[1:] {
		if connector.KindOf(r.Err) != connector.ErrorNotFound {
			t.Errorf("%+v", r)
		}
	}
	// The repeated key goes in a batch of its own.
	if c := counts(h.rec.reset()); c["DELETE /people/2/persons/batch"] != 2 {
		t.Errorf("requests %v", c)
	}
	if h.emu.Len() != 0 {
		t.Errorf("%d persons left", h.emu.Len())
	}
}

// Writing a custom attribute that the account does not define is a
// per-record error, found before any write; one defined after the
// connector cached the definitions is found by reloading them.
func TestUndefinedAttributeOnWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	if _, err := h.c.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	h.rec.reset()
	r := upsert(t, h.c, EntityCustomer, connector.Record{Fields: map[string]any{"email": "a@example.com", "custom.Tier": "gold"}})[0]
	if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorInvalid || !strings.Contains(r.Err.Error(), "schema pull") {
		t.Fatalf("%+v", r)
	}
	if c := counts(h.rec.reset()); !reflect.DeepEqual(c, map[string]int{"GET /people/2/customAttributes": 1}) {
		t.Errorf("requests %v: only the definitions are reloaded", c)
	}
	if err := h.emu.DefineAttribute("Tier", "STRING"); err != nil {
		t.Fatal(err)
	}
	key := mustCreate(t, h.c, EntityCustomer, map[string]any{"email": "a@example.com", "custom.Tier": "gold"})
	if got := get(t, h.emu, key)["customAttributes"]; fmt.Sprint(got) != "map[Tier:gold]" {
		t.Errorf("%v", got)
	}
}

func TestDiscoverMergesCustomAttributes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{Seed: 3}, tuning{})
	if err := h.emu.DefineListAttribute("Cart", "LIST_OF_OBJECTS", map[string]string{"sku": "STRING"}); err != nil {
		t.Fatal(err)
	}
	s, err := h.c.Discover(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{EntityCustomer, EntityLead} {
		e, ok := s.Entity(name)
		if !ok {
			t.Fatalf("no entity %s", name)
		}
		for field, typ := range map[string]connector.Type{"custom.JobTitle": connector.String, "custom.Contract Expiry": connector.Date,
			"custom.Loyalty Points": connector.Int, "custom.Cart": connector.Object, "email": connector.String} {
			f, ok := e.Field(field)
			if !ok || f.Type != typ || f.Custom != strings.HasPrefix(field, "custom.") {
				t.Errorf("%s.%s: %+v", name, field, f)
			}
		}
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

// TestNormalizeEmptyIsAbsent: an empty phone normalizes to nil, as a read
// returns an absent one (conntest checks Normalize against reads).
func TestNormalizeEmptyIsAbsent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	if got := h.c.Normalize(EntityCustomer, "phone", ""); got != nil {
		t.Errorf(`Normalize(phone, "") = %#v, want nil (absent)`, got)
	}
}

// TestConcurrentFirstUsesLoadDefinitionsOnce: the engine sends a batch's
// first lookups and writes at once; the attribute definitions they all
// need are read with one request.
func TestConcurrentFirstUsesLoadDefinitionsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	h.rec.reset()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.c.attributes(testCtx(t)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if c := counts(h.rec.reset()); c["GET /people/2/customAttributes"] != 1 {
		t.Errorf("requests %v, want one definitions request", c)
	}
}

// When People refuses a batch as a whole (400, no per-item results) for
// one bad person, the connector splits the batch until that person stands
// alone: it alone fails, the others are written, in at most 2·⌈log₂ n⌉
// more requests. For creates and for updates.
func TestWholeBatchRefusalIsolatesTheBadRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{RefuseBadBatches: true}, tuning{})
	var recs []connector.Record
	for i := range 6 {
		email := fmt.Sprintf("p%d@example.com", i)
		if i == 4 {
			email = "nope@" // People refuses it; the connector does not check
		}
		recs = append(recs, connector.Record{Fields: map[string]any{"firstName": fmt.Sprint("P", i), "email": email}})
	}
	h.rec.reset()
	res := upsert(t, h.c, EntityCustomer, recs...)
	for i, r := range res {
		if i == 4 {
			if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorInvalid {
				t.Errorf("bad record: %+v; want it failed as invalid", r)
			}
			continue
		}
		if r.Effect != connector.Created {
			t.Errorf("record %d: %+v; want it created (only record 4 is bad)", i, r)
		}
	}
	if n := counts(h.rec.reset())["POST /people/2/persons/batch"]; n > 1+2*3 {
		t.Errorf("%d batch requests to isolate one record of 6; want at most 7", n)
	}
	if h.emu.Len() != 5 {
		t.Errorf("%d persons, want 5", h.emu.Len())
	}

	var ups []connector.Record
	for i, r := range res {
		if i == 4 {
			continue
		}
		lang := "en"
		if i == 2 {
			lang = "not a language"
		}
		ups = append(ups, connector.Record{Key: r.Key, Fields: map[string]any{"preferredLanguage": lang}})
	}
	res = upsert(t, h.c, EntityCustomer, ups...)
	for i, r := range res {
		if want := connector.Updated; i == 2 {
			if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorInvalid {
				t.Errorf("bad update: %+v; want it failed as invalid", r)
			}
		} else if r.Effect != want {
			t.Errorf("update %d: %+v; want updated", i, r)
		}
	}
	if n := counts(h.rec.reset())["PATCH /people/2/persons/batch"]; n > 1+2*3 {
		t.Errorf("%d batch requests to isolate one update of 5; want at most 7", n)
	}

	// Every record bad: the splitting stops at its bound, and all fail.
	recs = nil
	for i := range 16 {
		recs = append(recs, connector.Record{Fields: map[string]any{"firstName": fmt.Sprint("B", i), "email": fmt.Sprintf("b%d@", i)}})
	}
	for i, r := range upsert(t, h.c, EntityCustomer, recs...) {
		if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorInvalid {
			t.Errorf("all bad, record %d: %+v; want failed as invalid", i, r)
		}
	}
	// Splitting is what is bounded: the recorder logs throttled answers
	// apart, so a 429 the pacer draws is not counted.
	if n := counts(h.rec.reset())["POST /people/2/persons/batch"]; n > 4*4+1 {
		t.Errorf("%d batch requests for 16 bad records; want at most 17", n)
	}
}
