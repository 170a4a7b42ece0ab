package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/plan"
)

// Sign-ins (refresh tokens of auth = "refresh_token" connections) live in
// the user's configuration directory, synclang/ under os.UserConfigDir()
// (~/.config/synclang on Linux): a cache directory may be wiped at any
// time, and a wiped sign-in stops every scheduled run until someone signs
// in again. Earlier versions kept them in os.UserCacheDir()/synclang;
// tokenDir moves them over the first time it runs.

// tokenDir returns the directory of stored sign-ins: s.CacheDir when set
// (tests, --cache-dir), else the per-user configuration directory, after
// moving sign-ins an earlier version left in the cache directory.
func tokenDir(s *Stdio) string {
	if s.CacheDir != "" {
		return s.CacheDir
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "" // the connector reports that it has nowhere to store them
	}
	dir := filepath.Join(cfg, "synclang")
	if cache, err := os.UserCacheDir(); err == nil {
		if n, err := migrateTokens(filepath.Join(cache, "synclang"), dir); err != nil {
			fmt.Fprintf(s.Err, "synclang: warning: could not move the stored sign-ins from %s to %s: %v\n", filepath.Join(cache, "synclang"), dir, err)
		} else if n > 0 {
			fmt.Fprintf(s.Err, "synclang: moved %s from %s to %s (a cache directory may be wiped)\n", plural(n, "stored sign-in"), filepath.Join(cache, "synclang"), dir)
		}
	}
	return dir
}

// tokenFiles are the sign-in files in a token directory: dynamics-<16 hex
// digits>.json (see the Dynamics connector's cachePath), not the schema
// caches (dynamics-schema-*.json) that share the directory when one is
// given for both (tests, --cache-dir).
func tokenFiles(dir string) ([]string, error) {
	all, err := filepath.Glob(filepath.Join(dir, "dynamics-*.json"))
	var files []string
	for _, f := range all {
		if tokenFileRE.MatchString(filepath.Base(f)) {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files, err
}

var tokenFileRE = regexp.MustCompile(`^dynamics-[0-9a-f]{16}\.json$`)

// migrateTokens moves the sign-in files of old into dir (0700, files 0600),
// keeping any dir already has, and returns how many moved.
func migrateTokens(old, dir string) (int, error) {
	files, err := tokenFiles(old)
	if err != nil || len(files) == 0 || filepath.Clean(old) == filepath.Clean(dir) {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		to := filepath.Join(dir, filepath.Base(f))
		if _, err := os.Stat(to); err == nil {
			continue // signed in again since: keep the newer one
		}
		if err := os.Rename(f, to); err != nil {
			// Another file system: copy, then remove.
			data, rerr := os.ReadFile(f)
			if rerr != nil {
				return n, rerr
			}
			if werr := os.WriteFile(to, data, 0o600); werr != nil {
				return n, werr
			}
			if rerr := os.Remove(f); rerr != nil {
				return n, rerr
			}
		}
		if err := os.Chmod(to, 0o600); err != nil {
			return n, err
		}
		n++
	}
	_ = os.Remove(old) // only when empty
	return n, nil
}

// storedSignIn is what a sign-in file says about itself (the fields the
// dynamics connector writes next to the refresh token; the token itself is
// never read here).
type storedSignIn struct {
	path      string
	Authority string    `json:"authority"`
	Tenant    string    `json:"tenant"`
	ClientID  string    `json:"client_id"`
	URL       string    `json:"url"`
	Saved     time.Time `json:"saved"`
}

// refreshTokenIdle is how long Microsoft Entra ID keeps an unused refresh
// token valid (its default inactivity lifetime: 90 days); each use renews
// it, and the connector saves the renewed one.
const refreshTokenIdle = 90 * 24 * time.Hour

func readSignIns(dir string) ([]*storedSignIn, error) {
	files, err := tokenFiles(dir)
	if err != nil {
		return nil, err
	}
	var out []*storedSignIn
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		si := &storedSignIn{path: f}
		if json.Unmarshal(data, si) != nil {
			si.URL = "(unreadable: sign in again)"
		}
		out = append(out, si)
	}
	return out, nil
}

// dynamicsConns are the project's dynamics connections with their settings
// resolved as far as the environment allows (nothing is required: status
// and logout work without credentials). A project that cannot be loaded
// gives none.
func dynamicsConns(s *Stdio, paths []string) map[string]map[string]string {
	out := map[string]map[string]string{}
	inputs, err := lang.Load(defaultPaths(paths))
	if err != nil {
		return out
	}
	conns, _ := lang.Connections(inputs, lang.Options{Registry: s.Registry})
	for _, c := range conns {
		if c.Kind != "dynamics" {
			continue
		}
		set := map[string]string{}
		for _, st := range c.Settings {
			if st.Secret != "" {
				continue
			}
			if v, err := st.Resolve(s.Getenv); err == nil {
				set[st.Name] = v
			}
		}
		if set[dynamics.SettingAuthority] == "" {
			set[dynamics.SettingAuthority] = s.Getenv(dynamics.AuthorityEnv)
		}
		out[c.Name] = set
	}
	return out
}

func sameURL(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// signInConn names the connection a sign-in is for, or "".
func signInConn(si *storedSignIn, conns map[string]map[string]string) string {
	var names []string
	for name, set := range conns {
		if sameURL(set[dynamics.SettingURL], si.URL) && strings.EqualFold(set[dynamics.SettingTenant], si.Tenant) &&
			strings.EqualFold(set[dynamics.SettingClientID], si.ClientID) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func runAuthStatus(s *Stdio, args []string) int {
	fs := newFlags(s, "auth status", "[PATHS]",
		"List the stored sign-ins (of auth = \"refresh_token\" connections): for which connection of the project in\n"+
			"PATHS (default .), environment, tenant and app registration, when it was last renewed and when it expires if\n"+
			"unused. Reads no token and sends no request.")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	dir := tokenDir(s)
	sis, err := readSignIns(dir)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang auth status: %v\n", err)
		return exitError
	}
	if len(sis) == 0 {
		fmt.Fprintf(s.Out, "No stored sign-in (in %s). `synclang auth login CONNECTION` signs in.\n", dir)
		return exitOK
	}
	conns := dynamicsConns(s, fs.Args())
	fmt.Fprintf(s.Out, "Stored sign-ins in %s:\n", dir)
	for _, si := range sis {
		writeSignIn(s.Out, si, signInConn(si, conns), s.Now())
	}
	fmt.Fprintln(s.Out, "\nThe user who signed in is not recorded; `synclang auth logout CONNECTION` removes a sign-in.")
	return exitOK
}

func writeSignIn(w io.Writer, si *storedSignIn, conn string, now time.Time) {
	if conn == "" {
		conn = "(no connection of this project)"
	}
	fmt.Fprintf(w, "\n  %s\n    environment  %s\n    tenant       %s\n    app          %s\n", conn, si.URL, si.Tenant, si.ClientID)
	if !si.Saved.IsZero() {
		exp := si.Saved.Add(refreshTokenIdle)
		state := "expires " + exp.UTC().Format("2006-01-02") + " if unused (each run renews it)"
		if now.After(exp) {
			state = "expired " + exp.UTC().Format("2006-01-02") + ": sign in again"
		}
		fmt.Fprintf(w, "    renewed      %s; %s\n", si.Saved.UTC().Format("2006-01-02 15:04 UTC"), state)
	}
}

func runAuthLogout(s *Stdio, args []string) int {
	var all bool
	fs := newFlags(s, "auth logout", "CONNECTION [PATHS] | --all",
		"Remove the stored sign-in of a connection of the project in PATHS (default .), or every stored sign-in\n"+
			"with --all. Runs of the connection then fail until `synclang auth login CONNECTION`. The token is not\n"+
			"revoked at Microsoft: revoke sessions in Entra ID to end it there too.")
	fs.BoolVar(&all, "all", false, "remove every stored sign-in")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !all && fs.NArg() == 0 {
		fmt.Fprintln(s.Err, "synclang auth logout: name the connection (or --all)")
		return exitUsage
	}
	dir := tokenDir(s)
	sis, err := readSignIns(dir)
	if err != nil {
		fmt.Fprintf(s.Err, "synclang auth logout: %v\n", err)
		return exitError
	}
	var conns map[string]map[string]string
	var name string
	if !all {
		name = fs.Arg(0)
		conns = dynamicsConns(s, fs.Args()[1:])
		if _, ok := conns[name]; !ok {
			fmt.Fprintf(s.Err, "synclang auth logout: no dynamics connection %q in %s\n", name, strings.Join(defaultPaths(fs.Args()[1:]), " "))
			return exitError
		}
	}
	removed := 0
	for _, si := range sis {
		if !all && !strings.Contains(", "+signInConn(si, conns)+", ", ", "+name+", ") {
			continue
		}
		if err := os.Remove(si.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(s.Err, "synclang auth logout: %v\n", err)
			return exitError
		}
		removed++
	}
	switch {
	case removed == 0 && all:
		fmt.Fprintln(s.Out, "No stored sign-in.")
	case removed == 0:
		fmt.Fprintf(s.Out, "Connection %s has no stored sign-in.\n", name)
	case all:
		fmt.Fprintf(s.Out, "Removed %s.\n", plural(removed, "stored sign-in"))
	default:
		fmt.Fprintf(s.Out, "Signed out connection %s (removed its stored sign-in).\n", name)
	}
	return exitOK
}

// authMode is a connection's auth setting as written ("" when unset: the
// default, client_credentials).
func authMode(c *plan.Connection) string {
	for _, st := range c.Settings {
		if st.Name == dynamics.SettingAuth {
			return st.Value
		}
	}
	return ""
}
