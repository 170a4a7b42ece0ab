package dynamics

import "github.com/synclang/synclang/connectors/connector"

// StandardSchema is the part of the contact and lead tables synclang knows
// without asking the service: logical names, types, maximum lengths,
// read-only columns and option-set values, from Microsoft's table reference
// (../shared/reference/dynamics-webapi.md §3; learn.microsoft.com
// .../reference/entities/contact and .../sales/developer/entities/lead).
// Custom columns come from `column` declarations or a schema snapshot.
//
// RequiredLevel "ApplicationRequired" (lastname, subject) is enforced by
// forms, not by the Web API, so no column here is Required.
func StandardSchema() *connector.Schema {
	s := &connector.Schema{Version: connector.SchemaVersion, Kind: "dynamics", Entities: []*connector.Entity{contact(), lead()}}
	s.Normalize()
	return s
}

// Field constructors keep the tables below readable. Every column the Web
// API can $filter on is a Lookup field; string comparisons in $filter are
// case-insensitive on Dataverse.
func str(name string, maxLen int, doc string) *connector.Field {
	return &connector.Field{Name: name, Type: connector.String, MaxLength: maxLen, Lookup: true, CaseInsensitive: true, Doc: doc}
}

func memo(name string, maxLen int, doc string) *connector.Field {
	return &connector.Field{Name: name, Type: connector.String, MaxLength: maxLen, Doc: doc}
}

func readOnly(f *connector.Field) *connector.Field {
	f.ReadOnly = true
	return f
}

func choice(name, doc string, opts ...connector.Option) *connector.Field {
	return &connector.Field{Name: name, Type: connector.Choice, Options: opts, Lookup: true, Doc: doc}
}

func boolean(name, doc string) *connector.Field {
	return &connector.Field{Name: name, Type: connector.Bool, Lookup: true, Doc: doc}
}

func opt(v int64, label string) connector.Option { return connector.Option{Value: v, Label: label} }

func lookupID(name, doc string) *connector.Field {
	return &connector.Field{Name: name, Type: connector.ID, ReadOnly: true, Lookup: true, Doc: doc}
}

// common are the columns contact and lead share.
func common() []*connector.Field {
	return []*connector.Field{
		str("firstname", 50, "First name."),
		str("middlename", 50, "Middle name."),
		str("lastname", 50, "Last name (required by forms, not by the Web API)."),
		readOnly(str("fullname", 160, "First and last name, computed by Dynamics.")),
		str("emailaddress1", 100, "Primary email address."),
		str("emailaddress2", 100, "Secondary email address."),
		str("emailaddress3", 100, "Alternate email address."),
		str("mobilephone", 50, "Mobile phone."),
		str("telephone1", 50, "Business phone."),
		str("telephone2", 50, "Home phone."),
		str("jobtitle", 100, "Job title."),
		str("address1_line1", 250, "Address 1: street 1."),
		str("address1_line2", 250, "Address 1: street 2."),
		str("address1_city", 80, "Address 1: city."),
		str("address1_stateorprovince", 50, "Address 1: state or province."),
		str("address1_postalcode", 20, "Address 1: ZIP/postal code."),
		str("address1_country", 80, "Address 1: country/region (free text)."),
		readOnly(memo("address1_composite", 1000, "Address 1, composed by Dynamics.")),
		memo("description", 2000, "Description."),
		boolean("donotemail", "Do not allow emails."),
		boolean("donotphone", "Do not allow phone calls."),
		{Name: "createdon", Type: connector.DateTime, ReadOnly: true, Lookup: true, Doc: "Created on (UTC)."},
		{Name: "modifiedon", Type: connector.DateTime, ReadOnly: true, Lookup: true, Doc: "Modified on (UTC)."},
		{Name: "versionnumber", Type: connector.Int, ReadOnly: true, Doc: "Row version; the @odata.etag carries it."},
		lookupID("_ownerid_value", "Owner (user or team) ID."),
	}
}

func contact() *connector.Entity {
	e := &connector.Entity{
		Name: "contact", Key: "contactid", Modified: "modifiedon", Incremental: true, Deletes: true,
		Doc: "Dynamics 365 contact (entity set contacts).",
		Fields: append(common(),
			&connector.Field{Name: "contactid", Type: connector.ID, ReadOnly: true, Lookup: true, Unique: true, Doc: "Contact ID (GUID), assigned by Dynamics."},
			&connector.Field{Name: "birthdate", Type: connector.Date, Lookup: true, Doc: "Birthday (date only)."},
			choice("gendercode", "Gender.", opt(1, "Male"), opt(2, "Female")),
			choice("preferredcontactmethodcode", "Preferred method of contact.",
				opt(1, "Any"), opt(2, "Email"), opt(3, "Phone"), opt(4, "Fax"), opt(5, "Mail")),
			choice("statecode", "Status: Active or Inactive.", opt(0, "Active"), opt(1, "Inactive")),
			choice("statuscode", "Status reason; set together with statecode.", opt(1, "Active"), opt(2, "Inactive")),
			lookupID("_parentcustomerid_value", "Company name (account or contact) ID."),
			lookupID("_originatingleadid_value", "The lead this contact was qualified from."),
		),
	}
	return e
}

func lead() *connector.Entity {
	return &connector.Entity{
		Name: "lead", Key: "leadid", Modified: "modifiedon", Incremental: true, Deletes: true,
		Doc: "Dynamics 365 lead (entity set leads).",
		Fields: append(common(),
			&connector.Field{Name: "leadid", Type: connector.ID, ReadOnly: true, Lookup: true, Unique: true, Doc: "Lead ID (GUID), assigned by Dynamics."},
			str("subject", 300, "Topic (required by forms, not by the Web API)."),
			str("companyname", 100, "Company name."),
			choice("leadsourcecode", "Lead source.",
				opt(1, "Advertisement"), opt(2, "Employee Referral"), opt(3, "External Referral"), opt(4, "Partner"),
				opt(5, "Public Relations"), opt(6, "Seminar"), opt(7, "Trade Show"), opt(8, "Web"),
				opt(9, "Word of Mouth"), opt(10, "Other")),
			choice("statecode", "Status: Open, Qualified or Disqualified.", opt(0, "Open"), opt(1, "Qualified"), opt(2, "Disqualified")),
			choice("statuscode", "Status reason; set together with statecode.",
				opt(1, "New"), opt(2, "Contacted"), opt(3, "Qualified"), opt(4, "Lost"),
				opt(5, "Cannot Contact"), opt(6, "No Longer Interested"), opt(7, "Canceled")),
			lookupID("_parentcontactid_value", "Existing contact the lead is associated with."),
		),
	}
}
