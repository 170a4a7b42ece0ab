package emulator

import (
	"fmt"
	"html"
	"net/http"
	"sort"
	"strings"
)

// The $metadata document: the OData CSDL XML (OData Version 4.0 Part 3,
// edmx namespace http://docs.oasis-open.org/odata/ns/edmx, edm namespace
// http://docs.oasis-open.org/odata/ns/edm) with the structure of the
// service's ("Web API service documents", CSDL $metadata document,
// https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents#csdl-metadata-document):
// one Schema "Microsoft.Dynamics.CRM" (alias mscrm) holding entity types
// derived from the abstract crmbaseentity with their Key, Property and
// NavigationProperty elements, the metadata entity types behind
// EntityDefinitions, the ComplexType and EnumType elements those and the
// operations use, the Function and Action elements, and the EntityContainer
// "System" with EntitySet and FunctionImport elements.
//
// It declares exactly what the emulator serves: the tables it holds, the
// EntityDefinitions set, and the operations in csdlFunctions and
// csdlActions. Table types, and the EntityMetadata / AttributeMetadata
// types, are generated from the same definitions (tableDef, entityMeta,
// attrMeta) EntityDefinitions answers from, so the two cannot disagree.
// Navigation properties are declared for lookups to tables the emulator
// holds; a lookup to another table (account, systemuser) is its
// _<name>_value property only.

type csdlParam struct{ name, typ string }

type csdlOperation struct {
	name     string
	bound    bool // the first parameter is the binding parameter
	params   []csdlParam
	returns  string
	function bool
}

// csdlFunctions and csdlActions are the operations the emulator implements
// (signatures from the Web API reference: WhoAmI function, RetrieveMetadataChanges
// function, RetrieveTotalRecordCount function, CreateMultiple / UpdateMultiple / UpsertMultiple / DeleteMultiple
// actions, QualifyLead action;
// https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/).
var csdlFunctions = []csdlOperation{
	{name: "WhoAmI", function: true, returns: "mscrm.WhoAmIResponse"},
	{name: "RetrieveMetadataChanges", function: true, returns: "mscrm.RetrieveMetadataChangesResponse", params: []csdlParam{
		{"Query", "mscrm.EntityQueryExpression"}, {"DeletedMetadataFilters", "mscrm.DeletedMetadataFilters"},
		{"ClientVersionStamp", "Edm.String"}, {"AppModuleId", "Edm.Guid"}, {"RetrieveAllSettings", "Edm.Boolean"}}},
	{name: "RetrieveTotalRecordCount", function: true, returns: "mscrm.RetrieveTotalRecordCountResponse", params: []csdlParam{
		{"EntityNames", "Collection(Edm.String)"}}},
}

var csdlActions = []csdlOperation{
	{name: "CreateMultiple", bound: true, returns: "mscrm.CreateMultipleResponse", params: []csdlParam{
		{"entityset", "Collection(mscrm.crmbaseentity)"}, {"Targets", "Collection(mscrm.crmbaseentity)"}}},
	{name: "UpdateMultiple", bound: true, params: []csdlParam{
		{"entityset", "Collection(mscrm.crmbaseentity)"}, {"Targets", "Collection(mscrm.crmbaseentity)"}}},
	{name: "UpsertMultiple", bound: true, returns: "mscrm.UpsertMultipleResponse", params: []csdlParam{
		{"entityset", "Collection(mscrm.crmbaseentity)"}, {"Targets", "Collection(mscrm.crmbaseentity)"}}},
	{name: "DeleteMultiple", bound: true, params: []csdlParam{
		{"entityset", "Collection(mscrm.crmbaseentity)"}, {"Targets", "Collection(mscrm.crmbaseentity)"}}},
	{name: "QualifyLead", bound: true, returns: "Collection(mscrm.crmbaseentity)", params: []csdlParam{
		{"entity", "mscrm.lead"}, {"CreateAccount", "Edm.Boolean"}, {"CreateContact", "Edm.Boolean"},
		{"CreateOpportunity", "Edm.Boolean"}, {"Status", "Edm.Int32"}, {"OpportunityCurrencyId", "mscrm.crmbaseentity"},
		{"OpportunityCustomerId", "mscrm.crmbaseentity"}, {"SourceCampaignId", "mscrm.crmbaseentity"},
		{"SuppressDuplicateDetection", "Edm.Boolean"}}},
}

// csdlComplexTypes are the complex types the metadata entity types and the
// operations use (property names as in the Web API reference).
var csdlComplexTypes = []struct {
	name  string
	props []csdlParam
}{
	{"WhoAmIResponse", []csdlParam{{"BusinessUnitId", "Edm.Guid"}, {"UserId", "Edm.Guid"}, {"OrganizationId", "Edm.Guid"}}},
	{"CreateMultipleResponse", []csdlParam{{"Ids", "Collection(Edm.Guid)"}}},
	{"UpsertMultipleResponse", []csdlParam{{"Results", "Collection(mscrm.UpsertResponse)"}}},
	{"UpsertResponse", []csdlParam{{"RecordCreated", "Edm.Boolean"}, {"Target", "Edm.String"}}},
	{"Label", []csdlParam{{"LocalizedLabels", "Collection(mscrm.LocalizedLabel)"}, {"UserLocalizedLabel", "mscrm.LocalizedLabel"}}},
	{"LocalizedLabel", []csdlParam{{"Label", "Edm.String"}, {"LanguageCode", "Edm.Int32"}, {"IsManaged", "Edm.Boolean"},
		{"MetadataId", "Edm.Guid"}, {"HasChanged", "Edm.Boolean"}}},
	{"AttributeTypeDisplayName", []csdlParam{{"Value", "Edm.String"}}},
	{"DateTimeBehavior", []csdlParam{{"Value", "Edm.String"}}},
	{"AttributeRequiredLevelManagedProperty", []csdlParam{{"Value", "mscrm.AttributeRequiredLevel"}, {"CanBeChanged", "Edm.Boolean"},
		{"ManagedPropertyLogicalName", "Edm.String"}}},
	{"OptionMetadata", []csdlParam{{"Value", "Edm.Int32"}, {"Label", "mscrm.Label"}, {"State", "Edm.Int32"}, {"DefaultStatus", "Edm.Int32"}}},
	{"RetrieveMetadataChangesResponse", []csdlParam{{"EntityMetadata", "Collection(mscrm.ComplexEntityMetadata)"},
		{"ServerVersionStamp", "Edm.String"}, {"DeletedMetadata", "mscrm.DeletedMetadataCollection"}}},
	{"DeletedMetadataCollection", []csdlParam{{"Count", "Edm.Int32"}, {"IsReadOnly", "Edm.Boolean"},
		{"Keys", "Collection(mscrm.DeletedMetadataFilters)"}, {"Values", "Collection(mscrm.GuidCollection)"}}},
	{"GuidCollection", []csdlParam{{"Items", "Collection(Edm.Guid)"}}},
	{"RetrieveTotalRecordCountResponse", []csdlParam{{"EntityRecordCountCollection", "mscrm.EntityRecordCountCollection"}}},
	{"EntityRecordCountCollection", []csdlParam{{"Count", "Edm.Int32"}, {"IsReadOnly", "Edm.Boolean"},
		{"Keys", "Collection(Edm.String)"}, {"Values", "Collection(Edm.Int64)"}}},
	{"ComplexOptionSetMetadata", []csdlParam{{"MetadataId", "Edm.Guid"}, {"HasChanged", "Edm.Boolean"}, {"Name", "Edm.String"},
		{"IsGlobal", "Edm.Boolean"}, {"OptionSetType", "mscrm.OptionSetType"}, {"Options", "Collection(mscrm.OptionMetadata)"}}},
	{"EntityQueryExpression", []csdlParam{{"Criteria", "mscrm.MetadataFilterExpression"}, {"Properties", "mscrm.MetadataPropertiesExpression"},
		{"AttributeQuery", "mscrm.AttributeQueryExpression"}, {"KeyQuery", "mscrm.EntityKeyQueryExpression"}, {"LabelQuery", "mscrm.LabelQueryExpression"}}},
	{"AttributeQueryExpression", []csdlParam{{"Criteria", "mscrm.MetadataFilterExpression"}, {"Properties", "mscrm.MetadataPropertiesExpression"}}},
	{"EntityKeyQueryExpression", []csdlParam{{"Criteria", "mscrm.MetadataFilterExpression"}, {"Properties", "mscrm.MetadataPropertiesExpression"}}},
	{"LabelQueryExpression", []csdlParam{{"FilterLanguages", "Collection(Edm.Int32)"}, {"MissingLabelBehavior", "Edm.Int32"}}},
	{"MetadataFilterExpression", []csdlParam{{"Conditions", "Collection(mscrm.MetadataConditionExpression)"},
		{"FilterOperator", "mscrm.LogicalOperator"}, {"Filters", "Collection(mscrm.MetadataFilterExpression)"}}},
	{"MetadataConditionExpression", []csdlParam{{"PropertyName", "Edm.String"}, {"ConditionOperator", "mscrm.MetadataConditionOperator"}, {"Value", "mscrm.Object"}}},
	{"MetadataPropertiesExpression", []csdlParam{{"AllProperties", "Edm.Boolean"}, {"PropertyNames", "Collection(Edm.String)"}}},
	{"Object", []csdlParam{{"Type", "Edm.String"}, {"Value", "Edm.String"}}},
}

// csdlEnumTypes, values as in the SDK enumerations of the same names.
var csdlEnumTypes = []struct {
	name    string
	flags   bool
	members []string // "Name=value"
}{
	{"AttributeTypeCode", false, []string{"Boolean=0", "Customer=1", "DateTime=2", "Decimal=3", "Double=4", "Integer=5", "Lookup=6",
		"Memo=7", "Money=8", "Owner=9", "PartyList=10", "Picklist=11", "State=12", "Status=13", "String=14", "Uniqueidentifier=15",
		"CalendarRules=16", "Virtual=17", "BigInt=18", "ManagedProperty=19", "EntityName=20"}},
	{"AttributeRequiredLevel", false, []string{"None=0", "SystemRequired=1", "ApplicationRequired=2", "Recommended=3"}},
	{"OwnershipTypes", true, []string{"None=0", "UserOwned=1", "TeamOwned=2", "BusinessOwned=4", "OrganizationOwned=8", "BusinessParented=16", "Filtered=32"}},
	{"OptionSetType", false, []string{"Picklist=0", "State=1", "Status=2", "Boolean=3", "MultiSelectPicklist=4"}},
	{"StringFormat", false, []string{"Email=0", "Text=1", "TextArea=2", "Url=3", "TickerSymbol=4", "PhoneticGuide=5", "VersionNumber=6", "Phone=7", "Json=8", "RichText=9"}},
	{"MemoFormat", false, []string{"Text=0", "TextArea=1", "Email=2", "Json=3", "RichText=4"}},
	{"DateTimeFormat", false, []string{"DateOnly=0", "DateAndTime=1"}},
	{"EntityKeyIndexStatus", false, []string{"Pending=0", "InProgress=1", "Active=2", "Failed=3"}},
	{"DeletedMetadataFilters", true, []string{"Default=1", "Attribute=2", "Relationship=4", "Label=8", "OptionSet=16", "All=31"}},
	{"LogicalOperator", false, []string{"And=0", "Or=1"}},
	{"MetadataConditionOperator", false, []string{"Equals=0", "NotEquals=1", "In=2", "NotIn=3", "GreaterThan=4", "LessThan=5"}},
}

// metaPropType is the CSDL type of a metadata property, by name, then by
// the Go type of its value.
func metaPropType(name string, v any) string {
	switch name {
	case "MetadataId":
		return "Edm.Guid"
	case "DisplayName":
		return "mscrm.Label"
	case "OwnershipType":
		return "mscrm.OwnershipTypes"
	case "AttributeType":
		return "mscrm.AttributeTypeCode"
	case "AttributeTypeName":
		return "mscrm.AttributeTypeDisplayName"
	case "RequiredLevel":
		return "mscrm.AttributeRequiredLevelManagedProperty"
	case "DateTimeBehavior":
		return "mscrm.DateTimeBehavior"
	case "EntityKeyIndexStatus":
		return "mscrm.EntityKeyIndexStatus"
	case "Targets", "KeyAttributes":
		return "Collection(Edm.String)"
	case "AttributeOf":
		return "Edm.String"
	}
	switch v.(type) {
	case bool:
		return "Edm.Boolean"
	case int, int64:
		return "Edm.Int32"
	}
	return "Edm.String"
}

type csdlWriter struct{ strings.Builder }

func (b *csdlWriter) attr(s string) string { return html.EscapeString(s) }

func (b *csdlWriter) prop(name, typ string) {
	fmt.Fprintf(b, `<Property Name="%s" Type="%s"`, b.attr(name), typ)
	if typ == "Edm.String" {
		b.WriteString(` Unicode="false"`)
	}
	b.WriteString(`/>`)
}

// metaEntityType writes an entity type whose properties are those of objs
// (in first-seen order) minus exclude.
func (b *csdlWriter) metaEntityType(name, baseType string, objs []jobj, exclude []string, extra map[string]string, navs []csdlParam) {
	b.metaType("EntityType", name, baseType, objs, exclude, extra, navs)
}

// metaType writes an entity or complex type (kind) whose properties are
// those of objs, in first-seen order, minus exclude, plus extra.
func (b *csdlWriter) metaType(kind, name, baseType string, objs []jobj, exclude []string, extra map[string]string, navs []csdlParam) {
	fmt.Fprintf(&b.Builder, `<%s Name="%s"`, kind, name)
	if baseType != "" {
		fmt.Fprintf(&b.Builder, ` BaseType="%s"`, baseType)
	}
	b.WriteString(`>`)
	seen := map[string]bool{}
	for _, x := range exclude {
		seen[x] = true
	}
	for _, o := range objs {
		for i, k := range o.keys {
			if seen[k] || strings.HasPrefix(k, "@") || k == "OptionSet" {
				continue
			}
			seen[k] = true
			t := metaPropType(k, o.vals[i])
			if k == "Format" {
				t = extra["Format"]
			}
			b.prop(k, t)
		}
	}
	names := make([]string, 0, len(extra))
	for k := range extra {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !seen[k] && k != "Format" {
			b.prop(k, extra[k])
		}
	}
	for _, n := range navs {
		fmt.Fprintf(&b.Builder, `<NavigationProperty Name="%s" Type="%s"/>`, n.name, n.typ)
	}
	fmt.Fprintf(&b.Builder, `</%s>`, kind)
}

func (b *csdlWriter) operation(kind string, op csdlOperation) {
	fmt.Fprintf(&b.Builder, `<%s Name="%s"`, kind, op.name)
	if op.bound {
		b.WriteString(` IsBound="true"`)
	}
	b.WriteString(`>`)
	for _, p := range op.params {
		fmt.Fprintf(&b.Builder, `<Parameter Name="%s" Type="%s"`, p.name, p.typ)
		if p.name == "entityset" || p.name == "entity" || p.name == "Targets" {
			b.WriteString(` Nullable="false"`)
		}
		b.WriteString(`/>`)
	}
	if op.returns != "" {
		fmt.Fprintf(&b.Builder, `<ReturnType Type="%s" Nullable="false"/>`, op.returns)
	}
	fmt.Fprintf(&b.Builder, `</%s>`, kind)
}

// csdl renders the document for the given tables; annotate adds the
// Org.OData.Capabilities.V1.ChangeTracking annotation to the entity sets
// (reference §5: $metadata?annotations=true).
func csdl(defs []*tableDef, annotate bool) string {
	held := map[string]bool{}
	for _, d := range defs {
		held[d.logical] = true
	}
	var b csdlWriter
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	b.WriteString(`<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">`)
	b.WriteString(`<edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Keys.V1.xml"><edmx:Include Namespace="OData.Community.Keys.V1" Alias="Keys"/></edmx:Reference>`)
	b.WriteString(`<edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Display.V1.xml"><edmx:Include Namespace="OData.Community.Display.V1" Alias="Display"/></edmx:Reference>`)
	b.WriteString(`<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"><edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference>`)
	b.WriteString(`<edmx:DataServices>`)
	b.WriteString(`<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">`)
	b.WriteString(`<EntityType Name="crmbaseentity" Abstract="true"/>`)
	for _, d := range defs {
		fmt.Fprintf(&b, `<EntityType Name="%s" BaseType="mscrm.crmbaseentity"><Key><PropertyRef Name="%s"/></Key>`, d.logical, d.key)
		for _, c := range d.columns {
			b.prop(c.name, c.edmType())
		}
		for _, c := range d.columns {
			if c.typ != tLookup && c.typ != tOwner {
				continue
			}
			for _, target := range c.lookupTargets() {
				if !held[target] {
					continue
				}
				td := tableByLogical(defs, target)
				fmt.Fprintf(&b, `<NavigationProperty Name="%s" Type="mscrm.%s"><ReferentialConstraint Property="%s" ReferencedProperty="%s"/></NavigationProperty>`,
					c.navName(target), target, c.name, td.key)
			}
		}
		b.WriteString(`</EntityType>`)
	}
	// The metadata entity types (EntityDefinitions), from the builders
	// EntityDefinitions answers with.
	b.WriteString(`<EntityType Name="MetadataBase" Abstract="true"><Key><PropertyRef Name="MetadataId"/></Key><Property Name="MetadataId" Type="Edm.Guid" Nullable="false"/><Property Name="HasChanged" Type="Edm.Boolean"/></EntityType>`)
	var ents, attrs []jobj
	byType := map[string][]jobj{}
	for _, d := range defs {
		ents = append(ents, entityMeta(d))
		for i, c := range d.columns {
			a := attrMeta(d, c, i, false)
			attrs = append(attrs, a)
			byType[derivedType[c.typ]] = append(byType[derivedType[c.typ]], a)
		}
	}
	b.metaEntityType("EntityMetadata", "mscrm.MetadataBase", ents, []string{"MetadataId"}, nil,
		[]csdlParam{{"Attributes", "Collection(mscrm.AttributeMetadata)"}, {"Keys", "Collection(mscrm.EntityKeyMetadata)"}})
	var baseOnly []jobj
	for _, a := range attrs {
		var o jobj
		for i, k := range a.keys {
			if has(baseAttrProps, k) {
				o.add(k, a.vals[i])
			}
		}
		baseOnly = append(baseOnly, o)
	}
	b.metaEntityType("AttributeMetadata", "mscrm.MetadataBase", baseOnly, []string{"MetadataId"}, nil, nil)
	b.WriteString(`<EntityType Name="EnumAttributeMetadata" BaseType="mscrm.AttributeMetadata" Abstract="true"><Property Name="DefaultFormValue" Type="Edm.Int32"/>` +
		`<NavigationProperty Name="OptionSet" Type="mscrm.OptionSetMetadata"/><NavigationProperty Name="GlobalOptionSet" Type="mscrm.OptionSetMetadata"/></EntityType>`)
	derivedNames := make([]string, 0, len(byType))
	for _, n := range derivedType {
		if !has(derivedNames, n) {
			derivedNames = append(derivedNames, n)
		}
	}
	sort.Strings(derivedNames)
	for _, n := range derivedNames {
		baseType := "mscrm.AttributeMetadata"
		exclude := append([]string(nil), baseAttrProps...)
		extra := map[string]string{}
		switch n {
		case "PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata":
			baseType = "mscrm.EnumAttributeMetadata"
			exclude = append(exclude, "DefaultFormValue", "GlobalOptionSet")
		case "StringAttributeMetadata":
			extra = map[string]string{"Format": "mscrm.StringFormat", "MaxLength": "Edm.Int32", "DatabaseLength": "Edm.Int32"}
		case "MemoAttributeMetadata":
			extra = map[string]string{"Format": "mscrm.StringFormat", "MaxLength": "Edm.Int32", "DatabaseLength": "Edm.Int32"}
		case "DateTimeAttributeMetadata":
			extra = map[string]string{"Format": "mscrm.DateTimeFormat", "DateTimeBehavior": "mscrm.DateTimeBehavior"}
		case "LookupAttributeMetadata":
			extra = map[string]string{"Targets": "Collection(Edm.String)"}
		case "IntegerAttributeMetadata":
			extra = map[string]string{"MinValue": "Edm.Int32", "MaxValue": "Edm.Int32"}
		}
		b.metaEntityType(n, baseType, byType[n], exclude, extra, nil)
	}
	b.WriteString(`<EntityType Name="OptionSetMetadataBase" BaseType="mscrm.MetadataBase" Abstract="true"><Property Name="Name" Type="Edm.String" Unicode="false"/>` +
		`<Property Name="IsGlobal" Type="Edm.Boolean"/><Property Name="OptionSetType" Type="mscrm.OptionSetType"/></EntityType>`)
	b.WriteString(`<EntityType Name="OptionSetMetadata" BaseType="mscrm.OptionSetMetadataBase"><Property Name="Options" Type="Collection(mscrm.OptionMetadata)"/></EntityType>`)
	var keys []jobj
	for _, d := range defs {
		for _, k := range d.keys {
			keys = append(keys, keyMeta(d, k))
		}
	}
	if len(keys) == 0 {
		keys = []jobj{keyMeta(&tableDef{}, altKey{})}
	}
	b.metaEntityType("EntityKeyMetadata", "mscrm.MetadataBase", keys, []string{"MetadataId"}, nil, nil)
	// The complex forms RetrieveMetadataChanges answers with
	// (RetrieveMetadataChangesResponse.EntityMetadata is
	// Collection(ComplexEntityMetadata)), from the same builders.
	b.metaType("ComplexType", "ComplexEntityMetadata", "", ents, nil, map[string]string{"HasChanged": "Edm.Boolean",
		"Attributes": "Collection(mscrm.ComplexAttributeMetadata)", "Keys": "Collection(mscrm.ComplexEntityKeyMetadata)"}, nil)
	b.metaType("ComplexType", "ComplexAttributeMetadata", "", baseOnly, nil, map[string]string{"HasChanged": "Edm.Boolean"}, nil)
	for _, n := range derivedNames {
		exclude := append([]string(nil), baseAttrProps...)
		extra := map[string]string{}
		switch n {
		case "PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata":
			exclude = append(exclude, "GlobalOptionSet")
			extra = map[string]string{"OptionSet": "mscrm.ComplexOptionSetMetadata", "DefaultFormValue": "Edm.Int32"}
		case "StringAttributeMetadata", "MemoAttributeMetadata":
			extra = map[string]string{"Format": "mscrm.StringFormat", "MaxLength": "Edm.Int32", "DatabaseLength": "Edm.Int32"}
		case "DateTimeAttributeMetadata":
			extra = map[string]string{"Format": "mscrm.DateTimeFormat", "DateTimeBehavior": "mscrm.DateTimeBehavior"}
		case "LookupAttributeMetadata":
			extra = map[string]string{"Targets": "Collection(Edm.String)"}
		case "IntegerAttributeMetadata":
			extra = map[string]string{"MinValue": "Edm.Int32", "MaxValue": "Edm.Int32"}
		}
		b.metaType("ComplexType", "Complex"+n, "mscrm.ComplexAttributeMetadata", byType[n], exclude, extra, nil)
	}
	b.metaType("ComplexType", "ComplexEntityKeyMetadata", "", keys, nil, map[string]string{"HasChanged": "Edm.Boolean"}, nil)
	for _, ct := range csdlComplexTypes {
		fmt.Fprintf(&b, `<ComplexType Name="%s">`, ct.name)
		for _, p := range ct.props {
			b.prop(p.name, p.typ)
		}
		b.WriteString(`</ComplexType>`)
	}
	for _, et := range csdlEnumTypes {
		fmt.Fprintf(&b, `<EnumType Name="%s" UnderlyingType="Edm.Int32"`, et.name)
		if et.flags {
			b.WriteString(` IsFlags="true"`)
		}
		b.WriteString(`>`)
		for _, m := range et.members {
			n, v, _ := strings.Cut(m, "=")
			fmt.Fprintf(&b, `<Member Name="%s" Value="%s"/>`, n, v)
		}
		b.WriteString(`</EnumType>`)
	}
	for _, f := range csdlFunctions {
		b.operation("Function", f)
	}
	for _, a := range csdlActions {
		if a.name == "QualifyLead" && !held["lead"] {
			continue
		}
		b.operation("Action", a)
	}
	b.WriteString(`<EntityContainer Name="System">`)
	for _, d := range defs {
		fmt.Fprintf(&b, `<EntitySet Name="%s" EntityType="Microsoft.Dynamics.CRM.%s">`, d.set, d.logical)
		if annotate {
			fmt.Fprintf(&b, `<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record><PropertyValue Property="Supported" Bool="%t"/></Record></Annotation>`, d.changeTracking)
		}
		for _, c := range d.columns {
			if c.typ != tLookup && c.typ != tOwner {
				continue
			}
			for _, target := range c.lookupTargets() {
				if held[target] {
					fmt.Fprintf(&b, `<NavigationPropertyBinding Path="%s" Target="%s"/>`, c.navName(target), tableByLogical(defs, target).set)
				}
			}
		}
		b.WriteString(`</EntitySet>`)
	}
	b.WriteString(`<EntitySet Name="EntityDefinitions" EntityType="Microsoft.Dynamics.CRM.EntityMetadata"/>`)
	for _, f := range csdlFunctions {
		if !f.bound {
			fmt.Fprintf(&b, `<FunctionImport Name="%s" Function="Microsoft.Dynamics.CRM.%s" IncludeInServiceDocument="false"/>`, f.name, f.name)
		}
	}
	for _, a := range csdlActions {
		if !a.bound {
			fmt.Fprintf(&b, `<ActionImport Name="%s" Action="Microsoft.Dynamics.CRM.%s"/>`, a.name, a.name)
		}
	}
	b.WriteString(`</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>`)
	return b.String()
}

func tableByLogical(defs []*tableDef, logical string) *tableDef {
	for _, d := range defs {
		if d.logical == logical {
			return d
		}
	}
	return nil
}

// metadataDocument serves the CSDL $metadata document; with
// ?annotations=true the entity sets carry the
// Org.OData.Capabilities.V1.ChangeTracking annotation (reference §5).
func (e *Emulator) metadataDocument(w http.ResponseWriter, r *http.Request, rc *requestContext) *apiError {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	annotate := r.URL.Query().Get("annotations") == "true"
	rc.lock()
	var defs []*tableDef
	for _, t := range e.st.tables {
		defs = append(defs, t.def)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].logical < defs[j].logical })
	doc := csdl(defs, annotate) // under the lock: AddColumn may change a definition
	rc.unlock()
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(doc))
	return nil
}
