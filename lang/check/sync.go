package check

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
)

// side is one entity of a sync being checked.
type side struct {
	name   plan.SideName
	conn   *connInfo
	entity *connector.Entity // nil when the connection or entity is unknown
	label  string            // "crm.contact"
	expr   *exprSide
	used   map[string]bool // fields read or written
}

func (s *side) ok() bool { return s != nil && s.entity != nil }

// writer records which line writes a field.
type writer struct {
	rng diag.Range
	by  string // "the link" or "another line"
}

// syncCheck holds the state of one sync while its lines are checked.
type syncCheck struct {
	*checker
	f           *File
	n           *ast.Sync
	ps          *plan.Sync
	left, right *side
	maps        map[plan.SideName][]*plan.FieldMap // by target side
	targets     map[plan.SideName]map[string]writer
	whereExprs  map[plan.SideName]*plan.Expr
	hasLink     bool                   // a link line was written (even if it had errors)
	deletes     map[string]*ast.Delete // by side name ("" for both)
	failed      bool                   // an error made the plan unusable
}

func (c *checker) sync(f *File, n *ast.Sync) *plan.Sync {
	sc := &syncCheck{checker: c, f: f, n: n,
		ps:         &plan.Sync{Name: n.Name.Name, Range: nodeRange(f, n), Conflict: plan.ConflictNewest, Every: plan.Duration(time.Minute)},
		maps:       map[plan.SideName][]*plan.FieldMap{},
		targets:    map[plan.SideName]map[string]writer{plan.Left: {}, plan.Right: {}},
		whereExprs: map[plan.SideName]*plan.Expr{},
		deletes:    map[string]*ast.Delete{},
	}
	if n.Pair == nil {
		c.errorf(f, n.Name, "missing-pair", "Missing entity pair",
			"Sync %q must start with the entities it pairs, e.g. `crm.contact <-> infobip.customer`.", n.Name.Name)
		return nil
	}
	sc.left = sc.resolve(plan.Left, n.Pair.Left)
	sc.right = sc.resolve(plan.Right, n.Pair.Right)
	if sc.left.ok() && sc.right.ok() {
		sc.left.expr.other, sc.right.expr.other = sc.right.expr, sc.left.expr
	}
	switch n.Pair.Arrow.Op {
	case "<->":
		sc.ps.Direction = plan.Both
	case "->":
		sc.ps.Direction = plan.LeftToRight
	default:
		sc.ps.Direction = plan.RightToLeft
	}
	seen := map[string]ast.Node{}
	once := func(key string, n ast.Node, what string) bool {
		if prev, dup := seen[key]; dup {
			sc.errorf(f, n, "duplicate-statement", "Duplicate statement", "Sync %q already has %s.", sc.ps.Name, what).
				Related = []diag.Related{{Message: "previous one here", Subject: nodeRange(f, prev)}}
			return false
		}
		seen[key] = n
		return true
	}
	for _, st := range n.Stmts {
		switch st := st.(type) {
		case *ast.Link:
			if once("link", st, "a link") {
				sc.hasLink = true
				sc.link(st)
			}
		case *ast.Match:
			sc.match(st)
		case *ast.Where:
			if s := sc.sideRef(st.Side); s != nil && once("where "+string(s.name), st, "a where line for "+s.label) {
				sc.whereLine(st, s)
			}
		case *ast.Conflict:
			if once("conflict", st, "a conflict line") {
				sc.conflict(st)
			}
		case *ast.Delete:
			key := "delete"
			var s *side
			if st.Side != nil {
				if s = sc.sideRef(st.Side); s == nil {
					continue
				}
				key += " " + string(s.name)
			}
			if once(key, st, "a delete line for this side") {
				sc.deleteLine(st, s)
			}
		case *ast.Every:
			if once("every", st, "an every line") {
				sc.every(st)
			}
		case *ast.Map:
			sc.mapLine(st)
		}
	}
	if !sc.left.ok() || !sc.right.ok() {
		return nil
	}
	sc.identity()
	sc.flows()
	if sc.failed {
		return nil
	}
	sc.ps.Left, sc.ps.Right = sc.planSide(sc.left), sc.planSide(sc.right)
	return sc.ps
}

// dirOf is the directory of a file, for commands to suggest ("." for a
// file in the working directory).
func dirOf(name string) string {
	if dir := filepath.Dir(name); dir != "" {
		return filepath.ToSlash(dir)
	}
	return "."
}

// resolve checks one entity of the pair line.
func (sc *syncCheck) resolve(name plan.SideName, ref *ast.EntityRef) *side {
	s := &side{name: name, label: ref.Conn.Name + "." + ref.Entity.Name, used: map[string]bool{}}
	ci, ok := sc.conns[ref.Conn.Name]
	if !ok {
		names := make([]string, 0, len(sc.conns))
		for n := range sc.conns {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			// Typically one file of a project checked alone.
			sc.errorf(sc.f, ref.Conn, "unknown-connection", "Unknown connection",
				"No connection is named %q: the files checked declare no connection. If its connection block is in another file, check the whole project (`synclang check %s`); otherwise declare `connection %s KIND { ... }`.",
				ref.Conn.Name, dirOf(sc.f.Source.Name), ref.Conn.Name)
		} else {
			sc.errorf(sc.f, ref.Conn, "unknown-connection", "Unknown connection",
				"No connection is named %q; declared connections: %s.%s", ref.Conn.Name, quoteList(names), didYouMean(ref.Conn.Name, names))
		}
		sc.failed = true
		return s
	}
	ci.used = true
	s.conn = ci
	if ci.kind == nil {
		sc.failed = true
		return s
	}
	ent, ok := ci.schema.Entity(ref.Entity.Name)
	if !ok {
		names := ci.schema.EntityNames()
		sc.errorf(sc.f, ref.Entity, "unknown-entity", "Unknown entity",
			"Connection %q (%s) has no entity %q; it has %s.%s", ci.name, ci.kind.Name, ref.Entity.Name, quoteList(names), didYouMean(ref.Entity.Name, names))
		sc.failed = true
		return s
	}
	s.entity = ent
	s.expr = &exprSide{label: s.label, entity: ent, declare: ci.kind.Declare}
	return s
}

func (sc *syncCheck) side(n plan.SideName) *side {
	if n == plan.Left {
		return sc.left
	}
	return sc.right
}

// sideRef resolves CONN or CONN.ENTITY to a side of the pair.
func (sc *syncCheck) sideRef(ref *ast.SideRef) *side {
	if !sc.left.ok() || !sc.right.ok() {
		return nil
	}
	name := ref.Name()
	var found []*side
	for _, s := range []*side{sc.left, sc.right} {
		if name == s.label || name == s.conn.name {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0]
	case 2:
		sc.errorf(sc.f, ref, "unknown-side", "Ambiguous side",
			"Both sides of sync %q use connection %q; name the entity: %s or %s.", sc.ps.Name, name, sc.left.label, sc.right.label)
	default:
		cands := []string{sc.left.conn.name, sc.right.conn.name, sc.left.label, sc.right.label}
		sc.errorf(sc.f, ref, "unknown-side", "Unknown side",
			"%q is not a side of sync %q; its sides are %s and %s.%s", name, sc.ps.Name, sc.left.conn.name, sc.right.conn.name, didYouMean(name, cands))
	}
	sc.failed = true
	return nil
}

func (sc *syncCheck) link(st *ast.Link) {
	f := sc.f
	if st.Arrow.Op != "<->" {
		sc.errorf(f, st.Arrow, "bad-link", "Link must use <->",
			"A link says the two fields hold the same ID, whatever the direction of the sync: write `link %s <-> %s`.", st.Left.Name(), st.Right.Name())
		sc.failed = true
		return
	}
	if !sc.left.ok() || !sc.right.ok() {
		return
	}
	lf, lok := sc.pathField(st.Left, sc.left)
	rf, rok := sc.pathField(st.Right, sc.right)
	if !lok || !rok {
		sc.failed = true
		return
	}
	lkey, rkey := lf.Name == sc.left.entity.Key, rf.Name == sc.right.entity.Key
	var owner plan.SideName
	var ref *connector.Field
	var refSide *side
	var refNode ast.Node
	switch {
	case lkey && !rkey:
		owner, ref, refSide, refNode = plan.Left, rf, sc.right, st.Right
	case rkey && !lkey:
		owner, ref, refSide, refNode = plan.Right, lf, sc.left, st.Left
	case lkey && rkey:
		sc.errorf(f, st, "bad-link", "Link between two keys",
			"Both %s and %s are assigned by their services, so neither can hold the other's ID. Link a key to a field that stores it, e.g. `link contactid <-> externalId`.", lf.Name, rf.Name)
		sc.failed = true
		return
	default:
		sc.errorf(f, st, "bad-link", "Link without a key",
			"One side of a link must be its entity's ID (%s's %s or %s's %s); the other side is the field that stores it. To pair records by other values, use match.",
			sc.left.label, sc.left.entity.Key, sc.right.label, sc.right.entity.Key)
		sc.failed = true
		return
	}
	switch {
	case ref.ReadOnly:
		sc.errorf(f, refNode, "bad-link", "Link field is read-only",
			"%s.%s cannot be written, so it cannot store the %s ID.", refSide.label, ref.Name, sc.side(owner).label)
	case !ref.Lookup:
		sc.errorf(f, refNode, "bad-link", "Link field cannot be looked up",
			"%s cannot find records by %s, so linked records could not be found.", refSide.label, ref.Name)
	case ref.Type != connector.String && ref.Type != connector.ID:
		sc.errorf(f, refNode, "bad-link", "Link field is not text",
			"%s.%s is a %s field; an ID is stored in a text field.", refSide.label, ref.Name, ref.Type)
	default:
		sc.ps.Link = &plan.Link{Left: lf.Name, Right: rf.Name, Owner: owner, Range: nodeRange(f, st)}
		sc.left.used[lf.Name], sc.right.used[rf.Name] = true, true
		sc.targets[refSide.name][ref.Name] = writer{nodeRange(f, st), "the link"}
		return
	}
	sc.failed = true
}

// pathField resolves a plain field name on a side.
func (sc *syncCheck) pathField(p *ast.Path, s *side) (*connector.Field, bool) {
	fd, ok := s.entity.Field(p.Name())
	if !ok {
		sc.add(unknownField(nodeRange(sc.f, p), p.Name(), s.expr))
		return nil, false
	}
	return fd, true
}

// normalisers may wrap the field of a match key.
var normalisers = map[string]bool{"lower": true, "upper": true, "trim": true, "normEmail": true, "e164": true, "msisdn": true}

func (sc *syncCheck) match(st *ast.Match) {
	f := sc.f
	if st.Arrow.Op != "<->" {
		sc.errorf(f, st.Arrow, "bad-match", "Match must use <->", "A match key compares both sides: write `match A <-> B`.")
		sc.failed = true
		return
	}
	if !sc.left.ok() || !sc.right.ok() {
		return
	}
	m := &plan.Match{Range: nodeRange(f, st)}
	for _, part := range []struct {
		e     *ast.Expr
		s     *side
		expr  **plan.Expr
		field *string
	}{{st.Left, sc.left, &m.Left, &m.LeftField}, {st.Right, sc.right, &m.Right, &m.RightField}} {
		pe := sc.expression(f, part.e, part.s.expr)
		if pe == nil {
			sc.failed = true
			return
		}
		refs, _ := eval.Refs(pe.Source)
		for _, r := range refs {
			if r.Call && !normalisers[r.Name] {
				sc.add(diag.Errorf(subRange(f, part.e, r.From, r.To), "bad-match", "Function not allowed in a match key",
					"A match key is one field, optionally normalised by lower, upper, trim, normEmail, e164 or msisdn; %s() would make the value impossible to look up.", r.Name))
				sc.failed = true
				return
			}
		}
		if len(pe.Fields) != 1 {
			sc.errorf(f, part.e, "bad-match", "Match key must read one field",
				"A match key looks one field up on each side; this expression reads %d (%s).", len(pe.Fields), strings.Join(pe.Fields, ", "))
			sc.failed = true
			return
		}
		fd, _ := part.s.entity.Field(pe.Fields[0])
		if !fd.Lookup && fd.Name != part.s.entity.Key {
			sc.errorf(f, part.e, "bad-match", "Match field cannot be looked up",
				"%s cannot find records by %s; it can by %s.", part.s.label, fd.Name, strings.Join(lookupFields(part.s.entity), ", "))
			sc.failed = true
			return
		}
		*part.expr, *part.field = pe, fd.Name
		part.s.used[fd.Name] = true
	}
	sc.ps.Match = append(sc.ps.Match, m)
}

func lookupFields(e *connector.Entity) []string {
	var out []string
	for _, f := range e.Fields {
		if f.Lookup || f.Name == e.Key {
			out = append(out, f.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (sc *syncCheck) whereLine(st *ast.Where, s *side) {
	pe := sc.expression(sc.f, st.Cond, s.expr)
	if pe == nil {
		sc.failed = true
		return
	}
	if pe.Type != "" && pe.Type != connector.Bool {
		sc.errorf(sc.f, st.Cond, "not-bool", "Condition is not a boolean",
			"A where condition must be true or false; this one is %s. Compare it, e.g. `statecode == 0`.", article(string(pe.Type)))
		sc.failed = true
		return
	}
	sc.whereExprs[s.name] = pe
}

func (sc *syncCheck) conflict(st *ast.Conflict) {
	p := st.Policy.Name
	switch {
	case p == "newest":
		sc.ps.Conflict = plan.ConflictNewest
	case sc.left.ok() && (p == sc.left.conn.name || p == sc.left.label) && p != sc.right.conn.name:
		sc.ps.Conflict = plan.ConflictLeft
	case sc.right.ok() && (p == sc.right.conn.name || p == sc.right.label) && p != sc.left.conn.name:
		sc.ps.Conflict = plan.ConflictRight
	case !sc.left.ok() || !sc.right.ok():
		// The pair line is wrong and reported: which sides there are is
		// not known, so say nothing more here.
		sc.failed = true
	default:
		cands := []string{"newest", sc.left.conn.name, sc.right.conn.name}
		if sc.left.conn.name == sc.right.conn.name {
			cands = []string{"newest", sc.left.label, sc.right.label}
		}
		sc.errorf(sc.f, st.Policy, "bad-policy", "Unknown conflict policy",
			"conflict is `newest` (the most recent change wins) or the name of the side that always wins (%s).%s", strings.Join(cands[1:], " or "), didYouMean(p, cands))
		sc.failed = true
	}
}

func (sc *syncCheck) deleteLine(st *ast.Delete, s *side) {
	p := st.Policy.Name
	if p != string(plan.DeleteIgnore) && p != string(plan.DeletePropagate) {
		sc.errorf(sc.f, st.Policy, "bad-policy", "Unknown delete policy",
			"delete is `ignore` (keep the other record, forget the link) or `propagate` (delete the linked record).%s", didYouMean(p, []string{"ignore", "propagate"}))
		sc.failed = true
		return
	}
	key := ""
	if s != nil {
		key = string(s.name)
	}
	sc.deletes[key] = st
}

func (sc *syncCheck) every(st *ast.Every) {
	d, err := time.ParseDuration(st.Interval)
	switch {
	case err != nil:
		sc.errorf(sc.f, st, "bad-duration", "Invalid interval", "%q is not a duration; write a number with a unit, e.g. every 1m or every 30s.", st.Interval)
	case d < time.Second || d > 24*time.Hour:
		sc.errorf(sc.f, st, "bad-duration", "Interval out of range", "every must be between 1s and 24h, not %s.", d)
	default:
		sc.ps.Every = plan.Duration(d)
		return
	}
	sc.failed = true
}

// mapLine checks a field line and records its field maps.
func (sc *syncCheck) mapLine(st *ast.Map) {
	f := sc.f
	if !sc.left.ok() || !sc.right.ok() {
		return
	}
	op := st.Arrow.Op
	dir := sc.ps.Direction
	if (op == "->" && dir == plan.RightToLeft) || (op == "<-" && dir == plan.LeftToRight) || (op == "<->" && dir != plan.Both) {
		pair := fmt.Sprintf("%s %s %s", sc.left.label, sc.n.Pair.Arrow.Op, sc.right.label)
		fix := "->"
		if dir == plan.RightToLeft {
			fix = "<-"
		}
		sc.errorf(f, st.Arrow, "direction-mismatch", "Arrow against the sync's direction",
			"Sync %q maps %s only, so its lines use %s.", sc.ps.Name, pair, fix)
		sc.failed = true
		return
	}
	switch op {
	case "<->":
		lname, lok := asPath(exprText(f, st.Left))
		rname, rok := asPath(exprText(f, st.Right))
		for _, bad := range []struct {
			ok bool
			e  *ast.Expr
		}{{lok, st.Left}, {rok, st.Right}} {
			if !bad.ok {
				sc.errorf(f, bad.e, "twoway-not-field", "Two-way line with an expression",
					"Both sides of <-> must be plain fields, because each is written from the other. For a computed value write one line per direction: `EXPR -> field` and `field <- EXPR`.")
				sc.failed = true
				return
			}
		}
		lf, ok1 := sc.left.entity.Field(lname)
		rf, ok2 := sc.right.entity.Field(rname)
		if !ok1 {
			sc.add(unknownFieldOf(nodeRange(f, st.Left), lname, sc.left.expr, rf.Type))
		}
		if !ok2 {
			sc.add(unknownFieldOf(nodeRange(f, st.Right), rname, sc.right.expr, lf.Type))
		}
		if !ok1 || !ok2 {
			sc.failed = true
			return
		}
		if !eval.Assignable(lf.Type, rf.Type) || !eval.Assignable(rf.Type, lf.Type) {
			sc.errorf(f, st, "type-mismatch", "Fields of different types",
				"%s.%s is %s and %s.%s is %s, so neither can be copied into the other as is. Write one line per direction with a conversion, e.g. `EXPR -> %s` and `%s <- EXPR`.",
				sc.left.label, lf.Name, describeType(lf), sc.right.label, rf.Name, describeType(rf), rf.Name, lf.Name)
			sc.failed = true
			return
		}
		sc.addMap(st, plan.Right, st.Right, rname, st.Left, sc.left, true)
		sc.addMap(st, plan.Left, st.Left, lname, st.Right, sc.right, true)
	case "->":
		sc.oneWay(st, plan.Right, st.Right, st.Left, sc.left)
	case "<-":
		sc.oneWay(st, plan.Left, st.Left, st.Right, sc.right)
	}
}

func (sc *syncCheck) oneWay(st *ast.Map, target plan.SideName, targetExpr, srcExpr *ast.Expr, src *side) {
	name, ok := asPath(exprText(sc.f, targetExpr))
	if !ok {
		tgt := sc.side(target)
		sc.errorf(sc.f, targetExpr, "bad-target", "Target is not a field",
			"The arrow points at the field it writes: a field of %s, such as custom.Name or custom[\"Long Name\"], not an expression.", tgt.label)
		sc.failed = true
		return
	}
	sc.addMap(st, target, targetExpr, name, srcExpr, src, false)
}

// addMap checks one direction of a field line: the target field and the
// source expression, and records the map.
func (sc *syncCheck) addMap(st *ast.Map, target plan.SideName, targetExpr *ast.Expr, targetName string, srcExpr *ast.Expr, src *side, twoWay bool) {
	f := sc.f
	tgt := sc.side(target)
	field, ok := tgt.entity.Field(targetName)
	if !ok {
		if !twoWay { // two-way lines reported unknown fields already
			var from connector.Type
			if name, ok := asPath(exprText(f, srcExpr)); ok {
				if sf, ok := src.entity.Field(name); ok {
					from = sf.Type
				}
			}
			sc.add(unknownFieldOf(nodeRange(f, targetExpr), targetName, tgt.expr, from))
		}
		sc.failed = true
		return
	}
	if field.ReadOnly {
		what := "is assigned by the service"
		if field.Name != tgt.entity.Key {
			what = "is computed by the service"
		}
		detail := fmt.Sprintf("%s.%s %s and cannot be written.", tgt.label, field.Name, what)
		if twoWay {
			// Copy it one way only: from the read-only side (the target
			// here) to the other, so the arrow points away from it.
			arrow, from, to := "<-", tgt, sc.side(plan.Left)
			if target == plan.Left {
				arrow, to = "->", sc.side(plan.Right)
			}
			detail += fmt.Sprintf(" To copy it one way only, from %s to %s, write the line with %s.", from.label, to.label, arrow)
		}
		sc.errorf(f, targetExpr, "readonly-field", "Read-only field", "%s", detail)
		sc.failed = true
		return
	}
	pe := sc.expression(f, srcExpr, src.expr)
	if pe == nil {
		sc.failed = true
		return
	}
	if !eval.Assignable(pe.Type, field.Type) {
		sc.errorf(f, srcExpr, "type-mismatch", "Type mismatch",
			"%s.%s is %s, but this expression is %s.%s", tgt.label, field.Name, describeType(field), article(string(pe.Type)), conversionHint(pe.Type, field.Type))
		sc.failed = true
		return
	}
	sc.literals(srcExpr, pe.Source, tgt, field)
	if prev, dup := sc.targets[target][field.Name]; dup {
		sc.errorf(f, targetExpr, "duplicate-target", "Field written twice",
			"%s.%s is already written by %s of sync %q.", tgt.label, field.Name, prev.by, sc.ps.Name).
			Related = []diag.Related{{Message: "written here", Subject: prev.rng}}
		sc.failed = true
		return
	}
	sc.targets[target][field.Name] = writer{nodeRange(f, st), "another line"}
	tgt.used[field.Name] = true
	for _, name := range pe.Fields {
		src.used[name] = true
	}
	sc.maps[target] = append(sc.maps[target], &plan.FieldMap{Target: field.Name, Expr: pe, TwoWay: twoWay, Range: nodeRange(f, st)})
}

// literals checks the constants an expression can produce against the
// target's allowed values and maximum length.
func (sc *syncCheck) literals(e *ast.Expr, text string, tgt *side, field *connector.Field) {
	for _, lit := range resultLiterals(text) {
		rng := subRange(sc.f, e, lit.from, lit.to)
		switch v := lit.value.(type) {
		case string:
			if len(field.Enum) > 0 && !contains(field.Enum, v) {
				sc.add(diag.Errorf(rng, "unknown-option", "Value not allowed",
					"%s.%s takes %s, not %q.%s", tgt.label, field.Name, quoteList(field.Enum), v, didYouMean(v, field.Enum)))
				sc.failed = true
			}
			if field.MaxLength > 0 && len([]rune(v)) > field.MaxLength {
				sc.add(diag.Warningf(rng, "max-length", "Value too long",
					"%s.%s holds at most %d characters; this value has %d, so the service would reject the record.", tgt.label, field.Name, field.MaxLength, len([]rune(v))))
			}
		case int64:
			if field.Type == connector.Choice && len(field.Options) > 0 && !hasOption(field, v) {
				sc.add(diag.Errorf(rng, "unknown-option", "Value not allowed",
					"%d is not a value of %s.%s; its values are %s.", v, tgt.label, field.Name, optionList(field)))
				sc.failed = true
			}
		}
	}
}

func hasOption(f *connector.Field, v int64) bool {
	for _, o := range f.Options {
		if o.Value == v {
			return true
		}
	}
	return false
}

func optionList(f *connector.Field) string {
	parts := make([]string, len(f.Options))
	for i, o := range f.Options {
		parts[i] = fmt.Sprintf("%d (%s)", o.Value, o.Label)
	}
	return strings.Join(parts, ", ")
}

func describeType(f *connector.Field) string {
	switch f.Type {
	case connector.Choice:
		return "a choice (" + optionList(f) + ")"
	case connector.Int, connector.ID:
		return "an " + string(f.Type)
	}
	return article(string(f.Type))
}

func article(t string) string {
	switch t {
	case "":
		return "of unknown type"
	case "int", "id", "object":
		return "an " + t
	}
	return "a " + t
}

func conversionHint(from, to connector.Type) string {
	switch to {
	case connector.String, connector.ID:
		return " Convert it, e.g. string(x)."
	case connector.Int, connector.Choice:
		if from == connector.String {
			return " Convert it, e.g. int(x), or map values with a conditional: x == \"A\" ? 1 : 2."
		}
		return " Convert it, e.g. int(x)."
	case connector.Decimal:
		return " Convert it, e.g. float(x)."
	case connector.Date:
		return " Convert it with toDate(x) (or toDate(x, \"02/01/2006\") for other layouts)."
	case connector.DateTime:
		return " Convert it with toDateTime(x)."
	}
	return ""
}

// identity checks that records can be paired: missing-link for services
// that duplicate records without one, no-identity otherwise.
func (sc *syncCheck) identity() {
	for _, to := range sc.directions() {
		tgt := sc.side(to)
		if !tgt.conn.kind.LinkRequired {
			continue
		}
		if l := sc.ps.Link; (l != nil && l.Owner == to) || (l == nil && sc.hasLink) {
			continue // linked, or the link line's own error says what is wrong
		}
		src := sc.side(to.Other())
		detail := fmt.Sprintf("Sync %q writes into %s, so it must keep the %s ID on the %s side: add `link %s <-> FIELD` (e.g. `link %s <-> externalId`). Without it every run creates the records again in %s; Infobip's own integration warns of the same.",
			sc.ps.Name, tgt.label, tgt.label, src.label, tgt.entity.Key, tgt.entity.Key, tgt.conn.kind.Name)
		sc.errorf(sc.f, sc.n.Pair, "missing-link", "Missing link", "%s", detail)
		sc.failed = true
		return
	}
	if sc.ps.Link == nil && !sc.hasLink && len(sc.ps.Match) == 0 {
		sc.warnf(sc.f, sc.n.Pair, "no-identity", "No link or match",
			"Sync %q has neither a link nor a match key, so it cannot tell that a record already exists on the other side: every run would create it again.", sc.ps.Name)
	}
}

// directions lists the target sides data flows to.
func (sc *syncCheck) directions() []plan.SideName {
	switch sc.ps.Direction {
	case plan.LeftToRight:
		return []plan.SideName{plan.Right}
	case plan.RightToLeft:
		return []plan.SideName{plan.Left}
	}
	return []plan.SideName{plan.Right, plan.Left}
}

// flows builds one flow per direction that has field maps.
func (sc *syncCheck) flows() {
	for _, to := range sc.directions() {
		from := to.Other()
		maps := sc.maps[to]
		if len(maps) == 0 {
			if sc.ps.Direction == plan.Both && !sc.failed {
				sc.warnf(sc.f, sc.n.Pair, "empty-flow", "Nothing maps one way",
					"No line of sync %q writes into %s, so nothing flows from %s to %s; that direction is left out.", sc.ps.Name, sc.side(to).label, sc.side(from).label, sc.side(to).label)
			}
			continue
		}
		sort.SliceStable(maps, func(i, j int) bool { return maps[i].Target < maps[j].Target })
		fl := &plan.Flow{From: from, To: to, Maps: maps, Where: sc.whereExprs[from], Delete: plan.DeleteIgnore}
		for _, key := range []string{"", string(from)} {
			if d := sc.deletes[key]; d != nil {
				fl.Delete = plan.DeletePolicy(d.Policy.Name)
				if fl.Delete == plan.DeletePropagate && !sc.side(from).entity.Deletes {
					sc.warnf(sc.f, d, "no-deletes", "Deletions cannot be seen",
						"%s cannot report deleted records, so deletions there never reach %s.", sc.side(from).label, sc.side(to).label)
				}
			}
		}
		sc.ps.Flows = append(sc.ps.Flows, fl)
	}
	for n, w := range sc.whereExprs {
		for _, name := range w.Fields {
			sc.side(n).used[name] = true
		}
	}
}

// planSide lists the fields a side reads or writes, with their schema.
func (sc *syncCheck) planSide(s *side) *plan.Side {
	e := s.entity
	s.used[e.Key] = true
	if e.Modified != "" {
		s.used[e.Modified] = true
	}
	ps := &plan.Side{Connection: s.conn.name, Kind: s.conn.kind.Name, Entity: e.Name, Key: e.Key, Modified: e.Modified,
		Incremental: e.Incremental, Deletes: e.Deletes}
	for _, f := range e.Fields {
		if s.used[f.Name] {
			fc := *f
			fc.Doc = "" // the plan is for execution; docs live in the schema
			ps.Fields = append(ps.Fields, &fc)
		}
	}
	return ps
}
