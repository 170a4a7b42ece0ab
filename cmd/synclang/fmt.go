package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	udiff "github.com/rogpeppe/go-internal/diff"

	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/format"
)

var fmtCmd = &command{
	name:    "fmt",
	summary: "format .sync files in the canonical layout",
	run:     runFmt,
}

func runFmt(ctx context.Context, s *Stdio, args []string) int {
	var write, check, list, diff bool
	fs := newFlags(s, "fmt", "[-w | -l | -d | --check] [PATHS]",
		"Format .sync files (or directories of them; default .). Only white space changes; comments are kept.\n"+
			"Without flags the formatted files are printed.")
	fs.BoolVarP(&write, "write", "w", false, "rewrite files in place")
	fs.BoolVarP(&list, "list", "l", false, "list files whose formatting differs")
	fs.BoolVarP(&diff, "diff", "d", false, "print a unified diff of what formatting would change (writes nothing)")
	fs.BoolVar(&check, "check", false, "list files that would change and exit 1 if there are any (for CI)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	inputs, err := lang.LoadWithTests(ctx, defaultPaths(fs.Args()))
	if err != nil {
		fmt.Fprintf(s.Err, "synclang fmt: %v\n", err)
		return exitError
	}
	code := exitOK
	var diags diag.Diagnostics
	changed := 0
	for _, in := range inputs {
		out, ds := format.Source(in.Name, in.Src)
		if ds.HasErrors() {
			diags = diags.Extend(ds)
			code = exitError
			continue
		}
		same := bytes.Equal(out, in.Src)
		switch {
		case diff:
			if !same {
				_, _ = s.Out.Write(udiff.Diff(in.Name+".orig", in.Src, in.Name, out))
			}
		case check || list:
			if !same {
				fmt.Fprintln(s.Out, in.Name)
				changed++
			}
		case write:
			if !same {
				if err := os.WriteFile(in.Name, out, 0o644); err != nil {
					fmt.Fprintf(s.Err, "synclang fmt: %v\n", err)
					code = exitError
				}
			}
		default:
			_, _ = s.Out.Write(out)
		}
	}
	writeDiags(s, diags, lang.Sources(inputs))
	if check && changed > 0 {
		fmt.Fprintf(s.Err, "%s not formatted: run `synclang fmt -w`\n", plural(changed, "file"))
		return exitError
	}
	return code
}
