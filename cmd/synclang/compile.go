package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	if out != "" {
		// Record where the project is, relative to the plan, so that
		// `synclang run PLAN` uses the project's state (SPEC.md "Plans").
		if rel, err := projectFromPlan(out, p.dir); err == nil {
			p.plan.Project = rel
		}
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

// projectFromPlan is the project directory dir as seen from the plan file
// planFile: relative, slash-separated.
func projectFromPlan(planFile, dir string) (string, error) {
	from, err := filepath.Abs(filepath.Dir(planFile))
	if err != nil {
		return "", err
	}
	to, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(from, to)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}
