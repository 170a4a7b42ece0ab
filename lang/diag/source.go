package diag

import "sort"

// Source is a named file's text with a line index, used to turn byte offsets
// into positions and to render snippets.
type Source struct {
	Name  string
	Text  []byte
	lines []int // offsets of line starts
}

// NewSource indexes src.
func NewSource(name string, src []byte) *Source {
	s := &Source{Name: name, Text: src, lines: []int{0}}
	for i, c := range src {
		if c == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

// Pos converts a byte offset into a position. Offsets past the end clamp to
// the end of the text.
func (s *Source) Pos(offset int) Pos {
	if offset < 0 {
		offset = 0
	}
	if offset > len(s.Text) {
		offset = len(s.Text)
	}
	line := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > offset }) - 1
	return Pos{Line: line + 1, Column: offset - s.lines[line] + 1, Offset: offset}
}

// Range returns the range of bytes [start, end).
func (s *Source) Range(start, end int) Range {
	return Range{Filename: s.Name, Start: s.Pos(start), End: s.Pos(end)}
}

// Line returns line n (1-based) without its newline, or "" when out of range.
func (s *Source) Line(n int) string {
	if n < 1 || n > len(s.lines) {
		return ""
	}
	start := s.lines[n-1]
	end := len(s.Text)
	if n < len(s.lines) {
		end = s.lines[n] - 1
	}
	if end > start && s.Text[end-1] == '\r' {
		end--
	}
	return string(s.Text[start:end])
}
