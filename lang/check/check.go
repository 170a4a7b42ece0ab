package check

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
)

// File is one parsed .sync file.
type File struct {
	Source *diag.Source
	AST    *ast.File
}

// Options are what the checker knows beyond the files.
type Options struct {
	// Registry holds the connection kinds with their settings and standard
	// schemas.
	Registry *connector.Registry
	// Snapshot returns the schema snapshot of a connection declared in the
	// file named file (nil, "", nil when there is none), and the path it
	// read, for messages.
	Snapshot func(conn, file string) (*connector.Schema, string, error)
	// AllowHosts lists hosts the operator allows besides each URL
	// setting's known hosts (SettingSpec.Hosts), in the same patterns;
	// commands fill it from AllowHostsVar.
	AllowHosts []string
	// Cache, when set, keeps each sync's result for the next Check of the
	// same project (see Cache); nil checks everything.
	Cache *Cache
}

// AllowHostsVar is the environment variable that lists more hosts a
// connection may point at, comma- or space-separated ("proxy.example.com,
// *.example.net"). It lives outside the .sync files on purpose: whoever
// edits them must not be able to allow a host.
const AllowHostsVar = "SYNCLANG_ALLOW_HOSTS"

// Check resolves every name in the files against the registry's kinds and
// the schema snapshots, type-checks every expression, and builds the plan.
// It reports every problem it finds; the plan is nil when any is an error.
func Check(files []*File, opts Options) (*plan.Plan, diag.Diagnostics) {
	c := &checker{opts: opts, conns: map[string]*connInfo{}}
	for _, f := range files {
		for _, d := range f.AST.Decls {
			if conn, ok := d.(*ast.Connection); ok {
				c.connection(f, conn)
			}
		}
	}
	p := &plan.Plan{Version: plan.FormatVersion}
	var conns [sha256.Size]byte
	if opts.Cache != nil {
		conns = c.connsKey()
		defer opts.Cache.sweep()
	}
	type declared struct {
		f  *File
		id *ast.Ident
	}
	syncs := map[string]declared{}
	for _, f := range files {
		for _, d := range f.AST.Decls {
			s, ok := d.(*ast.Sync)
			if !ok {
				continue
			}
			if prev, dup := syncs[s.Name.Name]; dup {
				c.errorf(f, s.Name, "duplicate-sync", "Duplicate sync", "A sync named %q is already declared.", s.Name.Name).
					Related = []diag.Related{{Message: "previous declaration here", Subject: nodeRange(prev.f, prev.id)}}
				continue
			}
			syncs[s.Name.Name] = declared{f, s.Name}
			if ps := c.cachedSync(f, s, conns); ps != nil {
				p.Syncs = append(p.Syncs, ps)
			}
		}
	}
	sort.Slice(p.Syncs, func(i, j int) bool { return p.Syncs[i].Name < p.Syncs[j].Name })
	declaredSyncs := make([]string, 0, len(syncs))
	for name := range syncs {
		declaredSyncs = append(declaredSyncs, name)
	}
	p.Tests = c.tests(files, p.Syncs, declaredSyncs)
	quiet := c.diags.HasErrors() // an unused connection is noise next to errors
	for _, ci := range c.connOrder {
		p.Connections = append(p.Connections, ci.plan)
		if !ci.used && !quiet && ci.kind != nil {
			c.diags = append(c.diags, diag.Warningf(ci.rng(ci.node.Name), "unused-connection", "Unused connection",
				"No sync uses connection %q.", ci.name))
		}
	}
	sort.Slice(p.Connections, func(i, j int) bool { return p.Connections[i].Name < p.Connections[j].Name })
	sort.Slice(p.Syncs, func(i, j int) bool { return p.Syncs[i].Name < p.Syncs[j].Name })
	diags := c.diags.Sort()
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// Connections checks only the connection blocks of the files (settings,
// declarations, snapshots) and returns them, so commands that need a
// connection (schema pull, auth login) work while syncs still have errors.
func Connections(files []*File, opts Options) ([]*plan.Connection, diag.Diagnostics) {
	c := &checker{opts: opts, conns: map[string]*connInfo{}}
	for _, f := range files {
		for _, d := range f.AST.Decls {
			if conn, ok := d.(*ast.Connection); ok {
				c.connection(f, conn)
			}
		}
	}
	var out []*plan.Connection
	for _, ci := range c.connOrder {
		out = append(out, ci.plan)
	}
	return out, c.diags.Sort()
}

type checker struct {
	opts      Options
	diags     diag.Diagnostics
	conns     map[string]*connInfo
	connOrder []*connInfo
}

// nodeRange is the range of a node in its file.
func nodeRange(f *File, n ast.Node) diag.Range {
	start, end := n.Span()
	return f.Source.Range(start.Offset, end.Offset)
}

func (c *checker) add(d *diag.Diagnostic) *diag.Diagnostic {
	c.diags = append(c.diags, d)
	return d
}

func (c *checker) errorf(f *File, n ast.Node, code, summary, format string, args ...any) *diag.Diagnostic {
	return c.add(diag.Errorf(nodeRange(f, n), code, summary, format, args...))
}

func (c *checker) warnf(f *File, n ast.Node, code, summary, format string, args ...any) *diag.Diagnostic {
	return c.add(diag.Warningf(nodeRange(f, n), code, summary, format, args...))
}

// didYouMean suggests from the names allowed where a name was not found
// (see diag.Closest).
var didYouMean = diag.DidYouMean

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
