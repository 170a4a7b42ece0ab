//go:build unix

package state

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/internal/testkit"
)

// TestOpenRaceChild is a child of TestOpenWhileAnotherProcessCreates: it
// opens the database (creating and migrating it if it is first), writes a
// batch under a lease of its own, and exits.
func TestOpenRaceChild(t *testing.T) {
	path := os.Getenv("SYNCLANG_STATE_OPEN_CHILD")
	if path == "" {
		t.Skip("run by TestOpenWhileAnotherProcessCreates")
	}
	ctx := context.Background()
	ro := os.Getenv("SYNCLANG_STATE_OPEN_RO") == "1"
	if ro {
		// A reader (`synclang status`) started while the first run is
		// still creating the file: wait for it to appear, then open it.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(path); err == nil || time.Now().After(deadline) {
				break
			}
		}
	}
	s, err := Open(ctx, path, Options{ReadOnly: ro})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ro {
		return
	}
	name := filepath.Base(os.Getenv("SYNCLANG_STATE_OPEN_NAME"))
	l, err := s.Acquire(ctx, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, l, &Changes{Sync: name, Cursor: &Cursor{Flow: "f", Token: "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// Several processes open one database that does not exist yet, at once:
// writers that each create-or-migrate it, and readers that open it
// read-only as soon as the file appears (`synclang status` while the first
// `run` creates the state). Each must wait for the others, not fail with
// SQLITE_BUSY from the journal-mode switch or the migration.
func TestOpenWhileAnotherProcessCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for round := range 4 {
		path := filepath.Join(t.TempDir(), ".synclang", "state.db")
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(os.Args[0], "-test.run=^TestOpenRaceChild$", "-test.v")
				ro := "0"
				if i%3 == 2 {
					ro = "1"
				}
				cmd.Env = testkit.ChildEnv("SYNCLANG_STATE_OPEN_CHILD="+path, "SYNCLANG_STATE_OPEN_RO="+ro,
					fmt.Sprintf("SYNCLANG_STATE_OPEN_NAME=s%d", i))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					errs <- fmt.Sprintf("round %d, process %d (read-only %s): %v\n%s", round, i, ro, err, out.String())
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		s, err := Open(context.Background(), path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			if i%3 == 2 {
				continue
			}
			if tok, _ := s.Cursor(context.Background(), fmt.Sprintf("s%d", i), "f"); tok != "1" {
				t.Errorf("round %d: writer %d's batch is not there (cursor %q)", round, i, tok)
			}
		}
		s.Close()
	}
}
