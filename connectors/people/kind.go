package people

import (
	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Setting names of a `connection NAME people { ... }` block.
const (
	SettingURL    = "url"
	SettingAPIKey = "api_key"
	// SettingRetryBudget bounds how long one request is retried.
	SettingRetryBudget = "retry_budget"
)

// Hosts are Infobip's API hosts: the per-account base URL
// xxxxx.api.infobip.com (https://www.infobip.com/docs/developer-resources/about-infobip-apis/base-url),
// its regional form xxxxx.api-us.infobip.com, and the shared api.infobip.com
// (../shared/reference/infobip-people.md §1).
var Hosts = []string{"*.api.infobip.com", "*.api-us.infobip.com", "api.infobip.com"}

// Kind describes the people connection kind: settings, the standard person
// schema (entities customer and lead: persons of type CUSTOMER and LEAD),
// and `attribute "NAME" TYPE` declarations of custom attributes.
func Kind() *connector.Kind {
	return &connector.Kind{
		Name: "people",
		Doc:  "Infobip People person profiles, through the People API v2 (and v3 upsert) with an API key.",
		Settings: []connector.SettingSpec{
			{Name: SettingURL, Required: true, Validate: connector.CheckServiceURL, Hosts: Hosts,
				Doc: "The account's base URL, e.g. https://xxxxx.api.infobip.com (https; http only for loopback emulators)."},
			{Name: SettingAPIKey, Required: true, Secret: true,
				Doc: "An API key with the people:manage scope, sent as `Authorization: App <key>`."},
			{Name: SettingRetryBudget, Default: "15m", Validate: func(s string) error { _, err := httpx.ParseBudget(s); return err },
				Doc: "How long one request may be retried (429s, 5xx, network failures) before it fails, e.g. \"15m\" (1s to 24h)."},
		},
		Schema: StandardSchema(),
		Declare: &connector.DeclareSpec{Keyword: "attribute", Prefix: connector.CustomPrefix, Types: []connector.Type{
			connector.String, connector.Int, connector.Decimal, connector.Bool, connector.Date, connector.DateTime, connector.Object,
		}},
		New: New,
	}
}

// AttributeType maps a People custom attribute dataType to a field type.
func AttributeType(dataType string) (connector.Type, bool) {
	switch dataType {
	case "STRING":
		return connector.String, true
	case "INTEGER":
		return connector.Int, true
	case "DECIMAL":
		return connector.Decimal, true
	case "BOOLEAN":
		return connector.Bool, true
	case "DATE":
		return connector.Date, true
	case "DATE_TIME":
		return connector.DateTime, true
	case "LIST_OF_OBJECTS":
		return connector.Object, true
	}
	return "", false
}

// StandardSchema is the person profile (IamPersonV2) as two entities,
// customer and lead, from Infobip's OpenAPI spec 3.210.0
// (../shared/reference/infobip-people.md §2). Both are views of one set of
// persons: email, phone and externalId are unique across all of them.
//
// email and phone are the primary (first) entries of contactInformation;
// emails and phones are the whole lists of addresses and numbers.
func StandardSchema() *connector.Schema {
	s := &connector.Schema{Version: connector.SchemaVersion, Kind: "people", Entities: []*connector.Entity{
		person("customer", "People persons of type CUSTOMER."),
		person("lead", "People persons of type LEAD."),
	}}
	s.Normalize()
	return s
}

func person(name, doc string) *connector.Entity {
	str := func(n string, max int, doc string) *connector.Field {
		return &connector.Field{Name: n, Type: connector.String, MaxLength: max, Doc: doc}
	}
	ro := func(f *connector.Field) *connector.Field { f.ReadOnly = true; return f }
	return &connector.Entity{
		Name: name, Key: "id", Modified: "modifiedAt", Incremental: true, Deletes: false, Doc: doc,
		Fields: []*connector.Field{
			{Name: "id", Type: connector.Int, ReadOnly: true, Lookup: true, Unique: true, Doc: "Person ID, assigned by People."},
			{Name: "externalId", Type: connector.String, MaxLength: 256, Lookup: true, Unique: true,
				Doc: "Unique ID from an external system (the Dynamics entity ID); case-sensitive."},
			ro(&connector.Field{Name: "type", Type: connector.String, Enum: []string{"CUSTOMER", "LEAD"},
				Doc: "CUSTOMER or LEAD: set by the entity a sync writes (writing a customer promotes a lead)."}),
			str("firstName", 255, "First name."),
			str("lastName", 255, "Last name."),
			str("middleName", 50, "Middle name."),
			{Name: "gender", Type: connector.String, Enum: []string{"MALE", "FEMALE"}, Doc: "MALE or FEMALE."},
			{Name: "birthDate", Type: connector.Date, Doc: "Birth date (YYYY-MM-DD)."},
			str("address", 256, "Street address."),
			str("city", 50, "City."),
			str("country", 50, "Country (free text)."),
			str("preferredLanguage", 0, "Two-letter ISO code or BCP 47 tag (en-gb)."),
			str("profilePicture", 2083, "Profile picture URL."),
			{Name: "tags", Type: connector.List, Doc: "Tag names. Writing it replaces the person's tags; tags People does not have yet are created."},
			{Name: "email", Type: connector.String, MaxLength: 255, Lookup: true, Unique: true, CaseInsensitive: true,
				Doc: "Primary email: the first entry of contactInformation.email. Writing it replaces that entry only."},
			{Name: "phone", Type: connector.String, MaxLength: 50, Lookup: true, Unique: true,
				Doc: "Primary phone, international format without + (41793026727): the first entry of contactInformation.phone."},
			{Name: "emails", Type: connector.List, Doc: "Every email address of the person, primary first. Writing it replaces the list."},
			{Name: "phones", Type: connector.List, Doc: "Every phone number of the person, primary first. Writing it replaces the list."},
			{Name: "createdAt", Type: connector.DateTime, ReadOnly: true, Doc: "Created at (UTC, second precision)."},
			{Name: "modifiedAt", Type: connector.DateTime, ReadOnly: true, Doc: "Modified at (UTC, second precision)."},
			ro(str("origin", 0, "Source that created the person (API, PORTAL, DYNAMICS, ...).")),
			ro(str("modifiedFrom", 0, "Source of the last change.")),
		},
	}
}
