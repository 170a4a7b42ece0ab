package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// syncRT is a sync prepared to run: expressions compiled, fields resolved,
// connectors bound.
type syncRT struct {
	p       *plan.Sync
	sides   [2]*sideRT // by index: left, right
	flows   []*flowRT
	link    *plan.Link
	matches []*matchRT
	policy  plan.Conflict
}

func idx(n plan.SideName) int {
	if n == plan.Right {
		return 1
	}
	return 0
}

// sideRT is one side of a running sync.
type sideRT struct {
	name   plan.SideName
	st     state.Side
	p      *plan.Side
	conn   connector.Connector
	label  string // "crm.contact"
	fields []*connector.Field
	// custom is set when a field is a custom attribute, which expressions
	// read through env["custom"] (see flowRun.fill).
	custom   bool
	names    []string
	byName   map[string]*connector.Field
	keyField *connector.Field
	// linkField is the side's field of the sync's link ("" without a
	// link); owner is set when that field is the side's primary key.
	linkField string
	owner     bool
	// tracked are the fields whose values are hashed per linked pair.
	tracked []string
}

// flowRT is one direction of a running sync.
type flowRT struct {
	p        *plan.Flow
	name     string
	src, dst *sideRT
	where    *vm.Program
	maps     []*mapRT
	reverse  *flowRT
	deleter  connector.Deleter
}

// mapRT is one compiled field map.
type mapRT struct {
	fm     *plan.FieldMap
	prog   *vm.Program
	target *connector.Field
	inputs []string
	// opposite is the map of the other direction that writes this map's
	// inputs from this map's target (the two halves of `a <-> b`, or of a
	// `->` / `<-` pair over the same fields); nil when there is none.
	opposite *mapRT
	// normalize turns a computed value into the form the target's service
	// stores it in (connector.Normalizer); nil when it keeps values as
	// written.
	normalize func(any) any
}

// matchRT is one compiled match key.
type matchRT struct {
	p     *plan.Match
	prog  [2]*vm.Program
	field [2]string
	desc  string
}

func flowName(f *plan.Flow) string {
	if f.From == plan.Left {
		return string(plan.LeftToRight)
	}
	return string(plan.RightToLeft)
}

// compileSync checks a sync of the plan against the connectors and compiles
// its expressions. Errors here mean a plan edited by hand, or connectors
// that do not fit it; they name the plan's range.
func compileSync(s *plan.Sync, conns map[string]connector.Connector) (*syncRT, error) {
	rt := &syncRT{p: s, link: s.Link, policy: s.Conflict}
	if rt.policy == "" {
		rt.policy = plan.ConflictNewest
	}
	switch rt.policy {
	case plan.ConflictNewest, plan.ConflictLeft, plan.ConflictRight:
	default:
		return nil, fmt.Errorf("%s: sync %s: unknown conflict policy %q (want newest, left or right)", s.Range, s.Name, rt.policy)
	}
	for i, n := range []plan.SideName{plan.Left, plan.Right} {
		ps := s.Side(n)
		if ps == nil {
			return nil, fmt.Errorf("%s: sync %s has no %s side", s.Range, s.Name, n)
		}
		conn, ok := conns[ps.Connection]
		if !ok || conn == nil {
			return nil, fmt.Errorf("%s: sync %s: no connector for connection %q", s.Range, s.Name, ps.Connection)
		}
		sd := &sideRT{name: n, st: state.Side(n), p: ps, conn: conn, label: ps.Connection + "." + ps.Entity,
			fields: ps.Fields, byName: map[string]*connector.Field{}}
		for _, f := range ps.Fields {
			sd.byName[f.Name] = f
			sd.names = append(sd.names, f.Name)
			if strings.HasPrefix(f.Name, connector.CustomPrefix) {
				sd.custom = true
			}
		}
		if ps.Key == "" {
			return nil, fmt.Errorf("%s: sync %s: %s has no primary key", s.Range, s.Name, sd.label)
		}
		if sd.keyField, ok = sd.byName[ps.Key]; !ok {
			// The key is always returned; keep a field for it so lookups and
			// link comparisons know its type.
			sd.keyField = &connector.Field{Name: ps.Key, Type: connector.ID}
		}
		rt.sides[i] = sd
	}
	if l := s.Link; l != nil {
		for i, n := range []plan.SideName{plan.Left, plan.Right} {
			sd := rt.sides[i]
			sd.linkField = l.Field(n)
			if _, ok := sd.byName[sd.linkField]; !ok && sd.linkField != sd.p.Key {
				return nil, fmt.Errorf("%s: link field %s is not a field of %s", l.Range, sd.linkField, sd.label)
			}
			sd.owner = l.Owner == n
		}
		if !rt.sides[idx(l.Owner)].owner || rt.sides[idx(l.Owner)].linkField != rt.sides[idx(l.Owner)].p.Key {
			return nil, fmt.Errorf("%s: the link's owner %s must link by its primary key %s", l.Range, l.Owner, rt.sides[idx(l.Owner)].p.Key)
		}
	}
	for _, m := range s.Match {
		mr := &matchRT{p: m, desc: m.Left.Source + " <-> " + m.Right.Source}
		for i, n := range []plan.SideName{plan.Left, plan.Right} {
			sd := rt.sides[i]
			x := m.Expr(n)
			prog, err := eval.Compile(x.Source, sd.fields)
			if err != nil {
				return nil, fmt.Errorf("%s: match expression %q does not compile: %v", x.Range, x.Source, err)
			}
			mr.prog[i] = prog
			mr.field[i] = m.Field(n)
			f, ok := sd.byName[mr.field[i]]
			if !ok {
				return nil, fmt.Errorf("%s: match field %s is not a field of %s", m.Range, mr.field[i], sd.label)
			}
			if !f.Lookup && f.Name != sd.p.Key {
				return nil, fmt.Errorf("%s: %s cannot be looked up by %s, so it cannot be a match key", m.Range, sd.label, f.Name)
			}
		}
		rt.matches = append(rt.matches, mr)
	}
	for _, pf := range s.Flows {
		if pf.From == pf.To || (pf.From != plan.Left && pf.From != plan.Right) || (pf.To != plan.Left && pf.To != plan.Right) {
			return nil, fmt.Errorf("%s: sync %s has a flow from %q to %q", s.Range, s.Name, pf.From, pf.To)
		}
		f := &flowRT{p: pf, name: flowName(pf), src: rt.sides[idx(pf.From)], dst: rt.sides[idx(pf.To)]}
		for _, o := range rt.flows {
			if o.name == f.name {
				return nil, fmt.Errorf("%s: sync %s has two %s flows", s.Range, s.Name, f.name)
			}
		}
		if pf.Where != nil {
			prog, err := eval.Compile(pf.Where.Source, f.src.fields)
			if err != nil {
				return nil, fmt.Errorf("%s: where expression %q does not compile: %v", pf.Where.Range, pf.Where.Source, err)
			}
			f.where = prog
		}
		for _, fm := range pf.Maps {
			target, ok := f.dst.byName[fm.Target]
			if !ok {
				return nil, fmt.Errorf("%s: %s is not a field of %s", fm.Range, fm.Target, f.dst.label)
			}
			if fm.Expr == nil {
				return nil, fmt.Errorf("%s: the map of %s has no expression", fm.Range, fm.Target)
			}
			prog, err := eval.Compile(fm.Expr.Source, f.src.fields)
			if err != nil {
				return nil, fmt.Errorf("%s: expression %q does not compile: %v", fm.Expr.Range, fm.Expr.Source, err)
			}
			for _, in := range fm.Expr.Fields {
				if _, ok := f.src.byName[in]; !ok {
					return nil, fmt.Errorf("%s: %s is not a field of %s", fm.Expr.Range, in, f.src.label)
				}
			}
			m := &mapRT{fm: fm, prog: prog, target: target, inputs: fm.Expr.Fields}
			if n, ok := f.dst.conn.(connector.Normalizer); ok {
				entity, field := f.dst.p.Entity, target.Name
				m.normalize = func(v any) any { return n.Normalize(entity, field, v) }
			}
			f.maps = append(f.maps, m)
		}
		switch pf.Delete {
		case "", plan.DeleteIgnore:
		case plan.DeletePropagate:
			d, ok := f.dst.conn.(connector.Deleter)
			if !ok {
				return nil, fmt.Errorf("%s: sync %s deletes %s records (delete propagate), but the %s connector cannot delete", s.Range, s.Name, f.dst.label, f.dst.p.Kind)
			}
			f.deleter = d
		default:
			return nil, fmt.Errorf("%s: sync %s: unknown delete policy %q (want ignore or propagate)", s.Range, s.Name, pf.Delete)
		}
		rt.flows = append(rt.flows, f)
	}
	if len(rt.flows) == 2 {
		a, b := rt.flows[0], rt.flows[1]
		a.reverse, b.reverse = b, a
		for _, m := range a.maps {
			for _, o := range b.maps {
				if contains(m.inputs, o.target.Name) && contains(o.inputs, m.target.Name) {
					m.opposite, o.opposite = o, m
					break
				}
			}
		}
	}
	// Tracked fields: what a side's flow reads, what the other flow writes
	// into it, and its link field when the other side owns the link.
	for _, sd := range rt.sides {
		set := map[string]bool{}
		for _, f := range rt.flows {
			for _, m := range f.maps {
				if f.src == sd {
					for _, in := range m.inputs {
						set[in] = true
					}
				}
				if f.dst == sd {
					set[m.target.Name] = true
				}
			}
		}
		if sd.linkField != "" && !sd.owner {
			set[sd.linkField] = true
		}
		for n := range set {
			sd.tracked = append(sd.tracked, n)
		}
		sort.Strings(sd.tracked)
	}
	return rt, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
