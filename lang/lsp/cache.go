package lsp

import (
	"sync"

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
