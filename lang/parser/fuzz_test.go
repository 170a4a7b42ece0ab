package parser

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synclang/synclang/lang/diag"
)

// FuzzParse checks that no input panics the parser, that every diagnostic
// points inside the file, and that a parse without errors has no Bad nodes.
// Seeds: the examples and the syntax-error test files.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../../examples/*.sync", "testdata/*.sync"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	// Hostile shapes: nesting just past the limit, a stray control
	// character, an unclosed block.
	f.Add([]byte("sync s {\n  crm.contact -> x.y\n  " + strings.Repeat("(", MaxNesting) + "1" + strings.Repeat(")", MaxNesting) + " -> a\n}\n"))
	f.Add([]byte("x " + strings.Repeat("{", MaxNesting+1)))
	f.Add([]byte("connection c people {\n  url = \"\x1b[2J\"\n\x00}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := Parse("fuzz.sync", src)
		if file == nil {
			t.Fatal("nil file")
		}
		for _, d := range diags {
			checkRange(t, src, d.Subject)
			if d.Code == "" || d.Summary == "" {
				t.Errorf("diagnostic without code or summary: %+v", d)
			}
		}
		if !diags.HasErrors() && hasBad(file) {
			t.Error("a Bad node without a diagnostic")
		}
		var out bytes.Buffer
		if err := diag.Write(&out, diags, map[string]*diag.Source{"fuzz.sync": diag.NewSource("fuzz.sync", src)}, diag.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
