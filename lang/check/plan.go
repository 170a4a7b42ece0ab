package check

import (
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
)

// Plan re-checks a plan read from a file (written by `synclang compile`,
// or by anyone who can edit it) against the rules Check enforces on .sync
// files, so `run plan.json` refuses what `check` would refuse: a sync
// writing into a LinkRequired service without a link owned by it
// ("link": null duplicated every record), a secret setting holding a
// literal, an unknown kind or setting, a value its spec rejects, a
// read-only target, an interval or policy out of range, a side naming a
// connection the plan lacks. Each diagnostic carries the range the plan
// records (the .sync line it came from) and the same code check uses.
//
// What only the .sync text shows (names resolved against a snapshot,
// expression types) cannot be re-checked without it; expressions are
// compiled again by the engine before anything runs.
func Plan(p *plan.Plan, opts Options) diag.Diagnostics {
	pc := &planCheck{opts: opts, p: p, conns: map[string]*plan.Connection{}}
	for _, c := range p.Connections {
		pc.connection(c)
	}
	seen := map[string]bool{}
	for _, s := range p.Syncs {
		if s == nil {
			pc.errorf(diag.Range{}, "missing-pair", "Empty sync", "The plan holds a null sync; compile the .sync files again.")
			continue
		}
		if seen[s.Name] {
			pc.errorf(s.Range, "duplicate-sync", "Duplicate sync", "The plan holds two syncs named %q.", s.Name)
			continue
		}
		seen[s.Name] = true
		pc.sync(s)
	}
	return pc.diags.Sort()
}

type planCheck struct {
	opts  Options
	p     *plan.Plan
	conns map[string]*plan.Connection
	diags diag.Diagnostics
}

func (pc *planCheck) errorf(rng diag.Range, code, summary, format string, args ...any) {
	pc.diags = append(pc.diags, diag.Errorf(rng, code, summary+" in the plan", format+" (Compile the .sync files again with `synclang compile`.)", args...))
}

func (pc *planCheck) warnf(rng diag.Range, code, summary, format string, args ...any) {
	pc.diags = append(pc.diags, diag.Warningf(rng, code, summary+" in the plan", format, args...))
}

func (pc *planCheck) connection(c *plan.Connection) {
	if c == nil {
		pc.errorf(diag.Range{}, "unknown-kind", "Empty connection", "The plan holds a null connection.")
		return
	}
	if _, dup := pc.conns[c.Name]; dup {
		pc.errorf(c.Range, "duplicate-connection", "Duplicate connection", "The plan holds two connections named %q.", c.Name)
		return
	}
	pc.conns[c.Name] = c
	kind, ok := pc.opts.Registry.Kind(c.Kind)
	if !ok {
		pc.errorf(c.Range, "unknown-kind", "Unknown connection kind", "Connection %q is of kind %q; the kinds are %s.", c.Name, c.Kind, quoteList(pc.opts.Registry.Names()))
		return
	}
	given := map[string]string{}
	for _, st := range c.Settings {
		if st == nil {
			pc.errorf(c.Range, "setting-value", "Empty setting", "Connection %q holds a null setting.", c.Name)
			continue
		}
		pc.setting(c, kind, st, given)
	}
	for _, spec := range kind.Settings {
		if _, set := given[spec.Name]; spec.Required && !set {
			pc.errorf(c.Range, "missing-setting", "Missing setting", "Connection %q (%s) needs %s: %s", c.Name, kind.Name, spec.Name, spec.Doc)
		}
	}
	if kind.CheckSettings != nil {
		for _, msg := range kind.CheckSettings(given) {
			pc.errorf(c.Range, "setting-value", "Invalid settings", "Connection %q: %s.", c.Name, msg)
		}
	}
}

// setting checks one setting and records it in given (the literal, or ""
// for env() and secret()), as Check's CheckSettings expects.
func (pc *planCheck) setting(c *plan.Connection, kind *connector.Kind, st *plan.Setting, given map[string]string) {
	spec, ok := kind.Setting(st.Name)
	if !ok {
		pc.errorf(st.Range, "unknown-setting", "Unknown setting", "A %s connection has no setting %q; its settings are %s.", kind.Name, st.Name, quoteList(kind.SettingNames()))
		return
	}
	if _, dup := given[st.Name]; dup {
		pc.errorf(st.Range, "duplicate-setting", "Duplicate setting", "Connection %q sets %s twice.", c.Name, st.Name)
		return
	}
	given[st.Name] = ""
	sources := 0
	for _, v := range []string{st.Value, st.Env, st.Secret} {
		if v != "" {
			sources++
		}
	}
	switch {
	case sources > 1:
		pc.errorf(st.Range, "setting-value", "Ambiguous setting", "Setting %s of connection %q has more than one of value, env and secret.", st.Name, c.Name)
	case st.Env+st.Secret != "" && !envName.MatchString(st.Env+st.Secret):
		pc.errorf(st.Range, "setting-value", "Invalid variable name", "Setting %s of connection %q names %q, which is not an environment variable name.", st.Name, c.Name, st.Env+st.Secret)
	case spec.Secret && st.Env == "" && st.Secret == "":
		// The value is never quoted: it is the secret.
		pc.errorf(st.Range, "secret-literal", "Secret written as a literal", "%s of connection %q is a secret and holds a literal value; it must come from secret(\"VAR\"), so it is never stored in a file.", st.Name, c.Name)
	case spec.Secret && st.Env != "":
		pc.warnf(st.Range, "secret-env", "Secret read with env()", "%s is a secret: write %s = secret(%q) so its value never appears in any output.", spec.Name, spec.Name, st.Env)
	case st.Env+st.Secret == "":
		if detail := valueProblem(spec, st.Value); detail != "" {
			pc.errorf(st.Range, "setting-value", "Invalid value", "%s", detail)
			return
		}
		if detail := hostProblem(spec, st.Value, pc.opts.AllowHosts); detail != "" {
			pc.warnf(st.Range, "unknown-host", "Unknown host", "%s", detail)
		}
		given[st.Name] = st.Value
	case !spec.Secret && st.Secret != "":
		pc.warnf(st.Range, "secret-misplaced", "Secret in a setting that is not secret", "%s is not a secret: its value is sent in URLs and may be printed in messages.", spec.Name)
	}
}

func (pc *planCheck) sync(s *plan.Sync) {
	sides := map[plan.SideName]*connector.Kind{}
	for _, n := range []plan.SideName{plan.Left, plan.Right} {
		side := s.Side(n)
		if side == nil {
			pc.errorf(s.Range, "missing-pair", "Missing side", "Sync %q has no %s side.", s.Name, n)
			continue
		}
		c, ok := pc.conns[side.Connection]
		if !ok {
			pc.errorf(s.Range, "unknown-connection", "Unknown connection", "Sync %q reads connection %q, which the plan does not hold.", s.Name, side.Connection)
			continue
		}
		if c.Kind != side.Kind {
			pc.errorf(s.Range, "unknown-connection", "Side of another kind", "Sync %q says connection %q is %s, but it is %s.", s.Name, c.Name, side.Kind, c.Kind)
			continue
		}
		if kind, ok := pc.opts.Registry.Kind(c.Kind); ok {
			sides[n] = kind
		}
	}
	if len(sides) < 2 {
		return
	}
	pc.link(s)
	directions := map[plan.Direction][]plan.SideName{plan.Both: {plan.Right, plan.Left}, plan.LeftToRight: {plan.Right}, plan.RightToLeft: {plan.Left}}
	allowed, ok := directions[s.Direction]
	if !ok {
		pc.errorf(s.Range, "direction-mismatch", "Unknown direction", "Sync %q has direction %q; it is one of both, left-to-right and right-to-left.", s.Name, s.Direction)
		return
	}
	flowsTo := map[plan.SideName]bool{}
	for _, fl := range s.Flows {
		if fl == nil || (fl.To != plan.Left && fl.To != plan.Right) || fl.From != fl.To.Other() || !containsSide(allowed, fl.To) || flowsTo[fl.To] {
			pc.errorf(s.Range, "direction-mismatch", "Flow against the direction", "A flow of sync %q does not fit its direction %s (or repeats one).", s.Name, s.Direction)
			continue
		}
		flowsTo[fl.To] = true
		pc.flow(s, fl, sides[fl.To])
	}
	switch s.Conflict {
	case plan.ConflictNewest, plan.ConflictLeft, plan.ConflictRight:
	default:
		pc.errorf(s.Range, "bad-policy", "Unknown conflict policy", "Sync %q has conflict policy %q; it is newest, left or right.", s.Name, s.Conflict)
	}
	if d := time.Duration(s.Every); d < time.Second || d > 24*time.Hour {
		pc.errorf(s.Range, "bad-duration", "Interval out of range", "every of sync %q must be between 1s and 24h, not %s.", s.Name, d)
	}
}

// link checks the link's shape: one side's key, stored in a field of the
// other side.
func (pc *planCheck) link(s *plan.Sync) {
	l := s.Link
	if l == nil {
		return
	}
	if l.Owner != plan.Left && l.Owner != plan.Right {
		pc.errorf(l.Range, "bad-link", "Link without an owner", "The link of sync %q has owner %q; it is left or right.", s.Name, l.Owner)
		return
	}
	owner, other := s.Side(l.Owner), s.Side(l.Owner.Other())
	ref, ok := other.Field(l.Field(l.Owner.Other()))
	switch {
	case l.Field(l.Owner) != owner.Key:
		pc.errorf(l.Range, "bad-link", "Link without a key", "The link of sync %q must hold %s's key %s on its %s side, not %q.", s.Name, owner.Entity, owner.Key, l.Owner, l.Field(l.Owner))
	case !ok:
		pc.errorf(l.Range, "bad-link", "Link field unknown", "The link of sync %q stores the ID in %q, which is not a field of its %s side.", s.Name, l.Field(l.Owner.Other()), l.Owner.Other())
	case ref.Name == other.Key || ref.ReadOnly:
		pc.errorf(l.Range, "bad-link", "Link field is read-only", "%s.%s cannot be written, so it cannot store the %s ID.", other.Entity, ref.Name, owner.Entity)
	}
}

// flow checks one direction: the link a LinkRequired target needs, and
// that every target field exists and can be written.
func (pc *planCheck) flow(s *plan.Sync, fl *plan.Flow, target *connector.Kind) {
	to := s.Side(fl.To)
	if target.LinkRequired && (s.Link == nil || s.Link.Owner != fl.To) {
		pc.errorf(s.Range, "missing-link", "Missing link",
			"Sync %q writes into %s (%s), so it must keep the %s ID on the other side (`link %s <-> FIELD`); without it every run creates the records again.",
			s.Name, to.Entity, target.Name, to.Entity, to.Key)
	}
	switch fl.Delete {
	case plan.DeleteIgnore, plan.DeletePropagate:
	default:
		pc.errorf(s.Range, "bad-policy", "Unknown delete policy", "A flow of sync %q has delete policy %q; it is ignore or propagate.", s.Name, fl.Delete)
	}
	std, hasStd := target.Schema.Entity(to.Entity)
	for _, m := range fl.Maps {
		if m == nil || m.Expr == nil {
			pc.errorf(s.Range, "bad-target", "Empty field line", "A field line of sync %q is null or has no expression.", s.Name)
			continue
		}
		f, ok := to.Field(m.Target)
		if !ok {
			pc.errorf(m.Range, "unknown-field", "Unknown field", "Sync %q writes %s.%s, which is not a field of that side in the plan.", s.Name, to.Entity, m.Target)
			continue
		}
		stdReadOnly := false
		if hasStd {
			sf, known := std.Field(m.Target)
			stdReadOnly = known && sf.ReadOnly
		}
		if f.ReadOnly || m.Target == to.Key || stdReadOnly {
			pc.errorf(m.Range, "readonly-field", "Read-only field", "%s.%s is computed or assigned by %s and cannot be written.", to.Entity, m.Target, target.Name)
		}
	}
}

func containsSide(list []plan.SideName, n plan.SideName) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}
