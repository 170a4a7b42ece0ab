package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
)

var compileCmd = &command{
	name:    "compile",
	summary: "check .sync files and print the plan as versioned JSON",
	run:     runCompile,
}

func runCompile(ctx context.Context, s *Stdio, args []string) int {
	var out string
	fs := newFlags(s, "compile", "[-o FILE] [PATHS]",
		"Check .sync files and write the checked plan as deterministic, versioned JSON (what `synclang run` executes).")
	fs.StringVarP(&out, "output", "o", "", "write the plan to FILE instead of standard output")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	p, err := loadProject(ctx, s, fs.Args())
	if err != nil {
		fmt.Fprintf(s.Err, "synclang compile: %v\n", err)
		return exitError
	}
	writeDiags(s, p.diags, p.sources)
	if p.plan == nil {
		return exitError
	}
	var buf bytes.Buffer
	if err := p.plan.Encode(&buf); err != nil {
		fmt.Fprintf(s.Err, "synclang compile: %v\n", err)
		return exitError
	}
	if out == "" {
		_, _ = s.Out.Write(buf.Bytes())
		return exitOK
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(s.Err, "synclang compile: %v\n", err)
		return exitError
	}
	return exitOK
}
