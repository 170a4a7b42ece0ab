package lang_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang"
)

// project200 builds a project of 200 syncs in 20 files, shaped like
// examples/contacts.sync (each sync has a link, a match key, 12 field lines,
// a where filter and the gender conversions).
func project200(b *testing.B) []lang.Input {
	src, err := os.ReadFile("../examples/contacts.sync")
	if err != nil {
		b.Fatal(err)
	}
	text := string(src)
	conns := text[:strings.Index(text, "sync contacts")]
	body := text[strings.Index(text, "sync contacts"):]
	inputs := []lang.Input{{Name: "connections.sync", Src: []byte(conns)}}
	for f := 0; f < 20; f++ {
		var sb strings.Builder
		for i := 0; i < 10; i++ {
			sb.WriteString(strings.Replace(body, "sync contacts", fmt.Sprintf("sync contacts_%d_%d", f, i), 1))
			sb.WriteString("\n")
		}
		inputs = append(inputs, lang.Input{Name: fmt.Sprintf("syncs%02d.sync", f), Src: []byte(sb.String())})
	}
	return inputs
}

// BenchmarkCompile200Syncs measures parse + check + plan of a 200-sync
// project (report: ns/op for the whole project).
func BenchmarkCompile200Syncs(b *testing.B) {
	inputs := project200(b)
	reg := kinds.Registry()
	opts := lang.Options{Registry: reg, Snapshot: func(string, string) (*connector.Schema, string, error) { return nil, "", nil }}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, diags := lang.Compile(inputs, opts)
		if p == nil || len(p.Syncs) != 200 {
			b.Fatalf("compile failed: %v", diags)
		}
	}
}
