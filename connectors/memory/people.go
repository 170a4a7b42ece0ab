package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
)

// People is an in-memory stand-in for Infobip People with the behaviours a
// mapping meets (connectors/people's documented semantics, kind.go and
// convert.go):
//
//   - customer and lead are views of one set of persons, each of type
//     CUSTOMER or LEAD; a read returns the persons of the entity's type;
//   - email, phone and externalId identify at most one person across both
//     views; email compares without case, so "ADA@x.com" and "ada@x.com"
//     collide (a write that would duplicate one is a ErrorConflict failure);
//   - phone numbers are stored in People's normal form, digits without "+"
//     or separators ("+44 20 7946 0958" is read back as "442079460958"), and
//     People implements connector.Normalizer so the engine knows it;
//   - a lookup by id, externalId, email or phone finds a person of either
//     type; a lead lookup marks a CUSTOMER as Foreign (a lead never writes
//     over a customer);
//   - writing a person through customer promotes a LEAD to CUSTOMER;
//     writing through lead sets LEAD only on create.
//
// Values are checked like the memory connector checks them: unknown and
// read-only fields, types, maximum lengths and enumerations (gender MALE or
// FEMALE) fail the record alone. It is safe for concurrent use.
type People struct {
	mu     sync.Mutex
	schema *connector.Schema
	rows   map[int64]*person
	seq    int64
	nextID int64
	now    func() time.Time
}

type person struct {
	typ      string
	fields   map[string]any
	seq      int64
	created  time.Time
	modified time.Time
	deleted  bool
}

// NewPeople returns an empty People account with the schema's entities
// (customer and lead, with the custom attributes it declares).
func NewPeople(schema *connector.Schema) *People {
	s := schema.Clone()
	s.Normalize()
	return &People{schema: s, rows: map[int64]*person{}, now: time.Now}
}

// SetClock replaces the clock that stamps createdAt and modifiedAt.
func (p *People) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

func personType(entity string) string {
	if entity == "lead" {
		return "LEAD"
	}
	return "CUSTOMER"
}

// Discover returns the schema the account was made with.
func (p *People) Discover(ctx context.Context) (*connector.Schema, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return p.schema.Clone(), nil
}

// Close does nothing.
func (p *People) Close() error { return nil }

func (p *People) entity(name string) (*connector.Entity, error) {
	e, ok := p.schema.Entity(name)
	if !ok {
		return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "people", Message: fmt.Sprintf("no entity %q (have %s)", name, strings.Join(p.schema.EntityNames(), ", "))}
	}
	return e, nil
}

func (p *People) record(id int64, r *person) connector.Record {
	f := map[string]any{"id": id, "type": r.typ, "createdAt": r.created, "modifiedAt": r.modified}
	for k, v := range r.fields {
		f[k] = copyValue(v)
	}
	return connector.Record{Key: strconv.FormatInt(id, 10), Fields: f, Modified: r.modified}
}

// Read returns the persons of the entity's type, in full or since the
// cursor (the sequence number of the last change emitted), in one batch.
func (p *People) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := p.entity(req.Entity); err != nil {
		return err
	}
	p.mu.Lock()
	since := int64(-1)
	if !req.Since.IsZero() {
		var err error
		if since, err = strconv.ParseInt(req.Since.Token, 10, 64); err != nil {
			p.mu.Unlock()
			return &connector.Error{Kind: connector.ErrorExpiredCursor, Service: "people", Message: fmt.Sprintf("cursor %q is not valid", req.Since.Token)}
		}
	}
	var out []connector.Record
	for id, r := range p.rows {
		if !r.deleted && r.typ == personType(req.Entity) && r.seq > since {
			out = append(out, p.record(id, r))
		}
	}
	high := max(p.seq, since)
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return emit(connector.Batch{Records: out, Next: connector.Cursor{Token: strconv.FormatInt(high, 10)}})
}

// Lookup finds persons of either type by id, externalId, email (without
// case) or phone (in normal form).
func (p *People) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return connector.LookupResult{}, err
	}
	if _, err := p.entity(req.Entity); err != nil {
		return connector.LookupResult{}, err
	}
	switch req.Field {
	case "id", "externalId", "email", "phone":
	default:
		return connector.LookupResult{}, fmt.Errorf("people: lookup by %s.%s (only id, externalId, email and phone): %w", req.Entity, req.Field, connector.ErrUnsupported)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res := connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}
	for i, v := range req.Values {
		want, ok := v.(string)
		if !ok {
			want = fmt.Sprint(v)
		}
		for _, id := range p.ids() {
			r := p.rows[id]
			if r.deleted {
				continue
			}
			var have any = r.fields[req.Field]
			if req.Field == "id" {
				have = strconv.FormatInt(id, 10)
			}
			if hs, ok := have.(string); ok && identical(req.Field, hs, want) {
				rec := p.record(id, r)
				if req.Entity == "lead" && r.typ == "CUSTOMER" {
					rec.Foreign = fmt.Sprintf("a CUSTOMER (externalId %v), which a lead never writes over", r.fields["externalId"])
				}
				res.Records[i] = append(res.Records[i], rec)
			}
		}
	}
	return res, nil
}

// identical compares two values of an identifying field as People does.
func identical(field, a, b string) bool {
	switch field {
	case "email":
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	case "phone":
		return normalPhone(a) == normalPhone(b)
	}
	return a == b
}

func (p *People) ids() []int64 {
	ids := make([]int64, 0, len(p.rows))
	for id := range p.rows {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Upsert creates persons (without a key) and updates them (with one).
func (p *People) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	if err := ctx.Err(); err != nil {
		return connector.BatchResult{}, err
	}
	ent, err := p.entity(req.Entity)
	if err != nil {
		return connector.BatchResult{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Records))}
	for i, rec := range req.Records {
		res.Results[i] = p.write(ent, rec)
	}
	return res, nil
}

func (p *People) write(ent *connector.Entity, rec connector.Record) connector.WriteResult {
	op := "create " + ent.Name
	if rec.Key != "" {
		op = "update " + ent.Name + " " + rec.Key
	}
	// fail refuses the record; field, when set, is the field the refusal
	// names (connector.Error.Fields).
	fail := func(kind connector.ErrorKind, field, format string, args ...any) connector.WriteResult {
		e := &connector.Error{Kind: kind, Service: "people", Op: op, Message: fmt.Sprintf(format, args...)}
		if field != "" {
			e.Fields = []string{field}
		}
		return connector.WriteResult{Key: rec.Key, Effect: connector.Failed, Err: e}
	}
	values := map[string]any{}
	for name, v := range rec.Fields {
		f, ok := ent.Field(name)
		switch {
		case !ok:
			return fail(connector.ErrorInvalid, name, "entity %s has no field %q", ent.Name, name)
		case f.ReadOnly:
			return fail(connector.ErrorInvalid, name, "field %q is read-only", name)
		}
		cv, err := connector.Canonical(f.Type, v)
		if err != nil {
			return fail(connector.ErrorInvalid, name, "field %q: %v", name, err)
		}
		cv = p.Normalize(ent.Name, name, cv)
		if s, ok := cv.(string); ok {
			if f.MaxLength > 0 && len([]rune(s)) > f.MaxLength {
				return fail(connector.ErrorInvalid, name, "field %q: %d characters, the maximum is %d", name, len([]rune(s)), f.MaxLength)
			}
			if len(f.Enum) > 0 && !contains(f.Enum, s) {
				return fail(connector.ErrorInvalid, name, "field %q: %q is not one of %s", name, s, strings.Join(f.Enum, ", "))
			}
		}
		values[name] = cv
	}
	var id int64
	if rec.Key != "" {
		var err error
		id, err = strconv.ParseInt(rec.Key, 10, 64)
		if r := p.rows[id]; err != nil || r == nil || r.deleted {
			return fail(connector.ErrorNotFound, "", "no person %s", rec.Key)
		}
	}
	for _, u := range []string{"email", "phone", "externalId"} {
		v, ok := values[u].(string)
		if !ok {
			continue
		}
		for other, r := range p.rows {
			if have, _ := r.fields[u].(string); other != id && !r.deleted && have != "" && identical(u, have, v) {
				return fail(connector.ErrorConflict, u, "Destination(%s) %s already exists (person %d).", u, v, other)
			}
		}
	}
	now := p.now().UTC().Truncate(time.Second) // People keeps seconds
	p.seq++
	result := connector.Updated
	r := p.rows[id]
	if r == nil {
		p.nextID++
		id = p.nextID
		r = &person{typ: personType(ent.Name), fields: map[string]any{}, created: now}
		p.rows[id] = r
		result = connector.Created
	} else if ent.Name == "customer" {
		r.typ = "CUSTOMER" // promotes a lead
	}
	for k, v := range values {
		if v == nil {
			delete(r.fields, k)
		} else {
			r.fields[k] = v
		}
	}
	r.seq, r.modified = p.seq, now
	return connector.WriteResult{Key: strconv.FormatInt(id, 10), Effect: result}
}

// Delete removes persons.
func (p *People) Delete(ctx context.Context, req connector.DeleteRequest) (connector.BatchResult, error) {
	if err := ctx.Err(); err != nil {
		return connector.BatchResult{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Keys))}
	for i, k := range req.Keys {
		id, err := strconv.ParseInt(k, 10, 64)
		r := p.rows[id]
		if err != nil || r == nil || r.deleted {
			res.Results[i] = connector.WriteResult{Key: k, Effect: connector.Failed, Err: &connector.Error{Kind: connector.ErrorNotFound, Service: "people", Op: "delete " + req.Entity, Message: "no person " + k}}
			continue
		}
		p.seq++
		r.deleted, r.seq, r.fields = true, p.seq, nil
		res.Results[i] = connector.WriteResult{Key: k, Effect: connector.Deleted}
	}
	return res, nil
}

// Normalize returns a value as People stores it (connector.Normalizer):
// phone numbers in normal form, email addresses trimmed, an empty primary
// email or phone as absent.
func (p *People) Normalize(entity, field string, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch field {
	case "phone":
		s = normalPhone(s)
	case "email":
		s = strings.TrimSpace(s)
	default:
		return v
	}
	if s == "" {
		return nil
	}
	return s
}

// normalPhone is People's phone normal form: international, digits only,
// no "+" ("+44 7700 900123" → "447700900123"); separators (spaces, dashes,
// dots, parentheses) are dropped. It mirrors connectors/people's
// normalizePhone, which memory may not import.
func normalPhone(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "+")
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var (
	_ connector.Connector  = (*People)(nil)
	_ connector.Deleter    = (*People)(nil)
	_ connector.Normalizer = (*People)(nil)
)
