package dynamics

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// decodePage decodes a collection answer ({"value":[rows],
// "@odata.nextLink", "@odata.deltaLink", ...}) into p, the same as
// decodeJSON would (numbers as json.Number, struct keys matched without
// case, the last of duplicate keys winning, data after the object
// ignored).
//
// A full read spent most of its CPU in encoding/json's reflection and in
// growing each row's map (BenchmarkDecodePage: 74 µs a contact of all
// columns, on a loaded 2-core machine). The rows of a collection answer
// are flat objects of strings, numbers, booleans and nulls, so this
// scanner decodes them directly into maps sized from the row before;
// anything else (a nested value in a row, an escape it does not handle,
// invalid UTF-8, malformed JSON) makes it give up, and encoding/json
// decodes the answer instead, so the result, and the error, are always
// encoding/json's. FuzzDecodePage holds the two to the same answers.
func decodePage(data []byte, p *page) error {
	var fp page
	if fastPage(data, &fp) == nil {
		*p = fp
		return nil
	}
	return decodeJSON(data, p)
}

var errSlowPath = errors.New("not a flat page")

type scanner struct {
	data []byte
	i    int
	// keys interns the rows' keys: every row repeats the same forty
	// column names, and a map lookup by string(bytes) does not allocate.
	keys map[string]string
}

// key reads an object key, interned.
func (s *scanner) key() (string, error) {
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == '"' {
		// A plain key (no escape, ASCII): look it up without allocating.
		end := s.i + 1
		for end < len(s.data) && s.data[end] != '"' && s.data[end] != '\\' && s.data[end] >= 0x20 && s.data[end] < 0x80 {
			end++
		}
		if end < len(s.data) && s.data[end] == '"' {
			if k, ok := s.keys[string(s.data[s.i+1:end])]; ok {
				s.i = end + 1
				return k, nil
			}
		}
	}
	k, err := s.str()
	if err == nil && len(s.keys) < 1024 {
		s.keys[k] = k
	}
	return k, err
}

func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func fastPage(data []byte, p *page) error {
	s := &scanner{data: data, keys: map[string]string{}}
	if !s.next('{') {
		return errSlowPath
	}
	if s.next('}') {
		return nil
	}
	for {
		key, err := s.str()
		if err != nil || !s.next(':') {
			return errSlowPath
		}
		switch {
		case strings.EqualFold(key, "value"):
			rows, err := s.rows()
			if err != nil {
				return err
			}
			p.Value = rows
		case strings.EqualFold(key, "@odata.nextLink"), strings.EqualFold(key, "@odata.deltaLink"):
			if s.peek() != '"' {
				return errSlowPath // null, or a type encoding/json refuses
			}
			v, err := s.str()
			if err != nil {
				return err
			}
			if strings.EqualFold(key, "@odata.nextLink") {
				p.NextLink = v
			} else {
				p.DeltaLink = v
			}
		default:
			if _, err := s.scalar(); err != nil {
				return err // an object or array elsewhere: the slow path
			}
		}
		if s.next(',') {
			continue
		}
		if s.next('}') {
			return nil
		}
		return errSlowPath
	}
}

func (s *scanner) rows() ([]map[string]any, error) {
	if !s.next('[') {
		return nil, errSlowPath
	}
	rows := []map[string]any{}
	if s.next(']') {
		return rows, nil
	}
	width := 8
	for {
		if !s.next('{') {
			return nil, errSlowPath
		}
		row := make(map[string]any, width)
		if !s.next('}') {
			for {
				key, err := s.key()
				if err != nil || !s.next(':') {
					return nil, errSlowPath
				}
				v, err := s.scalar()
				if err != nil {
					return nil, err
				}
				row[key] = v
				if s.next(',') {
					continue
				}
				if s.next('}') {
					break
				}
				return nil, errSlowPath
			}
		}
		width = len(row)
		rows = append(rows, row)
		if s.next(',') {
			continue
		}
		if s.next(']') {
			return rows, nil
		}
		return nil, errSlowPath
	}
}

// scalar reads a string, number, true, false or null.
func (s *scanner) scalar() (any, error) {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return true, s.lit("true")
	case c == 'f':
		return false, s.lit("false")
	case c == 'n':
		return nil, s.lit("null")
	}
	return nil, errSlowPath
}

func (s *scanner) lit(word string) error {
	if !strings.HasPrefix(string(s.data[s.i:min(len(s.data), s.i+len(word))]), word) {
		return errSlowPath
	}
	s.i += len(word)
	return nil
}

// number reads a JSON number (RFC 8259 §6) as json.Number.
func (s *scanner) number() (any, error) {
	d, start := s.data, s.i
	i := s.i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return nil, errSlowPath
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, errSlowPath
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, errSlowPath
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	s.i = i
	return json.Number(d[start:i]), nil
}

// str reads a string. Escapes other than \uXXXX of a surrogate are
// decoded; a surrogate escape, a control character or invalid UTF-8
// (which encoding/json replaces with U+FFFD) gives up.
func (s *scanner) str() (string, error) {
	if !s.next('"') {
		return "", errSlowPath
	}
	d := s.data
	start := s.i
	ascii := true
	for i := start; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			s.i = i + 1
			if !ascii && !utf8.Valid(d[start:i]) {
				return "", errSlowPath
			}
			return string(d[start:i]), nil
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return "", errSlowPath
		case c >= 0x80:
			ascii = false
		}
	}
	return "", errSlowPath
}

func (s *scanner) escaped(start int) (string, error) {
	d := s.data
	var b strings.Builder
	b.Grow(len(d[start:min(len(d), start+64)]))
	i := start
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.i = i + 1
			out := b.String()
			if !utf8.ValidString(out) {
				return "", errSlowPath
			}
			return out, nil
		case c < 0x20:
			return "", errSlowPath
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(d) {
			return "", errSlowPath
		}
		switch d[i+1] {
		case '"', '\\', '/':
			b.WriteByte(d[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+6 > len(d) {
				return "", errSlowPath
			}
			r := rune(0)
			for _, h := range d[i+2 : i+6] {
				r <<= 4
				switch {
				case h >= '0' && h <= '9':
					r |= rune(h - '0')
				case h >= 'a' && h <= 'f':
					r |= rune(h-'a') + 10
				case h >= 'A' && h <= 'F':
					r |= rune(h-'A') + 10
				default:
					return "", errSlowPath
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				return "", errSlowPath // a surrogate: encoding/json pairs or replaces it
			}
			b.WriteRune(r)
			i += 6
			continue
		default:
			return "", errSlowPath
		}
		i += 2
	}
	return "", errSlowPath
}
