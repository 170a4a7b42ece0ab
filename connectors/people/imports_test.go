package people

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The connector and its emulator import only the connector contract, the
// emulators' shared conventions (connectors/emulate), connectors/internal/*
// and the standard library (STYLE.md §2.2): never
// lang/* or runtime/*, and no module of their own.
func TestImports(t *testing.T) {
	t.Parallel()
	const module = "github.com/synclang/synclang/"
	allowed := func(path string) bool {
		switch {
		case !strings.Contains(strings.Split(path, "/")[0], "."):
			return true // standard library
		case path == module+"connectors/connector", path == module+"connectors/emulate",
			strings.HasPrefix(path, module+"connectors/internal/"),
			strings.HasPrefix(path, module+"connectors/people"):
			return true
		}
		return false
	}
	for _, dir := range []string{".", "emulator"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !allowed(path) {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
