package arch

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/synclang/synclang/"

// imports maps each package of the module to its direct imports (tests
// excluded), from `go list`.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[strings.TrimPrefix(f[0], mod)] = f[1:]
	}
	return m
}

func isStd(path string) bool { return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") }

func TestImportDirection(t *testing.T) {
	pkgs := imports(t)
	if len(pkgs) < 10 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	// allowed lists, per package prefix, the module packages (by prefix)
	// and third-party modules it may import. Packages not listed must
	// follow the connector and runtime rules below.
	allowed := map[string][]string{
		"lang/diag":            {},
		"connectors/connector": {},
		"internal/redact":      {},
		"lang/ast":             {"lang/diag", "github.com/alecthomas/participle/v2/lexer"},
		"lang/parser":          {"lang/ast", "lang/diag", "github.com/alecthomas/participle/v2"},
		"lang/plan":            {"lang/diag", "connectors/connector"},
		"lang/eval":            {"connectors/connector", "github.com/expr-lang/expr", "github.com/nyaruka/phonenumbers"},
		"lang/check":           {"lang/ast", "lang/diag", "lang/plan", "lang/eval", "connectors/connector", "github.com/expr-lang/expr", "github.com/alecthomas/participle/v2/lexer"},
		"lang/format":          {"lang/diag", "lang/parser", "github.com/alecthomas/participle/v2/lexer"},
		"lang":                 {"lang/", "connectors/connector"},
		// The language server sits on the facade like cmd/synclang: it
		// names no concrete connector (the registry is passed in).
		"lang/lsp": {"lang", "lang/", "connectors/connector", "go.lsp.dev/jsonrpc2"},
		// The benchmark program is, like cmd/synclang, a main package that
		// builds concrete connectors (and their emulators) to run plans;
		// nothing imports it, so it opens no path from the runtime to a
		// concrete connector. It talks to PostgreSQL itself (pgx) only to
		// create and drop the schema its state comparison runs in.
		// Its kinds come from internal/kinds; it starts the two emulators
		// it measures itself, to edit their records between passes.
		"bench": {"lang", "lang/plan", "runtime/", "connectors/connector", "connectors/emulate", "internal/kinds",
			"connectors/dynamics/emulator", "connectors/people/emulator", "github.com/spf13/pflag", "github.com/jackc/pgx/v5"},
		// The one list of connection kinds: the connectors, their
		// emulators and stand-ins, and nothing of the language, the
		// runtime or the command line (which read it).
		"internal/kinds": {"connectors/"},
		// Opening a plan's connections: through the contract, with the
		// kinds passed in, so the runtime names no concrete connector.
		"runtime/connect": {"lang/plan", "connectors/connector"},
		// The engine reaches services only through the contract, and
		// evaluates expressions only through lang/eval.
		"runtime/engine": {"lang/plan", "lang/diag", "lang/eval", "runtime/state", "connectors/connector", "github.com/expr-lang/expr"},
		// The state store: the standard library and SQLite.
		"runtime/state": {"modernc.org/sqlite"},
		// What every emulator shares (the Limits modes, the Spec that
		// `synclang emulate` serves): a leaf like the contract.
		"connectors/emulate": {},
		// The tests' shared helpers.
		"internal/testkit": {"connectors/connector"},
	}
	for pkg, deps := range pkgs {
		for _, dep := range deps {
			if isStd(dep) {
				continue
			}
			local, isLocal := strings.CutPrefix(dep, mod)
			if local == "internal/kinds" && pkg != "cmd/synclang" && pkg != "bench" {
				// The list of concrete connectors is wired in by the main
				// packages only (and read by tests).
				t.Errorf("%s must not import %s: only cmd/synclang and bench read the list of connection kinds", pkg, dep)
				continue
			}
			if rules, ok := allowed[pkg]; ok {
				if !permitted(rules, local, dep, isLocal) {
					t.Errorf("%s must not import %s", pkg, dep)
				}
				continue
			}
			switch {
			case strings.HasPrefix(pkg, "connectors/") && isLocal && (strings.HasPrefix(local, "lang") || strings.HasPrefix(local, "runtime") || strings.HasPrefix(local, "cmd")):
				t.Errorf("connector package %s must not import %s: connectors know nothing of the language or the runtime", pkg, dep)
			case strings.HasPrefix(pkg, "connectors/") && isLocal && strings.HasPrefix(local, "connectors/") && !independent(pkg, local):
				t.Errorf("connector package %s must not import %s: connectors are independent of each other; share code through connectors/internal", pkg, dep)
			case strings.HasPrefix(pkg, "runtime/") && isLocal && strings.HasPrefix(local, "connectors/") && local != "connectors/connector":
				t.Errorf("runtime package %s must not import %s: concrete connectors are wired in by internal/kinds, cmd/synclang and bench", pkg, dep)
			case strings.HasPrefix(pkg, "runtime/") && isLocal && strings.HasPrefix(local, "cmd"):
				t.Errorf("%s must not import %s", pkg, dep)
			}
		}
	}
}

// independent reports whether connector package pkg may import the module
// package dep: the contract, the emulators' shared conventions
// (connectors/emulate), the connectors' shared internals, or its own
// connector's packages (connectors/people/emulator and
// connectors/people), never another connector's.
func independent(pkg, dep string) bool {
	switch {
	case dep == "connectors/connector", dep == "connectors/emulate", strings.HasPrefix(dep, "connectors/internal/"):
		return true
	}
	own := func(p string) string { return strings.SplitN(strings.TrimPrefix(p, "connectors/"), "/", 2)[0] }
	return own(pkg) == own(dep) && own(pkg) != "internal"
}

func permitted(rules []string, local, dep string, isLocal bool) bool {
	for _, r := range rules {
		if isLocal && (local == r || (strings.HasSuffix(r, "/") && strings.HasPrefix(local, r))) {
			return true
		}
		if !isLocal && (dep == r || strings.HasPrefix(dep, r+"/")) {
			return true
		}
	}
	return false
}

// TestReleaseBinaryLinksNoTesting: cmd/synclang links the emulators (for
// `synclang emulate`) but not package testing, whose flags and code have no
// place in the release binary; an emulator's test helpers take a local TB
// interface instead of testing.TB.
func TestReleaseBinaryLinksNoTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", mod+"cmd/synclang").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" {
			t.Errorf("cmd/synclang depends on package testing (go list -deps ./cmd/synclang | grep -x testing)")
		}
	}
}
