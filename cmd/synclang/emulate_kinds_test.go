package main

import (
	"context"

	"github.com/synclang/synclang/internal/kinds"
)

// emulateDynamics and emulatePeople are `synclang emulate dynamics|people`
// ARGS, for the tests written when each kind had a command of its own; the
// one serve loop (emulateKind) serves every kind of internal/kinds now.
func emulateDynamics(ctx context.Context, s *Stdio, args []string) int {
	return emulateTestKind(ctx, s, "dynamics", args)
}

func emulatePeople(ctx context.Context, s *Stdio, args []string) int {
	return emulateTestKind(ctx, s, "people", args)
}

func emulateTestKind(ctx context.Context, s *Stdio, kind string, args []string) int {
	specs, _ := kinds.Emulators()
	return emulateKind(ctx, s, kind, specs[kind], args)
}
