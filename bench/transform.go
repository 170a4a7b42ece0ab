package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// TransformResult compares the compiled contacts mapping with the same
// mapping written in Go, as runtime/engine's BenchmarkTransform measures
// them (bench_transform_test.go; TestHandMappingEqualsCompiled checks the
// two compute the same). The benchmark needs the engine's unexported
// evaluation code, so it runs as `go test -bench` in the module, and the
// figures are read from its output.
type TransformResult struct {
	Compiled, Go BenchLine
	GoMaxProcs   int
	Command      string
}

// BenchLine is one benchmark's figures per record.
type BenchLine struct {
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
}

// Ratio is compiled time per record over hand-written time per record.
func (t *TransformResult) Ratio() float64 {
	if t.Go.NsPerOp == 0 {
		return 0
	}
	return t.Compiled.NsPerOp / t.Go.NsPerOp
}

// measureTransform runs BenchmarkTransform in the module that holds the
// examples directory.
func measureTransform(ctx context.Context, examples string) (*TransformResult, error) {
	root := filepath.Dir(examples)
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkTransform$", "-benchmem", "-benchtime", "2s", "-count", "3", "./runtime/engine"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	t, err := parseTransform(out.String())
	if err != nil {
		return nil, err
	}
	t.Command = "go " + strings.Join(args, " ")
	return t, nil
}

// parseTransform reads `go test -bench` output lines such as
//
//	BenchmarkTransform/compiled-2   1000000   1234 ns/op   456 B/op   7 allocs/op
//
// keeping, per sub-benchmark, the fastest of the -count repetitions (the
// one least disturbed by other work on a shared machine).
func parseTransform(out string) (*TransformResult, error) {
	t := &TransformResult{}
	var seen [2]bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkTransform/") {
			continue
		}
		name := strings.TrimPrefix(f[0], "BenchmarkTransform/")
		procs := 1
		if i := strings.LastIndexByte(name, '-'); i >= 0 {
			if n, err := strconv.Atoi(name[i+1:]); err == nil {
				name, procs = name[:i], n
			}
		}
		var line BenchLine
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				line.NsPerOp = v
			case "B/op":
				line.BytesPerOp = v
			case "allocs/op":
				line.AllocsPerOp = v
			}
		}
		if line.NsPerOp == 0 {
			continue
		}
		var dst *BenchLine
		var k int
		switch name {
		case "compiled":
			dst, k = &t.Compiled, 0
		case "go":
			dst, k = &t.Go, 1
		default:
			continue
		}
		if !seen[k] || line.NsPerOp < dst.NsPerOp {
			*dst = line
		}
		seen[k] = true
		t.GoMaxProcs = procs
	}
	if !seen[0] || !seen[1] {
		return nil, fmt.Errorf("no BenchmarkTransform/compiled and /go lines in:\n%s", out)
	}
	return t, nil
}
