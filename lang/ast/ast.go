package ast

import (
	"github.com/alecthomas/participle/v2/lexer"
)

// The grammar structs below are the AST. participle fills Pos and EndPos
// (EndPos: the end of the node's last token) and the captured fields from the
// struct tags; the tags are the grammar, and SPEC.md prints it as EBNF
// (a test keeps the two equal).
//
// Every item and statement ends with (?= Newline | "}" | EOF): a line holds
// one of them, so what follows a complete statement on its line makes the
// line a Bad node instead of the start of another statement.
//
// The grammar is loose: setting values, declarations and expressions are
// accepted broadly and lang/check gives meaning (and precise diagnostics) to
// what they say. A line that matches nothing becomes a Bad node, so one typo
// does not hide the errors after it.

// File is one .sync file.
type File struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Decls []Decl `parser:"Newline* ( @@ Newline* )*"`
}

// Decl is a top-level declaration: *Connection, *Sync, *Test or *BadDecl.
type Decl interface {
	Node
	decl()
}

// Node is implemented by every AST node.
type Node interface {
	Span() (start, end lexer.Position)
}

// Ident is a name.
type Ident struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Name string `parser:"@Ident"`
}

// Connection is `connection NAME KIND { ITEM* }`.
type Connection struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Name  *Ident     `parser:"'connection' @@"`
	Kind  *Ident     `parser:"@@ '{' Newline*"`
	Items []ConnItem `parser:"( @@ Newline* )* '}'"`
}

// ConnItem is a line in a connection block: *Setting, *Declaration or
// *BadItem.
type ConnItem interface {
	Node
	connItem()
}

// Setting is `NAME = VALUE`.
type Setting struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Name  *Ident `parser:"@@ '='"`
	Value *Value `parser:"@@ (?= Newline | '}' | EOF)"`
}

// Value is a setting's value: a string, number or boolean literal, a bare
// word (an error the checker explains), or a call env("VAR") /
// secret("VAR").
type Value struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Call   *Call   `parser:"  @@"`
	String *string `parser:"| @String"`
	Number *string `parser:"| @Number"`
	Word   *string `parser:"| @Ident"`
}

// Call is FUNC("ARG") in a setting value.
type Call struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Func *Ident `parser:"@@ '('"`
	Arg  string `parser:"@String ')'"`
}

// Declaration declares a custom field: `attribute "JobTitle" string` (People)
// or `column contact.new_tier string` (Dynamics).
type Declaration struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Keyword *Ident  `parser:"@@"`
	Quoted  *string `parser:"( @String"`
	Path    *Path   `parser:"| @@ )"`
	Type    *Ident  `parser:"@@ (?= Newline | '}' | EOF)"`
}

// BadItem is a connection-block line that is neither a setting nor a
// declaration.
type BadItem struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Tokens []string `parser:"( @!( Newline | '}' ) )+"`
}

// Sync is `sync NAME { PAIR STMT* }`.
type Sync struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Name  *Ident `parser:"'sync' @@ '{' Newline*"`
	Pair  *Pair  `parser:"( @@ Newline* )?"`
	Stmts []Stmt `parser:"( @@ Newline* )* '}'"`
}

// Pair is the first line of a sync: `CONN.ENTITY ARROW CONN.ENTITY`.
type Pair struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Left  *EntityRef `parser:"@@"`
	Arrow *Arrow     `parser:"@@"`
	Right *EntityRef `parser:"@@ (?= Newline | '}' | EOF)"`
}

// EntityRef is CONNECTION.ENTITY.
type EntityRef struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Conn   *Ident `parser:"@@ '.'"`
	Entity *Ident `parser:"@@"`
}

// Arrow is <->, -> or <-.
type Arrow struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Op string `parser:"@Arrow"`
}

// Stmt is a line in a sync block: *Link, *Match, *Where, *Conflict,
// *Delete, *Every, *Map or *BadStmt.
type Stmt interface {
	Node
	stmt()
}

// Link is `link FIELD <-> FIELD`.
type Link struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Left  *Path  `parser:"'link' @@"`
	Arrow *Arrow `parser:"@@"`
	Right *Path  `parser:"@@ (?= Newline | '}' | EOF)"`
}

// Match is `match EXPR <-> EXPR`.
type Match struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Left  *Expr  `parser:"'match' @@"`
	Arrow *Arrow `parser:"@@"`
	Right *Expr  `parser:"@@ (?= Newline | '}' | EOF)"`
}

// Where is `where SIDE: EXPR`.
type Where struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Side *SideRef `parser:"'where' @@ ':'"`
	Cond *Expr    `parser:"@@ (?= Newline | '}' | EOF)"`
}

// SideRef names a side of a sync: CONNECTION or CONNECTION.ENTITY.
type SideRef struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Conn   *Ident `parser:"@@"`
	Entity *Ident `parser:"( '.' @@ )?"`
}

// Conflict is `conflict POLICY`.
type Conflict struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Policy *Ident `parser:"'conflict' @@ (?= Newline | '}' | EOF)"`
}

// Delete is `delete [SIDE:] POLICY`.
type Delete struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Side   *SideRef `parser:"'delete' ( @@ ':' )?"`
	Policy *Ident   `parser:"@@ (?= Newline | '}' | EOF)"`
}

// Every is `every DURATION`.
type Every struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Interval string `parser:"'every' @( Duration | Number ) (?= Newline | '}' | EOF)"`
}

// Map is a field line: `EXPR ARROW EXPR`. Which side is the target follows
// from the arrow (it points at the target; <-> maps both ways).
type Map struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Left  *Expr  `parser:"@@"`
	Arrow *Arrow `parser:"@@"`
	Right *Expr  `parser:"@@ (?= Newline | '}' | EOF)"`
}

// BadStmt is a sync-block line that matches no statement.
type BadStmt struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Tokens []string `parser:"( @!( Newline | '}' ) )+"`
}

// BadDecl is a top-level line that is neither a connection nor a sync,
// with the block it opens, if any, so one misspelt keyword is one error.
type BadDecl struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Parts []*BadPart `parser:"@@+"`
}

// BadPart is a token of a BadDecl, or a brace-delimited block it opens,
// skipped whole (newlines included).
type BadPart struct {
	Token string     `parser:"  @!( Newline | '{' | '}' )"`
	Block []*BadPart `parser:"| '{' ( @@ | Newline )* '}'"`
}

// Path is a field name: NAME, custom.NAME or custom["Long Name"].
type Path struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Head *Ident      `parser:"@@"`
	Rest []*PathElem `parser:"@@*"`
}

// PathElem is .NAME or ["NAME"].
type PathElem struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Name   *Ident  `parser:"  '.' @@"`
	Quoted *string `parser:"| '[' @String ']'"`
}

// Expr is an expr-lang expression kept as source text (the checker slices
// the file between Pos and EndPos and compiles it). The grammar only needs to
// find where it ends: at an arrow or the end of the line, outside brackets.
type Expr struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Parts []*ExprPart `parser:"@@+"`
}

// ExprPart is a token of an expression, or a bracketed group that may span
// lines.
type ExprPart struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Group *Group `parser:"  @@"`
	Token string `parser:"| @!( Newline | Arrow | '(' | ')' | '[' | ']' | '{' | '}' | Unterminated | Invalid )"`
}

// Group is ( ... ), [ ... ] or { ... } inside an expression.
type Group struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Open  string       `parser:"@( '(' | '[' | '{' )"`
	Parts []*GroupPart `parser:"@@*"`
	Close string       `parser:"@( ')' | ']' | '}' )"`
}

// GroupPart is a token inside a group (newlines included) or a nested
// group.
type GroupPart struct {
	Pos    lexer.Position
	EndPos lexer.Position

	Group *Group `parser:"  @@"`
	Token string `parser:"| @!( Arrow | '(' | ')' | '[' | ']' | '{' | '}' | Unterminated | Invalid )"`
}

func (*Connection) decl() {}
func (*Sync) decl()       {}
func (*BadDecl) decl()    {}

func (*Setting) connItem()     {}
func (*Declaration) connItem() {}
func (*BadItem) connItem()     {}

func (*Link) stmt()     {}
func (*Match) stmt()    {}
func (*Where) stmt()    {}
func (*Conflict) stmt() {}
func (*Delete) stmt()   {}
func (*Every) stmt()    {}
func (*Map) stmt()      {}
func (*BadStmt) stmt()  {}

func (n *File) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }
func (n *Ident) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *Connection) Span() (lexer.Position, lexer.Position)  { return n.Pos, n.EndPos }
func (n *Setting) Span() (lexer.Position, lexer.Position)     { return n.Pos, n.EndPos }
func (n *Value) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *Call) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }
func (n *Declaration) Span() (lexer.Position, lexer.Position) { return n.Pos, n.EndPos }
func (n *BadItem) Span() (lexer.Position, lexer.Position)     { return n.Pos, n.EndPos }
func (n *Sync) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }
func (n *Pair) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }
func (n *EntityRef) Span() (lexer.Position, lexer.Position)   { return n.Pos, n.EndPos }
func (n *Arrow) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *Link) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }
func (n *Match) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *Where) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *SideRef) Span() (lexer.Position, lexer.Position)     { return n.Pos, n.EndPos }
func (n *Conflict) Span() (lexer.Position, lexer.Position)    { return n.Pos, n.EndPos }
func (n *Delete) Span() (lexer.Position, lexer.Position)      { return n.Pos, n.EndPos }
func (n *Every) Span() (lexer.Position, lexer.Position)       { return n.Pos, n.EndPos }
func (n *Map) Span() (lexer.Position, lexer.Position)         { return n.Pos, n.EndPos }
func (n *BadStmt) Span() (lexer.Position, lexer.Position)     { return n.Pos, n.EndPos }
func (n *BadDecl) Span() (lexer.Position, lexer.Position)     { return n.Pos, n.EndPos }
func (n *Path) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }
func (n *Expr) Span() (lexer.Position, lexer.Position)        { return n.Pos, n.EndPos }

// Name returns the path as a field name: "firstname", "custom.JobTitle",
// "custom.Contract Expiry".
func (p *Path) Name() string {
	s := p.Head.Name
	for _, e := range p.Rest {
		if e.Name != nil {
			s += "." + e.Name.Name
		} else if e.Quoted != nil {
			s += "." + Unquote(*e.Quoted)
		}
	}
	return s
}

// Name returns the side reference as written: "crm" or "crm.contact".
func (s *SideRef) Name() string {
	if s.Entity != nil {
		return s.Conn.Name + "." + s.Entity.Name
	}
	return s.Conn.Name
}
