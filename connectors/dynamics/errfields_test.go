package dynamics

import (
	"slices"
	"testing"
)

// TestErrorFields: a Dataverse validation error names the column it
// concerns (connector.Error.Fields): from OData's target and details when
// present, else from the column the documented message of a one-column
// code quotes (reference §8).
func TestErrorFields(t *testing.T) {
	t.Parallel()
	c := &Conn{}
	for body, want := range map[string][]string{
		`{"error":{"code":"0x80044331","message":"A validation error occurred.  The length of the 'lastname' attribute of the 'contact' entity exceeded the maximum allowed length of '50'."}}`:                {"lastname"},
		`{"error":{"code":"0x8004431a","message":"A validation error occurred.  The value 7 of 'preferredcontactmethodcode' on record of type 'contact' is outside the valid range. Accepted Values: 1,2,3"}}`: {"preferredcontactmethodcode"},
		`{"error":{"code":"0x0","message":"An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid property 'Name' was found in entity 'Microsoft.Dynamics.CRM.contact'."}}`:  {"Name"},
		`{"error":{"code":"0x80040265","message":"plugin says no","target":"emailaddress1","details":[{"code":"x","message":"y","target":"telephone1"}]}}`:                                                     {"emailaddress1", "telephone1"},
		`{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}`:                                                                                                        nil,
		`{"error":{"code":"0x0","message":"Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."}}`:                                                                                nil,
	} {
		got := c.apiError("create contact", 400, nil, []byte(body), nil).Fields
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: fields %q, want %q", body, got, want)
		}
	}
}
