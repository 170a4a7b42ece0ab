package emulator

import (
	"strings"
	"testing"
)

// TestCustomerLookupAnnotations: a Customer lookup bound to a contact reads
// back naming the contact table, with the documented annotations
// ("Select columns", lookup property data,
// https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/select-columns#lookup-property-data):
//
//	"_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "<name>",
//	"_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "parentcustomerid_contact",
//	"_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
func TestCustomerLookupAnnotations(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	parent := c.e.Insert("contact", map[string]any{"firstname": "Pat", "lastname": "Parent"})
	accountID := "aaaaaaaa-0000-4000-8000-000000000001"
	for _, tc := range []struct {
		bind, nav, target, formatted string
	}{
		{`"parentcustomerid_contact@odata.bind":"/contacts(` + parent + `)"`, "parentcustomerid_contact", "contact", "Pat Parent"},
		// The emulator holds no accounts: the annotations name the table,
		// and no FormattedValue is invented for a record it does not have.
		{`"parentcustomerid_account@odata.bind":"/accounts(` + accountID + `)"`, "parentcustomerid_account", "account", ""},
	} {
		rec := c.do("POST", "/api/data/v9.2/contacts", `{"lastname":"Child",`+tc.bind+`}`)
		c.want(rec, 204, "")
		loc := rec.Header().Get("OData-EntityId")
		id := loc[strings.LastIndexByte(loc, '(')+1 : len(loc)-1]
		for _, path := range []string{
			"/api/data/v9.2/contacts(" + id + ")?$select=_parentcustomerid_value",
			"/api/data/v9.2/contacts?$select=_parentcustomerid_value&$filter=contactid eq " + id,
			fetchPath("contacts", `<fetch><entity name="contact"><attribute name="parentcustomerid"/><filter><condition attribute="contactid" operator="eq" value="{`+id+`}"/></filter></entity></fetch>`),
		} {
			b := c.want(c.do("GET", strings.ReplaceAll(path, " ", "%20"), "", annAll), 200, "")
			if v, ok := b["value"].([]any); ok {
				b = v[0].(map[string]any)
			}
			const p = "_parentcustomerid_value"
			if b[p+"@Microsoft.Dynamics.CRM.lookuplogicalname"] != tc.target || b[p+"@Microsoft.Dynamics.CRM.associatednavigationproperty"] != tc.nav {
				t.Errorf("%s: %v", path, b)
			}
			if f, _ := b[p+"@OData.Community.Display.V1.FormattedValue"].(string); f != tc.formatted {
				t.Errorf("%s: FormattedValue %q, want %q", path, f, tc.formatted)
			}
		}
	}
	// The owner's annotations: the fixed user, single-target navigation.
	b := c.want(c.do("GET", "/api/data/v9.2/contacts("+parent+")?$select=_ownerid_value", "", annAll), 200, "")
	if b["_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] != "ownerid" || b["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] != "systemuser" ||
		b["_ownerid_value@OData.Community.Display.V1.FormattedValue"] != emulatorUserName {
		t.Errorf("owner annotations %v", b)
	}
	// A navigation property naming a table the lookup cannot refer to, or a
	// reference into another table's set, is refused.
	c.want(c.do("POST", "/api/data/v9.2/contacts", `{"parentcustomerid_lead@odata.bind":"/leads(`+accountID+`)"}`), 400, codePayload)
	c.want(c.do("POST", "/api/data/v9.2/contacts", `{"parentcustomerid_account@odata.bind":"/contacts(`+parent+`)"}`), 400, codePayload)
	// Unbinding clears the table too.
	c.want(c.do("PATCH", "/api/data/v9.2/contacts("+parent+")", `{"parentcustomerid_contact@odata.bind":null}`), 204, "")
	b = c.want(c.do("GET", "/api/data/v9.2/contacts("+parent+")?$select=_parentcustomerid_value", "", annAll), 200, "")
	if _, has := b["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]; has || b["_parentcustomerid_value"] != nil {
		t.Errorf("after unbinding: %v", b)
	}
	// Metadata reports the Customer type with both targets.
	m := c.want(c.do("GET", "/api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='parentcustomerid')", ""), 200, "")
	if m["AttributeType"] != "Customer" || len(m["Targets"].([]any)) != 2 {
		t.Errorf("parentcustomerid metadata %v", m)
	}
}
