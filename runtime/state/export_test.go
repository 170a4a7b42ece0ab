package state

import "context"

// OpenAtVersion opens path migrated to schema version v only (the
// conformance suite's migrations from each earlier version).
func OpenAtVersion(ctx context.Context, path string, v int) (*SQLite, error) {
	return openWith(ctx, path, Options{}, migrations[:v])
}
