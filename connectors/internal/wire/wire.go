// Package wire holds small value rules a connector and its emulator must
// apply alike, so the client and the stand-in it is tested against cannot
// drift apart: what a Dataverse GUID looks like, and how JSON numbers
// decoded with UseNumber become Go values.
package wire

import "encoding/json"

// IsGUID reports whether s is a GUID in the 8-4-4-4-12 form (any case).
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// PlainJSON turns the json.Number values in v (a value decoded with
// UseNumber, nested in lists and objects) into int64 when whole, else
// float64; other values are returned as they are. Lists and objects are
// copied.
func PlainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = PlainJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = PlainJSON(e)
		}
		return out
	}
	return v
}
