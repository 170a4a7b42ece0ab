//go:build unix

package state

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestCrashChild is the child of TestCrashConsistency: it applies batches
// (links i*10..i*10+9, cursor i) until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("SYNCLANG_STATE_CRASH_CHILD")
	if path == "" {
		t.Skip("run by TestCrashConsistency")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx, "c", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; ; i++ {
		ch := &Changes{Sync: "c", Cursor: &Cursor{Flow: "f", Token: strconv.Itoa(i)}}
		for j := range 10 {
			k := strconv.Itoa(i*10 + j)
			ch.PutLinks = append(ch.PutLinks, Link{Left: "L" + k, Right: "R" + k, LeftHashes: Hashes{"f": uint64(i)}})
			ch.PutRejects = append(ch.PutRejects, Reject{Flow: "f", Key: k, Kind: "value", Reason: "x"})
		}
		if i > 1 {
			ch.ClearRejects = []Intent{{Flow: "f", Key: strconv.Itoa((i - 1) * 10)}}
		}
		if err := s.Apply(ctx, l, ch); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrashConsistency kills a process writing batches at a random moment
// and checks that the database holds exactly the batches up to its cursor:
// the cursor never runs ahead of the links, and no batch is half there.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	for round, wait := range []int{3, 17, 41} {
		path := tempDB(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), "SYNCLANG_STATE_CRASH_CHILD="+path)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Wait until the child has committed a few batches, then kill it
		// in the middle of whatever it is doing. A child that stops on its
		// own failed: say why.
		deadline := time.Now().Add(3 * time.Minute)
		reader := waitOpen(t, path)
		for {
			tok, _ := reader.Cursor(context.Background(), "c", "f")
			if n, _ := strconv.Atoi(tok); n >= wait {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("round %d: the child stopped before it was killed (%v):\n%s", round, err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				<-exited
				t.Fatalf("round %d: the child committed %q batches of %d in 3 minutes:\n%s", round, tok, wait, out.String())
			}
			time.Sleep(time.Millisecond)
		}
		reader.Close()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited

		ctx := context.Background()
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopening after the crash: %v", round, err)
		}
		var check string
		if err := s.db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, check, err)
		}
		tok, _ := s.Cursor(ctx, "c", "f")
		n, _ := strconv.Atoi(tok)
		links, _ := s.LinkCount(ctx, "c")
		if n < wait || links != n*10 {
			t.Fatalf("round %d: cursor %d but %d links (want %d): a batch is half there", round, n, links, n*10)
		}
		rejects, _ := s.Rejects(ctx, RejectQuery{Limit: 100000})
		if len(rejects) != n*10-(n-1) {
			t.Fatalf("round %d: %d rejects, want %d", round, len(rejects), n*10-(n-1))
		}
		// The child's lock is left behind; its process is gone, so this
		// host takes it over at once.
		if _, err := s.Acquire(ctx, "c", time.Minute); err != nil {
			t.Fatalf("round %d: lock of the killed process: %v", round, err)
		}
		s.Close()
	}
}

func waitOpen(t *testing.T, path string) *SQLite {
	t.Helper()
	for range 1000 {
		if _, err := os.Stat(path); err == nil {
			s, err := Open(context.Background(), path, Options{})
			if err == nil {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return nil
}
