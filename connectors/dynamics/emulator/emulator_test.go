package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/internal/wire"
)

const base = "http://example.com" // httptest.NewRequest's host

type client struct {
	t     *testing.T
	e     *Emulator
	token string
}

func newClient(t *testing.T, opts Options) *client {
	t.Helper()
	e := New(opts)
	c := &client{t: t, e: e}
	rec := c.form("/"+emulatorTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {emulatorClientID},
		"client_secret": {emulatorClientSecret}, "scope": {base + "/.default"}})
	if rec.Code != 200 {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 3599 || strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("token response %s", rec.Body)
	}
	c.token = tok.AccessToken
	return c
}

func (c *client) form(path string, f url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	c.e.ServeHTTP(rec, req)
	return rec
}

// do sends an API request; headers are "Name: value" strings (repeats
// allowed).
func (c *client) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	if body != "" && !strings.HasPrefix(body, "--") {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	rec := httptest.NewRecorder()
	c.e.ServeHTTP(rec, req)
	return rec
}

func (c *client) want(rec *httptest.ResponseRecorder, status int, code string) map[string]any {
	c.t.Helper()
	if rec.Code != status {
		c.t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var body map[string]any
	if rec.Body.Len() > 0 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(rec.Body)
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			c.t.Fatalf("body: %v", err)
		}
	}
	if code != "" {
		e, _ := body["error"].(map[string]any)
		if e == nil || e["code"] != code {
			c.t.Fatalf("error %v, want code %s", body, code)
		}
	}
	return body
}

func TestCaseSensitiveNamesAndErrors(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 2})
	b := c.want(c.do("GET", "/api/data/v9.2/Contacts", ""), 404, codeResourceNotFound)
	if msg := b["error"].(map[string]any)["message"]; msg != "Resource not found for the segment 'Contacts'." {
		t.Errorf("message %q", msg)
	}
	c.want(c.do("GET", "/api/data/v9.2/contacts?$select=FirstName", ""), 400, "0x0")
	c.want(c.do("GET", "/api/data/v9.2/contacts?$filter=lastname%20eq%20'O'Bryan'", ""), 400, codeQuerySyntax)
	b = c.want(c.do("GET", "/api/data/v9.2/contacts?$filter="+url.QueryEscape("contactid eq 'abc'"), ""), 400, codeQuerySyntax)
	if !strings.Contains(b["error"].(map[string]any)["message"].(string), "'Edm.Guid' and 'Edm.String'") {
		t.Errorf("incompatible types: %v", b)
	}
	c.want(c.do("GET", "/api/data/v9.2/contacts?$skip=1", ""), 400, codeQuerySyntax)
	c.want(c.do("POST", "/api/data/v9.2/contacts", `{"lastname":"x","Name":"y"}`), 400, "0x0")
	c.want(c.do("POST", "/api/data/v9.2/contacts", `{"lastname":"`+strings.Repeat("x", 51)+`"}`), 400, codeMaxLength)
	c.want(c.do("POST", "/api/data/v9.2/contacts", `{"lastname":"x","gendercode":9}`), 400, codeOptionOutOfRange)
	c.want(c.do("GET", "/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000001)", ""), 404, codeObjectNotExist)
	// No token: 401 with a challenge and no body.
	req := httptest.NewRequest("GET", "/api/data/v9.2/contacts", nil)
	rec := httptest.NewRecorder()
	c.e.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer authorization_uri=") || rec.Body.Len() != 0 {
		t.Errorf("unauthenticated: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}

func TestWritesAndConditions(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	// If-None-Match: null is a no-op everywhere.
	rec := c.do("POST", "/api/data/v9.2/contacts", `{"lastname":"A","emailaddress1":"a@x.com"}`, "If-None-Match: null")
	c.want(rec, 204, "")
	loc := rec.Header().Get("OData-EntityId")
	id := loc[strings.LastIndex(loc, "(")+1 : len(loc)-1]
	if !wire.IsGUID(id) || !strings.HasPrefix(loc, base+"/api/data/v9.2/contacts(") {
		t.Fatalf("OData-EntityId %q", loc)
	}
	got := c.want(c.do("GET", "/api/data/v9.2/contacts("+id+")?$select=lastname,fullname", "", "If-None-Match: null"), 200, "")
	if got["fullname"] != "A" || got["@odata.context"] != base+"/api/data/v9.2/$metadata#contacts(lastname,fullname)/$entity" {
		t.Errorf("GET: %v", got)
	}
	etag := got["@odata.etag"].(string)
	// A GET with the current ETag is 304.
	c.want(c.do("GET", "/api/data/v9.2/contacts("+id+")", "", "If-None-Match: "+etag), 304, "")
	// Both Prefer styles.
	for _, hdrs := range [][]string{
		{"Prefer: return=representation", `Prefer: odata.include-annotations="*"`},
		{`Prefer: return=representation,odata.include-annotations="*"`},
	} {
		rec := c.do("POST", "/api/data/v9.2/contacts?$select=lastname,gendercode", `{"lastname":"B","gendercode":1}`, hdrs...)
		b := c.want(rec, 201, "")
		if b["gendercode@OData.Community.Display.V1.FormattedValue"] != "Male" || rec.Header().Get("Preference-Applied") != "return=representation" {
			t.Errorf("Prefer %q: %v %v", hdrs, b, rec.Header())
		}
	}
	// PATCH is an upsert unless If-Match: *.
	missing := "00000000-0000-4000-8000-000000000077"
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+missing+")", `{"lastname":"C"}`, "If-Match: *"), 404, codeObjectNotExist)
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+missing+")", `{"lastname":"C"}`, "Prefer: return=representation"), 201, "")
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+missing+")", `{"lastname":"D"}`, "Prefer: return=representation"), 200, "")
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+missing+")", `{"lastname":"E"}`, "If-None-Match: *"), 412, codeDuplicateRecord)
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+id+")", `{"lastname":"E"}`, "If-Match: "+etag), 204, "")
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+id+")", `{"lastname":"F"}`, "If-Match: "+etag), 412, codeVersionMismatch)
	// Alternate key.
	got = c.want(c.do("GET", "/api/data/v9.2/contacts(emailaddress1='A@X.COM')?$select=lastname", ""), 200, "")
	if got["contactid"] != id {
		t.Errorf("by alternate key: %v", got)
	}
	rec = c.do("PATCH", "/api/data/v9.2/contacts(emailaddress1='new@x.com')", `{"lastname":"G"}`)
	c.want(rec, 204, "")
	if rec.Header().Get("OData-EntityId") != base+"/api/data/v9.2/contacts(emailaddress1='new@x.com')" {
		t.Errorf("upsert by key echoes %q", rec.Header().Get("OData-EntityId"))
	}
	c.want(c.do("POST", "/api/data/v9.2/contacts", `{"lastname":"H","emailaddress1":"NEW@x.com"}`), 412, codeDuplicateKey)
	// A quote in a key value is doubled, as in $filter; an unclosed one is
	// a bad key.
	c.want(c.do("PATCH", "/api/data/v9.2/contacts(emailaddress1='o''brien@x.com')", `{"lastname":"O'Brien"}`), 204, "")
	got = c.want(c.do("GET", "/api/data/v9.2/contacts(emailaddress1='O''Brien@x.com')?$select=lastname,emailaddress1", ""), 200, "")
	if got["emailaddress1"] != "o'brien@x.com" || got["lastname"] != "O'Brien" {
		t.Errorf("by a key with a quote: %v", got)
	}
	if rec := c.do("GET", "/api/data/v9.2/contacts(emailaddress1='o''brien@x.com)", ""); rec.Code < 400 {
		t.Errorf("an unclosed key literal answered %d", rec.Code)
	}
	c.want(c.do("GET", "/api/data/v9.2/contacts(lastname='G')", ""), 400, codeQuerySyntax)
	c.want(c.do("DELETE", "/api/data/v9.2/contacts("+id+")", ""), 204, "")
	c.want(c.do("DELETE", "/api/data/v9.2/contacts("+id+")", ""), 404, codeObjectNotExist)
}

func TestPagingTopAndCount(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 7})
	b := c.want(c.do("GET", "/api/data/v9.2/contacts?$select=lastname&$top=3", ""), 200, "")
	if len(b["value"].([]any)) != 3 || b["@odata.nextLink"] != nil {
		t.Errorf("$top=3: %v", b)
	}
	rec := c.do("GET", "/api/data/v9.2/contacts?$select=lastname&$top=3&$count=true", "", "Prefer: odata.maxpagesize=5")
	b = c.want(rec, 200, "")
	if len(b["value"].([]any)) != 5 || b["@odata.nextLink"] == nil || b["@odata.count"] != json.Number("7") || rec.Header().Get("Preference-Applied") != "odata.maxpagesize=5" {
		t.Errorf("$top with maxpagesize: %v %v", b, rec.Header())
	}
	next := strings.TrimPrefix(b["@odata.nextLink"].(string), base)
	b = c.want(c.do("GET", next, "", "Prefer: odata.maxpagesize=5"), 200, "")
	if len(b["value"].([]any)) != 2 || b["@odata.nextLink"] != nil {
		t.Errorf("page 2: %v", b)
	}
	rec = c.do("GET", "/api/data/v9.2/contacts/$count", "")
	if rec.Code != 200 || rec.Body.String() != "7" {
		t.Errorf("$count: %d %q", rec.Code, rec.Body)
	}
}

func TestChangeTracking(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 3})
	c.want(c.do("GET", "/api/data/v9.2/contacts?$filter=lastname%20eq%20'x'", "", "Prefer: odata.track-changes"), 400, codeQuerySyntax)
	rec := c.do("GET", "/api/data/v9.2/contacts?$select=lastname", "", "Prefer: odata.track-changes")
	b := c.want(rec, 200, "")
	delta := b["@odata.deltaLink"].(string)
	if !strings.Contains(delta, "$select=lastname&$deltatoken=") || rec.Header().Get("Preference-Applied") != "odata.track-changes" {
		t.Fatalf("deltaLink %q, %v", delta, rec.Header())
	}
	id := b["value"].([]any)[0].(map[string]any)["contactid"].(string)
	c.e.Delete("contact", id)
	b = c.want(c.do("GET", strings.TrimPrefix(delta, base), "", "Prefer: odata.track-changes"), 200, "")
	if b["@odata.context"] != base+"/api/data/v9.2/$metadata#contacts(lastname)/$delta" {
		t.Errorf("delta context %v", b["@odata.context"])
	}
	items := b["value"].([]any)
	if len(items) != 1 {
		t.Fatalf("delta: %v", items)
	}
	del := items[0].(map[string]any)
	if del["@odata.context"] != base+"/api/data/v9.2/$metadata#contacts/$deletedEntity" || del["id"] != id || del["reason"] != "deleted" {
		t.Errorf("deleted entry %v", del)
	}
	c.e.ExpireDeltaTokens()
	c.want(c.do("GET", strings.TrimPrefix(delta, base), "", "Prefer: odata.track-changes"), 400, codeExpiredVersion)
	c.e.SetChangeTracking("lead", false)
	c.want(c.do("GET", "/api/data/v9.2/leads", "", "Prefer: odata.track-changes"), 400, codeCTNotEnabled)
}

func TestBulkActions(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	b := c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.CreateMultiple",
		`{"Targets":[{"@odata.type":"Microsoft.Dynamics.CRM.contact","lastname":"A","emailaddress1":"a@x.com"},{"@odata.type":"Microsoft.Dynamics.CRM.contact","lastname":"B"}]}`), 200, "")
	if b["@odata.context"] != base+"/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse" || len(b["Ids"].([]any)) != 2 {
		t.Errorf("CreateMultiple: %v", b)
	}
	c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.CreateMultiple", `{"Targets":[{"lastname":"C"}]}`), 400, codePayload)
	// One bad target rolls the whole request back.
	c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.CreateMultiple",
		`{"Targets":[{"@odata.type":"Microsoft.Dynamics.CRM.contact","lastname":"D"},{"@odata.type":"Microsoft.Dynamics.CRM.contact","lastname":"E","emailaddress1":"A@x.com"}]}`), 412, codeDuplicateKey)
	if n := len(c.e.Rows("contact")); n != 2 {
		t.Errorf("%d contacts after a failed CreateMultiple, want 2", n)
	}
	ids := b["Ids"].([]any)
	c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.UpdateMultiple",
		fmt.Sprintf(`{"Targets":[{"@odata.type":"Microsoft.Dynamics.CRM.contact","contactid":"%s","jobtitle":"X"},{"@odata.type":"Microsoft.Dynamics.CRM.contact","contactid":"00000000-0000-4000-8000-000000000009","jobtitle":"Y"}]}`, ids[0])), 404, codeObjectNotExist)
	if r, _ := c.e.Get("contact", ids[0].(string)); r["jobtitle"] != nil {
		t.Errorf("a failed UpdateMultiple changed a record")
	}
	// UpsertMultiple by alternate key: the create path rejects the key in
	// the body, the update path drops it.
	c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.UpsertMultiple",
		`{"Targets":[{"@odata.type":"Microsoft.Dynamics.CRM.contact","@odata.id":"contacts(emailaddress1='z@x.com')","lastname":"Z","emailaddress1":"z@x.com"}]}`), 400, codeUnexpected)
	c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.UpsertMultiple",
		`{"Targets":[{"@odata.type":"Microsoft.Dynamics.CRM.contact","@odata.id":"contacts(emailaddress1='z@x.com')","lastname":"Z"},{"@odata.type":"Microsoft.Dynamics.CRM.contact","@odata.id":"contacts(emailaddress1='a@x.com')","lastname":"A2","emailaddress1":"a@x.com"}]}`), 204, "")
	if r, _ := c.e.Get("contact", ids[0].(string)); r["lastname"] != "A2" {
		t.Errorf("UpsertMultiple update path: %v", r["lastname"])
	}
	c.want(c.do("POST", "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM.DeleteMultiple", `{"Targets":[]}`), 400, codeNotImplemented)
}

func TestQualifyLeadAction(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 4})
	lead := c.e.Rows("lead")[0]
	path := "/api/data/v9.2/leads(" + lead["leadid"].(string) + ")/Microsoft.Dynamics.CRM.QualifyLead"
	c.want(c.do("POST", path, `{"CreateContact":true}`), 400, codeInvalidArgument)
	b := c.want(c.do("POST", path, `{"CreateAccount":false,"CreateContact":true,"CreateOpportunity":false,"Status":3}`), 200, "")
	items := b["value"].([]any)
	if b["@odata.context"] != base+"/api/data/v9.2/$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)" || len(items) != 1 {
		t.Fatalf("QualifyLead: %v", b)
	}
	item := items[0].(map[string]any)
	contact, ok := c.e.Get("contact", item["contactid"].(string))
	if item["@odata.type"] != "#Microsoft.Dynamics.CRM.contact" || !ok || contact["_originatingleadid_value"] != lead["leadid"] || contact["emailaddress1"] != lead["emailaddress1"] {
		t.Errorf("contact %v", contact)
	}
	if l, _ := c.e.Get("lead", lead["leadid"].(string)); l["statecode"] != int64(1) || l["statuscode"] != int64(3) {
		t.Errorf("lead %v/%v", l["statecode"], l["statuscode"])
	}
	c.want(c.do("POST", path, `{"CreateAccount":false,"CreateContact":true,"CreateOpportunity":false,"Status":3}`), 400, codeLeadClosed)
}

func batchBody(boundary string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p)
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String()
}

func httpPart(reqLine, body string, headers ...string) string {
	s := "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" + reqLine + " HTTP/1.1\r\n"
	for _, h := range headers {
		s += h + "\r\n"
	}
	if body != "" {
		s += "Content-Type: application/json; type=entry\r\n\r\n" + body + "\r\n"
	} else {
		s += "\r\n\r\n"
	}
	return s
}

func TestBatch(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	// Unquoted and quoted boundaries; a change set with a $1 reference.
	cs := batchBody("changeset_1",
		"Content-ID: 1\r\n"+httpPart("POST /api/data/v9.2/contacts", `{"lastname":"One"}`),
		"Content-ID: 2\r\n"+httpPart("PATCH $1", `{"firstname":"Ann"}`))
	for _, ct := range []string{"multipart/mixed; boundary=batch_X", `multipart/mixed; boundary="batch_X"`} {
		body := batchBody("batch_X", "Content-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"+cs)
		rec := c.do("POST", "/api/data/v9.2/$batch", body, "Content-Type: "+ct)
		if rec.Code != 200 || strings.Count(rec.Body.String(), "HTTP/1.1 204 No Content") != 2 {
			t.Errorf("%s: %d\n%s", ct, rec.Code, rec.Body)
		}
	}
	rows := c.e.Rows("contact")
	if len(rows) != 2 || rows[0]["fullname"] != "Ann One" {
		t.Errorf("after the change sets: %v", rows)
	}
	// A failing part rolls its change set back.
	bad := batchBody("cs2", httpPart("POST /api/data/v9.2/contacts", `{"lastname":"Kept?"}`), httpPart("POST /api/data/v9.2/contacts", `{"lastname":"`+strings.Repeat("x", 60)+`"}`))
	rec := c.do("POST", "/api/data/v9.2/$batch", batchBody("b", "Content-Type: multipart/mixed; boundary=cs2\r\n\r\n"+bad), "Content-Type: multipart/mixed; boundary=b")
	if rec.Code != 400 || len(c.e.Rows("contact")) != 2 {
		t.Errorf("failed change set: %d, %d contacts", rec.Code, len(c.e.Rows("contact")))
	}
	// Top-level parts: stop at the first error, or go on with
	// continue-on-error.
	parts := []string{httpPart("POST /api/data/v9.2/contacts", `{"lastname":"x","nope":1}`), httpPart("POST /api/data/v9.2/contacts", `{"lastname":"After"}`)}
	rec = c.do("POST", "/api/data/v9.2/$batch", batchBody("b", parts...), "Content-Type: multipart/mixed; boundary=b")
	if rec.Code != 400 || strings.Contains(rec.Body.String(), "204") {
		t.Errorf("without continue-on-error: %d\n%s", rec.Code, rec.Body)
	}
	rec = c.do("POST", "/api/data/v9.2/$batch", batchBody("b", parts...), "Content-Type: multipart/mixed; boundary=b", "Prefer: odata.continue-on-error")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "HTTP/1.1 400 Bad Request") || !strings.Contains(rec.Body.String(), "HTTP/1.1 204 No Content") {
		t.Errorf("with continue-on-error: %d\n%s", rec.Code, rec.Body)
	}
	// LF line ends are not readable.
	lf := strings.ReplaceAll(batchBody("b", parts[1]), "\r\n", "\n")
	c.want(c.do("POST", "/api/data/v9.2/$batch", lf, "Content-Type: multipart/mixed; boundary=b"), 400, codePayload)
	// An undeclared Content-ID.
	ref := batchBody("cs3", httpPart("PATCH $9", `{"lastname":"x"}`))
	rec = c.do("POST", "/api/data/v9.2/$batch", batchBody("b", "Content-Type: multipart/mixed; boundary=cs3\r\n\r\n"+ref), "Content-Type: multipart/mixed; boundary=b")
	if !strings.Contains(rec.Body.String(), "Content-ID Reference: '$9' does not exist in the batch context.") {
		t.Errorf("undeclared reference:\n%s", rec.Body)
	}
}

func TestServiceProtectionLimits(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Limits: "real", TimeScale: 30}) // window 10 s
	var last *httptest.ResponseRecorder
	for i := 0; i <= 6000; i++ {
		last = c.do("GET", "/api/data/v9.2/contacts/$count", "")
		if last.Code == 429 {
			break
		}
	}
	if last.Code != 429 {
		t.Fatalf("6001 requests in a window were all served")
	}
	c.want(last, 429, codeRequestsLimit)
	if ra := last.Header().Get("Retry-After"); ra == "" || strings.ContainsAny(ra, ".:") {
		t.Errorf("Retry-After %q, want integer seconds", ra)
	}

	// Concurrency and execution time, on the limiter directly.
	l := newLimiter(true, 1)
	var releases []func(time.Duration)
	for i := 0; i < 52; i++ {
		rel, err := l.admit("u")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		releases = append(releases, rel)
	}
	if _, err := l.admit("u"); err == nil || err.code != codeConcurrencyLimit {
		t.Errorf("53rd concurrent request: %v", err)
	}
	if _, err := l.admit("other user"); err != nil {
		t.Errorf("another user is limited too: %v", err)
	}
	for _, rel := range releases {
		rel(30 * time.Second) // 52 × 30 s > 1,200 s
	}
	if _, err := l.admit("u"); err == nil || err.code != codeExecTimeLimit || err.retryAfter < 1 {
		t.Errorf("after 1,560 s of execution: %v", err)
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	// Basic client authentication is accepted.
	req := httptest.NewRequest("POST", "/"+emulatorTenant+"/oauth2/v2.0/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {base + "/.default"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(emulatorClientID, url.QueryEscape(emulatorClientSecret))
	rec := httptest.NewRecorder()
	c.e.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("basic auth: %d %s", rec.Code, rec.Body)
	}
	check := func(rec *httptest.ResponseRecorder, status int, errCode string, aadsts int) {
		t.Helper()
		var b struct {
			Error      string `json:"error"`
			ErrorCodes []int  `json:"error_codes"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &b)
		if rec.Code != status || b.Error != errCode || len(b.ErrorCodes) != 1 || b.ErrorCodes[0] != aadsts {
			t.Errorf("got %d %s, want %d %s AADSTS%d", rec.Code, rec.Body, status, errCode, aadsts)
		}
	}
	cc := func(tenant, id, secret, scope string) *httptest.ResponseRecorder {
		return c.form("/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {scope}})
	}
	check(cc("nope.onmicrosoft.com", emulatorClientID, emulatorClientSecret, base+"/.default"), 400, "invalid_request", 90002)
	check(cc(emulatorTenant, "11111111-1111-1111-1111-111111111111", emulatorClientSecret, base+"/.default"), 400, "unauthorized_client", 700016)
	check(cc(emulatorTenant, emulatorClientID, "bad", base+"/.default"), 401, "invalid_client", 7000215)
	check(cc(emulatorTenant, emulatorClientID, emulatorClientSecret, "https://other.crm.dynamics.com/.default"), 400, "invalid_resource", 500011)
	check(c.form("/"+emulatorTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {emulatorClientID}}), 400, "unsupported_grant_type", 70003)

	// Authorization code with PKCE, then refresh with rotation.
	verifier := "a-verifier-of-forty-three-characters-at-least-xx"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	q := url.Values{"client_id": {emulatorClientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:5555/"},
		"scope": {"offline_access " + base + "/user_impersonation"}, "state": {"s1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	rec = httptest.NewRecorder()
	c.e.ServeHTTP(rec, httptest.NewRequest("GET", "/organizations/oauth2/v2.0/authorize?"+q.Encode(), nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != 302 || loc == nil || loc.Host != "127.0.0.1:5555" || loc.Query().Get("state") != "s1" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %v", rec.Code, rec.Header())
	}
	code := loc.Query().Get("code")
	redeem := func(v string) *httptest.ResponseRecorder {
		return c.form("/"+emulatorTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {emulatorClientID},
			"code": {code}, "redirect_uri": {"http://127.0.0.1:5555/"}, "code_verifier": {v}})
	}
	check(redeem("wrong"), 400, "invalid_grant", 501481)
	// A code is redeemed once, even after a failed attempt; get a new one.
	rec = httptest.NewRecorder()
	c.e.ServeHTTP(rec, httptest.NewRequest("GET", "/organizations/oauth2/v2.0/authorize?"+q.Encode(), nil))
	loc, _ = url.Parse(rec.Header().Get("Location"))
	code = loc.Query().Get("code")
	rec = redeem(verifier)
	var tok map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	if rec.Code != 200 || tok["refresh_token"] == nil || tok["scope"] != base+"/user_impersonation" {
		t.Fatalf("redeem: %d %s", rec.Code, rec.Body)
	}
	check(redeem(verifier), 400, "invalid_grant", 70008)
	rt := tok["refresh_token"].(string)
	rec = c.form("/"+emulatorTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {emulatorClientID}, "refresh_token": {rt}})
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	if rec.Code != 200 || tok["refresh_token"] == rt || tok["refresh_token"] == nil {
		t.Errorf("refresh did not rotate: %s", rec.Body)
	}
	// An unregistered redirect is refused on the page, not redirected.
	q.Set("redirect_uri", "https://evil.example.com/")
	rec = httptest.NewRecorder()
	c.e.ServeHTTP(rec, httptest.NewRequest("GET", "/common/oauth2/v2.0/authorize?"+q.Encode(), nil))
	if rec.Code != 400 || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), "AADSTS50011") {
		t.Errorf("bad redirect: %d %v", rec.Code, rec.Header())
	}
}

func TestFiltersAndMetadata(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	for _, n := range []string{"O'Brien", "Obi", "50% off", "5 off"} {
		c.e.Insert("contact", map[string]any{"lastname": n})
	}
	count := func(filter string) int {
		b := c.want(c.do("GET", "/api/data/v9.2/contacts?$select=lastname&$filter="+url.QueryEscape(filter), ""), 200, "")
		return len(b["value"].([]any))
	}
	for filter, want := range map[string]int{
		"lastname eq 'o''brien'":               1,
		"startswith(lastname,'ob')":            1,
		"contains(lastname,'0%')":              1, // % is a wildcard: "50% off" only has "0" followed by anything...
		"contains(lastname,'off')":             2,
		"not contains(lastname,'off')":         2,
		"lastname eq 'Obi' or lastname eq 'x'": 1,
		"Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=[\"obi\",\"O'Brien\"])": 2,
		// Values compare as eq does: without case, trailing spaces ignored.
		"Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=[\"OBI  \",\"x\"])":        1,
		"Microsoft.Dynamics.CRM.NotIn(PropertyName='lastname',PropertyValues=[\"obi\",\"O'Brien\"])": 2,
		"Microsoft.Dynamics.CRM.In(PropertyName='firstname',PropertyValues=[\"obi\"])":               0,
		"firstname eq null":                      4,
		"lastname ne null and firstname ne null": 0,
	} {
		if got := count(filter); got != want {
			t.Errorf("%s: %d rows, want %d", filter, got, want)
		}
	}
	b := c.want(c.do("GET", "/api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)", ""), 200, "")
	found := false
	for _, a := range b["value"].([]any) {
		m := a.(map[string]any)
		if m["LogicalName"] == "gendercode" {
			opts := m["OptionSet"].(map[string]any)["Options"].([]any)
			found = len(opts) == 2
		}
	}
	if !found {
		t.Errorf("gendercode options missing: %v", b)
	}
	c.want(c.do("GET", "/api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes?$select=MaxLength", ""), 400, "0x0")
	rec := c.do("GET", "/api/data/v9.2/$metadata?annotations=true", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<EntitySet Name="contacts" EntityType="Microsoft.Dynamics.CRM.contact"><Annotation Term="Org.OData.Capabilities.V1.ChangeTracking">`) {
		t.Errorf("$metadata: %d", rec.Code)
	}
}

func TestDuplicateDetection(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	c.want(c.do("POST", "/api/data/v9.2/leads", `{"lastname":"A","emailaddress1":"dup@x.com"}`), 204, "")
	// Suppressed by default on the Web API (reference §6).
	c.want(c.do("POST", "/api/data/v9.2/leads", `{"lastname":"B","emailaddress1":"DUP@x.com"}`), 204, "")
	c.want(c.do("POST", "/api/data/v9.2/leads", `{"lastname":"C","emailaddress1":"dup@x.com"}`, "MSCRM.SuppressDuplicateDetection: false"), 500, codeDuplicateFound)
	if n := len(c.e.Rows("lead")); n != 2 {
		t.Errorf("%d leads, want 2", n)
	}
}
