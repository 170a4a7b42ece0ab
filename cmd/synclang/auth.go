package main

import (
	"context"
	"fmt"

	"github.com/synclang/synclang/connectors/dynamics"
)

// authLoginOptions are the arguments and flags of `synclang auth login`.
type authLoginOptions struct {
	connection string
	paths      []string
	// Settings given on the command line; they stand in for the
	// connection block until the project's .sync files are read here.
	url, tenant, clientID, authority, secretEnv string
	cacheDir                                    string
}

var authCmd = &command{
	name:    "auth",
	summary: "sign in to a service for auth = \"refresh_token\" connections (auth login CONNECTION)",
	run:     runAuth,
}

func runAuth(ctx context.Context, s *Stdio, args []string) int {
	if len(args) == 0 || args[0] != "login" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(s.Err, "Usage: synclang auth login CONNECTION [PATHS] [flags]\n\nRun `synclang help auth` or `synclang auth login --help` for the flags.")
			return exitOK
		}
		fmt.Fprintln(s.Err, "Usage: synclang auth login CONNECTION [PATHS] [flags]")
		return exitUsage
	}
	var o authLoginOptions
	fs := newFlags(s, "auth login", "CONNECTION [PATHS] --url URL --tenant TENANT --client-id ID [flags]",
		"Sign in to Dynamics 365 as yourself (authorization code with PKCE): print a URL to open in a browser,\n"+
			"wait for the sign-in to come back to a loopback port, and store the refresh token in your per-user\n"+
			"token cache (never in the project folder). Connections with auth = \"refresh_token\" then use it.")
	fs.StringVar(&o.url, "url", "", "the environment URL, e.g. https://org0000000.crm4.dynamics.com")
	fs.StringVar(&o.tenant, "tenant", "", "the Entra ID tenant (GUID or domain name)")
	fs.StringVar(&o.clientID, "client-id", "", "the app registration's application (client) ID")
	fs.StringVar(&o.authority, "authority", dynamics.DefaultAuthority, "the identity platform host")
	fs.StringVar(&o.secretEnv, "client-secret-env", "", "name of an environment variable holding a client secret (web app registrations only)")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "token cache directory (default: the per-user cache directory)")
	_ = fs.MarkHidden("cache-dir")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(s.Err, "synclang auth login: name the connection to sign in for (CONNECTION)")
		return exitUsage
	}
	o.connection, o.paths = fs.Arg(0), fs.Args()[1:]
	settings, code := o.settings(s)
	if code != exitOK {
		return code
	}
	err := dynamics.Login(ctx, settings, dynamics.LoginOptions{
		Name:       o.connection,
		CacheDir:   o.cacheDir,
		HTTPClient: s.HTTPClient,
		OpenURL: func(u string) {
			fmt.Fprintf(s.Err, "Open this URL in a browser and sign in:\n\n  %s\n\nWaiting for the sign-in to complete (Ctrl+C to cancel)...\n", u)
		},
	})
	if err != nil {
		fmt.Fprintf(s.Err, "synclang auth login %s: %v\n", o.connection, err)
		return exitError
	}
	fmt.Fprintf(s.Out, "Signed in for connection %s. Connections with auth = \"refresh_token\" now use this sign-in.\n", o.connection)
	return exitOK
}

// settings returns the connection's settings. They come from the flags; the
// connection block in the project's .sync files will supply them once
// project loading is available to commands (the flags then override it).
func (o *authLoginOptions) settings(s *Stdio) (map[string]string, int) {
	if len(o.paths) > 0 {
		fmt.Fprintf(s.Err, "synclang auth login: reading connection %s from .sync files is not available in this build yet; pass --url, --tenant and --client-id instead\n", o.connection)
		return nil, exitUsage
	}
	for _, req := range []struct{ flag, v string }{{"url", o.url}, {"tenant", o.tenant}, {"client-id", o.clientID}} {
		if req.v == "" {
			fmt.Fprintf(s.Err, "synclang auth login: --%s is required\n", req.flag)
			return nil, exitUsage
		}
	}
	settings := map[string]string{
		dynamics.SettingURL: o.url, dynamics.SettingTenant: o.tenant, dynamics.SettingClientID: o.clientID,
		dynamics.SettingAuthority: o.authority, dynamics.SettingAuth: dynamics.AuthRefreshToken,
	}
	if o.secretEnv != "" {
		v := s.Getenv(o.secretEnv)
		if v == "" {
			fmt.Fprintf(s.Err, "synclang auth login: the environment variable %s is not set\n", o.secretEnv)
			return nil, exitUsage
		}
		settings[dynamics.SettingClientSecret] = v
	}
	return settings, exitOK
}
