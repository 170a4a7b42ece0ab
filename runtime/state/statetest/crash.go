package statetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/synclang/synclang/runtime/state"
)

// crashEnv carries the location to the child process.
const crashEnv = "SYNCLANG_STATETEST_CRASH_CHILD"

// CrashChild is the body of the backend's TestCrashChild: started by the
// KilledWriter test, it applies batches (ten links and rejects, one reject
// cleared, cursor i) until it is killed. Run directly, it skips.
func CrashChild(t *testing.T, b Backend) {
	loc := os.Getenv(crashEnv)
	if loc == "" {
		t.Skip("run by the conformance suite's KilledWriter test")
	}
	ctx := context.Background()
	s, err := b.Open(ctx, loc, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx, "c", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; ; i++ {
		ch := &state.Changes{Sync: "c", Cursor: &state.Cursor{Flow: "f", Token: strconv.Itoa(i)}}
		for j := range 10 {
			k := strconv.Itoa(i*10 + j)
			ch.PutLinks = append(ch.PutLinks, state.Link{Left: "L" + k, Right: "R" + k, LeftHashes: state.Hashes{"f": uint64(i)}})
			ch.PutRejects = append(ch.PutRejects, state.Reject{Flow: "f", Key: k, Kind: "value", Reason: "x"})
		}
		if i > 1 {
			ch.ClearRejects = []state.Intent{{Flow: "f", Key: strconv.Itoa((i - 1) * 10)}}
		}
		if err := s.Apply(ctx, l, ch); err != nil {
			t.Fatal(err)
		}
	}
}

// testKilledWriter kills a process writing batches at a random moment
// (SIGKILL: no deferred cleanup, no COMMIT sent) and checks that the state
// holds exactly the batches up to its cursor: the cursor never runs ahead
// of the links, and no batch is half there.
func testKilledWriter(s *suite) {
	t := s.t
	if testing.Short() {
		t.Skip("spawns a process")
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs processes and SIGKILL")
	}
	for round, wait := range []int{3, 17, 41} {
		loc := s.b.New(t)
		// Create the state before the child starts, so the reader below
		// can open it at once.
		first, err := s.b.Open(s.ctx, loc, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashEnv+"="+loc)
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
		for {
			tok, _ := first.Cursor(s.ctx, "c", "f")
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
		first.Close()
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		if s.b.Check != nil {
			s.b.Check(t, loc)
		}
		// A server may still be rolling the dead connection's transaction
		// back; reopening sees either all of a batch or nothing of it.
		st, err := s.b.Open(s.ctx, loc, state.Options{})
		if err != nil {
			t.Fatalf("round %d: reopening after the crash: %v", round, err)
		}
		tok, _ := st.Cursor(s.ctx, "c", "f")
		n, _ := strconv.Atoi(tok)
		links, _ := st.LinkCount(s.ctx, "c")
		if n < wait || links != n*10 {
			t.Fatalf("round %d: cursor %d but %d links (want %d): a batch is half there", round, n, links, n*10)
		}
		rejects, _ := st.Rejects(s.ctx, state.RejectQuery{Limit: 100000})
		if len(rejects) != n*10-(n-1) {
			t.Fatalf("round %d: %d rejects, want %d", round, len(rejects), n*10-(n-1))
		}
		// The child's lock is left behind; its process is gone, so this
		// host takes it over at once.
		if _, err := st.Acquire(s.ctx, "c", time.Minute); err != nil {
			t.Fatalf("round %d: lock of the killed process: %v", round, err)
		}
		st.Close()
	}
}
