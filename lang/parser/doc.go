// Package parser turns .sync source into an ast.File: the lexer ([Lexer]),
// the participle parser built from the ast package's grammar structs, and
// [Parse], which returns the (possibly partial) file with a diagnostic for
// every syntax error. A malformed line becomes a Bad node that is then
// re-parsed alone to say precisely what is wrong with it, so one typo does
// not hide the errors after it. [Grammar] prints the grammar as EBNF.
package parser
