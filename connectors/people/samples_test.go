package people

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The spec's person example converts to the fields of the schema.
func TestParseSamplePerson(t *testing.T) {
	t.Parallel()
	p, err := parsePerson(sample(t, "person.json"))
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]string{"Contract Expiry": "DATE", "Company": "STRING", "ShoppingCartList": "LIST_OF_OBJECTS"}
	rec, err := p.record(nil, defs)
	if err != nil {
		t.Fatal(err)
	}
	date := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	want := map[string]any{
		"id": int64(1), "type": "CUSTOMER", "externalId": "3", "firstName": "Jane", "lastName": "Smith",
		"address": "67 Farringdon Road", "city": "London", "country": "United Kingdom", "gender": "FEMALE",
		"birthDate": date("1966-01-15"), "middleName": "Janie", "preferredLanguage": "en-gb",
		"profilePicture": "http://profile.com", "origin": "API", "modifiedFrom": "API",
		"createdAt":  time.Date(2018, 3, 29, 13, 46, 31, 0, time.UTC),
		"modifiedAt": time.Date(2018, 3, 30, 11, 25, 13, 0, time.UTC),
		"tags":       []any{"VIP Customers", "New Customers"},
		"email":      "janewilliams@acme.com", "emails": []any{"janewilliams@acme.com"},
		"phone": "41793026727", "phones": []any{"41793026727"},
		"custom.Contract Expiry": date("2018-06-01"),
		"custom.Company":         "Acme",
		"custom.ShoppingCartList": []any{
			map[string]any{"productName": "Sneakers", "productPrice": 25.33, "productCategory": "Sport Sneakers", "productImage": "/image1.png"},
			map[string]any{"productName": "T-Shirt", "productPrice": 9.99, "productCategory": "Casual", "productImage": "/image2.png"},
		},
	}
	for k, w := range want {
		if !reflect.DeepEqual(rec.Fields[k], w) {
			t.Errorf("%s = %#v, want %#v", k, rec.Fields[k], w)
		}
	}
	for k := range rec.Fields {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %s = %#v", k, rec.Fields[k])
		}
	}
	if rec.Key != "1" || !rec.Modified.Equal(time.Date(2018, 3, 30, 11, 25, 13, 0, time.UTC)) {
		t.Errorf("key %q modified %v", rec.Key, rec.Modified)
	}
	// Every field the record has is in the schema with a fitting type.
	ent, _ := StandardSchema().Entity(EntityCustomer)
	for name, v := range rec.Fields {
		if f, ok := ent.Field(name); ok {
			if _, err := connector.Canonical(f.Type, v); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		} else if name[:7] != "custom." {
			t.Errorf("field %s is not in the schema", name)
		}
	}
	// The projection keeps id and modifiedAt.
	small, _ := p.record([]string{"email"}, defs)
	if len(small.Fields) != 3 || small.Fields["email"] == nil || small.Fields["id"] == nil || small.Fields["modifiedAt"] == nil {
		t.Errorf("projection: %v", small.Fields)
	}
}

// The spec's batch-create example is a per-record conflict.
func TestParseSampleBatchCreate(t *testing.T) {
	t.Parallel()
	var resp struct {
		Results []batchResult `json:"results"`
	}
	if err := json.Unmarshal(sample(t, "batch-create-response.json"), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 1 || resp.Results[0].Index == nil || *resp.Results[0].Index != 0 {
		t.Fatalf("%+v", resp)
	}
	r := resp.Results[0]
	err := itemError("create customer (record 0)", r.Status, r.messages())
	if err.Kind != connector.ErrorConflict || err.Message != "Destination(email) janewilliams@acme.com already exists." || err.Status != 409 {
		t.Errorf("%+v", err)
	}
	if !connector.RecordLevel(err) || err.Hint == "" {
		t.Errorf("a duplicate must be a record-level error with a hint: %v", err)
	}
}

// The spec's 401 example is an authentication error with the service's
// messageId and text.
func TestParseSample401(t *testing.T) {
	t.Parallel()
	err := apiError("read customer", &httpx.HTTPError{Method: "GET", Path: "/people/2/persons", Status: 401, Body: sample(t, "error-401-unauthorized.json")})
	var ce *connector.Error
	if !asError(err, &ce) || ce.Kind != connector.ErrorAuth || ce.Code != "UNAUTHORIZED" || ce.Message != "Unauthorized" || ce.Hint == "" {
		t.Fatalf("%#v", err)
	}
	if got := ce.Error(); got != "people: read customer: Unauthorized (HTTP 401, code UNAUTHORIZED); "+ce.Hint {
		t.Errorf("message %q", got)
	}
}

func asError(err error, target **connector.Error) bool {
	e, ok := err.(*connector.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestParseErrorBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body       string
		code, text string
	}{
		{`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"name":["property not found or blank"],"a":["x","y"]}}}}`,
			"BAD_REQUEST", "Bad request: a: x, y; name: property not found or blank"},
		{`{"code":400104,"message":"Missing required property 'persons'","details":[{"property":"persons","message":"Required, but value is missing"}]}`,
			"400104", "Missing required property 'persons'; persons: Required, but value is missing"},
		{`<html>oops</html>`, "", ""},
		{``, "", ""},
	} {
		code, text, _ := parseErrorBody([]byte(tc.body))
		if code != tc.code || text != tc.text {
			t.Errorf("%s: %q %q, want %q %q", tc.body, code, text, tc.code, tc.text)
		}
	}
	for status, kind := range map[int]connector.ErrorKind{400: connector.ErrorInvalid, 403: connector.ErrorPermission,
		404: connector.ErrorNotFound, 409: connector.ErrorConflict, 429: connector.ErrorThrottled, 500: connector.ErrorTransient, 503: connector.ErrorTransient} {
		err := apiError("x", &httpx.HTTPError{Status: status})
		if connector.KindOf(err) != kind {
			t.Errorf("HTTP %d: kind %q, want %q", status, connector.KindOf(err), kind)
		}
	}
	dup := apiError("x", &httpx.HTTPError{Status: 400, Body: []byte(`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Destination(email) a@b.c already exists."}}}`)})
	if connector.KindOf(dup) != connector.ErrorConflict {
		t.Errorf("a 400 saying the email exists: %v", dup)
	}
	undef := apiError("x", &httpx.HTTPError{Status: 400, Body: []byte(`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"customAttributes.X":["Custom attribute \"X\" is not defined"]}}}}`)})
	if ce := undef.(*connector.Error); ce.Kind != connector.ErrorInvalid || ce.Hint != hintUndefined {
		t.Errorf("undefined attribute: %v", undef)
	}
	for msg, kind := range map[string]connector.ErrorKind{
		"There is no person matching the query":              connector.ErrorNotFound,
		"Destination(phone) 41793026727 already exists.":     connector.ErrorConflict,
		"contactInformation.email[0].address: Email address": connector.ErrorInvalid,
	} {
		status := 409
		if kind == connector.ErrorInvalid {
			status = 400
		}
		if got := itemError("x", status, []string{msg}).Kind; got != kind {
			t.Errorf("item %q: %q, want %q", msg, got, kind)
		}
	}
}

// FuzzParsePerson: whatever a server answers, reading it returns an error
// or a record whose fields fit the schema; it never panics.
func FuzzParsePerson(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "reference", "person.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range []string{`{"id":1}`, `{"id":1,"modifiedAt":"x"}`, `{"id":-1}`, `{"id":1.5}`, `{"id":"1"}`,
		`{"id":1,"contactInformation":{"email":[{"address":1},"x",null]},"tags":[1,"a"],"customAttributes":{"D":"x","I":"1","L":[{}]}}`,
		`{"id":1,"birthDate":"1990-13-01","createdAt":7}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	ent, _ := StandardSchema().Entity(EntityCustomer)
	defs := map[string]string{"D": "DATE", "I": "INTEGER", "L": "LIST_OF_OBJECTS", "Contract Expiry": "DATE", "Company": "STRING"}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePerson(data)
		if err != nil {
			return
		}
		rec, _ := p.record(nil, defs)
		for name, v := range rec.Fields {
			if fd, ok := ent.Field(name); ok {
				if _, err := connector.Canonical(fd.Type, v); err != nil {
					t.Errorf("%s = %#v does not fit %s: %v", name, v, fd.Type, err)
				}
			}
		}
	})
}
