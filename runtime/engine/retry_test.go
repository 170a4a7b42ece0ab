package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// TestRetryKeepsTheOtherSidesFix is issue 9 item 2: a pair whose People
// lastName became too long for Dynamics while the contact's jobtitle
// changed is rejected; the user fixes lastName in People; `rejects retry`
// must write the fix to Dynamics, not the old Dynamics lastname over it.
func TestRetryKeepsTheOtherSidesFix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	upsert(t, h.crm, "contact", contact("Ana", "Horvat", "ana@example.com"))
	h.run()
	h.run()
	c := h.crm.Records("contact")[0]
	p := h.ppl.Records("customer")[0]
	h.clk.Advance(1e9)
	upsert(t, h.ppl, "customer", connector.Record{Key: p.Key, Fields: F{"lastName": strings.Repeat("x", 67)}})
	upsert(t, h.crm, "contact", connector.Record{Key: c.Key, Fields: F{"jobtitle": "CTO"}})
	if rep := h.run(); rep.Rejected() == 0 {
		t.Fatalf("the 67-character lastName was not rejected: %+v", rep.Syncs[0].Flows)
	}
	h.clk.Advance(1e9)
	upsert(t, h.ppl, "customer", connector.Record{Key: p.Key, Fields: F{"lastName": "Horvat-Kos"}})
	rep := h.run(retry)
	for _, f := range rep.Syncs[0].Flows {
		if f.Conflicts != 0 {
			t.Errorf("%s: %d conflicts; only People changed lastName", f.Flow, f.Conflicts)
		}
	}
	if got := byKey(h.ppl.Records("customer"))[p.Key].Fields["lastName"]; got != "Horvat-Kos" {
		t.Errorf("People lastName = %v: the fix was undone", got)
	}
	if got := byKey(h.crm.Records("contact"))[c.Key].Fields["lastname"]; got != "Horvat-Kos" {
		t.Errorf("Dynamics lastname = %v, want the People fix", got)
	}
	if got := byKey(h.ppl.Records("customer"))[p.Key].Fields["custom.JobTitle"]; got != "CTO" {
		t.Errorf("People JobTitle = %v, want CTO", got)
	}
}

// watchConn records every update the engine sends to a service.
type watchConn struct {
	*memory.Conn
	mu     sync.Mutex
	writes []connector.Record
}

func (w *watchConn) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	w.mu.Lock()
	for _, r := range req.Records {
		w.writes = append(w.writes, connector.Record{Key: r.Key, Fields: r.Fields})
	}
	w.mu.Unlock()
	return w.Conn.Upsert(ctx, req)
}

func (w *watchConn) take() []connector.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

// TestPropertyNoWriteUndoesAChange runs random sequences of edits on both
// sides (some of them values one service refuses), runs, fixes and
// `rejects retry` passes, and checks every value the engine writes to a
// two-way field: it must be the current value of the other side, and that
// side must have changed the field since the pair last synced (without a
// reject) in agreement. A write of any other value undoes someone's change.
func TestPropertyNoWriteUndoesAChange(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{{"firstname", "firstName"}, {"lastname", "lastName"}, {"address1_city", "city"}}
	// Dynamics allows 50 characters in lastname, People 255: a long People
	// lastName is rejected until someone fixes it.
	long := strings.Repeat("L", 60)
	pool := []string{"Ana", "Bo", "Cy", "Dee"}
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 9))
			policies := []plan.Conflict{plan.ConflictNewest, plan.ConflictLeft, plan.ConflictRight}
			h := newHarness(t, spec{conflict: policies[seed%3]})
			upsert(t, h.crm, "contact", contact("Ana", "Horvat", "a@example.com"), contact("Bo", "Novak", "b@example.com"))
			h.run()
			h.run()
			crm, ppl := &watchConn{Conn: h.crm}, &watchConn{Conn: h.ppl}
			h.conns = map[string]connector.Connector{"crm": crm, "infobip": ppl}
			// The pairs: contact key -> customer key.
			pair := map[string]string{}
			for _, p := range h.ppl.Records("customer") {
				pair[fmt.Sprint(p.Fields["externalId"])] = p.Key
			}
			// dirty[side][record key][field]: the side changed the field
			// since the pair last agreed on it.
			dirty := [2]map[string]bool{{}, {}}
			dk := func(key, field string) string { return key + "/" + field }
			value := func(c *memory.Conn, ent, key, field string) any {
				return byKey(c.Records(ent))[key].Fields[field]
			}
			check := func(step int) {
				all := [][]connector.Record{crm.take(), ppl.take()}
				for side, ws := range all {
					for _, wr := range ws {
						for i, fp := range pairs {
							v, ok := wr.Fields[fp[side]]
							if !ok || wr.Key == "" {
								continue
							}
							var otherKey string
							var other any
							if side == 0 {
								for c, p := range pair {
									if c == wr.Key {
										otherKey = p
									}
								}
								other = value(h.ppl, "customer", otherKey, pairs[i][1])
							} else {
								for c, p := range pair {
									if p == wr.Key {
										otherKey = c
									}
								}
								other = value(h.crm, "contact", otherKey, pairs[i][0])
							}
							if !connector.Equal(v, other) || !dirty[1-side][dk(otherKey, fp[1-side])] {
								t.Fatalf("step %d: wrote %s %s %s = %v, but the other side (%s) holds %v (changed since the last agreement: %v)",
									step, []string{"crm", "people"}[side], wr.Key, fp[side], v, otherKey, other, dirty[1-side][dk(otherKey, fp[1-side])])
							}
						}
					}
				}
				// A pair synced without a reject agrees on its equal fields,
				// which clears their marks. (A rejected pair keeps its last
				// sync's state: the engine cannot know it agreed meanwhile.)
				rejected := map[string]bool{}
				rjs, err := h.store.Rejects(context.Background(), state.RejectQuery{})
				if err != nil {
					t.Fatal(err)
				}
				for _, rj := range rjs {
					rejected[rj.Key] = true
				}
				for c, p := range pair {
					if rejected[c] || rejected[p] {
						continue
					}
					for _, fp := range pairs {
						if connector.Equal(value(h.crm, "contact", c, fp[0]), value(h.ppl, "customer", p, fp[1])) {
							delete(dirty[0], dk(c, fp[0]))
							delete(dirty[1], dk(p, fp[1]))
						}
					}
				}
			}
			var contacts []string
			for c := range pair {
				contacts = append(contacts, c)
			}
			for step := range 30 {
				switch op := r.IntN(8); {
				case op <= 3: // an edit on one side
					c := contacts[r.IntN(len(contacts))]
					fp := pairs[r.IntN(len(pairs))]
					v := pool[r.IntN(len(pool))]
					h.clk.Advance(1e9)
					if r.IntN(2) == 0 {
						t.Logf("step %d: crm %s %s = %s", step, c, fp[0], v)
						upsert(t, h.crm, "contact", connector.Record{Key: c, Fields: F{fp[0]: v}})
						dirty[0][dk(c, fp[0])] = true
					} else {
						if fp[1] == "lastName" && r.IntN(2) == 0 {
							v = long
						}
						t.Logf("step %d: people %s %s = %.6s", step, pair[c], fp[1], v)
						upsert(t, h.ppl, "customer", connector.Record{Key: pair[c], Fields: F{fp[1]: v}})
						dirty[1][dk(pair[c], fp[1])] = true
					}
				case op <= 5:
					t.Logf("step %d: retry", step)
					h.run(retry)
					check(step)
				default:
					t.Logf("step %d: run", step)
					h.run()
					check(step)
				}
			}
		})
	}
}
