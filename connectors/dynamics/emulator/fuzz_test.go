package emulator

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRequests feeds arbitrary $filter values, key predicates and skiptokens
// to the emulator: it must answer (with an error where the service would)
// and never panic.
func FuzzRequests(f *testing.F) {
	for _, s := range []string{"lastname eq 'O''Brien'", "contains(lastname,'%')", "Microsoft.Dynamics.CRM.In(PropertyName='lastname',PropertyValues=[\"a\"])",
		"(", "not", "lastname eq", "'", "\"", "@p1 eq lastname", "emailaddress1='a@b.com'", "contactid=00000000-0000-0000-0000-000000000001",
		"<cookie pagenumber=\"2\" pagingcookie=\"%3ccookie%20page%3d%221%22%3e\" istracking=\"False\" />", "1!01/01/2026 00:00:00"} {
		f.Add(s)
	}
	e := New(Options{Seed: 3})
	f.Fuzz(func(t *testing.T, s string) {
		c := &client{t: t, e: e, token: newClientToken(e)}
		q := url.QueryEscape(s)
		for _, path := range []string{
			"/api/data/v9.2/contacts?$filter=" + q,
			"/api/data/v9.2/contacts?$select=" + q,
			"/api/data/v9.2/contacts?$orderby=" + q,
			"/api/data/v9.2/contacts?$skiptoken=" + q,
			"/api/data/v9.2/contacts?$deltatoken=" + q,
			"/api/data/v9.2/contacts(" + strings.ReplaceAll(url.PathEscape(s), "%2F", "/") + ")",
			"/api/data/v9.2/EntityDefinitions?$filter=" + q,
		} {
			rec := c.do("GET", path, "")
			if rec.Code == 0 || rec.Code >= 500 && rec.Code != 501 {
				t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
			}
		}
		rec := c.do("POST", "/api/data/v9.2/contacts", s)
		if rec.Code >= 500 {
			t.Fatalf("POST body %q: %d %s", s, rec.Code, rec.Body)
		}
	})
}

func newClientToken(e *Emulator) string {
	e.id.mu.Lock()
	defer e.id.mu.Unlock()
	tok, _ := e.id.issueAccess(applicationUserID, base, emulatorClientID, nil)
	return tok
}

// FuzzFetchXML feeds arbitrary FetchXML to GET contacts?fetchXml=: the
// emulator must answer 200 or a 4xx error, never panic or hang.
func FuzzFetchXML(f *testing.F) {
	for _, s := range []string{
		`<fetch><entity name="contact"><attribute name="lastname"/></entity></fetch>`,
		`<fetch count="2" page="2" paging-cookie="&lt;cookie page=&quot;1&quot;&gt;&lt;contactid last=&quot;{00000000-0000-0000-0000-000000000001}&quot; first=&quot;{00000000-0000-0000-0000-000000000001}&quot; /&gt;&lt;/cookie&gt;"><entity name="contact"><all-attributes/></entity></fetch>`,
		`<fetch aggregate="true"><entity name="contact"><attribute name="contactid" alias="n" aggregate="count"/></entity></fetch>`,
		`<fetch distinct="true"><entity name="contact"><attribute name="address1_city"/><order attribute="address1_city" descending="true"/><filter type="or"><condition attribute="lastname" operator="like" value="%[a-c]%"/><filter><condition attribute="birthdate" operator="on-or-after" value="2000-01-01"/></filter></filter></entity></fetch>`,
		`<fetch><entity name="contact"><link-entity name="lead" from="parentcontactid" to="contactid" link-type="outer" alias="l"><attribute name="subject"/></link-entity><filter><condition entityname="l" attribute="subject" operator="not-null"/></filter></entity></fetch>`,
		`<fetch><entity name="contact"><filter><condition attribute="numberofchildren" operator="in"><value>1</value><value>2</value></condition></filter></entity></fetch>`,
		`<?xml version="1.0"?><fetch/>`, `<a:fetch xmlns:a="x"/>`, `<fetch>&amp;</fetch>`, `<<`,
	} {
		f.Add(s)
	}
	e := New(Options{Seed: 5})
	f.Fuzz(func(t *testing.T, s string) {
		c := &client{t: t, e: e, token: newClientToken(e)}
		for _, set := range []string{"contacts", "leads"} {
			rec := c.do("GET", "/api/data/v9.2/"+set+"?fetchXml="+url.QueryEscape(s), "", `Prefer: odata.include-annotations="*"`)
			if rec.Code != 200 && (rec.Code < 400 || rec.Code >= 500) {
				t.Fatalf("fetchXml %q: %d %s", s, rec.Code, rec.Body)
			}
		}
	})
}
