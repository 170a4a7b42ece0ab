package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// Field hashes are 64-bit FNV-1a over a tagged encoding of the canonical
// value. They are stored in the state and compared across runs, so the
// encoding must never change (add tags, never reuse one). Values that
// connector.Equal calls equal hash equal: integers of every Go type and
// whole floats hash as the same integer, times by their instant.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mixByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func mixUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = mixByte(h, byte(v>>(8*i)))
	}
	return h
}

func mixString(h uint64, s string) uint64 {
	h = mixUint(h, uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h = mixByte(h, s[i])
	}
	return h
}

// hashValue fingerprints a canonical field value.
func hashValue(v any) uint64 { return mixValue(fnvOffset, v) }

func mixValue(h uint64, v any) uint64 {
	switch x := v.(type) {
	case nil:
		return mixByte(h, 'n')
	case string:
		return mixString(mixByte(h, 's'), x)
	case bool:
		if x {
			return mixByte(mixByte(h, 'b'), 1)
		}
		return mixByte(mixByte(h, 'b'), 0)
	case int:
		return mixUint(mixByte(h, 'i'), uint64(int64(x)))
	case int8:
		return mixUint(mixByte(h, 'i'), uint64(int64(x)))
	case int16:
		return mixUint(mixByte(h, 'i'), uint64(int64(x)))
	case int32:
		return mixUint(mixByte(h, 'i'), uint64(int64(x)))
	case int64:
		return mixUint(mixByte(h, 'i'), uint64(x))
	case uint:
		return mixUint(mixByte(h, 'i'), uint64(x))
	case uint8:
		return mixUint(mixByte(h, 'i'), uint64(x))
	case uint16:
		return mixUint(mixByte(h, 'i'), uint64(x))
	case uint32:
		return mixUint(mixByte(h, 'i'), uint64(x))
	case uint64:
		return mixUint(mixByte(h, 'i'), x)
	case float32:
		return mixValue(h, float64(x))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return mixUint(mixByte(h, 'i'), uint64(int64(x)))
		}
		return mixUint(mixByte(h, 'f'), math.Float64bits(x))
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return mixValue(h, i)
		}
		if f, err := x.Float64(); err == nil {
			return mixValue(h, f)
		}
		return mixString(mixByte(h, 's'), string(x))
	case time.Time:
		return mixUint(mixByte(h, 't'), uint64(x.UnixNano()))
	case []any:
		h = mixUint(mixByte(h, 'l'), uint64(len(x)))
		for _, e := range x {
			h = mixValue(h, e)
		}
		return h
	case []string:
		h = mixUint(mixByte(h, 'l'), uint64(len(x)))
		for _, e := range x {
			h = mixString(mixByte(h, 's'), e)
		}
		return h
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h = mixUint(mixByte(h, 'm'), uint64(len(x)))
		for _, k := range keys {
			h = mixValue(mixString(h, k), x[k])
		}
		return h
	}
	// Anything else (an Object field holding another JSON shape): its JSON
	// form, or failing that its printed form.
	if b, err := json.Marshal(v); err == nil {
		return mixString(mixByte(h, 'j'), string(b))
	}
	return mixString(mixByte(h, 'p'), fmt.Sprintf("%T %v", v, v))
}
