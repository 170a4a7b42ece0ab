package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeLayout is the form of every People timestamp (createdAt, modifiedAt):
// second precision, no zone. The emulator writes UTC.
const TimeLayout = "2006-01-02T15:04:05"

const dateLayout = "2006-01-02"

// Person types (IamPersonV2.type). The default is CUSTOMER.
const (
	TypeCustomer = "CUSTOMER"
	TypeLead     = "LEAD"
)

// Limits from the spec (reference §2).
const (
	maxContacts   = 100  // emails and phones per person, each
	maxEmailLen   = 255  // characters
	maxPhoneLen   = 50   // characters
	maxExternalID = 256  // characters
	maxAttrValue  = 4096 // characters per custom attribute value
	maxTagName    = 256
	maxBatch      = 1000 // persons per batch, upsert, match and tag request
	maxPageLimit  = 1000
	defaultLimit  = 20
)

// standardAttrs are IamPersonV2's writable string attributes with their
// maximum lengths (0: the spec states none).
var standardAttrs = []struct {
	name string
	max  int
}{
	{"firstName", 255}, {"lastName", 255}, {"middleName", 50}, {"gender", 0}, {"birthDate", 0},
	{"address", 256}, {"city", 50}, {"country", 50}, {"preferredLanguage", 0}, {"profilePicture", 2083},
}

func isStandardAttr(name string) bool {
	for _, a := range standardAttrs {
		if a.name == name {
			return true
		}
	}
	return false
}

// person is one stored profile.
type person struct {
	ID         int64
	ExternalID string // "" = none
	Type       string
	Attrs      map[string]string // standard string attributes that are set
	Tags       []string
	Custom     map[string]any // normalized values: string, int64, float64, bool, []any of map[string]any
	Emails     []string
	Phones     []string
	// Channels holds the read-only contact lists (push, facebook, ...) as
	// given to Insert; the API never writes them.
	Channels map[string]json.RawMessage
	// Extra holds read-only top-level objects given to Insert
	// (computedAttributes, integrations).
	Extra        map[string]json.RawMessage
	CreatedAt    time.Time
	ModifiedAt   time.Time
	Origin       string
	ModifiedFrom string
}

func (p *person) clone() *person {
	c := *p
	c.Attrs = cloneMap(p.Attrs)
	c.Tags = slices.Clone(p.Tags)
	c.Custom = make(map[string]any, len(p.Custom))
	for k, v := range p.Custom {
		c.Custom[k] = cloneJSON(v)
	}
	c.Emails = slices.Clone(p.Emails)
	c.Phones = slices.Clone(p.Phones)
	c.Channels = cloneMap(p.Channels)
	c.Extra = cloneMap(p.Extra)
	return &c
}

func cloneMap[V any](m map[string]V) map[string]V {
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func cloneJSON(v any) any {
	switch x := v.(type) {
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneJSON(e)
		}
		return c
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = cloneJSON(e)
		}
		return c
	}
	return v
}

// personJSON is IamPersonV2 as the API renders it, fields in the order of
// the spec's example (reference/person.json). type is not in the example but
// is part of the schema; the emulator always sends it.
type personJSON struct {
	CreatedAt          string          `json:"createdAt"`
	ModifiedAt         string          `json:"modifiedAt"`
	ID                 int64           `json:"id"`
	ExternalID         string          `json:"externalId,omitempty"`
	Type               string          `json:"type"`
	FirstName          string          `json:"firstName,omitempty"`
	LastName           string          `json:"lastName,omitempty"`
	Address            string          `json:"address,omitempty"`
	City               string          `json:"city,omitempty"`
	Country            string          `json:"country,omitempty"`
	Gender             string          `json:"gender,omitempty"`
	BirthDate          string          `json:"birthDate,omitempty"`
	MiddleName         string          `json:"middleName,omitempty"`
	PreferredLanguage  string          `json:"preferredLanguage,omitempty"`
	ProfilePicture     string          `json:"profilePicture,omitempty"`
	Origin             string          `json:"origin,omitempty"`
	ModifiedFrom       string          `json:"modifiedFrom,omitempty"`
	Tags               []string        `json:"tags,omitempty"`
	CustomAttributes   map[string]any  `json:"customAttributes,omitempty"`
	ContactInformation contactsJSON    `json:"contactInformation"`
	ComputedAttributes json.RawMessage `json:"computedAttributes,omitempty"`
	Integrations       json.RawMessage `json:"integrations,omitempty"`
}

type contactsJSON struct {
	Phone    []phoneJSON `json:"phone,omitempty"`
	Email    []emailJSON `json:"email,omitempty"`
	channels map[string]json.RawMessage
}

type phoneJSON struct {
	Number string `json:"number"`
}

type emailJSON struct {
	Address string `json:"address"`
}

// MarshalJSON writes phone and email first, then the read-only channel
// lists in a fixed order.
func (c contactsJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	field := func(name string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:", name)
		b.Write(data)
		return nil
	}
	if len(c.Phone) > 0 {
		if err := field("phone", c.Phone); err != nil {
			return nil, err
		}
	}
	if len(c.Email) > 0 {
		if err := field("email", c.Email); err != nil {
			return nil, err
		}
	}
	for _, name := range channelNames {
		if raw, ok := c.channels[name]; ok {
			if err := field(name, raw); err != nil {
				return nil, err
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// channelNames are the read-only contact lists of IamPersonContactsV2.
var channelNames = []string{"push", "webpush", "facebook", "line", "instagram", "instagramDm", "telegram", "twitter",
	"appleBusinessChat", "viberBots", "liveChat", "kakaoSangdam", "openChannel", "zaloFollower", "tiktokBm", "whatsapp"}

func (p *person) render() personJSON {
	j := personJSON{
		CreatedAt: p.CreatedAt.UTC().Format(TimeLayout), ModifiedAt: p.ModifiedAt.UTC().Format(TimeLayout),
		ID: p.ID, ExternalID: p.ExternalID, Type: p.Type,
		FirstName: p.Attrs["firstName"], LastName: p.Attrs["lastName"], Address: p.Attrs["address"],
		City: p.Attrs["city"], Country: p.Attrs["country"], Gender: p.Attrs["gender"],
		BirthDate: p.Attrs["birthDate"], MiddleName: p.Attrs["middleName"],
		PreferredLanguage: p.Attrs["preferredLanguage"], ProfilePicture: p.Attrs["profilePicture"],
		Origin: p.Origin, ModifiedFrom: p.ModifiedFrom,
		Tags: slices.Clone(p.Tags),
	}
	if len(p.Custom) > 0 {
		j.CustomAttributes = make(map[string]any, len(p.Custom))
		for k, v := range p.Custom {
			j.CustomAttributes[k] = cloneJSON(v)
		}
	}
	for _, n := range p.Phones {
		j.ContactInformation.Phone = append(j.ContactInformation.Phone, phoneJSON{n})
	}
	for _, a := range p.Emails {
		j.ContactInformation.Email = append(j.ContactInformation.Email, emailJSON{a})
	}
	j.ContactInformation.channels = p.Channels
	j.ComputedAttributes = p.Extra["computedAttributes"]
	j.Integrations = p.Extra["integrations"]
	return j
}

// contentKey is the person's data without its timestamps and sources, to
// tell whether a write changed anything.
func (p *person) contentKey() string {
	j := p.render()
	j.CreatedAt, j.ModifiedAt, j.ModifiedFrom = "", "", ""
	data, _ := json.Marshal(j)
	return string(data)
}

// input is a person body of a write request, decoded with presence: a key
// in attrs with a nil value was sent as null.
type input struct {
	attrs     map[string]*string // standard attributes, "externalId" and "type"
	tags      []string
	hasTags   bool
	custom    map[string]any // nil value: null (clear)
	hasCustom bool
	emails    []string
	hasEmails bool
	phones    []string
	hasPhones bool
}

// fieldError is one validation message about one property.
type fieldError struct {
	Field   string
	Message string
}

func (f fieldError) String() string { return f.Field + ": " + f.Message }

// decodePerson reads an IamPersonV2 body. Read-only properties (id,
// createdAt, origin, computedAttributes, the channel lists, ...) and unknown
// properties are ignored, as a Jackson-based service ignores them; scalars
// sent for string properties are taken as their text.
func decodePerson(raw json.RawMessage) (input, []fieldError) {
	in := input{attrs: map[string]*string{}}
	var obj map[string]json.RawMessage
	if err := unmarshalNumber(raw, &obj); err != nil || obj == nil {
		return in, []fieldError{{"", "person must be a JSON object"}}
	}
	var errs []fieldError
	for key, val := range obj {
		switch {
		case key == "externalId" || key == "type" || isStandardAttr(key):
			s, null, ok := scalarText(val)
			if !ok {
				errs = append(errs, fieldError{key, "must be a string"})
				continue
			}
			if null {
				in.attrs[key] = nil
			} else {
				in.attrs[key] = &s
			}
		case key == "tags":
			in.hasTags = true
			if isNull(val) {
				continue
			}
			if err := unmarshalNumber(val, &in.tags); err != nil {
				errs = append(errs, fieldError{"tags", "must be an array of tag names"})
			}
		case key == "customAttributes":
			in.hasCustom = true
			if isNull(val) {
				continue
			}
			if err := unmarshalNumber(val, &in.custom); err != nil {
				errs = append(errs, fieldError{"customAttributes", "must be an object of attribute names to values"})
			}
		case key == "contactInformation":
			if isNull(val) {
				continue
			}
			errs = append(errs, decodeContacts(val, &in)...)
		}
	}
	return in, errs
}

// decodeContacts reads {"email":[{"address"}], "phone":[{"number"}]}; the
// other (read-only) lists are ignored. isPrimary inside an entry, sent by
// some clients, is not in the v2 schema and is ignored.
func decodeContacts(raw json.RawMessage, in *input) []fieldError {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil || c == nil {
		return []fieldError{{"contactInformation", "must be an object"}}
	}
	var errs []fieldError
	if v, ok := c["email"]; ok {
		in.hasEmails = true
		var list []struct {
			Address *string `json:"address"`
		}
		if !isNull(v) {
			if err := json.Unmarshal(v, &list); err != nil {
				errs = append(errs, fieldError{"contactInformation.email", "must be an array of {\"address\": string}"})
			}
		}
		for i, e := range list {
			if e.Address == nil {
				errs = append(errs, fieldError{fmt.Sprintf("contactInformation.email[%d].address", i), "must not be null"})
				continue
			}
			in.emails = append(in.emails, strings.TrimSpace(*e.Address))
		}
	}
	if v, ok := c["phone"]; ok {
		in.hasPhones = true
		var list []struct {
			Number *string `json:"number"`
		}
		if !isNull(v) {
			if err := json.Unmarshal(v, &list); err != nil {
				errs = append(errs, fieldError{"contactInformation.phone", "must be an array of {\"number\": string}"})
			}
		}
		for i, e := range list {
			if e.Number == nil {
				errs = append(errs, fieldError{fmt.Sprintf("contactInformation.phone[%d].number", i), "must not be null"})
				continue
			}
			in.phones = append(in.phones, normalizePhone(*e.Number))
		}
	}
	return errs
}

func unmarshalNumber(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// scalarText returns a JSON scalar as text (strings unquoted, numbers and
// booleans as written).
func scalarText(raw json.RawMessage) (s string, null, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false, false
	}
	switch raw[0] {
	case 'n':
		return "", true, string(raw) == "null"
	case '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, false
		}
		return s, false, true
	case '{', '[':
		return "", false, false
	}
	return string(raw), false, true
}

// normalizePhone drops a leading "+" and surrounding space: People stores
// international numbers without it (spec examples: "41793026727").
func normalizePhone(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimPrefix(s, "+")
}

var (
	// emailRx is a pragmatic address check: local part, "@", a domain with
	// a dot ("john.doe@example" is the spec's example of an invalid
	// address).
	emailRx = regexp.MustCompile(`^[^@\s"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
	// phoneRx: an international number without "+" (6 to 15 digits, the
	// E.164 maximum). The spec's example of an invalid number is "000".
	phoneRx = regexp.MustCompile(`^[1-9][0-9]{5,14}$`)
	// langRx: a two-letter ISO code or a BCP 47 tag ("en", "en-gb").
	langRx = regexp.MustCompile(`^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$`)
)

func validEmail(s string) bool { return len(s) <= maxEmailLen && emailRx.MatchString(s) }
func validPhone(s string) bool { return len(s) <= maxPhoneLen && phoneRx.MatchString(s) }

// validate checks an input against the person schema and the account's
// custom attribute definitions. Undefined attributes are rejected: the
// reference (§4) leaves the real behaviour UNCERTAIN; attributes are
// "configured per account" and the append operation validates against the
// definition, so the emulator rejects rather than ignores or auto-creates.
func (e *Emulator) validate(in input) []fieldError {
	var errs []fieldError
	for _, a := range standardAttrs {
		v := in.attrs[a.name]
		if v == nil {
			continue
		}
		if a.max > 0 && utf8.RuneCountInString(*v) > a.max {
			errs = append(errs, fieldError{a.name, fmt.Sprintf("size must be between 0 and %d", a.max)})
		}
		switch a.name {
		case "gender":
			if *v != "" && *v != "MALE" && *v != "FEMALE" {
				errs = append(errs, fieldError{"gender", fmt.Sprintf("%q is not one of [MALE, FEMALE]", *v)})
			}
		case "birthDate":
			if *v != "" {
				if _, err := time.Parse(dateLayout, *v); err != nil {
					errs = append(errs, fieldError{"birthDate", fmt.Sprintf("%q is not a date in the format YYYY-MM-DD", *v)})
				}
			}
		case "preferredLanguage":
			if *v != "" && !langRx.MatchString(*v) {
				errs = append(errs, fieldError{"preferredLanguage", fmt.Sprintf("%q is not a language code (e.g. en or en-gb)", *v)})
			}
		}
	}
	if v := in.attrs["externalId"]; v != nil && utf8.RuneCountInString(*v) > maxExternalID {
		errs = append(errs, fieldError{"externalId", fmt.Sprintf("size must be between 0 and %d", maxExternalID)})
	}
	if v := in.attrs["type"]; v != nil && *v != TypeCustomer && *v != TypeLead {
		errs = append(errs, fieldError{"type", fmt.Sprintf("%q is not one of [CUSTOMER, LEAD]", *v)})
	}
	for i, t := range in.tags {
		if t == "" || utf8.RuneCountInString(t) > maxTagName {
			errs = append(errs, fieldError{fmt.Sprintf("tags[%d]", i), fmt.Sprintf("tag name must have 1 to %d characters", maxTagName)})
		}
	}
	if len(in.emails) > maxContacts {
		errs = append(errs, fieldError{"contactInformation.email", fmt.Sprintf("a person can have at most %d email addresses", maxContacts)})
	}
	for i, a := range in.emails {
		if !validEmail(a) {
			errs = append(errs, fieldError{fmt.Sprintf("contactInformation.email[%d].address", i), fmt.Sprintf("Email address %q is invalid", a)})
		}
	}
	if len(in.phones) > maxContacts {
		errs = append(errs, fieldError{"contactInformation.phone", fmt.Sprintf("a person can have at most %d phone numbers", maxContacts)})
	}
	for i, n := range in.phones {
		if !validPhone(n) {
			errs = append(errs, fieldError{fmt.Sprintf("contactInformation.phone[%d].number", i), fmt.Sprintf("Phone number %q is invalid", n)})
		}
	}
	names := make([]string, 0, len(in.custom))
	for name := range in.custom {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := in.custom[name]
		def, ok := e.attrs[name]
		if !ok {
			errs = append(errs, fieldError{"customAttributes." + name, fmt.Sprintf("Custom attribute %q is not defined", name)})
			continue
		}
		if v == nil {
			continue
		}
		nv, err := def.normalize(v)
		if err != nil {
			errs = append(errs, fieldError{"customAttributes." + name, err.Error()})
			continue
		}
		in.custom[name] = nv
	}
	return errs
}

// writeMode says how an input applies to a stored person.
type writeMode int

const (
	modeCreate writeMode = iota
	// modePut is a full overwrite (PUT /people/2/persons, PUT v3 upsert):
	// omitted attributes, tags, custom attributes and contacts are cleared.
	modePut
	// modePatch is a partial update: given attributes replace, null clears,
	// tags and contacts are appended, custom attributes merge by name (a
	// LIST_OF_OBJECTS value replaces the whole list).
	modePatch
	// modeEdit is an edit "in the web interface" (Emulator.Update): like
	// modePatch, but given tags and contact lists replace the current ones.
	modeEdit
)

// apply returns a copy of cur (nil for a create) with in applied. in must
// have been validated.
//
// PUT clears omitted attributes (spec: "If no value is passed in the
// request, the attribute is set to empty"); whether it also clears an
// omitted externalId or type is UNCERTAIN (reference §3.4): the emulator
// clears externalId (it is an attribute like the others) and keeps type
// (the person type is a classification, and clearing it would make it the
// default CUSTOMER, silently promoting leads).
//
// A present null clears the attribute in PATCH; the reference leaves it
// UNCERTAIN, and null is the only way JSON can say "clear" in a partial
// update.
func apply(cur *person, in input, mode writeMode) *person {
	var p *person
	if cur == nil {
		p = &person{Type: TypeCustomer, Attrs: map[string]string{}, Custom: map[string]any{}}
	} else {
		p = cur.clone()
	}
	if mode == modePut {
		p.Attrs = map[string]string{}
		p.ExternalID = ""
		p.Tags = nil
		p.Custom = map[string]any{}
		p.Emails, p.Phones = nil, nil
	}
	for name, v := range in.attrs {
		switch name {
		case "type":
			if v != nil && *v != "" {
				p.Type = *v
			}
		case "externalId":
			if v == nil {
				p.ExternalID = ""
			} else {
				p.ExternalID = *v
			}
		default:
			if v == nil || *v == "" {
				delete(p.Attrs, name)
			} else {
				p.Attrs[name] = *v
			}
		}
	}
	if in.hasTags {
		switch mode {
		case modePatch:
			p.Tags = appendUnique(p.Tags, in.tags, false)
		default:
			p.Tags = appendUnique(nil, in.tags, false)
		}
	}
	if in.hasCustom {
		if in.custom == nil && mode != modePatch {
			p.Custom = map[string]any{}
		}
		for name, v := range in.custom {
			if v == nil {
				delete(p.Custom, name)
			} else {
				p.Custom[name] = v
			}
		}
	}
	if in.hasEmails {
		if mode == modePatch {
			p.Emails = appendUnique(p.Emails, in.emails, true)
		} else {
			p.Emails = appendUnique(nil, in.emails, true)
		}
	}
	if in.hasPhones {
		if mode == modePatch {
			p.Phones = appendUnique(p.Phones, in.phones, false)
		} else {
			p.Phones = appendUnique(nil, in.phones, false)
		}
	}
	return p
}

// appendUnique appends the values of add not already in list (comparing
// without case when fold is set) and returns the result.
func appendUnique(list, add []string, fold bool) []string {
	out := slices.Clone(list)
	for _, a := range add {
		dup := false
		for _, have := range out {
			if have == a || (fold && strings.EqualFold(have, a)) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

// attribute is a custom attribute definition (IamCustomAttribute).
type attribute struct {
	Name         string
	DataType     string
	ObjectSchema map[string]string
	CreatedAt    time.Time
	ModifiedAt   time.Time
}

// DataTypes are the custom attribute data types of the spec.
var DataTypes = []string{"STRING", "DECIMAL", "INTEGER", "BOOLEAN", "DATE", "DATE_TIME", "LIST_OF_OBJECTS"}

type attributeJSON struct {
	Name         string            `json:"name"`
	DataType     string            `json:"dataType"`
	ObjectSchema map[string]string `json:"objectSchema,omitempty"`
	CreatedAt    string            `json:"createdAt"`
	ModifiedAt   string            `json:"modifiedAt"`
}

func (a *attribute) render() attributeJSON {
	return attributeJSON{Name: a.Name, DataType: a.DataType, ObjectSchema: a.ObjectSchema,
		CreatedAt: a.CreatedAt.UTC().Format(TimeLayout), ModifiedAt: a.ModifiedAt.UTC().Format(TimeLayout)}
}

// normalize checks a value against the attribute's data type and returns
// it in stored form.
func (a *attribute) normalize(v any) (any, error) {
	if a.DataType == "LIST_OF_OBJECTS" {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("must be an array of objects (LIST_OF_OBJECTS)")
		}
		out := make([]any, len(list))
		for i, item := range list {
			obj, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item %d must be an object", i)
			}
			o := make(map[string]any, len(obj))
			for k, fv := range obj {
				ft, ok := a.ObjectSchema[k]
				if !ok {
					return nil, fmt.Errorf("item %d: %q is not a field of the list's schema", i, k)
				}
				if fv == nil {
					o[k] = nil
					continue
				}
				nv, err := normalizeScalar(ft, fv)
				if err != nil {
					return nil, fmt.Errorf("item %d: %s %v", i, k, err)
				}
				o[k] = nv
			}
			out[i] = o
		}
		if data, _ := json.Marshal(out); utf8.RuneCount(data) > maxAttrValue {
			return nil, fmt.Errorf("value is longer than %d characters", maxAttrValue)
		}
		return out, nil
	}
	return normalizeScalar(a.DataType, v)
}

func normalizeScalar(dataType string, v any) (any, error) {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else if f, err := n.Float64(); err == nil {
			v = f
		}
	}
	switch dataType {
	case "STRING":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("must be a string")
		}
		if utf8.RuneCountInString(s) > maxAttrValue {
			return nil, fmt.Errorf("value is longer than %d characters", maxAttrValue)
		}
		return s, nil
	case "INTEGER":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
		case string:
			if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return i, nil
			}
		}
		return nil, fmt.Errorf("must be an integer")
	case "DECIMAL":
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("must be a decimal number")
	case "BOOLEAN":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
		return nil, fmt.Errorf("must be true or false")
	case "DATE":
		if s, ok := v.(string); ok {
			if t, err := time.Parse(dateLayout, s); err == nil {
				return t.Format(dateLayout), nil
			}
		}
		return nil, fmt.Errorf("must be a date in the format YYYY-MM-DD")
	case "DATE_TIME":
		// The wire form of DATE_TIME values is not documented; the
		// emulator takes People's own timestamp form
		// (yyyy-MM-dd'T'HH:mm:ss) and, leniently, RFC 3339 with a zone,
		// and stores the zone-less UTC form.
		if s, ok := v.(string); ok {
			for _, layout := range []string{TimeLayout, "2006-01-02T15:04:05.999999999", time.RFC3339Nano} {
				if t, err := time.Parse(layout, s); err == nil {
					return t.UTC().Format(TimeLayout), nil
				}
			}
		}
		return nil, fmt.Errorf("must be a date-time in the format yyyy-MM-ddTHH:mm:ss")
	}
	return nil, fmt.Errorf("has unknown data type %s", dataType)
}
