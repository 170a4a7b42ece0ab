package check

import (
	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
)

// ConnectionSchemas returns, by connection name, the schema the syncs of
// the files resolve names against: the kind's standard schema, the
// snapshot and the block's declarations, as Check builds it. Connections of
// an unknown kind are left out. The language server reads it for hover and
// completion; problems are Check's to report.
func ConnectionSchemas(files []*File, opts Options) map[string]*connector.Schema {
	c := &checker{opts: opts, conns: map[string]*connInfo{}}
	for _, f := range files {
		for _, d := range f.AST.Decls {
			if conn, ok := d.(*ast.Connection); ok {
				c.connection(f, conn)
			}
		}
	}
	out := map[string]*connector.Schema{}
	for _, ci := range c.connOrder {
		if ci.schema != nil {
			out[ci.name] = ci.schema
		}
	}
	return out
}
