package diag

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzWrite renders a diagnostic over arbitrary source text, ranges and
// messages: Write must never panic and never print a control character
// (other than the newlines it writes itself), whatever the file or a
// message holds.
func FuzzWrite(f *testing.F) {
	f.Add([]byte("sync s {\n\tcrm.contact <-> x.y\n}\n"), "a.sync", "Unknown field", "has no field \"x\"", 2, 2, 2, 13, false)
	f.Add([]byte("\x1b[31m\x00\xff\u202e\r\n"), "\x07.sync", "\x1b]0;t\x07", "a\nb\x9b", 1, 1, 3, 1, true)
	f.Add([]byte("x"), "", "", "", 0, 0, -1, -5, true)
	f.Fuzz(func(t *testing.T, src []byte, name, summary, detail string, sl, sc, el, ec int, masked bool) {
		s := NewSource(name, src)
		start := s.Pos(sc)
		if sl > 0 && sl < 1<<20 {
			start.Line = sl
		}
		end := s.Pos(ec)
		if el > 0 && el < 1<<20 {
			end.Line = el
		}
		d := &Diagnostic{Severity: Severity(sl & 1), Code: "fuzz", Summary: summary, Detail: detail,
			Subject: Range{Filename: name, Start: start, End: end}, Masked: masked,
			Related: []Related{{Message: detail, Subject: s.Range(sc, ec)}}}
		var b bytes.Buffer
		if err := Write(&b, Diagnostics{d, d}, map[string]*Source{name: s}, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 in %q", out)
		}
		for i, r := range out {
			if r != '\n' && unsafeRune(r) {
				t.Fatalf("raw control character %U at %d in %q", r, i, out)
			}
		}
	})
}
