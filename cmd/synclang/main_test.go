package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"synclang": scriptSynclang,
	}))
}

// TestScripts runs the CLI scripts in testdata/script: exit status,
// stdout and stderr of real invocations, the runtime commands against the
// emulators (script_world_test.go).
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: scriptSetup,
		Cmds:  scriptCmds,
	})
}

// genFile is the script command `gen FILE PART...`: it writes FILE from
// the parts, each TEXT or N*TEXT (TEXT repeated N times), with \n in TEXT
// a newline. Scripts use it for hostile files too big to write out
// (a million nested brackets, 40,000 duplicate lines).
func genFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: gen FILE PART...")
	}
	var b strings.Builder
	for _, part := range args[1:] {
		n := 1
		if count, text, ok := strings.Cut(part, "*"); ok {
			if c, err := strconv.Atoi(count); err == nil {
				n, part = c, text
			}
		}
		b.WriteString(strings.Repeat(strings.ReplaceAll(part, `\n`, "\n"), n))
	}
	if err := os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o644); err != nil {
		ts.Fatalf("gen: %v", err)
	}
}
