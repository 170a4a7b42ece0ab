package lsp

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/diag"
)

// parseCache keeps the syntax tree of each file as last parsed, so a
// change re-parses only the file that changed; parsing is about half of
// checking a 200-sync project (BenchmarkChangeToDiagnostics).
type parseCache struct {
	mu    sync.Mutex
	files map[string]parsed // by path
}

// checkCaches holds a check.Cache per project directory, so that an edit
// re-checks only the syncs it changed (check.Cache says what a sync's
// result depends on), and a schema snapshot read once per version of its
// file: check.Cache tells snapshots apart by identity, so one read anew on
// every check would make every sync miss.
type checkCaches struct {
	mu        sync.Mutex
	projects  map[string]*check.Cache // by directory
	snapshots map[string]snapshot     // by snapshot path
}

type snapshot struct {
	mod    time.Time
	size   int64
	schema *connector.Schema
	path   string
	err    error
}

// options are the checker's options for the project in dir: those of
// `synclang check` (lang.Options.CheckOptions) with the project's cache
// and the snapshot reader below.
func (c *checkCaches) options(dir string, opts lang.Options) check.Options {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.projects == nil {
		c.projects, c.snapshots = map[string]*check.Cache{}, map[string]snapshot{}
	}
	cache := c.projects[dir]
	if cache == nil {
		cache = &check.Cache{}
		c.projects[dir] = cache
	}
	opts.Snapshot = c.snapshot
	co := opts.CheckOptions()
	co.Cache = cache
	return co
}

// snapshot is lang.SnapshotBeside, answering with the schema it gave last
// time while the file's modification time and size are the same.
func (c *checkCaches) snapshot(conn, file string) (*connector.Schema, string, error) {
	path := lang.SnapshotFile(conn, file)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return lang.SnapshotBeside(conn, file) // missing or not a file: let it say so
	}
	c.mu.Lock()
	s, ok := c.snapshots[path]
	c.mu.Unlock()
	if ok && s.mod.Equal(fi.ModTime()) && s.size == fi.Size() {
		return s.schema, s.path, s.err
	}
	s = snapshot{mod: fi.ModTime(), size: fi.Size()}
	s.schema, s.path, s.err = lang.SnapshotBeside(conn, file)
	c.mu.Lock()
	c.snapshots[path] = s
	c.mu.Unlock()
	return s.schema, s.path, s.err
}

// forget drops the caches of the directories keep says no.
func (c *checkCaches) forget(keep func(dir string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for dir := range c.projects {
		if !keep(dir) {
			delete(c.projects, dir)
		}
	}
	for path := range c.snapshots {
		if !keep(filepath.Dir(path)) {
			delete(c.snapshots, path)
		}
	}
}

type parsed struct {
	src   string
	file  *check.File
	diags diag.Diagnostics
}

// parse returns the inputs parsed, from the cache where the text is the
// same, with their diagnostics in a new slice (callers sort it).
func (c *parseCache) parse(inputs []lang.Input) ([]*check.File, diag.Diagnostics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]parsed{}
	}
	files := make([]*check.File, 0, len(inputs))
	var diags diag.Diagnostics
	for _, in := range inputs {
		p, ok := c.files[in.Name]
		if !ok || p.src != string(in.Src) {
			fs, ds := lang.Parse([]lang.Input{in})
			p = parsed{src: string(in.Src), file: fs[0], diags: ds}
			c.files[in.Name] = p
		}
		files = append(files, p.file)
		diags = append(diags, p.diags...)
	}
	return files, diags
}

// forget drops the files no project holds any more.
func (c *parseCache) forget(keep func(path string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for path := range c.files {
		if !keep(path) {
			delete(c.files, path)
		}
	}
}
