package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
)

var emulateCmd = &command{
	name:    "emulate",
	summary: "emulate KIND: serve a local stand-in for Dynamics or People (tests, demos)",
	run:     runEmulate,
}

// emulators maps a connection kind to the command serving its emulator.
var emulators = map[string]func(ctx context.Context, s *Stdio, args []string) int{
	"dynamics": emulateDynamics,
	"people":   emulatePeople,
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

// emulatorBase is the URL to print for an emulator listening on ln: a
// wildcard address (0.0.0.0, [::]) is not one a client can dial, so the
// URL names 127.0.0.1 (this machine) and a warning says what other
// machines can do. Both emulators print it and their warnings the same way.
func emulatorBase(s *Stdio, cmd string, ln net.Listener) string {
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return "http://" + ln.Addr().String()
	}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.IsUnspecified():
		base := "http://" + net.JoinHostPort("127.0.0.1", port)
		fmt.Fprintf(s.Err, "synclang %s: warning: listening on every interface (%s); on this machine use %s. "+
			"synclang on other machines will not connect: connectors send credentials over plain http only to loopback addresses, and the emulator serves no https.\n",
			cmd, ln.Addr(), base)
		return base
	case !connector.IsLoopback(host):
		fmt.Fprintf(s.Err, "synclang %s: warning: %s is not a loopback address; synclang connects to it only over https, which the emulator does not serve.\n", cmd, host)
	}
	return "http://" + ln.Addr().String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
