package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

// emulateDynamicsOptions are the flags of `synclang emulate dynamics`.
type emulateDynamicsOptions struct {
	addr   string
	seed   int
	limits string
}

// emulateDynamics implements `synclang emulate dynamics [--addr
// 127.0.0.1:8081] [--seed N] [--limits real|off]`: it serves a Dataverse
// Web API and identity platform emulator, prints how to connect to it, and
// serves until ctx is done. The `emulate` dispatcher calls it.
func emulateDynamics(ctx context.Context, s *Stdio, args []string) int {
	var o emulateDynamicsOptions
	fs := newFlags(s, "emulate dynamics", "[--addr 127.0.0.1:8081] [--seed N] [--limits real|off]",
		"Serve a local Dynamics 365 (Dataverse Web API) and Microsoft sign-in emulator, seeded with sample\n"+
			"contacts and leads, and print the settings and environment variables to use with it.")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8081", "address to listen on (a loopback address: the connector allows plain http only there)")
	fs.IntVar(&o.seed, "seed", 100, "number of sample contacts to create (plus about a quarter as many leads)")
	fs.StringVar(&o.limits, "limits", "real", "service protection limits: real (6000 requests per 5 minutes, ...) or off")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !noArgs(s, fs) {
		return exitUsage
	}
	if !oneOf(s, "emulate dynamics", "limits", o.limits, "real", "off") {
		return exitUsage
	}
	if o.seed < 0 {
		fmt.Fprintf(s.Err, "synclang emulate dynamics: --seed must not be negative, not %d\n", o.seed)
		return exitUsage
	}
	return runEmulateDynamics(ctx, s, o)
}

func runEmulateDynamics(ctx context.Context, s *Stdio, o emulateDynamicsOptions) int {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang emulate dynamics: cannot listen on %s: %v (choose another --addr)\n", o.addr, err)
		return exitError
	}
	emu := emulator.New(emulator.Options{Seed: o.seed, Limits: o.limits})
	base := emulatorBase(s, "emulate dynamics", ln)
	settings := emu.Settings(base)
	cr := emu.Credentials()
	fmt.Fprintf(s.Out, "Dynamics 365 emulator serving on %s (%s contacts, %s leads; limits %s)\n\n", base, num(o.seed), num(len(emu.Rows("lead"))), o.limits)
	fmt.Fprintf(s.Out, "  Web API        %s/api/data/v9.2/\n", base)
	fmt.Fprintf(s.Out, "  authority      %s\n", base)
	fmt.Fprintf(s.Out, "  tenant         %s\n", cr.Tenant)
	fmt.Fprintf(s.Out, "  client id      %s\n", cr.ClientID)
	fmt.Fprintf(s.Out, "  client secret  %s\n\n", cr.ClientSecret)
	fmt.Fprintf(s.Out, "For examples/contacts.sync:\n\n")
	fmt.Fprintf(s.Out, "  export DYNAMICS_URL=%s\n", settings["url"])
	fmt.Fprintf(s.Out, "  export DYNAMICS_AUTHORITY=%s\n", settings["authority"])
	fmt.Fprintf(s.Out, "  export AZURE_TENANT_ID=%s\n", cr.Tenant)
	fmt.Fprintf(s.Out, "  export AZURE_CLIENT_ID=%s\n", cr.ClientID)
	fmt.Fprintf(s.Out, "  export AZURE_CLIENT_SECRET=%s\n\n", cr.ClientSecret)
	// An example of editing the data by hand: a token from the emulator's
	// sign-in endpoint (client credentials), then the Web API.
	fmt.Fprintf(s.Out, "Edit its data by hand (a token from its sign-in endpoint, then the Web API):\n\n")
	fmt.Fprintf(s.Out, "  TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=%s -d %s -d %s %s | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n",
		cr.ClientID, shellQuote("client_secret="+cr.ClientSecret), shellQuote("scope="+base+"/.default"), shellQuote(base+"/"+cr.Tenant+"/oauth2/v2.0/token"))
	fmt.Fprintf(s.Out, "  curl -s -H \"Authorization: Bearer $TOKEN\" %s\n", shellQuote(base+"/api/data/v9.2/contacts?$select=fullname,jobtitle&$top=3"))
	if rows := emu.Rows("contact"); len(rows) > 0 {
		id, _ := rows[0]["contactid"].(string)
		fmt.Fprintf(s.Out, "  curl -s -X PATCH -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"jobtitle\":\"CTO\"}' %s\n",
			shellQuote(base+"/api/data/v9.2/contacts("+id+")"))
	}
	fmt.Fprintln(s.Out)
	fmt.Fprintln(s.Out, "Press Ctrl+C to stop.")

	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(s.Err, "synclang emulate dynamics: %v\n", err)
			return exitError
		}
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}
	return exitOK
}
