package engine

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/synclang/synclang/"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	return strings.Fields(string(out))
}

// TestImportRules keeps the runtime's dependencies as STYLE.md draws them:
// the engine reaches connectors only through connectors/connector (never a
// concrete connector, never cmd); the state store uses the standard library
// and modernc.org/sqlite only.
func TestImportRules(t *testing.T) {
	allowed := map[string]bool{
		"lang/plan": true, "lang/diag": true, "lang/eval": true, "runtime/state": true, "connectors/connector": true,
	}
	for _, dep := range goList(t, "-deps", "-f", "{{.ImportPath}}", module+"runtime/engine") {
		rel, ours := strings.CutPrefix(dep, module)
		if ours && rel != "runtime/engine" && !allowed[rel] {
			t.Errorf("runtime/engine depends on %s", dep)
		}
	}
	for _, imp := range goList(t, "-f", `{{join .Imports " "}}`, module+"runtime/state") {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && imp != "modernc.org/sqlite" {
			t.Errorf("runtime/state imports %s (only the standard library and modernc.org/sqlite)", imp)
		}
	}
}
