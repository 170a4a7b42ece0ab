package people

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/wire"
)

// stdStrings are IamPersonV2's string attributes, read and written as the
// fields of the same name.
var stdStrings = []string{"firstName", "lastName", "middleName", "gender", "address", "city", "country",
	"preferredLanguage", "profilePicture"}

// apiPerson is one IamPersonV2 as the API answers it.
type apiPerson struct {
	ID         int64
	Type       string
	Modified   time.Time // zero when the service sent none
	ModifiedAt string    // as sent (second precision, no zone)
	raw        map[string]any
	hash       uint64 // of the whole person, to tell versions apart within a second
	// ahead is set by a read when modifiedAt is ahead of the service's
	// clock (see Read).
	ahead bool
	// bad is set by a read for a person whose modifiedAt cannot be read;
	// Modified then holds a neighbour's on the page (see Conn.list).
	bad error
}

// parsePerson decodes a person. Numbers stay json.Number until converted,
// so large integers keep their precision. A person whose modifiedAt is not
// a date-time is returned with its id and hash next to an *attrError, so a
// read can reject it alone; without an id it is nil.
func parsePerson(data json.RawMessage) (*apiPerson, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("a person is not a JSON object")
	}
	p := &apiPerson{raw: m}
	switch id := m["id"].(type) {
	case json.Number:
		n, err := id.Int64()
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("a person has the id %s, not a positive integer", id)
		}
		p.ID = n
	default:
		return nil, fmt.Errorf("a person has no id")
	}
	p.Type, _ = m["type"].(string)
	if p.Type == "" {
		p.Type = "CUSTOMER" // the documented default
	}
	canon, _ := json.Marshal(m) // map keys sorted: stable whatever the service's order
	h := fnv.New64a()
	_, _ = h.Write(canon)
	p.hash = h.Sum64()
	mod, present := m["modifiedAt"]
	p.ModifiedAt, _ = mod.(string)
	if present && mod != nil && p.ModifiedAt == "" {
		// The person is known by its id: the caller may reject it alone.
		return p, &attrError{attr: "modifiedAt", jsonType: connector.JSONType(mod), want: "date-time"}
	}
	if p.ModifiedAt != "" {
		t, err := connector.ParseDateTime(p.ModifiedAt)
		if err != nil {
			return p, &attrError{attr: "modifiedAt", jsonType: "string", want: "date-time"}
		}
		// modifiedAt has no zone; the reference assumes UTC (§8).
		p.Modified = t.UTC().Truncate(time.Second)
	}
	return p, nil
}

func (p *apiPerson) str(name string) string {
	s, _ := p.raw[name].(string)
	return s
}

// contacts returns the addresses (email) or numbers (phone) in order.
func (p *apiPerson) contacts(kind string) []string {
	ci, _ := p.raw["contactInformation"].(map[string]any)
	list, _ := ci[kind].([]any)
	key := "address"
	if kind == "phone" {
		key = "number"
	}
	var out []string
	for _, e := range list {
		if obj, ok := e.(map[string]any); ok {
			if s, ok := obj[key].(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (p *apiPerson) tags() []string {
	list, _ := p.raw["tags"].([]any)
	var out []string
	for _, t := range list {
		if s, ok := t.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (p *apiPerson) custom() map[string]any {
	m, _ := p.raw["customAttributes"].(map[string]any)
	return m
}

func (p *apiPerson) key() string { return strconv.FormatInt(p.ID, 10) }

// record converts a person to a Record of the standard schema plus its
// custom attributes (defs maps names to data types). fields, when not nil,
// limits the fields returned (id and modifiedAt are always there). Absent
// values are left out of Fields. A standard attribute holding a value of
// another type (firstName 12345, a birthDate that is no date) fails the
// person with an *attrError; the record returned then holds the other
// fields, so a lookup can still find it.
func (p *apiPerson) record(fields []string, defs map[string]string) (connector.Record, error) {
	rec := connector.Record{Key: p.key(), Modified: p.Modified, Fields: map[string]any{}}
	want := func(string) bool { return true }
	if fields != nil {
		set := map[string]bool{"id": true, "modifiedAt": true}
		for _, f := range fields {
			set[f] = true
		}
		want = func(n string) bool { return set[n] }
	}
	put := func(name string, v any) {
		if want(name) {
			rec.Fields[name] = v
		}
	}
	put("id", p.ID)
	put("type", p.Type)
	var bad *attrError
	for _, name := range append([]string{"externalId", "origin", "modifiedFrom", "birthDate"}, stdStrings...) {
		v, ok := p.raw[name]
		if !ok || v == nil {
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			if bad == nil && want(name) {
				bad = &attrError{attr: name, jsonType: connector.JSONType(v), want: "string"}
			}
			continue
		}
		if s == "" {
			continue
		}
		if name == "birthDate" {
			d, err := connector.ParseDate(s)
			if err != nil {
				if bad == nil && want(name) {
					bad = &attrError{attr: name, jsonType: "string", want: "date (YYYY-MM-DD)"}
				}
				continue
			}
			put(name, d)
			continue
		}
		put(name, s)
	}
	if s := p.str("createdAt"); s != "" {
		if t, err := connector.ParseDateTime(s); err == nil {
			put("createdAt", t.UTC())
		}
	}
	if !p.Modified.IsZero() {
		put("modifiedAt", p.Modified)
	}
	if tags := p.tags(); len(tags) > 0 {
		put("tags", toAny(tags))
	}
	if emails := p.contacts("email"); len(emails) > 0 {
		put("email", emails[0])
		put("emails", toAny(emails))
	}
	if phones := p.contacts("phone"); len(phones) > 0 {
		put("phone", phones[0])
		put("phones", toAny(phones))
	}
	for name, v := range p.custom() {
		if v == nil {
			continue
		}
		put(connector.CustomPrefix+name, customValue(defs[name], v))
	}
	if bad != nil {
		return rec, bad
	}
	return rec, nil
}

// attrError is a standard attribute of a person whose value is not of the
// attribute's type: "attribute firstName holds a JSON number, not a
// string". It never quotes the value (personal data).
type attrError struct {
	attr, jsonType, want string
}

func (e *attrError) Error() string {
	return fmt.Sprintf("attribute %s holds a JSON %s, which is not a valid %s", e.attr, e.jsonType, e.want)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// customValue converts a custom attribute value to the canonical value of
// its field type. A value that does not fit its definition, or of an
// attribute that is not (or no longer) defined, is passed on as plain JSON
// (strings, int64 or float64 numbers, booleans, lists, maps), never dropped:
// dropping it would look like a cleared value to a sync.
func customValue(dataType string, v any) any {
	if t, ok := AttributeType(dataType); ok && t != connector.Object {
		if cv, err := connector.Canonical(t, v); err == nil {
			return cv
		}
	}
	return wire.PlainJSON(v)
}

// wireCustom converts a canonical value to the JSON a custom attribute of
// dataType takes. DATE is YYYY-MM-DD (spec example "2018-06-01"). The wire
// form of DATE_TIME values is not documented (UNCERTAIN); the connector
// sends People's own timestamp form, yyyy-MM-ddTHH:mm:ss in UTC.
func wireCustom(dataType string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	t, ok := AttributeType(dataType)
	if !ok || t == connector.Object {
		return v, nil
	}
	cv, err := connector.Canonical(t, v)
	if err != nil {
		return nil, err
	}
	switch t {
	case connector.Date:
		return cv.(time.Time).Format(connector.DateLayout), nil
	case connector.DateTime:
		return cv.(time.Time).UTC().Format(timeLayout), nil
	}
	return cv, nil
}

// timeLayout is People's timestamp form.
const timeLayout = "2006-01-02T15:04:05"

// normalizePhone brings a number to the form People stores: international,
// digits only, no "+" ("+44 7700 900123" → "447700900123"). Separators
// (spaces, dashes, dots, parentheses) are dropped; anything else is left for
// the service to judge.
func normalizePhone(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "+")
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, s)
}

func normalizeEmail(s string) string { return strings.TrimSpace(s) }

// Normalize returns a value as People stores it and a read returns it after
// a write (connector.Normalizer), mirroring what Upsert does to it: phone
// numbers become digits without "+" and separators, email addresses are
// trimmed, the phones, emails and tags lists are normalized and lose
// duplicates and empty entries, and an empty primary email or phone, like an
// empty list, reads back as absent (nil), as does an empty standard string
// attribute such as firstName (Upsert clears it). Other fields are stored as
// written and returned unchanged.
func (c *Conn) Normalize(entity, field string, v any) any {
	switch field {
	case "email", "phone":
		s, ok := v.(string)
		if !ok {
			return v
		}
		if field == "email" {
			s = normalizeEmail(s)
		} else {
			s = normalizePhone(s)
		}
		if s == "" {
			return nil
		}
		return s
	case "emails", "phones", "tags":
		list, ok := v.([]any)
		if !ok {
			return v
		}
		var out []string
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return v // not a list of strings: the write rejects it
			}
			s = strings.TrimSpace(s)
			switch field {
			case "phones":
				s = normalizePhone(s)
			case "emails":
				s = normalizeEmail(s)
			}
			if s != "" {
				out = append(out, s)
			}
		}
		out = dedupe(out, field == "emails")
		if len(out) == 0 {
			return nil
		}
		return toAny(out)
	}
	if s, ok := v.(string); ok && s == "" && slices.Contains(stdStrings, field) {
		return nil
	}
	return v
}
