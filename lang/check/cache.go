package check

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
)

// Cache keeps what checking each sync gave (its plan and diagnostics), so
// a program that checks a project over and over (the language server, on
// every change) re-checks only the syncs whose inputs changed. A sync's
// result depends on its own text and place (file, offset, line, column:
// every range in it follows from them) and on the project's connections
// (their blocks' text and place, their kinds, their schema snapshots);
// the key holds all of these, so a hit gives exactly what checking would.
// Snapshots are told apart by identity: a Snapshot function that reads
// the file anew on every call makes every lookup miss (correct, not
// faster); the language server's returns the same schema until the file
// changes.
//
// The plans in a Cache are shared between the checks that hit it; callers
// must not modify a plan Check returned with a Cache. A Cache is safe for
// concurrent use. Each Check forgets the entries it did not use, so a
// Cache holds one project's syncs: use one Cache per project.
type Cache struct {
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	used    map[cacheKey]bool // by the Check under way
}

type cacheKey struct {
	file                 string
	offset, line, column int
	text                 string
	conns                [sha256.Size]byte
}

type cacheEntry struct {
	plan  *plan.Sync // nil when the sync has errors
	diags diag.Diagnostics
}

// connsKey sums what of the connections a sync's check reads.
func (c *checker) connsKey() [sha256.Size]byte {
	h := sha256.New()
	for _, ci := range c.connOrder {
		start, end := ci.node.Span()
		fmt.Fprintf(h, "%q %s %d:%d:%d %q %p %p %q\n", ci.name, ci.file.Source.Name, start.Offset, start.Line, start.Column,
			ci.file.Source.Text[start.Offset:end.Offset], ci.kind, ci.snapshot, ci.snapshotPath)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// cachedSync is c.sync through the cache, when there is one.
func (c *checker) cachedSync(f *File, n *ast.Sync, conns [sha256.Size]byte) *plan.Sync {
	cache := c.opts.Cache
	if cache == nil {
		return c.sync(f, n)
	}
	start, end := n.Span()
	key := cacheKey{file: f.Source.Name, offset: start.Offset, line: start.Line, column: start.Column,
		text: string(f.Source.Text[start.Offset:end.Offset]), conns: conns}
	cache.mu.Lock()
	e, hit := cache.entries[key]
	cache.mu.Unlock()
	if hit {
		c.diags = append(c.diags, e.diags...)
		c.markUsed(n)
	} else {
		before := len(c.diags)
		ps := c.sync(f, n)
		e = &cacheEntry{plan: ps, diags: append(diag.Diagnostics(nil), c.diags[before:]...)}
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.entries == nil {
		cache.entries, cache.used = map[cacheKey]*cacheEntry{}, map[cacheKey]bool{}
	}
	cache.entries[key] = e
	cache.used[key] = true
	return e.plan
}

// markUsed does for a sync taken from the cache what resolving its pair
// does to the connections: marks them used.
func (c *checker) markUsed(n *ast.Sync) {
	if n.Pair == nil {
		return
	}
	for _, ref := range []*ast.EntityRef{n.Pair.Left, n.Pair.Right} {
		if ci, ok := c.conns[ref.Conn.Name]; ok {
			ci.used = true
		}
	}
}

// sweep forgets the entries the Check that ends did not use.
func (cache *Cache) sweep() {
	if cache == nil {
		return
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	for key := range cache.entries {
		if !cache.used[key] {
			delete(cache.entries, key)
		}
	}
	clear(cache.used)
}
