package parser

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
)

// Lexer is the token set of .sync files. Order matters: a rule wins over the
// rules below it at the same position. Comments start with # or // and run
// to the end of the line (so expr's # closure pointer is not available:
// write .field in predicates). Arrows are single tokens, so "a <-1" is an
// arrow: write "a < -1" for a comparison with a negative number.
var Lexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `(?:#|//)[^\n]*`},
	{Name: "String", Pattern: `"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|` + "`[^`]*`"},
	{Name: "Duration", Pattern: `[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h)(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h))*\b`},
	{Name: "Number", Pattern: `0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Arrow", Pattern: `<->|->|<-`},
	{Name: "Op", Pattern: `\?\?|\?\.|==|!=|<=|>=|&&|\|\||\.\.|\*\*|[-+*/%^<>!?:.,;=(){}\[\]|&~$@]`},
	{Name: "Newline", Pattern: `\r?\n`},
	{Name: "Whitespace", Pattern: `[ \t\r\f]+`},
	// The last two rules make lexing total: an unterminated string or a
	// stray character becomes a token the parser rejects with a precise
	// message, instead of a lexer error that hides the rest of the file.
	{Name: "Unterminated", Pattern: `"(?:\\.|[^"\\\n])*|'(?:\\.|[^'\\\n])*|` + "`[^`]*"},
	{Name: "Invalid", Pattern: `.`},
})

var fileParser = participle.MustBuild[ast.File](
	participle.Lexer(Lexer),
	participle.Elide("Comment", "Whitespace"),
	participle.Union[ast.Decl](&ast.Connection{}, &ast.Sync{}, &ast.Test{}, &ast.BadDecl{}),
	participle.Union[ast.ConnItem](&ast.Setting{}, &ast.Declaration{}, &ast.BadItem{}),
	participle.Union[ast.Step](&ast.TestStep{}, &ast.BadStep{}),
	participle.Union[ast.BodyItem](&ast.FieldValue{}, &ast.BadItem{}),
	participle.Union[ast.Stmt](&ast.Link{}, &ast.Match{}, &ast.Where{}, &ast.Conflict{}, &ast.Delete{}, &ast.Every{}, &ast.Map{}, &ast.BadStmt{}),
	participle.UseLookahead(lookahead),
)

// lookahead bounds backtracking: a line is tried against each statement
// form before falling back to Bad, and lines are short.
const lookahead = 64

// Single-line parsers explain what is wrong with a line that became a Bad
// node: the line is parsed alone, with the statement its first word names
// (or every statement form), and that parse's error is reported.
type (
	stmtLine struct {
		Stmt ast.Stmt `parser:"@@ Newline* EOF"`
	}
	itemLine struct {
		Item ast.ConnItem `parser:"@@ Newline* EOF"`
	}
	linkLine struct {
		S *ast.Link `parser:"@@ Newline* EOF"`
	}
	matchLine struct {
		S *ast.Match `parser:"@@ Newline* EOF"`
	}
	whereLine struct {
		S *ast.Where `parser:"@@ Newline* EOF"`
	}
	conflictLine struct {
		S *ast.Conflict `parser:"@@ Newline* EOF"`
	}
	deleteLine struct {
		S *ast.Delete `parser:"@@ Newline* EOF"`
	}
	everyLine struct {
		S *ast.Every `parser:"@@ Newline* EOF"`
	}
)

func lineParser[T any](unions ...participle.Option) func(name, line string) error {
	opts := append([]participle.Option{
		participle.Lexer(Lexer),
		participle.Elide("Comment", "Whitespace"),
		participle.UseLookahead(lookahead),
	}, unions...)
	p := participle.MustBuild[T](opts...)
	return func(name, line string) error {
		_, err := p.ParseString(name, line)
		return err
	}
}

var (
	parseStmtLine = lineParser[stmtLine](participle.Union[ast.Stmt](&ast.Link{}, &ast.Match{}, &ast.Where{}, &ast.Conflict{}, &ast.Delete{}, &ast.Every{}, &ast.Map{}))
	parseItemLine = lineParser[itemLine](participle.Union[ast.ConnItem](&ast.Setting{}, &ast.Declaration{}))
	keywordLine   = map[string]func(name, line string) error{
		"link":     lineParser[linkLine](),
		"match":    lineParser[matchLine](),
		"where":    lineParser[whereLine](),
		"conflict": lineParser[conflictLine](),
		"delete":   lineParser[deleteLine](),
		"every":    lineParser[everyLine](),
	}
)

// Grammar returns the grammar as EBNF (SPEC.md shows it; a test keeps the
// two equal).
func Grammar() string { return fileParser.String() }

// Parse parses one file. It always returns a File (possibly with Bad nodes
// or, after an error it cannot recover from, partial), and diagnostics for
// every syntax error found.
func Parse(name string, src []byte) (*ast.File, diag.Diagnostics) {
	source := diag.NewSource(name, src)
	if d := overLimit(source); d != nil {
		return &ast.File{}, diag.Diagnostics{d}
	}
	f, err := fileParser.ParseBytes(name, src)
	var diags diag.Diagnostics
	if err != nil {
		diags = append(diags, fileError(source, err))
		if f == nil {
			f = &ast.File{}
		}
	}
	diags = append(diags, explainBad(source, f, err != nil)...)
	return f, diags.Sort()
}

// Limits of a .sync file. A file beyond them is refused whole with one
// "limit" diagnostic before it is parsed: the parser recurses once per
// bracket, so a file of a million "(" would otherwise exhaust the stack
// (a crash Go cannot recover from), and a huge file or line costs memory
// and floods the output. Real files are far inside them: the examples are
// under 4 KB, with lines under 120 bytes and brackets nested 3 deep.
const (
	// MaxFileSize is the largest .sync file, in bytes.
	MaxFileSize = 1 << 20
	// MaxLineLength is the longest line, in bytes.
	MaxLineLength = 16 << 10
	// MaxNesting is how deep blocks and brackets ( [ { may nest.
	MaxNesting = 100
)

// overLimit reports the first limit the file exceeds, or nil.
func overLimit(src *diag.Source) *diag.Diagnostic {
	limit := func(start, end int, summary, format string, args ...any) *diag.Diagnostic {
		return diag.Errorf(src.Range(start, end), "limit", summary, format, args...)
	}
	if len(src.Text) > MaxFileSize {
		return limit(0, 0, "File too large", "%s is larger than %d bytes (1 MiB), the limit of a .sync file; split it into several files of one project.", src.Name, MaxFileSize)
	}
	for start := 0; start < len(src.Text); {
		n := bytes.IndexByte(src.Text[start:], '\n')
		if n < 0 {
			n = len(src.Text) - start
		}
		if n > MaxLineLength {
			return limit(start+MaxLineLength, start+MaxLineLength+1, "Line too long",
				"this line is %d bytes long; a line of a .sync file may have at most %d (break long expressions inside brackets).", n, MaxLineLength)
		}
		start += n + 1
	}
	lex, err := Lexer.LexString(src.Name, string(src.Text))
	if err != nil {
		return nil // the lexer is total; the parse reports anything else
	}
	depth := 0
	for {
		tok, err := lex.Next()
		if err != nil || tok.EOF() {
			return nil
		}
		switch tok.Value {
		case "(", "[", "{":
			if depth++; depth > MaxNesting {
				return limit(tok.Pos.Offset, tok.Pos.Offset+1, "Nesting too deep",
					"blocks and brackets nest more than %d levels deep here; write the expression with fewer brackets.", MaxNesting)
			}
		case ")", "]", "}":
			depth = max(depth-1, 0)
		}
	}
}

// fileError converts the error of a whole-file parse. The Bad fallbacks
// absorb every malformed line, so what remains is a block left open: point
// at the brace that opened it.
func fileError(src *diag.Source, err error) *diag.Diagnostic {
	var ut *participle.UnexpectedTokenError
	if errors.As(err, &ut) && ut.Unexpected.EOF() {
		if open, ok := unclosedBrace(src); ok {
			return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Unclosed block",
				Detail: "the block opened here has no closing }.", Subject: src.Range(open, open+1)}
		}
	}
	return syntaxError(src, err, false)
}

// unclosedBrace returns the offset of the outermost { that is never closed.
func unclosedBrace(src *diag.Source) (int, bool) {
	lex, err := Lexer.LexString(src.Name, string(src.Text))
	if err != nil {
		return 0, false
	}
	var stack []int
	for {
		tok, err := lex.Next()
		if err != nil || tok.EOF() {
			break
		}
		switch tok.Value {
		case "{":
			stack = append(stack, tok.Pos.Offset)
		case "}":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return 0, false
	}
	return stack[0], true
}

// syntaxError converts a participle error into a diagnostic. inLine is set
// when the text parsed was one line (its end is the end of the line).
func syntaxError(src *diag.Source, err error, inLine bool) *diag.Diagnostic {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Syntax error", Detail: err.Error(), Subject: diag.Range{Filename: src.Name}}
	}
	pos := perr.Position()
	start := pos.Offset
	end := start + 1
	msg := perr.Message()
	var ut *participle.UnexpectedTokenError
	if errors.As(err, &ut) {
		if ut.Unexpected.EOF() {
			end = start
		} else {
			end = start + len(ut.Unexpected.Value)
		}
		msg = describeUnexpected(ut, inLine)
	}
	if end > len(src.Text) {
		end = len(src.Text)
	}
	return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Syntax error", Detail: msg, Subject: src.Range(start, end)}
}

func describeUnexpected(ut *participle.UnexpectedTokenError, inLine bool) string {
	tok := ut.Unexpected
	what := fmt.Sprintf("unexpected %q", tok.Value)
	switch {
	case tok.EOF() && inLine:
		what = "unexpected end of line"
	case tok.EOF():
		what = "unexpected end of file"
	case tok.Value == "\n" || tok.Value == "\r\n":
		what = "unexpected end of line"
	}
	if ut.Expect != "" {
		return what + "; expected " + ut.Expect
	}
	return what
}

// keywordUsage shows the form of each keyword statement in messages.
var keywordUsage = map[string]string{
	"link":     "`link FIELD <-> FIELD` (e.g. link contactid <-> externalId)",
	"match":    "`match EXPR <-> EXPR` (e.g. match lower(emailaddress1) <-> lower(email))",
	"where":    "`where SIDE: CONDITION` (e.g. where crm: statecode == 0)",
	"conflict": "`conflict newest` or `conflict SIDE`",
	"delete":   "`delete ignore`, `delete propagate` or `delete SIDE: POLICY`",
	"every":    "`every DURATION` (e.g. every 1m, every 30s)",
}

// explainBad reports every Bad node, with the precise error a parse of its
// line alone gives.
func explainBad(src *diag.Source, f *ast.File, fileErr bool) diag.Diagnostics {
	var diags diag.Diagnostics
	explained := 0
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.BadDecl:
			word := ""
			if len(d.Parts) > 0 {
				word = d.Parts[0].Token
			}
			if bad := badToken(src, d.Pos.Offset, d.EndPos.Offset); bad != nil {
				diags = append(diags, bad)
				continue
			}
			if word == "connection" || word == "sync" {
				if !fileErr {
					form := map[string]string{"connection": "`connection NAME KIND { ... }`", "sync": "`sync NAME { ... }`"}[word]
					diags = append(diags, &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Malformed " + word + " block",
						Detail: "write " + form + ".", Subject: src.Range(d.Pos.Offset, d.EndPos.Offset)})
				}
				// Otherwise the block was left open and the file-level
				// error says where.
				continue
			}
			detail := fmt.Sprintf("A file holds `connection NAME KIND { ... }` and `sync NAME { ... }` blocks, not %q.", word)
			diags = append(diags, (&diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Unknown declaration",
				Detail: detail, Subject: src.Range(d.Pos.Offset, d.Pos.Offset+len(word))}).Suggest(diag.Hint{Name: suggest(word, "connection", "sync", "test")}))
		case *ast.Connection:
			for _, it := range d.Items {
				if bad, ok := it.(*ast.BadItem); ok {
					diags = append(diags, reparse(src, bad.Pos.Offset, bad.EndPos.Offset, parseItemLine,
						"a connection block holds settings (`name = value`) and declarations (`attribute \"Name\" string`)", &explained))
				}
			}
		case *ast.Sync:
			for _, st := range d.Stmts {
				if bad, ok := st.(*ast.BadStmt); ok {
					parse := parseStmtLine
					hint := "a sync block holds field lines (`a <-> b`, `EXPR -> field`, `field <- EXPR`) and link, match, where, conflict, delete and every lines"
					if len(bad.Tokens) > 0 && keywordLine[bad.Tokens[0]] != nil {
						parse, hint = keywordLine[bad.Tokens[0]], "write "+keywordUsage[bad.Tokens[0]]
					}
					diags = append(diags, reparse(src, bad.Pos.Offset, bad.EndPos.Offset, parse, hint, &explained))
				}
			}
		}
	}
	return diags
}

// badToken reports the first unterminated string or invalid character in
// [start, end), or nil.
func badToken(src *diag.Source, start, end int) *diag.Diagnostic {
	lex, err := Lexer.LexString(src.Name, string(src.Text[start:end]))
	if err != nil {
		return nil
	}
	syms := Lexer.Symbols()
	for {
		tok, err := lex.Next()
		if err != nil || tok.EOF() {
			return nil
		}
		switch tok.Type {
		case syms["Unterminated"]:
			return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Unterminated string",
				Detail: "the string has no closing quote on this line.", Subject: src.Range(start+tok.Pos.Offset, start+tok.Pos.Offset+len(tok.Value))}
		case syms["Invalid"]:
			return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Invalid character",
				Detail: fmt.Sprintf("%q cannot appear here (outside a string or a comment).", tok.Value), Subject: src.Range(start+tok.Pos.Offset, start+tok.Pos.Offset+len(tok.Value))}
		}
	}
}

// reparse parses the text [start, end) alone and turns its error into a
// diagnostic positioned in the file.
//
// Re-parsing costs a parse per line, so only the first maxExplained lines of
// a file are explained; the rest get the hint alone (renderers print the
// first diag.MaxWritten diagnostics anyway). A file of 40,000 bad lines
// took 10 s before this bound.
func reparse(src *diag.Source, start, end int, parse func(name, line string) error, hint string, n *int) *diag.Diagnostic {
	if *n++; *n > maxExplained {
		return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Syntax error", Detail: "this line is not valid here; " + hint + ".", Subject: src.Range(start, end)}
	}
	if bad := badToken(src, start, end); bad != nil {
		return bad
	}
	text := string(src.Text[start:end])
	err := parse(src.Name, text)
	if err == nil {
		return &diag.Diagnostic{Severity: diag.Error, Code: "syntax", Summary: "Syntax error", Detail: "this line is not valid here; " + hint + ".", Subject: src.Range(start, end)}
	}
	d := syntaxError(diag.NewSource(src.Name, src.Text[start:end]), err, true)
	d.Subject = src.Range(start+d.Subject.Start.Offset, start+d.Subject.End.Offset)
	d.Detail += "; " + hint + "."
	if first := strings.Fields(text); len(first) > 0 && keywordLine[first[0]] == nil {
		d.Suggest(diag.Hint{Name: suggest(first[0], "link", "match", "where", "conflict", "delete", "every")})
	}
	return d
}

// maxExplained is how many bad lines of a file reparse explains in detail.
const maxExplained = 200

// suggest returns the keyword closest to word, or "".
func suggest(word string, candidates ...string) string { return diag.Closest(word, candidates) }

// hasBad reports whether the file holds a Bad node.
func hasBad(f *ast.File) bool {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.BadDecl:
			return true
		case *ast.Connection:
			for _, it := range d.Items {
				if _, ok := it.(*ast.BadItem); ok {
					return true
				}
			}
		case *ast.Sync:
			for _, st := range d.Stmts {
				if _, ok := st.(*ast.BadStmt); ok {
					return true
				}
			}
		}
	}
	return false
}
