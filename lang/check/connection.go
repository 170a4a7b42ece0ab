package check

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
)

// connInfo is a checked connection: its kind and the schema its syncs
// resolve names against (standard schema + snapshot + declarations).
type connInfo struct {
	name   string
	file   *File
	node   *ast.Connection
	kind   *connector.Kind // nil when the kind is unknown (already reported)
	schema *connector.Schema
	plan   *plan.Connection
	used   bool
	// snapshot is the connection's schema snapshot (nil when none), read
	// from snapshotPath.
	snapshot     *connector.Schema
	snapshotPath string
}

func (ci *connInfo) rng(n ast.Node) diag.Range { return nodeRange(ci.file, n) }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *checker) connection(f *File, n *ast.Connection) {
	name := n.Name.Name
	if prev, dup := c.conns[name]; dup {
		c.errorf(f, n.Name, "duplicate-connection", "Duplicate connection", "A connection named %q is already declared.", name).
			Related = []diag.Related{{Message: "previous declaration here", Subject: prev.rng(prev.node.Name)}}
		return
	}
	ci := &connInfo{name: name, file: f, node: n, plan: &plan.Connection{Name: name, Kind: n.Kind.Name, Range: nodeRange(f, n)}}
	c.conns[name] = ci
	c.connOrder = append(c.connOrder, ci)

	kind, ok := c.opts.Registry.Kind(n.Kind.Name)
	if !ok {
		c.errorf(f, n.Kind, "unknown-kind", "Unknown connection kind",
			"synclang has no connection kind %q; the kinds are %s.%s", n.Kind.Name, quoteList(c.opts.Registry.Names()), didYouMean(n.Kind.Name, c.opts.Registry.Names()))
		return
	}
	ci.kind = kind
	ci.schema = kind.Schema.Clone()
	c.settings(ci)
	if c.opts.Snapshot != nil {
		snap, path, err := c.opts.Snapshot(name, f.Source.Name)
		switch {
		case err != nil:
			c.errorf(f, n.Name, "schema-snapshot", "Unreadable schema snapshot",
				"The schema snapshot of connection %q cannot be used: %v. Run `synclang schema pull %s` to write it again.", name, err, name)
		case snap != nil && snap.Kind != "" && snap.Kind != kind.Name:
			c.errorf(f, n.Name, "schema-snapshot", "Schema snapshot of another kind",
				"%s holds a %s schema, but connection %q is %s. Run `synclang schema pull %s` to write it again.", path, snap.Kind, name, kind.Name, name)
		case snap != nil:
			ci.schema.Merge(snap)
			ci.snapshot, ci.snapshotPath = snap, path
		}
	}
	c.declarations(ci)
}

// settings checks a connection's settings and fills its plan settings.
func (c *checker) settings(ci *connInfo) {
	f, kind := ci.file, ci.kind
	seen := map[string]*ast.Setting{}
	given := map[string]string{}
	for _, item := range ci.node.Items {
		s, ok := item.(*ast.Setting)
		if !ok {
			continue
		}
		name := s.Name.Name
		spec, known := kind.Setting(name)
		if !known {
			c.errorf(f, s.Name, "unknown-setting", "Unknown setting",
				"A %s connection has no setting %q; its settings are %s.%s", kind.Name, name, quoteList(kind.SettingNames()), didYouMean(name, kind.SettingNames()))
			continue
		}
		if prev, dup := seen[name]; dup {
			c.errorf(f, s.Name, "duplicate-setting", "Duplicate setting", "Setting %q is already set in this connection.", name).
				Related = []diag.Related{{Message: "previous setting here", Subject: nodeRange(f, prev.Name)}}
			continue
		}
		seen[name] = s
		ps := &plan.Setting{Name: name, Range: nodeRange(f, s)}
		given[name] = "" // present, even when its value is wrong (reported below)
		if c.settingValue(f, spec, s, ps) {
			ci.plan.Settings = append(ci.plan.Settings, ps)
			given[name] = ps.Value
		}
	}
	for _, spec := range kind.Settings {
		if spec.Required && seen[spec.Name] == nil {
			how := `"..."`
			if spec.Secret {
				how = `secret("VAR")`
			}
			c.errorf(f, ci.node.Name, "missing-setting", "Missing setting",
				"Connection %q (%s) needs %s = %s: %s", ci.name, kind.Name, spec.Name, how, spec.Doc)
		}
	}
	if kind.CheckSettings != nil {
		for _, msg := range kind.CheckSettings(given) {
			c.errorf(f, ci.node.Name, "setting-value", "Invalid settings", "Connection %q: %s.", ci.name, msg)
		}
	}
	sort.Slice(ci.plan.Settings, func(i, j int) bool { return ci.plan.Settings[i].Name < ci.plan.Settings[j].Name })
}

// settingValue checks one value; it reports whether ps was filled.
func (c *checker) settingValue(f *File, spec *connector.SettingSpec, s *ast.Setting, ps *plan.Setting) bool {
	v := s.Value
	switch {
	case v.Call != nil:
		fn := v.Call.Func.Name
		arg := ast.Unquote(v.Call.Arg)
		if fn != "env" && fn != "secret" {
			c.errorf(f, v.Call.Func, "setting-value", "Unknown function",
				"A setting value can call env(\"VAR\") or secret(\"VAR\"), not %s().%s", fn, didYouMean(fn, []string{"env", "secret"}))
			return false
		}
		if !envName.MatchString(arg) {
			c.errorf(f, v, "setting-value", "Invalid variable name",
				"%q is not an environment variable name (letters, digits and _, not starting with a digit).", arg)
			return false
		}
		if fn == "secret" {
			ps.Secret = arg
			if !spec.Secret {
				c.warnf(f, v, "secret-misplaced", "Secret in a setting that is not secret",
					"%s is not a secret: its value is sent in URLs and may be printed in messages. Read it with env(%q), or check that %s is the variable meant here.", spec.Name, arg, arg)
			}
		} else {
			ps.Env = arg
			if spec.Secret {
				c.warnf(f, v, "secret-env", "Secret read with env()",
					"%s is a secret: write %s = secret(%q) so its value never appears in any output.", spec.Name, spec.Name, arg)
			}
		}
		return true
	case spec.Secret:
		c.errorf(f, v, "secret-literal", "Secret written in the file",
			"%s is a secret and must not be written in a .sync file, which is committed to git. Write %s = secret(\"VAR\") and set VAR in the environment.", spec.Name, spec.Name).
			Masked = true // the snippet must not print it again
		return false
	case v.Word != nil:
		c.errorf(f, v, "setting-value", "Unquoted value",
			"Setting values are strings, env(\"VAR\") or secret(\"VAR\"): write %s = %q.", spec.Name, *v.Word)
		return false
	case v.Number != nil:
		c.errorf(f, v, "setting-value", "Number where text is expected",
			"Setting values are strings: write %s = %q.", spec.Name, *v.Number)
		return false
	}
	lit := ast.Unquote(*v.String)
	if detail := valueProblem(spec, lit); detail != "" {
		c.errorf(f, v, "setting-value", "Invalid value", "%s", detail)
		return false
	}
	if detail := hostProblem(spec, lit, c.opts.AllowHosts); detail != "" {
		c.warnf(f, v, "unknown-host", "Unknown host", "%s", detail)
	}
	ps.Value = lit
	return true
}

// hostProblem checks the host of a URL setting against its known hosts and
// the operator's allowed ones; it returns what is wrong, or "". The
// warning is the reviewer's cue: a .sync change that points a connection
// elsewhere sends that connection's credentials there.
func hostProblem(spec *connector.SettingSpec, raw string, allow []string) string {
	if spec.Hosts == nil || connector.HostAllowed(raw, spec.Hosts, allow) {
		return ""
	}
	host := raw
	if u, err := url.Parse(raw); err == nil {
		host = u.Hostname()
	}
	return fmt.Sprintf("%s points at %q, which is none of the service's hosts (%s) nor loopback. The connection's credentials would be sent there, so commands refuse to connect; if the host is yours (a proxy, a new region), list it in %s where synclang runs.",
		spec.Name, host, strings.Join(spec.Hosts, ", "), AllowHostsVar)
}

// valueProblem checks a literal value of a setting (in a file or a plan);
// it returns what is wrong, or "".
func valueProblem(spec *connector.SettingSpec, lit string) string {
	if len(spec.Values) > 0 && !contains(spec.Values, lit) {
		return fmt.Sprintf("%s must be one of %s, not %q.%s", spec.Name, quoteList(spec.Values), lit, didYouMean(lit, spec.Values))
	}
	if spec.Validate != nil {
		if err := spec.Validate(lit); err != nil {
			return fmt.Sprintf("%s: %v.", spec.Name, err)
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// declarations adds a connection's custom field declarations to its schema.
func (c *checker) declarations(ci *connInfo) {
	f, kind := ci.file, ci.kind
	declared := map[string]*ast.Declaration{}
	for _, item := range ci.node.Items {
		d, ok := item.(*ast.Declaration)
		if !ok {
			continue
		}
		spec := kind.Declare
		if spec == nil || d.Keyword.Name != spec.Keyword {
			detail := fmt.Sprintf("A %s connection has no %q declarations.", kind.Name, d.Keyword.Name)
			if spec != nil {
				detail = fmt.Sprintf("A %s connection declares custom fields with `%s`, not %q.", kind.Name, declUsage(spec), d.Keyword.Name)
			}
			c.errorf(f, d.Keyword, "unknown-declaration", "Unknown declaration", "%s", detail)
			continue
		}
		var name string
		var nameNode ast.Node = d
		switch {
		case d.Quoted != nil:
			name = ast.Unquote(*d.Quoted)
		case d.Path != nil:
			name, nameNode = d.Path.Name(), d.Path
		}
		typ, ok := connector.ParseType(d.Type.Name)
		if !ok || !typeAllowed(spec.Types, typ) {
			names := typeNames(spec.Types)
			c.errorf(f, d.Type, "unknown-type", "Unknown type",
				"%q is not a type of %s declarations; use one of %s.%s", d.Type.Name, spec.Keyword, strings.Join(names, ", "), didYouMean(d.Type.Name, names))
			continue
		}
		entities := ci.schema.Entities
		fieldName := spec.Prefix + name
		if spec.Scoped {
			ent, field, ok := strings.Cut(name, ".")
			if !ok || field == "" || strings.Contains(field, ".") {
				c.errorf(f, nameNode, "unknown-declaration", "Declaration without a table",
					"A %s connection declares one column of one table: write `%s`.", kind.Name, declUsage(spec))
				continue
			}
			e, found := ci.schema.Entity(ent)
			if !found {
				c.errorf(f, nameNode, "unknown-entity", "Unknown entity",
					"Connection %q has no entity %q; it has %s.%s", ci.name, ent, quoteList(ci.schema.EntityNames()), didYouMean(ent, ci.schema.EntityNames()))
				continue
			}
			entities, fieldName = []*connector.Entity{e}, spec.Prefix+field
		} else if strings.ContainsAny(name, "{}[]") || name == "" {
			c.errorf(f, nameNode, "unknown-declaration", "Invalid name", "A custom attribute name cannot be empty or contain { } [ ].")
			continue
		}
		key := strings.ToLower(name)
		if prev, dup := declared[key]; dup {
			c.errorf(f, nameNode, "duplicate-declaration", "Duplicate declaration", "%q is already declared in this connection.", name).
				Related = []diag.Related{{Message: "previous declaration here", Subject: nodeRange(f, prev)}}
			continue
		}
		declared[key] = d
		clash := false
		for _, e := range entities {
			if old, exists := e.Field(fieldName); exists && !old.Custom {
				c.errorf(f, nameNode, "duplicate-declaration", "Field already exists",
					"%s.%s is a standard field of %s; it needs no declaration.", e.Name, fieldName, kind.Name)
				clash = true
				break
			}
		}
		if clash {
			continue
		}
		pd := &plan.Declaration{Field: fieldName, Type: typ, Range: nodeRange(f, d), Name: nodeRange(f, nameNode)}
		if spec.Scoped {
			pd.Entity = entities[0].Name
		}
		ci.plan.Declarations = append(ci.plan.Declarations, pd)
		if ci.snapshot != nil {
			if dg := compareDeclaration(ci.name, ci.kind.Name, pd, ci.snapshot, "the schema snapshot "+ci.snapshotPath, false); dg != nil {
				c.add(dg)
			}
		}
		for _, e := range entities {
			e.AddField(&connector.Field{Name: fieldName, Type: typ, Custom: true, Lookup: spec.Lookup, Doc: "Declared in " + f.Source.Name + "."})
		}
	}
}

func declUsage(spec *connector.DeclareSpec) string {
	if spec.Scoped {
		return spec.Keyword + " TABLE.NAME TYPE"
	}
	return spec.Keyword + ` "NAME" TYPE`
}

func typeAllowed(types []connector.Type, t connector.Type) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

func typeNames(types []connector.Type) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}
