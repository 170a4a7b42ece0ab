package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestPlanColours: plan is coloured on a terminal, and not with NO_COLOR
// (issue 13 item 8). The other conventions that need a state are
// testdata/script/conventions_runtime.txtar; a script's output is never a
// terminal.
func TestPlanColours(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 6})
	color := func(noColor string) string {
		var out, errb syncBuffer
		s := w.stdio(&out, &errb)
		s.Terminal = true
		env := s.Getenv
		s.Getenv = func(k string) string {
			if k == "NO_COLOR" {
				return noColor
			}
			return env(k)
		}
		Main([]string{"plan", w.dir}, s)
		return out.String()
	}
	if got := color(""); !strings.Contains(got, ansiGreen+"  + create") {
		t.Errorf("plan on a terminal is not coloured:\n%q", got)
	}
	if got := color("1"); strings.Contains(got, "\x1b[") {
		t.Errorf("plan with NO_COLOR is coloured:\n%q", got)
	}
}

// TestVersionLine: the version names the module version and the VCS
// revision the build embedded.
func TestVersionLine(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(bi), "synclang v1.2.3 (0123456789ab+modified, 2026-12-01T10:00:00Z) go1.26.0"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	if got := versionLine(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}); !strings.HasPrefix(got, "synclang (devel) (no revision recorded") {
		t.Errorf("devel build: %q", got)
	}
}

// TestCompletionScriptsLoad runs the bash script through bash, when there
// is one, to catch a syntax error.
func TestCompletionScriptsLoad(t *testing.T) {
	t.Parallel()
	var out, errb syncBuffer
	if code := Main([]string{"completion", "bash"}, Stdio{Out: &out, Err: &errb}); code != exitOK {
		t.Fatalf("completion bash: %d %s", code, errb.String())
	}
	bash, err := lookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "c.bash")
	if err := os.WriteFile(script, []byte(out.String()+"\nCOMP_WORDS=(synclang fmt --wr); COMP_CWORD=2; _synclang; echo \"${COMPREPLY[@]}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := execOut(bash, script)
	if err != nil || strings.TrimSpace(got) != "--write" {
		t.Errorf("bash completion of `synclang fmt --wr`: %q %v", got, err)
	}
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

func execOut(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).CombinedOutput()
	return string(b), err
}
