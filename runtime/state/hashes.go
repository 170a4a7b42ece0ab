package state

import (
	"encoding/binary"
	"errors"
	"sort"
)

// Hashes maps a field name to the fingerprint of its value at the last
// sync. The engine computes the fingerprints; the store only keeps them.
type Hashes map[string]uint64

// hashesVersion is the first byte of an encoded Hashes.
const hashesVersion = 1

// MarshalBinary encodes the hashes compactly and deterministically: a
// version byte, then per field (sorted by name) the name's length as a
// uvarint, the name, and the 8-byte little-endian hash. nil encodes as nil.
func (h Hashes) MarshalBinary() ([]byte, error) {
	if h == nil {
		return nil, nil
	}
	names := make([]string, 0, len(h))
	size := 1
	for n := range h {
		names = append(names, n)
		size += binary.MaxVarintLen64 + len(n) + 8
	}
	sort.Strings(names)
	out := make([]byte, 1, size)
	out[0] = hashesVersion
	for _, n := range names {
		out = binary.AppendUvarint(out, uint64(len(n)))
		out = append(out, n...)
		out = binary.LittleEndian.AppendUint64(out, h[n])
	}
	return out, nil
}

var errBadHashes = errors.New("state: corrupt field hashes")

// UnmarshalBinary decodes what MarshalBinary wrote; empty input gives nil.
func (h *Hashes) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		*h = nil
		return nil
	}
	if b[0] != hashesVersion {
		return errBadHashes
	}
	out := Hashes{}
	b = b[1:]
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n+8 {
			return errBadHashes
		}
		b = b[k:]
		name := string(b[:n])
		out[name] = binary.LittleEndian.Uint64(b[n:])
		b = b[n+8:]
	}
	*h = out
	return nil
}

// Equal reports whether two hash sets are the same (nil equals only nil or
// empty).
func (h Hashes) Equal(o Hashes) bool {
	if len(h) != len(o) || (h == nil) != (o == nil) {
		return false
	}
	for k, v := range h {
		if w, ok := o[k]; !ok || w != v {
			return false
		}
	}
	return true
}
