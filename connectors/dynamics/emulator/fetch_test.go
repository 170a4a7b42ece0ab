package emulator

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const annAll = `Prefer: odata.include-annotations="*"`

func fetchPath(set, fetch string) string {
	return "/api/data/v9.2/" + set + "?fetchXml=" + url.QueryEscape(fetch)
}

// fetchSeed inserts contacts with known values and returns their ids by
// last name.
func fetchSeed(c *client) map[string]string {
	ids := map[string]string{}
	for _, p := range []map[string]any{
		{"firstname": "Ann", "lastname": "Archer", "address1_city": "Berlin", "numberofchildren": 2, "birthdate": "1980-05-01"},
		{"firstname": "Bob", "lastname": "Baker", "address1_city": "Berlin", "numberofchildren": 0, "birthdate": "1990-01-15"},
		{"firstname": "Cid", "lastname": "Carter", "address1_city": "Paris"},
		{"firstname": "Dee", "lastname": "Dunn", "address1_city": "Zagreb", "numberofchildren": 5, "birthdate": "2001-12-31"},
		{"lastname": "Evans"},
	} {
		ids[p["lastname"].(string)] = c.e.Insert("contact", p)
	}
	return ids
}

func lastNames(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	for _, v := range body["value"].([]any) {
		n, _ := v.(map[string]any)["lastname"].(string)
		out = append(out, n)
	}
	return out
}

// TestFetchXMLFilters: the documented request shape
// (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data?tabs=webapi:
// GET [Organization URI]/api/data/v9.2/accounts?fetchXml=%3Cfetch%20...) with
// each condition operator the emulator implements.
func TestFetchXMLFilters(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	fetchSeed(c)
	q := func(filter string, order string) string {
		if order == "" {
			order = `<order attribute="lastname"/>`
		}
		return `<fetch><entity name="contact"><attribute name="lastname"/>` + order + filter + `</entity></fetch>`
	}
	for _, tc := range []struct {
		filter, order string
		want          string
	}{
		{``, ``, "Archer Baker Carter Dunn Evans"},
		{``, `<order attribute="lastname" descending="true"/>`, "Evans Dunn Carter Baker Archer"},
		{`<filter><condition attribute="address1_city" operator="eq" value="berlin"/></filter>`, ``, "Archer Baker"},
		{`<filter><condition attribute="address1_city" operator="ne" value="Berlin"/></filter>`, ``, "Carter Dunn"}, // null is not "not Berlin"
		{`<filter><condition attribute="address1_city" operator="neq" value="Berlin"/></filter>`, ``, "Carter Dunn"},
		{`<filter><condition attribute="lastname" operator="like" value="%r%"/></filter>`, ``, "Archer Baker Carter"},
		{`<filter><condition attribute="lastname" operator="not-like" value="%r%"/></filter>`, ``, "Dunn Evans"},
		{`<filter><condition attribute="lastname" operator="begins-with" value="ca"/></filter>`, ``, "Carter"},
		{`<filter><condition attribute="lastname" operator="ends-with" value="NN"/></filter>`, ``, "Dunn"},
		{`<filter><condition attribute="address1_city" operator="in"><value>Paris</value><value>Zagreb</value></condition></filter>`, ``, "Carter Dunn"},
		{`<filter><condition attribute="address1_city" operator="not-in"><value>Paris</value><value>Zagreb</value></condition></filter>`, ``, "Archer Baker"},
		{`<filter><condition attribute="address1_city" operator="null"/></filter>`, ``, "Evans"},
		{`<filter><condition attribute="numberofchildren" operator="not-null"/></filter>`, ``, "Archer Baker Dunn"},
		{`<filter><condition attribute="numberofchildren" operator="gt" value="0"/></filter>`, ``, "Archer Dunn"},
		{`<filter><condition attribute="numberofchildren" operator="ge" value="2"/></filter>`, ``, "Archer Dunn"},
		{`<filter><condition attribute="numberofchildren" operator="lt" value="2"/></filter>`, ``, "Baker"},
		{`<filter><condition attribute="numberofchildren" operator="le" value="2"/></filter>`, ``, "Archer Baker"},
		{`<filter><condition attribute="numberofchildren" operator="between"><value>1</value><value>5</value></condition></filter>`, ``, "Archer Dunn"},
		{`<filter><condition attribute="birthdate" operator="gt" value="1985-01-01"/></filter>`, ``, "Baker Dunn"},
		{`<filter><condition attribute="birthdate" operator="le" value="1990-01-15"/></filter>`, ``, "Archer Baker"},
		{`<filter><condition attribute="birthdate" operator="on-or-after" value="1990-01-15"/></filter>`, ``, "Baker Dunn"},
		{`<filter><condition attribute="birthdate" operator="on" value="2001-12-31"/></filter>`, ``, "Dunn"},
		{`<filter type="or"><condition attribute="lastname" operator="eq" value="Evans"/><condition attribute="address1_city" operator="eq" value="Paris"/></filter>`, ``, "Carter Evans"},
		{`<filter type="and"><condition attribute="address1_city" operator="eq" value="Berlin"/>` +
			`<filter type="or"><condition attribute="numberofchildren" operator="eq" value="0"/><condition attribute="firstname" operator="eq" value="Zed"/></filter></filter>`, ``, "Baker"},
		{`<filter type="or"><filter><condition attribute="address1_city" operator="eq" value="Berlin"/><condition attribute="numberofchildren" operator="gt" value="1"/></filter>` +
			`<condition attribute="lastname" operator="eq" value="Evans"/></filter>`, ``, "Archer Evans"},
	} {
		b := c.want(c.do("GET", fetchPath("contacts", q(tc.filter, tc.order)), ""), 200, "")
		if got := strings.Join(lastNames(t, b), " "); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.filter, tc.order, got, tc.want)
		}
	}
}

// TestFetchXMLShape compares a result with the documented response
// ("Use FetchXML with Web API"): @odata.context names the set and the
// columns, each row has @odata.etag, the selected columns, no nulls, and
// the primary key; lookups read as _<name>_value.
func TestFetchXMLShape(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	ids := fetchSeed(c)
	fetch := `<fetch mapping='logical'><entity name='contact'><attribute name='lastname'/><attribute name='address1_city'/>` +
		`<attribute name='ownerid'/><filter><condition attribute='lastname' operator='in'><value>Archer</value><value>Evans</value></condition></filter>` +
		`<order attribute='lastname'/></entity></fetch>`
	rec := c.do("GET", fetchPath("contacts", fetch), "")
	b := c.want(rec, 200, "")
	if ctx := b["@odata.context"]; ctx != base+"/api/data/v9.2/$metadata#contacts(lastname,address1_city,_ownerid_value,contactid)" {
		t.Errorf("context %v", ctx)
	}
	rows := b["value"].([]any)
	archer, evans := rows[0].(map[string]any), rows[1].(map[string]any)
	if archer["contactid"] != ids["Archer"] || archer["address1_city"] != "Berlin" || archer["_ownerid_value"] != emulatorUserID || archer["@odata.etag"] == nil {
		t.Errorf("row %v", archer)
	}
	if _, has := evans["address1_city"]; has {
		t.Errorf("null column returned: %v", evans)
	}
	if _, has := b["@Microsoft.Dynamics.CRM.morerecords"]; has {
		t.Errorf("paging annotations without the Prefer header: %v", b)
	}
	var raw struct{ Value []json.RawMessage }
	_ = json.Unmarshal(c.do("GET", fetchPath("contacts", fetch), "").Body.Bytes(), &raw)
	if s := string(raw.Value[0]); !strings.HasPrefix(s, `{"@odata.etag":`) || !strings.HasSuffix(s, `"contactid":"`+ids["Archer"]+`"}`) {
		t.Errorf("property order %s", s)
	}
	all := c.want(c.do("GET", fetchPath("contacts", `<fetch><entity name="contact"><all-attributes/><filter><condition attribute="lastname" operator="eq" value="Evans"/></filter></entity></fetch>`), ""), 200, "")
	row := all["value"].([]any)[0].(map[string]any)
	if row["lastname"] != "Evans" || row["statecode"] == nil || row["_createdby_value"] == nil {
		t.Errorf("all-attributes %v", row)
	}
	for k, v := range row {
		if v == nil {
			t.Errorf("all-attributes returned null %s", k)
		}
	}
}

// TestFetchXMLPaging pages with count/page/paging-cookie as "Page results
// using FetchXml" shows
// (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results?tabs=webapi):
// the response carries
// "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie": "<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e...\" istracking=\"False\" />"
// and "@Microsoft.Dynamics.CRM.morerecords"; the client decodes the inner
// cookie twice and sends it XML-escaped in paging-cookie with page+1.
func TestFetchXMLPaging(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 23})
	var got []string
	cookie := ""
	for page := 1; page <= 10; page++ {
		attrs := ""
		if cookie != "" {
			attrs = ` paging-cookie="` + strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(cookie) + `"`
		}
		fetch := `<fetch count="5" page="` + itoa(page) + `"` + attrs + `><entity name="contact"><attribute name="contactid"/></entity></fetch>`
		b := c.want(c.do("GET", fetchPath("contacts", fetch), "", annAll), 200, "")
		for _, v := range b["value"].([]any) {
			got = append(got, v.(map[string]any)["contactid"].(string))
		}
		more := b["@Microsoft.Dynamics.CRM.morerecords"]
		if more != true {
			if more != false || page != 5 {
				t.Fatalf("page %d: morerecords %v", page, more)
			}
			break
		}
		pc, _ := b["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"].(string)
		if !strings.HasPrefix(pc, `<cookie pagenumber="`+itoa(page+1)+`" pagingcookie="%253ccookie%2520page%253d%2522`+itoa(page)+`%2522%253e%253ccontactid%2520last%253d%2522%257b`) ||
			!strings.HasSuffix(pc, `" istracking="False" />`) {
			t.Fatalf("page %d cookie %q", page, pc)
		}
		inner := pc[strings.Index(pc, `pagingcookie="`)+len(`pagingcookie="`):]
		inner = inner[:strings.IndexByte(inner, '"')]
		once, _ := url.QueryUnescape(inner)
		cookie, _ = url.QueryUnescape(once)
		if page == 2 {
			// A row inserted before the cookie's position does not shift
			// the next page (the cookie pages by key).
			c.e.Insert("contact", map[string]any{"contactid": "00000000-0000-4000-8000-000000000001", "lastname": "Early"})
		}
	}
	if len(got) != 23 {
		t.Fatalf("paged %d rows, want 23", len(got))
	}
	if !sort.StringsAreSorted(got) {
		t.Errorf("not in key order: %v", got)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("duplicate %s", id)
		}
		seen[id] = true
	}
	// Without a cookie, page N is the Nth slice.
	b := c.want(c.do("GET", fetchPath("contacts", `<fetch count="10" page="3" returntotalrecordcount="true"><entity name="contact"><attribute name="contactid"/></entity></fetch>`), "", annAll), 200, "")
	if n := len(b["value"].([]any)); n != 4 || b["@Microsoft.Dynamics.CRM.morerecords"] != false {
		t.Errorf("page 3: %d rows, %v", n, b)
	}
	if b["@Microsoft.Dynamics.CRM.totalrecordcount"] != json.Number("24") {
		t.Errorf("totalrecordcount %v", b["@Microsoft.Dynamics.CRM.totalrecordcount"])
	}
	b = c.want(c.do("GET", fetchPath("contacts", `<fetch top="3"><entity name="contact"><attribute name="contactid"/></entity></fetch>`), ""), 200, "")
	if n := len(b["value"].([]any)); n != 3 {
		t.Errorf("top 3: %d rows", n)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestFetchXMLAggregateAndLinks: "Aggregate data" (count, countcolumn,
// distinct) and "Join tables" (link-entity, <alias>.<column>).
func TestFetchXMLAggregateAndLinks(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	ids := fetchSeed(c)
	b := c.want(c.do("GET", fetchPath("contacts", `<fetch aggregate="true"><entity name="contact">`+
		`<attribute name="contactid" alias="all" aggregate="count"/><attribute name="address1_city" alias="cities" aggregate="countcolumn"/>`+
		`<attribute name="address1_city" alias="distinctcities" aggregate="countcolumn" distinct="true"/></entity></fetch>`), ""), 200, "")
	row := b["value"].([]any)[0].(map[string]any)
	if row["all"] != json.Number("5") || row["cities"] != json.Number("4") || row["distinctcities"] != json.Number("3") {
		t.Errorf("aggregate %v", row)
	}
	lead := c.e.Insert("lead", map[string]any{"lastname": "Lead", "companyname": "Contoso", "parentcontactid@odata.bind": "/contacts(" + ids["Archer"] + ")"})
	c.e.Insert("lead", map[string]any{"lastname": "Other", "companyname": "Fabrikam"})
	b = c.want(c.do("GET", fetchPath("leads", `<fetch><entity name="lead"><attribute name="lastname"/>`+
		`<link-entity name="contact" from="contactid" to="parentcontactid" alias="pc"><attribute name="address1_city"/>`+
		`<filter><condition attribute="lastname" operator="eq" value="Archer"/></filter></link-entity></entity></fetch>`), ""), 200, "")
	rows := b["value"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["pc.address1_city"] != "Berlin" || rows[0].(map[string]any)["leadid"] != lead {
		t.Errorf("inner link %v", rows)
	}
	b = c.want(c.do("GET", fetchPath("leads", `<fetch><entity name="lead"><attribute name="lastname"/><order attribute="lastname"/>`+
		`<link-entity name="contact" from="contactid" to="parentcontactid" alias="pc" link-type="outer"><attribute name="lastname"/></link-entity>`+
		`<filter><condition entityname="pc" attribute="lastname" operator="null"/></filter></entity></fetch>`), ""), 200, "")
	if got := lastNames(t, b); len(got) != 1 || got[0] != "Other" {
		t.Errorf("outer link with null condition: %v", b)
	}
}

// TestFetchXMLRefusals: malformed FetchXML and what the emulator does not
// implement are refused, never ignored.
func TestFetchXMLRefusals(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 2})
	for _, tc := range []struct{ fetch, code string }{
		{`<fetch><entity name="contact">`, codeInvalidXML},
		{`not xml`, codeInvalidXML},
		{`<!DOCTYPE x [<!ENTITY a "aaaa">]><fetch><entity name="contact"/></fetch>`, codeInvalidXML},
		{`<fetch><entity name="contact"/></fetch><fetch/>`, codeInvalidXML},
		{`<fetch><entity name="nosuch"/></fetch>`, codeFetchNoEntity},
		{`<fetch><entity name="lead"/></fetch>`, codeInvalidXML},
		{`<fetch/>`, codeFetchNoEntity},
		{`<fetch><entity name="contact"><attribute name="nosuch"/></entity></fetch>`, codeFetchNoAttr},
		{`<fetch><entity name="contact"><attribute name="_ownerid_value"/></entity></fetch>`, codeFetchNoAttr},
		{`<fetch><entity name="contact"><filter><condition attribute="lastname" operator="last-x-days" value="3"/></filter></entity></fetch>`, codeInvalidXML},
		{`<fetch><entity name="contact"><filter><condition attribute="lastname" operator="bogus" value="3"/></filter></entity></fetch>`, codeInvalidXML},
		{`<fetch><entity name="contact"><filter><condition attribute="lastname" operator="eq"/></filter></entity></fetch>`, codeInvalidArgument},
		{`<fetch><entity name="contact"><filter><condition attribute="numberofchildren" operator="eq" value="two"/></filter></entity></fetch>`, codeInvalidArgument},
		{`<fetch><entity name="contact"><filter><condition attribute="numberofchildren" operator="like" value="2"/></filter></entity></fetch>`, codeInvalidArgument},
		{`<fetch><entity name="contact"><filter type="xor"/></entity></fetch>`, codeInvalidXML},
		{`<fetch><entity name="contact"><unknown/></entity></fetch>`, codeInvalidXML},
		{`<fetch bogus="1"><entity name="contact"/></fetch>`, codeInvalidXML},
		{`<fetch count="5001"><entity name="contact"/></fetch>`, codeInvalidXML},
		{`<fetch top="5" count="2"><entity name="contact"/></fetch>`, codeInvalidXML},
		{`<fetch aggregate="true"><entity name="contact"><attribute name="numberofchildren" alias="s" aggregate="sum"/></entity></fetch>`, codeInvalidXML},
		{`<fetch aggregate="true"><entity name="contact"><attribute name="address1_city" alias="c" groupby="true"/></entity></fetch>`, codeInvalidXML},
		{`<fetch><entity name="contact"><link-entity name="lead" from="parentcontactid" to="contactid"><link-entity name="contact" from="contactid" to="parentcontactid"/></link-entity></entity></fetch>`, codeInvalidXML},
		{`<fetch><entity name="contact"><link-entity name="account" from="accountid" to="parentcustomerid"/></entity></fetch>`, codeFetchNoEntity},
		{`<fetch><entity name="contact"><filter><condition entityname="x" attribute="lastname" operator="null"/></filter></entity></fetch>`, codeInvalidXML},
		{strings.Repeat("<filter>", 100), codeInvalidXML},
	} {
		rec := c.do("GET", fetchPath("contacts", tc.fetch), "")
		c.want(rec, 400, tc.code)
	}
	c.want(c.do("GET", fetchPath("contacts", `<fetch><entity name="contact"/></fetch>`)+"&$select=lastname", ""), 400, codeQuerySyntax)
	// The URL limit ("Compose HTTP requests and handle errors": 32 KB)
	// comes first; the parser's own bound (64 KB, the $batch limit) is
	// checked directly.
	c.want(c.do("GET", "/api/data/v9.2/contacts?fetchXml="+url.QueryEscape(strings.Repeat(" ", maxFetchBytes+1)), ""), 414, "")
	for _, src := range []string{"<fetch>" + strings.Repeat(" ", maxFetchBytes) + "</fetch>", "<fetch>" + strings.Repeat("<x/>", maxFetchNodes+1) + "</fetch>"} {
		if _, err := parseXMLTree(src); err == nil || err.code != codeInvalidXML {
			t.Errorf("oversized FetchXML: %v", err)
		}
	}
}
