package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/connect"
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

// maxPlanSize is the largest plan file `run` reads: a plan is a few KB per
// sync, so this leaves room for thousands.
const maxPlanSize = 64 << 20

// loadProject reads PATHS (.sync files, directories of them, or one plan
// compiled by `synclang compile`) and compiles them, stopping when ctx is
// done. Files are read as lang.ReadFile reads them (regular files only,
// bounded). The returned error is for I/O; compile problems are in
// project.diags.
func loadProject(ctx context.Context, s *Stdio, paths []string) (*project, error) {
	return loadProjectFiles(ctx, s, paths, lang.LoadContext)
}

// loadProjectWithTests is loadProject with the test files (*_test.sync) of
// the directories, for check and test.
func loadProjectWithTests(ctx context.Context, s *Stdio, paths []string) (*project, error) {
	return loadProjectFiles(ctx, s, paths, lang.LoadWithTests)
}

func loadProjectFiles(ctx context.Context, s *Stdio, paths []string, load func(context.Context, []string) ([]lang.Input, error)) (*project, error) {
	paths = defaultPaths(paths)
	if len(paths) == 1 && strings.HasSuffix(paths[0], ".json") {
		data, err := lang.ReadFile(ctx, paths[0], maxPlanSize)
		if err != nil {
			return nil, err
		}
		p, err := plan.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paths[0], err)
		}
		// A plan is a file anyone with write access can edit: refuse what
		// check would refuse before anything connects.
		diags := lang.CheckPlan(p, lang.Options{Registry: s.Registry, AllowHosts: allowedHosts(s)})
		if diags.HasErrors() {
			p = nil
		}
		return &project{plan: p, diags: diags, dir: planProjectDir(s, paths[0], p)}, nil
	}
	inputs, err := load(ctx, paths)
	if err != nil {
		return nil, err
	}
	return compileProject(s, inputs, lang.SnapshotReader(ctx)), nil
}

// compileProject compiles .sync files already read. snapshot finds schema
// snapshots (nil: next to the files, lang.SnapshotBeside).
func compileProject(s *Stdio, inputs []lang.Input, snapshot func(conn, file string) (*connector.Schema, string, error)) *project {
	p, diags := lang.Compile(inputs, lang.Options{Registry: s.Registry, Snapshot: snapshot, AllowHosts: allowedHosts(s)})
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
		return fmt.Sprintf("%s %sies", diag.Thousands(n), stem)
	}
	return fmt.Sprintf("%s %ss", diag.Thousands(n), word)
}

// connectionSettings resolves a connection's settings: literals, env() and
// secret() read through s.Getenv, then the overrides. Every variable that
// is unset is named in one error, which never holds a value: a value read
// from the environment is named by its variable in validation errors (two
// swapped variables must not print the secret), and the values of secret()
// settings, and the password of any URL's userinfo, are registered with
// s.Secrets before anything can print them.
func connectionSettings(s *Stdio, c *plan.Connection, kind *connector.Kind) (map[string]string, error) {
	settings := map[string]string{}
	var missing []string
	// Every value is resolved, and the secrets registered, before any is
	// validated: an error about one setting must not print another's
	// secret that was not registered yet.
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
		if spec, ok := kind.Setting(st.Name); st.Secret != "" || (ok && spec.Secret) {
			s.Secrets.Register(v)
		}
		s.Secrets.RegisterURL(v)
		settings[st.Name] = v
	}
	for _, st := range c.Settings {
		v, ok := settings[st.Name]
		if !ok {
			continue
		}
		spec, _ := kind.Setting(st.Name)
		if err := validateSetting(spec, v, st.Env+st.Secret); err != nil {
			return nil, fmt.Errorf("%s: connection %s: setting %s%v", st.Range, c.Name, st.Name, err)
		}
		// The host is checked after the value is valid: a malformed value
		// gets the validation error, which names its variable.
		if err := checkHost(s, kind, st.Name, v, st.Env+st.Secret); err != nil {
			return nil, fmt.Errorf("%s: connection %s: %w", st.Range, c.Name, err)
		}
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
	// A setting the block leaves unset may come from its documented
	// variable (connector.SettingSpec.Env: DYNAMICS_AUTHORITY, which
	// `synclang emulate dynamics` and the demo print).
	for _, spec := range kind.Settings {
		name, env := spec.Name, spec.Env
		if _, set := settings[name]; set || env == "" {
			continue
		}
		v := s.Getenv(env)
		if v == "" {
			continue
		}
		s.Secrets.RegisterURL(v)
		if err := validateSetting(&spec, v, env); err != nil {
			return nil, fmt.Errorf("connection %s: setting %s%v", c.Name, name, err)
		}
		if err := checkHost(s, kind, name, v, env); err != nil {
			return nil, fmt.Errorf("connection %s: %w", c.Name, err)
		}
		settings[name] = v
	}
	return settings, nil
}

// validateSetting validates v, read from the environment variable env (""
// for a literal of the .sync file), against spec. The error, to follow
// "setting NAME", never quotes a value read from the environment: it names
// the variable instead (`setting url (from DYNAMICS_URL): the value is not
// an absolute http(s) URL`), since a value in the wrong variable may be
// another setting's secret. A literal is quoted: it is in the .sync file
// already.
func validateSetting(spec *connector.SettingSpec, v, env string) error {
	if spec == nil || spec.Validate == nil {
		return nil
	}
	err := spec.Validate(v)
	switch {
	case err == nil:
		return nil
	case env == "":
		return fmt.Errorf(": %v", err)
	case spec.Secret:
		return fmt.Errorf(" (from %s) is not valid", env)
	}
	msg := strings.ReplaceAll(err.Error(), strconv.Quote(v), "the value")
	if len(v) >= redact.MinLen {
		// Unquoted, only a value long enough not to be an ordinary word.
		msg = strings.ReplaceAll(msg, v, "the value")
	}
	return fmt.Errorf(" (from %s): %s", env, msg)
}

// allowedHosts reads lang.AllowHostsVar: more hosts connections may point
// at, separated by commas or spaces.
func allowedHosts(s *Stdio) []string {
	return strings.FieldsFunc(s.Getenv(lang.AllowHostsVar), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// checkHost refuses a resolved URL setting whose host is not one of its
// kind's hosts (connector.SettingSpec.Hosts), loopback, or allowed by
// lang.AllowHostsVar: credentials go to that host, and the value may come
// from a .sync change. check warns about literals; this catches the values
// env() reads too. from names the variable ("" for a literal); the error
// names the host, never the rest of the value.
func checkHost(s *Stdio, kind *connector.Kind, name, value, from string) error {
	spec, ok := kind.Setting(name)
	if !ok || spec.Hosts == nil || connector.HostAllowed(value, spec.Hosts, allowedHosts(s)) {
		return nil
	}
	host := "that host"
	if u, err := url.Parse(value); err == nil && u.Hostname() != "" {
		host = fmt.Sprintf("%q", u.Hostname())
	}
	if from != "" {
		name += " (from " + from + ")"
	}
	return fmt.Errorf("setting %s points at %s, which is none of the %s service's hosts (%s) nor loopback; synclang does not send credentials there. If the host is yours, add it to %s (comma-separated) and run again",
		name, host, kind.Name, strings.Join(spec.Hosts, ", "), lang.AllowHostsVar)
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
	return connect.One(ctx, c, connectOptions(s, logger))
}

// connectOptions are how the commands open connections (connect.Open):
// settings from the environment (connectionSettings), and the
// invocation's HTTP client, caches, rate scale and secret registry. Each
// connector logs to logger with its connection's name; nil discards.
func connectOptions(s *Stdio, logger *slog.Logger) connect.Options {
	return connect.Options{
		Registry: s.Registry,
		Settings: func(c *plan.Connection, kind *connector.Kind) (map[string]string, error) {
			return connectionSettings(s, c, kind)
		},
		Config: func(c *plan.Connection) connector.Config {
			l := slog.New(slog.DiscardHandler)
			if logger != nil {
				l = logger.With("connection", c.Name)
			}
			return connector.Config{HTTPClient: s.HTTPClient, Logger: l, CacheDir: s.CacheDir, SignInDir: tokenDir(s),
				RateScale: s.RateScale, RegisterSecret: s.Secrets.RegisterExpiring}
		},
	}
}

// planProjectDir is the directory whose state a plan file runs with: the
// project it was compiled from (recorded by `compile -o`, relative to the
// plan) when that directory still holds its .sync files, so one project
// has one state and one lock however it is run; otherwise the plan's own
// directory, with a warning when the plan names a project that is not
// there (a plan copied elsewhere keeps its state next to it).
func planProjectDir(s *Stdio, planFile string, p *plan.Plan) string {
	here := filepath.Dir(planFile)
	if p == nil || p.Project == "" {
		return here
	}
	dir := filepath.Join(here, filepath.FromSlash(p.Project))
	if files, _ := filepath.Glob(filepath.Join(dir, "*.sync")); len(files) > 0 {
		return dir
	}
	fmt.Fprintf(s.Err, "synclang: warning: %s was compiled from %s, which holds no .sync files here; using the state next to the plan (%s), not the project's (pass --state to choose)\n",
		planFile, filepath.Join(here, filepath.FromSlash(p.Project)), filepath.Join(here, stateDir))
	return here
}
