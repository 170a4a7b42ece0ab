package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCLIConventionsAgainstEmulators covers the conventions of issue 13
// item 8 that need a state: run --quiet, status --sync and its JSON (no
// \u003c escapes, durations as strings, one key style), rejects --json,
// plan --json's key style, and plan's colours on a terminal.
func TestCLIConventionsAgainstEmulators(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 6})

	// plan --json: lowerCamel keys throughout, durations as strings.
	r := w.synclang("plan", "--json", w.dir)
	if strings.Contains(r.out, `\u003c`) {
		t.Errorf("plan --json escapes <:\n%s", r.out)
	}
	for _, bad := range []string{`"Requests"`, `"Retries"`, `"Throttled"`} {
		if strings.Contains(r.out, bad) {
			t.Errorf("plan --json has %s:\n%s", bad, r.out)
		}
	}
	var doc struct {
		Syncs []struct {
			Duration any `json:"duration"`
		} `json:"syncs"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || len(doc.Syncs) == 0 {
		t.Fatalf("plan --json: %v\n%s", err, r)
	}
	if _, ok := doc.Syncs[0].Duration.(string); !ok {
		t.Errorf("plan --json duration is %T (%v), want a string like \"1.5s\"", doc.Syncs[0].Duration, doc.Syncs[0].Duration)
	}

	// plan in colour on a terminal, and not with NO_COLOR.
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

	// --quiet: no summary.
	r = w.synclang("run", "--quiet", w.dir)
	if r.code != exitOK || strings.TrimSpace(r.out) != "" || strings.Contains(r.err, "read") {
		t.Errorf("run --quiet printed more than warnings and errors:\n%s", r)
	}

	// A reject, for rejects --json.
	c := w.dyn.Rows("contact")[1]
	p := w.persons()[strings.ToLower(str2(c["emailaddress1"]))][0]
	if err := w.ppl.Update(personID(p), map[string]any{"firstName": strings.Repeat("Maximiliana", 6)}); err != nil {
		t.Fatal(err)
	}
	w.pass(exitRejects)
	r = w.synclang("rejects", "--json", w.dir)
	var rj rejectsJSON
	if err := json.Unmarshal([]byte(r.out), &rj); err != nil || r.code != exitOK || rj.Total != 1 || len(rj.Rejects) != 1 ||
		rj.Rejects[0].Sync != "contacts" || rj.Rejects[0].Field != "firstname" || rj.Rejects[0].Line == 0 ||
		!strings.HasSuffix(rj.Rejects[0].File, "contacts.sync") || rj.Rejects[0].Key != fmt.Sprint(personID(p)) {
		t.Errorf("rejects --json: %v\n%s", err, r)
	}

	// status --sync and --json.
	r = w.synclang("status", "--sync", "leads", w.dir)
	if r.code != exitOK || !strings.Contains(r.out, "sync leads") || strings.Contains(r.out, "sync contacts") {
		t.Errorf("status --sync leads:\n%s", r)
	}
	if r := w.synclang("status", "--sync", "lead", w.dir); r.code != exitUsage || !strings.Contains(r.err, `no sync named "lead"`) || !strings.Contains(r.err, `Did you mean "leads"?`) {
		t.Errorf("status --sync lead:\n%s", r)
	}
	r = w.synclang("status", "--json", "--sync", "contacts", w.dir)
	if strings.Contains(r.out, `\u003c`) || !strings.Contains(r.out, `"crm.contact <-> infobip.customer"`) {
		t.Errorf("status --json escapes <->:\n%s", r.out)
	}
	if strings.Contains(r.out, `"Requests"`) || !strings.Contains(r.out, `"duration": "`) {
		t.Errorf("status --json mixes styles or prints nanoseconds:\n%s", r.out)
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
