package lsp

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/synclang/synclang/lang/diag"
)

// text is a document's content with its line starts, for converting between
// byte offsets (what synclang's positions count) and LSP positions (lines
// and characters in the negotiated encoding).
type text struct {
	src   string
	lines []int // byte offset of each line's start
	utf8  bool  // characters count bytes ("utf-8") rather than UTF-16 units
}

func newText(src string, utf8Enc bool) *text {
	t := &text{src: src, lines: []int{0}, utf8: utf8Enc}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			t.lines = append(t.lines, i+1)
		}
	}
	return t
}

// lineEnd is the offset of the end of line n, before its newline.
func (t *text) lineEnd(n int) int {
	if n+1 < len(t.lines) {
		end := t.lines[n+1] - 1
		if end > t.lines[n] && t.src[end-1] == '\r' {
			end--
		}
		return end
	}
	return len(t.src)
}

// offset converts an LSP position to a byte offset. A line past the end of
// the document is an error; a character past the end of its line means the
// line's end, as the specification says.
func (t *text) offset(p Position) (int, error) {
	if p.Line < 0 || p.Character < 0 {
		return 0, fmt.Errorf("position %d:%d is negative", p.Line, p.Character)
	}
	if p.Line >= len(t.lines) {
		return 0, fmt.Errorf("position %d:%d is past the end of the document (%d lines)", p.Line, p.Character, len(t.lines))
	}
	start, end := t.lines[p.Line], t.lineEnd(p.Line)
	if t.utf8 {
		off := min(start+p.Character, end)
		for off > start && !utf8.RuneStart(t.src[off]) && off < end {
			off-- // never split a character
		}
		return off, nil
	}
	units, off := 0, start
	for off < end && units < p.Character {
		r, size := utf8.DecodeRuneInString(t.src[off:end])
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		if units+n > p.Character {
			break
		}
		units += n
		off += size
	}
	return off, nil
}

// position converts a byte offset (clamped to the document) to an LSP
// position.
func (t *text) position(off int) Position {
	off = max(0, min(off, len(t.src)))
	line := sort.Search(len(t.lines), func(i int) bool { return t.lines[i] > off }) - 1
	start := t.lines[line]
	if t.utf8 {
		return Position{Line: line, Character: off - start}
	}
	units := 0
	for _, r := range t.src[start:off] {
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		units += n
	}
	return Position{Line: line, Character: units}
}

// rangeOf converts a diagnostic range of this text.
func (t *text) rangeOf(r diag.Range) Range {
	if !r.IsValid() {
		return Range{}
	}
	start := t.position(r.Start.Offset)
	end := start
	if r.End.IsValid() && r.End.Offset >= r.Start.Offset {
		end = t.position(r.End.Offset)
	}
	return Range{Start: start, End: end}
}

// span converts an LSP range to byte offsets.
func (t *text) span(r Range) (start, end int, err error) {
	if start, err = t.offset(r.Start); err != nil {
		return 0, 0, err
	}
	if end, err = t.offset(r.End); err != nil {
		return 0, 0, err
	}
	if end < start {
		return 0, 0, fmt.Errorf("range %d:%d-%d:%d ends before it starts", r.Start.Line, r.Start.Character, r.End.Line, r.End.Character)
	}
	return start, end, nil
}

// apply returns the text with one change applied (a nil range replaces the
// whole document).
func (t *text) apply(c contentChange) (string, error) {
	if c.Range == nil {
		return c.Text, nil
	}
	start, end, err := t.span(*c.Range)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(t.src) - (end - start) + len(c.Text))
	b.WriteString(t.src[:start])
	b.WriteString(c.Text)
	b.WriteString(t.src[end:])
	return b.String(), nil
}

// uriToPath turns a file:// URI into a clean absolute path.
func uriToPath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("document URI %q: %v", uri, err)
	}
	if u.Scheme != "file" {
		return "", fmt.Errorf("document URI %q: synclang reads file:// documents only", uri)
	}
	p := filepath.FromSlash(u.Path)
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("document URI %q: the path is not absolute", uri)
	}
	return filepath.Clean(p), nil
}

// pathToURI is the file:// URI of an absolute path.
func pathToURI(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}
