package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// crashingStore is the state store of a process that dies between a
// batch's writes and their commit: the crash-th commit (a batch's links,
// hashes and cursor, or the intents recorded before a batch's creates)
// fails, and so does every later store operation.
type crashingStore struct {
	state.Store
	crash   int64
	commits atomic.Int64
	dead    atomic.Bool
}

var errCrashed = errors.New("simulated crash")

func (s *crashingStore) Apply(ctx context.Context, l *state.Lease, ch *state.Changes) error {
	if s.dead.Load() {
		return errCrashed
	}
	if s.commits.Add(1) == s.crash {
		s.dead.Store(true)
		return errCrashed
	}
	return s.Store.Apply(ctx, l, ch)
}

func (s *crashingStore) FinishRun(ctx context.Context, l *state.Lease, r state.Run) error {
	if s.dead.Load() {
		return errCrashed
	}
	return s.Store.FinishRun(ctx, l, r)
}

func (s *crashingStore) Release(ctx context.Context, l *state.Lease) error {
	if s.dead.Load() {
		return errCrashed // a dead process releases nothing
	}
	return s.Store.Release(ctx, l)
}

// TestE2ECrashBeforeCursorCommit crashes a pass between a batch's writes
// and their commit, at every commit of the pass (each batch of each
// direction of each sync, in batches of 7), then runs again as a new
// process: nothing is duplicated and nothing is lost. It does so for the
// initial load, and for an incremental pass carrying edits on both sides.
func TestE2ECrashBeforeCursorCommit(t *testing.T) {
	t.Parallel()
	for _, incremental := range []bool{false, true} {
		crashed := 0
		for crash := int64(1); ; crash++ {
			name := fmt.Sprintf("initial/commit%d", crash)
			if incremental {
				name = fmt.Sprintf("incremental/commit%d", crash)
			}
			didCrash := false
			t.Run(name, func(t *testing.T) { didCrash = crashAndResume(t, crash, incremental) })
			if !didCrash {
				break // past the pass's last commit
			}
			crashed++
		}
		if crashed < 4 {
			t.Errorf("incremental %v: the pass crashed at only %d commits", incremental, crashed)
		}
	}
}

// crashAndResume runs one crash of TestE2ECrashBeforeCursorCommit and
// reports whether the pass crashed (false once crash is past its last
// commit).
func crashAndResume(t *testing.T, crash int64, incremental bool) bool {
	w := newWorld(t, worldOptions{contacts: 20})
	w.seedPeople()
	ctx := testContext(t)
	type edit struct{ email, dynField, dynValue, pplField, pplValue string }
	var edits []edit
	if incremental {
		w.pass(exitOK)
		w.clk.Advance(2 * time.Second)
		for i, c := range w.dyn.Rows("contact")[:8] {
			email := strings.ToLower(str2(c["emailaddress1"]))
			if i%2 == 0 {
				v := fmt.Sprint("Edited", i)
				w.dyn.Update("contact", str2(c["contactid"]), map[string]any{"lastname": v})
				edits = append(edits, edit{email, "lastname", v, "lastName", v})
			} else {
				v := fmt.Sprint("Town", i)
				if err := w.ppl.Update(personID(w.persons()[email][0]), map[string]any{"city": v}); err != nil {
					t.Fatal(err)
				}
				edits = append(edits, edit{email, "address1_city", v, "city", v})
			}
		}
		w.dyn.Insert("contact", map[string]any{"firstname": "Fresh", "lastname": "Contact", "emailaddress1": "fresh.contact@example.com"})
		w.ppl.Insert(map[string]any{"type": "CUSTOMER", "firstName": "Fresh", "lastName": "Person",
			"contactInformation": map[string]any{"email": []any{map[string]any{"address": "fresh.person@example.com"}}}})
		w.clk.Advance(2 * time.Second)
	}
	var out, errb syncBuffer
	s := w.stdio(&out, &errb)
	s.Registry = DefaultRegistry()
	ss, code := openSession(ctx, &s, "run", sessionOptions{flags: runFlags{logLevel: "off"}, paths: []string{w.dir}})
	if code != exitOK {
		t.Fatalf("open: %s", errb.String())
	}
	// The crashing process holds its locks as another, dead process of
	// this host, so the next run may take them over at once.
	host, _ := os.Hostname()
	dying, err := state.Open(ctx, ss.statePath, state.Options{Holder: state.Holder{Host: host, PID: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	ss.store.Close()
	ss.store = &crashingStore{Store: dying, crash: crash}
	_, err = engine.Run(ctx, ss.plan, ss.env(), engine.Options{BatchSize: 7, InFlight: 2})
	ss.close()
	if err == nil {
		return false // past the last commit: every point was tried
	}
	if !errors.Is(err, errCrashed) {
		t.Fatalf("the run failed otherwise: %v", err)
	}

	w.pass(exitOK)
	w.pass(exitOK)
	w.checkConverged()
	// 20 contacts and the 2 People-only customers' new contacts; a customer
	// for each, and a People lead for each of the 5 leads (plus the fresh
	// contact and person of the incremental pass, on both sides).
	extra := 0
	if incremental {
		extra = 2
	}
	if n := len(w.dyn.Rows("contact")); n != 22+extra {
		t.Errorf("%d contacts, want %d", n, 22+extra)
	}
	if n := len(w.ppl.Persons()); n != 22+5+extra {
		t.Errorf("%d persons, want %d", n, 27+extra)
	}
	persons, contacts := w.persons(), w.contacts()
	for _, e := range edits {
		if c, p := contacts[e.email][0], persons[e.email][0]; str2(c[e.dynField]) != e.dynValue || str2(p[e.pplField]) != e.pplValue {
			t.Errorf("edit of %s lost: Dynamics %s = %v, People %s = %v; want %s", e.email, e.dynField, c[e.dynField], e.pplField, p[e.pplField], e.dynValue)
		}
	}
	return true
}
