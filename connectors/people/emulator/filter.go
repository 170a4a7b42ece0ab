package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pred is a compiled list filter.
type pred func(*person) bool

// compileFilter parses the `filter` parameter of GET /people/2/persons
// (reference §3.2): a JSON object whose keys are ANDed; "#and" / "#or" take
// an array of filters; "#eq", "#ne", "#contains", "#notContain",
// "#startsWith", "#endsWith", "#gt", "#lt", "#gte", "#lte" take an object of
// field: value; a bare field: value is equality.
//
// Which fields are filterable is not documented (UNCERTAIN). The emulator
// accepts the standard attributes, id, type, origin, modifiedFrom,
// createdAt and modifiedAt (unless Options.NoDateFilters), tags (#contains:
// has the tag), email and phone (any of the person's), and custom
// attributes as "customAttributes.NAME" or NAME. Operators must suit the
// field's type, as the spec's table says (#gt on a string is a 400). A
// person without a value matches only #ne and #notContain.
func (e *Emulator) compileFilter(s string) (pred, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var node any
	if err := dec.Decode(&node); err != nil {
		return nil, fmt.Errorf("filter is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("filter is not valid JSON: data after the object")
	}
	return e.compileNode(node)
}

// modifiedBounds returns bounds on modifiedAt that every person a filter
// matches is within (nil: none found): the modifiedAt comparisons ANDed at
// the filter's top, directly or through #and. They may be wider than the
// filter (the filter is still applied), never narrower. The filter must
// have compiled.
func modifiedBounds(s string) (lo, hi *time.Time) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var node any
	if dec.Decode(&node) != nil {
		return nil, nil
	}
	var walk func(node any)
	walk = func(node any) {
		obj, _ := node.(map[string]any)
		for key, val := range obj {
			if key == "#and" {
				list, _ := val.([]any)
				for _, n := range list {
					walk(n)
				}
				continue
			}
			fields, _ := val.(map[string]any)
			raw, ok := fields["modifiedAt"]
			if !ok {
				continue
			}
			str, _ := raw.(string)
			t, err := parseFilterTime(str, false)
			if err != nil {
				continue
			}
			floor := t.Truncate(time.Second)
			if key == "#gte" || key == "#gt" || key == "#eq" {
				if lo == nil || floor.After(*lo) {
					lo = &floor
				}
			}
			if key == "#lte" || key == "#lt" || key == "#eq" {
				if hi == nil || t.Before(*hi) {
					hi = &t
				}
			}
		}
	}
	walk(node)
	return lo, hi
}

var comparisons = []string{"#eq", "#ne", "#contains", "#notContain", "#startsWith", "#endsWith", "#gt", "#lt", "#gte", "#lte"}

func (e *Emulator) compileNode(node any) (pred, error) {
	obj, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a filter must be a JSON object, not %s", jsonKind(node))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var preds []pred
	for _, key := range keys {
		val := obj[key]
		switch {
		case key == "#and" || key == "#or":
			list, ok := val.([]any)
			if !ok {
				return nil, fmt.Errorf("%s takes an array of filters", key)
			}
			var subs []pred
			for _, n := range list {
				p, err := e.compileNode(n)
				if err != nil {
					return nil, err
				}
				subs = append(subs, p)
			}
			if key == "#and" {
				preds = append(preds, all(subs))
			} else {
				preds = append(preds, anyOf(subs))
			}
		case slices.Contains(comparisons, key):
			fields, ok := val.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s takes an object of field: value", key)
			}
			names := make([]string, 0, len(fields))
			for f := range fields {
				names = append(names, f)
			}
			sort.Strings(names)
			for _, f := range names {
				p, err := e.comparison(key, f, fields[f])
				if err != nil {
					return nil, err
				}
				preds = append(preds, p)
			}
		case strings.HasPrefix(key, "#"):
			return nil, fmt.Errorf("unknown operator %s", key)
		default:
			p, err := e.comparison("#eq", key, val)
			if err != nil {
				return nil, err
			}
			preds = append(preds, p)
		}
	}
	return all(preds), nil
}

func all(ps []pred) pred {
	return func(p *person) bool {
		for _, f := range ps {
			if !f(p) {
				return false
			}
		}
		return true
	}
}

func anyOf(ps []pred) pred {
	return func(p *person) bool {
		for _, f := range ps {
			if f(p) {
				return true
			}
		}
		return false
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return "an object"
}

type fieldKind int

const (
	kString fieldKind = iota
	kNumber
	kDate
	kDateTime
	kBool
	kList      // tags
	kEmailList // case-insensitive
)

// field resolves a filter field to its kind and a getter.
func (e *Emulator) field(name string) (fieldKind, func(*person) (any, bool), error) {
	str := func(get func(*person) string) func(*person) (any, bool) {
		return func(p *person) (any, bool) { s := get(p); return s, s != "" }
	}
	switch name {
	case "id":
		return kNumber, func(p *person) (any, bool) { return float64(p.ID), true }, nil
	case "externalId":
		return kString, str(func(p *person) string { return p.ExternalID }), nil
	case "type":
		return kString, str(func(p *person) string { return p.Type }), nil
	case "origin":
		return kString, str(func(p *person) string { return p.Origin }), nil
	case "modifiedFrom":
		return kString, str(func(p *person) string { return p.ModifiedFrom }), nil
	case "createdAt", "modifiedAt":
		if e.opts.NoDateFilters {
			return 0, nil, fmt.Errorf("filtering by %s is not supported", name)
		}
		if name == "createdAt" {
			return kDateTime, func(p *person) (any, bool) { return p.CreatedAt.UTC().Truncate(time.Second), true }, nil
		}
		return kDateTime, func(p *person) (any, bool) { return p.ModifiedAt.UTC().Truncate(time.Second), true }, nil
	case "birthDate":
		return kDate, func(p *person) (any, bool) {
			t, err := time.Parse(dateLayout, p.Attrs["birthDate"])
			return t, err == nil
		}, nil
	case "tags":
		return kList, func(p *person) (any, bool) { return p.Tags, len(p.Tags) > 0 }, nil
	case "email", "contactInformation.email":
		return kEmailList, func(p *person) (any, bool) { return p.Emails, len(p.Emails) > 0 }, nil
	case "phone", "contactInformation.phone":
		return kList, func(p *person) (any, bool) { return p.Phones, len(p.Phones) > 0 }, nil
	}
	if isStandardAttr(name) {
		return kString, str(func(p *person) string { return p.Attrs[name] }), nil
	}
	attrName := strings.TrimPrefix(name, "customAttributes.")
	a, ok := e.attrs[attrName]
	if !ok {
		return 0, nil, fmt.Errorf("unknown field %q", name)
	}
	// Stored values need not match the current definition (an attribute
	// redefined with another type keeps its old values), so each getter
	// takes only values of its kind.
	switch a.DataType {
	case "STRING":
		return kString, func(p *person) (any, bool) { s, ok := p.Custom[attrName].(string); return s, ok }, nil
	case "INTEGER", "DECIMAL":
		return kNumber, func(p *person) (any, bool) {
			switch x := p.Custom[attrName].(type) {
			case int64:
				return float64(x), true
			case float64:
				return x, true
			}
			return nil, false
		}, nil
	case "BOOLEAN":
		return kBool, func(p *person) (any, bool) { b, ok := p.Custom[attrName].(bool); return b, ok }, nil
	case "DATE":
		return kDate, func(p *person) (any, bool) {
			s, _ := p.Custom[attrName].(string)
			t, err := time.Parse(dateLayout, s)
			return t, err == nil
		}, nil
	case "DATE_TIME":
		return kDateTime, func(p *person) (any, bool) {
			s, _ := p.Custom[attrName].(string)
			t, err := time.Parse(TimeLayout, s)
			return t, err == nil
		}, nil
	}
	return 0, nil, fmt.Errorf("field %q (%s) cannot be filtered", name, a.DataType)
}

// comparison compiles one operator on one field.
func (e *Emulator) comparison(op, name string, raw any) (pred, error) {
	kind, get, err := e.field(name)
	if err != nil {
		return nil, err
	}
	allowed := map[fieldKind][]string{
		kString:    {"#eq", "#ne", "#contains", "#notContain", "#startsWith", "#endsWith"},
		kNumber:    {"#eq", "#ne", "#gt", "#lt", "#gte", "#lte"},
		kDate:      {"#eq", "#ne", "#gt", "#lt", "#gte", "#lte"},
		kDateTime:  {"#eq", "#ne", "#gt", "#lt", "#gte", "#lte"},
		kBool:      {"#eq", "#ne"},
		kList:      {"#eq", "#ne", "#contains", "#notContain", "#startsWith", "#endsWith"},
		kEmailList: {"#eq", "#ne", "#contains", "#notContain", "#startsWith", "#endsWith"},
	}[kind]
	if !slices.Contains(allowed, op) {
		return nil, fmt.Errorf("operator %s does not apply to field %q", op, name)
	}
	negated := op == "#ne" || op == "#notContain"
	switch kind {
	case kString, kList, kEmailList:
		want, ok := scalarString(raw)
		if !ok {
			return nil, fmt.Errorf("field %q compares with a string, not %s", name, jsonKind(raw))
		}
		fold := kind == kEmailList
		test := func(have string) bool {
			if fold {
				have, want := strings.ToLower(have), strings.ToLower(want)
				return stringOp(op, have, want)
			}
			return stringOp(op, have, want)
		}
		if kind != kString && (op == "#contains" || op == "#notContain") {
			// On a list, #contains means "has the element" (real clients
			// filter persons by tag with {"#contains":{"tags":"VIP"}}).
			test = func(have string) bool { return have == want || (fold && strings.EqualFold(have, want)) }
		}
		return func(p *person) bool {
			v, ok := get(p)
			if !ok {
				return negated
			}
			if s, isStr := v.(string); isStr {
				return test(s) != negated
			}
			list, _ := v.([]string)
			for _, s := range list {
				if test(s) {
					return !negated
				}
			}
			return negated
		}, nil
	case kNumber:
		want, ok := number(raw)
		if !ok {
			return nil, fmt.Errorf("field %q compares with a number, not %s", name, jsonKind(raw))
		}
		return func(p *person) bool {
			v, ok := get(p)
			if !ok {
				return negated
			}
			f, _ := v.(float64)
			return orderOp(op, cmpFloat(f, want))
		}, nil
	case kDate, kDateTime:
		s, _ := raw.(string)
		want, err := parseFilterTime(s, kind == kDate)
		if err != nil {
			return nil, fmt.Errorf("field %q: %v", name, err)
		}
		return func(p *person) bool {
			v, ok := get(p)
			if !ok {
				return negated
			}
			tm, _ := v.(time.Time)
			return orderOp(op, tm.Compare(want))
		}, nil
	case kBool:
		want, ok := raw.(bool)
		if !ok {
			return nil, fmt.Errorf("field %q compares with true or false, not %s", name, jsonKind(raw))
		}
		return func(p *person) bool {
			v, ok := get(p)
			if !ok {
				return negated
			}
			b, _ := v.(bool)
			return (b == want) != negated
		}, nil
	}
	return nil, fmt.Errorf("field %q cannot be filtered", name)
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func stringOp(op, have, want string) bool {
	switch op {
	case "#eq", "#ne":
		return have == want
	case "#contains", "#notContain":
		return strings.Contains(have, want)
	case "#startsWith":
		return strings.HasPrefix(have, want)
	case "#endsWith":
		return strings.HasSuffix(have, want)
	}
	return false
}

// orderOp applies a comparison operator to the sign of have - want.
func orderOp(op string, c int) bool {
	switch op {
	case "#eq":
		return c == 0
	case "#ne":
		return c != 0
	case "#gt":
		return c > 0
	case "#lt":
		return c < 0
	case "#gte":
		return c >= 0
	case "#lte":
		return c <= 0
	}
	return false
}

// parseFilterTime reads a date (YYYY-MM-DD) or a date-time in People's form
// (yyyy-MM-ddTHH:mm:ss, UTC); a date compares as its midnight.
func parseFilterTime(s string, dateOnly bool) (time.Time, error) {
	if t, err := time.Parse(dateLayout, s); err == nil {
		return t, nil
	}
	if !dateOnly {
		for _, layout := range []string{TimeLayout, time.RFC3339} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a date-time in the format yyyy-MM-ddTHH:mm:ss", s)
	}
	return time.Time{}, fmt.Errorf("%q is not a date in the format YYYY-MM-DD", s)
}
