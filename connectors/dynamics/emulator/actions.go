package emulator

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// bulkAction serves CreateMultiple, UpdateMultiple, UpsertMultiple and
// DeleteMultiple bound to an entity set (reference §10). Standard tables run
// a bulk message in one transaction: any failing target fails the whole
// request and nothing is written.
func (e *Emulator) bulkAction(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, action string) *apiError {
	switch action {
	case "CreateMultiple", "UpdateMultiple", "UpsertMultiple":
	case "DeleteMultiple":
		// reference §10: standard tables answer "DeleteMultiple has not
		// yet been implemented." (status and code UNCERTAIN).
		return errf(http.StatusBadRequest, codeNotImplemented, "DeleteMultiple has not yet been implemented.")
	default:
		return notFoundSegment("Microsoft.Dynamics.CRM." + action)
	}
	body, err := readBody(r, t.def.set)
	if err != nil {
		return err
	}
	raw, ok := body["Targets"].([]any)
	if !ok {
		return errf(http.StatusBadRequest, codeInvalidArgument, "Required parameter 'Targets' is missing or is not a collection for the operation '%s'.", action)
	}
	targets := make([]map[string]any, len(raw))
	for i, x := range raw {
		m, ok := x.(map[string]any)
		if !ok {
			return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: An entry was expected in the Targets collection.", t.def.set)
		}
		if _, typed := m["@odata.type"]; !typed {
			// reference §10: @odata.type is REQUIRED on every item.
			return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'' ---->  InnerException : Microsoft.OData.ODataException: A type name was not provided for an instance of an abstract type 'Microsoft.Dynamics.CRM.crmbaseentity'.")
		}
		targets[i] = m
	}
	rc.lock()
	defer rc.unlock()
	x := rc.tx
	if x == nil {
		x = &tx{}
	}
	var ids []string
	for _, m := range targets {
		var err *apiError
		switch action {
		case "CreateMultiple":
			var id string
			id, err = e.createTarget(x, t, m)
			ids = append(ids, id)
		case "UpdateMultiple":
			err = e.updateTarget(x, t, m)
		case "UpsertMultiple":
			err = e.upsertTarget(x, t, m)
		}
		if err != nil {
			x.rollback()
			return err
		}
	}
	if action == "CreateMultiple" {
		if ids == nil {
			ids = []string{}
		}
		writeBody(w, http.StatusOK, jobj{keys: []string{"@odata.context", "Ids"},
			vals: []any{rc.apiRoot() + "$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse", ids}})
		return nil
	}
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Emulator) createTarget(x *tx, t *table, m map[string]any) (string, *apiError) {
	vals, err := bodyValues(e.st, t.def, m, true)
	if err != nil {
		return "", err
	}
	id := ""
	if v, ok := m[t.def.key].(string); ok {
		if !wire.IsGUID(v) {
			return "", errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert the literal '%s' to the expected type 'Edm.Guid'.", v)
		}
		id = strings.ToLower(v)
	}
	r, err := e.st.create(x, t, vals, id)
	if err != nil {
		return "", err
	}
	return r.id, nil
}

func (e *Emulator) updateTarget(x *tx, t *table, m map[string]any) *apiError {
	v, _ := m[t.def.key].(string)
	if v == "" {
		return errf(http.StatusBadRequest, codeInvalidArgument, "Entity Id must be specified for Update")
	}
	if !wire.IsGUID(v) {
		return errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert the literal '%s' to the expected type 'Edm.Guid'.", v)
	}
	r, ok := t.rows[strings.ToLower(v)]
	if !ok {
		return doesNotExist(t.def, strings.ToLower(v))
	}
	vals, err := bodyValues(e.st, t.def, m, false)
	if err != nil {
		return err
	}
	return e.st.update(x, t, r, vals)
}

// upsertTarget upserts one UpsertMultiple item, identified by "@odata.id"
// (an alternate-key reference such as contacts(emailaddress1='a@b.com')) or
// by its primary key.
func (e *Emulator) upsertTarget(x *tx, t *table, m map[string]any) *apiError {
	var key entityKey
	if ref, ok := m["@odata.id"].(string); ok {
		i := strings.LastIndex(ref, "/")
		name, keyText, hasKey, err := splitKey(ref[i+1:])
		if err != nil || !hasKey || name != t.def.set {
			return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: The @odata.id '%s' is not a reference to this entity set.", t.def.set, ref)
		}
		k, aerr := parseKey(t.def, keyText)
		if aerr != nil {
			return aerr
		}
		key = k
	} else if v, ok := m[t.def.key].(string); ok && wire.IsGUID(v) {
		key = entityKey{id: strings.ToLower(v), text: v}
	} else {
		return errf(http.StatusBadRequest, codeInvalidArgument, "Entity Id or keys must be specified for Upsert")
	}
	r, exists := t.find(key)
	if exists {
		body := map[string]any{}
		for k, v := range m {
			if _, isKey := key.values[k]; isKey {
				continue // key columns in the body are dropped on update (reference §6)
			}
			body[k] = v
		}
		vals, err := bodyValues(e.st, t.def, body, false)
		if err != nil {
			return err
		}
		return e.st.update(x, t, r, vals)
	}
	for c := range key.values {
		if _, inBody := m[c]; inBody {
			// Observed behaviour (reference §8, PowerPlatform-DataverseClient-Python
			// #127): a key column repeated in the body fails the create path.
			return errf(http.StatusBadRequest, codeUnexpected, "An unexpected error occurred.")
		}
	}
	vals, err := bodyValues(e.st, t.def, m, true)
	if err != nil {
		return err
	}
	for c, v := range key.values {
		vals[c] = v
	}
	_, err = e.st.create(x, t, vals, key.id)
	return err
}

// qualifyLeadAction serves POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead.
func (e *Emulator) qualifyLeadAction(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, key entityKey) *apiError {
	body, err := readBody(r, "leads")
	if err != nil {
		return err
	}
	for _, p := range []string{"CreateAccount", "CreateContact", "CreateOpportunity", "Status"} {
		if _, ok := body[p]; !ok {
			return errf(http.StatusBadRequest, codeInvalidArgument, "Required parameter '%s' is missing for the operation 'QualifyLead'.", p)
		}
	}
	flag := func(name string) (bool, *apiError) {
		b, ok := body[name].(bool)
		if !ok {
			return false, errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert the literal '%s' to the expected type 'Edm.Boolean'.", literalText(body[name]))
		}
		return b, nil
	}
	createAccount, err := flag("CreateAccount")
	if err != nil {
		return err
	}
	createContact, err := flag("CreateContact")
	if err != nil {
		return err
	}
	createOpp, err := flag("CreateOpportunity")
	if err != nil {
		return err
	}
	n, ok := body["Status"].(json.Number)
	status, nerr := n.Int64()
	if !ok || nerr != nil {
		return errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert the literal '%s' to the expected type 'Edm.Int32'.", literalText(body["Status"]))
	}
	rc.lock()
	defer rc.unlock()
	lead, exists := t.find(key)
	if !exists {
		return doesNotExist(t.def, key.describe(t.def))
	}
	var created []jobj
	x := rc.tx
	if x == nil {
		x = &tx{}
	}
	var accountID, oppID string
	if createAccount {
		// The emulator holds no account table: the account is reported but
		// not stored.
		accountID = e.st.newGUID()
		created = append(created, jobj{keys: []string{"@odata.type", "accountid"}, vals: []any{"#Microsoft.Dynamics.CRM.account", accountID}})
	}
	contactID, qerr := e.qualify(x, lead.id, createContact, status, accountID)
	if qerr != nil {
		x.rollback()
		return qerr
	}
	if contactID != "" {
		created = append(created, jobj{keys: []string{"@odata.type", "contactid"}, vals: []any{"#Microsoft.Dynamics.CRM.contact", contactID}})
	}
	if createOpp {
		oppID = e.st.newGUID()
		created = append(created, jobj{keys: []string{"@odata.type", "opportunityid"}, vals: []any{"#Microsoft.Dynamics.CRM.opportunity", oppID}})
		_ = e.st.update(x, t, t.rows[lead.id], map[string]any{"_qualifyingopportunityid_value": oppID})
	}
	if created == nil {
		created = []jobj{}
	}
	writeBody(w, http.StatusOK, jobj{keys: []string{"@odata.context", "value"},
		vals: []any{rc.apiRoot() + "$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)", created}})
	return nil
}

// qualifyLead is QualifyLead with CreateContact for the library API. The
// mutex is held.
func (e *Emulator) qualifyLead(leadID string, createContact bool, status int64) (string, error) {
	x := &tx{}
	id, err := e.qualify(x, leadID, createContact, status, "")
	if err != nil {
		x.rollback()
		return "", err
	}
	return id, nil
}

// leadToContact lists the columns copied from a lead to the contact
// qualification creates.
var leadToContact = []string{"firstname", "middlename", "lastname", "salutation", "nickname", "emailaddress1", "emailaddress2",
	"emailaddress3", "mobilephone", "telephone1", "telephone2", "telephone3", "fax", "jobtitle", "websiteurl",
	"address1_line1", "address1_line2", "address1_line3", "address1_city", "address1_stateorprovince",
	"address1_postalcode", "address1_country", "description", "donotemail", "donotphone", "donotbulkemail"}

// qualify closes a lead as qualified (statecode 1, the given statuscode)
// and, when asked, creates a contact from it carrying
// _originatingleadid_value. The mutex is held.
func (e *Emulator) qualify(x *tx, leadID string, createContact bool, status int64, accountID string) (string, *apiError) {
	leads, contacts := e.st.tables["lead"], e.st.tables["contact"]
	lead, ok := leads.rows[leadID]
	if !ok {
		return "", doesNotExist(leads.def, leadID)
	}
	if st, _ := lead.vals["statecode"].(int64); st != 0 {
		// UNCERTAIN: text and code of this error are from memory of the
		// SDK's "lead is closed" fault; no published Web API sample.
		return "", errf(http.StatusBadRequest, codeLeadClosed, "The lead is closed. You cannot convert or qualify a lead that is already closed.")
	}
	if st, ok := stateOfStatus(leads.def, status); !ok || st != 1 {
		return "", errf(http.StatusBadRequest, codeInvalidStateCode, "%d is not a valid status code for state code LeadState.Qualified on lead with Id %s.", status, leadID)
	}
	contactID := ""
	if createContact {
		vals := map[string]any{"_originatingleadid_value": leadID}
		for _, c := range leadToContact {
			if v := lead.vals[c]; v != nil {
				vals[c] = v
			}
		}
		if accountID != "" {
			vals["_parentcustomerid_value"] = accountID
		}
		c, err := e.st.create(x, contacts, vals, "")
		if err != nil {
			return "", err
		}
		contactID = c.id
	}
	upd := map[string]any{"statecode": int64(1), "statuscode": status}
	if contactID != "" && lead.vals["_parentcontactid_value"] == nil {
		upd["_parentcontactid_value"] = contactID
	}
	if err := e.st.update(x, leads, lead, upd); err != nil {
		return "", err
	}
	return contactID, nil
}
