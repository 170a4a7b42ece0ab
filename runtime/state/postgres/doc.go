// Package postgres is the PostgreSQL state.Store: what runtime/state's
// SQLite store keeps, in a database a team already runs, backs up and
// shares between hosts (`synclang run --state postgres://...`).
//
// [Open] connects from a URL (the password from the URL, PGPASSWORD or
// ~/.pgpass, as libpq reads them) and owns its pool; [OpenPool] runs over
// a *pgxpool.Pool the caller shares, e.g. with River's riverpgxv5 driver,
// so several projects' stores and the job queue use one pool. A store uses
// the schema its connections see (search_path, e.g. ?search_path=tenant_a
// in the URL); [OpenPoolSchema] qualifies every table with a schema of its
// own instead, so projects sharing one pool keep apart states (sync names
// are unique only within a state).
//
// The contract is runtime/state's, checked by the same conformance suite
// (runtime/state/statetest):
//
//   - Schema versions mirror SQLite's steps one for one; Open migrates
//     forward, one transaction per step, under an advisory lock so two
//     replicas starting at once migrate once; a newer version is refused.
//   - Apply is one transaction. Its writes go in one pipelined batch of at
//     most ten statements over arrays, whatever the batch's size. A
//     connection lost before COMMIT leaves nothing of the batch.
//   - Leases are rows of the locks table with a fencing token. Every write
//     checks the token inside its transaction and holds the lock row FOR
//     SHARE until it commits, and a takeover updates that row, so a
//     takeover waits for a commit in flight and a holder that stalled past
//     its lease cannot commit afterwards, on any host. Expiry is judged by
//     the clock of the host that acquires (as with SQLite); hosts sharing a
//     database should keep their clocks in sync (NTP) to well within the
//     lease's TTL. Fencing does not depend on clocks.
//
// [CopyFromSQLite] moves an SQLite state into a database (`synclang state
// copy`).
package postgres
