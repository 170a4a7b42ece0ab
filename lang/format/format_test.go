package format

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/parser"
)

var update = flag.Bool("update", false, "rewrite out.sync in testdata/*.txtar")

func TestGolden(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*.txtar")
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, path := range cases {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var in, want []byte
			outIdx := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "in.sync":
					in = f.Data
				case "out.sync":
					want, outIdx = f.Data, i
				}
			}
			got, diags := Source("in.sync", in)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if *update && outIdx >= 0 {
				ar.Files[outIdx].Data = got
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("formatted:\n%s\nwant:\n%s", got, want)
			}
			checkProperties(t, in)
		})
	}
}

// TestExamplesAreFormatted keeps examples/ in canonical form (CI also runs
// `synclang fmt --check examples/`).
func TestExamplesAreFormatted(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.sync")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ok, diags := Check(file, src)
		if diags.HasErrors() || !ok {
			out, _ := Source(file, src)
			t.Errorf("%s is not formatted; fmt gives:\n%s", file, out)
		}
		checkProperties(t, src)
	}
}

func TestSyntaxErrorsAreNotFormatted(t *testing.T) {
	out, diags := Source("bad.sync", []byte("sync a {\n  firstname <->\n}\n"))
	if out != nil || !diags.HasErrors() {
		t.Fatalf("formatted a file with a syntax error: %q %v", out, diags)
	}
}

// checkProperties: formatting is idempotent and keeps the syntax tree.
func checkProperties(t *testing.T, src []byte) {
	t.Helper()
	once, diags := Source("a.sync", src)
	if diags.HasErrors() {
		return
	}
	twice, diags := Source("a.sync", once)
	if diags.HasErrors() {
		t.Fatalf("formatted output does not parse:\n%s\n%v", once, diags)
	}
	if !bytes.Equal(once, twice) {
		t.Errorf("not idempotent:\n--- once\n%s\n--- twice\n%s", once, twice)
	}
	a, _ := parser.Parse("a.sync", src)
	b, _ := parser.Parse("a.sync", once)
	if da, db := dump(a), dump(b); da != db {
		t.Errorf("formatting changed the syntax tree:\n%s\n---\n%s", da, db)
	}
}

// dump renders a syntax tree without positions.
func dump(f *ast.File) string {
	v := reflect.ValueOf(f).Elem()
	clearPositions(v)
	b, _ := json.Marshal(f)
	return string(b)
}

var posType = reflect.TypeOf(lexer.Position{})

func clearPositions(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			clearPositions(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == posType {
			v.Set(reflect.Zero(posType))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				clearPositions(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			clearPositions(v.Index(i))
		}
	}
}

// FuzzFormat: for every input that parses, formatting succeeds, is
// idempotent and keeps the syntax tree.
func FuzzFormat(f *testing.F) {
	for _, pattern := range []string{"../../examples/*.sync", "testdata/*.txtar"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if filepath.Ext(file) == ".txtar" {
				for _, af := range txtar.Parse(src).Files {
					f.Add(af.Data)
				}
				continue
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if _, diags := parser.Parse("a.sync", src); diags.HasErrors() {
			return
		}
		if _, diags := Source("a.sync", src); diags.HasErrors() {
			t.Fatalf("parses but does not format: %v", diags)
		}
		checkProperties(t, src)
	})
}
