package main

import (
	"context"
	"fmt"

	"github.com/synclang/synclang/lang/diag"
)

var checkCmd = &command{
	name:    "check",
	summary: "check .sync files: names, types, directions, links (offline)",
	run:     runCheck,
}

type checkOptions struct {
	format string
	strict bool
	paths  []string
}

func runCheck(ctx context.Context, s *Stdio, args []string) int {
	var opts checkOptions
	fs := newFlags(s, "check", "[flags] [PATHS]",
		"Check .sync files (or directories of them; default .) against the connection kinds' schemas and the\n"+
			"schema snapshots next to them. Exits 0 when clean (warnings allowed unless --strict), 1 on errors.")
	fs.StringVar(&opts.format, "format", "text", "output: text, json (stable schema, see SPEC.md) or github (workflow annotations)")
	fs.BoolVar(&opts.strict, "strict", false, "treat warnings as errors")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !oneOf(s, "check", "format", opts.format, "text", "json", "github") {
		return exitUsage
	}
	opts.paths = fs.Args()
	p, err := loadProjectWithTests(ctx, s, opts.paths)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang check: %v\n", err)
		return exitError
	}
	switch opts.format {
	case "json":
		_ = diag.WriteJSON(s.Out, p.diags)
	case "github":
		_ = diag.WriteGitHub(s.Out, p.diags)
	default:
		writeDiags(s, p.diags, p.sources)
	}
	errs, warns := p.diags.Count()
	if errs > 0 || (opts.strict && warns > 0) {
		return exitError
	}
	return exitOK
}
