// Package connector is the contract between synclang and the services it
// syncs: the schema types the checker resolves names against ([Schema],
// [Entity], [Field], [Type]), the [Connector] interface every service
// implements, the optional capabilities found by type assertion ([Deleter],
// [Limited], [Metered], [Normalizer], [Counter], [Estimator]), the typed
// [Error] connectors return, and the [Registry] of connection [Kind]s that
// internal/kinds builds explicitly. Where a new connector goes and what it
// implements: connectors/README.md.
//
// It is a leaf package (standard library only). Connectors import it and
// connectors/internal/httpx, never lang/* or runtime/*. The conformance suite
// every connector passes is connectors/conntest; connectors/memory is the
// reference implementation.
package connector
