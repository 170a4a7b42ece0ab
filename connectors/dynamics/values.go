package dynamics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/wire"
)

// fromWire converts a JSON value of a response (decoded with UseNumber) to
// the canonical Go value of the field's type: DateTime → time.Time in UTC,
// DateOnly ("YYYY-MM-DD") → time.Time at midnight UTC, choices → int64,
// GUIDs → strings.
func fromWire(f *connector.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	return connector.Canonical(f.Type, v)
}

// toWire converts a canonical (or convertible) value to its JSON form for a
// request body: dates as "YYYY-MM-DD", date-times as RFC 3339 UTC.
func toWire(f *connector.Field, v any) (any, error) {
	cv, err := connector.Canonical(f.Type, v)
	if err != nil || cv == nil {
		return cv, err
	}
	switch x := cv.(type) {
	case time.Time:
		if f.Type == connector.Date {
			return x.Format(connector.DateLayout), nil
		}
		if x.Year() < 1753 {
			// reference §3: the earliest date Dataverse supports.
			return nil, fmt.Errorf("%s is before 1753-01-01, the earliest date Dynamics stores", x.Format(time.RFC3339))
		}
		return x.UTC().Format(time.RFC3339), nil
	case string:
		if f.MaxLength > 0 && utf8.RuneCountInString(x) > f.MaxLength {
			return nil, fmt.Errorf("%d characters, the column allows %d", utf8.RuneCountInString(x), f.MaxLength)
		}
		if f.Type == connector.ID && !wire.IsGUID(x) {
			return nil, fmt.Errorf("%q is not a GUID", x)
		}
	case int64:
		if f.Type == connector.Choice && len(f.Options) > 0 {
			ok := false
			for _, o := range f.Options {
				ok = ok || o.Value == x
			}
			if !ok {
				return nil, fmt.Errorf("%d is not one of the column's options (%s)", x, optionList(f.Options))
			}
		}
	}
	return cv, nil
}

func optionList(opts []connector.Option) string {
	parts := make([]string, len(opts))
	for i, o := range opts {
		parts[i] = fmt.Sprintf("%d %s", o.Value, o.Label)
	}
	return strings.Join(parts, ", ")
}

// resolveFields returns the entity's fields of the given names, in that
// order (unknown names left out), or all its fields sorted by name when
// names is nil: what recordOf converts, worked out once a page rather than
// sorted and searched for again in every row.
func resolveFields(ent *connector.Entity, names []string) []*connector.Field {
	if names == nil {
		names = ent.FieldNames()
	}
	byName := make(map[string]*connector.Field, len(ent.Fields))
	for _, f := range ent.Fields {
		byName[f.Name] = f
	}
	out := make([]*connector.Field, 0, len(names))
	for _, n := range names {
		if f, ok := byName[n]; ok {
			out = append(out, f)
		}
	}
	return out
}

// recordOf converts a row of a response to a Record, keeping the given
// fields (see resolveFields; the caller asks for the key and modification
// time too). The first column whose value does not fit its type fails the
// row with a *columnError naming the column and the value's JSON type
// (never the value: it may be personal data); the caller rejects that
// record alone.
func recordOf(ent *connector.Entity, row map[string]any, fields []*connector.Field) (connector.Record, error) {
	key, _ := row[ent.Key].(string)
	rec := connector.Record{Key: strings.ToLower(key), Fields: make(map[string]any, len(fields))}
	if ent.Modified != "" {
		if s, ok := row[ent.Modified].(string); ok {
			if t, err := connector.ParseDateTime(s); err == nil {
				rec.Modified = t
			}
		}
	}
	var bad *columnError
	for _, f := range fields {
		v, present := row[f.Name]
		if !present {
			continue
		}
		cv, err := fromWire(f, v)
		if err != nil {
			if bad == nil {
				bad = &columnError{column: f.Name, jsonType: connector.JSONType(v), want: f.Type}
			}
			continue
		}
		rec.Fields[f.Name] = cv
	}
	if bad != nil {
		// The other columns are converted: a lookup can still find it.
		return rec, bad
	}
	return rec, nil
}

// columnError is a column of a row whose value does not fit the column's
// type.
type columnError struct {
	column   string
	jsonType string
	want     connector.Type
}

func (e *columnError) Error() string {
	return fmt.Sprintf("column %s holds a JSON %s, which is not a valid %s", e.column, e.jsonType, e.want)
}

// decodeJSON decodes with numbers kept as json.Number (so 64-bit version
// numbers and decimals survive).
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
