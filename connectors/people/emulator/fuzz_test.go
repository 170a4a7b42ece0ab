package emulator

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzEmulator holds persons of every shape the filters look at, including
// values that no longer match their attribute's definition.
func fuzzEmulator() *Emulator {
	e := New(Options{Limits: "off"})
	for _, a := range [][2]string{{"S", "STRING"}, {"I", "INTEGER"}, {"D", "DATE"}, {"T", "DATE_TIME"}, {"B", "BOOLEAN"}, {"F", "DECIMAL"}} {
		_ = e.DefineAttribute(a[0], a[1])
	}
	e.Insert(map[string]any{"firstName": "A", "tags": []any{"x"}, "birthDate": "1990-01-02",
		"customAttributes":   map[string]any{"S": "s", "I": 3, "D": "2020-01-01", "T": "2020-01-01T00:00:00", "B": true, "F": 1.5},
		"contactInformation": map[string]any{"email": []any{map[string]any{"address": "a@example.com"}}}})
	e.Insert(map[string]any{"customAttributes": map[string]any{"Old": []any{1}}})
	e.UndefineAttribute("S")
	_ = e.DefineAttribute("S", "BOOLEAN")
	e.UndefineAttribute("B")
	_ = e.DefineAttribute("B", "STRING")
	_ = e.DefineAttribute("Old", "STRING")
	return e
}

// FuzzFilter: any filter answers 200 or 400, never panics.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`{"type":"LEAD"}`, `{"#and":[{"firstName":"A"},{"#contains":{"tags":"x"}}]}`,
		`{"#gte":{"modifiedAt":"2024-01-01T00:00:00"}}`, `{"#or":[{"id":1},{"id":"2"}]}`, `{"S":true}`, `{"B":"s"}`,
		`{"#gt":{"I":2}}`, `{"#lt":{"D":"2021-01-01"}}`, `{"#ne":{"T":"2020-01-01"}}`, `{"Old":"x"}`, `{"#eq":{"email":"A@example.com"}}`,
		`[]`, `null`, `{"#and":[null]}`, `{"#eq":[1]}`} {
		f.Add(s)
	}
	e := fuzzEmulator()
	f.Fuzz(func(t *testing.T, filter string) {
		req := httptest.NewRequest("GET", "/people/2/persons?filter="+url.QueryEscape(filter), nil)
		req.Header.Set("Authorization", "App "+e.APIKey())
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("filter %q: HTTP %d", filter, rec.Code)
		}
	})
}

// FuzzWrite: any body on the write endpoints answers a documented status,
// never panics.
func FuzzWrite(f *testing.F) {
	for _, s := range []string{`{"firstName":"A","contactInformation":{"email":[{"address":"b@example.com"}]}}`,
		`{"customAttributes":{"S":true,"I":"x","Nope":1}}`, `{"tags":[1]}`, `{"contactInformation":{"email":[null]}}`,
		`{"people":[{"query":{"type":"ID","identifier":"1"},"update":{"city":null}}]}`,
		`{"persons":[{"contactInformation":[{"type":"EMAIL"}]}]}`, `{"identities":[{"type":"EMAIL","identifier":"a@example.com"}]}`,
		`{"contactInformation":{"phone":[{"number":"+41"}]}}`, `[`, `"x"`, `{"gender":{}}`} {
		f.Add(s)
	}
	e := fuzzEmulator()
	targets := []struct{ method, path string }{
		{"POST", "/people/2/persons"}, {"PATCH", "/people/2/persons?identifier=1&type=ID"}, {"PUT", "/people/2/persons?identifier=1&type=ID"},
		{"PUT", "/people/2/persons/contactInformation?identifier=1&type=ID"}, {"POST", "/people/2/persons/batch"},
		{"PATCH", "/people/2/persons/batch"}, {"DELETE", "/people/2/persons/batch"}, {"POST", "/people/2/persons/match"},
		{"PATCH", "/people/3/persons/upsert"}, {"PUT", "/people/3/persons/upsert"}, {"POST", "/people/2/customAttributes"},
		{"PATCH", "/people/2/tags/x/persons"},
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, tg := range targets {
			req := httptest.NewRequest(tg.method, tg.path, strings.NewReader(body))
			req.Header.Set("Authorization", "App "+e.APIKey())
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			switch rec.Code {
			case 200, 207, 400, 404:
			default:
				t.Fatalf("%s %s %q: HTTP %d %s", tg.method, tg.path, body, rec.Code, rec.Body)
			}
		}
	})
}
