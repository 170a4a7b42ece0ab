package lang

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/parser"
	"github.com/synclang/synclang/lang/plan"
)

// Input is one .sync file: its name as the user gave it (diagnostics print
// it) and its text.
type Input struct {
	Name string
	Src  []byte
}

// Options configure compilation.
type Options struct {
	// Registry holds the connection kinds; required.
	Registry *connector.Registry
	// Snapshot finds a connection's schema snapshot; nil means
	// SnapshotBeside.
	Snapshot func(conn, file string) (*connector.Schema, string, error)
	// AllowHosts lists more hosts URL settings may name (see
	// check.Options.AllowHosts).
	AllowHosts []string
}

// AllowHostsVar is the environment variable listing more hosts connections
// may point at (see check.AllowHostsVar).
const AllowHostsVar = check.AllowHostsVar

// Compile parses every file, checks them together as one project, and
// returns the plan, or nil when any diagnostic is an error.
func Compile(inputs []Input, opts Options) (*plan.Plan, diag.Diagnostics) {
	files, diags := Parse(inputs)
	return CheckParsed(files, diags, opts)
}

// CheckParsed is Compile after parsing: it checks the files Parse returned
// (diags are its diagnostics) and returns what Compile returns. The
// language server keeps the syntax trees of files that did not change and
// checks them again (a check never changes a tree).
func CheckParsed(files []*check.File, diags diag.Diagnostics, opts Options) (*plan.Plan, diag.Diagnostics) {
	p, ds := check.Check(files, opts.check())
	diags = Combine(diags, ds)
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// Combine joins the parser's diagnostics and the checker's into what
// `synclang check` reports: sorted, without the checker's knock-on errors
// of a syntax error (see knockOn). The language server, which checks with
// a cache of its own, combines them here too, so the two stay equal.
func Combine(syntax, checked diag.Diagnostics) diag.Diagnostics {
	return syntax.Extend(knockOn(syntax, checked)).Sort()
}

// knockOn leaves out the checker's diagnostics that follow from syntax
// errors rather than from the project: in a file with a block left open,
// what comes after its brace (the open block swallowed the lines after it),
// and unused-connection warnings whenever a file has a syntax error (the
// syncs that use a connection may be in the broken part). Other syntax
// errors spoil only their own line (the parser's Bad nodes), so the rest
// of the file is still checked.
func knockOn(syntax, checked diag.Diagnostics) diag.Diagnostics {
	if !syntax.HasErrors() {
		return checked
	}
	first := map[string]int{} // file -> first line with a syntax error
	for _, d := range syntax {
		if d.Severity != diag.Error || d.Summary != "Unclosed block" {
			continue
		}
		if l, ok := first[d.Subject.Filename]; !ok || d.Subject.Start.Line < l {
			first[d.Subject.Filename] = d.Subject.Start.Line
		}
	}
	var out diag.Diagnostics
	for _, d := range checked {
		if d.Code == "unused-connection" {
			continue
		}
		if l, ok := first[d.Subject.Filename]; ok && d.Subject.Start.Line >= l {
			continue
		}
		out = append(out, d)
	}
	return out
}

// CheckPlan re-checks a plan read from a file against the rules Compile
// enforces (see check.Plan); a runtime refuses a plan with errors.
func CheckPlan(p *plan.Plan, opts Options) diag.Diagnostics {
	return check.Plan(p, opts.check())
}

// Connections parses the files and checks only their connection blocks (see
// check.Connections).
func Connections(inputs []Input, opts Options) ([]*plan.Connection, diag.Diagnostics) {
	files, diags := Parse(inputs)
	conns, ds := check.Connections(files, opts.check())
	return conns, diags.Extend(ds).Sort()
}

// Parse parses every input; files with syntax errors are still returned
// (partial), so checking reports the rest of their problems. The language
// server reads the syntax trees for navigation.
func Parse(inputs []Input) ([]*check.File, diag.Diagnostics) {
	var files []*check.File
	var diags diag.Diagnostics
	for _, in := range inputs {
		f, ds := parser.Parse(in.Name, in.Src)
		diags = diags.Extend(ds)
		files = append(files, &check.File{Source: diag.NewSource(in.Name, parser.BlankBOM(in.Src)), AST: f})
	}
	return files, diags
}

// CheckOptions are the checker's options for these (the snapshot finder
// defaulted), for callers that check parsed files themselves.
func (o Options) CheckOptions() check.Options { return o.check() }

func (o Options) check() check.Options {
	snap := o.Snapshot
	if snap == nil {
		snap = SnapshotBeside
	}
	return check.Options{Registry: o.Registry, Snapshot: snap, AllowHosts: o.AllowHosts}
}

// CompareLive compares the custom fields a plan's connection declares with
// the schema the service reported when a command connected; see
// check.CompareLive.
func CompareLive(p *plan.Plan, conn string, live, snap *connector.Schema, snapPath string) diag.Diagnostics {
	return check.CompareLive(p, conn, live, snap, snapPath)
}

// Sources indexes the inputs for diagnostic renderers.
func Sources(inputs []Input) map[string]*diag.Source {
	m := make(map[string]*diag.Source, len(inputs))
	for _, in := range inputs {
		m[in.Name] = diag.NewSource(in.Name, parser.BlankBOM(in.Src))
	}
	return m
}

// SnapshotFile is the schema snapshot of connection conn declared in file:
// CONN.schema.json in the same directory.
func SnapshotFile(conn, file string) string {
	return filepath.Join(filepath.Dir(file), conn+".schema.json")
}

// SnapshotBeside reads the snapshot at SnapshotFile, if there is one.
func SnapshotBeside(conn, file string) (*connector.Schema, string, error) {
	return SnapshotReader(context.Background())(conn, file)
}

// SnapshotReader returns a SnapshotBeside that stops when ctx is done. A
// snapshot is read as ReadFile reads (a regular file of at most
// MaxSnapshotSize bytes).
func SnapshotReader(ctx context.Context) func(conn, file string) (*connector.Schema, string, error) {
	return func(conn, file string) (*connector.Schema, string, error) {
		path := SnapshotFile(conn, file)
		data, err := ReadFile(ctx, path, MaxSnapshotSize)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		}
		if err != nil {
			return nil, path, err
		}
		s, err := connector.ParseSchema(path, data)
		if err != nil {
			return nil, path, err
		}
		return s, path, nil
	}
}

// Load reads .sync files: each path is a file, or a directory whose *.sync
// files (not its subdirectories) form one project. In a directory it leaves
// out the test files (*_test.sync), as go build leaves out _test.go files:
// what runs against live services never depends on a test.
func Load(paths []string) ([]Input, error) { return LoadContext(context.Background(), paths) }

// LoadContext is Load, stopping when ctx is done. Files are read as
// ReadFile reads them (regular files only); one larger than
// parser.MaxFileSize is kept cut just past the limit, for the parser to
// report it with a "limit" diagnostic.
func LoadContext(ctx context.Context, paths []string) ([]Input, error) {
	return load(ctx, paths, false)
}

// LoadWithTests is LoadContext with the directories' test files
// (*_test.sync) too, for check, fmt and test.
func LoadWithTests(ctx context.Context, paths []string) ([]Input, error) {
	return load(ctx, paths, true)
}

func load(ctx context.Context, paths []string, tests bool) ([]Input, error) {
	var inputs []Input
	seen := map[string]bool{}
	add := func(path string) error {
		clean := filepath.Clean(path)
		if seen[clean] {
			return nil
		}
		seen[clean] = true
		src, err := readRegular(ctx, path, parser.MaxFileSize)
		if err != nil {
			return err
		}
		inputs = append(inputs, Input{Name: path, Src: src})
		return nil
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".sync") && (tests || !strings.HasSuffix(e.Name(), check.TestFileSuffix)) {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no .sync files in this directory", p)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := add(filepath.Join(p, n)); err != nil {
				return nil, err
			}
		}
	}
	return inputs, nil
}
