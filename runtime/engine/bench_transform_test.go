package engine

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
)

// benchContacts returns n Dynamics contacts with every mapped field set.
func benchContacts(n int) []connector.Record {
	out := make([]connector.Record, n)
	for i := range out {
		out[i] = connector.Record{Key: fmt.Sprintf("c-%07d", i), Fields: map[string]any{
			"contactid": fmt.Sprintf("c-%07d", i), "firstname": fmt.Sprint("First", i%97), "lastname": fmt.Sprint("Last", i%89),
			"emailaddress1": fmt.Sprintf("p%d@example.com", i), "address1_city": "Zagreb", "jobtitle": "Engineer",
			"gendercode": int64(1 + i%3), "statecode": int64(0), "mobilephone": "+385911234567",
		}}
	}
	return out
}

// handMapped is the contacts left-to-right mapping written by hand: what
// the compiled maps compute, with the same checks.
func handMapped(rec connector.Record, out map[string]any) error {
	str := func(name string, max int) (any, error) {
		v := rec.Fields[name]
		if v == nil {
			return nil, nil
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s is not a string", name)
		}
		if len([]rune(s)) > max {
			return nil, fmt.Errorf("%s too long", name)
		}
		return s, nil
	}
	var err error
	if out["firstName"], err = str("firstname", 255); err != nil {
		return err
	}
	if out["lastName"], err = str("lastname", 255); err != nil {
		return err
	}
	if out["city"], err = str("address1_city", 50); err != nil {
		return err
	}
	if out["email"], err = str("emailaddress1", 255); err != nil {
		return err
	}
	if out["custom.JobTitle"], err = str("jobtitle", 1<<30); err != nil {
		return err
	}
	switch g, _ := rec.Fields["gendercode"].(int64); g {
	case 1:
		out["gender"] = "MALE"
	case 2:
		out["gender"] = "FEMALE"
	default:
		out["gender"] = nil
	}
	return nil
}

// compiledMapper runs the flow's compiled maps the way prepare does.
func compiledMapper(tb testing.TB) (*flowRun, func(rec connector.Record, out map[string]any) error) {
	p := contactsPlan(spec{})
	conns := map[string]connector.Connector{"crm": nil, "infobip": nil}
	for k := range conns {
		conns[k] = stubConn{}
	}
	rt, err := compileSync(p.Syncs[0], conns)
	if err != nil {
		tb.Fatal(err)
	}
	fr := newFlowRun(&runner{env: Env{Logger: slog.New(slog.DiscardHandler)}}, rt, rt.flows[0], nil, 0)
	return fr, func(rec connector.Record, out map[string]any) error {
		fr.fill(&fr.envS, fr.f.src, rec)
		it := &item{rec: rec}
		for _, m := range fr.f.maps {
			v, ok := fr.evalMap(it, m, fr.envS)
			if !ok {
				return it.rej
			}
			out[m.target.Name] = v
		}
		return nil
	}
}

// stubConn satisfies connector.Connector for compile-only uses.
type stubConn struct{ connector.Connector }

func TestHandMappingEqualsCompiled(t *testing.T) {
	t.Parallel()
	_, compiled := compiledMapper(t)
	for _, rec := range benchContacts(50) {
		a, b := map[string]any{}, map[string]any{}
		if err := compiled(rec, a); err != nil {
			t.Fatal(err)
		}
		if err := handMapped(rec, b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("compiled %v\n    hand %v", a, b)
		}
	}
}

// BenchmarkTransform compares the compiled contacts mapping with the same
// mapping written in Go. The ratio is compiled ns/record over go
// ns/record; TestTransformRatio prints it (go test -run TransformRatio -v
// with SYNCLANG_BENCH=1).
func BenchmarkTransform(b *testing.B) {
	_, compiled := compiledMapper(b)
	b.Run("compiled", transformBench(compiled))
	b.Run("go", transformBench(handMapped))
}

func transformBench(f func(connector.Record, map[string]any) error) func(b *testing.B) {
	recs := benchContacts(1024)
	return func(b *testing.B) {
		out := map[string]any{}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := f(recs[i%len(recs)], out); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestTransformRatio measures both mappings with testing.Benchmark and
// logs the ratio. It asserts nothing about time (the machine decides);
// it only runs when SYNCLANG_BENCH is set.
func TestTransformRatio(t *testing.T) {
	if os.Getenv("SYNCLANG_BENCH") == "" {
		t.Skip("set SYNCLANG_BENCH=1 to measure")
	}
	_, compiled := compiledMapper(t)
	c := testing.Benchmark(transformBench(compiled))
	g := testing.Benchmark(transformBench(handMapped))
	t.Logf("compiled: %d ns/record, %d allocs/record; go: %d ns/record, %d allocs/record; ratio compiled/go = %.1f",
		c.NsPerOp(), c.AllocsPerOp(), g.NsPerOp(), g.AllocsPerOp(), float64(c.NsPerOp())/float64(g.NsPerOp()))
}
