package engine

import (
	"context"
	"fmt"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/runtime/state"
)

// Creates a crash may leave behind.
//
// A create whose target assigns the link key (People -> Dynamics: the
// contact's id is written back into the person's externalId after the
// create) cannot be found again by the link field when the process dies
// between the create and the write-back. Nor by a match key, when the
// record has none (a person with a name only). Such creates are recorded
// first, as intents (state.Intent), with
//
//   - a fingerprint of the values the create writes (printOf), committed
//     before the create is sent, and
//   - the new record's key, committed as soon as the service answers,
//     before the write-back.
//
// The next run pairs the created record back instead of creating another:
//
//   - the opposite direction (crm.contact -> infobip.customer), which reads
//     the new contact as an unlinked change, looks its key and fingerprint up
//     among the open intents of the crashed direction and, on a hit, pairs
//     the contact with the intent's source record (recoverCreates) — and
//     writes the link, as for any new pair;
//   - the crashed direction pairs a record whose intent has a key with that
//     target (checkIntents).
//
// An intent that neither finds is one whose create provably never reached
// the service, when the opposite direction completed a pass in this run
// after the intent was recorded: that pass read every record created since,
// and none carried the fingerprint (one it left out by where or rejected
// keeps the link). It is cleared and the record created (checkIntents).
// Otherwise (no opposite direction, or a record carrying the fingerprint
// that could not be linked) the record is rejected as
// rejected-unfinished-create for the user to check.

// printOf fingerprints the values a create of flow f writes (or, read back,
// holds): the target fields of its maps, in order, missing ones as none.
// Never zero (zero means no fingerprint).
func printOf(f *flowRT, fields map[string]any) uint64 {
	h := uint64(fnvOffset)
	for _, m := range f.maps {
		h = mixString(h, m.target.Name)
		h = mixUint(h, hashValue(fields[m.target.Name]))
	}
	if h == 0 {
		h = 1
	}
	return h
}

// recovers reports whether this flow pairs back records the reverse flow
// created in a run that did not finish.
func (fr *flowRun) recovers() bool {
	return fr.f.reverse != nil && fr.needsIntentOf(fr.f.reverse)
}

// recoverCreates pairs the records of the batch that the reverse flow
// created in a run that did not finish (see above) with the source record
// of that create.
func (fr *flowRun) recoverCreates(ctx context.Context, items []*item) error {
	if !fr.recovers() {
		return nil
	}
	rev, dst := fr.f.reverse, fr.f.dst
	var cands []*item
	var targets []string
	var prints []uint64
	for _, it := range items {
		if it.rec.Key == "" || it.link != nil || it.tgt != nil {
			continue
		}
		if it.mode != pending && it.mode != skipped && it.mode != rejected {
			continue
		}
		it.print = printOf(rev, it.rec.Fields)
		cands = append(cands, it)
		targets = append(targets, it.rec.Key)
		prints = append(prints, it.print)
	}
	if len(cands) == 0 {
		return nil
	}
	open, err := fr.r.env.Store.IntentsFor(ctx, fr.rt.p.Name, rev.name, targets, prints)
	if err != nil || len(open) == 0 {
		return err
	}
	byTarget := map[string]state.Intent{}
	byPrint := map[uint64][]state.Intent{}
	for _, in := range open {
		if in.Target != "" {
			byTarget[in.Target] = in
		} else {
			// An intent without the new key: its create may or may not
			// have happened; the fingerprint finds it.
			byPrint[in.Print] = append(byPrint[in.Print], in)
		}
	}
	used := map[string]bool{}
	picked := map[*item]state.Intent{}
	for _, it := range cands {
		if in, ok := byTarget[it.rec.Key]; ok && !used[in.Key] {
			used[in.Key], picked[it] = true, in
		}
	}
	// Records with equal fingerprints are interchangeable: the i-th takes
	// the i-th intent.
	for _, it := range cands {
		if _, ok := picked[it]; ok {
			continue
		}
		for _, in := range byPrint[it.print] {
			if !used[in.Key] {
				used[in.Key], picked[it] = true, in
				break
			}
		}
	}
	q := &lookupReq{sd: dst, field: dst.p.Key}
	var leftOut []*item
	for _, it := range cands {
		in, ok := picked[it]
		switch {
		case !ok:
		case it.mode == skipped || it.mode == rejected:
			// Left out by where, or rejected before pairing: this direction
			// writes nothing for it, but the pair the reverse flow made
			// stands; only the link is kept (the reverse flow writes the
			// link key when it next visits).
			leftOut = append(leftOut, it)
			it.relink = in.Key
		default:
			q.add(it, in.Key)
		}
	}
	if len(leftOut) > 0 {
		// Only when the intent's record is not linked to another.
		keys := make([]string, len(leftOut))
		for i, it := range leftOut {
			keys[i] = it.relink
		}
		taken, err := fr.r.env.Store.Links(ctx, fr.rt.p.Name, dst.st, keys)
		if err != nil {
			return err
		}
		// Pairing does not look skipped records' links up.
		srcKeys := make([]string, len(leftOut))
		for i, it := range leftOut {
			srcKeys[i] = it.rec.Key
		}
		mine, err := fr.r.env.Store.Links(ctx, fr.rt.p.Name, fr.f.src.st, srcKeys)
		if err != nil {
			return err
		}
		for _, it := range leftOut {
			_, linked := mine[it.rec.Key]
			if _, ok := taken[it.relink]; ok || linked {
				// It cannot be linked here, so the reverse flow must not
				// conclude in this run that the create never happened.
				fr.r.markUnsure(fr.rt.p.Name, rev.name, it.relink)
				it.relink = ""
			}
		}
	}
	if err := fr.lookupAll(ctx, q); err != nil {
		return err
	}
	for i, it := range q.who {
		want := keyString(q.vals[i])
		for j := range q.res[i] {
			if t := q.res[i][j]; sameKey(t.Key, want, dst.keyField.Type) {
				it.tgt, it.found = &t, byIntent
				it.by = fmt.Sprintf("the create a run that did not finish made for %s %s", dst.label, t.Key)
				break
			}
		}
	}
	return nil
}

// intentTargets records the keys of the targets a batch just created, so a
// crash before the write-back leaves the next run the key to pair with.
func (fr *flowRun) intentTargets(w *batchWork) []state.Intent {
	var out []state.Intent
	for _, it := range w.items {
		if it.tOp == connector.Created && it.newKey != "" && (it.putIntent || it.hadIntent) {
			out = append(out, state.Intent{Flow: fr.f.name, Key: it.rec.Key, Target: it.newKey})
		}
	}
	return out
}

// covered reports whether the reverse flow's pass in this run proves that
// the create of intent in never reached the service (see above).
func (fr *flowRun) covered(in state.Intent) bool {
	rev := fr.f.reverse
	if rev == nil || !fr.needsIntentOf(fr.f) || !fr.r.flowDone(fr.rt.p.Name, rev.name) {
		return false
	}
	if !fr.dry && in.RunID >= fr.runID {
		return false
	}
	return !fr.r.isUnsure(fr.rt.p.Name, fr.f.name, in.Key)
}

// testHook, set by crash tests only, is called at the engine's commit
// points ("right-to-left/targets-recorded"); a test kills the process there.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}
