package check

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	exprast "github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	exprparser "github.com/expr-lang/expr/parser"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
)

// exprText returns the source text of an expression.
func exprText(f *File, e *ast.Expr) string {
	return string(f.Source.Text[e.Pos.Offset:e.EndPos.Offset])
}

// subRange is the range of bytes [from, to) of an expression's text.
func subRange(f *File, e *ast.Expr, from, to int) diag.Range {
	if to <= from {
		to = from + 1
	}
	return f.Source.Range(e.Pos.Offset+from, min(e.Pos.Offset+to, e.EndPos.Offset))
}

// asPath returns the field an expression names when it is a plain field
// (firstname, custom.JobTitle, custom["Contract Expiry"]).
func asPath(text string) (string, bool) {
	tree, err := exprparser.Parse(text)
	if err != nil {
		return "", false
	}
	switch n := tree.Node.(type) {
	case *exprast.IdentifierNode:
		return n.Value, true
	case *exprast.MemberNode:
		id, ok := n.Node.(*exprast.IdentifierNode)
		prop, ok2 := n.Property.(*exprast.StringNode)
		if ok && ok2 && id.Value+"." == connector.CustomPrefix {
			return connector.CustomPrefix + prop.Value, true
		}
	}
	return "", false
}

// exprSide is what an expression is evaluated over: one side of a sync.
type exprSide struct {
	label    string // "crm.contact"
	entity   *connector.Entity
	other    *exprSide // the opposite side, for cross-side hints
	compiler *eval.Compiler
}

// expression checks an expression over side s: every name is a field of s
// or a function, and it compiles. It returns nil after reporting problems.
func (c *checker) expression(f *File, e *ast.Expr, s *exprSide) *plan.Expr {
	text := exprText(f, e)
	refs, err := eval.Refs(text)
	if err != nil {
		c.exprError(f, e, text, err)
		return nil
	}
	ok := true
	var fields []string
	for _, r := range refs {
		if r.Call {
			if !eval.IsFunction(r.Name) {
				c.add(diag.Errorf(subRange(f, e, r.From, r.To), "unknown-function", "Unknown function",
					"There is no function %s().%s", r.Name, didYouMean(r.Name, eval.FunctionNames())))
				ok = false
			}
			continue
		}
		if _, found := s.entity.Field(r.Name); found {
			fields = append(fields, r.Name)
			continue
		}
		c.add(unknownField(subRange(f, e, r.From, r.To), r.Name, s))
		ok = false
	}
	if !ok {
		return nil
	}
	if s.compiler == nil {
		s.compiler = eval.CompilerFor(s.entity.Fields)
	}
	prog, err := s.compiler.Compile(text)
	if err != nil {
		c.exprError(f, e, text, err)
		return nil
	}
	return &plan.Expr{
		Source: text,
		Fields: uniqueSorted(fields),
		Type:   eval.TypeOf(prog.Node().Type()),
		Range:  nodeRange(f, e),
	}
}

// unknownField explains a name that is not a field of the side an
// expression reads, with a suggestion and a hint when the other side has it.
func unknownField(rng diag.Range, name string, s *exprSide) *diag.Diagnostic {
	names := s.entity.FieldNames()
	detail := fmt.Sprintf("%s has no field %q.", s.label, name)
	if attr, ok := strings.CutPrefix(name, connector.CustomPrefix); ok {
		detail = fmt.Sprintf("%s has no custom attribute %q: declare it in the connection block (attribute %q string) or pull the account's schema with `synclang schema pull`.", s.label, attr, attr)
	}
	hint := didYouMean(name, names)
	if hint.Name == "" && s.other != nil && s.other.entity != nil {
		if _, ok := s.other.entity.Field(name); ok {
			detail += fmt.Sprintf(" %q is a field of %s, the other side of this line.", name, s.other.label)
		}
	}
	return diag.Errorf(rng, "unknown-field", "Unknown field", "%s", detail).Suggest(hint)
}

// exprError maps an expr-lang error into the file's coordinates.
func (c *checker) exprError(f *File, e *ast.Expr, text string, err error) {
	var ferr *file.Error
	msg := err.Error()
	rng := nodeRange(f, e)
	if errors.As(err, &ferr) {
		msg = ferr.Message
		from := eval.RuneToByte(text, ferr.From)
		to := eval.RuneToByte(text, max(ferr.To, ferr.From+1))
		rng = subRange(f, e, from, to)
	}
	msg = strings.TrimSuffix(msg, ".")
	if msg == "unexpected token EOF" {
		msg = "the expression ends too early"
	}
	c.add(diag.Errorf(rng, "expr-error", "Invalid expression", "%s.", msg))
}

func uniqueSorted(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// literal is a constant an expression can evaluate to.
type literal struct {
	value    any // string or int64
	from, to int // byte offsets in the expression text
}

// resultLiterals lists the string and integer literals an expression can
// return: itself, the branches of conditionals, both sides of ??, and the
// arguments of coalesce.
func resultLiterals(text string) []literal {
	tree, err := exprparser.Parse(text)
	if err != nil {
		return nil
	}
	var out []literal
	var walk func(n exprast.Node)
	walk = func(n exprast.Node) {
		loc := n.Location()
		from, to := eval.RuneToByte(text, loc.From), eval.RuneToByte(text, loc.To)
		switch n := n.(type) {
		case *exprast.StringNode:
			out = append(out, literal{n.Value, from, to})
		case *exprast.IntegerNode:
			out = append(out, literal{int64(n.Value), from, to})
		case *exprast.ConditionalNode:
			walk(n.Exp1)
			walk(n.Exp2)
		case *exprast.BinaryNode:
			if n.Operator == "??" {
				walk(n.Left)
				walk(n.Right)
			}
		case *exprast.CallNode:
			if id, ok := n.Callee.(*exprast.IdentifierNode); ok && id.Value == "coalesce" {
				for _, a := range n.Arguments {
					walk(a)
				}
			}
		}
	}
	walk(tree.Node)
	return out
}
