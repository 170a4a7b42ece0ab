package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/connect"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// compileExamples compiles the project in dir (examples/: contacts.sync and
// leads.sync) into a plan, as `synclang compile` would.
func compileExamples(dir string) (*plan.Plan, error) {
	inputs, err := lang.Load([]string{dir})
	if err != nil {
		return nil, err
	}
	p, diags := lang.Compile(inputs, lang.Options{Registry: registry()})
	if diags.HasErrors() {
		return nil, fmt.Errorf("compiling %s: %w", dir, diags.Err())
	}
	return p, nil
}

// registry is the connection kinds the bench knows: the binary's
// (internal/kinds), of which it measures the two examples/ use.
func registry() *connector.Registry {
	return kinds.Registry()
}

// findExamples returns the examples directory of the module the working
// directory is in.
func findExamples() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory; pass --examples")
		}
		dir = parent
	}
}

// counter is an http.RoundTripper that counts requests by endpoint
// ("POST /people/2/persons/batch"), so a measurement can say which
// endpoint's limit bounds it. The connectors wrap it with their pacing and
// retry transports, so it sees every attempt (retries included).
type counter struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int64
	all  atomic.Int64
}

func newCounter() *counter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 2 * time.Minute
	return &counter{base: t, n: map[string]int64{}}
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	ep := endpoint(req.Method, req.URL.Path)
	c.mu.Lock()
	c.n[ep]++
	c.mu.Unlock()
	c.all.Add(1)
	return c.base.RoundTrip(req)
}

// snapshot returns the counts so far.
func (c *counter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// since returns the counts added since before, without zero entries.
func (c *counter) since(before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range c.snapshot() {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// endpoint names a request's endpoint: method and path, with Dataverse
// record ids and the API version left out ("PATCH contacts(…)").
func endpoint(method, path string) string {
	if i := strings.Index(path, "/api/data/"); i >= 0 {
		rest := path[i+len("/api/data/"):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[j+1:]
		}
		if j := strings.IndexByte(rest, '('); j >= 0 {
			if k := strings.IndexByte(rest[j:], ')'); k >= 0 {
				rest = rest[:j] + "(…)" + rest[j+k+1:]
			}
		}
		return method + " dataverse " + rest
	}
	if strings.Contains(path, "/oauth2/") {
		return method + " identity token"
	}
	return method + " " + path
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// project is a compiled plan with live connectors to the emulators and a
// state store: what engine.Run needs.
type project struct {
	plan  *plan.Plan
	conns map[string]connector.Connector
	// kinds maps each connection name to its kind.
	kinds map[string]string
	// count counts each connection's requests by endpoint.
	count map[string]*counter
	store state.Store
	// progress, when set, receives a line every few seconds during a pass.
	progress func(format string, args ...any)
}

// openProject builds the connectors of p's connections from the emulators'
// settings (the plan's settings name environment variables; the emulators'
// Settings hold the values, and the Dynamics emulator's identity endpoint as
// the authority), each at the given rate scale, and opens a state store in
// dir.
func openProject(ctx context.Context, p *plan.Plan, svc *services, scale float64, dir string, logger *slog.Logger) (*project, error) {
	pr := &project{plan: p, kinds: map[string]string{}, count: map[string]*counter{}}
	conns, errs := connect.Open(ctx, p.Connections, connect.Options{
		Registry: registry(),
		Settings: func(c *plan.Connection, _ *connector.Kind) (map[string]string, error) {
			settings, ok := svc.settings[c.Kind]
			if !ok {
				return nil, fmt.Errorf("connection %s: no emulator of kind %s", c.Name, c.Kind)
			}
			return settings, nil
		},
		Config: func(c *plan.Connection) connector.Config {
			cnt := newCounter()
			pr.kinds[c.Name], pr.count[c.Name] = c.Kind, cnt
			return connector.Config{HTTPClient: &http.Client{Transport: cnt}, Logger: logger, RateScale: scale, CacheDir: dir}
		},
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	pr.conns = conns
	st, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		pr.close()
		return nil, err
	}
	pr.store = st
	return pr, nil
}

func (pr *project) close() {
	for _, c := range pr.conns {
		c.Close()
	}
	if pr.store != nil {
		pr.store.Close()
	}
}

// limits returns the documented limits of each connection.
func (pr *project) limits() map[string][]connector.Limit {
	out := map[string][]connector.Limit{}
	for name, c := range pr.conns {
		if l, ok := c.(connector.Limited); ok {
			out[name] = l.Limits()
		}
	}
	return out
}

// run runs one pass of sync (all syncs when ""), and returns the report
// with the requests each connection sent, by endpoint.
func (pr *project) run(ctx context.Context, sync string, opts engine.Options) (*engine.Report, map[string]map[string]int64, error) {
	before := map[string]map[string]int64{}
	for name, c := range pr.count {
		before[name] = c.snapshot()
	}
	opts.Sync = sync
	env := engine.Env{Connectors: pr.conns, Store: pr.store}
	if pr.progress != nil {
		var last time.Time
		env.Progress = func(p engine.Progress) {
			if time.Since(last) >= 10*time.Second {
				last = time.Now()
				pr.progress("    %s %s: read %d, written %d", p.Sync, p.Flow, p.Read, p.Written)
			}
		}
	}
	rep, err := engine.Run(ctx, pr.plan, env, opts)
	sent := map[string]map[string]int64{}
	for name, c := range pr.count {
		sent[name] = c.since(before[name])
	}
	return rep, sent, err
}
