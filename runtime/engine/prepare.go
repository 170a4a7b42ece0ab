package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/runtime/state"
)

// mode is where an item stands: one value instead of a set of flags that
// could contradict each other (as go/types' operandMode is). It says what
// pairing and writing do with the item and how far its writes got. One mode
// replaces another in the order the write path weighs them: a reject over a
// deletion over a skip over unchanged.
type mode uint8

const (
	// pending: to be paired and written; its target part is not written
	// (yet, or the call failed as a whole).
	pending mode = iota
	// skipped: left out by the flow's where filter.
	skipped
	// unchanged: linked, and none of its inputs changed since the last sync.
	unchanged
	// echo: unchanged for a reason pairing does not revisit (in a dry run, a
	// record an earlier flow planned to write; in a retry pass, a copy of a
	// record already retried).
	echo
	// deleted: deleted at the source; its delete, if any, is not done.
	deleted
	// rejected: not synced; item.rej says why.
	rejected
	// targetWritten: a pending item whose target part is written (or had
	// nothing to write); the write-back to the source is not.
	targetWritten
	// written: both parts are written (or had nothing to write).
	written
	// deleteDone: a deleted item whose linked target is deleted (or was
	// already gone).
	deleteDone
)

// foundBy says how a pair made in this batch was found.
type foundBy uint8

const (
	// notFound: no new pair (linked in the state, or a target to create).
	notFound foundBy = iota
	byLinkField
	byMatch
	// byIntent: the record a create of a run that did not finish made
	// (see recover.go).
	byIntent
)

// item is one source record on its way through a flow.
type item struct {
	rec   connector.Record
	force bool

	mode mode
	rej  *RecordError // set with mode rejected

	matchVals []any
	matchErrs []error

	// link is the state's link of this source record, if any; dropLink is
	// set when its target no longer exists.
	link     *state.Link
	dropLink bool
	// orphan holds the hashes of an unlinked record whose pair was
	// forgotten when the other side's record was deleted (state.Orphan).
	orphan state.Hashes
	// tgt is the current target record (nil: create one). found is set when
	// the pair was found in this batch; by says how, in words.
	tgt   *connector.Record
	found foundBy
	by    string
	// hadIntent: an earlier run started a create for this record and did
	// not finish; putIntent: this batch records one before creating.
	hadIntent bool
	putIntent bool
	// print fingerprints the values of the create (see recover.go); in the
	// reverse flow, of the record as the reverse flow would have created
	// it.
	print uint64
	// relink: a record left out by where that the reverse flow created for
	// this target key in a run that did not finish; only the link is kept.
	relink string
	// refused: the service refused the create of this record alone (so it
	// provably did not happen).
	refused bool

	// Planned writes: tWrite to the target (a create when tgt is nil),
	// sWrite back to the source. conflicts are decided by the policy.
	tWrite    map[string]any
	sWrite    map[string]any
	conflicts []state.Conflict

	// Write results.
	newKey string
	tOp    connector.Effect
}

func (it *item) resetPairing() {
	it.link, it.dropLink = nil, false
	if it.mode == unchanged {
		it.mode = pending
	}
	it.tgt, it.found, it.by = nil, notFound, ""
	it.hadIntent, it.relink = false, ""
	if it.mode == rejected && it.rej.Kind == RejectAmbiguous {
		// Only pending items are rejected as ambiguous.
		it.mode, it.rej = pending, nil
	}
}

// active reports whether the item still takes part in pairing and writes.
func (it *item) active() bool { return it.mode == pending }

// newPair reports whether the item's pair was found in this batch.
func (it *item) newPair() bool { return it.found != notFound }

// isUnchanged reports whether the item is left alone as unchanged.
func (it *item) isUnchanged() bool { return it.mode == unchanged || it.mode == echo }

// isDeleted reports whether the item is a deletion (done or not).
func (it *item) isDeleted() bool { return it.mode == deleted || it.mode == deleteDone }

// fill points *env at rec's values for the side's expressions. Without
// custom attributes that is the record's own field map: expressions read
// fields by name (a missing one reads as nil either way), so copying them
// into an environment first (eval.Fill) only costs a map write per field
// per record, a third of a transform's time. With custom attributes the
// side's scratch map is filled, custom ones under "custom".
func (fr *flowRun) fill(env *map[string]any, sd *sideRT, rec connector.Record) {
	if !sd.custom && rec.Fields != nil {
		*env = rec.Fields
		return
	}
	scratch := fr.scratchS
	if env == &fr.envT {
		scratch = fr.scratchT
	}
	eval.Fill(scratch, rec, sd.fields)
	*env = scratch
}

func (fr *flowRun) rejectf(it *item, kind RejectKind, field string, rng diag.Range, format string, args ...any) {
	fr.rejectErr(it, kind, field, rng, fmt.Errorf(format, args...))
}

func (fr *flowRun) rejectErr(it *item, kind RejectKind, field string, rng diag.Range, err error) {
	if it.mode == rejected {
		return
	}
	it.mode = rejected
	it.rej = &RecordError{Sync: fr.rt.p.Name, Flow: fr.f.name, Key: it.rec.Key, Field: field, Range: rng, Kind: kind, Err: err}
	if it.tgt != nil {
		it.rej.TargetKey = it.tgt.Key
	}
}

// sourceRejects turns the records the source connector read but could not
// convert (connector.Batch.Rejects) into rejected items: each is counted
// as read and rejected, and stored as a reject of kind value, so `synclang
// rejects` lists it and `rejects retry` tries it again; the batch's cursor
// moves on past it like past any other record.
func (fr *flowRun) sourceRejects(w *batchWork, rejects []connector.RecordError, pos map[string]int) {
	w.counts.Read += len(rejects)
	for _, rj := range rejects {
		if _, dup := pos[rj.Key]; dup {
			continue
		}
		pos[rj.Key] = len(w.items)
		it := &item{rec: connector.Record{Key: rj.Key, Modified: rj.Modified}}
		w.items = append(w.items, it)
		fr.rejectErr(it, RejectValue, "", fr.rt.p.Range, fmt.Errorf("could not be read: %w", rj.Err))
	}
}

// prepare evaluates and pairs a batch: after it, every item is rejected,
// skipped, unchanged, deleted, or has its writes planned.
func (fr *flowRun) prepare(ctx context.Context, in incoming, seq int) (*batchWork, error) {
	src := fr.f.src
	w := &batchWork{seq: seq, next: in.b.Next, resync: in.b.Resync, changes: &state.Changes{Sync: fr.rt.p.Name, RunID: fr.runID}}
	if in.force {
		w.counts.Retried = len(in.b.Records)
	}
	if in.b.Resync {
		w.counts.Resync = len(in.b.Records)
	}
	for _, k := range in.gone {
		w.changes.ClearRejects = append(w.changes.ClearRejects, state.Intent{Flow: fr.f.name, Key: k})
	}

	// One item per key; when a read repeats a record, its last version wins.
	pos := make(map[string]int, len(in.b.Records))
	for _, rec := range in.b.Records {
		if i, dup := pos[rec.Key]; dup {
			w.items[i].rec = rec
			continue
		}
		pos[rec.Key] = len(w.items)
		it := &item{rec: rec, force: in.force}
		if rec.Deleted {
			it.mode = deleted
		}
		w.items = append(w.items, it)
	}
	// A pass with `rejects retry` reads the rejected records by key first,
	// then reads the source as usual, which may return the same records
	// again. A copy no newer than the retried one is the same version, or
	// one read before the retry's writes reached the source: pairing it
	// against the state the retry committed would see a stale value as a
	// change and write it back. It was processed; leave it.
	for _, it := range w.items {
		if in.force {
			if fr.retried == nil {
				fr.retried = map[string]time.Time{}
			}
			fr.retried[it.rec.Key] = it.rec.Modified
			continue
		}
		if at, ok := fr.retried[it.rec.Key]; ok && !it.rec.Modified.IsZero() && !it.rec.Modified.After(at) {
			it.mode = echo
		}
	}
	w.counts.Read = len(w.items)
	fr.sourceRejects(w, in.b.Rejects, pos)
	if fr.dry {
		for _, it := range w.items {
			if fr.r.isPlanned(fr.rt.p.Name, src.st, it.rec.Key) && it.mode != rejected {
				it.mode = echo
			}
		}
	}

	var claims []string
	si := idx(src.name)
	for _, it := range w.items {
		claims = append(claims, "s:"+it.rec.Key)
		if it.rec.Key == "" {
			fr.rejectf(it, RejectService, "", fr.rt.p.Range, "the %s connector returned a record without a key; it cannot be synced", src.p.Kind)
			continue
		}
		if it.mode != pending {
			continue // rejected, deleted or an echo
		}
		if it.rec.Fields == nil {
			it.rec.Fields = map[string]any{}
		}
		fr.fill(&fr.envS, src, it.rec)
		if fr.f.where != nil {
			x := fr.f.p.Where
			v, err := fr.machine.Run(fr.f.where, fr.envS, "")
			if err != nil {
				rng, _, e := exprError(x, err)
				fr.rejectErr(it, RejectExpression, "", rng, fmt.Errorf("where %s: %w", x.Source, e))
				continue
			}
			ok, isBool := v.(bool)
			if !isBool && v != nil {
				fr.rejectf(it, RejectExpression, "", x.Range, "where %s gave %s, not true or false", x.Source, describe(v))
				continue
			}
			if !ok {
				it.mode = skipped
				continue
			}
		}
		if fr.recovers() {
			// Batches in flight holding records with the same fingerprint
			// would pair them with the same intent.
			claims = append(claims, "p:"+strconv.FormatUint(printOf(fr.f.reverse, it.rec.Fields), 16))
		}
		if n := len(fr.rt.matches); n > 0 {
			it.matchVals = make([]any, n)
			it.matchErrs = make([]error, n)
			for i, mk := range fr.rt.matches {
				v, err := fr.machine.Run(mk.prog[si], fr.envS, "")
				if err != nil {
					it.matchErrs[i] = err
					continue
				}
				if !blank(v) {
					it.matchVals[i] = v
					claims = append(claims, matchClaim(i, v))
				}
			}
		}
	}
	// Wait for batches in flight that touch the same source records or
	// match values, so pairing sees their creates and links.
	if err := fr.waitClear(ctx, claims, false, nil); err != nil {
		return nil, err
	}
	for {
		if err := fr.pair(ctx, w.items); err != nil {
			return nil, err
		}
		var tclaims []string
		for _, it := range w.items {
			if it.tgt != nil {
				tclaims = append(tclaims, "t:"+it.tgt.Key)
			}
		}
		if !fr.conflicting(tclaims) {
			claims = append(claims, tclaims...)
			break
		}
		// A batch in flight writes one of the targets found: wait for it and
		// pair again, against its committed result.
		if err := fr.waitClear(ctx, tclaims, false, nil); err != nil {
			return nil, err
		}
	}
	w.claims = claims

	for _, it := range w.items {
		if !it.active() {
			continue
		}
		if it.tgt != nil {
			fr.reconcile(it)
		} else {
			fr.planCreate(it)
		}
	}
	return w, nil
}

func matchClaim(i int, v any) string {
	return "m" + strconv.Itoa(i) + ":" + strings.ToLower(keyString(v))
}

// blank reports whether a match or link value is empty.
func blank(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

// keyString renders a key or link value as the string Record.Key uses.
func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10)
		}
	}
	return fmt.Sprint(v)
}

// sameKey compares two key values: GUIDs (type id) without regard to case.
func sameKey(a, b string, t connector.Type) bool {
	if t == connector.ID {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// lookup calls the connector's Lookup with values de-duplicated, and
// returns the records found for each requested value, in order.
func (fr *flowRun) lookup(ctx context.Context, sd *sideRT, field string, values []any) ([][]connector.Record, error) {
	if len(values) == 0 {
		return nil, nil
	}
	uniq := make([]any, 0, len(values))
	at := make(map[string]int, len(values))
	where := make([]int, len(values))
	for i, v := range values {
		k := strings.ToLower(keyString(v))
		j, ok := at[k]
		if !ok {
			j = len(uniq)
			at[k] = j
			uniq = append(uniq, v)
		}
		where[i] = j
	}
	res, err := sd.conn.Lookup(ctx, connector.LookupRequest{Entity: sd.p.Entity, Field: field, Values: uniq, Fields: sd.names})
	if err != nil {
		return nil, fmt.Errorf("looking up %s by %s: %w", sd.label, field, err)
	}
	if len(res.Records) != len(uniq) {
		return nil, fmt.Errorf("looking up %s by %s: the connector answered %d results for %d values", sd.label, field, len(res.Records), len(uniq))
	}
	out := make([][]connector.Record, len(values))
	for i := range values {
		out[i] = res.Records[where[i]]
	}
	return out, nil
}

// pair finds each record's target: the state's link, then the link field,
// then the match keys; records left without one are created.
func (fr *flowRun) pair(ctx context.Context, items []*item) error {
	src, dst := fr.f.src, fr.f.dst
	sync := fr.rt.p.Name
	var keys []string
	for _, it := range items {
		it.resetPairing()
		if it.rec.Key != "" && it.mode != skipped && it.mode != rejected {
			keys = append(keys, it.rec.Key)
		}
	}
	links, err := fr.r.env.Store.Links(ctx, sync, src.st, keys)
	if err != nil {
		return err
	}
	if err := fr.checkOrphans(ctx, items, links); err != nil {
		return err
	}
	var linked []*item
	for _, it := range items {
		l, ok := links[it.rec.Key]
		if !ok || (it.mode != pending && it.mode != deleted) {
			continue
		}
		it.link = &l
		if it.mode == deleted {
			continue
		}
		if fr.needsWork(it) {
			linked = append(linked, it)
		} else {
			it.mode = unchanged
		}
	}
	unpaired := func(among []*item) []*item {
		var out []*item
		for _, it := range among {
			if it.active() && it.tgt == nil {
				out = append(out, it)
			}
		}
		return out
	}
	// First round, concurrently: the targets of linked records by key, and
	// for the records without a link the link field and the first match
	// key. A linked record is looked up by link field and match only if its
	// target turns out to be gone (below): on a rate-limited service those
	// lookups would cost requests for every changed record of an
	// incremental pass, to find targets already known.
	keyQ := &lookupReq{sd: dst, field: dst.p.Key}
	for _, it := range linked {
		keyQ.add(it, it.link.Key(dst.st))
	}
	var fresh []*item
	for _, it := range unpaired(items) {
		if it.link == nil {
			fresh = append(fresh, it)
		}
	}
	lfQ, m0Q := fr.linkFieldReq(fresh), fr.matchReq(0, fresh)
	if err := fr.lookupAll(ctx, keyQ, lfQ, m0Q); err != nil {
		return err
	}
	var stale []*item
	for i, it := range keyQ.who {
		want := it.link.Key(dst.st)
		for j := range keyQ.res[i] {
			if sameKey(keyQ.res[i][j].Key, want, dst.keyField.Type) {
				t := keyQ.res[i][j]
				it.tgt = &t
				break
			}
		}
		if it.tgt == nil {
			// The target is gone (deleted, or no longer of this entity):
			// forget the link and pair the record afresh.
			it.dropLink = true
			stale = append(stale, it)
			continue
		}
		if !fr.checkForeign(it) {
			fr.checkTakenOver(it)
		}
	}
	fr.applyLinkField(lfQ)
	fr.applyMatch(0, m0Q)
	if len(stale) > 0 {
		// Records whose target vanished: the same steps, in order.
		q := fr.linkFieldReq(unpaired(stale))
		if err := fr.lookupAll(ctx, q); err != nil {
			return err
		}
		fr.applyLinkField(q)
		q = fr.matchReq(0, unpaired(stale))
		if err := fr.lookupAll(ctx, q); err != nil {
			return err
		}
		fr.applyMatch(0, q)
	}
	for i := 1; i < len(fr.rt.matches); i++ {
		q := fr.matchReq(i, unpaired(items))
		if err := fr.lookupAll(ctx, q); err != nil {
			return err
		}
		fr.applyMatch(i, q)
	}
	if err := fr.recoverCreates(ctx, items); err != nil {
		return err
	}
	if err := fr.checkIntents(ctx, items); err != nil {
		return err
	}
	return fr.validatePairs(ctx, items)
}

// checkTakenOver rejects a linked pair whose non-owner link field now
// names another record: another record (or another sync, as the contact a
// lead was qualified into) took the target over. Writing the link back would
// start a tug of war, so the pair is left alone and reported.
func (fr *flowRun) checkTakenOver(it *item) {
	if fr.rt.link == nil {
		return
	}
	src, dst := fr.f.src, fr.f.dst
	owner := fr.rt.sides[idx(fr.rt.link.Owner)]
	var holder *sideRT
	var have, want string
	if src.owner {
		holder, have, want = dst, keyString(it.tgt.Fields[dst.linkField]), it.rec.Key
	} else {
		holder, have, want = src, keyString(it.rec.Fields[src.linkField]), it.tgt.Key
	}
	if strings.TrimSpace(have) == "" || sameKey(have, want, owner.keyField.Type) {
		return
	}
	fr.rejectf(it, RejectAmbiguous, "", fr.rt.link.Range, "%s %s is linked to %s %s, but its %s now holds %s: another record took it over, and synclang does not take it back%s",
		holder.label, keyOf(holder == src, it), other(holder, src, dst).label, keyOf(holder != src, it), holder.linkField, have, fr.whereHint())
}

// whereHint ends the reason of a pair another record or sync took over:
// without a where filter, it suggests one.
func (fr *flowRun) whereHint() string {
	if fr.f.where != nil {
		return ""
	}
	return "; if this record should no longer sync (a qualified lead), leave it out with a where filter"
}

// checkForeign rejects a record whose target the lookup marked foreign
// (connector.Record.Foreign: a People customer found for a lead) and
// reports whether it did. Neither an update nor a second record is made:
// the target belongs to what it is, and the user decides.
func (fr *flowRun) checkForeign(it *item) bool {
	why := it.tgt.Foreign
	if why == "" {
		return false
	}
	dst := fr.f.dst
	if it.newPair() {
		fr.rejectf(it, RejectForeign, "", fr.pairRange(it), "found %s %s by %s, but it is %s; the record is not synced (it is tried again when it changes)",
			dst.label, it.tgt.Key, it.by, why)
		return true
	}
	fr.rejectf(it, RejectForeign, "", fr.rt.p.Range, "%s %s is linked to %s %s, which is now %s; the record is not synced%s",
		fr.f.src.label, it.rec.Key, dst.label, it.tgt.Key, why, fr.whereHint())
	return true
}

func keyOf(source bool, it *item) string {
	if source {
		return it.rec.Key
	}
	return it.tgt.Key
}

func other(s, a, b *sideRT) *sideRT {
	if s == a {
		return b
	}
	return a
}

// changed reports whether v differs from the value hashed in old.
func changed(old state.Hashes, field string, v any) bool {
	h, ok := old[field]
	return !ok || h != hashValue(v)
}

// checkOrphans finds, in a two-way sync, the unlinked records of the batch
// that are orphans (state.Orphan): one none of whose inputs changed since
// its pair was forgotten is left alone (unchanged), as a linked record
// would be; it is the echo of an earlier write, not a new record.
func (fr *flowRun) checkOrphans(ctx context.Context, items []*item, links map[string]state.Link) error {
	if fr.f.reverse == nil {
		return nil
	}
	var keys []string
	for _, it := range items {
		if _, linked := links[it.rec.Key]; !linked && it.rec.Key != "" && (it.mode == pending || it.mode == deleted) {
			keys = append(keys, it.rec.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	orphans, err := fr.r.env.Store.Orphans(ctx, fr.rt.p.Name, fr.f.src.st, keys)
	if err != nil || len(orphans) == 0 {
		return err
	}
	for _, it := range items {
		h, ok := orphans[it.rec.Key]
		if _, linked := links[it.rec.Key]; !ok || linked {
			continue
		}
		it.orphan = h
		if it.mode == pending && !it.force && !fr.changedSince(h, it) {
			it.mode = unchanged
		}
	}
	return nil
}

// needsWork reports whether a linked source record changed since the last
// sync in a field the flow reads (or in its link field).
func (fr *flowRun) needsWork(it *item) bool {
	return it.force || fr.changedSince(it.link.Hashes(fr.f.src.st), it)
}

// changedSince reports whether a source record's inputs (or its link field)
// differ from the hashes old; nil hashes are unknown, so changed.
func (fr *flowRun) changedSince(old state.Hashes, it *item) bool {
	if old == nil {
		return true
	}
	for _, in := range fr.inputs {
		if changed(old, in, it.rec.Fields[in]) {
			return true
		}
	}
	src := fr.f.src
	return src.linkField != "" && !src.owner && changed(old, src.linkField, it.rec.Fields[src.linkField])
}

// lookupReq is one batched Lookup: a value per record in who.
type lookupReq struct {
	sd    *sideRT
	field string
	vals  []any
	who   []*item
	res   [][]connector.Record
}

func (q *lookupReq) add(it *item, v any) {
	q.vals = append(q.vals, v)
	q.who = append(q.who, it)
}

// lookupAll sends the lookups concurrently; they only read.
func (fr *flowRun) lookupAll(ctx context.Context, reqs ...*lookupReq) error {
	var wg sync.WaitGroup
	errs := make([]error, len(reqs))
	for i, q := range reqs {
		if q == nil || len(q.vals) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.res, errs[i] = fr.lookup(ctx, q.sd, q.field, q.vals)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// linkFieldReq looks the records up by the link: the source's key in the
// target's link field, or the source's link field as the target's key.
func (fr *flowRun) linkFieldReq(items []*item) *lookupReq {
	if fr.rt.link == nil {
		return nil
	}
	src, dst := fr.f.src, fr.f.dst
	q := &lookupReq{sd: dst, field: dst.p.Key}
	if src.owner {
		q.field = dst.linkField
	}
	for _, it := range items {
		v := it.rec.Key
		if !src.owner {
			v = keyString(it.rec.Fields[src.linkField])
		}
		if strings.TrimSpace(v) != "" {
			q.add(it, v)
		}
	}
	return q
}

func (fr *flowRun) applyLinkField(q *lookupReq) {
	if q == nil || q.res == nil {
		return
	}
	src, dst := fr.f.src, fr.f.dst
	ownerType := fr.rt.sides[idx(fr.rt.link.Owner)].keyField.Type
	for i, it := range q.who {
		if !it.active() || it.tgt != nil {
			continue
		}
		var cands []connector.Record
		for _, t := range q.res[i] {
			have := t.Key
			if src.owner {
				have = keyString(t.Fields[dst.linkField])
			}
			if sameKey(have, keyString(q.vals[i]), ownerType) {
				cands = append(cands, t)
			}
		}
		switch len(cands) {
		case 0:
		case 1:
			it.tgt, it.found, it.by = &cands[0], byLinkField, "link field "+q.field
		default:
			fr.rejectf(it, RejectAmbiguous, "", fr.rt.link.Range, "%d %s records have %s = %s (%s); synclang links one record to one: remove the value from all but one",
				len(cands), dst.label, q.field, q.vals[i], keyList(cands))
		}
	}
}

// matchReq looks the records up by match key i (records whose match
// expression failed are rejected by applyMatch if nothing else pairs them).
func (fr *flowRun) matchReq(i int, items []*item) *lookupReq {
	if i >= len(fr.rt.matches) {
		return nil
	}
	mk := fr.rt.matches[i]
	q := &lookupReq{sd: fr.f.dst, field: mk.field[idx(fr.f.dst.name)]}
	for _, it := range items {
		if it.matchErrs[i] == nil && it.matchVals[i] != nil {
			q.add(it, it.matchVals[i])
		}
	}
	// Keep the failed ones in who (with no value) so applyMatch sees them.
	for _, it := range items {
		if it.matchErrs[i] != nil {
			q.who = append(q.who, it)
		}
	}
	return q
}

func (fr *flowRun) applyMatch(i int, q *lookupReq) {
	if q == nil {
		return
	}
	dst := fr.f.dst
	mk := fr.rt.matches[i]
	di := idx(dst.name)
	for j, it := range q.who {
		if !it.active() || it.tgt != nil {
			continue
		}
		if err := it.matchErrs[i]; err != nil {
			x := mk.p.Expr(fr.f.src.name)
			rng, kind, e := exprError(x, err)
			fr.rejectErr(it, kind, "", rng, fmt.Errorf("match %s: %w", x.Source, e))
			continue
		}
		var cands []connector.Record
		for _, t := range q.res[j] {
			if t.Fields == nil {
				t.Fields = map[string]any{}
			}
			fr.fill(&fr.envT, dst, t)
			tv, err := fr.machine.Run(mk.prog[di], fr.envT, "")
			if err == nil && !blank(tv) && connector.Equal(tv, q.vals[j]) {
				cands = append(cands, t)
			}
		}
		switch len(cands) {
		case 0:
		case 1:
			it.tgt, it.found, it.by = &cands[0], byMatch, "match "+mk.desc
		default:
			fr.rejectf(it, RejectAmbiguous, "", mk.p.Range, "match %s: %s matches %d %s records (%s); synclang does not guess: link the record by hand or make the match key stricter",
				mk.desc, describe(q.vals[j]), len(cands), dst.label, keyList(cands))
		}
	}
}

func keyList(recs []connector.Record) string {
	keys := make([]string, 0, len(recs))
	for i, r := range recs {
		if i == 5 {
			keys = append(keys, fmt.Sprintf("and %d more", len(recs)-5))
			break
		}
		keys = append(keys, r.Key)
	}
	return strings.Join(keys, ", ")
}

// validatePairs rejects new pairs whose target belongs to another source
// record: linked to it in the state, claimed through the link field, or
// found for two records of the batch.
func (fr *flowRun) validatePairs(ctx context.Context, items []*item) error {
	src, dst := fr.f.src, fr.f.dst
	var news []*item
	var tkeys []string
	for _, it := range items {
		if it.newPair() && it.mode != rejected {
			news = append(news, it)
			tkeys = append(tkeys, it.tgt.Key)
		}
	}
	if len(news) == 0 {
		return nil
	}
	taken, err := fr.r.env.Store.Links(ctx, fr.rt.p.Name, dst.st, tkeys)
	if err != nil {
		return err
	}
	for _, it := range news {
		if fr.checkForeign(it) {
			continue
		}
		if l, ok := taken[it.tgt.Key]; ok && l.Key(src.st) != it.rec.Key {
			fr.rejectf(it, RejectAmbiguous, "", fr.pairRange(it), "found %s %s by %s, but it is already linked to %s %s; synclang links one record to one",
				dst.label, it.tgt.Key, it.by, src.label, l.Key(src.st))
		}
	}
	if l := fr.rt.link; l != nil {
		if err := fr.checkLinkClaims(ctx, news); err != nil {
			return err
		}
	}
	byTarget := map[string][]*item{}
	for _, it := range news {
		if it.mode != rejected {
			byTarget[it.tgt.Key] = append(byTarget[it.tgt.Key], it)
		}
	}
	for tk, its := range byTarget {
		if len(its) < 2 {
			continue
		}
		var others []string
		for _, it := range its {
			others = append(others, it.rec.Key)
		}
		for _, it := range its {
			fr.rejectf(it, RejectAmbiguous, "", fr.pairRange(it), "%d %s records (%s) pair with %s %s; synclang does not guess which one it belongs to: make them differ or link one by hand",
				len(its), src.label, strings.Join(others, ", "), dst.label, tk)
		}
	}
	return nil
}

func (fr *flowRun) pairRange(it *item) diag.Range {
	if it.found == byMatch {
		for _, mk := range fr.rt.matches {
			if it.by == "match "+mk.desc {
				return mk.p.Range
			}
		}
	}
	if fr.rt.link != nil {
		return fr.rt.link.Range
	}
	return fr.rt.p.Range
}

// checkLinkClaims rejects new pairs whose target the link field ties to
// another existing source record.
func (fr *flowRun) checkLinkClaims(ctx context.Context, news []*item) error {
	src, dst := fr.f.src, fr.f.dst
	if src.owner {
		// The target's link field names its source: free when empty, when
		// it names this record, or when the record it names does not exist
		// (a stale value, e.g. the id of a lead since qualified).
		var vals []any
		var who []*item
		for _, it := range news {
			if it.mode == rejected || it.found != byMatch {
				continue
			}
			v := keyString(it.tgt.Fields[dst.linkField])
			if v == "" || sameKey(v, it.rec.Key, src.keyField.Type) {
				continue
			}
			vals = append(vals, v)
			who = append(who, it)
		}
		found, err := fr.lookup(ctx, src, src.p.Key, vals)
		if err != nil {
			return err
		}
		for i, it := range who {
			if len(found[i]) > 0 {
				fr.rejectf(it, RejectAmbiguous, "", fr.pairRange(it), "found %s %s by %s, but its %s links it to %s %s; synclang links one record to one",
					dst.label, it.tgt.Key, it.by, dst.linkField, src.label, vals[i])
			}
		}
		return nil
	}
	// The target owns the link: a source record whose link field holds the
	// target's key claims it.
	var vals []any
	var who []*item
	for _, it := range news {
		if it.mode != rejected {
			vals = append(vals, it.tgt.Key)
			who = append(who, it)
		}
	}
	found, err := fr.lookup(ctx, src, src.linkField, vals)
	if err != nil {
		return err
	}
	for i, it := range who {
		for _, other := range found[i] {
			if other.Key != it.rec.Key && sameKey(keyString(other.Fields[src.linkField]), it.tgt.Key, dst.keyField.Type) {
				fr.rejectf(it, RejectAmbiguous, "", fr.pairRange(it), "found %s %s by %s, but %s %s links to it by %s; synclang links one record to one",
					dst.label, it.tgt.Key, it.by, src.label, other.Key, src.linkField)
				break
			}
		}
	}
	return nil
}

// needsIntent reports whether a create in this flow could not be found
// again by the link field after a crash (the target assigns the link key,
// or there is no link): such creates are recorded before they are sent, and
// a record whose create did not finish is created again only when a match
// key would have found the first (matchWouldFind).
func (fr *flowRun) needsIntent() bool { return fr.needsIntentOf(fr.f) }

func (fr *flowRun) needsIntentOf(f *flowRT) bool {
	return fr.rt.link == nil || f.dst.owner
}

// matchWouldFind reports whether a create for it, had it happened, would
// have been found by a match key: the record has a value for a key whose
// target field the create writes. Then an unfinished create that the match
// keys did not find never happened, and creating is safe.
func (fr *flowRun) matchWouldFind(it *item) bool {
	di := idx(fr.f.dst.name)
	for i, mk := range fr.rt.matches {
		if it.matchVals == nil || it.matchVals[i] == nil {
			continue
		}
		for _, m := range fr.f.maps {
			if m.target.Name == mk.field[di] {
				return true
			}
		}
	}
	return false
}

// checkIntents finds the records with an unfinished create (cleared once
// they sync; see recover.go): one whose create was answered is paired with
// the record created; one whose create provably never reached the service
// is created; the others still to be created are rejected, unless the user
// asked to retry them.
func (fr *flowRun) checkIntents(ctx context.Context, items []*item) error {
	if !fr.needsIntent() {
		return nil
	}
	var keys []string
	for _, it := range items {
		if it.active() {
			keys = append(keys, it.rec.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	open, err := fr.r.env.Store.Intents(ctx, fr.rt.p.Name, fr.f.name, keys)
	if err != nil {
		return err
	}
	dst := fr.f.dst
	q := &lookupReq{sd: dst, field: dst.p.Key}
	var unfinished []*item
	for _, it := range items {
		in, ok := open[it.rec.Key]
		if !it.active() || !ok {
			continue
		}
		it.hadIntent = true
		switch {
		case it.tgt != nil || it.force || fr.matchWouldFind(it):
		case in.Target != "":
			q.add(it, in.Target)
		case fr.covered(in):
			// Never created: create it, under a new intent.
			it.hadIntent = false
		default:
			unfinished = append(unfinished, it)
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
				it.by = "the create a run that did not finish made"
				break
			}
		}
		if it.tgt == nil {
			unfinished = append(unfinished, it)
		}
	}
	for _, it := range unfinished {
		hint := "link it by hand if it was"
		if fr.rt.link != nil {
			hint = fmt.Sprintf("if it was, set this record's %s to its %s", fr.f.src.linkField, fr.f.dst.p.Key)
		}
		fr.rejectf(it, RejectUnfinished, "", fr.rt.p.Range, "a run that did not finish was creating a %s for this record, and no %s was found for it: "+
			"look for it in %s (%s), then run `synclang rejects retry` to create it (again)", fr.f.dst.label, fr.f.dst.label, fr.f.dst.label, hint)
	}
	return nil
}
