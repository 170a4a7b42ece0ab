package state

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/internal/testkit"
)

// transcript runs one script of every Store method against s and writes
// down what each call returned, so two stores can be compared.
func transcript(t *testing.T, s Store, clk *testkit.Clock) string {
	ctx := context.Background()
	var b strings.Builder
	say := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	l, err := s.Acquire(ctx, "c", time.Minute)
	say("acquire: %v", err)
	_, err = s.Acquire(ctx, "c", time.Minute)
	say("acquire held: %T", err)
	say("apply nil lease: %v", s.Apply(ctx, nil, &Changes{Sync: "c"}) != nil)
	say("apply: %v", s.Apply(ctx, l, &Changes{Sync: "c", PutLinks: []Link{{Left: "l1", Right: "r1", LeftHashes: Hashes{"a": 1}}, {Left: "l2", Right: "r2"}},
		Cursor: &Cursor{Flow: "f", Token: "7"}}))
	err = s.Apply(ctx, l, &Changes{Sync: "c", PutLinks: []Link{{Left: "l3", Right: "r1"}}, Cursor: &Cursor{Flow: "f", Token: "8"}})
	say("relink r1: %v", err != nil && strings.Contains(err.Error(), "already linked"))
	tok, _ := s.Cursor(ctx, "c", "f")
	say("cursor after failed apply: %s", tok)
	say("unlink+relink: %v", s.Apply(ctx, l, &Changes{Sync: "c", DeleteLinks: []string{"l1"}, PutLinks: []Link{{Left: "l9", Right: "r1"}}}))
	byR, _ := s.Links(ctx, "c", Right, []string{"r1", "r2", "zz"})
	byL, _ := s.Links(ctx, "c", Left, []string{"l1", "l2", "l9"})
	say("by right: r1=%s r2=%s n=%d; by left n=%d l2 hashes nil=%v", byR["r1"].Left, byR["r2"].Left, len(byR), len(byL), byL["l2"].LeftHashes == nil)
	n, _ := s.LinkCount(ctx, "c")
	say("links: %d", n)
	rng := Range{File: "a.sync", Line: 3, Column: 2}
	s.Apply(ctx, l, &Changes{Sync: "c", PutRejects: []Reject{{Flow: "f", Key: "k2", Field: "email", Range: rng, Kind: "value", Reason: "bad"}, {Flow: "f", Key: "k1"}}})
	clk.Advance(time.Second)
	s.Apply(ctx, l, &Changes{Sync: "c", PutRejects: []Reject{{Flow: "f", Key: "k2", Kind: "service", Reason: "worse"}}})
	rj, _ := s.Rejects(ctx, RejectQuery{Sync: "c"})
	for _, r := range rj {
		say("reject %s %s %s attempts=%d first<last=%v field=%q", r.Flow, r.Key, r.Kind, r.Attempts, r.FirstSeen.Before(r.LastSeen), r.Field)
	}
	page, _ := s.Rejects(ctx, RejectQuery{After: &rj[0], Limit: 1})
	say("page: %d %s", len(page), page[0].Key)
	s.Apply(ctx, l, &Changes{Sync: "c", ClearRejects: []Intent{{Flow: "f", Key: "k1"}}, PutIntents: []Intent{{Flow: "f", Key: "a"}, {Flow: "f", Key: "a"}}})
	in, _ := s.Intents(ctx, "c", "f", []string{"a", "b"})
	rj, _ = s.Rejects(ctx, RejectQuery{})
	say("intents %v rejects %d", in, len(rj))
	s.Apply(ctx, l, &Changes{Sync: "c", PutOrphans: []Orphan{{Side: Left, Key: "o", Hashes: Hashes{"x": 2}}}})
	or, _ := s.Orphans(ctx, "c", Left, []string{"o", "p"})
	say("orphans %v", or)
	say("bad orphan: %v", s.Apply(ctx, l, &Changes{Sync: "c", PutOrphans: []Orphan{{Side: "middle", Key: "o"}}}) != nil)
	id, err := s.StartRun(ctx, l, Run{Sync: "c", Full: true})
	say("run %d %v", id, err)
	s.Apply(ctx, l, &Changes{Sync: "c", RunID: id, Conflicts: []Conflict{{LeftKey: "l9", RightKey: "r1", LeftField: "a", RightField: "b", Winner: Right, Policy: "newest"}}})
	clk.Advance(time.Second)
	say("finish: %v", s.FinishRun(ctx, l, Run{ID: id, Sync: "c", Status: RunOK, Report: "{}"}))
	runs, _ := s.Runs(ctx, "", 5)
	say("runs %d %s full=%v took=%v", len(runs), runs[0].Status, runs[0].Full, runs[0].Finished.Sub(runs[0].Started))
	cs, _ := s.Conflicts(ctx, "c", 5)
	say("conflicts %d run=%v winner=%s", len(cs), cs[0].RunID == id, cs[0].Winner)
	curs, _ := s.Cursors(ctx)
	say("cursors %d %s", len(curs), curs[0].Token)
	say("release: %v", s.Release(ctx, l))
	say("apply after release: %v", s.Apply(ctx, l, &Changes{Sync: "c"}))
	l2, err := s.Acquire(ctx, "c", time.Minute)
	say("reacquire: %v; renew old: %v; renew new: %v", err, s.Renew(ctx, l), s.Renew(ctx, l2))
	return b.String()
}

// TestMemoryMatchesSQLite runs the same script against both stores: the
// in-memory store keeps the SQLite store's contract.
func TestMemoryMatchesSQLite(t *testing.T) {
	c1, c2 := newClock(), newClock()
	want := transcript(t, openTest(t, tempDB(t), c1, hostA), c1)
	got := transcript(t, NewMemory(c2.Now), c2)
	if got != want {
		t.Errorf("memory store differs from SQLite:\n--- sqlite\n%s\n--- memory\n%s", want, got)
	}
	t.Logf("\n%s", got)
}
