package dynamics

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/wire"
)

// This file is the small OData expression builder every query goes
// through. No user value is ever concatenated into a query unescaped:
// string literals double every single quote (reference §4: `'O''Bryan'`),
// GUIDs are validated, numbers and dates are rendered by strconv and time,
// and the finished query options are percent-encoded (reference §4: `+`,
// `&`, `#`, `%` ... must be encoded, `'+123'` fails and `'%2B123'` works).

// odataLiteral renders a canonical value of type t as an OData literal.
func odataLiteral(t connector.Type, v any) (string, error) {
	cv, err := connector.Canonical(t, v)
	if err != nil {
		return "", err
	}
	switch x := cv.(type) {
	case nil:
		return "null", nil
	case string:
		if t == connector.ID {
			if !wire.IsGUID(x) {
				return "", fmt.Errorf("%q is not a GUID", x)
			}
			return strings.ToLower(x), nil
		}
		return quote(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("%v is not a number Dataverse can store", x)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		if t == connector.Date {
			return x.Format(connector.DateLayout), nil
		}
		return x.UTC().Format(time.RFC3339), nil
	}
	return "", fmt.Errorf("a %s value cannot be used in a filter", t)
}

// quote renders a string literal, doubling single quotes.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// eqFilter is `field eq literal`.
func eqFilter(field, lit string) string { return field + " eq " + lit }

// inFilter is Microsoft.Dynamics.CRM.In with the values as a JSON array of
// strings (reference §4: array parameters use double quotes, so a `'` needs
// no doubling there; JSON escaping covers `"` and `\`).
func inFilter(field string, values []string) string {
	arr, _ := json.Marshal(values) // []string always marshals
	return "Microsoft.Dynamics.CRM.In(PropertyName=" + quote(field) + ",PropertyValues=" + string(arr) + ")"
}

// inValue renders a canonical value as the string an In array holds.
func inValue(t connector.Type, v any) (string, error) {
	lit, err := odataLiteral(t, v)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(lit, "'") {
		cv, _ := connector.Canonical(t, v)
		return cv.(string), nil
	}
	return lit, nil
}

// queryEscape percent-encodes a query option value: everything but the
// unreserved characters and the OData punctuation ' ( ) is encoded, so +,
// &, #, %, =, ;, / and non-ASCII bytes reach the service as data.
func queryEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// queryOption is one $name=value pair of a query string.
type queryOption struct{ name, value string }

// encodeQuery renders query options; names are OData system options
// written literally ($select), values are percent-encoded.
func encodeQuery(opts ...queryOption) string {
	var parts []string
	for _, o := range opts {
		if o.value == "" {
			continue
		}
		parts = append(parts, o.name+"="+queryEscape(o.value))
	}
	return strings.Join(parts, "&")
}
