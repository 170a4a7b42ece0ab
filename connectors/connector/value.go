package connector

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// DateLayout is the wire form of Date values on both services.
const DateLayout = "2006-01-02"

// Canonical converts v to the canonical Go representation of type t:
// string, int64, float64, bool, time.Time (UTC), []any or any JSON value.
// It accepts what JSON decoding and field expressions produce (float64 for
// whole numbers, ints of any size, date strings) and reports values that do
// not fit, such as 1.5 for an int or "abc" for a date. nil stays nil.
func Canonical(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else if f, err := n.Float64(); err == nil {
			v = f
		}
	}
	switch t {
	case String, ID:
		switch x := v.(type) {
		case string:
			return x, nil
		}
		if t == ID {
			if i, ok := asInt(v); ok {
				return strconv.FormatInt(i, 10), nil
			}
		}
	case Int, Choice:
		if i, ok := asInt(v); ok {
			return i, nil
		}
		if s, ok := v.(string); ok {
			if i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				return i, nil
			}
		}
	case Decimal:
		if i, ok := asInt(v); ok {
			return float64(i), nil
		}
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Date:
		switch x := v.(type) {
		case time.Time:
			y, m, d := x.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		case string:
			if tm, err := ParseDate(x); err == nil {
				return tm, nil
			}
		}
	case DateTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string:
			if tm, err := ParseDateTime(x); err == nil {
				return tm, nil
			}
		}
	case List:
		switch x := v.(type) {
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("list element %d is %s, not a string", i, describe(e))
				}
				out[i] = s
			}
			return out, nil
		case []string:
			out := make([]any, len(x))
			for i, s := range x {
				out[i] = s
			}
			return out, nil
		}
	case Object:
		return v, nil
	default:
		return nil, fmt.Errorf("unknown type %q", t)
	}
	return nil, fmt.Errorf("%s is not a valid %s", describe(v), t)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case float32:
		f := float64(x)
		if f == math.Trunc(f) && math.Abs(f) < 1<<24 {
			return int64(f), true
		}
	}
	return 0, false
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return strconv.Quote(x)
	case time.Time:
		return x.Format(time.RFC3339)
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > 60 {
		return fmt.Sprintf("a %s value", reflect.TypeOf(v))
	}
	return string(b)
}

// ParseDate accepts YYYY-MM-DD, or a date-time whose date part is taken.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(DateLayout, s); err == nil {
		return t, nil
	}
	if t, err := ParseDateTime(s); err == nil {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", s)
}

// dateTimeLayouts are the forms the two services send: RFC 3339 with a zone
// (Dynamics "2023-04-07T21:59:01Z"), and People's zone-less
// "2018-03-29T13:46:31" (read as UTC), with or without fractions.
var dateTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
}

// ParseDateTime accepts the date-time forms both services use; a form
// without a zone is read as UTC.
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range dateTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := time.Parse(DateLayout, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date-time (want e.g. 2023-04-07T21:59:01Z)", s)
}

// Equal reports whether two canonical values are the same.
func Equal(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	if ia, ok := asInt(a); ok {
		if ib, ok := asInt(b); ok {
			return ia == ib
		}
	}
	return reflect.DeepEqual(a, b)
}
