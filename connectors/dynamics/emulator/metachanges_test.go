package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpClient talks to an emulator over a real HTTP connection.
type httpClient struct {
	t     *testing.T
	e     *Emulator
	base  string
	token string
}

func newHTTPClient(t *testing.T, opts Options) *httpClient {
	t.Helper()
	e, srv := NewTestServer(t, opts)
	c := &httpClient{t: t, e: e, base: srv.URL}
	c.signIn()
	return c
}

// signIn gets an access token by client credentials.
func (c *httpClient) signIn() {
	c.t.Helper()
	resp, err := http.PostForm(c.base+"/"+emulatorTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {emulatorClientID}, "client_secret": {emulatorClientSecret}, "scope": {c.base + "/.default"}})
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		c.t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	c.token = tok.AccessToken
}

// get sends GET path and returns the status and the decoded JSON body.
func (c *httpClient) get(path string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &body); err != nil {
			c.t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, body
}

// rmcQuery is the documented sample query ("Query schema definitions",
// the RetrieveMetadataChanges Request/Response sample), narrowed to
// contact: the contact table's SchemaName and Attributes, and of the
// attributes those valid for create, with their LogicalName. Its Boolean
// value is the string "True", as the sample sends it.
const rmcQuery = `{"AttributeQuery":{"Criteria":{"Conditions":[{"ConditionOperator":"Equals","PropertyName":"IsValidForCreate",` +
	`"Value":{"Type":"System.Boolean","Value":"True"}}],"FilterOperator":"And"},"Properties":{"AllProperties":false,"PropertyNames":["LogicalName"]}},` +
	`"Criteria":{"Conditions":[{"ConditionOperator":"Equals","PropertyName":"LogicalName","Value":{"Type":"System.String","Value":"contact"}}],"FilterOperator":"Or"},` +
	`"LabelQuery":{"FilterLanguages":[1033],"MissingLabelBehavior":0},"Properties":{"AllProperties":false,"PropertyNames":["SchemaName","Attributes"]}}`

func rmcPath(stamp, deleted string) string {
	params := []string{"Query=@p1"}
	q := url.Values{"@p1": {rmcQuery}}
	if stamp != "" {
		params = append(params, "ClientVersionStamp=@p2")
		q.Set("@p2", "'"+stamp+"'")
	}
	if deleted != "" {
		params = append(params, "DeletedMetadataFilters=@p3")
		q.Set("@p3", "Microsoft.Dynamics.CRM.DeletedMetadataFilters'"+deleted+"'")
	}
	return "/api/data/v9.2/RetrieveMetadataChanges(" + strings.Join(params, ",") + ")?" + q.Encode()
}

// stampRx is the form of the sample's ServerVersionStamp,
// "74812162!10/09/2022 22:10:22".
var stampRx = regexp.MustCompile(`^(\d+)![01]\d/[0-3]\d/\d{4} [0-2]\d:[0-5]\d:[0-5]\d$`)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func entities(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	raw, ok := body["EntityMetadata"].([]any)
	if !ok {
		t.Fatalf("EntityMetadata is not a collection: %v", body)
	}
	var out []map[string]any
	for _, e := range raw {
		out = append(out, e.(map[string]any))
	}
	return out
}

func attrNames(e map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, a := range e["Attributes"].([]any) {
		m := a.(map[string]any)
		out[m["LogicalName"].(string)] = m
	}
	return out
}

// TestRetrieveMetadataChanges: the documented first answer's shape, a
// stamp that changes with AddColumn and RemoveColumn, the changes since a
// ClientVersionStamp, DeletedMetadataFilters reporting a removed column's
// MetadataId, and ExpiredVersionStamp 0x80044352 for a stamp the service
// cannot answer from ("Cache schema data", Manage expired cache).
func TestRetrieveMetadataChanges(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	c := newHTTPClient(t, Options{Seed: 1, Now: clk.Now})
	status, first := c.get(rmcPath("", ""))
	if status != 200 {
		t.Fatalf("first: %d %v", status, first)
	}
	// The sample's top level: context, stamp, an empty DeletedMetadata
	// collection (not null), EntityMetadata.
	if ctx, _ := first["@odata.context"].(string); !strings.HasSuffix(ctx, "/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrieveMetadataChangesResponse") {
		t.Errorf("@odata.context %q", ctx)
	}
	stamp0, _ := first["ServerVersionStamp"].(string)
	m0 := stampRx.FindStringSubmatch(stamp0)
	if m0 == nil {
		t.Fatalf("ServerVersionStamp %q is not of the form 74812162!10/09/2022 22:10:22", stamp0)
	}
	wantEmpty := map[string]any{"Count": float64(0), "IsReadOnly": false, "Keys": []any{}, "Values": []any{}}
	if got, _ := json.Marshal(first["DeletedMetadata"]); string(got) != mustJSON(wantEmpty) {
		t.Errorf("DeletedMetadata %s, want %s", got, mustJSON(wantEmpty))
	}
	ents := entities(t, first)
	if len(ents) != 1 || ents[0]["LogicalName"] != "contact" || ents[0]["SchemaName"] != "Contact" || ents[0]["HasChanged"] != nil {
		t.Fatalf("EntityMetadata %v", ents)
	}
	if _, ok := ents[0]["MetadataId"].(string); !ok {
		t.Errorf("no MetadataId: %v", ents[0])
	}
	// Properties not asked for are there, null (the sample's note).
	for _, k := range []string{"EntitySetName", "PrimaryIdAttribute", "ChangeTrackingEnabled", "Keys"} {
		if v, ok := ents[0][k]; !ok || v != nil {
			t.Errorf("entity property %s = %v (present %v), want null", k, v, ok)
		}
	}
	attrs := attrNames(ents[0])
	for name, a := range attrs {
		// Only LogicalName was asked for; MetadataId and HasChanged
		// (null on a first answer) always come; the rest are null.
		for k, v := range a {
			if !map[string]bool{"@odata.type": true, "LogicalName": true, "MetadataId": true, "HasChanged": true}[k] && v != nil {
				t.Errorf("attribute %s has %s = %v, not asked for", name, k, v)
			}
		}
		if v, ok := a["AttributeType"]; !ok || v != nil {
			t.Errorf("attribute %s AttributeType %v (present %v), want null", name, v, ok)
		}
		if a["HasChanged"] != nil {
			t.Errorf("attribute %s HasChanged %v on a first answer", name, a["HasChanged"])
		}
	}
	if a := attrs["emailaddress1"]; a == nil || a["@odata.type"] != "#Microsoft.Dynamics.CRM.ComplexStringAttributeMetadata" {
		t.Errorf("emailaddress1: %v", a)
	}
	if a := attrs["contactid"]; a == nil || a["@odata.type"] != nil {
		t.Errorf("contactid (the sample gives it no @odata.type): %v", a)
	}
	if attrs["createdon"] != nil {
		t.Errorf("createdon is not valid for create, yet listed: %v", attrs["createdon"])
	}

	// Nothing changed: no entities, and a stamp of the same version.
	status, same := c.get(rmcPath(stamp0, "Attribute"))
	if status != 200 || len(entities(t, same)) != 0 {
		t.Fatalf("unchanged: %d %v", status, same)
	}
	if m := stampRx.FindStringSubmatch(same["ServerVersionStamp"].(string)); m == nil || m[1] != m0[1] {
		t.Errorf("unchanged stamp %v, was %s", same["ServerVersionStamp"], stamp0)
	}

	// AddColumn: a new version; with the old stamp the table comes with
	// HasChanged false and only the new column, HasChanged true.
	c.e.AddColumn("contact", "new_tier", "String", 100)
	status, added := c.get(rmcPath(stamp0, "Attribute"))
	if status != 200 {
		t.Fatalf("after AddColumn: %d %v", status, added)
	}
	stamp1 := added["ServerVersionStamp"].(string)
	if m := stampRx.FindStringSubmatch(stamp1); m == nil || m[1] == m0[1] {
		t.Errorf("stamp after AddColumn %q, was %q", stamp1, stamp0)
	}
	ents = entities(t, added)
	if len(ents) != 1 || ents[0]["HasChanged"] != false {
		t.Fatalf("after AddColumn: %v", ents)
	}
	attrs = attrNames(ents[0])
	if len(attrs) != 1 || attrs["new_tier"] == nil || attrs["new_tier"]["HasChanged"] != true {
		t.Errorf("changed attributes %v, want new_tier only, HasChanged true", attrs)
	}
	tierID := attrs["new_tier"]["MetadataId"]

	// RemoveColumn: the column's MetadataId under Keys ["Attribute"].
	c.e.RemoveColumn("contact", "new_tier")
	status, removed := c.get(rmcPath(stamp1, "Attribute"))
	if status != 200 {
		t.Fatalf("after RemoveColumn: %d %v", status, removed)
	}
	stamp2 := removed["ServerVersionStamp"].(string)
	if stamp2 == stamp1 || stampRx.FindStringSubmatch(stamp2)[1] == stampRx.FindStringSubmatch(stamp1)[1] {
		t.Errorf("stamp after RemoveColumn %q, was %q", stamp2, stamp1)
	}
	want := map[string]any{"Count": float64(1), "IsReadOnly": false, "Keys": []any{"Attribute"}, "Values": []any{map[string]any{"Items": []any{tierID}}}}
	if got, _ := json.Marshal(removed["DeletedMetadata"]); string(got) != mustJSON(want) {
		t.Errorf("DeletedMetadata %s, want %s", got, mustJSON(want))
	}
	// Without DeletedMetadataFilters the deletion is not reported.
	if _, body := c.get(rmcPath(stamp1, "")); mustJSON(body["DeletedMetadata"]) != mustJSON(wantEmpty) {
		t.Errorf("without DeletedMetadataFilters: %v", body["DeletedMetadata"])
	}

	var fresh string // a stamp the case's setup fetched
	for _, tc := range []struct {
		name, stamp, deleted string
		setup                func()
		status               int
		code                 string
	}{
		{name: "a stamp the service did not issue", stamp: "not-a-stamp", status: 400, code: codeExpiredVersion},
		{name: "a stamp of a version still to come", stamp: "999999!03/04/2026 05:06:07", status: 400, code: codeExpiredVersion},
		{name: "the Web API's enum has no Entity member", stamp: stamp2, deleted: "Entity", status: 400, code: codeInvalidArgument},
		{name: "Default is its deleted tables", stamp: stamp2, deleted: "Default", status: 200},
		{name: "89 days old", stamp: stamp2, setup: func() { clk.add(89 * 24 * time.Hour); c.signIn() }, status: 200},
		{name: "older than ExpireSubscriptionsInDays (90)", stamp: stamp2, setup: func() { clk.add(2 * 24 * time.Hour); c.signIn() }, status: 400, code: codeExpiredVersion},
		{name: "invalidated by the service", setup: func() {
			_, body := c.get(rmcPath("", ""))
			fresh = body["ServerVersionStamp"].(string)
			if status, _ := c.get(rmcPath(fresh, "")); status != 200 {
				t.Fatalf("a fresh stamp: %d", status)
			}
			c.e.ExpireMetadataVersionStamps()
		}, status: 400, code: codeExpiredVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			stamp := tc.stamp
			if stamp == "" {
				stamp = fresh
			}
			status, body := c.get(rmcPath(stamp, tc.deleted))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if tc.code != "" {
				e, _ := body["error"].(map[string]any)
				if e == nil || e["code"] != tc.code {
					t.Fatalf("error %v, want code %s", body, tc.code)
				}
				if tc.code == codeExpiredVersion && !strings.Contains(e["message"].(string), "expired") {
					t.Errorf("message %q", e["message"])
				}
			}
		})
	}
	// After an expired stamp the client starts again without one.
	if status, body := c.get(rmcPath("", "")); status != 200 || len(entities(t, body)) != 1 {
		t.Errorf("a fresh start after expiry: %d %v", status, body)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// RetrieveTotalRecordCount answers the Web API reference's shape
// (RetrieveTotalRecordCountResponse.EntityRecordCountCollection: Count,
// IsReadOnly, Keys, Values) for the tables asked, and refuses an unknown
// table and an unknown parameter.
func TestRetrieveTotalRecordCount(t *testing.T) {
	c := newClient(t, Options{Seed: 8})
	e := c.e
	api := "/api/data/v9.2/"
	rec := c.do("GET", api+"RetrieveTotalRecordCount(EntityNames=@p1)?@p1="+url.QueryEscape(`["contact","lead"]`), "")
	status, body := rec.Code, rec.Body.Bytes()
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var resp struct {
		Context string `json:"@odata.context"`
		C       struct {
			Count      int
			IsReadOnly bool
			Keys       []string
			Values     []int64
		} `json:"EntityRecordCountCollection"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	contacts, leads := len(e.Rows("contact")), len(e.Rows("lead"))
	if !strings.HasSuffix(resp.Context, "$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse") || resp.C.Count != 2 || resp.C.IsReadOnly ||
		!slices.Equal(resp.C.Keys, []string{"contact", "lead"}) || !slices.Equal(resp.C.Values, []int64{int64(contacts), int64(leads)}) {
		t.Errorf("answer %s; want counts %d, %d", body, contacts, leads)
	}
	if rec := c.do("GET", api+"RetrieveTotalRecordCount(EntityNames=@p1)?@p1="+url.QueryEscape(`["nosuch"]`), ""); rec.Code != 404 {
		t.Errorf("unknown table: %d %s", rec.Code, rec.Body)
	}
	if rec := c.do("GET", api+"RetrieveTotalRecordCount(Other=@p1)?@p1=1", ""); rec.Code != 400 {
		t.Errorf("unknown parameter: %d %s", rec.Code, rec.Body)
	}
}
