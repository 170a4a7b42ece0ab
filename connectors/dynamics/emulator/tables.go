package emulator

import (
	"sort"
	"strings"
)

// attrType is a Dataverse AttributeType (AttributeMetadata.AttributeType).
type attrType string

const (
	tString   attrType = "String"
	tMemo     attrType = "Memo"
	tGUID     attrType = "Uniqueidentifier"
	tDateTime attrType = "DateTime"
	tPicklist attrType = "Picklist"
	tState    attrType = "State"
	tStatus   attrType = "Status"
	tBoolean  attrType = "Boolean"
	tInteger  attrType = "Integer"
	tBigInt   attrType = "BigInt"
	tDecimal  attrType = "Decimal"
	tDouble   attrType = "Double"
	tLookup   attrType = "Lookup"
	tOwner    attrType = "Owner"
)

// option is one value of an option set; state is the statecode a status
// value belongs to (Status columns only).
type option struct {
	value int64
	label string
	state int64
}

// column is one attribute of a table as the emulated service defines it.
type column struct {
	name      string
	typ       attrType
	maxLength int
	dateOnly  bool // DateTime with DateTimeBehavior DateOnly: wire form YYYY-MM-DD
	// validForCreate / validForUpdate mirror IsValidForCreate and
	// IsValidForUpdate; a body that sets a column not valid for the
	// operation has that value ignored, as the platform does for computed
	// columns (fullname, createdon, ...).
	validForCreate, validForUpdate bool
	custom                         bool
	options                        []option
	// target is the table a lookup column refers to; targets lists every
	// table a polymorphic (Customer) lookup may refer to, target first.
	target  string
	targets []string
	// defaultValue is set on create when the body does not set the column.
	defaultValue any
	// changedAt is the metadata version at which the column was added
	// (0: part of the stock table); see RetrieveMetadataChanges.
	changedAt int64
}

// edmType is the OData type of the column's values in $filter and $metadata.
func (c *column) edmType() string {
	switch c.typ {
	case tString, tMemo:
		return "Edm.String"
	case tGUID, tLookup, tOwner:
		return "Edm.Guid"
	case tDateTime:
		if c.dateOnly {
			return "Edm.Date"
		}
		return "Edm.DateTimeOffset"
	case tPicklist, tState, tStatus, tInteger:
		return "Edm.Int32"
	case tBigInt:
		return "Edm.Int64"
	case tBoolean:
		return "Edm.Boolean"
	case tDecimal:
		return "Edm.Decimal"
	case tDouble:
		return "Edm.Double"
	}
	return "Edm.String"
}

func (c *column) hasOption(v int64) bool {
	for _, o := range c.options {
		if o.value == v {
			return true
		}
	}
	return false
}

// altKey is an alternate key (EntityKeyMetadata).
type altKey struct {
	logicalName string
	columns     []string
}

// tableDef is a table's metadata (EntityMetadata).
type tableDef struct {
	logical, set, key string
	primaryName       string
	objectTypeCode    int
	custom            bool
	changeTracking    bool
	columns           []*column
	byName            map[string]*column
	keys              []altKey
	// changedAt is the metadata version of the table's own last change.
	changedAt int64
}

func (t *tableDef) col(name string) (*column, bool) {
	c, ok := t.byName[name]
	return c, ok
}

func (t *tableDef) index() {
	t.byName = map[string]*column{}
	for _, c := range t.columns {
		t.byName[c.name] = c
	}
}

// typeName is the OData type name, "Microsoft.Dynamics.CRM.contact".
func (t *tableDef) typeName() string { return "Microsoft.Dynamics.CRM." + t.logical }

func (t *tableDef) columnNames() []string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return names
}

// Column constructors.
func str(name string, maxLen int) *column {
	return &column{name: name, typ: tString, maxLength: maxLen, validForCreate: true, validForUpdate: true}
}
func memo(name string, maxLen int) *column {
	return &column{name: name, typ: tMemo, maxLength: maxLen, validForCreate: true, validForUpdate: true}
}
func computed(c *column) *column {
	c.validForCreate, c.validForUpdate = false, false
	return c
}
func boolean(name string) *column {
	return &column{name: name, typ: tBoolean, validForCreate: true, validForUpdate: true, defaultValue: false}
}
func picklist(name string, opts ...option) *column {
	return &column{name: name, typ: tPicklist, validForCreate: true, validForUpdate: true, options: opts}
}
func lookup(name, target string, create bool) *column {
	return &column{name: name, typ: tLookup, target: target, validForCreate: create, validForUpdate: create}
}
func customer(name string, targets ...string) *column {
	return &column{name: name, typ: tLookup, target: targets[0], targets: targets, validForCreate: true, validForUpdate: true}
}

// lookupTargets are the tables a lookup may refer to.
func (c *column) lookupTargets() []string {
	if len(c.targets) > 0 {
		return c.targets
	}
	return []string{c.target}
}

// navName is the single-valued navigation property of a lookup to target:
// parentcustomerid_contact for a polymorphic lookup, createdby otherwise.
func (c *column) navName(target string) string {
	n := logicalName(c)
	if len(c.targets) > 1 {
		return n + "_" + target
	}
	return n
}

// targetKey is the key under which a row's vals hold the table a
// polymorphic lookup's value refers to.
func targetKey(c *column) string { return c.name + "@target" }

func opt(v int64, label string) option { return option{value: v, label: label} }

// common columns of contact and lead (logical names, types and lengths from
// Microsoft's table reference; shared/reference/dynamics-webapi.md §3).
func commonColumns() []*column {
	return []*column{
		str("firstname", 50), str("middlename", 50), str("lastname", 50),
		computed(str("fullname", 160)), computed(str("yomifullname", 450)),
		str("salutation", 100), str("nickname", 100),
		str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
		str("mobilephone", 50), str("telephone1", 50), str("telephone2", 50), str("telephone3", 50), str("fax", 50),
		str("jobtitle", 100), str("websiteurl", 200),
		str("address1_line1", 250), str("address1_line2", 250), str("address1_line3", 250),
		str("address1_city", 80), str("address1_stateorprovince", 50), str("address1_postalcode", 20),
		str("address1_country", 80), computed(memo("address1_composite", 1000)),
		memo("description", 2000),
		boolean("donotemail"), boolean("donotphone"), boolean("donotbulkemail"),
		computed(&column{name: "createdon", typ: tDateTime}),
		computed(&column{name: "modifiedon", typ: tDateTime}),
		{name: "overriddencreatedon", typ: tDateTime, validForCreate: true},
		computed(&column{name: "versionnumber", typ: tBigInt}),
		{name: "importsequencenumber", typ: tInteger, validForCreate: true},
		{name: "_ownerid_value", typ: tOwner, target: "systemuser", validForCreate: true, validForUpdate: true},
		lookup("_createdby_value", "systemuser", false),
		lookup("_modifiedby_value", "systemuser", false),
		lookup("_owningbusinessunit_value", "businessunit", false),
		lookup("_transactioncurrencyid_value", "transactioncurrency", true),
	}
}

func contactTable() *tableDef {
	cols := append(commonColumns(),
		&column{name: "contactid", typ: tGUID, validForCreate: true},
		&column{name: "birthdate", typ: tDateTime, dateOnly: true, validForCreate: true, validForUpdate: true},
		picklist("gendercode", opt(1, "Male"), opt(2, "Female")),
		picklist("familystatuscode", opt(1, "Single"), opt(2, "Married"), opt(3, "Divorced"), opt(4, "Widowed")),
		picklist("preferredcontactmethodcode", opt(1, "Any"), opt(2, "Email"), opt(3, "Phone"), opt(4, "Fax"), opt(5, "Mail")),
		&column{name: "statecode", typ: tState, validForUpdate: true, defaultValue: int64(0),
			options: []option{opt(0, "Active"), opt(1, "Inactive")}},
		&column{name: "statuscode", typ: tStatus, validForCreate: true, validForUpdate: true, defaultValue: int64(1),
			options: []option{{1, "Active", 0}, {2, "Inactive", 1}}},
		// parentcustomerid is a Customer lookup: account or contact
		// (contact EntityType reference: parentcustomerid_account,
		// parentcustomerid_contact).
		customer("_parentcustomerid_value", "account", "contact"),
		lookup("_originatingleadid_value", "lead", true),
		&column{name: "annualincome", typ: tDecimal, validForCreate: true, validForUpdate: true},
		&column{name: "numberofchildren", typ: tInteger, validForCreate: true, validForUpdate: true},
	)
	t := &tableDef{logical: "contact", set: "contacts", key: "contactid", primaryName: "fullname", objectTypeCode: 2,
		changeTracking: true, columns: cols,
		// Stock contact has no alternate key; the emulator's org defines one
		// on emailaddress1, as synclang's setup guide tells admins to
		// (reference §6 "Emulator note").
		keys: []altKey{{logicalName: "new_emailaddress1key", columns: []string{"emailaddress1"}}}}
	t.index()
	return t
}

func leadTable() *tableDef {
	cols := append(commonColumns(),
		&column{name: "leadid", typ: tGUID, validForCreate: true},
		str("subject", 300), str("companyname", 100),
		picklist("leadsourcecode", opt(1, "Advertisement"), opt(2, "Employee Referral"), opt(3, "External Referral"),
			opt(4, "Partner"), opt(5, "Public Relations"), opt(6, "Seminar"), opt(7, "Trade Show"), opt(8, "Web"),
			opt(9, "Word of Mouth"), opt(10, "Other")),
		picklist("leadqualitycode", opt(1, "Hot"), opt(2, "Warm"), opt(3, "Cold")),
		&column{name: "statecode", typ: tState, validForUpdate: true, defaultValue: int64(0),
			options: []option{opt(0, "Open"), opt(1, "Qualified"), opt(2, "Disqualified")}},
		&column{name: "statuscode", typ: tStatus, validForCreate: true, validForUpdate: true, defaultValue: int64(1),
			options: []option{{1, "New", 0}, {2, "Contacted", 0}, {3, "Qualified", 1}, {4, "Lost", 2},
				{5, "Cannot Contact", 2}, {6, "No Longer Interested", 2}, {7, "Canceled", 2}}},
		lookup("_parentcontactid_value", "contact", true),
		lookup("_parentaccountid_value", "account", true),
		lookup("_qualifyingopportunityid_value", "opportunity", false),
	)
	t := &tableDef{logical: "lead", set: "leads", key: "leadid", primaryName: "fullname", objectTypeCode: 4,
		changeTracking: true, columns: cols}
	t.index()
	return t
}

// stateOfStatus returns the statecode a statuscode value belongs to.
func stateOfStatus(t *tableDef, status int64) (int64, bool) {
	c, ok := t.col("statuscode")
	if !ok {
		return 0, false
	}
	for _, o := range c.options {
		if o.value == status {
			return o.state, true
		}
	}
	return 0, false
}

// defaultStatus returns the default statuscode of a statecode.
func defaultStatus(t *tableDef, state int64) int64 {
	c, _ := t.col("statuscode")
	for _, o := range c.options {
		if o.state == state {
			return o.value
		}
	}
	return 1
}

func sortedSetNames(defs map[string]*tableDef) []string {
	var out []string
	for _, d := range defs {
		out = append(out, d.set)
	}
	sort.Strings(out)
	return out
}

// fullName composes fullname as the default "First Last" format does.
// UNCERTAIN (reference §3): the organization's name-format setting can change
// the order; the default "Last Name, First Name" alternative is not emulated.
func fullName(first, middle, last string) string {
	parts := []string{}
	for _, p := range []string{first, middle, last} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}
