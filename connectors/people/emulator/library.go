package emulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// Seeding and inspection, for tests and the demo. These methods bypass
// authentication, fault injection and rate limits; they take the same lock
// as requests, so they are safe to call while the emulator serves.

// DefineAttribute defines a custom attribute of a scalar data type (STRING,
// DECIMAL, INTEGER, BOOLEAN, DATE, DATE_TIME), as POST
// /people/2/customAttributes does.
func (e *Emulator) DefineAttribute(name, dataType string) error {
	return e.DefineListAttribute(name, dataType, nil)
}

// DefineListAttribute defines a custom attribute with an object schema
// (dataType LIST_OF_OBJECTS; schema maps field names to scalar types).
func (e *Emulator) DefineListAttribute(name, dataType string, schema map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, errs := e.defineAttribute(name, dataType, schema); len(errs) > 0 {
		return fmt.Errorf("define custom attribute %q: %s", name, joinErrors(errs))
	}
	return nil
}

// UndefineAttribute deletes a custom attribute definition, keeping the
// values persons have for it (as DELETE /people/2/customAttributes/{name}
// does in the emulator). It reports whether the attribute existed.
func (e *Emulator) UndefineAttribute(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.attrs[name]
	delete(e.attrs, name)
	return ok
}

func joinErrors(errs []fieldError) string {
	msgs := make([]string, len(errs))
	for i, f := range errs {
		msgs[i] = f.String()
	}
	return strings.Join(msgs, "; ")
}

// Insert stores a person given in the IamPersonV2 JSON shape (as the API
// renders it: contactInformation.email[].address, customAttributes, ...) and
// returns its id. Unlike the API, it keeps the read-only parts it is given:
// createdAt and modifiedAt (yyyy-MM-ddTHH:mm:ss, default now), origin and
// modifiedFrom (default API), the channel lists under contactInformation,
// computedAttributes and integrations; and it stores values of custom
// attributes that are not defined, so tests can build that state. An id in
// the input is ignored.
//
// Insert is for seeding from test code: it panics when the person cannot be
// stored (malformed, or an email, phone or externalId another person has),
// as regexp.MustCompile does. Add returns the error instead.
func (e *Emulator) Insert(p map[string]any) (id int64) {
	id, err := e.Add(p)
	if err != nil {
		panic("emulator.Insert: " + err.Error())
	}
	return id
}

// Add is Insert returning an error instead of panicking.
func (e *Emulator) Add(p map[string]any) (int64, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("person is not JSON: %v", err)
	}
	in, errs := decodePerson(raw)
	e.mu.Lock()
	defer e.mu.Unlock()
	undefined := map[string]any{}
	for name, v := range in.custom {
		if _, ok := e.attrs[name]; !ok {
			undefined[name] = wire.PlainJSON(v)
			delete(in.custom, name)
		}
	}
	if errs = append(errs, e.validate(in)...); len(errs) > 0 {
		return 0, fmt.Errorf("invalid person: %s", joinErrors(errs))
	}
	next := apply(nil, in, modeCreate)
	for k, v := range undefined {
		if v != nil {
			next.Custom[k] = v
		}
	}
	var ro struct {
		CreatedAt          string                     `json:"createdAt"`
		ModifiedAt         string                     `json:"modifiedAt"`
		Origin             string                     `json:"origin"`
		ModifiedFrom       string                     `json:"modifiedFrom"`
		ContactInformation map[string]json.RawMessage `json:"contactInformation"`
		ComputedAttributes json.RawMessage            `json:"computedAttributes"`
		Integrations       json.RawMessage            `json:"integrations"`
	}
	_ = json.Unmarshal(raw, &ro)
	origin := ro.Origin
	if origin == "" {
		origin = "API"
	}
	stored, _, f := e.commit(nil, next, origin)
	if f != nil {
		return 0, fmt.Errorf("%s", strings.Join(f.messages(), "; "))
	}
	if ro.ModifiedFrom != "" {
		stored.ModifiedFrom = ro.ModifiedFrom
	}
	for _, ts := range []struct {
		text string
		dst  *time.Time
	}{{ro.CreatedAt, &stored.CreatedAt}, {ro.ModifiedAt, &stored.ModifiedAt}} {
		if ts.text == "" {
			continue
		}
		t, err := time.Parse(TimeLayout, ts.text)
		if err != nil {
			e.remove(stored)
			return 0, fmt.Errorf("timestamp %q is not in the form yyyy-MM-ddTHH:mm:ss", ts.text)
		}
		*ts.dst = t
		e.byModified = nil
	}
	stored.Channels = map[string]json.RawMessage{}
	for _, name := range channelNames {
		if v, ok := ro.ContactInformation[name]; ok && !isNull(v) {
			stored.Channels[name] = v
		}
	}
	stored.Extra = map[string]json.RawMessage{}
	if len(ro.ComputedAttributes) > 0 && !isNull(ro.ComputedAttributes) {
		stored.Extra["computedAttributes"] = ro.ComputedAttributes
	}
	if len(ro.Integrations) > 0 && !isNull(ro.Integrations) {
		stored.Extra["integrations"] = ro.Integrations
	}
	return stored.ID, nil
}

// Update edits a person as a user of the web interface would: the fields of
// patch (IamPersonV2 shape) replace the person's, a null clears one, tags
// and contactInformation lists replace the current lists, and
// customAttributes merge by name. modifiedAt moves to now (when something
// changed) and modifiedFrom becomes PORTAL.
func (e *Emulator) Update(id int64, patch map[string]any) error {
	raw, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("patch is not JSON: %v", err)
	}
	in, errs := decodePerson(raw)
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, ok := e.persons[id]
	if !ok {
		return fmt.Errorf("no person with id %d", id)
	}
	if errs = append(errs, e.validate(in)...); len(errs) > 0 {
		return fmt.Errorf("invalid patch: %s", joinErrors(errs))
	}
	if _, _, f := e.commit(cur, apply(cur, in, modeEdit), "PORTAL"); f != nil {
		return fmt.Errorf("%s", strings.Join(f.messages(), "; "))
	}
	return nil
}

// Delete removes a person and reports whether it existed.
func (e *Emulator) Delete(id int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.persons[id]
	if ok {
		e.remove(p)
	}
	return ok
}

// Get returns a person as the API renders it (numbers as float64).
func (e *Emulator) Get(id int64) (map[string]any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.persons[id]
	if !ok {
		return nil, false
	}
	return toMap(p), true
}

// Persons returns every person as the API renders it, by ascending id.
func (e *Emulator) Persons() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []map[string]any
	for _, p := range e.sortedPersons() {
		out = append(out, toMap(p))
	}
	return out
}

// Len returns the number of persons.
func (e *Emulator) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.persons)
}

func toMap(p *person) map[string]any {
	data, _ := json.Marshal(p.render())
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return m
}
