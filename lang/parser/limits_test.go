package parser

import (
	"strings"
	"testing"
)

// TestLimits: hostile files get one "limit" diagnostic at the place that
// exceeds it, instead of a stack overflow (a million nested brackets crashed
// the process with `fatal error: stack overflow`), or a parse of megabytes.
func TestLimits(t *testing.T) {
	head := "sync s {\n  crm.contact -> x.y\n  "
	deep := func(open, close string, n int) string {
		return head + strings.Repeat(open, n) + "1" + strings.Repeat(close, n) + " -> firstName\n}\n"
	}
	// lines breaks a run of brackets into lines of 1000 (an expression's
	// brackets may span lines), to stay inside the file and line limits.
	lines := func(s string, n int) string {
		return strings.Repeat(strings.Repeat(s, 1000)+"\n", n/1000)
	}
	for _, tc := range []struct {
		name, src, summary string
		line, col          int
	}{
		{"1M parens", deep("(", ")", 1_000_000), "File too large", 1, 1},
		{"1M braces", deep("{", "}", 1_000_000), "File too large", 1, 1},
		{"parens", head + lines("(", 400_000) + "1" + lines(")", 400_000) + " -> firstName\n}\n", "Nesting too deep", 3, 3 + MaxNesting - 1},
		{"braces", head + lines("{", 400_000) + "1" + lines("}", 400_000) + " -> firstName\n}\n", "Nesting too deep", 3, 3 + MaxNesting - 1},
		{"unclosed", lines("{", 900_000), "Nesting too deep", 1, MaxNesting + 1},
		{"bad decl blocks", "x " + strings.Repeat("{", 200) + strings.Repeat("}", 200), "Nesting too deep", 1, 3 + MaxNesting},
		{"long line", head + strings.Repeat("a", 180_000) + " -> firstName\n}\n", "Line too long", 3, MaxLineLength + 1},
		{"huge identifier", strings.Repeat("a", 10<<20), "File too large", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := Parse("a.sync", []byte(tc.src))
			if f == nil || len(diags) != 1 {
				t.Fatalf("file %v, %d diagnostics, want one: %v", f, len(diags), diags)
			}
			d := diags[0]
			if d.Code != "limit" || d.Summary != tc.summary || d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
				t.Errorf("got %s %q at %d:%d, want limit %q at %d:%d", d.Code, d.Summary, d.Subject.Start.Line, d.Subject.Start.Column, tc.summary, tc.line, tc.col)
			}
		})
	}
	// At the limit, the file parses.
	if _, diags := Parse("a.sync", []byte(deep("(", ")", MaxNesting-1))); diags.HasErrors() {
		t.Errorf("nesting %d: %v", MaxNesting, diags)
	}
}
