package memory

import (
	"context"

	"github.com/synclang/synclang/connectors/connector"
)

// Kind describes the memory connection kind: no settings, the schema of
// StandardSchema, and `field "ENTITY.NAME" TYPE` declarations of extra
// fields. Each connection it opens is a new, empty service. It lets tests
// of what reads kinds (the checker, the registry) use a kind of their own
// instead of the real services'.
func Kind() *connector.Kind {
	return &connector.Kind{
		Name:   "memory",
		Doc:    "An in-memory service (the reference connector), for tests.",
		Schema: StandardSchema(),
		Declare: &connector.DeclareSpec{Keyword: "field", Scoped: true, Lookup: true, Types: []connector.Type{
			connector.String, connector.Int, connector.Decimal, connector.Bool, connector.Date, connector.DateTime,
		}},
		New: func(ctx context.Context, cfg connector.Config) (connector.Connector, error) {
			return New(StandardSchema()), nil
		},
	}
}

// StandardSchema is the memory kind's schema: an entity contact with a key,
// a modification time, a required name of at most 20 characters, a unique
// case-insensitive email and an integer score, read incrementally with
// deletions.
func StandardSchema() *connector.Schema {
	s := &connector.Schema{Version: connector.SchemaVersion, Kind: "memory", Entities: []*connector.Entity{{
		Name: "contact", Key: "id", Modified: "modified", Incremental: true, Deletes: true,
		Fields: []*connector.Field{
			{Name: "id", Type: connector.ID, ReadOnly: true, Lookup: true, Unique: true},
			{Name: "modified", Type: connector.DateTime, ReadOnly: true},
			{Name: "name", Type: connector.String, MaxLength: 20, Required: true},
			{Name: "email", Type: connector.String, Lookup: true, Unique: true, CaseInsensitive: true},
			{Name: "score", Type: connector.Int},
		},
	}}}
	s.Normalize()
	return s
}
