//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synclang/synclang/runtime/state"
)

// TestStatusAndRejectsOnReadOnlyState: `synclang status` and `synclang
// rejects` work on a 0444 state.db in a 0555 directory. Permissions do
// not bind root, so under root the CLI (this test binary, which acts as
// synclang under that name) runs as the nobody user.
func TestStatusAndRejectsOnReadOnlyState(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 2})
	w.pass(exitOK)
	path := filepath.Join(w.dir, stateDir, stateFile)
	st, err := state.Open(context.Background(), path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := st.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, l, &state.Changes{Sync: "contacts", PutRejects: []state.Reject{{Flow: "left-to-right", Key: "k1", Kind: "value", Reason: "too long"}}}); err != nil {
		t.Fatal(err)
	}
	st.Release(ctx, l)
	st.Close()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(path), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Dir(path), 0o700) })
	// The nobody user must reach the project: open its parents.
	for d := w.dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(t.TempDir(), "synclang")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "rejects    1"},
		{[]string{"status", "--json"}, `"rejects": 1`},
		{[]string{"rejects"}, "1 rejected record."},
	} {
		cmd := exec.Command(bin, append(tc.args, w.dir)...)
		cmd.Env = []string{"NO_COLOR=1", "HOME=/nonexistent", "PATH=/usr/bin:/bin"}
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("synclang %s on a read-only state: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
	}
}
