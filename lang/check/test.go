package check

import (
	"fmt"
	"sort"
	"strings"

	exprast "github.com/expr-lang/expr/ast"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
)

// TestFileSuffix ends the names of the files that hold test blocks.
const TestFileSuffix = "_test.sync"

// reportCounters are the flow counters an `expect report` body may name
// (engine.FlowReport's JSON names).
var reportCounters = []string{"read", "skipped", "created", "updated", "unchanged", "linked", "linkedByMatch",
	"writtenBack", "deleted", "unlinked", "rejected", "conflicts"}

// rejectCodes are the codes of rejected records, as `synclang rejects`
// prints them ("rejected-" and the engine.RejectKind), which an `expect
// rejected` body's code may name.
var rejectCodes = []string{"rejected-expression", "rejected-value", "rejected-service", "rejected-ambiguous", "rejected-foreign", "rejected-unfinished-create"}

// testCheck checks one test block against the checked syncs.
type testCheck struct {
	*checker
	f     *File
	pt    *plan.Test
	syncs []*plan.Sync
	// given holds the records given so far by "conn.entity name"; names
	// every record name given on any entity.
	given map[string]bool
	names map[string]bool
	// run is set once a run step is seen; expect steps before any run get
	// one inserted.
	run bool
	// broken is set when the test names a sync that has errors.
	broken bool
}

// tests checks every test block; syncs are the project's checked syncs,
// declared the names of all its syncs (those with errors too, whose tests
// are left unchecked: their errors are reported already).
func (c *checker) tests(files []*File, syncs []*plan.Sync, syncNames []string) []*plan.Test {
	type declared struct {
		f *File
		n ast.Node
	}
	seen := map[string]declared{}
	var out []*plan.Test
	for _, f := range files {
		for _, d := range f.AST.Decls {
			t, ok := d.(*ast.Test)
			if !ok {
				continue
			}
			name := ast.Unquote(t.Name.Quoted)
			if !strings.HasSuffix(f.Source.Name, TestFileSuffix) {
				c.errorf(f, t.Name, "bad-test", "Test outside a test file",
					"Test blocks belong in files whose names end in %s (contacts%s), which run, plan and compile leave out.", TestFileSuffix, TestFileSuffix)
				continue
			}
			if prev, dup := seen[name]; dup {
				c.errorf(f, t.Name, "bad-test", "Duplicate test", "A test named %q is already declared.", name).
					Related = []diag.Related{{Message: "previous declaration here", Subject: nodeRange(prev.f, prev.n)}}
				continue
			}
			seen[name] = declared{f, t.Name}
			if pt := c.test(f, t, name, syncs, syncNames); pt != nil {
				out = append(out, pt)
			}
		}
	}
	// In the order of the files and, in each, of the lines.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Range, out[j].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Offset < b.Start.Offset
	})
	return out
}

func (c *checker) test(f *File, t *ast.Test, name string, syncs []*plan.Sync, declared []string) *plan.Test {
	before := len(c.diags)
	tc := &testCheck{checker: c, f: f, pt: &plan.Test{Name: name, Range: nodeRange(f, t.Name)},
		given: map[string]bool{}, names: map[string]bool{}}
	// sync lines first: every other step resolves against them.
	for _, st := range t.Steps {
		if s, ok := st.(*ast.TestStep); ok && s.Keyword.Name == "sync" {
			tc.syncLine(s, syncs, declared)
		}
	}
	if tc.broken {
		return nil
	}
	if len(tc.pt.Syncs) == 0 && len(c.diags) == before {
		c.errorf(f, t.Name, "bad-test", "Test without a sync", "Name the syncs the test runs: `sync contacts`.")
	}
	expects := 0
	for _, st := range t.Steps {
		switch s := st.(type) {
		case *ast.BadStep:
			c.errorf(f, s, "syntax", "Malformed test step", "%s", stepUsage)
		case *ast.TestStep:
			if s.Keyword.Name == "expect" {
				expects++
			}
			tc.step(s)
		}
	}
	if expects == 0 && len(c.diags) == before {
		c.errorf(f, t.Name, "bad-test", "Test expects nothing", "A test needs at least one expect line; otherwise it cannot fail.")
	}
	if diag.Diagnostics(c.diags[before:]).HasErrors() {
		return nil
	}
	return tc.pt
}

const stepUsage = "a test holds `sync NAME`, `given CONN.ENTITY NAME { FIELD = VALUE ... }`, `update CONN.ENTITY NAME { ... }`, " +
	"`delete CONN.ENTITY NAME`, `run`, `expect [exactly] CONN.ENTITY NAME { ... }`, `expect count CONN.ENTITY N`, " +
	"`expect report CONN.ENTITY -> CONN.ENTITY { COUNTER = N ... }`, `expect rejected CONN.ENTITY NAME { ... }` and `expect conflict CONN.ENTITY NAME { ... }` lines."

func (tc *testCheck) usage(n ast.Node, form string) {
	tc.errorf(tc.f, n, "bad-test", "Malformed test step", "Write %s.", form)
}

func (tc *testCheck) syncLine(s *ast.TestStep, syncs []*plan.Sync, declared []string) {
	if len(s.Words) == 0 || s.Body != nil {
		tc.usage(s, "`sync NAME` (e.g. sync contacts)")
		return
	}
	for _, w := range s.Words {
		found := false
		for _, ps := range syncs {
			if ps.Name == w.Text() {
				found = true
				if !contains(tc.pt.Syncs, ps.Name) {
					tc.pt.Syncs = append(tc.pt.Syncs, ps.Name)
					tc.syncs = append(tc.syncs, ps)
				}
			}
		}
		switch {
		case found:
		case contains(declared, w.Text()):
			tc.broken = true
		default:
			sort.Strings(declared)
			tc.errorf(tc.f, w, "unknown-sync", "Unknown sync", "The project has no sync %q; its syncs are %s.%s",
				w.Text(), quoteList(declared), didYouMean(w.Text(), declared))
		}
	}
	sort.Slice(tc.syncs, func(i, j int) bool { return tc.syncs[i].Name < tc.syncs[j].Name })
	sort.Strings(tc.pt.Syncs)
}

func (tc *testCheck) add(st *plan.Step) { tc.pt.Steps = append(tc.pt.Steps, st) }

func (tc *testCheck) step(s *ast.TestStep) {
	rng := nodeRange(tc.f, s)
	words := s.Words
	switch s.Keyword.Name {
	case "sync":
		return // done first
	case "run":
		if len(words) > 0 || s.Body != nil {
			tc.usage(s, "`run` alone on its line")
			return
		}
		tc.run = true
		tc.add(&plan.Step{Op: plan.StepRun, Range: rng})
	case "given", "update":
		op := plan.StepOp(s.Keyword.Name)
		if len(words) != 2 || s.Body == nil {
			tc.usage(s, fmt.Sprintf("`%s CONN.ENTITY NAME { FIELD = VALUE ... }`", op))
			return
		}
		ent, st := tc.record(op, rng, words[0], words[1])
		if ent == nil {
			return
		}
		st.Fields = tc.fields(s.Body, ent, st.Connection+"."+st.Entity, true)
		tc.add(st)
	case "delete":
		if len(words) != 2 || s.Body != nil {
			tc.usage(s, "`delete CONN.ENTITY NAME`")
			return
		}
		if _, st := tc.record(plan.StepDelete, rng, words[0], words[1]); st != nil {
			tc.add(st)
		}
	case "expect":
		tc.expect(s, rng)
	default:
		d := tc.errorf(tc.f, s.Keyword, "bad-test", "Unknown test step", "%q is not a test step; %s", s.Keyword.Name, stepUsage)
		d.Suggest(didYouMean(s.Keyword.Name, []string{"sync", "given", "update", "delete", "run", "expect"}))
	}
}

// implicitRun inserts a run before the first expect of a test without one.
func (tc *testCheck) implicitRun(rng diag.Range) {
	if !tc.run {
		tc.run = true
		tc.add(&plan.Step{Op: plan.StepRun, Range: rng})
	}
}

func (tc *testCheck) expect(s *ast.TestStep, rng diag.Range) {
	words := s.Words
	mode := ""
	if len(words) > 0 && words[0].Path != nil && len(words[0].Path.Rest) == 0 {
		switch w := words[0].Text(); w {
		case "exactly", "count", "report", "rejected", "conflict":
			mode, words = w, words[1:]
		}
	}
	tc.implicitRun(rng)
	switch mode {
	case "", "exactly":
		if len(words) != 2 || s.Body == nil {
			tc.usage(s, "`expect [exactly] CONN.ENTITY NAME { FIELD = VALUE ... }`")
			return
		}
		ent, st := tc.record(plan.StepExpect, rng, words[0], words[1])
		if ent == nil {
			return
		}
		st.Exactly = mode == "exactly"
		st.Fields = tc.fields(s.Body, ent, st.Connection+"."+st.Entity, false)
		tc.add(st)
	case "count":
		if len(words) != 2 || words[1].Number == nil || s.Body != nil {
			tc.usage(s, "`expect count CONN.ENTITY N` (e.g. expect count infobip.customer 1)")
			return
		}
		conn, entity, ent := tc.entity(words[0])
		if ent == nil {
			return
		}
		var n int
		if _, err := fmt.Sscanf(*words[1].Number, "%d", &n); err != nil || n < 0 {
			tc.usage(words[1], "a whole number of records")
			return
		}
		tc.add(&plan.Step{Op: plan.StepExpectCount, Range: rng, Connection: conn, Entity: entity, Count: n})
	case "report":
		if len(words) != 3 || words[1].Arrow == nil || words[1].Arrow.Op != "->" || s.Body == nil {
			tc.usage(s, "`expect report CONN.ENTITY -> CONN.ENTITY { created = 1 ... }` (the flow, source first)")
			return
		}
		fc, fe, from := tc.entity(words[0])
		toc, te, to := tc.entity(words[2])
		if from == nil || to == nil {
			return
		}
		st := &plan.Step{Op: plan.StepExpectReport, Range: rng, From: fc + "." + fe, To: toc + "." + te}
		if !tc.hasFlow(st.From, st.To) {
			tc.errorf(tc.f, s, "bad-test", "Unknown flow", "None of the test's syncs (%s) copies %s to %s.", strings.Join(tc.pt.Syncs, ", "), st.From, st.To)
			return
		}
		st.Fields = tc.properties(s.Body, "a flow report", reportCounters, nil)
		tc.add(st)
	case "rejected", "conflict":
		if len(words) != 2 {
			tc.usage(s, fmt.Sprintf("`expect %s CONN.ENTITY NAME [{ ... }]`", mode))
			return
		}
		op := plan.StepExpectRejected
		keys, enums := []string{"field", "code", "reason"}, map[string][]string{"code": rejectCodes}
		if mode == "conflict" {
			op = plan.StepExpectConflict
			keys, enums = []string{"field", "winner"}, map[string][]string{"winner": tc.connections()}
		}
		ent, st := tc.record(op, rng, words[0], words[1])
		if ent == nil {
			return
		}
		if s.Body != nil {
			st.Fields = tc.properties(s.Body, "an expect "+mode+" line", keys, enums)
		}
		tc.add(st)
	}
}

// hasFlow reports whether one of the test's syncs copies from to to.
func (tc *testCheck) hasFlow(from, to string) bool {
	for _, ps := range tc.syncs {
		for _, fl := range ps.Flows {
			a, b := ps.Side(fl.From), ps.Side(fl.To)
			if a.Connection+"."+a.Entity == from && b.Connection+"."+b.Entity == to {
				return true
			}
		}
	}
	return false
}

// connections lists the connections of the test's syncs.
func (tc *testCheck) connections() []string {
	var out []string
	for _, ps := range tc.syncs {
		for _, s := range []*plan.Side{ps.Left, ps.Right} {
			if !contains(out, s.Connection) {
				out = append(out, s.Connection)
			}
		}
	}
	sort.Strings(out)
	return out
}

// entity resolves CONN.ENTITY against the sides of the test's syncs.
func (tc *testCheck) entity(w *ast.Word) (string, string, *connector.Entity) {
	if w.Path == nil || len(w.Path.Rest) != 1 || w.Path.Rest[0].Name == nil {
		tc.usage(w, "the entity as CONN.ENTITY (e.g. crm.contact)")
		return "", "", nil
	}
	conn, entity := w.Path.Head.Name, w.Path.Rest[0].Name.Name
	var sides []string
	for _, ps := range tc.syncs {
		for _, s := range []*plan.Side{ps.Left, ps.Right} {
			label := s.Connection + "." + s.Entity
			if !contains(sides, label) {
				sides = append(sides, label)
			}
		}
	}
	if !contains(sides, conn+"."+entity) {
		if len(tc.syncs) > 0 {
			tc.errorf(tc.f, w, "unknown-entity", "Unknown entity", "%s.%s is not an entity of the test's syncs (%s); they sync %s.%s",
				conn, entity, strings.Join(tc.pt.Syncs, ", "), quoteList(sides), didYouMean(conn+"."+entity, sides))
		}
		return "", "", nil
	}
	ent, _ := tc.conns[conn].schema.Entity(entity)
	return conn, entity, ent
}

// record resolves `CONN.ENTITY NAME` for a step and keeps track of the
// records given so far.
func (tc *testCheck) record(op plan.StepOp, rng diag.Range, ew, nw *ast.Word) (*connector.Entity, *plan.Step) {
	conn, entity, ent := tc.entity(ew)
	if ent == nil {
		return nil, nil
	}
	if nw.Path == nil || len(nw.Path.Rest) != 0 {
		tc.usage(nw, "a name for the record (e.g. ada), used by later steps")
		return nil, nil
	}
	name := nw.Path.Head.Name
	key := conn + "." + entity + " " + name
	switch op {
	case plan.StepGiven:
		if tc.given[key] {
			tc.errorf(tc.f, nw, "bad-test", "Record given twice", "%s %s is already given; change it with `update %s.%s %s { ... }`.", conn+"."+entity, name, conn, entity, name)
			return nil, nil
		}
		if eval.IsFunction(name) {
			tc.errorf(tc.f, nw, "bad-test", "Reserved name", "%q is a function name; give the record another name.", name)
			return nil, nil
		}
		tc.given[key], tc.names[name] = true, true
	default:
		// update, delete and expect name a record given earlier, on this
		// entity or on the other side of a sync that links it here.
		if !tc.names[name] {
			tc.errorf(tc.f, nw, "bad-test", "Unknown record", "No earlier step gives a record named %q.%s", name, didYouMean(name, sortedKeys(tc.names)))
			return nil, nil
		}
	}
	return ent, &plan.Step{Op: op, Range: rng, Connection: conn, Entity: entity, Record: name}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fields checks a record body: each field exists on the entity (writable,
// for given and update) and its value has the field's type.
func (tc *testCheck) fields(b *ast.Body, ent *connector.Entity, label string, write bool) []*plan.TestField {
	var out []*plan.TestField
	seen := map[string]bool{}
	side := &exprSide{label: label, entity: ent}
	if conn, _, ok := strings.Cut(label, "."); ok {
		if ci := tc.conns[conn]; ci != nil && ci.kind != nil {
			side.declare = ci.kind.Declare
		}
	}
	for _, it := range b.Items {
		fv, ok := it.(*ast.FieldValue)
		if !ok {
			tc.errorf(tc.f, it, "syntax", "Malformed field", "A record body holds `FIELD = VALUE` lines (firstname = \"Ada\", gendercode = 2).")
			continue
		}
		name := fv.Field.Name()
		field, ok := ent.Field(name)
		if !ok {
			tc.checker.add(unknownField(nodeRange(tc.f, fv.Field), name, side))
			continue
		}
		if seen[name] {
			tc.errorf(tc.f, fv.Field, "bad-test", "Field given twice", "%s is already given in this body.", name)
			continue
		}
		seen[name] = true
		if write && field.ReadOnly {
			tc.errorf(tc.f, fv.Field, "readonly-field", "Read-only field",
				"%s.%s is assigned by the service; the stand-in assigns it (refer to it in expect lines, e.g. %s.%s).", label, name, "NAME", strings.SplitN(label, ".", 2)[0]+"."+name)
			continue
		}
		if pe := tc.value(fv.Value, field, label); pe != nil {
			out = append(out, &plan.TestField{Name: name, Type: field.Type, Value: pe, Range: nodeRange(tc.f, fv)})
		}
	}
	return out
}

// properties checks the body of an expect report, rejected or conflict
// line: each name is one of keys; counters are ints, the rest strings,
// enums limit the values.
func (tc *testCheck) properties(b *ast.Body, what string, keys []string, enums map[string][]string) []*plan.TestField {
	var out []*plan.TestField
	for _, it := range b.Items {
		fv, ok := it.(*ast.FieldValue)
		if !ok {
			tc.errorf(tc.f, it, "syntax", "Malformed line", "The body of %s holds `NAME = VALUE` lines.", what)
			continue
		}
		name := fv.Field.Name()
		if !contains(keys, name) {
			tc.errorf(tc.f, fv.Field, "unknown-field", "Unknown field", "%s has no %q; it has %s.%s", what, name, quoteList(keys), didYouMean(name, keys))
			continue
		}
		typ := connector.String
		if what == "a flow report" {
			typ = connector.Int
		}
		field := &connector.Field{Name: name, Type: typ, Enum: enums[name]}
		if pe := tc.value(fv.Value, field, what); pe != nil {
			out = append(out, &plan.TestField{Name: name, Type: typ, Value: pe, Range: nodeRange(tc.f, fv)})
		}
	}
	return out
}

// value checks a value expression: names are record names of the test,
// the type fits the field (a string for a date or time is parsed), and
// literals are among the field's options.
func (tc *testCheck) value(e *ast.Expr, field *connector.Field, label string) *plan.Expr {
	f := tc.f
	text := exprText(f, e)
	refs, err := eval.Refs(text)
	if err != nil {
		tc.exprError(f, e, text, err)
		return nil
	}
	var env []*connector.Field
	var names []string
	for _, r := range refs {
		switch {
		case r.Call && !eval.IsFunction(r.Name):
			tc.checker.add(diag.Errorf(subRange(f, e, r.From, r.To), "unknown-function", "Unknown function",
				"There is no function %s().%s", r.Name, functionHint(r.Name)))
			return nil
		case !r.Call && !tc.names[r.Name]:
			tc.checker.add(diag.Errorf(subRange(f, e, r.From, r.To), "bad-test", "Unknown record",
				"%q is not a record given before this step; values are literals or a record's field (ada.crm.contactid).%s", r.Name, didYouMean(r.Name, sortedKeys(tc.names))))
			return nil
		case !r.Call && !contains(names, r.Name):
			names = append(names, r.Name)
			env = append(env, &connector.Field{Name: r.Name, Type: connector.Object})
		}
	}
	if !tc.recordRefs(e, text) {
		return nil
	}
	prog, err := eval.Compile(text, env)
	if err != nil {
		tc.exprError(f, e, text, err)
		return nil
	}
	typ := eval.TypeOf(prog.Node().Type())
	if !eval.Assignable(typ, field.Type) && !(typ == connector.String && len(names) == 0 && parses(prog, field.Type)) {
		tc.errorf(f, e, "type-mismatch", "Type mismatch", "%s.%s is %s, but this value is %s.%s",
			label, field.Name, describeType(field), article(string(typ)), conversionHint(typ, field.Type))
		return nil
	}
	ok := true
	for _, lit := range resultLiterals(text) {
		rng := subRange(f, e, lit.from, lit.to)
		switch v := lit.value.(type) {
		case string:
			if len(field.Enum) > 0 && !contains(field.Enum, v) {
				tc.checker.add(diag.Errorf(rng, "unknown-option", "Value not allowed", "%s.%s takes %s, not %q.%s",
					label, field.Name, quoteList(field.Enum), v, didYouMean(v, field.Enum)))
				ok = false
			}
		case int64:
			if field.Type == connector.Choice && len(field.Options) > 0 && !hasOption(field, v) {
				tc.checker.add(diag.Errorf(rng, "unknown-option", "Value not allowed", "%d is not a value of %s.%s; its values are %s.",
					v, label, field.Name, optionList(field)))
				ok = false
			}
		}
	}
	if !ok {
		return nil
	}
	sort.Strings(names)
	return &plan.Expr{Source: text, Fields: names, Type: typ, Range: nodeRange(f, e)}
}

// parses reports whether a constant string expression is a valid value of
// type t (a date written "1990-04-01").
func parses(prog *vm.Program, t connector.Type) bool {
	if t != connector.Date && t != connector.DateTime {
		return false
	}
	_, err := eval.Run(prog, map[string]any{}, t)
	return err == nil
}

// recordRefs checks the record fields a value reads (ada.crm.contactid):
// the connection is one of the test's syncs', and the field is a field of
// one of its entities there, so a typo is an error rather than a nil.
func (tc *testCheck) recordRefs(e *ast.Expr, text string) bool {
	tree, err := exprparser.Parse(text)
	if err != nil {
		return true // the compile reports it
	}
	ok := true
	var walk func(n exprast.Node)
	walk = func(n exprast.Node) {
		if m, isMember := n.(*exprast.MemberNode); isMember {
			if inner, isMember := m.Node.(*exprast.MemberNode); isMember {
				if id, isIdent := inner.Node.(*exprast.IdentifierNode); isIdent && tc.names[id.Value] {
					conn, cok := inner.Property.(*exprast.StringNode)
					field, fok := m.Property.(*exprast.StringNode)
					if cok && fok && !tc.checkRef(e, text, conn, field) {
						ok = false
					}
					return
				}
			}
		}
		switch n := n.(type) {
		case *exprast.MemberNode:
			walk(n.Node)
			walk(n.Property)
		case *exprast.BinaryNode:
			walk(n.Left)
			walk(n.Right)
		case *exprast.UnaryNode:
			walk(n.Node)
		case *exprast.ConditionalNode:
			walk(n.Cond)
			walk(n.Exp1)
			walk(n.Exp2)
		case *exprast.CallNode:
			for _, a := range n.Arguments {
				walk(a)
			}
		case *exprast.ArrayNode:
			for _, a := range n.Nodes {
				walk(a)
			}
		}
	}
	walk(tree.Node)
	return ok
}

// checkRef checks NAME.CONN.FIELD: CONN is a connection of the test's
// syncs and FIELD a field of one of its entities there.
func (tc *testCheck) checkRef(e *ast.Expr, text string, conn, field *exprast.StringNode) bool {
	rng := func(n exprast.Node) diag.Range {
		loc := n.Location()
		return subRange(tc.f, e, eval.RuneToByte(text, loc.From), eval.RuneToByte(text, loc.To))
	}
	conns := tc.connections()
	if !contains(conns, conn.Value) {
		tc.checker.add(diag.Errorf(rng(conn), "unknown-connection", "Unknown connection",
			"The test's syncs use the connections %s, not %q.%s", quoteList(conns), conn.Value, didYouMean(conn.Value, conns)))
		return false
	}
	var names []string
	for _, ps := range tc.syncs {
		for _, side := range []*plan.Side{ps.Left, ps.Right} {
			if side.Connection != conn.Value {
				continue
			}
			ent, _ := tc.conns[conn.Value].schema.Entity(side.Entity)
			if _, ok := ent.Field(field.Value); ok {
				return true
			}
			names = append(names, ent.FieldNames()...)
		}
	}
	tc.checker.add(diag.Errorf(rng(field), "unknown-field", "Unknown field",
		"The %s entities of the test's syncs have no field %q.%s", conn.Value, field.Value, didYouMean(field.Value, uniqueSorted(names))))
	return false
}
