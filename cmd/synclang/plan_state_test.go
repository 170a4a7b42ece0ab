package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompiledPlanUsesTheProjectState: `compile -o ../plan.json DIR` then
// `run ../plan.json` uses DIR's state, as `run DIR` does: no second
// initial load, no state next to the plan, one lock (issue 13 item 6).
func TestCompiledPlanUsesTheProjectState(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 4})
	w.pass(exitOK) // run DIR: the initial load, into DIR/.synclang
	elsewhere := t.TempDir()
	planFile := filepath.Join(elsewhere, "plan.json")
	if r := w.synclang("compile", "-o", planFile, w.dir); r.code != exitOK {
		t.Fatalf("compile: %s", r)
	}
	b, _ := os.ReadFile(planFile)
	if !strings.Contains(string(b), `"project": "`) {
		t.Errorf("the plan does not record its project:\n%.300s", b)
	}
	r := w.synclang("run", planFile)
	if r.code != exitOK || !strings.Contains(r.out, "contacts") {
		t.Fatalf("run plan.json: %s", r)
	}
	if strings.Contains(r.out, "read in full") || strings.Contains(r.err, "warning") {
		t.Errorf("run plan.json did another initial load or warned:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, stateDir)); err == nil {
		t.Error("run plan.json made a second state next to the plan")
	}
	if r := w.synclang("status", planFile); !strings.Contains(r.out, "state: "+filepath.ToSlash(filepath.Join(w.dir, stateDir, stateFile))) {
		t.Errorf("status of the plan names another state:\n%s", r)
	}

	// A plan copied away from its project keeps its state beside it, and
	// says so.
	lone := filepath.Join(t.TempDir(), "deep", "plan.json")
	if err := os.MkdirAll(filepath.Dir(lone), 0o755); err != nil {
		t.Fatal(err)
	}
	data := strings.Replace(string(b), `"project": "`, `"project": "no/such/`, 1)
	if err := os.WriteFile(lone, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := w.synclang("status", lone); !strings.Contains(r.err, "holds no .sync files here; using the state next to the plan") {
		t.Errorf("a plan away from its project:\n%s", r)
	}
}
