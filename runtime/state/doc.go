// Package state owns what synclang remembers between runs: per sync and
// flow the cursor of the source's change stream, the link table pairing a
// record on the left with one on the right, per linked pair a hash of every
// synced field on both sides (echo suppression), run history, conflicts,
// rejected records, unfinished creates, orphans (records whose pair was
// forgotten when the other side was deleted, with their last hashes), and
// the lock that keeps two processes from running one sync at once.
//
// [Store] is the interface the engine (runtime/engine) and the CLI use; [Open]
// returns the embedded SQLite implementation (modernc.org/sqlite, pure Go),
// [NewMemory] an in-memory one (synclang test), and runtime/state/postgres
// the PostgreSQL one. All three pass the conformance suite in
// runtime/state/statetest.
//
// # Transactions
//
// Everything the engine derives from one batch of source records is written
// by one [Store.Apply] call, atomically: links, hashes, rejects, conflicts,
// intents, orphans and, last, the flow's cursor. A crash leaves either all of a
// batch's state or none of it; the cursor never runs ahead of the links.
//
// # The lock
//
// The lock is a row per sync holding a lease: holder (host, pid), a random
// token and an expiry the holder renews while it runs ([Store.Acquire],
// [Store.Renew], [Store.Release]). Every write checks, in its own
// transaction, that the lease's token is still the lock's, so a process
// whose lease was taken over (it stalled past the expiry and another process
// acquired the lock) cannot write any more: the token is a fencing token.
// A lease left behind by a crashed process expires after its TTL, or is
// taken over at once when its holder ran on this host and is gone.
//
// A row lease was chosen over an OS file lock (flock next to the database)
// because it fences writes, works the same on every platform and on a
// networked PostgreSQL store, and survives the database file being copied
// or opened through another path; its cost is that a crash on another host
// blocks the sync until the TTL passes.
//
// # Schema
//
// The database schema is versioned with PRAGMA user_version and migrated
// forward on Open, one transaction per step. A database written by a newer
// synclang is refused rather than guessed at. The PostgreSQL schema has the
// same versions, tables and column names ([CopiedTables]).
package state
