package parser

import (
	"os"
	"path/filepath"
	"testing"
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
	})
}
