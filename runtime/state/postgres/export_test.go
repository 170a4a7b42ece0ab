package postgres

import (
	"context"

	"github.com/synclang/synclang/runtime/state"
)

// OpenAtVersion opens dsn migrated to schema version v only.
func OpenAtVersion(ctx context.Context, dsn string, v int) (*Store, error) {
	return openSteps(ctx, dsn, state.Options{}, migrations[:v])
}
