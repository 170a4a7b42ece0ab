package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people/emulator"
)

const emulatePeopleDoc = `Serve an in-memory Infobip People API (persons, batch, match, v3 upsert,
custom attributes, tags) on its real paths, seeded with sample persons whose
emails overlap the Dynamics emulator's contacts. It prints the base URL and
API key, and the environment variables a connection block can read with
env("INFOBIP_BASE_URL") and secret("INFOBIP_API_KEY"). It serves until
interrupted.`

// emulatePeople runs `synclang emulate people`.
func emulatePeople(ctx context.Context, s *Stdio, args []string) int {
	fs := newFlags(s, "emulate people", "[--addr HOST:PORT] [--seed N] [--limits real|off] [--api-key KEY]", emulatePeopleDoc)
	addr := fs.String("addr", "127.0.0.1:8082", "address to listen on (clients accept plain http only on loopback)")
	seed := fs.Int("seed", 100, "number of sample persons to create (0: none, and no custom attributes)")
	limits := fs.String("limits", "real", "rate limits: real (429 past each endpoint's documented rate, in fixed one-second windows), sliding (the same, in the second before each request) or off")
	apiKey := fs.String("api-key", "", "API key clients must send (default: a random one)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !noArgs(s, fs) {
		return exitUsage
	}
	if !oneOf(s, "emulate people", "limits", *limits, "real", "sliding", "off") {
		return exitUsage
	}
	if *seed < 0 {
		fmt.Fprintf(s.Err, "synclang emulate people: --seed must be 0 or more, not %d\n", *seed)
		return exitUsage
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang emulate people: cannot listen on %s: %v\n", *addr, err)
		return exitError
	}
	emu := emulator.New(emulator.Options{Seed: *seed, Limits: *limits, APIKey: *apiKey})
	base := "http://" + ln.Addr().String()
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil && !connector.IsLoopback(host) {
		fmt.Fprintf(s.Err, "warning: %s is not a loopback address; synclang connects to it only over https, which the emulator does not serve\n", host)
	}
	fmt.Fprintf(s.Out, "People API emulator listening on %s (%d persons, limits %s)\n", base, *seed, *limits)
	fmt.Fprintf(s.Out, "API key: %s\n\n", emu.APIKey())
	fmt.Fprintf(s.Out, "export INFOBIP_BASE_URL=%s\n", base)
	fmt.Fprintf(s.Out, "export INFOBIP_API_KEY=%s\n", emu.APIKey())

	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(s.Err, "synclang emulate people: %v\n", err)
		return exitError
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(s.Err, "synclang emulate people: %v\n", err)
		return exitError
	}
	return exitOK
}
