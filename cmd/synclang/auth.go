package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/plan"
)

// authLoginOptions are the arguments and flags of `synclang auth login`.
type authLoginOptions struct {
	connection string
	paths      []string
	// Settings given on the command line override the connection block.
	url, tenant, clientID, authority, secretEnv string
	cacheDir                                    string
}

var authCmd = &command{
	name:    "auth",
	summary: "sign-ins for auth = \"refresh_token\" connections: auth login|status|logout CONNECTION",
	run:     runAuth,
}

func runAuth(ctx context.Context, s *Stdio, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return runAuthStatus(s, args[1:])
		case "logout":
			return runAuthLogout(s, args[1:])
		}
	}
	if len(args) == 0 || args[0] != "login" {
		usage := "Usage: synclang auth login CONNECTION [PATHS] [flags]   sign in (see below)\n" +
			"       synclang auth status [PATHS]                       list the stored sign-ins\n" +
			"       synclang auth logout CONNECTION [PATHS] | --all    remove a stored sign-in\n"
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(s.Err, usage)
			return runAuth(ctx, s, []string{"login", "--help"})
		}
		fmt.Fprint(s.Err, usage)
		return exitUsage
	}
	var o authLoginOptions
	fs := newFlags(s, "auth login", "CONNECTION [PATHS] [flags]",
		"Sign in to Dynamics 365 as yourself (authorization code with PKCE): print a URL to open in a browser,\n"+
			"wait for the sign-in to come back to a loopback port, and store the refresh token in your per-user\n"+
			"configuration directory (never in the project folder). Connections with auth = \"refresh_token\" then use it.\n"+
			"`synclang auth status` lists stored sign-ins, `synclang auth logout CONNECTION` removes one.")
	fs.StringVar(&o.url, "url", "", "the environment URL, e.g. https://org0000000.crm4.dynamics.com")
	fs.StringVar(&o.tenant, "tenant", "", "the Entra ID tenant (GUID or domain name)")
	fs.StringVar(&o.clientID, "client-id", "", "the app registration's application (client) ID")
	fs.StringVar(&o.authority, "authority", "", "the identity platform host (default: the connection's authority, $DYNAMICS_AUTHORITY, or "+dynamics.DefaultAuthority+")")
	fs.StringVar(&o.secretEnv, "client-secret-env", "", "name of an environment variable holding a client secret (web app registrations only)")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "sign-in directory (default: synclang in the per-user configuration directory)")
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
	if o.cacheDir == "" {
		o.cacheDir = tokenDir(s)
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

// settings returns the connection's settings: from its block in the .sync
// files of PATHS (default .), with env() and secret() read from the
// environment, and the flags overriding. With --url, --tenant and
// --client-id all given and no PATHS, no files are read.
func (o *authLoginOptions) settings(s *Stdio) (map[string]string, int) {
	settings := map[string]string{}
	if len(o.paths) > 0 || o.url == "" || o.tenant == "" || o.clientID == "" {
		inputs, err := lang.Load(defaultPaths(o.paths))
		if err != nil {
			fmt.Fprintf(s.Err, "synclang auth login: %v\n", err)
			return nil, exitError
		}
		conns, diags := lang.Connections(inputs, lang.Options{Registry: s.Registry})
		writeDiags(s, diags, lang.Sources(inputs))
		if diags.HasErrors() {
			return nil, exitError
		}
		var found *plan.Connection
		for _, c := range conns {
			if c.Name == o.connection {
				found = c
			}
		}
		switch {
		case found == nil:
			fmt.Fprintf(s.Err, "synclang auth login: no connection %q in %s\n", o.connection, strings.Join(defaultPaths(o.paths), " "))
			return nil, exitError
		case found.Kind != "dynamics":
			fmt.Fprintf(s.Err, "synclang auth login: connection %s is %s; sign-in is for dynamics connections\n", o.connection, found.Kind)
			return nil, exitUsage
		}
		if mode := authMode(found); mode != dynamics.AuthRefreshToken {
			if mode == "" {
				mode = "client_credentials (the default)"
			}
			fmt.Fprintf(s.Err, "synclang auth login: warning: connection %s uses auth = %s, so its runs sign in with its client secret and will not use this sign-in; add auth = \"refresh_token\" to its block to use it\n", o.connection, mode)
		}
		for _, st := range found.Settings {
			if st.Name == dynamics.SettingClientSecret && o.secretEnv == "" {
				// A public-client sign-in needs no secret; read it only
				// when it is set, so a missing secret is not an error here.
				if v := s.Getenv(st.Secret + st.Env); v != "" {
					settings[st.Name] = v
				}
				continue
			}
			v, err := st.Resolve(s.Getenv)
			if err != nil {
				fmt.Fprintf(s.Err, "synclang auth login: %v\n", err)
				return nil, exitError
			}
			settings[st.Name] = v
		}
	}
	for flag, v := range map[string]string{dynamics.SettingURL: o.url, dynamics.SettingTenant: o.tenant, dynamics.SettingClientID: o.clientID} {
		if v != "" {
			settings[flag] = v
		}
	}
	if o.authority != "" {
		settings[dynamics.SettingAuthority] = o.authority
	} else if env := dynamics.AuthorityEnv; settings[dynamics.SettingAuthority] == "" && s.Getenv(env) != "" {
		// As at run time: DYNAMICS_AUTHORITY stands in for an authority
		// the block leaves unset.
		settings[dynamics.SettingAuthority] = s.Getenv(env)
	}
	settings[dynamics.SettingAuth] = dynamics.AuthRefreshToken
	if o.secretEnv != "" {
		v := s.Getenv(o.secretEnv)
		if v == "" {
			fmt.Fprintf(s.Err, "synclang auth login: the environment variable %s is not set\n", o.secretEnv)
			return nil, exitUsage
		}
		settings[dynamics.SettingClientSecret] = v
	}
	// As at run time: the secret and any URL userinfo are masked in what
	// the sign-in prints (an echoing token endpoint, for one).
	s.Secrets.Register(settings[dynamics.SettingClientSecret])
	s.Secrets.RegisterURL(settings[dynamics.SettingURL])
	s.Secrets.RegisterURL(settings[dynamics.SettingAuthority])
	for _, req := range []string{dynamics.SettingURL, dynamics.SettingTenant, dynamics.SettingClientID} {
		if settings[req] == "" {
			fmt.Fprintf(s.Err, "synclang auth login: connection %s has no %s (set it in its block or pass --%s)\n", o.connection, req, strings.ReplaceAll(req, "_", "-"))
			return nil, exitUsage
		}
	}
	return settings, exitOK
}
