package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

func TestEmulateDynamics(t *testing.T) {
	t.Parallel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	s := &Stdio{Out: out, Err: errOut, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- emulateDynamics(ctx, s, []string{"--addr", "127.0.0.1:0", "--seed", "6", "--limits", "off"})
	}()

	env := map[string]string{}
	for _, v := range []string{"DYNAMICS_URL", "DYNAMICS_AUTHORITY", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} {
		env[v] = waitFor(t, out, regexp.MustCompile(`export `+v+`=(\S+)`))
	}
	if !strings.HasPrefix(env["DYNAMICS_URL"], "http://127.0.0.1:") || env["DYNAMICS_AUTHORITY"] != env["DYNAMICS_URL"] {
		t.Errorf("printed %v", env)
	}
	// The printed settings are enough for the connector.
	c, err := dynamics.New(ctx, connector.Config{Name: "crm", CacheDir: t.TempDir(), Settings: map[string]string{
		"url": env["DYNAMICS_URL"], "authority": env["DYNAMICS_AUTHORITY"], "tenant": env["AZURE_TENANT_ID"],
		"client_id": env["AZURE_CLIENT_ID"], "client_secret": env["AZURE_CLIENT_SECRET"]}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := c.Read(ctx, connector.ReadRequest{Entity: "contact"}, func(b connector.Batch) error { n += len(b.Records); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("read %d contacts from the emulator, want 6", n)
	}
	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("exit code %d; stderr %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not stop when the context ended")
	}
}

func TestEmulateDynamicsUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--limits", "maybe"}, {"--seed", "-1"}, {"extra"}} {
		var errOut bytes.Buffer
		s := &Stdio{Out: &bytes.Buffer{}, Err: &errOut}
		if code := emulateDynamics(context.Background(), s, args); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
	}
}

func TestAuthLogin(t *testing.T) {
	t.Parallel()
	emu, srv := emulator.NewTestServer(t, emulator.Options{Seed: 2})
	cr := emu.Credentials()
	cache := t.TempDir()
	// The connection's settings come from its block in the project.
	dir := t.TempDir()
	block := `connection crm dynamics {
  url       = env("DYNAMICS_URL")
  tenant    = env("AZURE_TENANT_ID")
  client_id = env("AZURE_CLIENT_ID")
  authority = env("DYNAMICS_AUTHORITY")
  auth      = "refresh_token"
}
`
	if err := os.WriteFile(filepath.Join(dir, "crm.sync"), []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DYNAMICS_URL": srv.URL, "AZURE_TENANT_ID": cr.Tenant, "AZURE_CLIENT_ID": cr.ClientID, "DYNAMICS_AUTHORITY": srv.URL}
	out, errOut := &syncBuffer{}, &syncBuffer{}
	s := &Stdio{Out: out, Err: errOut, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()}
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"auth", "login", "crm", dir, "--cache-dir", cache}, *s)
	}()
	// The scripted browser: open the printed URL and follow the redirect.
	u := waitFor(t, errOut, regexp.MustCompile(`(?m)^  (http://\S+/oauth2/v2\.0/authorize\?\S+)$`))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case c := <-code:
		if c != exitOK || !strings.Contains(out.String(), "Signed in for connection crm") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", c, out, errOut)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("auth login did not finish")
	}
	files, _ := os.ReadDir(cache)
	if len(files) != 1 {
		t.Fatalf("the cache has %d files", len(files))
	}
	// A refresh_token connection uses the stored sign-in.
	settings := emu.Settings(srv.URL)
	settings["auth"] = dynamics.AuthRefreshToken
	delete(settings, "client_secret")
	c, err := dynamics.New(context.Background(), connector.Config{Name: "crm", Settings: settings, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Discover(context.Background()); err != nil {
		t.Errorf("Discover with the stored sign-in: %v", err)
	}

	// auth status names the connection the sign-in is for; auth logout
	// removes it (issue 13 item 11).
	run := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		st := Stdio{Out: &o, Err: &e, Getenv: func(k string) string { return env[k] }, CacheDir: cache, Now: time.Now}
		return Main(args, st), o.String(), e.String()
	}
	if code, o, e := run("auth", "status", dir); code != exitOK || !strings.Contains(o, "\n  crm\n") || !strings.Contains(o, "environment  "+srv.URL) ||
		!strings.Contains(o, "tenant       "+cr.Tenant) || !strings.Contains(o, "if unused") {
		t.Errorf("auth status: %d\n%s%s", code, o, e)
	}
	if code, o, e := run("auth", "logout", "crm", dir); code != exitOK || !strings.Contains(o, "Signed out connection crm") {
		t.Errorf("auth logout: %d\n%s%s", code, o, e)
	}
	// The Discover above left a schema cache beside the sign-in (one
	// directory serves both here): logout removes the sign-in only, and
	// auth status does not take the schema cache for one.
	if files, _ := tokenFiles(cache); len(files) != 0 {
		t.Errorf("after logout the directory holds %d sign-ins", len(files))
	}
	if all, _ := os.ReadDir(cache); len(all) != 1 {
		t.Errorf("after logout the directory holds %d files, want the schema cache alone", len(all))
	}
	if code, o, _ := run("auth", "status", dir); code != exitOK || !strings.Contains(o, "No stored sign-in") {
		t.Errorf("auth status after logout: %s", o)
	}
}

// TestAuthLoginWarnsForClientCredentials: signing in for a connection
// whose runs use its client secret says the sign-in will not be used.
func TestAuthLoginWarnsForClientCredentials(t *testing.T) {
	t.Parallel()
	emu, srv := emulator.NewTestServer(t, emulator.Options{Seed: 1})
	cr := emu.Credentials()
	dir := t.TempDir()
	block := "connection crm dynamics {\n  url = env(\"DYNAMICS_URL\")\n  tenant = env(\"AZURE_TENANT_ID\")\n  client_id = env(\"AZURE_CLIENT_ID\")\n" +
		"  client_secret = secret(\"AZURE_CLIENT_SECRET\")\n  authority = env(\"DYNAMICS_AUTHORITY\")\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "crm.sync"), []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DYNAMICS_URL": srv.URL, "AZURE_TENANT_ID": cr.Tenant, "AZURE_CLIENT_ID": cr.ClientID, "DYNAMICS_AUTHORITY": srv.URL}
	out, errOut := &syncBuffer{}, &syncBuffer{}
	s := Stdio{Out: out, Err: errOut, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client(), CacheDir: t.TempDir()}
	code := make(chan int, 1)
	go func() { code <- Main([]string{"auth", "login", "crm", dir}, s) }()
	u := waitFor(t, errOut, regexp.MustCompile(`(?m)^  (http://\S+/oauth2/v2\.0/authorize\?\S+)$`))
	if !strings.Contains(errOut.String(), "warning: connection crm uses auth = client_credentials (the default)") {
		t.Errorf("no warning:\n%s", errOut)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("exit %d: %s", c, errOut)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("auth login did not finish")
	}
}

func TestAuthLoginUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"auth"}, {"auth", "logout"}, {"auth", "login"}} {
		var errOut bytes.Buffer
		if code := Main(args, Stdio{Out: &bytes.Buffer{}, Err: &errOut}); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
	}
	// A connection that is not in the project, or not a dynamics one.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.sync"), []byte("connection infobip people {\n  url     = \"https://x.api.infobip.com\"\n  api_key = secret(\"K\")\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{"crm": `no connection "crm"`, "infobip": "is people"} {
		var errOut bytes.Buffer
		if code := Main([]string{"auth", "login", args, dir}, Stdio{Out: &bytes.Buffer{}, Err: &errOut}); code == exitOK || !strings.Contains(errOut.String(), want) {
			t.Errorf("auth login %s: exit %d, %s", args, code, errOut.String())
		}
	}
}
