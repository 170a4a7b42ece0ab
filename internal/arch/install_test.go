package arch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStaticBuild: "one static binary" holds: the command's packages all
// build with CGO_ENABLED=0 (the SQLite driver is pure Go), and none needs
// cgo (issue 13 item 1). `go list` decides what a build would include
// without compiling it.
func TestStaticBuild(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-deps", "-f", `{{.ImportPath}} {{if .Error}}ERROR {{.Error}}{{end}}{{if .CgoFiles}} CGO{{end}}`, mod+"cmd/synclang")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list with CGO_ENABLED=0: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, " ERROR ") || strings.HasSuffix(line, " CGO") {
			t.Errorf("does not build without cgo: %s", line)
		}
	}
	if !strings.Contains(string(out), "modernc.org/sqlite") {
		t.Error("the pure-Go SQLite driver is not a dependency any more: check the static-binary claim in README.md")
	}
}

// TestReadmeSetUp: the README's set-up commands work from a checkout: each
// command in the "Try it" and "Install" blocks names a path that exists,
// and none is a `go install ...@latest` of a module path that is not
// published (that line is prose until it is).
func TestReadmeSetUp(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	blocks := regexp.MustCompile("(?s)## (Try it[^\n]*|Install)\n.*?```sh\n(.*?)```").FindAllStringSubmatch(readme, -1)
	if len(blocks) != 2 {
		t.Fatalf("found %d of the Try it and Install command blocks", len(blocks))
	}
	var cmds []string
	for _, bl := range blocks {
		for _, line := range strings.Split(bl[2], "\n") {
			if c, _, _ := strings.Cut(line, "#"); strings.TrimSpace(c) != "" {
				cmds = append(cmds, strings.TrimSpace(c))
			}
		}
	}
	demo, tests := false, false
	for _, c := range cmds {
		if strings.Contains(c, "@latest") {
			t.Errorf("set-up command %q installs a module version that is not published", c)
		}
		for _, f := range strings.Fields(c) {
			if strings.HasPrefix(f, "./") {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("set-up command %q names %s, which does not exist", c, f)
				}
			}
		}
		demo = demo || strings.HasSuffix(c, "./cmd/synclang demo")
		tests = tests || c == "./scripts/test.sh"
	}
	if !demo || !tests {
		t.Errorf("the Try it block must run the demo (go run ./cmd/synclang demo) and the tests (./scripts/test.sh): %q", cmds)
	}
	if _, err := os.Stat(filepath.Join(root, ".goreleaser.yaml")); err != nil {
		t.Errorf("README promises a release config: %v", err)
	}
}
