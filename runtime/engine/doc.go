// Package engine runs a compiled plan (lang/plan) against live connectors
// (connectors/connector), both ways, incrementally, remembering what it did
// in a state store (runtime/state). The entry point is [Run]:
//
//	rep, err := engine.Run(ctx, plan, engine.Env{Connectors: conns, Store: st}, engine.Options{})
//
// It never names a concrete connector; cmd/synclang builds the connectors
// from the plan's connections and passes them in by connection name.
// Service-specific rules (which records are foreign, how values are
// stored, what a refusal names) are the connectors' (connector.Record,
// connector.Normalizer, connector.Error) and SPEC.md's; the examples below
// name services only to illustrate.
//
// # What the engine guarantees
//
// For every service whose connector keeps the contract in
// connectors/connector (checked by connectors/conntest):
//
//   - one record is linked to at most one record on the other side, and
//     a pairing it cannot decide is reported, never guessed (Pairing);
//   - a pass after a sync writes nothing, and an unchanged record costs
//     no request (Echo suppression);
//   - a change made on both sides is decided by the sync's policy and
//     recorded (Conflicts);
//   - a record that cannot be synced is rejected with its key, field,
//     mapping line and reason, and never stops the run (Rejects);
//   - a crash or failure loses no change: the cursor is saved only after
//     everything before it was written; and it repeats no create blindly:
//     a create is found again, or held as unfinished for the user to check
//     (Crash safety);
//   - one sync runs in one process at a time (Locks), and a dry run writes
//     nothing anywhere (Dry run).
//
// # Passes, flows and batches
//
// A pass runs every sync (or Options.Sync) in plan order; a sync runs its
// flows one after the other, left-to-right first (except in the first run
// of a two-way sync whose right side is slower to read, which goes right
// to left first: see slowerSideFirst in engine.go). A flow reads its source
// entity in full (the first pass, Options.Full, or a source that is not
// incremental) or since its saved cursor, in batches (Options.BatchSize,
// default 1000). Each batch goes through a pipeline with bounded memory:
// read, prepare (filter, evaluate, pair: one goroutine; every lookup covers
// the whole batch in one Lookup call, and the first round, targets by key
// and the link field and first match key, is sent at once), write (up to
// Options.InFlight batches at once, so a paced connector always has
// requests queued) and commit (in batch order). Memory holds at most
// InFlight+3 batches, whatever the number of records.
//
// Field expressions are compiled once per run with lang/eval and evaluated
// against the target field's type (the result is canonicalised; a value
// that does not fit rejects the record). Where filters leave records out
// (counted as skipped); a where that fails on a record rejects it.
//
// # Pairing
//
// Each source record is paired with one target, in this order:
//
//  1. the state's link table (the pair is known);
//  2. the link field: the owner side's primary key looked up in the other
//     side's link field (a contactid in People's externalId), or the
//     non-owner's link field value looked up as the owner's key;
//  3. the match keys in order: the source's match expression is evaluated,
//     its value looked up in the target's match field, and candidates kept
//     whose target expression gives the same value;
//  4. otherwise a target is created.
//
// A pair found by 2 or 3 is checked before it is used: a target linked in
// the state to another source record, a target whose link field names
// another existing source record, or a target several records of one batch
// pair with, is reported, not guessed: the records are rejected as
// ambiguous, as is a key that finds several targets. A linked target that no
// longer exists is unlinked and the record paired afresh.
//
// A known pair whose non-owner link field now names another record was
// taken over (by a user, or by another sync: the contact a lead was
// qualified into); the engine does not write it back, which would start a
// tug of war, but rejects the record with the reason.
//
// The link travels with the data: when the source owns the link, creates
// and updates carry it (People created with externalId = contactid); when
// the target owns it, the new or found target's key is written back into the
// source's link field in the same batch (People externalId := the new
// contactid), so the next pass links instead of duplicating, even with the
// state lost.
//
// # Echo suppression and reconciliation
//
// Per linked pair the state keeps a 64-bit hash of the last synced value of
// every tracked field on both sides (the fields a side's maps read, the
// fields the other side's maps write into it, and its link field when it
// does not own the link). A linked source record none of whose tracked input
// fields changed is left alone without any request (the echo of an earlier
// write, or a change to fields no map reads); a computed value equal to the
// target's current value is not written. Computed values are compared and
// hashed in the form the target's service stores them
// (connector.Normalizer: People keeps "+385 91 123 4567" as
// "385911234567"), so a value the service rewrote is not mistaken for a
// change; and a field pair whose halves each read only the field the
// other writes, and whose target value, mapped back, gives the source's
// value, is in sync, whichever side it is visited from (the contact keeps
// "+385 91 123 4567" when the pair is found from People).
// So the pass after a sync writes nothing, in either direction, and a pass
// without changes costs one read request per flow.
//
// When a changed source record is paired, the engine reconciles the pair in
// both directions in that one visit: source maps whose inputs changed are
// written to the target; in a two-way sync, maps of the reverse flow whose
// inputs changed on the target are written back to the source (unless the
// reverse flow's where filter leaves the target out). The reverse flow later
// reads the target as an unchanged echo. A pair without history (just found
// by the link field or a match) counts every field as changed on both sides;
// where one side has no value the other side's fills it.
//
// # Conflicts
//
// A field map and the reverse map that writes its inputs back (the two
// halves of `a <-> b`, or a `->` / `<-` pair over the same fields) form a
// field pair. When both sides changed a field pair since the last sync and
// their values disagree, the sync's conflict policy decides: "newest"
// compares the records' modification times (ties and unknown times go to
// the left side), "left" and "right" name the winner. The winner's value is
// written to the other side; the decision and both values are recorded in
// the state's conflict table.
//
// # Deletes
//
// Deletions come from incremental reads (Record.Deleted). A deleted source
// record's link is forgotten ("delete ignore"; the target stays), or its
// linked target is deleted through connector.Deleter and the link forgotten
// ("delete propagate"; a target already gone counts as deleted). With the
// link forgotten, the surviving record is on its own: if it changes later,
// it is synced as a new record. In a two-way sync the survivor's hashes are
// kept as a state.Orphan, because the reverse flow may still read it for an
// earlier write (the link key written back just before the deletion): an
// unlinked record whose inputs equal its orphan hashes is unchanged, not
// new, so a deleted record is not re-created from its own echo. The orphan
// is cleared when the record changes or is deleted.
//
// # Foreign records
//
// A lookup may mark a record it found as foreign to the entity asked for
// (connector.Record.Foreign). The engine never writes through it nor
// creates a second record: the source record is rejected (RejectForeign)
// with the connector's reason, and no link is kept for a new pair. Which
// records are foreign is the connector's rule, not the engine's (People
// marks a CUSTOMER found for a lead); how the services' rules combine into
// a lead qualified in Dynamics keeping one People profile is SPEC.md's
// "Lead qualification".
//
// # Rejects
//
// A record that cannot be synced never stops the run: an expression that
// fails on it, a value that does not fit the target field (type, length,
// option, enumeration, required on create), a record-level service error
// (connector.RecordLevel), an ambiguous pairing. It is stored as a reject
// with its key, the target field, the range of the mapping line that
// produced the value and the message ([RecordError]), logged by key only
// (records hold personal data), and tried again when it changes or on
// Options.RetryRejects. Its hashes are not updated, so whatever changes next
// is processed in full. [FromReject] rebuilds the error of a stored reject
// and [RecordError.Diagnostic] turns it into a diagnostic, so `synclang
// rejects` prints it with the mapping line, as the compiler prints errors.
//
// # Crash safety
//
// A batch's state changes (links, hashes, rejects, conflicts) and its cursor
// (Batch.Next, when not zero) are committed in one store transaction, in
// batch order, after every write of the batch returned; the cursor only
// when the batch and all before it were written completely. A run that
// fails or crashes resumes from the last committed cursor: changes are read
// again (at least once, never skipped), and records already written are
// found again instead of created twice: through the state when it was
// committed, otherwise through the link field the create carried or the key
// written back, otherwise through the match keys. Creates that none of these
// could find again (the target owns the link and the crash came between the
// create and the write-back, with no match key value) are recorded as
// intents before they are sent, with a fingerprint of the values they write
// and, once the service answers, the new key; the next run pairs the created
// record back by either, from the opposite direction or the interrupted one
// (see recover.go). An intent whose create provably never reached the
// service is cleared and the record created; one that cannot be resolved
// rejects the record as an unfinished create, until the user checks and
// runs `synclang rejects retry`.
// When a write call fails as a whole, what it did write is still committed
// (links of new targets), but not the cursor.
//
// Batches in flight never touch the same records: prepare tracks the source
// keys, target keys and match values of the batches in flight and waits for
// a batch it shares one with to be committed before pairing.
//
// # Locks
//
// A sync runs under its lock in the store (state.Store.Acquire), renewed
// while it runs; if the lock is lost the sync stops before its next write.
// A dry run takes no lock.
//
// # Dry run
//
// Options.DryRun runs the same pipeline without writing to any service or to
// the store, and reports each record that would be created, updated (field
// by field, before and after), linked, unlinked, deleted or rejected
// ([Change]). A later flow of the sync skips the records an earlier one
// planned to write, as a real run would read them as echoes.
//
// # Reports
//
// Run returns a [Report]: per sync and flow the records read, skipped,
// created, updated, unchanged, linked (by match), written back, deleted,
// unlinked, rejected, retried and in conflict, resync counts, write calls,
// the requests each connection sent (connector.Metered) and durations.
// Env.Progress is called after every committed batch.
package engine
