package lang_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang"
)

var update = flag.Bool("update", false, "rewrite the examples' golden plans")

// TestExamplePlans compiles each example project and compares the plan
// with the golden plan.json beside it (file names as seen from the
// repository root, as `synclang compile examples` prints them).
func TestExamplePlans(t *testing.T) {
	reg := kinds.Registry()
	for _, dir := range []string{"examples", "examples/people-to-dynamics"} {
		t.Run(dir, func(t *testing.T) {
			inputs, err := lang.Load([]string{filepath.Join("..", dir)})
			if err != nil {
				t.Fatal(err)
			}
			for i := range inputs {
				inputs[i].Name = filepath.ToSlash(strings.TrimPrefix(inputs[i].Name, ".."+string(filepath.Separator)))
			}
			p, diags := lang.Compile(inputs, lang.Options{Registry: reg, Snapshot: func(conn, file string) (*connector.Schema, string, error) {
				return lang.SnapshotBeside(conn, filepath.Join("..", file))
			}})
			if len(diags) > 0 || p == nil {
				t.Fatalf("%s does not check clean:\n%s", dir, diags.Error())
			}
			var got bytes.Buffer
			if err := p.Encode(&got); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("..", dir, "plan.json")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./lang -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from the compiled plan; run go test ./lang -update and review the diff", golden)
			}
		})
	}
}
