package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

var emulateCmd = &command{
	name:    "emulate",
	summary: "emulate KIND: serve a local stand-in for Dynamics or People (tests, demos)",
	run:     runEmulate,
}

// emulators maps a connection kind to the command serving its emulator.
var emulators = map[string]func(ctx context.Context, s *Stdio, args []string) int{
	"people": emulatePeople,
}

func runEmulate(ctx context.Context, s *Stdio, args []string) int {
	kinds := make([]string, 0, len(emulators))
	for k := range emulators {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintf(s.Err, "Usage: synclang emulate KIND [flags]\n\nServe an emulator of a connection kind on loopback: %s.\n"+
			"Run `synclang emulate KIND --help` for its flags.\n", strings.Join(kinds, ", "))
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	run, ok := emulators[args[0]]
	if !ok {
		fmt.Fprintf(s.Err, "synclang emulate: no emulator for %q (have %s)\n", args[0], strings.Join(kinds, ", "))
		return exitUsage
	}
	return run(ctx, s, args[1:])
}
