package dynamics

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces STYLE.md §2.2: connectors never import the
// language or the runtime.
func TestImportDirection(t *testing.T) {
	for _, pkg := range []string{".", "./emulator"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "synclang/lang") || strings.Contains(dep, "synclang/runtime") || strings.Contains(dep, "synclang/cmd") {
				t.Errorf("%s imports %s", pkg, dep)
			}
		}
	}
}
