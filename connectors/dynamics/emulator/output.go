package emulator

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jobj is a JSON object that keeps its keys in order: the service writes
// "@odata.etag" first, then the selected columns, then the primary key
// (see testdata/reference/contacts-query-page1-response.json).
type jobj struct {
	keys []string
	vals []any
}

func (o *jobj) add(k string, v any) {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

func (o jobj) MarshalJSON() ([]byte, error) { return appendJSON(nil, o), nil }

// appendJSON appends v as JSON without HTML escaping (the service does not
// escape <, > and &).
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case json.Number:
		return append(b, x.String()...)
	case jobj:
		b = append(b, '{')
		for i, k := range x.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x.vals[i])
		}
		return append(b, '}')
	case *jobj:
		return appendJSON(b, *x)
	case []jobj:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case []string:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o := jobj{}
		for _, k := range keys {
			o.add(k, x[k])
		}
		return appendJSON(b, o)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, data...)
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// wireValue is a stored value in its JSON form.
func wireValue(c *column, v any) any {
	if t, ok := v.(time.Time); ok {
		if c != nil && c.dateOnly {
			return t.Format("2006-01-02")
		}
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	return v
}

// etag is the row's weak ETag, W/"<versionnumber>" (reference §3).
func etag(r *row) string { return `W/"` + strconv.FormatInt(r.version, 10) + `"` }

// annotations says which instance annotations a response includes
// (Prefer: odata.include-annotations).
type annotations struct {
	formatted, lookups bool
}

func parseAnnotations(v string) annotations {
	var a annotations
	for _, p := range strings.Split(strings.Trim(v, `"`), ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "*":
			return annotations{formatted: true, lookups: true}
		case p == "OData.Community.Display.V1.FormattedValue", p == "OData.Community.Display.V1.*":
			a.formatted = true
		case strings.HasPrefix(p, "Microsoft.Dynamics.CRM."):
			a.lookups = true
		}
	}
	return a
}

// rowObj renders a row: @odata.etag, the selected columns (all when sel is
// nil) in the order given, then the primary key when not selected. s
// resolves the records lookups refer to (nil: no lookup names).
func rowObj(s *store, def *tableDef, r *row, sel []string, ann annotations) jobj {
	var o jobj
	o.add("@odata.etag", etag(r))
	cols := sel
	if cols == nil {
		cols = def.columnNames()
	}
	keyDone := false
	for _, name := range cols {
		c, _ := def.col(name)
		addValue(&o, s, name, def, c, r, ann)
		if name == def.key {
			keyDone = true
		}
	}
	if !keyDone {
		o.add(def.key, r.id)
	}
	return o
}

// addValue adds a column's value under key, preceded by the annotations
// Prefer: odata.include-annotations asked for. For a lookup these are
// ("Select columns", lookup property data,
// https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/select-columns#lookup-property-data):
//
//	"_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "<the related record's primary name>",
//	"_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "parentcustomerid_contact",
//	"_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
//	"_parentcustomerid_value": "<guid>"
//
// where lookuplogicalname names the table the value actually refers to (a
// Customer lookup refers to an account or a contact).
func addValue(o *jobj, s *store, key string, def *tableDef, c *column, r *row, ann annotations) {
	v := r.vals[c.name]
	if v != nil && (c.typ == tLookup || c.typ == tOwner) {
		target := c.target
		if t, ok := r.vals[targetKey(c)].(string); ok && t != "" {
			target = t
		}
		if ann.formatted {
			if name, ok := lookupName(s, target, v); ok {
				o.add(key+"@OData.Community.Display.V1.FormattedValue", name)
			}
		}
		if ann.lookups {
			o.add(key+"@Microsoft.Dynamics.CRM.associatednavigationproperty", c.navName(target))
			o.add(key+"@Microsoft.Dynamics.CRM.lookuplogicalname", target)
		}
		o.add(key, v)
		return
	}
	if ann.formatted && v != nil {
		if f, ok := formatted(c, v); ok {
			o.add(key+"@OData.Community.Display.V1.FormattedValue", f)
		}
	}
	o.add(key, wireValue(c, v))
}

// lookupName is the primary name of the record a lookup refers to: a row
// the emulator holds, or the emulator's fixed user and business unit.
func lookupName(s *store, target string, v any) (string, bool) {
	id, _ := v.(string)
	switch target {
	case "systemuser":
		if id == emulatorUserID {
			return emulatorUserName, true
		}
	case "businessunit":
		if id == emulatorBusinessUnitID {
			return emulatorBusinessUnitName, true
		}
	}
	if s == nil {
		return "", false
	}
	t, ok := s.tables[target]
	if !ok {
		return "", false
	}
	row, ok := t.rows[strings.ToLower(id)]
	if !ok {
		return "", false
	}
	name, ok := row.vals[t.def.primaryName].(string)
	return name, ok && name != ""
}

// formatted is the FormattedValue annotation of a value (en-US formats).
func formatted(c *column, v any) (string, bool) {
	switch c.typ {
	case tPicklist, tState, tStatus:
		i, _ := v.(int64)
		for _, op := range c.options {
			if op.value == i {
				return op.label, true
			}
		}
	case tBoolean:
		if b, _ := v.(bool); b {
			return "Yes", true
		}
		return "No", true
	case tDateTime:
		t, _ := v.(time.Time)
		if c.dateOnly {
			return t.Format("1/2/2006"), true
		}
		return t.Format("1/2/2006 3:04 PM"), true
	case tInteger, tBigInt:
		return strconv.FormatInt(v.(int64), 10), true
	}
	return "", false
}

// wireRow returns every column of a row in JSON form (for inspection).
func wireRow(def *tableDef, r *row) map[string]any {
	out := make(map[string]any, len(r.vals))
	for _, c := range def.columns {
		out[c.name] = wireValue(c, r.vals[c.name])
	}
	return out
}

// writeBody writes a JSON answer with the service's headers.
func writeBody(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("OData-Version", "4.0")
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	w.WriteHeader(status)
	_, _ = w.Write(appendJSON(nil, v))
}

// jsonish converts Go test values (ints, time.Time) to the JSON forms a
// request body decodes to, for Insert and Update.
func jsonish(fields map[string]any) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		switch x := v.(type) {
		case int:
			out[k] = json.Number(strconv.Itoa(x))
		case int64:
			out[k] = json.Number(strconv.FormatInt(x, 10))
		case float64:
			out[k] = json.Number(strconv.FormatFloat(x, 'f', -1, 64))
		case time.Time:
			out[k] = x.UTC().Format(time.RFC3339)
		default:
			out[k] = v
		}
	}
	return out
}
