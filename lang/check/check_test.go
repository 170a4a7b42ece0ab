package check_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/diag"
)

var update = flag.Bool("update", false, "rewrite the out/ sections of testdata/*.txtar")

func registry() *connector.Registry { return kinds.Registry() }

// registryFor is the registry a case checks against: the memory kind alone
// (connectors/memory.Kind) for a case whose files use it, so cases about
// the checker itself need neither real service's kind; else registry.
func registryFor(ar *txtar.Archive) *connector.Registry {
	for _, f := range ar.Files {
		if strings.HasSuffix(f.Name, ".sync") && strings.Contains(string(f.Data), " memory {") {
			return connector.NewRegistry(memory.Kind())
		}
	}
	return registry()
}

// runCase compiles the .sync files of an archive (schema snapshots are its
// CONN.schema.json files; live/CONN.schema.json the service's schema when a
// command connects) and returns the rendered diagnostics and plan.
func runCase(t *testing.T, ar *txtar.Archive) (diags diag.Diagnostics, rendered, planJSON string) {
	t.Helper()
	var inputs []lang.Input
	files := map[string][]byte{}
	for _, f := range ar.Files {
		files[f.Name] = f.Data
		if strings.HasSuffix(f.Name, ".sync") {
			inputs = append(inputs, lang.Input{Name: f.Name, Src: f.Data})
		}
	}
	snapshot := func(conn, file string) (*connector.Schema, string, error) {
		path := filepath.ToSlash(lang.SnapshotFile(conn, file))
		data, ok := files[path]
		if !ok {
			return nil, "", nil
		}
		var s connector.Schema
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, path, err
		}
		if err := s.Validate(); err != nil {
			return nil, path, err
		}
		return &s, path, nil
	}
	p, diags := lang.Compile(inputs, lang.Options{Registry: registryFor(ar), Snapshot: snapshot})
	// live/CONN.schema.json is the schema the service reports when a
	// command connects (check.CompareLive).
	for _, f := range ar.Files {
		conn, ok := strings.CutPrefix(f.Name, "live/")
		if conn, ok = strings.CutSuffix(conn, ".schema.json"); !ok || p == nil {
			continue
		}
		var s connector.Schema
		if err := json.Unmarshal(f.Data, &s); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		s.Normalize()
		snap, snapPath, _ := snapshot(conn, "a.sync")
		diags = append(diags, check.CompareLive(p, conn, &s, snap, snapPath)...)
	}
	var buf bytes.Buffer
	if err := diag.Write(&buf, diags, lang.Sources(inputs), diag.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rendered = buf.String()
	if p != nil {
		buf.Reset()
		if err := p.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		planJSON = buf.String()
	}
	return diags, rendered, planJSON
}

func TestCases(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*.txtar")
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			diags, rendered, planJSON := runCase(t, ar)
			// A suggestion travels as data: every "Did you mean" sentence
			// is the diagnostic's Suggested, which editors offer as a fix.
			for _, d := range diags {
				if strings.Contains(d.Detail, " Did you mean ") && (d.Suggested == "" || !strings.HasSuffix(d.Detail, diag.Hint{Name: d.Suggested}.String())) {
					t.Errorf("%s: the detail suggests a name but Suggested is %q: %s", d.Code, d.Suggested, d.Detail)
				}
			}
			want := map[string]string{"out/diagnostics": rendered, "out/plan.json": planJSON}
			if *update {
				var kept []txtar.File
				for _, f := range ar.Files {
					if !strings.HasPrefix(f.Name, "out/") {
						kept = append(kept, f)
					}
				}
				for _, name := range []string{"out/diagnostics", "out/plan.json"} {
					if want[name] != "" {
						kept = append(kept, txtar.File{Name: name, Data: []byte(want[name])})
					}
				}
				ar.Files = kept
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			have := map[string]string{}
			for _, f := range ar.Files {
				have[f.Name] = string(f.Data)
			}
			for _, name := range []string{"out/diagnostics", "out/plan.json"} {
				if have[name] != want[name] {
					t.Errorf("%s differs (run go test -update to accept):\n--- want\n%s\n--- got\n%s", name, have[name], want[name])
				}
			}
		})
	}
}

// TestEveryCodeHasACase keeps each diagnostic code triggered by a case named
// after it, whose diagnostics include that code.
func TestEveryCodeHasACase(t *testing.T) {
	for _, code := range check.Codes {
		path := filepath.Join("testdata", code.Name+".txtar")
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Errorf("code %s has no case: %v", code.Name, err)
			continue
		}
		diags, _, _ := runCase(t, ar)
		found := false
		for _, d := range diags {
			if d.Code == code.Name {
				found = true
				if d.Severity != code.Severity {
					t.Errorf("%s: severity %s, Codes says %s", code.Name, d.Severity, code.Severity)
				}
			}
		}
		if !found {
			t.Errorf("%s does not trigger %s", path, code.Name)
		}
	}
}

// TestCodesAreKnown checks that every code a case produces is listed.
func TestCodesAreKnown(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*.txtar")
	seen := map[string]bool{}
	for _, path := range cases {
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		diags, _, _ := runCase(t, ar)
		for _, d := range diags {
			seen[d.Code] = true
			if _, ok := check.CodeDoc(d.Code); !ok {
				t.Errorf("%s: code %q is not in check.Codes", path, d.Code)
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("codes seen: %s", strings.Join(names, " "))
}

// TestExamplesCheckClean compiles examples/ as one project.
func TestExamplesCheckClean(t *testing.T) {
	inputs, err := lang.Load([]string{"../../examples"})
	if err != nil {
		t.Fatal(err)
	}
	p, diags := lang.Compile(inputs, lang.Options{Registry: registry()})
	if len(diags) > 0 || p == nil {
		t.Fatalf("examples do not check clean:\n%s", diags.Error())
	}
}
