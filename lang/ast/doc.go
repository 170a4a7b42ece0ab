// Package ast holds the syntax tree of .sync files. The node types are also
// the grammar: their participle struct tags define it, lang/parser builds the
// parser from them, and SPEC.md shows the grammar as EBNF.
//
// Every node carries Pos and EndPos; unions (Decl, ConnItem, Stmt) are sealed
// by private marker methods. Meaning is not checked here but in lang/check.
package ast
