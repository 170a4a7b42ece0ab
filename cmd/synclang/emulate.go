package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/emulate"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang/diag"
)

var emulateCmd = &command{
	name:    "emulate",
	summary: "emulate KIND: serve a local stand-in for a service (" + strings.Join(emulatorNames(), ", ") + "), for tests and demos",
	run:     runEmulate,
}

// emulatorNames are the kinds with an emulator, sorted.
func emulatorNames() []string {
	_, names := kinds.Emulators()
	return names
}

func runEmulate(ctx context.Context, s *Stdio, args []string) int {
	specs, names := kinds.Emulators()
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintf(s.Err, "Usage: synclang emulate KIND [flags]\n\nServe an emulator of a connection kind on loopback: %s.\n"+
			"Run `synclang emulate KIND --help` for its flags.\n", strings.Join(names, ", "))
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	spec, ok := specs[args[0]]
	if !ok {
		fmt.Fprintf(s.Err, "synclang emulate: no emulator for %q (have %s)\n", args[0], strings.Join(names, ", "))
		return exitUsage
	}
	return emulateKind(ctx, s, args[0], spec, args[1:])
}

// emulateKind implements `synclang emulate KIND [--addr HOST:PORT] [--seed
// N] [--limits MODE] [the emulator's own flags]` for every kind alike: it
// serves the emulator spec builds, prints how to connect to it and edit its
// data in one layout, and serves until ctx is done.
func emulateKind(ctx context.Context, s *Stdio, kind string, spec *emulate.Spec, args []string) int {
	name := "emulate " + kind
	modes := make([]string, len(spec.Limits))
	for i, m := range spec.Limits {
		modes[i] = string(m)
	}
	usage := "[--addr " + spec.Addr + "] [--seed N] [--limits " + strings.Join(modes, "|") + "]"
	for _, f := range spec.Flags {
		usage += " [--" + f.Name + " " + f.Value + "]"
	}
	fs := newFlags(s, name, usage, spec.Doc)
	addr := fs.String("addr", spec.Addr, "address to listen on (a loopback address: connectors send credentials over plain http only there)")
	seed := fs.Int("seed", 100, spec.SeedDoc)
	limits := fs.String("limits", string(emulate.DefaultLimits), spec.LimitsDoc)
	own := map[string]*string{}
	for _, f := range spec.Flags {
		own[f.Name] = fs.String(f.Name, "", f.Doc)
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !noArgs(s, fs) || !oneOf(s, name, "limits", *limits, append([]string(nil), modes...)...) {
		return exitUsage
	}
	if *seed < 0 {
		fmt.Fprintf(s.Err, "synclang %s: --seed must be 0 or more, not %d\n", name, *seed)
		return exitUsage
	}
	o := emulate.Options{Seed: *seed, Limits: emulate.Limits(*limits), Flags: map[string]string{}}
	for n, v := range own {
		o.Flags[n] = *v
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang %s: cannot listen on %s: %v (choose another --addr)\n", name, *addr, err)
		return exitError
	}
	emu := spec.New(o)
	base := emulatorBase(s, name, ln)
	writeIntro(s, spec.Title, base, o.Limits, emu.Intro(base))

	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		// Serve returns only when the listener fails.
		fmt.Fprintf(s.Err, "synclang %s: %v\n", name, err)
		return exitError
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		// A client still holds a request open: it is cut off, as Ctrl+C
		// asked.
		err = srv.Close()
	}
	if err != nil {
		fmt.Fprintf(s.Err, "synclang %s: %v\n", name, err)
		return exitError
	}
	return exitOK
}

// writeIntro prints, in the one layout of every emulator, where it serves,
// its settings, the variables to export for examples/, and commands that
// edit its data by hand.
func writeIntro(s *Stdio, title, base string, limits emulate.Limits, in emulate.Intro) {
	held := make([]string, len(in.Seeded))
	for i, h := range in.Seeded {
		held[i] = diag.Thousands(h.N) + " " + h.What
	}
	fmt.Fprintf(s.Out, "%s emulator serving on %s (%s; limits %s)\n\n", title, base, strings.Join(held, ", "), limits)
	width := 15
	for _, l := range in.Settings {
		width = max(width, len(l.Name)+2)
	}
	for _, l := range in.Settings {
		fmt.Fprintf(s.Out, "  %-*s%s\n", width, l.Name, l.Value)
	}
	fmt.Fprintf(s.Out, "\nFor examples/contacts.sync:\n\n")
	for _, l := range in.Exports {
		fmt.Fprintf(s.Out, "  export %s=%s\n", l.Name, l.Value)
	}
	fmt.Fprintf(s.Out, "\nEdit its data by hand (%s):\n\n", in.EditHow)
	for _, l := range in.Edit {
		fmt.Fprintf(s.Out, "  %s\n", l)
	}
	fmt.Fprintln(s.Out)
	fmt.Fprintln(s.Out, "Press Ctrl+C to stop.")
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
