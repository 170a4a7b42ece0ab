package eval

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/synclang/synclang/connectors/connector"
)

var testFields = []*connector.Field{
	{Name: "firstname", Type: connector.String},
	{Name: "gendercode", Type: connector.Choice},
	{Name: "birthdate", Type: connector.Date},
	{Name: "custom.Contract Expiry", Type: connector.Date},
	{Name: "custom.JobTitle", Type: connector.String},
}

func TestRefs(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{`firstname`, []string{"firstname"}},
		{`lower(firstname) + x`, []string{"lower()", "firstname", "x"}},
		{`custom.JobTitle ?? custom["Contract Expiry"]`, []string{"custom.JobTitle", "custom.Contract Expiry"}},
		{`let y = firstname; y + "a"`, []string{"firstname"}},
		{`gendercode == 1 ? "MALE" : nil`, []string{"gendercode"}},
		{`filter(tags, .x == 1)`, []string{"filter()", "tags"}},
		{`len(firstname)`, []string{"len()", "firstname"}},
	}
	for _, tt := range tests {
		refs, err := Refs(tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		var got []string
		for _, r := range refs {
			n := r.Name
			if r.Call {
				n += "()"
			}
			got = append(got, n)
			if tt.src[r.From:r.To] == "" {
				t.Errorf("%s: empty span for %s", tt.src, r.Name)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Refs(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestRefsByteOffsets(t *testing.T) {
	src := `"é€" + firstname`
	refs, err := Refs(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || src[refs[0].From:refs[0].To] != "firstname" {
		t.Fatalf("refs = %+v", refs)
	}
}

func TestCompileRun(t *testing.T) {
	tests := []struct {
		src  string
		rec  map[string]any
		typ  connector.Type
		want any
	}{
		{`gendercode == 1 ? "MALE" : gendercode == 2 ? "FEMALE" : nil`, map[string]any{"gendercode": int64(2)}, connector.String, "FEMALE"},
		{`gendercode == 1 ? "MALE" : gendercode == 2 ? "FEMALE" : nil`, map[string]any{}, connector.String, nil},
		{`lower(firstname)`, map[string]any{}, connector.String, nil},
		{`lower(firstname)`, map[string]any{"firstname": "ANA"}, connector.String, "ana"},
		{`custom.JobTitle`, map[string]any{"custom.JobTitle": "CTO"}, connector.String, "CTO"},
		{`custom["Contract Expiry"]`, map[string]any{"custom.Contract Expiry": time.Date(2018, 6, 1, 0, 0, 0, 0, time.UTC)}, connector.Date, time.Date(2018, 6, 1, 0, 0, 0, 0, time.UTC)},
		{`e164("020 7946 0958", "GB")`, nil, connector.String, "+442079460958"},
		{`msisdn("+41 79 302 67 27", "")`, nil, connector.String, "41793026727"},
		{`msisdn("41793026727", "")`, nil, connector.String, "41793026727"},
		{`isPhone("12", "GB")`, nil, connector.Bool, false},
		{`normEmail("  Ana.Lima@Example.com ")`, nil, connector.String, "ana.lima@example.com"},
		{`coalesce(nil, " ", firstname, "x")`, map[string]any{"firstname": "F"}, connector.String, "F"},
		{`toDate("15/01/1966", "02/01/2006") == toDate("1966-01-15")`, nil, connector.Bool, true},
		{`toDateTime("2018-03-29T13:46:31") == toDateTime("2018-03-29T15:46:31+02:00")`, nil, connector.Bool, true},
		{`formatDate(birthdate, "02.01.2006")`, map[string]any{"birthdate": time.Date(1966, 1, 15, 0, 0, 0, 0, time.UTC)}, connector.String, "15.01.1966"},
		{`gendercode + 1`, map[string]any{"gendercode": int64(1)}, connector.Int, int64(2)},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, testFields)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		got, err := Run(p, Env(connector.Record{Fields: tt.rec}, testFields), tt.typ)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if !connector.Equal(got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.src, got, tt.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	for _, src := range []string{`normEmail("not an address")`, `e164("12", "GB")`, `toDate("31/31/2020", "02/01/2006")`} {
		p, err := Compile(src, testFields)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Run(p, Env(connector.Record{}, testFields), connector.String); err == nil {
			t.Errorf("%s: want an error", src)
		}
	}
}

func TestFuncExamples(t *testing.T) {
	for _, f := range Funcs {
		p, err := Compile(f.Example, testFields)
		if err != nil {
			t.Fatalf("%s example: %v", f.Name, err)
		}
		got, err := Run(p, Env(connector.Record{}, testFields), connector.Bool)
		if err != nil || got != true {
			t.Errorf("%s example %q = %v, %v", f.Name, f.Example, got, err)
		}
	}
}

func TestStaticTypes(t *testing.T) {
	tests := []struct {
		src  string
		want connector.Type
	}{
		{`firstname`, connector.String},
		{`gendercode`, connector.Int},
		{`gendercode == 1 ? "MALE" : nil`, connector.String},
		{`firstname ?? 1`, ""},
		{`toDate(firstname)`, connector.DateTime},
		{`lower(firstname)`, connector.String},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, testFields)
		if err != nil {
			t.Fatal(err)
		}
		if got := TypeOf(p.Node().Type()); got != tt.want {
			t.Errorf("%s: type %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestStringEqualityWithNil(t *testing.T) {
	fields := []*connector.Field{{Name: "gender", Type: connector.String}}
	tests := []struct {
		src  string
		rec  map[string]any
		want any
	}{
		{`gender == "MALE" ? 1 : gender == "FEMALE" ? 2 : nil`, map[string]any{}, nil},
		{`gender == "MALE" ? 1 : gender == "FEMALE" ? 2 : nil`, map[string]any{"gender": "FEMALE"}, int64(2)},
		{`gender != "MALE"`, map[string]any{}, true},
		{`gender == nil`, map[string]any{}, true},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, fields)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		typ := connector.Int
		if _, ok := tt.want.(bool); ok {
			typ = connector.Bool
		}
		got, err := Run(p, Env(connector.Record{Fields: tt.rec}, fields), typ)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s over %v = %v, %v; want %v", tt.src, tt.rec, got, err, tt.want)
		}
	}
}

// TestNestingLimit: an expression of a million nested brackets (from a plan
// edited by hand) is an error, not a stack overflow in expr's parser;
// brackets inside strings do not count.
func TestNestingLimit(t *testing.T) {
	deep := strings.Repeat("(", 1_000_000) + "1" + strings.Repeat(")", 1_000_000)
	if _, err := Compile(deep, nil); err == nil || !strings.Contains(err.Error(), "nest more than 100") {
		t.Errorf("Compile: %v", err)
	}
	if _, err := Refs(deep); err == nil {
		t.Error("Refs accepted a million nested brackets")
	}
	if _, err := Compile(`"`+strings.Repeat("(", 200)+`" + '\'' + `+"`"+`\`+"`", nil); err != nil {
		t.Errorf("brackets in strings counted: %v", err)
	}
}

// TestCompilerMatchesExprCompile: a Compiler reused for many expressions
// gives the programs and the errors expr.Compile gives with a configuration
// of its own per expression, whatever was compiled before, also from
// several goroutines at once (run with -race).
func TestCompilerMatchesExprCompile(t *testing.T) {
	srcs := []string{
		`lower(firstname) + "x"`,
		`gendercode == 1 ? "MALE" : gendercode == 2 ? "FEMALE" : nil`,
		`custom.JobTitle ?? custom["Contract Expiry"]`,
		`firstname + 1`,
		`nosuchfield`,
		`birthdate`,
		`trim(firstname) == "" ? nil : upper(firstname)`,
		`filter([1, 2, 3], # > 1)`,
	}
	c := NewCompiler(testFields)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range srcs {
				src := srcs[(i+g)%len(srcs)]
				want, wantErr := expr.Compile(src, Options(testFields)...)
				got, err := c.Compile(src)
				if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Errorf("%s: error %v, expr.Compile says %v", src, err, wantErr)
					continue
				}
				if err != nil {
					continue
				}
				nilSafeEquality(want)
				if got.Disassemble() != want.Disassemble() {
					t.Errorf("%s: program\n%s\nexpr.Compile's\n%s", src, got.Disassemble(), want.Disassemble())
				}
			}
		}()
	}
	wg.Wait()
	if CompilerFor(testFields) != CompilerFor(append([]*connector.Field(nil), testFields...)) {
		t.Error("CompilerFor made two compilers for the same fields")
	}
}

// BenchmarkCompile compares compiling with a reused Compiler and with
// expr.Compile's per-call configuration; report the ratio of the two.
func BenchmarkCompile(b *testing.B) {
	const src = `gendercode == 1 ? "MALE" : gendercode == 2 ? "FEMALE" : nil`
	b.Run("expr.Compile", func(b *testing.B) {
		for range b.N {
			if _, err := expr.Compile(src, Options(testFields)...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Compiler", func(b *testing.B) {
		c := NewCompiler(testFields)
		for range b.N {
			if _, err := c.Compile(src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
