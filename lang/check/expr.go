package check

import (
	"errors"
	"fmt"
	"regexp"
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
	label  string // "crm.contact"
	entity *connector.Entity
	// declare is how the side's connection kind declares custom fields
	// inline (nil: it cannot), for the hint on a missing one.
	declare  *connector.DeclareSpec
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
					"There is no function %s().%s", r.Name, functionHint(r.Name)))
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
	return unknownFieldOf(rng, name, s, "")
}

// unknownFieldOf is unknownField for a field written from a value of type
// from ("" when unknown), which the hint to declare a missing custom
// attribute then uses.
func unknownFieldOf(rng diag.Range, name string, s *exprSide, from connector.Type) *diag.Diagnostic {
	names := s.entity.FieldNames()
	detail := fmt.Sprintf("%s has no field %q.", s.label, name)
	if attr, ok := strings.CutPrefix(name, connector.CustomPrefix); ok {
		if d := s.declare; d != nil && !d.Scoped && d.Prefix == connector.CustomPrefix {
			decl := fmt.Sprintf("%s %q %s", d.Keyword, attr, attributeType(from))
			if from == "" {
				types := make([]string, len(d.Types))
				for i, t := range d.Types {
					types[i] = string(t)
				}
				decl = fmt.Sprintf("%s %q TYPE, TYPE one of %s", d.Keyword, attr, strings.Join(types, ", "))
			}
			detail = fmt.Sprintf("%s has no custom attribute %q: declare it in the connection block (%s) or pull the account's schema with `synclang schema pull`.", s.label, attr, decl)
		} else {
			detail = fmt.Sprintf("%s has no custom attribute %q: pull the account's schema with `synclang schema pull`.", s.label, attr)
		}
	}
	// A custom attribute whose name is not an identifier is suggested as
	// it is written: custom["Loyalty Tier"].
	hint := diag.Hint{Name: fieldRef(diag.Closest(name, names))}
	if hint.Name == "" && s.other != nil && s.other.entity != nil {
		if _, ok := s.other.entity.Field(name); ok {
			detail += fmt.Sprintf(" %q is a field of %s, the other side of this line.", name, s.other.label)
		}
	}
	return diag.Errorf(rng, "unknown-field", "Unknown field", "%s", detail).Suggest(hint)
}

// fieldRef is how a field is written in an expression: custom.Tier, or
// custom["Loyalty Tier"] when the attribute's name is not an identifier.
func fieldRef(name string) string {
	attr, ok := strings.CutPrefix(name, connector.CustomPrefix)
	if !ok || identRE.MatchString(attr) {
		return name
	}
	return fmt.Sprintf("custom[%q]", attr)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// attributeType is the declaration type for a custom attribute written
// from a value of type t.
func attributeType(t connector.Type) string {
	switch t {
	case connector.ID, connector.String, "":
		return "string"
	case connector.Choice:
		return "int"
	}
	return string(t)
}

// functionAliases are names other languages give to synclang's functions;
// the checker suggests the function instead of the closest spelling
// (phone() is closest to isPhone, but means e164).
var functionAliases = map[string]string{
	"email": "normEmail", "normalizeEmail": "normEmail", "normaliseEmail": "normEmail", "emailNorm": "normEmail",
	"phone": "e164", "normPhone": "e164", "normalizePhone": "e164", "normalisePhone": "e164", "E164": "e164", "toE164": "e164",
	"upcase": "upper", "uppercase": "upper", "toUpper": "upper", "toupper": "upper", "toUpperCase": "upper", "ucase": "upper",
	"downcase": "lower", "lowercase": "lower", "toLower": "lower", "tolower": "lower", "toLowerCase": "lower", "lcase": "lower",
	"strip": "trim", "trimSpace": "trim", "nvl": "coalesce", "ifnull": "coalesce", "ifNull": "coalesce",
}

// functionHint is the " Did you mean ...?" sentence for an unknown
// function (last, so it reads as the fix), after the signature of the
// function an alias names; it carries the name as data (diag.Hint).
func functionHint(name string) funcHint {
	want, ok := functionAliases[name]
	if !ok {
		return funcHint{Hint: didYouMean(name, eval.FunctionNames())}
	}
	h := funcHint{Hint: diag.Hint{Name: want}}
	if sig := signatureOf(want); sig != "" {
		h.pre = " The function for that is " + sig + "."
	}
	return h
}

// funcHint is a Hint with a sentence before it.
type funcHint struct {
	pre string
	diag.Hint
}

func (h funcHint) String() string { return h.pre + h.Hint.String() }

// signatureOf is a domain function's signature, or "".
func signatureOf(name string) string {
	for _, f := range eval.Funcs {
		if f.Name == name {
			return f.Signature
		}
	}
	return ""
}

// arityRE matches expr-lang's messages for a call with the wrong number of
// arguments.
var arityRE = regexp.MustCompile(`^(?:not enough|too many) arguments to call (\w+)$`)

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
	if m := arityRE.FindStringSubmatch(msg); m != nil {
		if sig := signatureOf(m[1]); sig != "" {
			msg += "; it is " + sig
			for _, f := range eval.Funcs {
				if f.Name == m[1] && f.Example != "" {
					msg += ", e.g. " + f.Example
				}
			}
		}
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
