package ast

import "github.com/alecthomas/participle/v2/lexer"

// Test is `test "NAME" { STEP* }`: a unit test of a project's syncs, written
// in a *_test.sync file (see SPEC.md "Tests"). Like every block, its grammar
// is loose: a step is a keyword, words and an optional record body, and
// lang/check gives each step its meaning.
type Test struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Name  *TestName `parser:"'test' @@ '{' Newline*"`
	Steps []Step    `parser:"( @@ Newline* )* '}'"`
}

// TestName is the quoted name of a test.
type TestName struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Quoted string `parser:"@String"`
}

// Step is a line of a test block: *TestStep or *BadStep.
type Step interface {
	Node
	step()
}

// TestStep is `KEYWORD WORD* [{ FIELD* }]`: sync, given, update, delete,
// run or expect, with the entity, record name and fields it applies to.
type TestStep struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Keyword *Ident  `parser:"@@"`
	Words   []*Word `parser:"@@*"`
	Body    *Body   `parser:"@@? (?= Newline | '}' | EOF)"`
}

// Word is an argument of a test step: a name or dotted path
// (crm.contact), a string, a number or an arrow.
type Word struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Path   *Path   `parser:"  @@"`
	String *string `parser:"| @String"`
	Number *string `parser:"| @Number"`
	Arrow  *Arrow  `parser:"| @@"`
}

// Body is the `{ FIELD = VALUE ... }` of a test step.
type Body struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Items []BodyItem `parser:"'{' Newline* ( @@ Newline* )* '}'"`
}

// BodyItem is a line of a body: *FieldValue or *BadItem.
type BodyItem interface {
	Node
	bodyItem()
}

// FieldValue is `FIELD = EXPR` in a body: a record's field and its value.
type FieldValue struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Field *Path `parser:"@@ '='"`
	Value *Expr `parser:"@@ (?= Newline | '}' | EOF)"`
}

// BadStep is a test-block line that matches no step, with the block it
// opens, if any.
type BadStep struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Parts []*BadPart `parser:"@@+"`
}

func (*Test) decl()           {}
func (*TestStep) step()       {}
func (*BadStep) step()        {}
func (*FieldValue) bodyItem() {}
func (*BadItem) bodyItem()    {}

func (n *Test) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *TestName) Span() (lexer.Position, lexer.Position)   { return n.Pos, n.EndPos }
func (n *TestStep) Span() (lexer.Position, lexer.Position)   { return n.Pos, n.EndPos }
func (n *Word) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *Body) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *FieldValue) Span() (lexer.Position, lexer.Position) { return n.Pos, n.EndPos }
func (n *BadStep) Span() (lexer.Position, lexer.Position)    { return n.Pos, n.EndPos }

// Text returns the word as written, without quotes for a string.
func (w *Word) Text() string {
	switch {
	case w.Path != nil:
		return w.Path.Name()
	case w.String != nil:
		return Unquote(*w.String)
	case w.Number != nil:
		return *w.Number
	case w.Arrow != nil:
		return w.Arrow.Op
	}
	return ""
}
