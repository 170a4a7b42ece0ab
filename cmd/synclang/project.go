package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
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
	inputs, err := lang.Load(paths)
	if err != nil {
		return nil, err
	}
	p, diags := lang.Compile(inputs, lang.Options{Registry: s.Registry})
	return &project{inputs: inputs, sources: lang.Sources(inputs), plan: p, diags: diags, dir: filepath.Dir(inputs[0].Name)}, nil
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
	settings := map[string]string{}
	for _, st := range c.Settings {
		v, err := st.Resolve(s.Getenv)
		if err != nil {
			return nil, err
		}
		if spec, ok := kind.Setting(st.Name); ok && spec.Validate != nil {
			if err := spec.Validate(v); err != nil {
				if spec.Secret {
					return nil, fmt.Errorf("connection %s: setting %s (from %s) is not valid", c.Name, st.Name, st.Secret)
				}
				return nil, fmt.Errorf("connection %s: setting %s: %v", c.Name, st.Name, err)
			}
		}
		settings[st.Name] = v
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := connector.Config{Name: c.Name, Settings: settings, HTTPClient: s.HTTPClient, Logger: logger}
	conn, err := kind.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.Name, err)
	}
	return conn, nil
}
