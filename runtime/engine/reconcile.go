package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

func (it *item) setT(field string, v any) {
	if it.tWrite == nil {
		it.tWrite = map[string]any{}
	}
	it.tWrite[field] = v
}

func (it *item) setS(field string, v any) {
	if it.sWrite == nil {
		it.sWrite = map[string]any{}
	}
	it.sWrite[field] = v
}

// evalMap computes a map's value over env and checks it against the target
// field; on failure it rejects the item and returns false. The value is
// returned in the form the target's service stores it (connector.Normalizer),
// so it compares equal to, and hashes as, what a read returns after the
// write.
func (fr *flowRun) evalMap(it *item, m *mapRT, env map[string]any) (any, bool) {
	v, err := fr.machine.Run(m.prog, env, m.target.Type)
	if err != nil {
		rng, kind, e := exprError(m.fm.Expr, err)
		if kind == RejectValue {
			rng = m.fm.Range
		}
		fr.rejectErr(it, kind, m.target.Name, rng, e)
		return nil, false
	}
	if err := check(m.target, v); err != nil {
		fr.rejectErr(it, RejectValue, m.target.Name, m.fm.Range, err)
		return nil, false
	}
	if m.normalize != nil {
		v = m.normalize(v)
	}
	return v, true
}

// reconcile plans the writes that bring a paired source and target in sync.
//
// A field map whose inputs did not change on the source since the last sync
// is left alone (echo suppression). A computed value equal to the target's
// is not written. When the sync is two-way and the target changed the
// opposite map's inputs too, both sides changed the field pair: if their
// values disagree, the sync's conflict policy picks the winner, whose value
// is written to the other side, and the decision is recorded. Maps of the
// reverse flow whose inputs changed on the target (and whose opposite did
// not change on the source) are applied to the source here as well, so a
// pair is whole after one visit, whichever side it was read from. A pair
// without history (just linked) counts every field as changed on both sides;
// where one side has no value the other's fills it, without a conflict.
func (fr *flowRun) reconcile(it *item) {
	f, src, dst := fr.f, fr.f.src, fr.f.dst
	s, t := it.rec, it.tgt
	if t.Fields == nil {
		t.Fields = map[string]any{}
	}
	var oldS, oldT state.Hashes
	if it.link != nil && !it.dropLink && !it.newPair() {
		oldS, oldT = it.link.Hashes(src.st), it.link.Hashes(dst.st)
	}
	// A pair without history: every field counts as changed on both sides,
	// and a value missing on one side is filled from the other without a
	// conflict.
	fresh := oldS == nil && oldT == nil
	// A record read again for `rejects retry` (it.force) is judged like any
	// other: against the hashes of the last sync, which a reject leaves as
	// they were. Counting every field as changed would make the retry
	// overwrite a fix made on the other side meanwhile with a value that
	// never changed (issue 9).
	chS := func(fields []string) bool {
		if oldS == nil {
			return true
		}
		for _, fl := range fields {
			if changed(oldS, fl, s.Fields[fl]) {
				return true
			}
		}
		return false
	}
	chT := func(fields []string) bool {
		if oldT == nil {
			return true
		}
		for _, fl := range fields {
			if changed(oldT, fl, t.Fields[fl]) {
				return true
			}
		}
		return false
	}
	fr.fill(&fr.envS, src, s)
	fr.fill(&fr.envT, dst, *t)
	revOK := false
	if f.reverse != nil {
		revOK = true
		if f.reverse.where != nil {
			v, err := fr.machine.Run(f.reverse.where, fr.envT, "")
			b, _ := v.(bool)
			revOK = err == nil && b
		}
	}
	var handled []*mapRT
	isHandled := func(m *mapRT) bool {
		for _, h := range handled {
			if h == m {
				return true
			}
		}
		return false
	}
	for _, m := range f.maps {
		if !chS(m.inputs) {
			continue
		}
		v, ok := fr.evalMap(it, m, fr.envS)
		if !ok {
			return
		}
		opp := m.opposite
		if opp != nil {
			handled = append(handled, opp)
		}
		if connector.Equal(v, t.Fields[m.target.Name]) {
			continue
		}
		if opp != nil && revOK && fr.agrees(opp, s) {
			// The target's value, mapped back, is the source's as its
			// service stores it (a Dynamics mobilephone "+385911234567",
			// People's phone "385911234567"): the pair is in sync, and
			// writing would only respell the target's value. Without
			// this, which side a pair is first visited from would decide
			// whether a contact loses the "+" of its number.
			continue
		}
		if opp != nil && revOK && chT(opp.inputs) {
			v2, ok := fr.evalMap(it, opp, fr.envT)
			if !ok {
				return
			}
			if !connector.Equal(v2, s.Fields[opp.target.Name]) {
				if fresh && blank(s.Fields[opp.target.Name]) {
					it.setS(opp.target.Name, v2) // the target fills a gap
					continue
				}
				if fresh && blank(t.Fields[m.target.Name]) {
					it.setT(m.target.Name, v) // the source fills a gap
					continue
				}
				winner := fr.decide(s, *t)
				it.conflicts = append(it.conflicts, fr.conflict(s, *t, m, opp, winner))
				if winner == dst.name {
					it.setS(opp.target.Name, v2)
					continue
				}
			}
		}
		it.setT(m.target.Name, v)
	}
	if revOK {
		for _, m2 := range f.reverse.maps {
			if isHandled(m2) || !chT(m2.inputs) {
				continue
			}
			if m2.opposite != nil && chS(m2.opposite.inputs) {
				// Both sides changed the pair and already agree.
				continue
			}
			v2, ok := fr.evalMap(it, m2, fr.envT)
			if !ok {
				return
			}
			if !connector.Equal(v2, s.Fields[m2.target.Name]) {
				it.setS(m2.target.Name, v2)
			}
		}
	}
	fr.planLinkField(it)
}

// agrees tells whether the opposite map opp, evaluated over the target
// (fr.envT), gives the source's current value of its field. An expression
// that fails here is no agreement (and no reject: the map is not being
// applied).
//
// It holds only for a pair of maps that each read nothing but the field
// the other writes (phone = mobilephone, mobilephone = phone). Where the
// forward map reads more (middleName = middlename + address1_city), the
// target's value mapped back can equal the one field the reverse map
// writes while another input changed: the change would be lost.
func (fr *flowRun) agrees(opp *mapRT, s connector.Record) bool {
	m := opp.opposite
	if len(opp.inputs) != 1 || m == nil || len(m.inputs) != 1 {
		return false
	}
	v, err := fr.machine.Run(opp.prog, fr.envT, opp.target.Type)
	if err != nil || check(opp.target, v) != nil {
		return false
	}
	if opp.normalize != nil {
		v = opp.normalize(v)
	}
	return connector.Equal(v, s.Fields[opp.target.Name])
}

// planLinkField makes the non-owner side's link field hold the owner's key.
func (fr *flowRun) planLinkField(it *item) {
	if fr.rt.link == nil {
		return
	}
	src, dst := fr.f.src, fr.f.dst
	s, t := it.rec, it.tgt
	if src.owner {
		if !sameKey(keyString(t.Fields[dst.linkField]), s.Key, src.keyField.Type) {
			it.setT(dst.linkField, linkValue(dst.byName[dst.linkField], s.Key))
		}
		return
	}
	if !sameKey(keyString(s.Fields[src.linkField]), t.Key, dst.keyField.Type) {
		it.setS(src.linkField, linkValue(src.byName[src.linkField], t.Key))
	}
}

// linkValue converts a key to the type of the link field holding it.
func linkValue(f *connector.Field, key string) any {
	if f == nil {
		return key
	}
	if v, err := connector.Canonical(f.Type, key); err == nil {
		return v
	}
	return key
}

// planCreate computes the fields of the target to create. When the source
// owns the link, the create carries it (People created with externalId =
// contactid); otherwise the new key is written back after the create.
func (fr *flowRun) planCreate(it *item) {
	src, dst := fr.f.src, fr.f.dst
	fr.fill(&fr.envS, src, it.rec)
	vals := make(map[string]any, len(fr.f.maps)+1)
	for _, m := range fr.f.maps {
		v, ok := fr.evalMap(it, m, fr.envS)
		if !ok {
			return
		}
		if v != nil {
			vals[m.target.Name] = v
		}
	}
	if fr.rt.link != nil && src.owner {
		vals[dst.linkField] = linkValue(dst.byName[dst.linkField], it.rec.Key)
	}
	for _, fl := range dst.fields {
		if !fl.Required || fl.ReadOnly || vals[fl.Name] != nil {
			continue
		}
		rng := fr.rt.p.Range
		for _, m := range fr.f.maps {
			if m.target == fl {
				rng = m.fm.Range
			}
		}
		fr.rejectErr(it, RejectValue, fl.Name, rng, fmt.Errorf("%s is required to create a %s, and this record gives it no value", fl.Name, dst.label))
		return
	}
	it.tWrite = vals
	it.putIntent = fr.needsIntent()
	if it.putIntent {
		it.print = printOf(fr.f, vals)
	}
}

// decide applies the conflict policy: a named side, or the side whose
// record was modified last (ties and unknown times go to the left side).
func (fr *flowRun) decide(s, t connector.Record) plan.SideName {
	switch fr.rt.policy {
	case plan.ConflictLeft:
		return plan.Left
	case plan.ConflictRight:
		return plan.Right
	}
	ms, mt := modTime(s, fr.f.src), modTime(t, fr.f.dst)
	switch {
	case ms.After(mt):
		return fr.f.src.name
	case mt.After(ms):
		return fr.f.dst.name
	}
	return plan.Left
}

func modTime(r connector.Record, sd *sideRT) time.Time {
	if !r.Modified.IsZero() {
		return r.Modified
	}
	if sd.p.Modified != "" {
		if tm, ok := r.Fields[sd.p.Modified].(time.Time); ok {
			return tm
		}
	}
	return time.Time{}
}

func (fr *flowRun) conflict(s, t connector.Record, m, opp *mapRT, winner plan.SideName) state.Conflict {
	sf, tf := opp.target.Name, m.target.Name
	sv, tv := jsonValue(s.Fields[sf]), jsonValue(t.Fields[tf])
	c := state.Conflict{Winner: state.Side(winner), Policy: string(fr.rt.policy), RunID: fr.runID}
	if fr.f.src.name == plan.Left {
		c.LeftKey, c.RightKey, c.LeftField, c.RightField, c.LeftValue, c.RightValue = s.Key, t.Key, sf, tf, sv, tv
	} else {
		c.LeftKey, c.RightKey, c.LeftField, c.RightField, c.LeftValue, c.RightValue = t.Key, s.Key, tf, sf, tv, sv
	}
	return c
}

func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return string(b)
}

// hashesOf fingerprints a side's tracked fields of a record as it is after
// the planned writes.
func hashesOf(sd *sideRT, base, over map[string]any) state.Hashes {
	h := make(state.Hashes, len(sd.tracked))
	for _, fl := range sd.tracked {
		v, ok := over[fl]
		if !ok {
			v = base[fl]
		}
		h[fl] = hashValue(v)
	}
	return h
}
