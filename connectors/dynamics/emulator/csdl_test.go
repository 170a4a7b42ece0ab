package emulator

import (
	"encoding/xml"
	"net/url"
	"sort"
	"strings"
	"testing"
)

const (
	nsEdmx = "http://docs.oasis-open.org/odata/ns/edmx"
	nsEdm  = "http://docs.oasis-open.org/odata/ns/edm"
)

type csdlDoc struct {
	XMLName    xml.Name
	Version    string `xml:"Version,attr"`
	References []struct {
		URI      string `xml:"Uri,attr"`
		Includes []struct {
			Namespace string `xml:"Namespace,attr"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edmx Include"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edmx Reference"`
	DataServices struct {
		Schemas []csdlSchema `xml:"http://docs.oasis-open.org/odata/ns/edm Schema"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edmx DataServices"`
}

type csdlProp struct {
	Name string `xml:"Name,attr"`
	Type string `xml:"Type,attr"`
}

type csdlNav struct {
	Name        string `xml:"Name,attr"`
	Type        string `xml:"Type,attr"`
	Constraints []struct {
		Property           string `xml:"Property,attr"`
		ReferencedProperty string `xml:"ReferencedProperty,attr"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm ReferentialConstraint"`
}

type csdlType struct {
	Name     string `xml:"Name,attr"`
	BaseType string `xml:"BaseType,attr"`
	Abstract bool   `xml:"Abstract,attr"`
	Keys     []struct {
		Refs []csdlProp `xml:"http://docs.oasis-open.org/odata/ns/edm PropertyRef"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm Key"`
	Props []csdlProp `xml:"http://docs.oasis-open.org/odata/ns/edm Property"`
	Navs  []csdlNav  `xml:"http://docs.oasis-open.org/odata/ns/edm NavigationProperty"`
}

type csdlOp struct {
	Name    string     `xml:"Name,attr"`
	IsBound bool       `xml:"IsBound,attr"`
	Params  []csdlProp `xml:"http://docs.oasis-open.org/odata/ns/edm Parameter"`
	Return  *csdlProp  `xml:"http://docs.oasis-open.org/odata/ns/edm ReturnType"`
}

type csdlSchema struct {
	Namespace    string     `xml:"Namespace,attr"`
	Alias        string     `xml:"Alias,attr"`
	EntityTypes  []csdlType `xml:"http://docs.oasis-open.org/odata/ns/edm EntityType"`
	ComplexTypes []csdlType `xml:"http://docs.oasis-open.org/odata/ns/edm ComplexType"`
	EnumTypes    []struct {
		Name    string `xml:"Name,attr"`
		Members []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:"Value,attr"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm Member"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm EnumType"`
	Functions []csdlOp `xml:"http://docs.oasis-open.org/odata/ns/edm Function"`
	Actions   []csdlOp `xml:"http://docs.oasis-open.org/odata/ns/edm Action"`
	Container struct {
		Name       string `xml:"Name,attr"`
		EntitySets []struct {
			Name       string `xml:"Name,attr"`
			EntityType string `xml:"EntityType,attr"`
			Bindings   []struct {
				Path   string `xml:"Path,attr"`
				Target string `xml:"Target,attr"`
			} `xml:"http://docs.oasis-open.org/odata/ns/edm NavigationPropertyBinding"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm EntitySet"`
		FunctionImports []struct {
			Name     string `xml:"Name,attr"`
			Function string `xml:"Function,attr"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm FunctionImport"`
		ActionImports []struct {
			Name   string `xml:"Name,attr"`
			Action string `xml:"Action,attr"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm ActionImport"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm EntityContainer"`
}

var edmPrimitives = map[string]bool{"Edm.String": true, "Edm.Guid": true, "Edm.Int32": true, "Edm.Int64": true, "Edm.Boolean": true,
	"Edm.Decimal": true, "Edm.Double": true, "Edm.Date": true, "Edm.DateTimeOffset": true}

func getCSDL(t *testing.T, c *client) (csdlDoc, csdlSchema) {
	t.Helper()
	rec := c.do("GET", "/api/data/v9.2/$metadata", "")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/xml" {
		t.Fatalf("$metadata: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc csdlDoc
	if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("$metadata is not XML: %v", err)
	}
	if doc.XMLName.Space != nsEdmx || doc.XMLName.Local != "Edmx" || doc.Version != "4.0" || len(doc.DataServices.Schemas) != 1 {
		t.Fatalf("root %v version %q schemas %d", doc.XMLName, doc.Version, len(doc.DataServices.Schemas))
	}
	return doc, doc.DataServices.Schemas[0]
}

// TestCSDL: the $metadata document is OData CSDL XML (edmx/edm namespaces,
// Version 4.0) whose every type reference resolves, whose keys and
// referential constraints name declared properties, and which declares
// every entity set, function and action the emulator serves and nothing it
// does not (each declared operation is probed over HTTP, and so are the
// operations of the real service the emulator does not declare).
func TestCSDL(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{Seed: 2})
	doc, s := getCSDL(t, c)
	if s.Namespace != "Microsoft.Dynamics.CRM" || s.Alias != "mscrm" || s.Container.Name != "System" {
		t.Fatalf("schema %q alias %q container %q", s.Namespace, s.Alias, s.Container.Name)
	}
	for _, r := range doc.References {
		if r.URI == "" || len(r.Includes) == 0 {
			t.Errorf("reference %+v", r)
		}
	}
	declared := map[string]bool{}
	entities := map[string]csdlType{}
	for _, et := range s.EntityTypes {
		declared[et.Name] = true
		entities[et.Name] = et
	}
	for _, ct := range s.ComplexTypes {
		declared[ct.Name] = true
	}
	for _, en := range s.EnumTypes {
		declared[en.Name] = true
		if len(en.Members) == 0 {
			t.Errorf("enum %s has no members", en.Name)
		}
	}
	for _, want := range []string{"WhoAmIResponse", "Label", "LocalizedLabel", "EntityMetadata", "AttributeMetadata", "RetrieveMetadataChangesResponse",
		"EntityQueryExpression", "DeletedMetadataFilters", "OwnershipTypes", "AttributeTypeCode", "contact", "lead"} {
		if !declared[want] {
			t.Errorf("%s not declared", want)
		}
	}
	resolve := func(where, typ string) {
		t.Helper()
		typ = strings.TrimSuffix(strings.TrimPrefix(typ, "Collection("), ")")
		switch {
		case edmPrimitives[typ]:
		case strings.HasPrefix(typ, "mscrm.") && declared[strings.TrimPrefix(typ, "mscrm.")]:
		case strings.HasPrefix(typ, "Microsoft.Dynamics.CRM.") && declared[strings.TrimPrefix(typ, "Microsoft.Dynamics.CRM.")]:
		default:
			t.Errorf("%s: type %q is not declared", where, typ)
		}
	}
	// properties of an entity type with those it inherits
	var allProps func(name string) map[string]string
	allProps = func(name string) map[string]string {
		et := entities[name]
		out := map[string]string{}
		if et.BaseType != "" {
			out = allProps(strings.TrimPrefix(et.BaseType, "mscrm."))
		}
		for _, p := range et.Props {
			if _, dup := out[p.Name]; dup {
				t.Errorf("%s.%s declared twice", name, p.Name)
			}
			out[p.Name] = p.Type
		}
		for _, n := range et.Navs {
			out[n.Name] = n.Type
		}
		return out
	}
	keyOf := func(name string) []csdlProp {
		for et := entities[name]; ; et = entities[strings.TrimPrefix(et.BaseType, "mscrm.")] {
			if len(et.Keys) > 0 || et.BaseType == "" {
				if len(et.Keys) == 0 {
					return nil
				}
				return et.Keys[0].Refs
			}
		}
	}
	for _, et := range append(s.EntityTypes, s.ComplexTypes...) {
		if et.BaseType != "" {
			resolve(et.Name+" BaseType", et.BaseType)
		}
		for _, p := range et.Props {
			resolve(et.Name+"."+p.Name, p.Type)
		}
		for _, n := range et.Navs {
			resolve(et.Name+"."+n.Name, n.Type)
			for _, rc := range n.Constraints {
				target := strings.TrimPrefix(n.Type, "mscrm.")
				if _, ok := allProps(et.Name)[rc.Property]; !ok {
					t.Errorf("%s.%s: constraint property %s not declared", et.Name, n.Name, rc.Property)
				}
				if _, ok := allProps(target)[rc.ReferencedProperty]; !ok {
					t.Errorf("%s.%s: referenced property %s not declared on %s", et.Name, n.Name, rc.ReferencedProperty, target)
				}
			}
		}
	}
	for _, et := range s.EntityTypes {
		if et.Abstract || et.Name == "crmbaseentity" {
			continue
		}
		key := keyOf(et.Name)
		if len(key) == 0 {
			t.Errorf("entity type %s has no key", et.Name)
		}
		for _, k := range key {
			if _, ok := allProps(et.Name)[k.Name]; !ok {
				t.Errorf("%s key %s is not a property", et.Name, k.Name)
			}
		}
	}
	for _, op := range append(s.Functions, s.Actions...) {
		for _, p := range op.Params {
			resolve(op.Name+"("+p.Name+")", p.Type)
		}
		if op.Return != nil {
			resolve(op.Name+" ReturnType", op.Return.Type)
		}
	}

	// Entity sets: exactly the served ones, each answering.
	var sets []string
	for _, es := range s.Container.EntitySets {
		resolve("EntitySet "+es.Name, es.EntityType)
		sets = append(sets, es.Name)
		c.want(c.do("GET", "/api/data/v9.2/"+es.Name+"?$top=1", ""), 200, "")
		for _, b := range es.Bindings {
			if _, ok := allProps(strings.TrimPrefix(es.EntityType, "Microsoft.Dynamics.CRM."))[b.Path]; !ok {
				t.Errorf("%s binding %s is not a navigation property", es.Name, b.Path)
			}
		}
	}
	sort.Strings(sets)
	c.e.mu.Lock()
	want := append(sortedSetNames(func() map[string]*tableDef {
		m := map[string]*tableDef{}
		for k, t := range c.e.st.tables {
			m[k] = t.def
		}
		return m
	}()), "EntityDefinitions")
	c.e.mu.Unlock()
	sort.Strings(want)
	if strings.Join(sets, ",") != strings.Join(want, ",") {
		t.Errorf("entity sets %v, want %v", sets, want)
	}

	// Operations: each declared one is served; unbound functions have a
	// FunctionImport.
	imports := map[string]bool{}
	for _, fi := range s.Container.FunctionImports {
		imports[fi.Name] = true
		if fi.Function != "Microsoft.Dynamics.CRM."+fi.Name {
			t.Errorf("FunctionImport %s names %s", fi.Name, fi.Function)
		}
	}
	lead := c.e.Insert("lead", map[string]any{"lastname": "L"})
	served := func(name string, function bool, bound string) bool {
		t.Helper()
		var path string
		method := "POST"
		switch {
		case function:
			method, path = "GET", "/api/data/v9.2/"+name+"()"
			if name == "RetrieveMetadataChanges" {
				path = "/api/data/v9.2/RetrieveMetadataChanges(Query=@q)?@q=" + url.QueryEscape(`{"Criteria":{"FilterOperator":"And","Conditions":[]}}`)
			}
		case bound == "mscrm.lead":
			path = "/api/data/v9.2/leads(" + lead + ")/Microsoft.Dynamics.CRM." + name
		case bound != "":
			path = "/api/data/v9.2/contacts/Microsoft.Dynamics.CRM." + name
		default:
			path = "/api/data/v9.2/" + name
		}
		rec := c.do(method, path, `{}`)
		return rec.Code != 404 || !strings.Contains(rec.Body.String(), codeResourceNotFound)
	}
	names := map[string]bool{}
	for _, f := range s.Functions {
		names[f.Name] = true
		if !f.IsBound && !imports[f.Name] {
			t.Errorf("function %s has no FunctionImport", f.Name)
		}
		if !served(f.Name, true, "") {
			t.Errorf("function %s is declared but not served", f.Name)
		}
	}
	for _, a := range s.Actions {
		names[a.Name] = true
		bound := ""
		if a.IsBound {
			bound = a.Params[0].Type
		}
		if !served(a.Name, false, bound) {
			t.Errorf("action %s is declared but not served", a.Name)
		}
	}
	for _, a := range s.Container.ActionImports {
		if !names[a.Name] {
			t.Errorf("ActionImport %s has no Action", a.Name)
		}
	}
	// Operations of the real service: those the emulator answers must be
	// declared, the rest must answer 404.
	for _, op := range []struct {
		name     string
		function bool
		bound    string
	}{
		{"WhoAmI", true, ""}, {"RetrieveMetadataChanges", true, ""}, {"RetrieveTotalRecordCount", true, ""}, {"RetrieveVersion", true, ""},
		{"RetrieveCurrentOrganization", true, ""}, {"ExecuteWorkflow", false, "x"}, {"Merge", false, ""}, {"SendEmail", false, "x"},
		{"CreateMultiple", false, "x"}, {"UpdateMultiple", false, "x"}, {"UpsertMultiple", false, "x"}, {"DeleteMultiple", false, "x"},
		{"QualifyLead", false, "mscrm.lead"}, {"WinOpportunity", false, ""}, {"InitializeFrom", true, ""}, {"BulkDelete", false, ""},
	} {
		if served(op.name, op.function, op.bound) && !names[op.name] {
			t.Errorf("%s is served but not declared", op.name)
		}
	}

	// One definition: each table's CSDL properties are the attributes
	// EntityDefinitions reports, before and after a column is added.
	check := func() {
		t.Helper()
		_, s := getCSDL(t, c)
		for _, et := range s.EntityTypes {
			if et.Name != "contact" && et.Name != "lead" {
				continue
			}
			b := c.want(c.do("GET", "/api/data/v9.2/EntityDefinitions(LogicalName='"+et.Name+"')/Attributes?$select=LogicalName,AttributeType", ""), 200, "")
			var fromDefs, fromCSDL []string
			for _, a := range b["value"].([]any) {
				m := a.(map[string]any)
				n := m["LogicalName"].(string)
				if at := m["AttributeType"]; at == "Lookup" || at == "Owner" || at == "Customer" {
					n = "_" + n + "_value"
				}
				fromDefs = append(fromDefs, n)
			}
			for _, p := range et.Props {
				fromCSDL = append(fromCSDL, p.Name)
			}
			sort.Strings(fromDefs)
			sort.Strings(fromCSDL)
			if strings.Join(fromDefs, ",") != strings.Join(fromCSDL, ",") {
				t.Errorf("%s: CSDL properties %v, EntityDefinitions %v", et.Name, fromCSDL, fromDefs)
			}
		}
		// Every EntityMetadata property is selectable on EntityDefinitions.
		var props []string
		for _, p := range entities["EntityMetadata"].Props {
			props = append(props, p.Name)
		}
		c.want(c.do("GET", "/api/data/v9.2/EntityDefinitions?$select="+strings.Join(props, ","), ""), 200, "")
	}
	check()
	c.e.AddColumn("contact", "new_loyaltytier", "String", 40)
	check()
	_, s = getCSDL(t, c)
	found := false
	for _, et := range s.EntityTypes {
		for _, p := range et.Props {
			found = found || (et.Name == "contact" && p.Name == "new_loyaltytier" && p.Type == "Edm.String")
		}
		if et.Name == "contact" {
			var navs []string
			for _, n := range et.Navs {
				navs = append(navs, n.Name+":"+n.Type)
			}
			if !has(navs, "parentcustomerid_contact:mscrm.contact") || !has(navs, "originatingleadid:mscrm.lead") {
				t.Errorf("contact navigation properties %v", navs)
			}
		}
	}
	if !found {
		t.Errorf("added column not in $metadata")
	}
}
