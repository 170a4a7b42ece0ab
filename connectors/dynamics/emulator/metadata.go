package emulator

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// This file serves the metadata the Web API exposes: EntityDefinitions (with
// Attributes, casts to the derived attribute types, OptionSet expansion and
// Keys) and the $metadata CSDL document.

// metaID derives a stable MetadataId from a name.
func metaID(name string) string {
	h := sha256.Sum256([]byte(name))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func label(s string) jobj {
	l := jobj{keys: []string{"Label", "LanguageCode", "IsManaged", "MetadataId", "HasChanged"}, vals: []any{s, 1033, true, metaID("label:" + s), nil}}
	return jobj{keys: []string{"LocalizedLabels", "UserLocalizedLabel"}, vals: []any{[]jobj{l}, l}}
}

func schemaName(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func entityMeta(d *tableDef) jobj {
	var o jobj
	o.add("MetadataId", metaID("entity:"+d.logical))
	o.add("LogicalName", d.logical)
	o.add("SchemaName", schemaName(d.logical))
	o.add("EntitySetName", d.set)
	o.add("LogicalCollectionName", d.set)
	o.add("PrimaryIdAttribute", d.key)
	o.add("PrimaryNameAttribute", d.primaryName)
	o.add("ObjectTypeCode", d.objectTypeCode)
	o.add("IsCustomEntity", d.custom)
	o.add("IsActivity", false)
	o.add("OwnershipType", "UserOwned")
	o.add("ChangeTrackingEnabled", d.changeTracking)
	o.add("IsOptimisticConcurrencyEnabled", true)
	o.add("DisplayName", label(schemaName(d.logical)))
	return o
}

var attrTypeName = map[attrType]string{
	tString: "StringType", tMemo: "MemoType", tGUID: "UniqueidentifierType", tDateTime: "DateTimeType",
	tPicklist: "PicklistType", tState: "StateType", tStatus: "StatusType", tBoolean: "BooleanType",
	tInteger: "IntegerType", tBigInt: "BigIntType", tDecimal: "DecimalType", tDouble: "DoubleType",
	tLookup: "LookupType", tOwner: "OwnerType",
}

var derivedType = map[attrType]string{
	tString: "StringAttributeMetadata", tMemo: "MemoAttributeMetadata", tGUID: "UniqueIdentifierAttributeMetadata",
	tDateTime: "DateTimeAttributeMetadata", tPicklist: "PicklistAttributeMetadata", tState: "StateAttributeMetadata",
	tStatus: "StatusAttributeMetadata", tBoolean: "BooleanAttributeMetadata", tInteger: "IntegerAttributeMetadata",
	tBigInt: "BigIntAttributeMetadata", tDecimal: "DecimalAttributeMetadata", tDouble: "DoubleAttributeMetadata",
	tLookup: "LookupAttributeMetadata", tOwner: "LookupAttributeMetadata",
}

// baseAttrProps are the properties of AttributeMetadata (selectable without
// a cast).
var baseAttrProps = []string{"MetadataId", "LogicalName", "SchemaName", "EntityLogicalName", "AttributeType", "AttributeTypeName",
	"IsCustomAttribute", "IsValidForCreate", "IsValidForUpdate", "IsValidForRead", "IsPrimaryId", "IsPrimaryName",
	"IsValidODataAttribute", "RequiredLevel", "AttributeOf", "DisplayName", "ColumnNumber"}

func attrMeta(d *tableDef, c *column, n int, expandOptions bool) jobj {
	var o jobj
	o.add("@odata.type", "#Microsoft.Dynamics.CRM."+derivedType[c.typ])
	// A lookup's logical name is the navigation name; the Web API shows
	// its value as _<name>_value (reference §3).
	logical := c.name
	if c.typ == tLookup || c.typ == tOwner {
		logical = strings.TrimSuffix(strings.TrimPrefix(c.name, "_"), "_value")
	}
	o.add("MetadataId", attrMetaID(d, c))
	o.add("LogicalName", logical)
	o.add("SchemaName", schemaName(logical))
	o.add("EntityLogicalName", d.logical)
	typ, typName := string(c.typ), attrTypeName[c.typ]
	if len(c.targets) > 1 {
		typ, typName = "Customer", "CustomerType"
	}
	o.add("AttributeType", typ)
	o.add("AttributeTypeName", jobj{keys: []string{"Value"}, vals: []any{typName}})
	o.add("IsCustomAttribute", c.custom)
	o.add("IsValidForCreate", c.validForCreate)
	o.add("IsValidForUpdate", c.validForUpdate)
	o.add("IsValidForRead", true)
	o.add("IsPrimaryId", c.name == d.key)
	o.add("IsPrimaryName", c.name == d.primaryName)
	o.add("IsValidODataAttribute", true)
	o.add("RequiredLevel", jobj{keys: []string{"Value", "CanBeChanged", "ManagedPropertyLogicalName"}, vals: []any{"None", true, "canmodifyrequirementlevelsettings"}})
	o.add("AttributeOf", nil)
	o.add("DisplayName", label(schemaName(c.name)))
	o.add("ColumnNumber", n+1)
	switch c.typ {
	case tString:
		format := "Text"
		switch {
		case strings.HasPrefix(c.name, "emailaddress"):
			format = "Email"
		case strings.Contains(c.name, "phone") || c.name == "fax":
			format = "Phone"
		case c.name == "websiteurl":
			format = "Url"
		}
		o.add("MaxLength", c.maxLength)
		o.add("DatabaseLength", c.maxLength*2)
		o.add("Format", format)
	case tMemo:
		o.add("MaxLength", c.maxLength)
		o.add("DatabaseLength", c.maxLength*2)
		o.add("Format", "TextArea")
	case tDateTime:
		if c.dateOnly {
			o.add("Format", "DateOnly")
			o.add("DateTimeBehavior", jobj{keys: []string{"Value"}, vals: []any{"DateOnly"}})
		} else {
			o.add("Format", "DateAndTime")
			o.add("DateTimeBehavior", jobj{keys: []string{"Value"}, vals: []any{"UserLocal"}})
		}
	case tInteger:
		o.add("MinValue", -2147483648)
		o.add("MaxValue", 2147483647)
	case tLookup, tOwner:
		o.add("Targets", c.lookupTargets())
	case tPicklist, tState, tStatus:
		o.add("DefaultFormValue", -1)
		if expandOptions {
			var opts []jobj
			for _, op := range c.options {
				oo := jobj{}
				oo.add("Value", op.value)
				oo.add("Label", label(op.label))
				if c.typ == tStatus {
					oo.add("State", op.state)
				}
				if c.typ == tState {
					oo.add("DefaultStatus", defaultStatus(d, op.value))
				}
				opts = append(opts, oo)
			}
			setType := map[attrType]string{tPicklist: "Picklist", tState: "State", tStatus: "Status"}[c.typ]
			o.add("OptionSet", jobj{keys: []string{"MetadataId", "Name", "IsGlobal", "OptionSetType", "Options"},
				vals: []any{metaID("os:" + d.logical + "." + c.name), d.logical + "_" + c.name, false, setType, opts}})
		}
	}
	return o
}

// attrMetaID is an attribute's MetadataId.
func attrMetaID(d *tableDef, c *column) string {
	return metaID("attr:" + d.logical + "." + logicalName(c))
}

func keyMeta(d *tableDef, k altKey) jobj {
	var o jobj
	o.add("MetadataId", metaID("key:"+k.logicalName))
	o.add("LogicalName", k.logicalName)
	o.add("SchemaName", k.logicalName)
	o.add("EntityLogicalName", d.logical)
	o.add("KeyAttributes", k.columns)
	o.add("EntityKeyIndexStatus", "Active")
	o.add("DisplayName", label(k.logicalName))
	return o
}

// metaSchema resolves $filter names against a metadata object.
type metaSchema struct {
	cols map[string]*column
	typ  string
}

func (m metaSchema) column(n string) (*column, bool) { c, ok := m.cols[n]; return c, ok }
func (m metaSchema) typeName() string                { return "Microsoft.Dynamics.CRM." + m.typ }

func schemaOfObjects(objs []jobj, typ string) metaSchema {
	s := metaSchema{cols: map[string]*column{}, typ: typ}
	for _, o := range objs {
		for i, k := range o.keys {
			if _, ok := s.cols[k]; ok {
				continue
			}
			switch o.vals[i].(type) {
			case bool:
				s.cols[k] = &column{name: k, typ: tBoolean}
			case int, int64:
				s.cols[k] = &column{name: k, typ: tInteger}
			case string:
				s.cols[k] = &column{name: k, typ: tString}
			}
		}
	}
	return s
}

func getter(o jobj) colGetter {
	return func(n string) any {
		for i, k := range o.keys {
			if k == n {
				switch v := o.vals[i].(type) {
				case int:
					return int64(v)
				case string:
					if wire.IsGUID(v) {
						return strings.ToLower(v)
					}
				}
				return o.vals[i]
			}
		}
		return nil
	}
}

// selectProps projects objects onto $select (keeping @odata.type), failing
// for a property the type does not have.
func selectProps(objs []jobj, q url.Values, allowed []string, typ string) ([]jobj, []string, *apiError) {
	raw := q.Get("$select")
	if raw == "" {
		return objs, nil, nil
	}
	allow := map[string]bool{}
	for _, a := range allowed {
		allow[a] = true
	}
	var sel []string
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		if !allow[s] {
			return nil, nil, errf(http.StatusBadRequest, codeNone, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", s, typ)
		}
		sel = append(sel, s)
	}
	out := make([]jobj, len(objs))
	for i, o := range objs {
		var n jobj
		for j, k := range o.keys {
			// Expanded navigation properties stay (they are only present
			// when $expand asked for them).
			expanded := k == "OptionSet" || k == "GlobalOptionSet" || k == "Attributes" || k == "Keys"
			if k == "@odata.type" || has(sel, k) || k == "MetadataId" || expanded {
				n.add(k, o.vals[j])
			}
		}
		out[i] = n
	}
	return out, sel, nil
}

func filterObjs(objs []jobj, q url.Values, typ string) ([]jobj, *apiError) {
	f := q.Get("$filter")
	if f == "" {
		return objs, nil
	}
	p, err := compileFilter(f, schemaOfObjects(objs, typ), nil)
	if err != nil {
		return nil, err
	}
	var out []jobj
	for _, o := range objs {
		if p(getter(o)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// expandParts parses $expand=Attributes($select=a,b),Keys into names and
// their nested $select.
func expandParts(v string) map[string]url.Values {
	out := map[string]url.Values{}
	depth, start := 0, 0
	add := func(part string) {
		part = strings.TrimSpace(part)
		if part == "" {
			return
		}
		name, opts, _ := strings.Cut(part, "(")
		vals := url.Values{}
		for _, o := range strings.Split(strings.TrimSuffix(opts, ")"), ";") {
			if k, v, ok := strings.Cut(o, "="); ok {
				vals.Set(strings.TrimSpace(k), v)
			}
		}
		out[strings.TrimSpace(name)] = vals
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				add(v[start:i])
				start = i + 1
			}
		}
	}
	add(v[start:])
	return out
}

func (e *Emulator) serveMetadata(w http.ResponseWriter, r *http.Request, rc *requestContext, segs []string) *apiError {
	if r.Method != http.MethodGet {
		return errf(http.StatusMethodNotAllowed, "", "The emulator does not support changing metadata.")
	}
	q := r.URL.Query()
	rc.lock()
	defs := map[string]*tableDef{}
	for k, t := range e.st.tables {
		defs[k] = t.def
	}
	// Render under the lock: AddColumn may change a definition.
	name, keyText, hasKey, err := splitKey(segs[0])
	if err != nil || name != "EntityDefinitions" {
		rc.unlock()
		return notFoundSegment(segs[0])
	}
	var def *tableDef
	if hasKey {
		want := keyText
		if k, v, ok := strings.Cut(keyText, "="); ok && strings.TrimSpace(k) == "LogicalName" {
			want = strings.Trim(strings.TrimSpace(v), "'")
		}
		for _, d := range defs {
			if d.logical == want || strings.EqualFold(metaID("entity:"+d.logical), want) {
				def = d
			}
		}
		if def == nil {
			rc.unlock()
			return errf(http.StatusNotFound, codeObjectNotExist, "Could not find an entity with specified key: %s.", keyText)
		}
	}
	out, aerr := e.metadataBody(rc, q, defs, def, segs)
	rc.unlock()
	if aerr != nil {
		return aerr
	}
	writeBody(w, http.StatusOK, out)
	return nil
}

func entityProps(d *tableDef) []string { return entityMeta(d).keys }

func (e *Emulator) metadataBody(rc *requestContext, q url.Values, defs map[string]*tableDef, def *tableDef, segs []string) (jobj, *apiError) {
	root := rc.apiRoot() + "$metadata#EntityDefinitions"
	if def == nil {
		if len(segs) > 1 {
			return jobj{}, notFoundSegment(segs[1])
		}
		names := make([]string, 0, len(defs))
		for n := range defs {
			names = append(names, n)
		}
		sort.Strings(names)
		var objs []jobj
		for _, n := range names {
			objs = append(objs, e.entityWithExpand(defs[n], q))
		}
		objs, err := filterObjs(objs, q, "EntityMetadata")
		if err != nil {
			return jobj{}, err
		}
		objs, sel, err := selectProps(objs, q, append(entityProps(defs["contact"]), "Attributes", "Keys"), "EntityMetadata")
		if err != nil {
			return jobj{}, err
		}
		if objs == nil {
			objs = []jobj{}
		}
		ctx := root
		if sel != nil {
			ctx += "(" + strings.Join(sel, ",") + ")"
		}
		return jobj{keys: []string{"@odata.context", "value"}, vals: []any{ctx, objs}}, nil
	}
	if len(segs) == 1 {
		o := e.entityWithExpand(def, q)
		objs, _, err := selectProps([]jobj{o}, q, append(entityProps(def), "Attributes", "Keys"), "EntityMetadata")
		if err != nil {
			return jobj{}, err
		}
		res := jobj{keys: []string{"@odata.context"}, vals: []any{root + "/$entity"}}
		res.keys = append(res.keys, objs[0].keys...)
		res.vals = append(res.vals, objs[0].vals...)
		return res, nil
	}
	switch {
	case segs[1] == "Keys" && len(segs) == 2:
		var objs []jobj
		for _, k := range def.keys {
			objs = append(objs, keyMeta(def, k))
		}
		if objs == nil {
			objs = []jobj{}
		}
		return jobj{keys: []string{"@odata.context", "value"}, vals: []any{root + "('" + def.logical + "')/Keys", objs}}, nil
	case strings.HasPrefix(segs[1], "Attributes"):
		attrName, attrKey, hasAttrKey, err := splitKey(segs[1])
		if err != nil || attrName != "Attributes" {
			return jobj{}, notFoundSegment(segs[1])
		}
		cast := ""
		if len(segs) == 3 {
			cast = strings.TrimPrefix(segs[2], "Microsoft.Dynamics.CRM.")
			known := false
			for _, dt := range derivedType {
				known = known || dt == cast
			}
			if !known || !strings.HasPrefix(segs[2], "Microsoft.Dynamics.CRM.") {
				return jobj{}, notFoundSegment(segs[2])
			}
		} else if len(segs) > 3 {
			return jobj{}, notFoundSegment(segs[3])
		}
		expandOpts := false
		if ex := q.Get("$expand"); ex != "" {
			parts := expandParts(ex)
			for n := range parts {
				if n != "OptionSet" && n != "GlobalOptionSet" {
					return jobj{}, errf(http.StatusBadRequest, codeNone, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.AttributeMetadata'.", n)
				}
				if cast != "PicklistAttributeMetadata" && cast != "StateAttributeMetadata" && cast != "StatusAttributeMetadata" {
					return jobj{}, errf(http.StatusBadRequest, codeNone, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.AttributeMetadata'.", n)
				}
			}
			expandOpts = true
		}
		var objs []jobj
		allowed := append([]string(nil), baseAttrProps...)
		for i, c := range def.columns {
			if cast != "" && derivedType[c.typ] != cast {
				continue
			}
			if hasAttrKey {
				want := attrKey
				if k, v, ok := strings.Cut(attrKey, "="); ok && strings.TrimSpace(k) == "LogicalName" {
					want = strings.Trim(strings.TrimSpace(v), "'")
				}
				if c.name != want && "_"+want+"_value" != c.name {
					continue
				}
			}
			o := attrMeta(def, c, i, expandOpts)
			objs = append(objs, o)
			if cast != "" {
				for _, k := range o.keys {
					if !has(allowed, k) && k != "@odata.type" {
						allowed = append(allowed, k)
					}
				}
			}
		}
		if cast != "" {
			allowed = append(allowed, castProps[cast]...)
		}
		objs, ferr := filterObjs(objs, q, "AttributeMetadata")
		if ferr != nil {
			return jobj{}, ferr
		}
		objs, sel, serr := selectProps(objs, q, allowed, "AttributeMetadata")
		if serr != nil {
			return jobj{}, serr
		}
		if objs == nil {
			objs = []jobj{}
		}
		ctx := root + "('" + def.logical + "')/Attributes"
		if cast != "" {
			ctx += "/Microsoft.Dynamics.CRM." + cast
		}
		if sel != nil {
			ctx += "(" + strings.Join(sel, ",") + ")"
		}
		if hasAttrKey {
			if len(objs) == 0 {
				return jobj{}, errf(http.StatusNotFound, codeObjectNotExist, "Could not find an attribute with specified key: %s.", attrKey)
			}
			res := jobj{keys: []string{"@odata.context"}, vals: []any{ctx + "/$entity"}}
			res.keys = append(res.keys, objs[0].keys...)
			res.vals = append(res.vals, objs[0].vals...)
			return res, nil
		}
		return jobj{keys: []string{"@odata.context", "value"}, vals: []any{ctx, objs}}, nil
	}
	return jobj{}, notFoundSegment(segs[1])
}

// castProps are properties of derived attribute types that are selectable
// after a cast even when no attribute of the table has them set.
var castProps = map[string][]string{
	"StringAttributeMetadata":   {"MaxLength", "DatabaseLength", "Format"},
	"MemoAttributeMetadata":     {"MaxLength", "DatabaseLength", "Format"},
	"DateTimeAttributeMetadata": {"Format", "DateTimeBehavior"},
	"PicklistAttributeMetadata": {"DefaultFormValue", "OptionSet", "GlobalOptionSet"},
	"StateAttributeMetadata":    {"DefaultFormValue", "OptionSet"},
	"StatusAttributeMetadata":   {"DefaultFormValue", "OptionSet"},
	"LookupAttributeMetadata":   {"Targets"},
	"IntegerAttributeMetadata":  {"MinValue", "MaxValue"},
}

func (e *Emulator) entityWithExpand(d *tableDef, q url.Values) jobj {
	o := entityMeta(d)
	ex := q.Get("$expand")
	if ex == "" {
		return o
	}
	for name, sub := range expandParts(ex) {
		switch name {
		case "Attributes":
			var attrs []jobj
			for i, c := range d.columns {
				attrs = append(attrs, attrMeta(d, c, i, false))
			}
			if sel, _, err := selectProps(attrs, sub, baseAttrProps, "AttributeMetadata"); err == nil {
				attrs = sel
			}
			o.add("Attributes", attrs)
		case "Keys":
			keys := []jobj{}
			for _, k := range d.keys {
				keys = append(keys, keyMeta(d, k))
			}
			o.add("Keys", keys)
		}
	}
	return o
}
