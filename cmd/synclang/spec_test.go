package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/parser"
)

var updateSpec = flag.Bool("update-spec", false, "rewrite the generated sections of SPEC.md")

// specSections renders the parts of SPEC.md that restate the code: the
// grammar, the connection kinds (settings, declarations, standard schemas),
// the functions and the diagnostic codes. TestSpecIsTrue keeps SPEC.md equal
// to them.
func specSections() map[string]string {
	reg := DefaultRegistry()
	sections := map[string]string{}
	sections["grammar"] = "```ebnf\n" + parser.Grammar() + "\n```\n"

	var kinds strings.Builder
	for _, name := range reg.Names() {
		k, _ := reg.Kind(name)
		fmt.Fprintf(&kinds, "#### Kind `%s`\n\n%s\n\n", k.Name, k.Doc)
		kinds.WriteString("| setting | required | secret | default | values | meaning |\n|---|---|---|---|---|---|\n")
		for _, s := range k.Settings {
			fmt.Fprintf(&kinds, "| `%s` | %s | %s | %s | %s | %s |\n", s.Name, yes(s.Required), yes(s.Secret), code(s.Default), codes(s.Values), escapeCell(s.Doc))
		}
		if d := k.Declare; d != nil {
			form := d.Keyword + ` "NAME" TYPE`
			scope := "every entity of the connection, as field `" + d.Prefix + "NAME`"
			if d.Scoped {
				form = d.Keyword + " TABLE.NAME TYPE"
				scope = "that table"
			}
			var types []string
			for _, t := range d.Types {
				types = append(types, "`"+string(t)+"`")
			}
			fmt.Fprintf(&kinds, "\nCustom fields are declared as `%s` and apply to %s. Types: %s.\n", form, scope, strings.Join(types, ", "))
		}
		if k.LinkRequired {
			kinds.WriteString("\nA sync that writes into this kind must link the entity's primary key (see `missing-link`).\n")
		}
		kinds.WriteString("\n")
	}
	sections["kinds"] = kinds.String()

	var schemas strings.Builder
	for _, name := range reg.Names() {
		k, _ := reg.Kind(name)
		for _, e := range k.Schema.Entities {
			fmt.Fprintf(&schemas, "#### `%s.%s`\n\n%s Key `%s`", k.Name, e.Name, e.Doc, e.Key)
			if e.Modified != "" {
				fmt.Fprintf(&schemas, ", modified `%s`", e.Modified)
			}
			fmt.Fprintf(&schemas, "; incremental reads: %s; reports deletions: %s.\n\n", yesNo(e.Incremental), yesNo(e.Deletes))
			schemas.WriteString("| field | type | max | flags | values | meaning |\n|---|---|---|---|---|---|\n")
			for _, f := range e.Fields {
				var flags []string
				for _, fl := range []struct {
					on   bool
					name string
				}{{f.ReadOnly, "read-only"}, {f.Lookup, "lookup"}, {f.Unique, "unique"}, {f.CaseInsensitive, "case-insensitive"}} {
					if fl.on {
						flags = append(flags, fl.name)
					}
				}
				var values []string
				for _, o := range f.Options {
					values = append(values, fmt.Sprintf("%d %s", o.Value, o.Label))
				}
				for _, v := range f.Enum {
					values = append(values, "`"+v+"`")
				}
				max := ""
				if f.MaxLength > 0 {
					max = fmt.Sprint(f.MaxLength)
				}
				fmt.Fprintf(&schemas, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, f.Type, max, strings.Join(flags, ", "), strings.Join(values, ", "), escapeCell(f.Doc))
			}
			schemas.WriteString("\n")
		}
	}
	sections["schemas"] = schemas.String()

	var funcs strings.Builder
	funcs.WriteString("| function | meaning | example (true) |\n|---|---|---|\n")
	for _, f := range eval.Funcs {
		fmt.Fprintf(&funcs, "| `%s` | %s | `%s` |\n", f.Signature, escapeCell(f.Doc), escapeCell(f.Example))
	}
	sections["functions"] = funcs.String()

	var codesB strings.Builder
	codesB.WriteString("| code | severity | meaning |\n|---|---|---|\n")
	for _, c := range check.Codes {
		fmt.Fprintf(&codesB, "| `%s` | %s | %s |\n", c.Name, c.Severity, escapeCell(c.Doc))
	}
	sections["codes"] = codesB.String()

	var types strings.Builder
	types.WriteString("| type | Go value in a record | in expressions |\n|---|---|---|\n")
	goTypes := map[connector.Type][2]string{
		connector.String: {"string", "string"}, connector.Int: {"int64", "int"}, connector.Decimal: {"float64", "float"},
		connector.Bool: {"bool", "bool"}, connector.Date: {"time.Time, 00:00 UTC", "date (time)"},
		connector.DateTime: {"time.Time, UTC", "date (time)"}, connector.ID: {"string", "string"},
		connector.Choice: {"int64, one of the options", "int"}, connector.List: {"[]any of strings", "array"},
		connector.Object: {"any JSON value", "any"},
	}
	for _, t := range connector.Types {
		g := goTypes[t]
		fmt.Fprintf(&types, "| `%s` | %s | %s |\n", t, g[0], g[1])
	}
	sections["types"] = types.String()
	return sections
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func codes(ss []string) string {
	var out []string
	for _, s := range ss {
		out = append(out, code(s))
	}
	return strings.Join(out, ", ")
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

var sectionRx = regexp.MustCompile(`(?s)<!-- generated:([a-z]+) -->\n.*?<!-- /generated -->`)

func TestSpecIsTrue(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := specSections()
	seen := map[string]bool{}
	out := sectionRx.ReplaceAllStringFunc(string(data), func(m string) string {
		name := sectionRx.FindStringSubmatch(m)[1]
		body, ok := sections[name]
		if !ok {
			t.Errorf("SPEC.md has an unknown generated section %q", name)
			return m
		}
		seen[name] = true
		return "<!-- generated:" + name + " -->\n" + body + "<!-- /generated -->"
	})
	for name := range sections {
		if !seen[name] {
			t.Errorf("SPEC.md lacks the generated section %q", name)
		}
	}
	if *updateSpec {
		if err := os.WriteFile("../../SPEC.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out != string(data) {
		t.Error("SPEC.md does not match the code (grammar, kinds, schemas, functions or codes); run go test ./cmd/synclang -run TestSpecIsTrue -update-spec and review the diff")
	}
}
