package dynamics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

// The published samples, copied from shared/reference/dynamics-samples
// (see testdata/reference/ORIGIN.md).
func sample(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/reference/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// stubService serves a token endpoint and hands API requests to api.
func stubService(t *testing.T, api http.HandlerFunc) (*Conn, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"stub-token"}`)
			return
		}
		api(w, r)
	}))
	t.Cleanup(srv.Close)
	settings := map[string]string{"url": srv.URL, "tenant": "t", "client_id": "c", "client_secret": "s", "authority": srv.URL}
	c, err := New(testCtx(t), connector.Config{Name: "crm", Settings: settings, HTTPClient: srv.Client(), CacheDir: t.TempDir(), RateScale: 1000})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Conn)
	// Skip discovery: the stub only knows the sample's answers.
	conn.mu.Lock()
	conn.known = true
	conn.validated = time.Now()
	conn.tables["contact"].changeTracking = false
	conn.mu.Unlock()
	return conn, srv
}

func TestSampleQueryPage(t *testing.T) {
	t.Parallel()
	var second string
	var conn *Conn
	var srv *httptest.Server
	conn, srv = stubService(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		if r.URL.Query().Has("$skiptoken") {
			second = r.URL.RequestURI()
			fmt.Fprint(w, `{"value":[]}`)
			return
		}
		if got := r.Header.Values("Prefer"); !reflect.DeepEqual(got, []string{"odata.maxpagesize=2"}) {
			t.Errorf("Prefer = %q", got)
		}
		_, _ = w.Write(bytes.ReplaceAll(sample(t, "contacts-query-page1-response.json"), []byte("[Organization URI]"), []byte(srv.URL)))
	})
	recs, _, batches := readAll(t, conn, "contact", connector.Cursor{}, 2, []string{"fullname"})
	want := []connector.Record{
		{Key: "49b0be2e-d01c-ed11-b83e-000d3a572421", Fields: map[string]any{"fullname": "Yvonne McKay (sample)", "contactid": "49b0be2e-d01c-ed11-b83e-000d3a572421"}},
		{Key: "70bf4d48-34cb-ed11-b596-0022481d68cd", Fields: map[string]any{"fullname": "Susanna Stubberod (sample)", "contactid": "70bf4d48-34cb-ed11-b596-0022481d68cd"}},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("records:\n%+v\nwant\n%+v", recs, want)
	}
	if len(batches) != 2 || len(batches[0].Records) != 2 || !batches[0].Next.IsZero() || batches[1].Next.IsZero() {
		t.Errorf("batches: %+v", batches)
	}
	// The nextLink is followed exactly as the service wrote it.
	var page struct {
		NextLink string `json:"@odata.nextLink"`
	}
	_ = json.Unmarshal(sample(t, "contacts-query-page1-response.json"), &page)
	wantNext := strings.TrimPrefix(page.NextLink, "[Organization URI]")
	if second != wantNext {
		t.Errorf("second request:\n%s\nwant the nextLink unchanged:\n%s", second, wantNext)
	}
}

func TestSampleErrorBody(t *testing.T) {
	t.Parallel()
	conn, _ := stubService(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(sample(t, "error-400-property-not-found.json"))
	})
	err := conn.Read(testCtx(t), connector.ReadRequest{Entity: "contact", Fields: []string{"fullname"}}, func(connector.Batch) error { return nil })
	var e *connector.Error
	if !errorsAs(err, &e) {
		t.Fatalf("Read: %v, want a *connector.Error", err)
	}
	if e.Kind != connector.ErrorConfig || e.Status != 400 || e.Code != "0x0" || e.Service != "dynamics" || e.Op != "read contact" ||
		e.Message != "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'." || !strings.Contains(e.Hint, "schema pull") {
		t.Errorf("error = %#v", e)
	}
}

func TestSampleTokenError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(sample(t, "aad-token-error-invalid-scope.json"))
	}))
	defer srv.Close()
	settings := map[string]string{"url": srv.URL, "tenant": "t", "client_id": "c", "client_secret": "the-secret-value", "authority": srv.URL}
	c, err := New(testCtx(t), connector.Config{Name: "crm", Settings: settings, HTTPClient: srv.Client(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Discover(testCtx(t))
	var e *connector.Error
	if !errorsAs(err, &e) {
		t.Fatalf("Discover: %v", err)
	}
	want := "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope https://foo.microsoft.com/mail.read is not valid."
	if e.Kind != connector.ErrorAuth || e.Code != "AADSTS70011" || e.Message != want || e.Status != 400 || e.Hint == "" {
		t.Errorf("error = %#v", e)
	}
	if strings.Contains(err.Error(), "the-secret-value") || strings.Contains(err.Error(), "Trace ID") {
		t.Errorf("error text leaks: %v", err)
	}
}

func TestSampleBatchResponse(t *testing.T) {
	t.Parallel()
	lf := sample(t, "batch-changeset-response.txt")
	// The sample is the whole HTTP response as printed: status line and
	// headers, then the multipart body (boundary taken from its first line).
	_, body, _ := bytes.Cut(lf, []byte("\n\n"))
	crlf := bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
	for name, b := range map[string][]byte{"LF as published": body, "CRLF as on the wire": crlf} {
		resps, err := parseBatchResponse("", b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(resps) != 4 {
			t.Fatalf("%s: %d responses, want 4", name, len(resps))
		}
		for i, id := range []string{"e73ffc82-e292-ed11-aad1-000d3a9933c9", "e83ffc82-e292-ed11-aad1-000d3a9933c9", "e93ffc82-e292-ed11-aad1-000d3a9933c9"} {
			if resps[i].status != 204 || entityIDFrom(resps[i].header) != id || resps[i].header.Get("OData-Version") != "4.0" {
				t.Errorf("%s: part %d = %d %v", name, i, resps[i].status, resps[i].header)
			}
		}
		var q struct {
			Value []map[string]any `json:"value"`
		}
		if resps[3].status != 200 || json.Unmarshal(resps[3].body, &q) != nil || len(q.Value) != 3 || q.Value[2]["subject"] != "Task 3 in batch" {
			t.Errorf("%s: query part = %d %q", name, resps[3].status, resps[3].body)
		}
	}
}

// ---- the emulator answers with the samples' shapes ----

func TestEmulatorQueryShape(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 5}, 0)
	body := emulatorGet(t, env, "/api/data/v9.2/contacts?$select=fullname", http.Header{"Prefer": {"odata.maxpagesize=2"}}, 200)
	var got, want map[string]any
	mustJSON(t, body, &got)
	mustJSON(t, sample(t, "contacts-query-page1-response.json"), &want)
	if gk, wk := orderedKeys(t, body), orderedKeys(t, sample(t, "contacts-query-page1-response.json")); !reflect.DeepEqual(gk, wk) {
		t.Errorf("top-level keys %v, want %v", gk, wk)
	}
	if got["@odata.context"] != env.srv.URL+"/api/data/v9.2/$metadata#contacts(fullname)" {
		t.Errorf("@odata.context = %v", got["@odata.context"])
	}
	items := got["value"].([]any)
	if len(items) != 2 {
		t.Fatalf("%d items", len(items))
	}
	var raw struct{ Value []json.RawMessage }
	mustJSON(t, body, &raw)
	var rawWant struct{ Value []json.RawMessage }
	mustJSON(t, sample(t, "contacts-query-page1-response.json"), &rawWant)
	for i := range raw.Value {
		if gk, wk := orderedKeys(t, raw.Value[i]), orderedKeys(t, rawWant.Value[0]); !reflect.DeepEqual(gk, wk) {
			t.Errorf("item keys %v, want %v", gk, wk)
		}
		if tag := items[i].(map[string]any)["@odata.etag"].(string); !regexp.MustCompile(`^W/"\d+"$`).MatchString(tag) {
			t.Errorf("etag %q", tag)
		}
	}
	// The nextLink has the sample's form with the emulator's base URL and
	// this page's keys.
	guid := `[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}`
	pattern := regexp.QuoteMeta(want["@odata.nextLink"].(string))
	pattern = regexp.MustCompile(`[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}`).ReplaceAllString(pattern, guid)
	pattern = strings.Replace(pattern, regexp.QuoteMeta("[Organization URI]"), regexp.QuoteMeta(env.srv.URL), 1)
	if next := got["@odata.nextLink"].(string); !regexp.MustCompile("^" + pattern + "$").MatchString(next) {
		t.Errorf("nextLink\n%s\ndoes not have the sample's form\n%s", next, want["@odata.nextLink"])
	}
	if next := got["@odata.nextLink"].(string); !strings.Contains(next, strings.ToUpper(items[1].(map[string]any)["contactid"].(string))) {
		t.Errorf("nextLink does not carry the page's last key: %s", next)
	}
}

func TestEmulatorErrorShape(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 1}, 0)
	body := emulatorGet(t, env, "/api/data/v9.2/contacts?$select=Name", nil, 400)
	var got, want map[string]map[string]string
	mustJSON(t, body, &got)
	mustJSON(t, sample(t, "error-400-property-not-found.json"), &want)
	want["error"]["message"] = strings.Replace(want["error"]["message"], "account", "contact", 1)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("error body %v, want %v", got, want)
	}
}

func TestEmulatorTokenErrorShape(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	cr := env.emu.Credentials()
	resp, err := env.srv.Client().PostForm(env.srv.URL+"/"+cr.Tenant+"/oauth2/v2.0/token", map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {cr.ClientID}, "client_secret": {cr.ClientSecret}, "scope": {"https://foo.microsoft.com/mail.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got, want map[string]any
	mustJSON(t, body, &got)
	mustJSON(t, sample(t, "aad-token-error-invalid-scope.json"), &want)
	for k, wv := range want {
		gv, ok := got[k]
		if !ok || reflect.TypeOf(gv) != reflect.TypeOf(wv) {
			t.Errorf("key %s: %#v, want a %T like %#v", k, gv, wv, wv)
		}
	}
	if got["error"] != "invalid_scope" {
		t.Errorf("error = %v", got["error"])
	}
	desc := regexp.MustCompile(`^AADSTS\d+: .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
	if !desc.MatchString(got["error_description"].(string)) || !desc.MatchString(want["error_description"].(string)) {
		t.Errorf("error_description %q does not have the sample's form", got["error_description"])
	}
}

func TestEmulatorBatchShape(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	api := env.srv.URL + "/api/data/v9.2/"
	var b strings.Builder
	b.WriteString("--batch_AAA\r\nContent-Type: multipart/mixed; boundary=\"changeset_BBB\"\r\n\r\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "--changeset_BBB\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: %d\r\n\r\nPOST %scontacts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{\"lastname\":\"Task %d in batch\"}\r\n", i, api, i)
	}
	b.WriteString("--changeset_BBB--\r\n--batch_AAA\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET " + api + "contacts?$select=lastname HTTP/1.1\r\n\r\n\r\n--batch_AAA--\r\n")
	resp := emulatorDo(t, env, "POST", "/api/data/v9.2/$batch", `multipart/mixed; boundary="batch_AAA"`, b.String(), nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/mixed; boundary=batchresponse_") {
		t.Fatalf("batch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The same layout as the published response.
	text := string(body)
	shape := regexp.MustCompile(`(?s)^--batchresponse_[0-9a-f-]{36}\r\nContent-Type: multipart/mixed; boundary=changesetresponse_[0-9a-f-]{36}\r\n\r\n` +
		`(--changesetresponse_[0-9a-f-]{36}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: \d\r\n\r\nHTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nLocation: [^\r]+\r\nOData-EntityId: [^\r]+\r\n\r\n\r\n){3}` +
		`--changesetresponse_[0-9a-f-]{36}--\r\n--batchresponse_[0-9a-f-]{36}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n\r\n\{.*\}\r\n\r\n--batchresponse_[0-9a-f-]{36}--\r\n$`)
	if !shape.MatchString(text) {
		t.Errorf("batch response does not have the sample's layout:\n%s", text)
	}
	resps, err := parseBatchResponse(resp.Header.Get("Content-Type"), body)
	if err != nil || len(resps) != 4 {
		t.Fatalf("parse: %v, %d parts", err, len(resps))
	}
	for i := 0; i < 3; i++ {
		if id := entityIDFrom(resps[i].header); id == "" {
			t.Errorf("part %d has no entity id", i)
		}
	}
}

func emulatorDo(t *testing.T, env *testEnv, method, path, contentType, body string, hdr http.Header) *http.Response {
	t.Helper()
	tok, err := env.conn.tokens.token(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func emulatorGet(t *testing.T, env *testEnv, path string, hdr http.Header, status int) []byte {
	t.Helper()
	resp := emulatorDo(t, env, "GET", path, "", "", hdr)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, status)
	}
	return body
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
}

// orderedKeys lists an object's keys in document order.
func orderedKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", data)
	}
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestReadSelectsOnlyWhatItNeeds(t *testing.T) {
	t.Parallel()
	var sel string
	var prefer []string
	var conn *Conn
	var srv *httptest.Server
	conn, srv = stubService(t, func(w http.ResponseWriter, r *http.Request) {
		sel, prefer = r.URL.Query().Get("$select"), r.Header.Values("Prefer")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"value":[],"@odata.deltaLink":"%s/api/data/v9.2/contacts?$select=x&$deltatoken=1%%2101%%2f01%%2f2026%%2000%%3a00%%3a00"}`, srv.URL)
	})
	conn.tables["contact"].changeTracking = true
	_, cur, _ := readAll(t, conn, "contact", connector.Cursor{}, 0, []string{"emailaddress1", "firstname"})
	if sel != "emailaddress1,firstname,contactid,modifiedon" {
		t.Errorf("$select=%s", sel)
	}
	if !reflect.DeepEqual(prefer, []string{"odata.maxpagesize=5000", "odata.track-changes"}) {
		t.Errorf("Prefer %q", prefer)
	}
	if !strings.HasPrefix(cur.Token, deltaPrefix+srv.URL+"/api/data/v9.2/contacts?") {
		t.Errorf("cursor %q", cur.Token)
	}
	// The delta read keeps the token and puts the current $select in.
	readAll(t, conn, "contact", cur, 0, []string{"lastname"})
	if sel != "lastname,contactid,modifiedon" {
		t.Errorf("delta $select=%s", sel)
	}
}

func TestForeignNextLinkIsNotFollowed(t *testing.T) {
	t.Parallel()
	requests := 0
	conn, _ := stubService(t, func(w http.ResponseWriter, r *http.Request) {
		requests++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"value":[],"@odata.nextLink":"https://attacker.example.com/api/data/v9.2/contacts?$skiptoken=x"}`)
	})
	err := conn.Read(testCtx(t), connector.ReadRequest{Entity: "contact"}, func(connector.Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not following it") || requests != 1 {
		t.Errorf("Read: %v after %d requests", err, requests)
	}
	if conn.sameService("https://org.api.crm4.dynamics.com/x") == nil {
		t.Error("a dynamics.com alias of a loopback environment was accepted")
	}
}
