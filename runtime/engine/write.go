package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/runtime/state"
)

// write sends a prepared batch's writes: the target's creates and updates in
// one Upsert call, then the source's write-backs (link keys of new targets,
// values reconciled from the target) in another, then deletions; and turns
// the outcome into the batch's state changes. Record-level failures reject
// their record; a call that fails as a whole marks the batch failed (its
// cursor is not saved) after keeping what did get written.
func (fr *flowRun) write(ctx context.Context, w *batchWork) {
	if fr.dry {
		fr.dryRun(w)
		return
	}
	src, dst := fr.f.src, fr.f.dst
	failBatch := func(err error) {
		if w.failed == nil {
			w.failed = err
			fr.fail(err)
		}
	}

	// Creates that could not be found again after a crash are recorded
	// first (see needsIntent).
	var intents []state.Intent
	for _, it := range w.items {
		if it.active() && it.tgt == nil && it.putIntent && !it.hadIntent {
			intents = append(intents, state.Intent{Flow: fr.f.name, Key: it.rec.Key, Print: it.print})
		}
	}
	if len(intents) > 0 {
		if err := fr.r.env.Store.Apply(ctx, fr.lease, &state.Changes{Sync: fr.rt.p.Name, RunID: fr.runID, PutIntents: intents}); err != nil {
			failBatch(err)
			fr.buildChanges(w)
			return
		}
		hook(fr.f.name + "/intents-recorded")
	}

	// Target: creates and updates.
	tgt := part{sd: dst, call: "writing " + dst.label, hook: "/target-written", maps: fr.f.maps,
		fields: func(it *item) map[string]any { return it.tWrite },
		what: func(it *item) (string, string) {
			if it.tgt == nil {
				what := "creating " + dst.label
				return what, fmt.Sprintf("%s for %s %s", what, src.label, it.rec.Key)
			}
			what := fmt.Sprintf("updating %s %s", dst.label, it.tgt.Key)
			return what, fmt.Sprintf("%s for %s %s", what, src.label, it.rec.Key)
		},
		done: func(it *item, r connector.WriteResult) error {
			if r.Effect == connector.Created && r.Key == "" {
				return fmt.Errorf("creating %s for %s %s: the connector reported no key for the new record", dst.label, src.label, it.rec.Key)
			}
			it.mode, it.tOp = targetWritten, r.Effect
			if r.Effect == connector.Created {
				it.newKey = r.Key
			}
			return nil
		},
		refused: func(it *item) { it.refused = it.tgt == nil },
	}
	var recs []connector.Record
	var who []*item
	for _, it := range w.items {
		if !it.active() {
			continue
		}
		if it.tgt == nil {
			recs = append(recs, connector.Record{Fields: it.tWrite})
			who = append(who, it)
		} else if len(it.tWrite) > 0 {
			recs = append(recs, connector.Record{Key: it.tgt.Key, Fields: it.tWrite})
			who = append(who, it)
		} else {
			it.mode = targetWritten
		}
	}
	fr.writePart(ctx, w, tgt, true, recs, who, failBatch)
	// The keys of the targets created, before anything else can fail.
	if ts := fr.intentTargets(w); len(ts) > 0 {
		if err := fr.r.env.Store.Apply(ctx, fr.lease, &state.Changes{Sync: fr.rt.p.Name, RunID: fr.runID, PutIntents: ts}); err != nil {
			failBatch(err)
		} else {
			hook(fr.f.name + "/targets-recorded")
		}
	}

	// Source: link keys of new targets, reconciled values.
	var rev []*mapRT
	if fr.f.reverse != nil {
		rev = fr.f.reverse.maps
	}
	back := part{sd: src, call: "writing back to " + src.label, hook: "/source-written", maps: rev,
		fields: func(it *item) map[string]any { return it.sWrite },
		what: func(it *item) (string, string) {
			what := fmt.Sprintf("writing back to %s %s", src.label, it.rec.Key)
			return what, what
		},
		done: func(it *item, _ connector.WriteResult) error {
			it.mode = written
			return nil
		},
	}
	recs, who = recs[:0], who[:0]
	for _, it := range w.items {
		if it.mode != targetWritten {
			continue
		}
		if it.tOp == connector.Created && fr.rt.link != nil && dst.owner {
			it.setS(src.linkField, linkValue(src.byName[src.linkField], it.newKey))
		}
		if len(it.sWrite) == 0 {
			it.mode = written
			continue
		}
		recs = append(recs, connector.Record{Key: it.rec.Key, Fields: it.sWrite})
		who = append(who, it)
	}
	if w.failed == nil {
		fr.writePart(ctx, w, back, false, recs, who, failBatch)
	}

	// Deletions.
	if fr.f.deleter != nil && w.failed == nil {
		var keys []string
		var dels []*item
		for _, it := range w.items {
			if it.mode == deleted && it.link != nil {
				keys = append(keys, it.link.Key(dst.st))
				dels = append(dels, it)
			}
		}
		if len(keys) > 0 {
			w.counts.WriteCalls++
			res, err := fr.f.deleter.Delete(ctx, connector.DeleteRequest{Entity: dst.p.Entity, Keys: keys})
			if err == nil && len(res.Results) != len(keys) {
				err = fmt.Errorf("the connector answered %d results for %d records", len(res.Results), len(keys))
			}
			for i, it := range dels {
				if i >= len(res.Results) {
					break
				}
				r := res.Results[i]
				switch {
				case r.Effect == connector.Deleted:
					it.mode, it.tOp = deleteDone, connector.Deleted
				case r.Effect == connector.Failed && err == nil && connector.KindOf(r.Err) == connector.ErrorNotFound:
					it.mode = deleteDone // already gone
				case r.Effect == connector.Failed && err == nil && connector.RecordLevel(r.Err):
					fr.serviceReject(it, r.Err, nil, nil, fmt.Sprintf("deleting %s %s", dst.label, keys[i]))
				case err == nil:
					failBatch(fmt.Errorf("deleting %s %s: %v", dst.label, keys[i], r.Err))
				}
			}
			if err != nil {
				failBatch(fmt.Errorf("deleting from %s: %w", dst.label, err))
			}
		}
	}
	fr.buildChanges(w)
}

// part is one of a batch's two Upsert calls: the target's creates and
// updates, or the write-back to the source.
type part struct {
	sd   *sideRT
	call string // what the call does, for its failure: "writing contact"
	hook string
	// maps are the maps whose fields the part writes (a service's rejection
	// names one); fields gives the fields written for an item.
	maps   []*mapRT
	fields func(*item) map[string]any
	// what describes one record's write: for a reject, and for a failure
	// that stops the batch.
	what func(*item) (reject, fail string)
	// done applies a successful result (created, updated or unchanged).
	done func(*item, connector.WriteResult) error
	// refused, when set, is told of a record the service refused alone.
	refused func(*item)
}

// writePart sends recs (recs[i] for who[i]) in one Upsert call to p.sd and
// applies each result: done for a write, a reject for a record-level
// refusal, and failBatch for anything else (a call that fails as a whole,
// a result count that does not match, an answer that is no write). Only
// the target part may create.
func (fr *flowRun) writePart(ctx context.Context, w *batchWork, p part, creates bool, recs []connector.Record, who []*item, failBatch func(error)) {
	if len(recs) == 0 {
		return
	}
	w.counts.WriteCalls++
	res, err := p.sd.conn.Upsert(ctx, connector.UpsertRequest{Entity: p.sd.p.Entity, Records: recs})
	if err == nil && len(res.Results) != len(recs) {
		err = fmt.Errorf("the connector answered %d results for %d records", len(res.Results), len(recs))
	}
	for i, it := range who {
		if i >= len(res.Results) {
			break
		}
		r := res.Results[i]
		switch {
		case r.Effect == connector.Updated || r.Effect == connector.Unchanged || (creates && r.Effect == connector.Created):
			if derr := p.done(it, r); derr != nil {
				failBatch(derr)
			}
		case r.Effect == connector.Failed:
			if err != nil {
				continue // not attempted: the call failed as a whole
			}
			what, fail := p.what(it)
			if !connector.RecordLevel(r.Err) {
				failBatch(fmt.Errorf("%s: %w", fail, r.Err))
				continue
			}
			if p.refused != nil {
				p.refused(it)
			}
			fr.serviceReject(it, r.Err, p.fields(it), p.maps, what)
		default:
			failBatch(fmt.Errorf("%s: the connector answered %q for record %d", p.call, r.Effect, i))
		}
	}
	if err != nil {
		failBatch(fmt.Errorf("%s: %w", p.call, err))
	}
	hook(fr.f.name + p.hook)
}

// serviceReject rejects an item the service refused, attributing it to a
// mapping line when the service's error names exactly one of the fields
// written (connector.Error.Fields).
func (fr *flowRun) serviceReject(it *item, err error, written map[string]any, maps []*mapRT, what string) {
	field, rng := namedField(connector.FieldsOf(err), written, maps)
	if !rng.IsValid() {
		rng = fr.rt.p.Range
	}
	fr.rejectErr(it, RejectService, field, rng, fmt.Errorf("%s: %w", what, err))
}

// namedField returns the one written field among named, and the range of
// the map that wrote it; nothing when none or several are.
func namedField(named []string, written map[string]any, maps []*mapRT) (string, diag.Range) {
	var hit string
	for _, name := range named {
		if _, ok := written[name]; !ok || name == hit {
			continue
		}
		if hit != "" {
			return "", diag.Range{}
		}
		hit = name
	}
	if hit == "" {
		return "", diag.Range{}
	}
	for _, m := range maps {
		if m.target.Name == hit {
			return hit, m.fm.Range
		}
	}
	return hit, diag.Range{}
}

// targetKey is the key of the item's target after the writes ("" when
// there is none).
func (it *item) targetKey() string {
	if it.newKey != "" {
		return it.newKey
	}
	if it.tgt != nil {
		return it.tgt.Key
	}
	return ""
}

func (fr *flowRun) makeLink(srcKey, tgtKey string, sh, th state.Hashes) state.Link {
	if fr.f.src.st == state.Left {
		return state.Link{Left: srcKey, Right: tgtKey, LeftHashes: sh, RightHashes: th}
	}
	return state.Link{Left: tgtKey, Right: srcKey, LeftHashes: th, RightHashes: sh}
}

// buildChanges turns the batch's outcome into state changes and counts.
func (fr *flowRun) buildChanges(w *batchWork) {
	src, dst := fr.f.src, fr.f.dst
	ch := w.changes
	c := &w.counts
	clear := func(it *item) {
		ch.ClearRejects = append(ch.ClearRejects, state.Intent{Flow: fr.f.name, Key: it.rec.Key})
	}
	for _, it := range w.items {
		fr.outcome(it, &c.Outcome)
		if it.orphan != nil && !it.isUnchanged() {
			// An orphan that changed (or was deleted) is on its own from now.
			ch.ClearOrphans = append(ch.ClearOrphans, state.Orphan{Side: src.st, Key: it.rec.Key})
		}
		switch {
		case it.mode == rejected:
			c.Rejected++
			ch.PutRejects = append(ch.PutRejects, it.rej.reject())
			fr.keepRelink(ch, it)
			w.rejects = append(w.rejects, it.rej)
			fr.log.Warn("record rejected", "record", it.rec.Key, "field", it.rej.Field, "at", it.rej.Range.String(), "kind", string(it.rej.Kind))
			if it.dropLink {
				ch.DeleteLinks = append(ch.DeleteLinks, it.link.Left)
			}
			// Keep what is known about a valid pair (not one the pairing
			// rejected); hashes stay as they were (unknown for a new pair) so
			// the record is processed in full next time.
			validPair := it.rej.Kind != RejectAmbiguous && it.rej.Kind != RejectUnfinished && it.rej.Kind != RejectForeign
			if tk := it.targetKey(); tk != "" && validPair && (it.newPair() || it.tOp == connector.Created) {
				ch.PutLinks = append(ch.PutLinks, fr.makeLink(it.rec.Key, tk, nil, nil))
				if it.putIntent || it.hadIntent {
					ch.ClearIntents = append(ch.ClearIntents, state.Intent{Flow: fr.f.name, Key: it.rec.Key})
				}
				fr.clearReverse(ch, it, tk)
			} else if it.refused && (it.putIntent || it.hadIntent) {
				// The service refused the create: it did not happen.
				ch.ClearIntents = append(ch.ClearIntents, state.Intent{Flow: fr.f.name, Key: it.rec.Key})
			}
		case it.isDeleted():
			clear(it)
			if it.link == nil {
				continue
			}
			if fr.f.deleter == nil || it.mode == deleteDone {
				ch.DeleteLinks = append(ch.DeleteLinks, it.link.Left)
				if it.tOp == connector.Deleted {
					c.Deleted++
				} else {
					c.Unlinked++
					// The target survives. When the reverse flow reads it,
					// it may be the echo of an earlier write (the link key
					// written back just before the deletion): remember its
					// hashes so that echo is not synced as a new record.
					if th := it.link.Hashes(dst.st); fr.f.reverse != nil && th != nil {
						ch.PutOrphans = append(ch.PutOrphans, state.Orphan{Side: dst.st, Key: it.link.Key(dst.st), Hashes: th})
					}
				}
			}
		case it.mode == skipped:
			c.Skipped++
			clear(it)
			fr.keepRelink(ch, it)
		case it.isUnchanged():
			c.Unchanged++
		case it.mode == pending:
			// The target write did not happen (the call failed as a whole).
		case it.tOp == connector.Created && it.mode == targetWritten:
			// Created, but writing the link key back failed as a whole: keep
			// the link so the next run pairs the records instead of
			// creating another target.
			c.Created++
			ch.PutLinks = append(ch.PutLinks, fr.makeLink(it.rec.Key, it.newKey, nil, nil))
			ch.ClearIntents = append(ch.ClearIntents, state.Intent{Flow: fr.f.name, Key: it.rec.Key})
		case it.mode == targetWritten:
			if it.newPair() {
				ch.PutLinks = append(ch.PutLinks, fr.makeLink(it.rec.Key, it.tgt.Key, nil, nil))
			}
		default:
			tk := it.targetKey()
			var tFields map[string]any
			if it.tgt != nil {
				tFields = it.tgt.Fields
			}
			sh := hashesOf(src, it.rec.Fields, it.sWrite)
			th := hashesOf(dst, tFields, it.tWrite)
			if it.dropLink {
				ch.DeleteLinks = append(ch.DeleteLinks, it.link.Left)
				c.Unlinked++
			}
			if it.link == nil || it.dropLink || it.link.Key(dst.st) != tk ||
				!it.link.Hashes(src.st).Equal(sh) || !it.link.Hashes(dst.st).Equal(th) {
				ch.PutLinks = append(ch.PutLinks, fr.makeLink(it.rec.Key, tk, sh, th))
			}
			clear(it)
			if it.putIntent || it.hadIntent {
				ch.ClearIntents = append(ch.ClearIntents, state.Intent{Flow: fr.f.name, Key: it.rec.Key})
			}
			fr.clearReverse(ch, it, tk)
			ch.Conflicts = append(ch.Conflicts, it.conflicts...)
			c.Conflicts += len(it.conflicts)
			if it.newPair() {
				c.Linked++
				if it.found == byMatch {
					c.LinkedByMatch++
				}
			}
			switch it.tOp {
			case connector.Created:
				c.Created++
			case connector.Updated:
				c.Updated++
			}
			if len(it.sWrite) > 0 {
				c.WrittenBack++
			}
			if it.newPair() && (replacesLink(dst, tFields, it.tWrite) || replacesLink(src, it.rec.Fields, it.sWrite)) {
				c.ReplacedLinks++
			}
			if it.tOp != connector.Created && it.tOp != connector.Updated && len(it.sWrite) == 0 && !it.newPair() {
				c.Unchanged++
			}
		}
	}
}

// outcome classifies an item after its batch was written (see Outcome).
func (fr *flowRun) outcome(it *item, o *Outcome) {
	switch {
	case it.mode == rejected:
		o.Rejected++
	case it.isDeleted():
		switch {
		case it.link == nil:
			o.Unchanged++
		case fr.f.deleter == nil || it.mode == deleteDone:
			o.Deleted++
		default:
			o.Unwritten++
		}
	case it.mode == skipped:
		o.Skipped++
	case it.isUnchanged():
		o.Unchanged++
	case it.mode == pending:
		o.Unwritten++
	case it.tOp == connector.Created:
		o.Created++
	case it.tOp == connector.Updated:
		o.Updated++
	case it.mode == targetWritten:
		o.Unwritten++
	case len(it.sWrite) > 0:
		o.Updated++
	case it.newPair():
		o.Linked++
	default:
		o.Unchanged++
	}
}

// dryOutcome classifies an item of a dry run by what a run would do.
func (fr *flowRun) dryOutcome(it *item, o *Outcome) {
	switch {
	case it.mode == rejected:
		o.Rejected++
	case it.isDeleted():
		if it.link == nil {
			o.Unchanged++
		} else {
			o.Deleted++
		}
	case it.mode == skipped:
		o.Skipped++
	case it.isUnchanged():
		o.Unchanged++
	case it.tgt == nil:
		o.Created++
	case len(it.tWrite) > 0 || len(it.sWrite) > 0:
		o.Updated++
	case it.newPair():
		o.Linked++
	default:
		o.Unchanged++
	}
}

// keepRelink keeps the link of a record this flow does not write (left out
// by where, rejected) to the record the reverse flow created it for in a
// run that did not finish (see recover.go).
func (fr *flowRun) keepRelink(ch *state.Changes, it *item) {
	rev := fr.f.reverse
	if it.relink == "" || rev == nil {
		return
	}
	ch.PutLinks = append(ch.PutLinks, fr.makeLink(it.rec.Key, it.relink, nil, nil))
	ch.ClearIntents = append(ch.ClearIntents, state.Intent{Flow: rev.name, Key: it.relink})
	ch.ClearRejects = append(ch.ClearRejects, state.Intent{Flow: rev.name, Key: it.relink})
}

// clearReverse clears, for a pair just made, what the reverse flow may
// have left of a create for its target before a crash: the intent, and the
// rejected-unfinished-create reject it may have turned into.
func (fr *flowRun) clearReverse(ch *state.Changes, it *item, tk string) {
	rev := fr.f.reverse
	if rev == nil || !(it.newPair() || it.tOp == connector.Created) || !fr.needsIntentOf(rev) {
		return
	}
	ch.ClearIntents = append(ch.ClearIntents, state.Intent{Flow: rev.name, Key: tk})
	if it.found == byIntent {
		ch.ClearRejects = append(ch.ClearRejects, state.Intent{Flow: rev.name, Key: tk})
	}
}

// dryRun reports what write would do, writing nothing.
func (fr *flowRun) dryRun(w *batchWork) {
	src, dst := fr.f.src, fr.f.dst
	c := &w.counts
	base := Change{Sync: fr.rt.p.Name, Flow: fr.f.name}
	// The records of the write calls a run would make, for the estimate.
	var tRecs, sRecs []connector.Record
	var dKeys []string
	for _, it := range w.items {
		fr.dryOutcome(it, &c.Outcome)
		ch := base
		ch.Key = it.rec.Key
		switch {
		case it.mode == rejected:
			c.Rejected++
			w.rejects = append(w.rejects, it.rej)
			ch.Op, ch.Entity, ch.TargetKey, ch.Reason, ch.Range = OpReject, dst.label, it.rej.TargetKey, it.rej.Error(), it.rej.Range
			fr.r.change(ch)
		case it.isDeleted():
			if it.link == nil {
				continue
			}
			ch.Entity, ch.TargetKey = dst.label, it.link.Key(dst.st)
			if fr.f.deleter != nil {
				ch.Op = OpDelete
				c.Deleted++
				dKeys = append(dKeys, ch.TargetKey)
			} else {
				ch.Op = OpUnlink
				c.Unlinked++
			}
			fr.r.change(ch)
		case it.mode == skipped:
			c.Skipped++
		case it.isUnchanged():
			c.Unchanged++
		default:
			if it.dropLink {
				c.Unlinked++
				u := ch
				u.Op, u.Entity, u.TargetKey, u.Reason = OpUnlink, dst.label, it.link.Key(dst.st), "the linked record no longer exists"
				fr.r.change(u)
			}
			if it.tgt == nil {
				c.Created++
				tRecs = append(tRecs, connector.Record{Fields: it.tWrite})
				cr := ch
				cr.Op, cr.Entity, cr.Fields = OpCreate, dst.label, fieldChanges(nil, it.tWrite)
				fr.r.change(cr)
				if fr.rt.link != nil && dst.owner {
					sRecs = append(sRecs, connector.Record{Key: it.rec.Key, Fields: map[string]any{src.linkField: ""}})
					c.WrittenBack++
					wb := ch
					wb.Op, wb.Entity, wb.TargetKey = OpUpdate, src.label, it.rec.Key
					wb.Fields = []FieldChange{{Field: src.linkField, Before: it.rec.Fields[src.linkField], After: "(the new " + dst.p.Key + ")"}}
					fr.r.change(wb)
				}
				continue
			}
			if it.newPair() && (replacesLink(dst, it.tgt.Fields, it.tWrite) || replacesLink(src, it.rec.Fields, it.sWrite)) {
				c.ReplacedLinks++
			}
			if it.newPair() {
				c.Linked++
				if it.found == byMatch {
					c.LinkedByMatch++
				}
				l := ch
				l.Op, l.Entity, l.TargetKey, l.By = OpLink, dst.label, it.tgt.Key, it.by
				fr.r.change(l)
			}
			if len(it.tWrite) > 0 {
				c.Updated++
				tRecs = append(tRecs, connector.Record{Key: it.tgt.Key, Fields: it.tWrite})
				u := ch
				u.Op, u.Entity, u.TargetKey, u.Fields = OpUpdate, dst.label, it.tgt.Key, fieldChanges(it.tgt.Fields, it.tWrite)
				fr.r.change(u)
			}
			if len(it.sWrite) > 0 {
				c.WrittenBack++
				sRecs = append(sRecs, connector.Record{Key: it.rec.Key, Fields: it.sWrite})
				u := ch
				u.Op, u.Entity, u.TargetKey, u.Fields = OpUpdate, src.label, it.rec.Key, fieldChanges(it.rec.Fields, it.sWrite)
				fr.r.change(u)
			}
			c.Conflicts += len(it.conflicts)
			if len(it.tWrite) == 0 && len(it.sWrite) == 0 && !it.newPair() {
				c.Unchanged++
			} else {
				fr.r.plan(fr.rt.p.Name, src.st, it.rec.Key)
				fr.r.plan(fr.rt.p.Name, dst.st, it.tgt.Key)
			}
		}
	}
	estimate := func(sd *sideRT, n int) {
		c.WriteCalls++
		if c.EstimatedWrites == nil {
			c.EstimatedWrites = map[string]int{}
		}
		c.EstimatedWrites[sd.p.Connection] += n
	}
	if len(tRecs) > 0 {
		estimate(dst, estimateUpsert(dst.conn, connector.UpsertRequest{Entity: dst.p.Entity, Records: tRecs}))
	}
	if len(sRecs) > 0 {
		estimate(src, estimateUpsert(src.conn, connector.UpsertRequest{Entity: src.p.Entity, Records: sRecs}))
	}
	if len(dKeys) > 0 {
		n := 1
		if e, ok := dst.conn.(connector.Estimator); ok {
			n = e.EstimateDelete(connector.DeleteRequest{Entity: dst.p.Entity, Keys: dKeys})
		}
		estimate(dst, n)
	}
}

// estimateUpsert is the connector's estimate of the requests an Upsert
// would send, or one when it cannot tell.
func estimateUpsert(c connector.Connector, req connector.UpsertRequest) int {
	if e, ok := c.(connector.Estimator); ok {
		return e.EstimateUpsert(req)
	}
	return 1
}

func fieldChanges(before, after map[string]any) []FieldChange {
	out := make([]FieldChange, 0, len(after))
	for f, v := range after {
		out = append(out, FieldChange{Field: f, Before: before[f], After: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// replacesLink reports whether writing write into a record of side sd whose
// fields are before replaces a value of its link field (People's
// externalId) that is not blank: a value someone else wrote, which the
// pair made now overwrites.
func replacesLink(sd *sideRT, before, write map[string]any) bool {
	if sd.linkField == "" || sd.owner || before == nil {
		return false
	}
	nv, ok := write[sd.linkField]
	if !ok {
		return false
	}
	old, _ := before[sd.linkField].(string)
	return strings.TrimSpace(old) != "" && old != fmt.Sprint(nv)
}
