package eval

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"

	"github.com/synclang/synclang/connectors/connector"
)

var timeType = reflect.TypeOf(time.Time{})

// customVar is the expression variable holding custom attributes
// (connector.CustomPrefix without its dot).
var customVar = strings.TrimSuffix(connector.CustomPrefix, ".")

// exprType maps a field type to the type expr checks against.
func exprType(t connector.Type) types.Type {
	switch t {
	case connector.String, connector.ID:
		return types.String
	case connector.Int, connector.Choice:
		return types.Int64
	case connector.Decimal:
		return types.Float64
	case connector.Bool:
		return types.Bool
	case connector.Date, connector.DateTime:
		return types.TypeOf(time.Time{})
	case connector.List:
		return types.TypeOf([]any{})
	}
	return types.Any
}

// TypeEnv is the typed environment of expressions over records with the
// given fields: every field is a variable of its type, and custom attributes
// ("custom.X") are keys of the map variable custom.
func TypeEnv(fields []*connector.Field) types.Map {
	env := types.Map{}
	var custom types.Map
	for _, f := range fields {
		if name, ok := strings.CutPrefix(f.Name, connector.CustomPrefix); ok {
			if custom == nil {
				custom = types.Map{}
			}
			custom[name] = exprType(f.Type)
			continue
		}
		env[f.Name] = exprType(f.Type)
	}
	if custom != nil {
		env[customVar] = custom
	}
	return env
}

// Options returns the expr options for expressions over records with the
// given fields: the typed environment and the domain functions.
func Options(fields []*connector.Field) []expr.Option {
	return append([]expr.Option{expr.Env(TypeEnv(fields))}, funcOptions()...)
}

// Compile compiles a field expression for records with the given fields.
// The checker has already reported problems with positions; an error here is
// a bug or a plan edited by hand.
func Compile(src string, fields []*connector.Field) (*vm.Program, error) {
	return CompilerFor(fields).Compile(src)
}

// MaxNesting is how deep brackets may nest in an expression. expr-lang
// bounds an expression's size (conf.DefaultMaxNodes, 10,000 nodes) but its
// parser recurses once per "(" without making a node, so a million of them
// overflow the stack, a crash Go cannot recover from. The .sync parser
// refuses such files first (parser.MaxNesting); this guards expressions
// that come from elsewhere, such as a plan file edited by hand.
const MaxNesting = 100

// checkNesting refuses an expression whose brackets nest deeper than
// MaxNesting. Brackets inside string literals do not count.
func checkNesting(src string) error {
	depth := 0
	var quote byte
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case quote != 0 && quote != '`' && ch == '\\':
			i++
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'' || ch == '`':
			quote = ch
		case ch == '(' || ch == '[' || ch == '{':
			if depth++; depth > MaxNesting {
				return fmt.Errorf("brackets nest more than %d deep (at byte %d)", MaxNesting, i)
			}
		case ch == ')' || ch == ']' || ch == '}':
			depth = max(depth-1, 0)
		}
	}
	return nil
}

// Compiler compiles many expressions over records with one set of fields.
// It builds expr's configuration (the typed environment, the builtins and
// the domain functions) once and compiles every expression against it:
// expr.Compile rebuilds that configuration on every call, which was half
// of the language server's time per change on a 200-sync project
// (lang/lsp BenchmarkChangeToDiagnostics). expr.Compile's steps are
// public (checker.ParseCheck, optimizer.Optimize, compiler.Compile), and
// its maintainer points at reusing the configuration rather than a new
// API (expr-lang/expr#541). A Compiler is safe for concurrent use: the
// checker fills the configuration's type cache (conf.Config.NtCache) as it
// goes, so compiles take turns.
type Compiler struct {
	mu     sync.Mutex
	config *conf.Config
}

// NewCompiler returns a compiler for records with the given fields.
func NewCompiler(fields []*connector.Field) *Compiler {
	// The configuration expr.Compile builds, step by step (expr.go).
	config := conf.CreateNew()
	for _, op := range Options(fields) {
		op(config)
	}
	for name := range config.Disabled {
		delete(config.Builtins, name)
	}
	config.Check()
	return &Compiler{config: config}
}

// Compile compiles one expression (see the package function Compile).
func (c *Compiler) Compile(src string) (*vm.Program, error) {
	if err := checkNesting(src); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// What expr.Compile does after building its configuration (expr.go).
	tree, err := checker.ParseCheck(src, c.config)
	if err != nil {
		return nil, err
	}
	if c.config.Optimize {
		if err := optimizer.Optimize(&tree.Node, c.config); err != nil {
			var ferr *file.Error
			if errors.As(err, &ferr) {
				return nil, ferr.Bind(tree.Source)
			}
			return nil, err
		}
	}
	p, err := compiler.Compile(tree, c.config)
	if err != nil {
		return nil, err
	}
	nilSafeEquality(p)
	return p, nil
}

// compilers holds the compilers CompilerFor made, by the fields' names and
// types; a project has a few entities, so it stays small, and a schema
// change makes a new key. Its size is bounded all the same (maxCompilers):
// when full it starts afresh.
var compilers = struct {
	sync.Mutex
	m map[string]*Compiler
}{m: map[string]*Compiler{}}

const maxCompilers = 256

// CompilerFor returns a compiler for records with the given fields, the
// same one for fields with the same names and types, so checking the
// syncs of one entity pair builds expr's configuration once per process.
func CompilerFor(fields []*connector.Field) *Compiler {
	var key strings.Builder
	for _, f := range fields {
		key.WriteString(f.Name)
		key.WriteByte(0)
		key.WriteString(string(f.Type))
		key.WriteByte(0)
	}
	compilers.Lock()
	defer compilers.Unlock()
	if c, ok := compilers.m[key.String()]; ok {
		return c
	}
	if len(compilers.m) >= maxCompilers {
		clear(compilers.m)
	}
	c := NewCompiler(fields)
	compilers.m[key.String()] = c
	return c
}

// nilSafeEquality makes == and != between two string-typed operands use
// expr's generic equality, which handles nil. A string field is nil when the
// record has no value, and expr's specialised string comparison (emitted
// because the typed environment says "string") would panic on it:
// `gender == "MALE" ? 1 : nil` must give nil for a person without a gender,
// not fail. Both opcodes take no argument, so swapping them is safe.
func nilSafeEquality(p *vm.Program) {
	for i, op := range p.Bytecode {
		// OpEqualInt is emitted only for Go int operands, which no field
		// type produces today (ints are int64); swap it too so a future
		// field type cannot bring the panic back.
		if op == vm.OpEqualString || op == vm.OpEqualInt {
			p.Bytecode[i] = vm.OpEqual
		}
	}
}

// Env builds the value environment of one record for fields: every field is
// present (nil when the record has no value), custom attributes nested under
// custom. Fill reuses such a map for the next record.
func Env(rec connector.Record, fields []*connector.Field) map[string]any {
	env := make(map[string]any, len(fields)+1)
	Fill(env, rec, fields)
	return env
}

// Fill fills env with rec's values for fields, reusing env's storage.
func Fill(env map[string]any, rec connector.Record, fields []*connector.Field) {
	var custom map[string]any
	if c, ok := env[customVar].(map[string]any); ok {
		custom = c
	}
	for _, f := range fields {
		v := rec.Fields[f.Name]
		if name, ok := strings.CutPrefix(f.Name, connector.CustomPrefix); ok {
			if custom == nil {
				custom = map[string]any{}
				env[customVar] = custom
			}
			custom[name] = v
			continue
		}
		env[f.Name] = v
	}
}

// TypeOf maps the static type expr inferred for an expression to a field
// type; "" means it cannot be told (any, or a conditional that may give nil).
func TypeOf(t reflect.Type) connector.Type {
	if t == nil {
		return ""
	}
	if t == timeType {
		return connector.DateTime
	}
	switch t.Kind() {
	case reflect.String:
		return connector.String
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return connector.Int
	case reflect.Float32, reflect.Float64:
		return connector.Decimal
	case reflect.Bool:
		return connector.Bool
	case reflect.Slice, reflect.Array:
		return connector.List
	}
	return ""
}

// Assignable reports whether a value of static type from (as TypeOf gives
// it; "" for unknown) may be written to a field of type to without a
// conversion function. Unknown types are checked when the record is written.
func Assignable(from, to connector.Type) bool {
	if from == "" || to == connector.Object {
		return true
	}
	switch to {
	case connector.String, connector.ID:
		return from == connector.String || from == connector.ID
	case connector.Int, connector.Choice:
		return from == connector.Int || from == connector.Choice
	case connector.Decimal:
		return from == connector.Int || from == connector.Decimal || from == connector.Choice
	case connector.Date, connector.DateTime:
		return from == connector.Date || from == connector.DateTime
	}
	return from == to
}

// Ref is a reference to a name in an expression: a field, custom.X, or an
// unknown name. From and To are byte offsets into the expression source.
type Ref struct {
	Name     string
	From, To int
	// Call is set when the name is called as a function.
	Call bool
}

// Refs parses src and lists the names it reads from the environment, in
// source order: identifiers, and custom.X / custom["X"] as "custom.X".
// Function callees, let-bound names and closure pointers are left out.
func Refs(src string) ([]Ref, error) {
	if err := checkNesting(src); err != nil {
		return nil, err
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, err
	}
	c := &refCollector{src: src, locals: map[string]bool{}}
	ast.Walk(&tree.Node, c)
	var out []Ref
	for _, r := range c.refs {
		if !c.locals[r.Name] {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out, nil
}

type refCollector struct {
	src    string
	refs   []Ref
	locals map[string]bool
}

// Visit sees children before parents (ast.Walk is post-order): an
// identifier is recorded first, then its parent call marks it as a callee or
// its parent custom.X member access replaces it with the attribute's name.
func (c *refCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		c.locals[n.Name] = true
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			c.markCall(id)
		}
	case *ast.BuiltinNode:
		// Builtins with special parsing (len, filter, ...) have no callee
		// identifier; record the name so callers see every call.
		from := c.byteOff(n.Location().From)
		c.refs = append(c.refs, Ref{Name: n.Name, From: from, To: from + len(n.Name), Call: true})
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, ok2 := n.Property.(*ast.StringNode)
		if ok && ok2 && id.Value == customVar {
			c.replace(id, Ref{Name: connector.CustomPrefix + prop.Value, From: c.byteOff(n.Location().From), To: c.byteOff(n.Location().To)})
		}
	case *ast.IdentifierNode:
		c.refs = append(c.refs, Ref{Name: n.Value, From: c.byteOff(n.Location().From), To: c.byteOff(n.Location().To)})
	}
}

func (c *refCollector) markCall(id *ast.IdentifierNode) {
	from := c.byteOff(id.Location().From)
	for i := len(c.refs) - 1; i >= 0; i-- {
		if c.refs[i].From == from && c.refs[i].Name == id.Value {
			c.refs[i].Call = true
			return
		}
	}
}

func (c *refCollector) replace(id *ast.IdentifierNode, r Ref) {
	from := c.byteOff(id.Location().From)
	for i := len(c.refs) - 1; i >= 0; i-- {
		if c.refs[i].From == from && c.refs[i].Name == id.Value {
			c.refs[i] = r
			return
		}
	}
	c.refs = append(c.refs, r)
}

// byteOff converts expr's rune offset into a byte offset of c.src.
func (c *refCollector) byteOff(runeOff int) int { return RuneToByte(c.src, runeOff) }

// RuneToByte converts a rune offset in s (as expr's locations count) into a
// byte offset.
func RuneToByte(s string, runeOff int) int {
	b := 0
	for i := 0; i < runeOff && b < len(s); i++ {
		_, size := utf8.DecodeRuneInString(s[b:])
		b += size
	}
	return b
}

// IsFunction reports whether name is a function available in expressions:
// a domain function or an expr builtin.
func IsFunction(name string) bool {
	for _, f := range Funcs {
		if f.Name == name {
			return true
		}
	}
	if _, ok := builtinNames[name]; ok {
		return true
	}
	return false
}

var builtinNames = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range builtin.Builtins {
		m[f.Name] = true
	}
	return m
}()

// FunctionNames lists every callable name, sorted, for suggestions.
func FunctionNames() []string {
	seen := map[string]bool{}
	for _, f := range Funcs {
		seen[f.Name] = true
	}
	for n := range builtinNames {
		seen[n] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run evaluates a compiled expression in env and converts the result to the
// canonical value of type t (nil stays nil). The error says what went wrong
// in terms a user can fix.
func Run(p *vm.Program, env map[string]any, t connector.Type) (any, error) {
	out, err := expr.Run(p, env)
	if err != nil {
		return nil, err
	}
	if t == "" {
		return out, nil
	}
	v, err := connector.Canonical(t, out)
	if err != nil {
		return nil, fmt.Errorf("result %v", err)
	}
	return v, nil
}
