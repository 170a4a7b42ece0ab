package dynamics

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/synclang/synclang/connectors/connector"
)

func TestODataLiteral(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  connector.Type
		in   any
		want string
		err  bool
	}{
		{connector.String, "plain", "'plain'", false},
		{connector.String, "O'Brien", "'O''Brien'", false},
		{connector.String, "''", "''''''", false},
		{connector.String, "x' or 1 eq 1 or 'a' eq 'a", "'x'' or 1 eq 1 or ''a'' eq ''a'", false},
		{connector.String, "Müller 東京 ✓", "'Müller 東京 ✓'", false},
		{connector.String, "100% & +1 #2", "'100% & +1 #2'", false},
		{connector.ID, "49B0BE2E-D01C-ED11-B83E-000D3A572421", "49b0be2e-d01c-ed11-b83e-000d3a572421", false},
		{connector.ID, "49b0be2e' or 1 eq 1", "", true},
		{connector.ID, "not-a-guid", "", true},
		{connector.Int, int64(42), "42", false},
		{connector.Int, 42.0, "42", false},
		{connector.Int, "1 or 1 eq 1", "", true},
		{connector.Choice, 2, "2", false},
		{connector.Decimal, 1.5, "1.5", false},
		{connector.Bool, true, "true", false},
		{connector.Bool, "true) or (1 eq 1", "", true},
		{connector.Date, "1980-05-12", "1980-05-12", false},
		{connector.Date, "1980-05-12' or 'a", "", true},
		{connector.DateTime, time.Date(2023, 4, 7, 21, 59, 1, 0, time.FixedZone("x", 3600)), "2023-04-07T20:59:01Z", false},
		{connector.String, nil, "null", false},
	}
	for _, tt := range tests {
		got, err := odataLiteral(tt.typ, tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("odataLiteral(%s, %#v) = %q, %v; want %q, error %v", tt.typ, tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestQueryEscape(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"lastname eq 'O''Brien'", "lastname%20eq%20'O''Brien'"},
		{"a+b", "a%2Bb"},
		{"a&$filter=x", "a%26%24filter%3Dx"},
		{"50%", "50%25"},
		{"#frag", "%23frag"},
		{"Müller", "M%C3%BCller"},
		{"x/y?z;w,v:u@t", "x%2Fy%3Fz%3Bw%2Cv%3Au%40t"},
		{`["a","b"]`, "%5B%22a%22%2C%22b%22%5D"},
	}
	for _, tt := range tests {
		if got := queryEscape(tt.in); got != tt.want {
			t.Errorf("queryEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := url.QueryUnescape(queryEscape(tt.in)); err != nil || back != tt.in {
			t.Errorf("queryEscape(%q) does not decode back: %q, %v", tt.in, back, err)
		}
	}
}

func TestInFilter(t *testing.T) {
	t.Parallel()
	got := inFilter("emailaddress1", []string{`a'b@x.com`, `q"u\ote@x.com`})
	want := `Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=["a'b@x.com","q\"u\\ote@x.com"])`
	if got != want {
		t.Errorf("inFilter = %s\nwant     %s", got, want)
	}
}

// parseStringFilter parses "field eq '<literal>'" the way an OData server
// does and returns the literal's value; ok is false when anything other
// than exactly one string literal follows "eq".
func parseStringFilter(field, f string) (string, bool) {
	rest, found := strings.CutPrefix(f, field+" eq '")
	if !found {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		if rest[i] == '\'' {
			if i+1 < len(rest) && rest[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), i == len(rest)-1 // the literal must end the filter
		}
		b.WriteByte(rest[i])
	}
	return "", false
}

// FuzzFilterLiteral checks that any string, once quoted and encoded, reaches
// the service as exactly one string literal with the same value.
func FuzzFilterLiteral(f *testing.F) {
	for _, s := range []string{"", "O'Brien", "x' or 1 eq 1 or 'a' eq 'a", "100%", "a&b=c", "+385", "#", "Müller", "''", "'", "\x00", "a%27b", "%2527"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		lit, err := odataLiteral(connector.String, s)
		if err != nil {
			t.Fatalf("odataLiteral(%q): %v", s, err)
		}
		q := encodeQuery(queryOption{"$filter", eqFilter("lastname", lit)})
		values, err := url.ParseQuery(q)
		if err != nil {
			t.Fatalf("the encoded query %q does not parse: %v", q, err)
		}
		if len(values) != 1 || len(values["$filter"]) != 1 {
			t.Fatalf("the encoded query %q has parameters %v, want only $filter", q, values)
		}
		got, ok := parseStringFilter("lastname", values["$filter"][0])
		if !ok || got != s {
			t.Fatalf("value %q became filter %q (parsed %q, ok %v)", s, values["$filter"][0], got, ok)
		}
	})
}
