package dynamics

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
)

// Discovery reads EntityDefinitions (reference §2, §5): the tables synclang
// syncs (contact, lead) and every custom table, each with its attributes
// (types, maximum lengths, option sets, IsValidForUpdate → not ReadOnly),
// ChangeTrackingEnabled (→ Deletes, and delta reads) and alternate keys
// (→ Unique). The result is merged over the standard schema, so fields keep
// their documentation; columns the standard schema lacks come out Custom
// when the service says IsCustomAttribute. Other standard tables (a real
// organization has hundreds) are not listed.

type entityDef struct {
	LogicalName           string `json:"LogicalName"`
	EntitySetName         string `json:"EntitySetName"`
	PrimaryIDAttribute    string `json:"PrimaryIdAttribute"`
	ChangeTrackingEnabled bool   `json:"ChangeTrackingEnabled"`
	IsCustomEntity        bool   `json:"IsCustomEntity"`
}

type attrDef struct {
	LogicalName       string  `json:"LogicalName"`
	AttributeType     string  `json:"AttributeType"`
	IsValidForCreate  bool    `json:"IsValidForCreate"`
	IsValidForUpdate  bool    `json:"IsValidForUpdate"`
	IsCustomAttribute bool    `json:"IsCustomAttribute"`
	AttributeOf       *string `json:"AttributeOf"`
	MaxLength         int     `json:"MaxLength"`
	Format            string  `json:"Format"`
	OptionSet         *struct {
		Options []struct {
			Value int64 `json:"Value"`
			Label struct {
				UserLocalizedLabel *struct {
					Label string `json:"Label"`
				} `json:"UserLocalizedLabel"`
			} `json:"Label"`
		} `json:"Options"`
	} `json:"OptionSet"`
}

type keyDef struct {
	LogicalName   string   `json:"LogicalName"`
	KeyAttributes []string `json:"KeyAttributes"`
}

type listOf[T any] struct {
	Value []T `json:"value"`
}

func (c *Conn) getJSON(ctx context.Context, op, path string, out any) error {
	_, data, err := c.call(ctx, op, http.MethodGet, c.apiURL+path, nil, nil)
	if err != nil {
		return err
	}
	if err := decodeJSON(data, out); err != nil {
		return &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: op, Message: "the answer is not the JSON expected: " + err.Error()}
	}
	return nil
}

// Discover returns contact, lead and the custom tables with their columns.
// The schema comes from the schema cache while it is valid (see
// schemacache.go): within schemaTTL of its last validation, else
// revalidated with one request, else discovered.
func (c *Conn) Discover(ctx context.Context) (*connector.Schema, error) {
	return c.schema(ctx, false)
}

// Revalidate checks the schema with the service now (one
// RetrieveMetadataChanges when nothing changed) and returns it.
func (c *Conn) Revalidate(ctx context.Context) (*connector.Schema, error) {
	return c.schema(ctx, true)
}

func (c *Conn) schema(ctx context.Context, now bool) (*connector.Schema, error) {
	c.discoverMu.Lock()
	if now {
		c.markSchemaStale()
	}
	err := c.ensureSchema(ctx)
	c.discoverMu.Unlock()
	if err != nil {
		return nil, err
	}
	s := &connector.Schema{Version: connector.SchemaVersion, Kind: "dynamics"}
	c.mu.Lock()
	for _, ti := range c.discovered {
		s.Entities = append(s.Entities, ti.ent.Clone())
	}
	c.mu.Unlock()
	s.Normalize()
	return s, nil
}

func (c *Conn) discover(ctx context.Context) (map[string]*tableInfo, error) {
	var defs listOf[entityDef]
	q := encodeQuery(
		queryOption{"$select", "LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled,IsCustomEntity"},
		queryOption{"$filter", "IsCustomEntity eq true or LogicalName eq 'contact' or LogicalName eq 'lead'"})
	if err := c.getJSON(ctx, "discover tables", "EntityDefinitions?"+q, &defs); err != nil {
		return nil, err
	}
	std := StandardSchema()
	infos := map[string]*tableInfo{}
	for _, d := range defs.Value {
		if d.LogicalName == "" || d.EntitySetName == "" || d.PrimaryIDAttribute == "" {
			continue
		}
		ent, err := c.discoverTable(ctx, d, std)
		if err != nil {
			return nil, err
		}
		infos[d.LogicalName] = &tableInfo{ent: ent, set: d.EntitySetName, changeTracking: d.ChangeTrackingEnabled}
	}
	c.mu.Lock()
	for name, ti := range infos {
		if old, ok := c.tables[name]; ok {
			ti.noBulk = old.noBulk
		}
		c.tables[name] = ti
	}
	c.known = true
	c.mu.Unlock()
	return infos, nil
}

func (c *Conn) discoverTable(ctx context.Context, d entityDef, std *connector.Schema) (*connector.Entity, error) {
	base := fmt.Sprintf("EntityDefinitions(LogicalName=%s)/", quote(d.LogicalName))
	op := "discover " + d.LogicalName
	var attrs listOf[attrDef]
	if err := c.getJSON(ctx, op, base+"Attributes?"+encodeQuery(queryOption{"$select", "LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate,IsCustomAttribute,AttributeOf"}), &attrs); err != nil {
		return nil, err
	}
	details := map[string]attrDef{}
	for _, cast := range []struct{ typ, q string }{
		{"StringAttributeMetadata", "$select=LogicalName,MaxLength"},
		{"MemoAttributeMetadata", "$select=LogicalName,MaxLength"},
		{"DateTimeAttributeMetadata", "$select=LogicalName,Format"},
		{"PicklistAttributeMetadata", "$select=LogicalName&$expand=OptionSet($select=Options)"},
		{"StateAttributeMetadata", "$select=LogicalName&$expand=OptionSet($select=Options)"},
		{"StatusAttributeMetadata", "$select=LogicalName&$expand=OptionSet($select=Options)"},
	} {
		var got listOf[attrDef]
		if err := c.getJSON(ctx, op, base+"Attributes/Microsoft.Dynamics.CRM."+cast.typ+"?"+cast.q, &got); err != nil {
			return nil, err
		}
		for _, a := range got.Value {
			det := details[a.LogicalName]
			if a.MaxLength > 0 {
				det.MaxLength = a.MaxLength
			}
			if a.Format != "" {
				det.Format = a.Format
			}
			if a.OptionSet != nil {
				det.OptionSet = a.OptionSet
			}
			details[a.LogicalName] = det
		}
	}
	var keys listOf[keyDef]
	if err := c.getJSON(ctx, op, base+"Keys?"+encodeQuery(queryOption{"$select", "LogicalName,KeyAttributes"}), &keys); err != nil {
		return nil, err
	}
	unique := map[string]bool{}
	for _, k := range keys.Value {
		if len(k.KeyAttributes) == 1 {
			unique[k.KeyAttributes[0]] = true
		}
	}

	ent, ok := std.Entity(d.LogicalName)
	if ok {
		ent = ent.Clone()
	} else {
		ent = &connector.Entity{Name: d.LogicalName, Doc: fmt.Sprintf("Dataverse table %s (entity set %s).", d.LogicalName, d.EntitySetName)}
	}
	ent.Key = d.PrimaryIDAttribute
	ent.Deletes = d.ChangeTrackingEnabled
	fields := map[string]*connector.Field{}
	for _, f := range ent.Fields {
		fields[f.Name] = f
	}
	hasModified := false
	var out []*connector.Field
	for _, a := range attrs.Value {
		if a.AttributeOf != nil && *a.AttributeOf != "" {
			continue // shadow columns (names of lookups, yomi names)
		}
		det := details[a.LogicalName]
		a.MaxLength, a.Format, a.OptionSet = det.MaxLength, det.Format, det.OptionSet
		typ, ok := fieldType(a)
		if !ok {
			continue
		}
		name := a.LogicalName
		if a.AttributeType == "Lookup" || a.AttributeType == "Owner" || a.AttributeType == "Customer" {
			name = "_" + name + "_value" // how the Web API returns lookups (reference §3)
		}
		f, known := fields[name]
		if known {
			f = cloneField(f)
		} else {
			f = &connector.Field{Name: name, Custom: a.IsCustomAttribute, Doc: "Discovered column."}
			f.Lookup = a.AttributeType != "Memo" // every other column can be filtered on
			f.CaseInsensitive = typ == connector.String
		}
		f.Type = typ
		if a.MaxLength > 0 {
			f.MaxLength = a.MaxLength
		}
		if a.OptionSet != nil {
			f.Options = nil
			for _, o := range a.OptionSet.Options {
				lbl := ""
				if o.Label.UserLocalizedLabel != nil {
					lbl = o.Label.UserLocalizedLabel.Label
				}
				f.Options = append(f.Options, connector.Option{Value: o.Value, Label: lbl})
			}
		}
		f.ReadOnly = !a.IsValidForUpdate || name == ent.Key || strings.HasPrefix(name, "_")
		if name == ent.Key || unique[name] {
			f.Unique, f.Lookup = true, true
		}
		if name == "modifiedon" {
			hasModified = true
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	ent.Fields = out
	if hasModified {
		ent.Modified = "modifiedon"
	} else {
		ent.Modified = ""
	}
	// Incremental reads use change tracking, or the modifiedon watermark
	// when the table does not track changes.
	ent.Incremental = d.ChangeTrackingEnabled || hasModified
	if _, ok := ent.Field(ent.Key); !ok {
		return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: op, Message: fmt.Sprintf("table %s has no primary key column %s", d.LogicalName, ent.Key)}
	}
	return ent, nil
}

func cloneField(f *connector.Field) *connector.Field {
	c := *f
	c.Options = append([]connector.Option(nil), f.Options...)
	c.Enum = append([]string(nil), f.Enum...)
	return &c
}

// fieldType maps an AttributeType to a field type; columns of other types
// (images, files, party lists, multi-select choices, virtual) are skipped.
func fieldType(a attrDef) (connector.Type, bool) {
	switch a.AttributeType {
	case "String", "Memo":
		return connector.String, true
	case "Uniqueidentifier", "Lookup", "Owner", "Customer":
		return connector.ID, true
	case "DateTime":
		if a.Format == "DateOnly" {
			return connector.Date, true
		}
		return connector.DateTime, true
	case "Picklist", "State", "Status":
		return connector.Choice, true
	case "Boolean":
		return connector.Bool, true
	case "Integer", "BigInt":
		return connector.Int, true
	case "Decimal", "Double", "Money":
		return connector.Decimal, true
	}
	return "", false
}

// table returns what the connector knows about an entity, discovering the
// environment's tables the first time (the entity set name and change
// tracking come from there) and revalidating them after schemaTTL.
func (c *Conn) table(ctx context.Context, entity string) (*tableInfo, error) {
	c.mu.Lock()
	ti, ok := c.tables[entity]
	fresh := c.known && c.now().Sub(c.validated) < c.ttl
	c.mu.Unlock()
	if ok && fresh {
		return ti, nil
	}
	// One discovery at a time: concurrent calls wait for it.
	c.discoverMu.Lock()
	err := c.ensureSchema(ctx)
	c.discoverMu.Unlock()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ti, ok := c.tables[entity]; ok {
		return ti, nil
	}
	names := make([]string, 0, len(c.tables))
	for n := range c.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "find table " + entity,
		Message: fmt.Sprintf("no table %q in %s (have %s)", entity, c.set.url, strings.Join(names, ", ")),
		Hint:    "use the table's logical name (contact, lead, or a custom table such as new_project)"}
}
