package people

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/bits"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/wire"
)

// Upsert creates the records without a Key and updates those with one.
//
// Endpoints, chosen so that a write never destroys data it does not own
// (requests per call for n records, n ≤ 1000 unless said):
//
//   - Create: POST /people/2/persons/batch (1 request, 5/s), which reports
//     only failures (duplicates as item status 409), then POST
//     /people/2/persons/match (1 request, 15/s) to learn the new ids from
//     each record's externalId, email or phone. A record with none of them
//     cannot be matched and is created alone with POST /people/2/persons
//     (1 request each, 10/s), which answers the new person. Not the v3
//     upsert: it would silently update an existing person whose email a
//     "new" record carries, where a create must report the duplicate.
//   - Update: PATCH /people/2/persons/batch (1 request, 5/s) addressed by
//     type ID. PATCH keeps what the request leaves out, so a mapping that
//     owns three fields writes three fields; a present nil is sent as null
//     and clears the attribute. PUT (which clears everything omitted) is
//     never used for persons.
//   - Contacts: PATCH appends email addresses and phone numbers, so
//     replacing the primary email with PATCH would leave the old one next
//     to it. When a record writes email, phone, emails or phones, the
//     connector first reads the persons concerned (GET with an id filter, 1
//     request per 200 persons). A change that only adds entries after the
//     current ones travels in the PATCH; any other change (replacing or
//     removing an entry) is one PUT /people/2/persons/contactInformation per
//     person (5/s), which replaces the person's emails and phones with the
//     computed lists. An unchanged list costs nothing.
//   - Tags: PATCH appends tags; tags a record no longer lists are removed
//     with DELETE /people/2/tags/{name}/persons (1 request per removed tag
//     name per 1000 persons). A tag name the connection has not written
//     before is first created with POST /people/2/tags (once per name).
//
// When the persons were read first, a record whose values all equal the
// current ones is reported Unchanged and not sent.
//
// Writing through customer sets type CUSTOMER (promoting a lead); writing
// through lead sets LEAD on create and leaves the type of an existing
// person alone, so a customer is never demoted.
func (c *Conn) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	if err := ctx.Err(); err != nil {
		return connector.BatchResult{}, err
	}
	typ, err := personType(req.Entity)
	if err != nil {
		return connector.BatchResult{}, err
	}
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Records))}
	if len(req.Records) == 0 {
		return res, nil
	}
	defs, err := c.definitionsFor(ctx, req.Records)
	if err != nil {
		return failRest(res, req.Records, err)
	}
	var items []*item
	for i, rec := range req.Records {
		it, err := encode(req.Entity, typ, i, rec, defs)
		if err != nil {
			res.Results[i] = connector.WriteResult{Key: rec.Key, Effect: connector.Failed, Err: err}
			continue
		}
		items = append(items, it)
	}
	tagErrs, err := c.ensureTags(ctx, items)
	if err != nil {
		return failRest(res, req.Records, err)
	}
	var creates, updates []*item
	for _, it := range items {
		if it.tags != nil {
			if err := firstTagError(*it.tags, tagErrs); err != nil {
				res.Results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Failed, Err: err}
				continue
			}
		}
		if it.key == "" {
			creates = append(creates, it)
		} else {
			updates = append(updates, it)
		}
	}
	if err := c.createAll(ctx, req.Entity, creates, res.Results); err != nil {
		return failRest(res, req.Records, err)
	}
	if err := c.updateAll(ctx, req.Entity, typ, updates, res.Results); err != nil {
		return failRest(res, req.Records, err)
	}
	return res, nil
}

// failRest fails every record without a result yet with err.
func failRest(res connector.BatchResult, recs []connector.Record, err error) (connector.BatchResult, error) {
	for i := range res.Results {
		if res.Results[i].Effect == "" {
			res.Results[i] = connector.WriteResult{Key: recs[i].Key, Effect: connector.Failed, Err: err}
		}
	}
	return res, err
}

// ensureTags creates the tags the records name that this connection has
// not seen yet (POST /people/2/tags, 5/s; one request per tag name per
// connection). Real clients report that People refuses a tag on a person
// before the tag exists (reference §4, a claim the spec neither confirms
// nor denies); creating it first works either way. A tag that exists
// already answers "already exists", which is fine. It returns the errors of
// tags People refused (for the records naming them) and a whole-call error.
func (c *Conn) ensureTags(ctx context.Context, items []*item) (map[string]error, error) {
	var names []string
	seen := map[string]bool{}
	c.mu.Lock()
	for _, it := range items {
		if it.tags == nil {
			continue
		}
		for _, t := range *it.tags {
			if !seen[t] && !c.tags[t] {
				seen[t] = true
				names = append(names, t)
			}
		}
	}
	c.mu.Unlock()
	sort.Strings(names)
	errs := map[string]error{}
	for _, t := range names {
		_, err := c.call(ctx, fmt.Sprintf("create tag %q", t), http.MethodPost, "/people/2/tags", nil, map[string]any{"name": t}, nil)
		switch {
		case err == nil || connector.KindOf(err) == connector.ErrorConflict:
			c.mu.Lock()
			if c.tags == nil {
				c.tags = map[string]bool{}
			}
			c.tags[t] = true
			c.mu.Unlock()
		case connector.RecordLevel(err):
			errs[t] = err
		default:
			return nil, err
		}
	}
	return errs, nil
}

func firstTagError(tags []string, errs map[string]error) error {
	for _, t := range tags {
		if err := errs[t]; err != nil {
			return err
		}
	}
	return nil
}

// definitionsFor returns the custom attribute definitions, reloading them
// once when a record writes an attribute the cache does not know (it may
// have been defined since).
func (c *Conn) definitionsFor(ctx context.Context, recs []connector.Record) (map[string]string, error) {
	defs, err := c.attributes(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		for name := range r.Fields {
			if attr, ok := strings.CutPrefix(name, connector.CustomPrefix); ok {
				if _, known := defs[attr]; !known {
					return c.loadAttributes(ctx)
				}
			}
		}
	}
	return defs, nil
}

// item is one record encoded for the wire.
type item struct {
	idx    int
	key    string
	id     int64
	op     string
	attrs  map[string]any // standard attributes, externalId and type; nil clears
	custom map[string]any // wire values by attribute name; nil clears
	tags   *[]string
	email  *string // primary; "" clears
	phone  *string
	emails *[]string
	phones *[]string

	// Filled when the person was read before an update.
	appendEmails, appendPhones []string
	addTags, removeTags        []string
	replace                    bool // PUT contactInformation with putEmails/putPhones
	putEmails, putPhones       []string
	failed                     bool
}

var standardFields = func() map[string]*connector.Field {
	ent, _ := StandardSchema().Entity(EntityCustomer)
	m := map[string]*connector.Field{}
	for _, f := range ent.Fields {
		m[f.Name] = f
	}
	return m
}()

func invalid(op, format string, args ...any) *connector.Error {
	return &connector.Error{Kind: connector.ErrorInvalid, Service: service, Op: op, Message: fmt.Sprintf(format, args...),
		Hint: "correct the value in the source record or the mapping; this record is skipped until then"}
}

// encode checks a record's fields against the schema and converts them.
func encode(entity, typ string, idx int, rec connector.Record, defs map[string]string) (*item, error) {
	it := &item{idx: idx, key: rec.Key, attrs: map[string]any{}, custom: map[string]any{}}
	if rec.Key == "" {
		it.op = fmt.Sprintf("create %s (record %d)", entity, idx)
		it.attrs["type"] = typ
	} else {
		it.op = fmt.Sprintf("update %s %s", entity, rec.Key)
		id, err := strconv.ParseInt(rec.Key, 10, 64)
		if err != nil || id <= 0 {
			return nil, &connector.Error{Kind: connector.ErrorNotFound, Service: service, Op: it.op,
				Message: fmt.Sprintf("%q is not a People person id (a positive integer)", rec.Key), Hint: hintNotFound}
		}
		it.id = id
		if typ == "CUSTOMER" {
			it.attrs["type"] = typ // promotes a lead; a lead write never demotes
		}
	}
	names := make([]string, 0, len(rec.Fields))
	for n := range rec.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := rec.Fields[name]
		if attr, ok := strings.CutPrefix(name, connector.CustomPrefix); ok {
			dt, defined := defs[attr]
			if !defined {
				return nil, &connector.Error{Kind: connector.ErrorInvalid, Service: service, Op: it.op,
					Message: fmt.Sprintf("field %s: custom attribute %q is not defined in this People account", name, attr),
					Hint:    hintUndefined}
			}
			wv, err := wireCustom(dt, v)
			if err != nil {
				return nil, invalid(it.op, "field %s (%s): %v", name, dt, err)
			}
			if s, ok := wv.(string); ok && utf8.RuneCountInString(s) > 4096 {
				return nil, invalid(it.op, "field %s: %d characters, People allows 4096", name, utf8.RuneCountInString(s))
			}
			it.custom[attr] = wv
			continue
		}
		f, ok := standardFields[name]
		if !ok {
			return nil, invalid(it.op, "entity %s has no field %q", entity, name)
		}
		if f.ReadOnly {
			msg := fmt.Sprintf("field %s is set by People and cannot be written", name)
			if name == "type" {
				msg += "; the type follows the entity: write through customer to make a person a customer"
			}
			return nil, &connector.Error{Kind: connector.ErrorInvalid, Service: service, Op: it.op, Message: msg,
				Hint: "remove the field from the mapping"}
		}
		cv, err := connector.Canonical(f.Type, v)
		if err != nil {
			return nil, invalid(it.op, "field %s: %v", name, err)
		}
		switch name {
		case "email", "phone":
			s, _ := cv.(string)
			if name == "email" {
				s = normalizeEmail(s)
			} else {
				s = normalizePhone(s)
			}
			if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
				return nil, invalid(it.op, "field %s: %d characters, People allows %d", name, utf8.RuneCountInString(s), f.MaxLength)
			}
			if name == "email" {
				it.email = &s
			} else {
				it.phone = &s
			}
		case "emails", "phones", "tags":
			var list []string
			if cv != nil {
				for _, e := range cv.([]any) {
					s := strings.TrimSpace(e.(string))
					switch name {
					case "phones":
						s = normalizePhone(s)
					case "emails":
						s = normalizeEmail(s)
					}
					if s != "" {
						list = append(list, s)
					}
				}
			}
			if len(list) > 100 && name != "tags" {
				return nil, invalid(it.op, "field %s: %d entries, People allows 100 per person", name, len(list))
			}
			switch name {
			case "emails":
				list = dedupe(list, true)
				it.emails = &list
			case "phones":
				list = dedupe(list, false)
				it.phones = &list
			default:
				list = dedupe(list, false)
				it.tags = &list
			}
		case "birthDate":
			if cv == nil {
				it.attrs[name] = nil
			} else {
				it.attrs[name] = cv.(time.Time).Format(connector.DateLayout)
			}
		default:
			s, _ := cv.(string)
			if s == "" {
				it.attrs[name] = nil
				continue
			}
			if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
				return nil, invalid(it.op, "field %s: %q is not one of %s", name, s, strings.Join(f.Enum, ", "))
			}
			if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
				return nil, invalid(it.op, "field %s: %d characters, People allows %d", name, utf8.RuneCountInString(s), f.MaxLength)
			}
			it.attrs[name] = s
		}
	}
	return it, nil
}

func dedupe(list []string, fold bool) []string {
	var out []string
	for _, s := range list {
		if !containsStr(out, s, fold) {
			out = append(out, s)
		}
	}
	return out
}

func containsStr(list []string, s string, fold bool) bool {
	for _, e := range list {
		if e == s || (fold && strings.EqualFold(e, s)) {
			return true
		}
	}
	return false
}

func withoutStr(list []string, s string, fold bool) []string {
	var out []string
	for _, e := range list {
		if !(e == s || (fold && strings.EqualFold(e, s))) {
			out = append(out, e)
		}
	}
	return out
}

// desired computes a contact list after a write: list (emails/phones), when
// written, replaces cur; a written primary value replaces the first entry
// (or, with a written list, goes first in it); a cleared primary removes
// the first entry.
func desired(cur []string, list *[]string, primary *string, fold bool) []string {
	d := slices.Clone(cur)
	if list != nil {
		d = slices.Clone(*list)
	}
	if primary == nil {
		return d
	}
	v := *primary
	switch {
	case v == "" && list == nil:
		if len(d) > 0 {
			d = d[1:]
		}
	case v == "":
	case list != nil:
		d = append([]string{v}, withoutStr(d, v, fold)...)
	default:
		rest := d
		if len(rest) > 0 {
			rest = rest[1:]
		}
		d = append([]string{v}, withoutStr(rest, v, fold)...)
	}
	return d
}

func writesContacts(it *item) bool {
	return it.email != nil || it.phone != nil || it.emails != nil || it.phones != nil
}

// identity returns what the new person can be matched by after a batch
// create: externalId, else the first email, else the first phone.
func (it *item) identity() (identity, bool) {
	if s, ok := it.attrs["externalId"].(string); ok && s != "" {
		return identity{"EXTERNAL_ID", s}, true
	}
	if e := desired(nil, it.emails, it.email, true); len(e) > 0 {
		return identity{"EMAIL", e[0]}, true
	}
	if p := desired(nil, it.phones, it.phone, false); len(p) > 0 {
		return identity{"PHONE", p[0]}, true
	}
	return identity{}, false
}

type addressJSON struct {
	Address string `json:"address"`
}

type numberJSON struct {
	Number string `json:"number"`
}

func contactsJSON(emails, phones []string) map[string]any {
	e := make([]addressJSON, len(emails))
	for i, a := range emails {
		e[i] = addressJSON{a}
	}
	p := make([]numberJSON, len(phones))
	for i, n := range phones {
		p[i] = numberJSON{n}
	}
	return map[string]any{"email": e, "phone": p}
}

// createBody is the IamPersonV2 of a new person (nil values left out).
func (it *item) createBody() map[string]any {
	b := map[string]any{}
	for k, v := range it.attrs {
		if v != nil {
			b[k] = v
		}
	}
	custom := map[string]any{}
	for k, v := range it.custom {
		if v != nil {
			custom[k] = v
		}
	}
	if len(custom) > 0 {
		b["customAttributes"] = custom
	}
	if it.tags != nil && len(*it.tags) > 0 {
		b["tags"] = *it.tags
	}
	emails := desired(nil, it.emails, it.email, true)
	phones := desired(nil, it.phones, it.phone, false)
	if len(emails) > 0 || len(phones) > 0 {
		ci := map[string]any{}
		if len(emails) > 0 {
			ci["email"] = contactsJSON(emails, nil)["email"]
		}
		if len(phones) > 0 {
			ci["phone"] = contactsJSON(nil, phones)["phone"]
		}
		b["contactInformation"] = ci
	}
	return b
}

// patchBody is the PATCH update of an existing person: attributes (null
// clears), custom attributes, and the contacts and tags that only append.
func (it *item) patchBody() map[string]any {
	b := map[string]any{}
	for k, v := range it.attrs {
		b[k] = v
	}
	if len(it.custom) > 0 {
		b["customAttributes"] = it.custom
	}
	if len(it.addTags) > 0 {
		b["tags"] = it.addTags
	}
	if len(it.appendEmails) > 0 || len(it.appendPhones) > 0 {
		ci := map[string]any{}
		if len(it.appendEmails) > 0 {
			ci["email"] = contactsJSON(it.appendEmails, nil)["email"]
		}
		if len(it.appendPhones) > 0 {
			ci["phone"] = contactsJSON(nil, it.appendPhones)["phone"]
		}
		b["contactInformation"] = ci
	}
	return b
}

// batchResult is one failed item of a v2 batch answer.
type batchResult struct {
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
	Status int       `json:"status"`
	Index  *int      `json:"index"`
	Query  *identity `json:"query"`
}

func (r batchResult) messages() []string {
	out := make([]string, 0, len(r.Errors))
	for _, e := range r.Errors {
		out = append(out, e.Message)
	}
	return out
}

func (c *Conn) createAll(ctx context.Context, entity string, items []*item, results []connector.WriteResult) error {
	var batched, singles []*item
	for _, it := range items {
		if _, ok := it.identity(); ok {
			batched = append(batched, it)
		} else {
			singles = append(singles, it)
		}
	}
	for start := 0; start < len(batched); start += c.tune.batchSize {
		chunk := batched[start:min(start+c.tune.batchSize, len(batched))]
		send := func(g []*item) (error, error) { return c.createBatch(ctx, entity, g, results) }
		if err := isolate(chunk, send, func(it *item, err error) { it.failAt(results, err) }); err != nil {
			return err
		}
	}
	for _, it := range singles {
		var raw rawJSON
		_, err := c.call(ctx, it.op, http.MethodPost, "/people/2/persons", nil, it.createBody(), &raw)
		if err != nil {
			if !connector.RecordLevel(err) {
				return err
			}
			results[it.idx] = connector.WriteResult{Effect: connector.Failed, Err: err}
			continue
		}
		p, err := parsePerson(json.RawMessage(raw))
		if p == nil {
			// Only the id matters here (a person with an odd modifiedAt
			// is still created).
			return &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: it.op, Message: err.Error(),
				Hint: "People created the person but answered in a form the connector cannot read"}
		}
		results[it.idx] = connector.WriteResult{Key: p.key(), Effect: connector.Created}
	}
	return nil
}

func (c *Conn) updateAll(ctx context.Context, entity, typ string, items []*item, results []connector.WriteResult) error {
	if len(items) == 0 {
		return nil
	}
	// Read the persons whose contacts or tags change (and those with
	// nothing to PATCH, to tell whether they exist).
	var need []int64
	for _, it := range items {
		if writesContacts(it) || it.tags != nil || len(it.patchBody()) == 0 {
			need = append(need, it.id)
		}
	}
	current, err := c.fetchByIDs(ctx, "update "+entity+": read the current contacts", need)
	if err != nil {
		return err
	}
	var patch []*item
	for _, it := range items {
		if !(writesContacts(it) || it.tags != nil || len(it.patchBody()) == 0) {
			patch = append(patch, it)
			continue
		}
		p := current[it.id]
		if p == nil {
			results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Failed, Err: notFound(it.op, it.key)}
			continue
		}
		plan(it, p)
		if !it.replace && len(it.removeTags) == 0 && len(it.addTags) == 0 && len(it.appendEmails) == 0 &&
			len(it.appendPhones) == 0 && sameAttributes(it, p) {
			results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Unchanged}
			continue
		}
		patch = append(patch, it)
	}
	if err := c.patchAll(ctx, entity, patch, results); err != nil {
		return err
	}
	for _, it := range patch {
		if it.failed || !it.replace {
			continue
		}
		q := url.Values{"identifier": {it.key}, "type": {"ID"}}
		body := map[string]any{"contactInformation": contactsJSON(it.putEmails, it.putPhones)}
		op := it.op + " (its other fields are written): replace its contact information"
		if _, err := c.call(ctx, op, http.MethodPut, "/people/2/persons/contactInformation", q, body, nil); err != nil {
			if !connector.RecordLevel(err) {
				return err
			}
			if connector.KindOf(err) == connector.ErrorNotFound {
				err = notFound(it.op, it.key)
			}
			it.fail(results, err)
		}
	}
	return c.removeTags(ctx, entity, patch, results)
}

// plan compares an update with the person as it is and decides how its
// contacts and tags are written (see Upsert).
func plan(it *item, p *apiPerson) {
	curE, curP := p.contacts("email"), p.contacts("phone")
	wantE := desired(curE, it.emails, it.email, true)
	wantP := desired(curP, it.phones, it.phone, false)
	// Emails compare with their case here: People matches them without
	// case, but stores and returns them as written, so a case-only change
	// ("Ana@Example.com" to "ana@example.com") must be written, or the next
	// read returns the old case and syncs it back to the source.
	eqE, eqP := equalList(curE, wantE, false), equalList(curP, wantP, false)
	switch {
	case eqE && eqP:
	case isPrefix(curE, wantE, false) && isPrefix(curP, wantP, false):
		it.appendEmails = wantE[len(curE):]
		it.appendPhones = wantP[len(curP):]
	default:
		it.replace = true
		it.putEmails, it.putPhones = wantE, wantP
	}
	if it.tags != nil {
		cur := p.tags()
		for _, t := range *it.tags {
			if !slices.Contains(cur, t) {
				it.addTags = append(it.addTags, t)
			}
		}
		for _, t := range cur {
			if !slices.Contains(*it.tags, t) {
				it.removeTags = append(it.removeTags, t)
			}
		}
	}
}

func equalList(a, b []string, fold bool) bool {
	return len(a) == len(b) && isPrefix(a, b, fold)
}

// isPrefix reports whether a is a prefix of b.
func isPrefix(a, b []string, fold bool) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if !(a[i] == b[i] || (fold && strings.EqualFold(a[i], b[i]))) {
			return false
		}
	}
	return true
}

// sameAttributes reports whether the attributes and custom attributes an
// update writes equal the person's.
func sameAttributes(it *item, p *apiPerson) bool {
	for k, v := range it.attrs {
		var have any
		if k == "type" {
			have = p.Type
		} else if s := p.str(k); s != "" {
			have = s
		}
		if v != have {
			return false
		}
	}
	cur := p.custom()
	for k, v := range it.custom {
		hv := cur[k]
		if v == nil || hv == nil {
			if v != nil || hv != nil {
				return false
			}
			continue
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(wire.PlainJSON(hv))
		if string(a) != string(b) {
			return false
		}
	}
	return true
}

// uniqueChunks splits items into batches of at most batchSize in which no
// person appears twice (batch answers report failures by query, so two
// entries for one person could not be told apart).
func (c *Conn) uniqueChunks(items []*item) [][]*item {
	var chunks [][]*item
	var cur []*item
	inChunk := map[int64]bool{}
	for _, it := range items {
		if len(cur) == c.tune.batchSize || inChunk[it.id] {
			chunks = append(chunks, cur)
			cur, inChunk = nil, map[int64]bool{}
		}
		cur = append(cur, it)
		inChunk[it.id] = true
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// patchAll sends the PATCH batches. The answer reports failures by query,
// so a batch never holds the same person twice.
func (c *Conn) patchAll(ctx context.Context, entity string, items []*item, results []connector.WriteResult) error {
	var send []*item
	for _, it := range items {
		if len(it.patchBody()) == 0 {
			// Only its contacts or tags change (it was read, so it
			// exists): nothing to PATCH.
			results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Updated}
			continue
		}
		send = append(send, it)
	}
	update := func(it *item) map[string]any { return map[string]any{"update": it.patchBody()} }
	for _, chunk := range c.uniqueChunks(send) {
		if err := c.sendByID(ctx, "update "+entity, http.MethodPatch, "/people/2/persons/batch", chunk, update, false, itemErrorOf, results); err != nil {
			return err
		}
		for _, it := range chunk {
			if !it.failed {
				results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Updated}
			}
		}
	}
	return nil
}

// sendByID sends one batch request addressing the persons of chunk by id
// (PATCH or DELETE of /people/2/persons/batch, DELETE of a tag's persons):
// each entry is the ID query plus what entry adds (nil: nothing). The
// answer lists only failures, by query; each fails its item with the error
// itemErr makes of it. A request refused as a whole for a record-level
// reason is split until the refused items stand alone (see isolate),
// except a 404 when notFoundOK (nothing to do); any other error is
// returned.
func (c *Conn) sendByID(ctx context.Context, op, method, path string, chunk []*item, entry func(*item) map[string]any,
	notFoundOK bool, itemErr func(*item, batchResult) error, results []connector.WriteResult) error {
	send := func(group []*item) (error, error) {
		people := make([]map[string]any, len(group))
		byKey := make(map[string]*item, len(group))
		for i, it := range group {
			e := map[string]any{"query": identity{"ID", it.key}}
			if entry != nil {
				maps.Copy(e, entry(it))
			}
			people[i] = e
			byKey[it.key] = it
		}
		var resp struct {
			Results []batchResult `json:"results"`
		}
		status, err := c.call(ctx, op, method, path, nil, map[string]any{"people": people}, &resp)
		if notFoundOK && status == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			if !connector.RecordLevel(err) {
				return nil, err
			}
			return err, nil
		}
		for _, r := range resp.Results {
			if r.Query == nil {
				continue
			}
			if it := byKey[r.Query.Identifier]; it != nil {
				it.fail(results, itemErr(it, r))
			}
		}
		return nil, nil
	}
	return isolate(chunk, send, func(it *item, err error) { it.fail(results, err) })
}

// createBatch sends one POST /people/2/persons/batch for group and learns
// the new persons' ids. refused is the error of a request the service
// refused as a whole for a record-level reason (nothing of it was
// created: isolate splits the group); err is a failure of the call.
func (c *Conn) createBatch(ctx context.Context, entity string, group []*item, results []connector.WriteResult) (refused, err error) {
	people := make([]map[string]any, len(group))
	for i, it := range group {
		people[i] = it.createBody()
	}
	var resp struct {
		Results []batchResult `json:"results"`
	}
	op := "create " + entity
	if _, err := c.call(ctx, op, http.MethodPost, "/people/2/persons/batch", nil, map[string]any{"people": people}, &resp); err != nil {
		if !connector.RecordLevel(err) {
			return nil, err
		}
		return err, nil
	}
	for _, r := range resp.Results {
		if r.Index == nil || *r.Index < 0 || *r.Index >= len(group) {
			continue
		}
		it := group[*r.Index]
		it.failAt(results, itemError(it.op, r.Status, r.messages()))
	}
	var idents []identity
	for _, it := range group {
		if !it.failed {
			id, _ := it.identity()
			idents = append(idents, id)
		}
	}
	if len(idents) == 0 {
		return nil, nil
	}
	matched, err := c.matchIDs(ctx, op+": find the new persons' ids", idents)
	if err != nil {
		// The persons exist now: say so, or a rerun's duplicates would
		// be a mystery.
		for _, it := range group {
			if it.failed {
				continue
			}
			id, _ := it.identity()
			results[it.idx] = connector.WriteResult{Effect: connector.Failed, Err: &connector.Error{
				Kind: connector.KindOf(err), Service: service, Op: it.op,
				Message: fmt.Sprintf("People created the person, but its id could not be learned: %v", err),
				Hint:    fmt.Sprintf("creating the record again will fail as a duplicate; find the person by its %s instead", strings.ToLower(id.Type)),
				Err:     err}}
		}
		return nil, err
	}
	for _, it := range group {
		if it.failed {
			continue
		}
		id, _ := it.identity()
		pid, ok := matched[identityKey(id.Type, id.Identifier)]
		if !ok {
			results[it.idx] = connector.WriteResult{Effect: connector.Failed, Err: &connector.Error{
				Kind: connector.ErrorTransient, Service: service, Op: it.op,
				Message: fmt.Sprintf("People accepted the person but matching it by its %s found no id", strings.ToLower(id.Type)),
				Hint:    "the person was changed or deleted right after it was created; run again"}}
			continue
		}
		results[it.idx] = connector.WriteResult{Key: strconv.FormatInt(pid, 10), Effect: connector.Created}
	}
	return nil, nil
}

// isolate sends items with send and, when the service refuses a request
// as a whole for a record-level reason (a 400 without per-item results:
// People's v2 batches report a person's failure by index or query, but
// refuse a body with one person its binding cannot read as a whole, §3.5),
// splits the refused group in halves and sends each again, until the
// refused persons stand alone and fail with the service's error, and every
// other person is written. A whole-request 400 applied nothing, so
// sending the halves again creates nothing twice. One bad person among n
// costs 2·⌈log₂ n⌉ more requests. The requests per call are bounded by
// 4·⌈log₂ n⌉+1 (two bad persons isolated in full); past that, the groups
// not yet sent fail with the refusal, saying so, and wait for a retry
// rather than turning a batch of 1000 into 2000 requests. Requests go
// through the connector's pacing like any other.
func isolate(items []*item, send func([]*item) (refused, err error), fail func(*item, error)) error {
	if len(items) == 0 {
		return nil
	}
	budget := 4*bits.Len(uint(len(items)-1)) + 1
	queue := [][]*item{items}
	var last error
	for sent := 0; len(queue) > 0; {
		g := queue[0]
		queue = queue[1:]
		if sent >= budget {
			for _, it := range g {
				fail(it, &connector.Error{Kind: connector.KindOf(last), Service: service, Op: it.op,
					Message: "People refused a batch holding this person, and too many of the batch's persons were refused to send it alone: " + last.Error(),
					Hint:    "the person itself may be valid: retry it", Err: last})
			}
			continue
		}
		sent++
		refused, err := send(g)
		if err != nil {
			return err
		}
		if refused == nil {
			continue
		}
		last = refused
		if len(g) == 1 {
			fail(g[0], refused)
			continue
		}
		queue = append(queue, g[:len(g)/2], g[len(g)/2:])
	}
	return nil
}

// itemErrorOf is the error of a person a batch answer lists as failed;
// one that does not exist fails as not found, with the usual hint.
func itemErrorOf(it *item, r batchResult) error {
	err := itemError(it.op, r.Status, r.messages())
	if err.Kind == connector.ErrorNotFound {
		return notFound(it.op, it.key)
	}
	return err
}

// failAt marks a create failed with err in results (a create has no key).
func (it *item) failAt(results []connector.WriteResult, err error) {
	it.failed = true
	results[it.idx] = connector.WriteResult{Effect: connector.Failed, Err: err}
}

// fail marks the item failed with err in results.
func (it *item) fail(results []connector.WriteResult, err error) {
	it.failed = true
	results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Failed, Err: err}
}

// removeTags takes the tags records no longer list off their persons, one
// request per tag name and 1000 persons.
func (c *Conn) removeTags(ctx context.Context, entity string, items []*item, results []connector.WriteResult) error {
	byTag := map[string][]*item{}
	for _, it := range items {
		if it.failed {
			continue
		}
		for _, t := range it.removeTags {
			byTag[t] = append(byTag[t], it)
		}
	}
	tags := make([]string, 0, len(byTag))
	for t := range byTag {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, t := range tags {
		list := byTag[t]
		for start := 0; start < len(list); start += c.tune.batchSize {
			chunk := list[start:min(start+c.tune.batchSize, len(list))]
			op := fmt.Sprintf("update %s: remove tag %q", entity, t)
			tagErr := func(it *item, r batchResult) error {
				return itemError(fmt.Sprintf("%s (its other fields are written): remove tag %q", it.op, t), r.Status, r.messages())
			}
			// A 404 for the whole request: the tag is gone, so nobody has it.
			if err := c.sendByID(ctx, op, http.MethodDelete, "/people/2/tags/"+url.PathEscape(t)+"/persons", chunk, nil, true, tagErr, results); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes persons by id with DELETE /people/2/persons/batch (1000 a
// request, 5/s). A missing person fails alone with ErrorNotFound. The type
// of the person is not checked: ids are unique across both entities.
func (c *Conn) Delete(ctx context.Context, req connector.DeleteRequest) (connector.BatchResult, error) {
	if err := ctx.Err(); err != nil {
		return connector.BatchResult{}, err
	}
	if _, err := personType(req.Entity); err != nil {
		return connector.BatchResult{}, err
	}
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Keys))}
	recs := make([]connector.Record, len(req.Keys))
	op := "delete " + req.Entity
	var items []*item
	for i, k := range req.Keys {
		recs[i].Key = k
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || id <= 0 {
			res.Results[i] = connector.WriteResult{Key: k, Effect: connector.Failed, Err: &connector.Error{
				Kind: connector.ErrorNotFound, Service: service, Op: op + " " + k,
				Message: fmt.Sprintf("%q is not a People person id (a positive integer)", k), Hint: hintNotFound}}
			continue
		}
		items = append(items, &item{idx: i, key: k, id: id, op: op + " " + k})
	}
	for _, chunk := range c.uniqueChunks(items) {
		if err := c.sendByID(ctx, op, http.MethodDelete, "/people/2/persons/batch", chunk, nil, false, itemErrorOf, res.Results); err != nil {
			return failRest(res, recs, err)
		}
		for _, it := range chunk {
			if !it.failed {
				res.Results[it.idx] = connector.WriteResult{Key: it.key, Effect: connector.Deleted}
			}
		}
	}
	return res, nil
}

// EstimateUpsert is the number of requests Upsert(req) would send
// (connector.Estimator), following the endpoints described on Upsert:
// creates with an identifier take a batch create and a match per chunk,
// others one create each; updates take a PATCH batch per chunk (through
// customer every update has one: it sets the type), preceded by a read of
// the persons whose contacts or tags change, plus one PUT per person whose
// email or phone changes (counted as a replacement: a change that only
// appends costs nothing more, so the estimate is high there). Creating new
// tag names, removing tags and loading the custom attribute definitions
// are not counted.
func (c *Conn) EstimateUpsert(req connector.UpsertRequest) int {
	var batched, singles, reads, patches, puts int
	for _, r := range req.Records {
		f := r.Fields
		contacts := false
		for _, k := range []string{"email", "phone", "emails", "phones"} {
			if _, ok := f[k]; ok {
				contacts = true
			}
		}
		if r.Key == "" {
			if identified(f) {
				batched++
			} else {
				singles++
			}
			continue
		}
		_, tags := f["tags"]
		patch := req.Entity == EntityCustomer
		for k := range f {
			switch k {
			case "email", "phone", "emails", "phones", "tags":
			default:
				patch = true
			}
		}
		if contacts || tags || !patch {
			reads++
		}
		if patch {
			patches++
		}
		if contacts {
			puts++
		}
	}
	b := c.tune.batchSize
	return 2*chunks(batched, b) + singles + chunks(reads, c.tune.idsPerGet) + chunks(patches, b) + puts
}

// identified reports whether a record to create carries an identifier the
// batch create can be matched back by: externalId, an email or a phone.
func identified(f map[string]any) bool {
	if s, ok := f["externalId"].(string); ok && strings.TrimSpace(s) != "" {
		return true
	}
	for _, k := range []string{"email", "phone"} {
		if s, ok := f[k].(string); ok && strings.TrimSpace(s) != "" {
			return true
		}
	}
	for _, k := range []string{"emails", "phones"} {
		if l, ok := f[k].([]any); ok && len(l) > 0 {
			return true
		}
	}
	return false
}

// EstimateDelete is the number of requests Delete(req) would send: one
// DELETE batch per chunk.
func (c *Conn) EstimateDelete(req connector.DeleteRequest) int {
	return chunks(len(req.Keys), c.tune.batchSize)
}

// chunks is the number of requests n items take at per items a request.
func chunks(n, per int) int {
	if n <= 0 {
		return 0
	}
	return (n + per - 1) / per
}
