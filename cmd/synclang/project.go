package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
)

// project is a loaded set of .sync files (or a compiled plan).
type project struct {
	inputs  []lang.Input
	sources map[string]*diag.Source
	plan    *plan.Plan
	diags   diag.Diagnostics
	// dir is the directory of the first file: state and snapshots live
	// next to the .sync files.
	dir string
}

// defaultPaths is "." when no path is given.
func defaultPaths(paths []string) []string {
	if len(paths) == 0 {
		return []string{"."}
	}
	return paths
}

// loadProject reads PATHS (.sync files, directories of them, or one plan
// compiled by `synclang compile`) and compiles them. The returned error is
// for I/O; compile problems are in project.diags.
func loadProject(s *Stdio, paths []string) (*project, error) {
	return loadProjectFiles(s, paths, lang.Load)
}

// loadProjectWithTests is loadProject with the test files (*_test.sync) of
// the directories, for check and test.
func loadProjectWithTests(s *Stdio, paths []string) (*project, error) {
	return loadProjectFiles(s, paths, lang.LoadWithTests)
}

func loadProjectFiles(s *Stdio, paths []string, load func([]string) ([]lang.Input, error)) (*project, error) {
	paths = defaultPaths(paths)
	if len(paths) == 1 && strings.HasSuffix(paths[0], ".json") {
		data, err := os.ReadFile(paths[0])
		if err != nil {
			return nil, err
		}
		p, err := plan.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paths[0], err)
		}
		return &project{plan: p, dir: filepath.Dir(paths[0])}, nil
	}
	inputs, err := load(paths)
	if err != nil {
		return nil, err
	}
	return compileProject(s, inputs, nil), nil
}

// compileProject compiles .sync files already read. snapshot finds schema
// snapshots (nil: next to the files, lang.SnapshotBeside).
func compileProject(s *Stdio, inputs []lang.Input, snapshot func(conn, file string) (*connector.Schema, string, error)) *project {
	p, diags := lang.Compile(inputs, lang.Options{Registry: s.Registry, Snapshot: snapshot})
	dir := "."
	if len(inputs) > 0 {
		dir = filepath.Dir(inputs[0].Name)
	}
	return &project{inputs: inputs, sources: lang.Sources(inputs), plan: p, diags: diags, dir: dir}
}

// writeDiags prints diagnostics for people on stderr, with colour on a
// terminal unless NO_COLOR is set (https://no-color.org).
func writeDiags(s *Stdio, ds diag.Diagnostics, sources map[string]*diag.Source) {
	if len(ds) == 0 {
		return
	}
	_ = diag.Write(s.Err, ds, sources, diag.WriteOptions{Color: s.ErrTerminal && s.Getenv("NO_COLOR") == ""})
	errs, warns := ds.Count()
	fmt.Fprintf(s.Err, "%s, %s\n", plural(errs, "error"), plural(warns, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if stem, ok := strings.CutSuffix(word, "y"); ok {
		return fmt.Sprintf("%d %sies", n, stem)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// settingOverrides name environment variables that supply a connection
// setting its block leaves unset, by kind and setting name. They let a
// project written for the real service run against a stand-in without
// editing the .sync files: `synclang emulate dynamics` and `synclang demo`
// point DYNAMICS_AUTHORITY at the emulator's identity platform (a sovereign
// cloud's sign-in host works the same way). A setting the block sets always
// wins, and an override is validated like the setting itself.
var settingOverrides = map[string]map[string]string{
	"dynamics": {dynamics.SettingAuthority: "DYNAMICS_AUTHORITY"},
}

// connectionSettings resolves a connection's settings: literals, env() and
// secret() read through s.Getenv, then the overrides. Every variable that
// is unset is named in one error, which never holds a value.
func connectionSettings(s *Stdio, c *plan.Connection, kind *connector.Kind) (map[string]string, error) {
	settings := map[string]string{}
	var missing []string
	for _, st := range c.Settings {
		v, err := st.Resolve(s.Getenv)
		if err != nil {
			name := st.Env + st.Secret
			if name == "" {
				return nil, fmt.Errorf("connection %s: %w", c.Name, err)
			}
			missing = append(missing, name)
			continue
		}
		if spec, ok := kind.Setting(st.Name); ok && spec.Validate != nil {
			if err := spec.Validate(v); err != nil {
				if spec.Secret {
					return nil, fmt.Errorf("%s: connection %s: setting %s (from %s) is not valid", st.Range, c.Name, st.Name, st.Secret)
				}
				return nil, fmt.Errorf("%s: connection %s: setting %s: %v", st.Range, c.Name, st.Name, err)
			}
		}
		settings[st.Name] = v
	}
	if len(missing) > 0 {
		verb, pronoun := "is", "it"
		if len(missing) > 1 {
			verb, pronoun = "are", "them"
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: connection %s: %s %s not set; export %s and run again",
			c.Range, c.Name, joinAnd(missing), verb, pronoun)
	}
	for name, env := range settingOverrides[c.Kind] {
		if _, set := settings[name]; set {
			continue
		}
		v := s.Getenv(env)
		if v == "" {
			continue
		}
		if spec, ok := kind.Setting(name); ok && spec.Validate != nil {
			if err := spec.Validate(v); err != nil {
				return nil, fmt.Errorf("connection %s: setting %s from %s: %v", c.Name, name, env, err)
			}
		}
		settings[name] = v
	}
	return settings, nil
}

// joinAnd lists words as "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// openConnector builds the live connector of a plan connection: it reads
// env() and secret() settings from the environment and calls the kind's
// factory. Errors name the connection and the variable, never a value.
func openConnector(ctx context.Context, s *Stdio, c *plan.Connection, logger *slog.Logger) (connector.Connector, error) {
	kind, ok := s.Registry.Kind(c.Kind)
	if !ok {
		return nil, fmt.Errorf("connection %s: unknown kind %q", c.Name, c.Kind)
	}
	if kind.New == nil {
		return nil, fmt.Errorf("connection %s: this build of synclang cannot connect to %s", c.Name, c.Kind)
	}
	settings, err := connectionSettings(s, c, kind)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := connector.Config{Name: c.Name, Settings: settings, HTTPClient: s.HTTPClient, Logger: logger,
		CacheDir: s.CacheDir, RateScale: s.RateScale}
	conn, err := kind.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.Name, err)
	}
	return conn, nil
}
