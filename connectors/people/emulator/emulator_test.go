package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/internal/fake"
)

// client sends requests to an emulator under test.
type client struct {
	t   testing.TB
	srv *httptest.Server
	key string
}

func newClient(t testing.TB, opts Options) (*Emulator, *client) {
	t.Helper()
	if opts.Limits == "" {
		opts.Limits = "off"
	}
	e, srv := NewTestServer(t, opts)
	return e, &client{t: t, srv: srv, key: e.APIKey()}
}

// do sends a request; body is JSON-encoded unless it is a string.
func (c *client) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "App "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// json sends a request, checks the status and decodes the answer.
func (c *client) json(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	status, data := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, status, want, data)
	}
	var m map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, data)
		}
	}
	return m
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v: %s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, compact(got), compact(want))
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// The spec's person example round-trips: inserted as is, the emulator
// renders it identically (plus the type the schema has but the example
// leaves out).
func TestSamplePersonShape(t *testing.T) {
	e, c := newClient(t, Options{})
	for _, a := range [][2]string{{"Contract Expiry", "DATE"}, {"Company", "STRING"}} {
		if err := e.DefineAttribute(a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DefineListAttribute("ShoppingCartList", "LIST_OF_OBJECTS", map[string]string{
		"productName": "STRING", "productPrice": "DECIMAL", "productCategory": "STRING", "productImage": "STRING"}); err != nil {
		t.Fatal(err)
	}
	sample := readSample(t, "person.json")
	var p map[string]any
	if err := json.Unmarshal(sample, &p); err != nil {
		t.Fatal(err)
	}
	id := e.Insert(p)
	status, got := c.do("GET", fmt.Sprintf("/people/2/persons?identifier=%d&type=ID", id), nil)
	if status != 200 {
		t.Fatalf("GET: %d %s", status, got)
	}
	var want map[string]any
	_ = json.Unmarshal(sample, &want)
	want["type"] = "CUSTOMER"
	wantJSON, _ := json.Marshal(want)
	jsonEqual(t, "GET person", got, wantJSON)

	// The list answers the same object inside "persons".
	list := c.json("GET", "/people/2/persons", nil, 200)
	persons, _ := list["persons"].([]any)
	if len(persons) != 1 {
		t.Fatalf("list: %v", list)
	}
	gotItem, _ := json.Marshal(persons[0])
	jsonEqual(t, "listed person", gotItem, wantJSON)
	if list["limit"] != 20.0 || list["page"] != 1.0 {
		t.Errorf("list envelope: limit %v page %v, want the defaults 20 and 1", list["limit"], list["page"])
	}
}

// A batch create with a duplicate email answers exactly the spec's example.
func TestSampleBatchCreateShape(t *testing.T) {
	_, c := newClient(t, Options{})
	c.json("POST", "/people/2/persons", map[string]any{"contactInformation": map[string]any{"email": []any{map[string]any{"address": "janewilliams@acme.com"}}}}, 200)
	status, got := c.do("POST", "/people/2/persons/batch", map[string]any{"people": []any{
		map[string]any{"firstName": "Jane", "contactInformation": map[string]any{"email": []any{map[string]any{"address": "janewilliams@acme.com"}}}},
	}})
	if status != http.StatusMultiStatus {
		t.Fatalf("batch with a failure: HTTP %d, want 207", status)
	}
	jsonEqual(t, "batch create", got, readSample(t, "batch-create-response.json"))
}

func TestSampleUnauthorizedShape(t *testing.T) {
	_, c := newClient(t, Options{APIKey: "right"})
	want := readSample(t, "error-401-unauthorized.json")
	for _, h := range []string{"", "App wrong", "Basic right", "Bearer right", "Appright"} {
		req, _ := http.NewRequest("GET", c.srv.URL+"/people/2/persons", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := c.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: HTTP %d, want 401", h, resp.StatusCode)
			continue
		}
		jsonEqual(t, "401 for "+h, body, want)
	}
	req, _ := http.NewRequest("GET", c.srv.URL+"/people/2/persons", nil)
	req.Header.Set("Authorization", "app right")
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("scheme in lower case: HTTP %d, want 200", resp.StatusCode)
	}
}

func newPerson(first, email, phone string) map[string]any {
	ci := map[string]any{}
	if email != "" {
		ci["email"] = []any{map[string]any{"address": email}}
	}
	if phone != "" {
		ci["phone"] = []any{map[string]any{"number": phone}}
	}
	return map[string]any{"firstName": first, "contactInformation": ci}
}

func TestAddressingAndLegacyParameters(t *testing.T) {
	e, c := newClient(t, Options{})
	p := newPerson("Ann", "Ann@Example.com", "41793026727")
	p["externalId"] = "X-1"
	id := e.Insert(p)
	other := e.Insert(newPerson("Bob", "bob@example.com", "41793026728"))
	for _, q := range []string{
		fmt.Sprintf("identifier=%d&type=ID", id),
		fmt.Sprintf("identifier=00%d&type=ID", id),
		"identifier=ann%40example.com&type=EMAIL", // case-insensitive
		"identifier=41793026727&type=PHONE",
		"identifier=%2B41793026727&type=PHONE", // with "+"
		"identifier=X-1&type=EXTERNAL_ID",
		"email=ANN%40example.com",
		"phone=41793026727",
		"externalId=X-1",
		"phone=41793026727&email=bob%40example.com", // the first identifier wins
	} {
		got := c.json("GET", "/people/2/persons?"+q, nil, 200)
		if got["id"] != float64(id) {
			t.Errorf("GET ?%s: person %v, want %d", q, got["id"], id)
		}
	}
	got := c.json("GET", "/people/2/persons?email=bob%40example.com&phone=41793026727", nil, 200)
	if got["id"] != float64(other) {
		t.Errorf("the first identifier must win: got %v", got["id"])
	}
	for _, q := range []string{"identifier=x-1&type=EXTERNAL_ID", "identifier=999&type=ID", "identifier=nobody%40example.com&type=EMAIL"} {
		status, body := c.do("GET", "/people/2/persons?"+q, nil)
		if status != 404 || !strings.Contains(string(body), `"NOT_FOUND"`) {
			t.Errorf("GET ?%s: %d %s, want 404 NOT_FOUND", q, status, body)
		}
	}
	if status, _ := c.do("GET", "/people/2/persons?identifier=1", nil); status != 400 {
		t.Errorf("identifier without type: %d, want 400", status)
	}
	if status, _ := c.do("GET", "/people/2/persons?identifier=abc&type=FACEBOOK", nil); status != 400 {
		t.Errorf("channel identifier without sender: %d, want 400", status)
	}
}

func TestPutClearsPatchAppends(t *testing.T) {
	e, c := newClient(t, Options{})
	if err := e.DefineAttribute("JobTitle", "STRING"); err != nil {
		t.Fatal(err)
	}
	if err := e.DefineAttribute("Company", "STRING"); err != nil {
		t.Fatal(err)
	}
	base := newPerson("Ann", "ann@example.com", "41790000001")
	base["lastName"], base["city"], base["externalId"] = "Lee", "Zagreb", "X-1"
	base["tags"] = []any{"VIP"}
	base["customAttributes"] = map[string]any{"JobTitle": "CTO", "Company": "Acme"}
	id := e.Insert(base)
	q := fmt.Sprintf("?identifier=%d&type=ID", id)

	got := c.json("PATCH", "/people/2/persons"+q, map[string]any{
		"city": "Split", "lastName": nil, "tags": []any{"New"},
		"customAttributes":   map[string]any{"JobTitle": nil},
		"contactInformation": map[string]any{"email": []any{map[string]any{"address": "ann2@example.com"}}},
	}, 200)
	want := map[string]any{"firstName": "Ann", "city": "Split", "externalId": "X-1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("after PATCH %s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["lastName"]; ok {
		t.Errorf("PATCH with null kept lastName: %v", got["lastName"])
	}
	if tags := fmt.Sprint(got["tags"]); tags != "[VIP New]" {
		t.Errorf("PATCH tags = %s, want appended [VIP New]", tags)
	}
	if ca := fmt.Sprint(got["customAttributes"]); ca != "map[Company:Acme]" {
		t.Errorf("PATCH customAttributes = %s, want JobTitle cleared and Company kept", ca)
	}
	if emails := addresses(got); fmt.Sprint(emails) != "[ann@example.com ann2@example.com]" {
		t.Errorf("PATCH emails = %v, want appended", emails)
	}

	got = c.json("PUT", "/people/2/persons"+q, map[string]any{"firstName": "Anna", "tags": []any{"Only"}}, 200)
	for _, k := range []string{"city", "externalId", "customAttributes"} {
		if _, ok := got[k]; ok {
			t.Errorf("PUT kept omitted %s: %v", k, got[k])
		}
	}
	if got["firstName"] != "Anna" || fmt.Sprint(got["tags"]) != "[Only]" || got["type"] != "CUSTOMER" {
		t.Errorf("PUT: %v", got)
	}
	if ci, _ := got["contactInformation"].(map[string]any); len(ci) != 0 {
		t.Errorf("PUT without contactInformation kept contacts: %v", ci)
	}
	// The freed email can be used by another person.
	c.json("POST", "/people/2/persons", newPerson("Eve", "ann@example.com", ""), 200)
}

func addresses(p map[string]any) []string {
	ci, _ := p["contactInformation"].(map[string]any)
	list, _ := ci["email"].([]any)
	var out []string
	for _, e := range list {
		out = append(out, e.(map[string]any)["address"].(string))
	}
	return out
}

func TestContactInformationOperations(t *testing.T) {
	e, c := newClient(t, Options{})
	id := e.Insert(newPerson("Ann", "a1@example.com", "41790000001"))
	q := fmt.Sprintf("?identifier=%d&type=ID", id)
	body := func(emails ...string) map[string]any {
		var list []any
		for _, a := range emails {
			list = append(list, map[string]any{"address": a})
		}
		return map[string]any{"contactInformation": map[string]any{"email": list}}
	}
	got := c.json("PATCH", "/people/2/persons/contactInformation"+q, body("a2@example.com"), 200)
	if fmt.Sprint(addresses(got)) != "[a1@example.com a2@example.com]" {
		t.Errorf("PATCH contacts: %v", addresses(got))
	}
	got = c.json("DELETE", "/people/2/persons/contactInformation"+q, body("A1@example.com"), 200)
	if fmt.Sprint(addresses(got)) != "[a2@example.com]" {
		t.Errorf("DELETE contacts: %v", addresses(got))
	}
	got = c.json("PUT", "/people/2/persons/contactInformation"+q, body("a3@example.com", "a2@example.com"), 200)
	if fmt.Sprint(addresses(got)) != "[a3@example.com a2@example.com]" {
		t.Errorf("PUT contacts: %v", addresses(got))
	}
	if ci := got["contactInformation"].(map[string]any); ci["phone"] != nil {
		t.Errorf("PUT with emails only must replace the phones too: %v", ci["phone"])
	}
	if status, _ := c.do("PUT", "/people/2/persons/contactInformation"+q, map[string]any{}); status != 400 {
		t.Errorf("PUT without contactInformation: %d, want 400", status)
	}
	if status, _ := c.do("PUT", "/people/2/persons/contactInformation"+q, body("bad@")); status != 400 {
		t.Errorf("PUT with an invalid address: %d, want 400", status)
	}
}

func TestUniqueness(t *testing.T) {
	e, c := newClient(t, Options{})
	a := newPerson("Ann", "ann@example.com", "41790000001")
	a["externalId"] = "X-1"
	e.Insert(a)
	for name, p := range map[string]map[string]any{
		"email (other case)": newPerson("B", "ANN@example.com", ""),
		"phone":              newPerson("B", "", "41790000001"),
		"externalId":         {"firstName": "B", "externalId": "X-1"},
	} {
		status, body := c.do("POST", "/people/2/persons", p)
		if status != 400 || !strings.Contains(string(body), "already exists") || !strings.Contains(string(body), "requestError") {
			t.Errorf("create with a duplicate %s: %d %s, want 400 legacy envelope saying it already exists", name, status, body)
		}
	}
	// externalId is case-sensitive.
	c.json("POST", "/people/2/persons", map[string]any{"externalId": "x-1"}, 200)
	if e.Len() != 2 {
		t.Errorf("%d persons, want 2", e.Len())
	}
}

func TestBatchMixedResults(t *testing.T) {
	e, c := newClient(t, Options{})
	e.Insert(newPerson("Old", "old@example.com", ""))
	status, body := c.do("POST", "/people/2/persons/batch", map[string]any{"people": []any{
		newPerson("A", "a@example.com", ""),
		newPerson("B", "old@example.com", ""),
		newPerson("C", "not-an-email", ""),
		newPerson("D", "a@example.com", ""), // duplicate of item 0 in the same batch
		newPerson("E", "e@example.com", "41790000005"),
	}})
	if status != 207 {
		t.Fatalf("HTTP %d, want 207", status)
	}
	var resp struct {
		Results []struct {
			Errors []struct{ Message string }
			Status int
			Index  int
		}
	}
	_ = json.Unmarshal(body, &resp)
	got := map[int]int{}
	for _, r := range resp.Results {
		got[r.Index] = r.Status
	}
	if want := map[int]int{1: 409, 2: 400, 3: 409}; !reflect.DeepEqual(got, want) {
		t.Errorf("failed items %v, want %v (%s)", got, want, body)
	}
	if e.Len() != 3 {
		t.Errorf("%d persons, want 3", e.Len())
	}
	status, body = c.do("POST", "/people/2/persons/batch", map[string]any{"people": []any{newPerson("F", "f@example.com", "")}})
	if status != 200 || compact(body) != `{"results":[]}` {
		t.Errorf("all-successful batch: %d %s, want 200 and no results", status, body)
	}

	// Update and delete report failures by query, not-found as 409.
	status, body = c.do("PATCH", "/people/2/persons/batch", map[string]any{"people": []any{
		map[string]any{"query": map[string]any{"type": "EMAIL", "identifier": "A@example.com"}, "update": map[string]any{"city": "Split"}},
		map[string]any{"query": map[string]any{"type": "PHONE", "identifier": "41793026727"}, "update": map[string]any{"city": "Split"}},
	}})
	wantMissing := `{"results":[{"errors":[{"message":"There is no person matching the query"}],"status":409,"query":{"type":"PHONE","identifier":"41793026727"}}]}`
	if status != 207 || compact(body) != wantMissing {
		t.Errorf("batch update: %d %s\nwant 207 %s", status, body, wantMissing)
	}
	got1 := c.json("GET", "/people/2/persons?email=a%40example.com", nil, 200)
	if got1["city"] != "Split" {
		t.Errorf("batch update did not apply: %v", got1)
	}
	status, body = c.do("DELETE", "/people/2/persons/batch", map[string]any{"people": []any{
		map[string]any{"query": map[string]any{"type": "EMAIL", "identifier": "a@example.com"}},
		map[string]any{"query": map[string]any{"type": "PHONE", "identifier": "41793026727"}},
	}})
	if status != 207 || compact(body) != wantMissing {
		t.Errorf("batch delete: %d %s", status, body)
	}
	var many []any
	for i := 0; i <= 1000; i++ {
		many = append(many, map[string]any{})
	}
	if status, _ := c.do("POST", "/people/2/persons/batch", map[string]any{"people": many}); status != 400 {
		t.Errorf("1001 persons: %d, want 400", status)
	}
}

func TestMatch(t *testing.T) {
	e, c := newClient(t, Options{})
	a := newPerson("Ann", "ann@example.com", "41790000001")
	a["externalId"] = "X-1"
	id := e.Insert(a)
	got := c.json("POST", "/people/2/persons/match", map[string]any{"identities": []any{
		map[string]any{"type": "EMAIL", "identifier": "ANN@example.com"},
		map[string]any{"type": "EMAIL", "identifier": "ANN@example.com"},
		map[string]any{"type": "EXTERNAL_ID", "identifier": "X-1"},
		map[string]any{"type": "PHONE", "identifier": "41000000000"},
	}}, 200)
	want := fmt.Sprintf(`[map[identifier:ANN@example.com personId:%d type:EMAIL] map[identifier:X-1 personId:%d type:EXTERNAL_ID]]`, id, id)
	if fmt.Sprint(got["matches"]) != want {
		t.Errorf("matches %v\nwant %s", got["matches"], want)
	}
	if status, _ := c.do("POST", "/people/2/persons/match", map[string]any{"identities": []any{map[string]any{"type": "EMAIL", "identifier": "x@y.z"}}}); status != 404 {
		t.Errorf("no match: %d, want 404", status)
	}
	if status, _ := c.do("POST", "/people/2/persons/match", map[string]any{"identities": []any{map[string]any{"type": "EMAIL"}}}); status != 400 {
		t.Errorf("identity without identifier: %d, want 400", status)
	}
}

func TestUpsertV3(t *testing.T) {
	e, c := newClient(t, Options{})
	existing := e.Insert(map[string]any{"externalId": "3", "firstName": "Jane", "city": "London"})
	body := map[string]any{"persons": []any{
		map[string]any{"externalId": "3", "firstName": "Jane"},
		map[string]any{"externalId": "3", "city": "Paris"},
		map[string]any{"firstName": "Joe", "contactInformation": []any{map[string]any{"identifier": "joe@example.com", "type": "EMAIL"}}},
		map[string]any{"firstName": "Bad", "contactInformation": []any{map[string]any{"identifier": "john.doe@example", "type": "EMAIL"}}},
		map[string]any{"firstName": "NoType", "contactInformation": []any{map[string]any{"identifier": "41790000001"}}},
	}}
	status, data := c.do("PATCH", "/people/3/persons/upsert", body)
	if status != 207 {
		t.Fatalf("HTTP %d: %s", status, data)
	}
	var resp struct {
		Errors []struct {
			Code    int
			Message string
			Details []struct{ Property, Message string }
			Index   int
		}
		Results []struct {
			ID     int64
			Index  int
			Status string
		}
	}
	_ = json.Unmarshal(data, &resp)
	statuses := map[int]string{}
	for _, r := range resp.Results {
		statuses[r.Index] = r.Status
	}
	if want := map[int]string{0: "NOT_MODIFIED", 1: "UPDATED", 2: "CREATED"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if resp.Results[0].ID != existing || resp.Results[1].ID != existing {
		t.Errorf("matched ids %d %d, want %d", resp.Results[0].ID, resp.Results[1].ID, existing)
	}
	if len(resp.Errors) != 2 || resp.Errors[0].Code != 400100 || resp.Errors[0].Index != 3 ||
		resp.Errors[0].Details[0].Property != "persons[3].contactInformation[0].identifier" || resp.Errors[0].Details[0].Message != "Email address is invalid" ||
		resp.Errors[1].Details[0].Message != "Must not be null" {
		t.Errorf("errors: %s", data)
	}
	p, _ := e.Get(existing)
	if p["city"] != "Paris" || p["firstName"] != "Jane" {
		t.Errorf("PATCH upsert must keep omitted fields: %v", p)
	}
	// PUT clears what it leaves out.
	c.json("PUT", "/people/3/persons/upsert", map[string]any{"persons": []any{map[string]any{"externalId": "3", "city": "Rome"}}}, 207)
	p, _ = e.Get(existing)
	if p["city"] != "Rome" || p["firstName"] != nil {
		t.Errorf("PUT upsert: %v", p)
	}
	for name, tc := range map[string]struct {
		body string
		code float64
	}{"malformed": {`{"persons":[`, 400103}, "missing": {`{}`, 400104}} {
		status, data := c.do("PUT", "/people/3/persons/upsert", tc.body)
		var v map[string]any
		_ = json.Unmarshal(data, &v)
		if status != 400 || v["code"] != tc.code {
			t.Errorf("%s: %d %s", name, status, data)
		}
	}
}

func TestCustomAttributes(t *testing.T) {
	e, c := newClient(t, Options{})
	c.json("POST", "/people/2/customAttributes", map[string]any{"name": "Contract Expiry", "dataType": "DATE"}, 200)
	c.json("POST", "/people/2/customAttributes", map[string]any{"name": "Score", "dataType": "INTEGER"}, 200)
	for _, bad := range []map[string]any{
		{"name": "Score", "dataType": "INTEGER"},     // exists
		{"name": "x", "dataType": "DATETIME"},        // not a data type (DATE_TIME is)
		{"name": "a[b]", "dataType": "STRING"},       // invalid characters
		{"name": "L", "dataType": "LIST_OF_OBJECTS"}, // no schema
	} {
		if status, body := c.do("POST", "/people/2/customAttributes", bad); status != 400 {
			t.Errorf("define %v: %d %s, want 400", bad, status, body)
		}
	}
	got := c.json("GET", "/people/2/customAttributes/Contract%20Expiry", nil, 200)
	if got["dataType"] != "DATE" || got["name"] != "Contract Expiry" {
		t.Errorf("GET attribute: %v", got)
	}
	list := c.json("GET", "/people/2/customAttributes?includeTotalCount=true", nil, 200)
	if list["totalCount"] != 2.0 || len(list["customAttributes"].([]any)) != 2 {
		t.Errorf("list: %v", list)
	}
	if status, _ := c.do("GET", "/people/2/customAttributes/Nope", nil); status != 404 {
		t.Errorf("missing attribute: %d", status)
	}

	// Values are checked against the definitions.
	for _, ca := range []map[string]any{
		{"Undefined": "x"},
		{"Score": "many"},
		{"Contract Expiry": "2024-13-45"},
	} {
		status, body := c.do("POST", "/people/2/persons", map[string]any{"firstName": "A", "customAttributes": ca})
		if status != 400 || !strings.Contains(string(body), "validationErrors") {
			t.Errorf("custom attributes %v: %d %s, want 400 with validation errors", ca, status, body)
		}
	}
	p := c.json("POST", "/people/2/persons", map[string]any{"customAttributes": map[string]any{"Score": 7, "Contract Expiry": "2024-06-01"}}, 200)
	if fmt.Sprint(p["customAttributes"]) != "map[Contract Expiry:2024-06-01 Score:7]" {
		t.Errorf("stored attributes: %v", p["customAttributes"])
	}
	// Deleting the definition keeps the values people have.
	c.json("DELETE", "/people/2/customAttributes/Score", nil, 200)
	got2, _ := e.Get(int64(p["id"].(float64)))
	if fmt.Sprint(got2["customAttributes"]) != "map[Contract Expiry:2024-06-01 Score:7]" {
		t.Errorf("after deleting the definition: %v", got2["customAttributes"])
	}
}

func TestListPagingAndFilters(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tick := func() { mu.Lock(); now = now.Add(time.Second); mu.Unlock() }
	e, c := newClient(t, Options{Now: clock})
	if err := e.DefineAttribute("Score", "INTEGER"); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := 0; i < 25; i++ {
		p := newPerson(fmt.Sprintf("P%02d", i), fmt.Sprintf("p%d@example.com", i), "")
		if i%2 == 0 {
			p["tags"] = []any{"Even"}
		}
		p["customAttributes"] = map[string]any{"Score": i}
		p["type"] = map[bool]string{true: "LEAD", false: "CUSTOMER"}[i%5 == 0]
		status, data := c.do("POST", "/people/2/persons", p)
		if status != 200 {
			t.Fatal(string(data))
		}
		var got struct{ ID int64 }
		_ = json.Unmarshal(data, &got)
		ids = append(ids, got.ID)
		if i%10 == 9 {
			tick()
		}
	}
	names := func(path string) []string {
		t.Helper()
		m := c.json("GET", path, nil, 200)
		var out []string
		for _, p := range m["persons"].([]any) {
			out = append(out, p.(map[string]any)["firstName"].(string))
		}
		return out
	}
	if got := names("/people/2/persons"); len(got) != 20 || got[0] != "P00" {
		t.Errorf("default page: %v", got)
	}
	if got := names("/people/2/persons?page=2&limit=20"); len(got) != 5 || got[0] != "P20" {
		t.Errorf("page 2: %v", got)
	}
	if got := names("/people/2/persons?page=3&limit=20"); len(got) != 0 {
		t.Errorf("page 3: %v", got)
	}
	if got := names("/people/2/persons?orderBy=firstName:desc&limit=3"); fmt.Sprint(got) != "[P24 P23 P22]" {
		t.Errorf("orderBy firstName:desc: %v", got)
	}
	// Ties in modifiedAt are broken by id in the same direction.
	if got := names("/people/2/persons?orderBy=modifiedAt:desc&limit=3"); fmt.Sprint(got) != "[P24 P23 P22]" {
		t.Errorf("orderBy modifiedAt:desc: %v", got)
	}
	f := func(filter string) string { return "/people/2/persons?limit=1000&filter=" + url.QueryEscape(filter) }
	for filter, want := range map[string]string{
		`{"type":"LEAD"}`: "[P00 P05 P10 P15 P20]",
		`{"#and":[{"type":"LEAD"},{"#contains":{"tags":"Even"}}]}`:                     "[P00 P10 P20]",
		`{"#or":[{"firstName":"P01"},{"#eq":{"firstName":"P02"}}]}`:                    "[P01 P02]",
		`{"#gte":{"modifiedAt":"2024-05-01T12:00:02"}}`:                                "[P20 P21 P22 P23 P24]",
		`{"#and":[{"#lt":{"modifiedAt":"2024-05-01T12:00:02"}},{"#gt":{"Score":17}}]}`: "[P18 P19]",
		`{"#startsWith":{"email":"P3@"}}`:                                              "[P03]",
		`{"#or":[{"id":3},{"id":4}]}`:                                                  "[P02 P03]",
		`{"#ne":{"type":"CUSTOMER"},"#endsWith":{"firstName":"5"}}`:                    "[P05 P15]",
		`{"#notContain":{"tags":"Even"},"#lte":{"customAttributes.Score":3}}`:          "[P01 P03]",
	} {
		if got := names(f(filter)); fmt.Sprint(got) != want {
			t.Errorf("filter %s: %v, want %s", filter, got, want)
		}
	}
	for _, bad := range []string{
		`{"#gt":{"firstName":"A"}}`, // #gt is for numbers and dates
		`{"#like":{"firstName":"A"}}`,
		`{"nope":1}`,
		`{"#gte":{"modifiedAt":"yesterday"}}`,
		`[1]`,
		`{"#and":{"type":"LEAD"}}`,
	} {
		if status, _ := c.do("GET", f(bad), nil); status != 400 {
			t.Errorf("filter %s: %d, want 400", bad, status)
		}
	}
	for _, q := range []string{"limit=1001", "limit=0", "page=0", "orderBy=city", "orderBy=firstName:up", "includeTotalCount=maybe"} {
		if status, _ := c.do("GET", "/people/2/persons?"+q, nil); status != 400 {
			t.Errorf("?%s: %d, want 400", q, status)
		}
	}
	m := c.json("GET", "/people/2/persons?includeTotalCount=true&limit=2&filter="+url.QueryEscape(`{"type":"LEAD"}`), nil, 200)
	if m["totalCount"] != 5.0 || len(m["persons"].([]any)) != 2 {
		t.Errorf("totalCount: %v", m)
	}
	if _, ok := c.json("GET", "/people/2/persons", nil, 200)["totalCount"]; ok {
		t.Errorf("totalCount sent without includeTotalCount")
	}

	_, c2 := newClient(t, Options{NoDateFilters: true})
	if status, _ := c2.do("GET", f(`{"#gte":{"modifiedAt":"2024-05-01T12:00:02"}}`), nil); status != 400 {
		t.Errorf("NoDateFilters: modifiedAt filter answered %d, want 400", status)
	}
	_ = ids
}

func TestTimestampsAndModification(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 900_000_000, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, c := newClient(t, Options{Now: clock})
	p := c.json("POST", "/people/2/persons", newPerson("Ann", "ann@example.com", ""), 200)
	if p["createdAt"] != "2024-05-01T12:00:00" || p["modifiedAt"] != "2024-05-01T12:00:00" || p["origin"] != "API" {
		t.Errorf("timestamps: %v", p)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	q := fmt.Sprintf("?identifier=%v&type=ID", p["id"])
	same := c.json("PATCH", "/people/2/persons"+q, map[string]any{"firstName": "Ann"}, 200)
	if same["modifiedAt"] != "2024-05-01T12:00:00" {
		t.Errorf("a PATCH that changes nothing moved modifiedAt to %v", same["modifiedAt"])
	}
	changed := c.json("PATCH", "/people/2/persons"+q, map[string]any{"firstName": "Anna"}, 200)
	if changed["modifiedAt"] != "2024-05-01T13:00:00" || changed["createdAt"] != "2024-05-01T12:00:00" {
		t.Errorf("after a change: %v", changed)
	}
	// The Date header comes from the same clock.
	req, _ := http.NewRequest("GET", c.srv.URL+"/people/2/persons", nil)
	req.Header.Set("Authorization", "App "+c.key)
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Date"); got != "Wed, 01 May 2024 13:00:00 GMT" {
		t.Errorf("Date: %q", got)
	}
}

func TestTags(t *testing.T) {
	e, c := newClient(t, Options{})
	a := e.Insert(newPerson("Ann", "ann@example.com", ""))
	b := e.Insert(newPerson("Bob", "bob@example.com", ""))
	c.json("POST", "/people/2/tags", map[string]any{"name": "VIP"}, 200)
	if status, _ := c.do("POST", "/people/2/tags", map[string]any{"name": "VIP"}); status != 400 {
		t.Errorf("duplicate tag: %d", status)
	}
	body := map[string]any{"people": []any{
		map[string]any{"query": map[string]any{"type": "ID", "identifier": fmt.Sprint(a)}},
		map[string]any{"query": map[string]any{"type": "ID", "identifier": fmt.Sprint(b)}},
		map[string]any{"query": map[string]any{"type": "ID", "identifier": "999"}},
	}}
	status, data := c.do("PATCH", "/people/2/tags/VIP/persons", body)
	if status != 207 || !strings.Contains(string(data), noMatch) {
		t.Errorf("tag persons: %d %s", status, data)
	}
	pa, _ := e.Get(a)
	if fmt.Sprint(pa["tags"]) != "[VIP]" {
		t.Errorf("tags: %v", pa["tags"])
	}
	c.json("DELETE", "/people/2/tags/VIP/persons", map[string]any{"people": body["people"].([]any)[:1]}, 200)
	pa, _ = e.Get(a)
	pb, _ := e.Get(b)
	if pa["tags"] != nil || fmt.Sprint(pb["tags"]) != "[VIP]" {
		t.Errorf("after removing from a: a %v, b %v", pa["tags"], pb["tags"])
	}
	if status, _ := c.do("PATCH", "/people/2/tags/Nope/persons", body); status != 404 {
		t.Errorf("unknown tag: %d", status)
	}
	// Tags named in person writes are created (see ensureTag).
	c.json("PATCH", fmt.Sprintf("/people/2/persons?identifier=%d&type=ID", a), map[string]any{"tags": []any{"New Tag"}}, 200)
	c.json("GET", "/people/2/tags/New%20Tag", nil, 200)
	list := c.json("GET", "/people/2/tags", nil, 200)
	if len(list["tags"].([]any)) != 2 {
		t.Errorf("tags: %v", list)
	}
	c.json("DELETE", "/people/2/tags/VIP", nil, 200)
	pb, _ = e.Get(b)
	if pb["tags"] != nil {
		t.Errorf("deleting the tag left it on a person: %v", pb["tags"])
	}
}

func TestRoutingErrors(t *testing.T) {
	_, c := newClient(t, Options{})
	if status, body := c.do("GET", "/people/9/nothing", nil); status != 404 || !strings.Contains(string(body), "NOT_FOUND") {
		t.Errorf("unknown path: %d %s", status, body)
	}
	if status, _ := c.do("GET", "/people/2/persons/batch", nil); status != 405 {
		t.Errorf("wrong method: %d", status)
	}
	if status, _ := c.do("POST", "/people/2/persons", "{not json"); status != 400 {
		t.Errorf("malformed body: %d", status)
	}
	if status, _ := c.do("PUT", "/people/2/persons", map[string]any{}); status != 400 {
		t.Errorf("PUT without identifier: %d", status)
	}
	if status, _ := c.do("POST", "/people/2/persons", map[string]any{"gender": "OTHER"}); status != 400 {
		t.Errorf("invalid gender: %d", status)
	}
	if status, _ := c.do("POST", "/people/2/persons", map[string]any{"birthDate": "15.01.1966"}); status != 400 {
		t.Errorf("invalid birthDate: %d", status)
	}
	if status, _ := c.do("POST", "/people/2/persons", map[string]any{"middleName": strings.Repeat("x", 51)}); status != 400 {
		t.Errorf("middleName over 50 characters: %d", status)
	}
}

// Limits "real": each operation allows its documented number of requests
// per window; the window is one second divided by TimeScale. A TimeScale of
// 0.001 makes the window 1000 s, so the count below cannot straddle two
// windows however slow the machine.
func TestRateLimits(t *testing.T) {
	_, c := newClient(t, Options{Limits: "real", TimeScale: 0.001})
	for i := 0; i < 5; i++ {
		if status, _ := c.do("GET", "/people/2/persons", nil); status != 200 {
			t.Fatalf("request %d: %d", i+1, status)
		}
	}
	status, body := c.do("GET", "/people/2/persons", nil)
	if status != 429 || compact(body) != `{"requestError":{"serviceException":{"messageId":"TOO_MANY_REQUESTS","text":"Too many requests"}}}` {
		t.Fatalf("sixth GET: %d %s, want 429 TOO_MANY_REQUESTS", status, body)
	}
	// Limits are per operation: create allows 10, match 15.
	for i := 0; i < 10; i++ {
		if status, _ := c.do("POST", "/people/2/persons", map[string]any{}); status != 200 {
			t.Fatalf("create %d: %d", i+1, status)
		}
	}
	if status, _ := c.do("POST", "/people/2/persons", map[string]any{}); status != 429 {
		t.Errorf("eleventh create: %d, want 429", status)
	}
	_, off := newClient(t, Options{Limits: "off", TimeScale: 0.001})
	for i := 0; i < 20; i++ {
		if status, _ := off.do("GET", "/people/2/persons", nil); status != 200 {
			t.Fatalf("limits off, request %d: %d", i+1, status)
		}
	}
}

// "sliding" counts each operation's requests in the window before each
// one: the sixth GET inside a second is refused (a refused request does not
// count), and a second after the first five one more goes.
func TestSlidingWindowLimits(t *testing.T) {
	_, c := newClient(t, Options{Limits: "sliding", TimeScale: 0.5}) // a 2 s window
	start := time.Now()
	for i := 0; i < 5; i++ {
		if status, _ := c.do("GET", "/people/2/persons", nil); status != 200 {
			t.Fatalf("request %d: %d", i+1, status)
		}
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Skip("the machine is too busy to put five requests into the window")
	}
	for i := 0; i < 2; i++ {
		if status, _ := c.do("GET", "/people/2/persons", nil); status != 429 {
			t.Errorf("request %d in the window: %d, want 429", 6+i, status)
		}
	}
	if status, _ := c.do("POST", "/people/2/persons/match", map[string]any{}); status == 429 {
		t.Error("another operation was throttled")
	}
	time.Sleep(time.Until(start.Add(2100 * time.Millisecond)))
	if status, _ := c.do("GET", "/people/2/persons", nil); status != 200 {
		t.Errorf("after the window: %d, want 200", status)
	}
}

func TestFaultInjection(t *testing.T) {
	e, c := newClient(t, Options{})
	e.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		status, body := c.do("GET", "/people/2/persons", nil)
		if status != 503 || !strings.Contains(string(body), "GENERAL_ERROR") {
			t.Errorf("injected failure %d: %d %s", i, status, body)
		}
	}
	if status, _ := c.do("GET", "/people/2/persons", nil); status != 200 {
		t.Errorf("after the injected failures: %d", status)
	}
	e.Throttle(time.Hour)
	if status, _ := c.do("GET", "/people/2/persons", nil); status != 429 {
		t.Errorf("during a storm: %d", status)
	}
	e.Throttle(0)
	if status, _ := c.do("GET", "/people/2/persons", nil); status != 200 {
		t.Errorf("after the storm: %d", status)
	}
	if e.Requests() != 5 {
		t.Errorf("Requests() = %d, want 5", e.Requests())
	}
}

func TestSeed(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	e := New(Options{Seed: 30, Now: func() time.Time { return now }})
	ps := e.Persons()
	if len(ps) != 30 {
		t.Fatalf("%d persons, want 30", len(ps))
	}
	types := map[string]int{}
	noExt, withAttr, withoutAttr := 0, 0, 0
	for k, p := range ps {
		fp := fake.PersonAt(SeedIndex(k))
		if got := addresses(p); len(got) != 1 || got[0] != fp.Email {
			t.Errorf("person %d: emails %v, want %s", k, got, fp.Email)
		}
		phone := p["contactInformation"].(map[string]any)["phone"].([]any)[0].(map[string]any)["number"]
		if phone != fp.Phone || strings.HasPrefix(fp.Phone, "+") {
			t.Errorf("person %d: phone %v, want %s", k, phone, fp.Phone)
		}
		types[p["type"].(string)]++
		if p["externalId"] == nil {
			noExt++
		}
		if p["customAttributes"] != nil {
			withAttr++
		} else {
			withoutAttr++
		}
		mod, err := time.Parse(TimeLayout, p["modifiedAt"].(string))
		if err != nil || mod.After(now) {
			t.Errorf("person %d: modifiedAt %v", k, p["modifiedAt"])
		}
	}
	if types["CUSTOMER"] == 0 || types["LEAD"] == 0 || noExt == 0 || noExt == 30 || withAttr == 0 || withoutAttr == 0 {
		t.Errorf("seed lacks variety: types %v, %d without externalId, %d with and %d without custom attributes", types, noExt, withAttr, withoutAttr)
	}
	var attrNames []string
	for name := range e.attrs {
		attrNames = append(attrNames, name)
	}
	sort.Strings(attrNames)
	if fmt.Sprint(attrNames) != "[Company Contract Expiry JobTitle Loyalty Points]" {
		t.Errorf("attributes %v", attrNames)
	}
	// Deterministic.
	again := New(Options{Seed: 30, Now: func() time.Time { return now }}).Persons()
	if !reflect.DeepEqual(ps, again) {
		t.Error("two seeds with the same clock differ")
	}
}

func TestLibraryInsertRejectsDuplicates(t *testing.T) {
	e := New(Options{})
	e.Insert(newPerson("A", "a@example.com", ""))
	if _, err := e.Add(newPerson("B", "A@example.com", "")); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Add of a duplicate: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Insert of a duplicate did not panic")
		}
	}()
	e.Insert(newPerson("B", "A@example.com", ""))
}

func TestLibraryUpdateReplacesLists(t *testing.T) {
	e := New(Options{})
	id := e.Insert(newPerson("A", "a@example.com", "41790000001"))
	if err := e.Update(id, map[string]any{"contactInformation": map[string]any{"email": []any{map[string]any{"address": "b@example.com"}}}, "city": "Split"}); err != nil {
		t.Fatal(err)
	}
	p, _ := e.Get(id)
	if fmt.Sprint(addresses(p)) != "[b@example.com]" || p["city"] != "Split" || p["modifiedFrom"] != "PORTAL" {
		t.Errorf("after Update: %v", p)
	}
	if err := e.Update(id, map[string]any{"gender": "X"}); err == nil {
		t.Error("Update with an invalid gender succeeded")
	}
	if err := e.Update(999, map[string]any{}); err == nil {
		t.Error("Update of a missing person succeeded")
	}
	if !e.Delete(id) || e.Delete(id) {
		t.Error("Delete")
	}
}

// A page of the list is the same whether the whole list is sorted or only
// the pages up to it are selected.
func TestFirstPersonsIsSortedPrefix(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for trial := 0; trial < 200; trial++ {
		ps := make([]*person, rnd.IntN(60))
		for i := range ps {
			ps[i] = &person{ID: int64(i + 1), ModifiedAt: base.Add(time.Duration(rnd.IntN(5)) * time.Second),
				CreatedAt: base.Add(time.Duration(rnd.IntN(3)) * time.Second), Attrs: map[string]string{"lastName": fmt.Sprint(rnd.IntN(4))}}
		}
		rnd.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		field := []string{"", "modifiedAt", "createdAt", "lastName"}[rnd.IntN(4)]
		lp := listParams{field: field, desc: rnd.IntN(2) == 0, limit: 1 + rnd.IntN(10), page: 1 + rnd.IntN(4)}
		all := append([]*person(nil), ps...)
		sortPersons(all, lp)
		got := page(firstPersons(append([]*person(nil), ps...), lp, lp.page*lp.limit), lp)
		want := page(all, lp)
		if len(got) != len(want) {
			t.Fatalf("trial %d (%+v): %d persons, want %d", trial, lp, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("trial %d (%+v): person %d is %d, want %d", trial, lp, i, got[i].ID, want[i].ID)
			}
		}
	}
}

// Lists answered from the modifiedAt index are the pages a full sort of
// the matching persons gives, with the same total, while persons change
// between requests.
func TestListFromIndexMatchesFullSort(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := base
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, c := newClient(t, Options{Now: clock})
	var ids []int64
	for i := 0; i < 120; i++ {
		typ := []string{"CUSTOMER", "LEAD"}[rnd.IntN(2)]
		ids = append(ids, e.Insert(map[string]any{"type": typ, "lastName": fmt.Sprint(rnd.IntN(5)),
			"modifiedAt": base.Add(time.Duration(rnd.IntN(10)) * time.Second).Format(TimeLayout)}))
	}
	at := func(k int) string { return base.Add(time.Duration(k) * time.Second).Format(TimeLayout) }
	for trial := 0; trial < 300; trial++ {
		if rnd.IntN(3) == 0 { // a change between requests moves a person
			mu.Lock()
			now = base.Add(time.Duration(rnd.IntN(12)) * time.Second)
			mu.Unlock()
			_ = e.Update(ids[rnd.IntN(len(ids))], map[string]any{"lastName": fmt.Sprint("v", trial)})
		}
		var clauses []any
		if rnd.IntN(2) == 0 {
			clauses = append(clauses, map[string]any{"type": "CUSTOMER"})
		}
		for _, op := range []string{"#gte", "#gt", "#lte", "#lt", "#eq"} {
			if rnd.IntN(4) == 0 {
				clauses = append(clauses, map[string]any{op: map[string]any{"modifiedAt": at(rnd.IntN(13))}})
			}
		}
		if rnd.IntN(5) == 0 { // an #or is no bound
			clauses = append(clauses, map[string]any{"#or": []any{map[string]any{"#lt": map[string]any{"modifiedAt": at(3)}}, map[string]any{"type": "LEAD"}}})
		}
		if len(clauses) == 0 {
			clauses = append(clauses, map[string]any{"#ne": map[string]any{"type": "X"}})
		}
		var filter any = map[string]any{"#and": clauses}
		if len(clauses) == 1 && rnd.IntN(2) == 0 {
			filter = clauses[0]
		}
		fj, _ := json.Marshal(filter)
		orderBy := []string{"", "modifiedAt:desc", "modifiedAt:asc", "modifiedAt", "lastName:desc"}[rnd.IntN(5)]
		lp := listParams{limit: 1 + rnd.IntN(20), page: 1 + rnd.IntN(4), includeTotal: rnd.IntN(2) == 0}
		if orderBy != "" {
			field, dir, _ := strings.Cut(orderBy, ":")
			lp.orderBy, lp.field, lp.desc = orderBy, field, dir == "desc"
		}
		// The reference: every person the filter matches, sorted.
		e.mu.Lock()
		pred, err := e.compileFilter(string(fj))
		if err != nil {
			e.mu.Unlock()
			t.Fatal(err)
		}
		var all []*person
		for _, p := range e.persons {
			if pred(p) {
				all = append(all, p)
			}
		}
		sortPersons(all, lp)
		var want []float64
		for _, p := range page(all, lp) {
			want = append(want, float64(p.ID))
		}
		e.mu.Unlock()

		q := url.Values{"filter": {string(fj)}, "limit": {fmt.Sprint(lp.limit)}, "page": {fmt.Sprint(lp.page)}, "includeTotalCount": {fmt.Sprint(lp.includeTotal)}}
		if orderBy != "" {
			q.Set("orderBy", orderBy)
		}
		got := c.json("GET", "/people/2/persons?"+q.Encode(), nil, 200)
		var gotIDs []float64
		for _, p := range got["persons"].([]any) {
			gotIDs = append(gotIDs, p.(map[string]any)["id"].(float64))
		}
		if !reflect.DeepEqual(gotIDs, want) {
			t.Fatalf("trial %d: filter %s, %s, page %d of %d: ids %v, want %v", trial, fj, orderBy, lp.page, lp.limit, gotIDs, want)
		}
		if lp.includeTotal && got["totalCount"] != float64(len(all)) {
			t.Fatalf("trial %d: filter %s: totalCount %v, want %d", trial, fj, got["totalCount"], len(all))
		}
	}
}
