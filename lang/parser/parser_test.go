package parser

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
)

// expectation is an `# ERROR "regexp"` comment: a diagnostic must start on
// its line and match it. `# ERROR@+1 "regexp"` expects it on the next line
// (for lines that cannot carry a comment, such as an unterminated string).
type expectation struct {
	line int
	rx   *regexp.Regexp
	text string
}

var errorComment = regexp.MustCompile(`(?:#|//)\s*ERROR(@\+1)?\s+("(?:\\.|[^"\\])*")`)

// expectations reads the ERROR comments of src through the lexer, so a
// comment-like text inside a string is not mistaken for one.
func expectations(t *testing.T, name string, src []byte) []*expectation {
	t.Helper()
	lex, err := Lexer.LexString(name, string(src))
	if err != nil {
		t.Fatal(err)
	}
	var out []*expectation
	for {
		tok, err := lex.Next()
		if err != nil {
			t.Fatal(err)
		}
		if tok.EOF() {
			return out
		}
		if tok.Type != Lexer.Symbols()["Comment"] {
			continue
		}
		m := errorComment.FindStringSubmatch(tok.Value)
		if m == nil {
			continue
		}
		pattern, err := strconv.Unquote(m[2])
		if err != nil {
			t.Fatalf("%s:%d: bad ERROR comment: %v", name, tok.Pos.Line, err)
		}
		line := tok.Pos.Line
		if m[1] != "" {
			line++
		}
		out = append(out, &expectation{line: line, rx: regexp.MustCompile(pattern), text: pattern})
	}
}

// MatchExpectations checks diags against the ERROR comments in src, in both
// directions: every diagnostic is expected, and every expectation is met.
func matchExpectations(t *testing.T, name string, src []byte, diags diag.Diagnostics) {
	t.Helper()
	want := expectations(t, name, src)
	for _, d := range diags {
		msg := d.Summary + ": " + d.Detail
		found := false
		for i, w := range want {
			if w != nil && w.line == d.Subject.Start.Line && w.rx.MatchString(msg) {
				want[i] = nil
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: unexpected diagnostic %s", name, d.Error())
		}
	}
	for _, w := range want {
		if w != nil {
			t.Errorf("%s:%d: expected an error matching %q", name, w.line, w.text)
		}
	}
}

func TestErrorsInTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sync")
	if len(files) == 0 {
		t.Fatal("no test files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, diags := Parse(file, src)
			matchExpectations(t, file, src, diags)
			for _, d := range diags {
				checkRange(t, src, d.Subject)
			}
		})
	}
}

func checkRange(t *testing.T, src []byte, r diag.Range) {
	t.Helper()
	if r.Start.Offset < 0 || r.End.Offset > len(src) || r.Start.Offset > r.End.Offset {
		t.Errorf("range %+v out of the file (%d bytes)", r, len(src))
	}
}

func TestExamplesParseClean(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.sync")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := Parse(file, src)
		if len(diags) > 0 {
			t.Errorf("%s:\n%s", file, diags.Error())
		}
		if len(f.Decls) == 0 {
			t.Errorf("%s: no declarations", file)
		}
	}
}

func TestExpressionSpansAreExact(t *testing.T) {
	src := "sync s {\n  a.b <-> c.d\n  gendercode == 1 ? \"MALE\" : nil -> gender  # c\n  x <- f(1,\n    2)\n}\n"
	f, diags := Parse("s.sync", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	var got []string
	for _, st := range f.Decls[0].(*ast.Sync).Stmts {
		m := st.(*ast.Map)
		for _, e := range []*ast.Expr{m.Left, m.Right} {
			got = append(got, src[e.Pos.Offset:e.EndPos.Offset])
		}
	}
	want := []string{`gendercode == 1 ? "MALE" : nil`, "gender", "x", "f(1,\n    2)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("spans %q, want %q", got, want)
	}
}

func TestGrammarIsStable(t *testing.T) {
	g := Grammar()
	for _, want := range []string{"File = ", "Connection = \"connection\"", "Sync = \"sync\"", "Map = Expr Arrow Expr"} {
		if !strings.Contains(g, want) {
			t.Errorf("grammar lacks %q:\n%s", want, g)
		}
	}
}
