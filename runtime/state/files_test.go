//go:build unix

package state

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFilesArePrivate: with the common umask 022, the state directory is
// created 0700 and the database and its -wal and -shm files 0600; a
// database an older synclang left 0644 is tightened.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := tempDB(t)
	s := openTest(t, path, newClock(), hostA)
	if _, err := s.Acquire(context.Background(), "c", time.Minute); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(filepath.Dir(path)); m != 0o700 {
		t.Errorf("state directory %o, want 700", m)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(p); m != 0o600 {
			t.Errorf("%s %o, want 600", filepath.Base(p), m)
		}
	}
	s.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openTest(t, path, newClock(), hostA)
	if m := mode(path); m != 0o600 {
		t.Errorf("an existing 0644 database was left %o, want 600", m)
	}
}

// TestReadOnlyState: status and rejects read a state they may not write:
// a 0444 database in a writable directory, and in a read-only directory
// (where SQLite cannot create the -shm a WAL database needs). Permission
// checks do not apply to root, so under root the checks run in a child
// process as the nobody user.
func TestReadOnlyState(t *testing.T) {
	if os.Getenv("SYNCLANG_RO_CHILD") != "" {
		readOnlyChild(t, os.Getenv("SYNCLANG_RO_CHILD"), os.Getenv("SYNCLANG_RO_DIR") == "1")
		return
	}
	for _, roDir := range []bool{false, true} {
		base, err := os.MkdirTemp("", "synclang-ro-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(base, ".synclang"), 0o700); os.RemoveAll(base) })
		path := filepath.Join(base, ".synclang", "state.db")
		s := openTest(t, path, newClock(), hostA)
		ctx := context.Background()
		l, err := s.Acquire(ctx, "c", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, l, &Changes{Sync: "c", PutRejects: []Reject{{Flow: "left-to-right", Key: "k1", Kind: "value", Reason: "bad"}}}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		dirMode := os.FileMode(0o777) // writable by the nobody user too
		if roDir {
			dirMode = 0o555
		}
		if err := os.Chmod(filepath.Dir(path), dirMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() != 0 {
			readOnlyChild(t, path, roDir)
			continue
		}
		// Run this test again as nobody, from a copy of the test binary
		// that user can execute.
		bin := filepath.Join(base, "state.test")
		data, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestReadOnlyState$", "-test.count=1")
		ro := "0"
		if roDir {
			ro = "1"
		}
		cmd.Env = append(os.Environ(), "SYNCLANG_RO_CHILD="+path, "SYNCLANG_RO_DIR="+ro, "HOME=/")
		cmd.Dir = base
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Errorf("read-only directory %v, as nobody: %v\n%s", roDir, err, out)
		}
	}
}

func readOnlyChild(t *testing.T, path string, roDir bool) {
	ctx := context.Background()
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		f.Close()
		t.Fatalf("%s is writable: this test proves nothing", path)
	}
	s, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open (read-only directory %v): %v", roDir, err)
	}
	defer s.Close()
	rj, err := s.Rejects(ctx, RejectQuery{Sync: "c"})
	if err != nil || len(rj) != 1 || rj[0].Key != "k1" {
		t.Fatalf("rejects: %v %v", rj, err)
	}
	if _, err := s.Runs(ctx, "", 10); err != nil {
		t.Fatalf("runs: %v", err)
	}
	if _, err := s.Cursors(ctx); err != nil {
		t.Fatalf("cursors: %v", err)
	}
	if n, err := s.LinkCount(ctx, "c"); err != nil || n != 0 {
		t.Fatalf("link count: %d %v", n, err)
	}
	if _, err := s.Acquire(ctx, "c", time.Minute); err == nil {
		t.Fatal("a read-only store took a lock")
	}
}
