package dynamics

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

func authError(t *testing.T, err error) *connector.Error {
	t.Helper()
	var e *connector.Error
	if !errorsAs(err, &e) {
		t.Fatalf("error %v is not a *connector.Error", err)
	}
	return e
}

func TestWrongAndExpiredSecret(t *testing.T) {
	t.Parallel()
	emu, srv := emulator.NewTestServer(t, emulator.Options{})
	settings := emu.Settings(srv.URL)
	settings["client_secret"] = "wrong-secret-value"
	c, err := New(testCtx(t), connector.Config{Name: "crm", Settings: settings, HTTPClient: srv.Client(), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Discover(testCtx(t))
	e := authError(t, err)
	if e.Kind != connector.ErrorAuth || e.Code != "AADSTS7000215" || !strings.Contains(e.Hint, "Value (not its Secret ID)") {
		t.Errorf("wrong secret: %#v", e)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("the error shows the secret: %v", err)
	}

	emu.ExpireClientSecret()
	c, _ = New(testCtx(t), connector.Config{Name: "crm", Settings: emu.Settings(srv.URL), HTTPClient: srv.Client(), CacheDir: t.TempDir()})
	_, err = c.Discover(testCtx(t))
	if e := authError(t, err); e.Code != "AADSTS7000222" || !strings.Contains(e.Hint, "expired") {
		t.Errorf("expired secret: %#v", e)
	}
	if strings.Contains(err.Error(), emu.Credentials().ClientSecret) {
		t.Errorf("the error shows the secret: %v", err)
	}
}

func TestSettingsErrors(t *testing.T) {
	t.Parallel()
	base := map[string]string{"url": "https://org.crm4.dynamics.com", "tenant": "t", "client_id": "c", "client_secret": "s"}
	for name, tc := range map[string]struct {
		change map[string]string
		want   string
	}{
		"http url":         {map[string]string{"url": "http://org.crm4.dynamics.com"}, "must use https"},
		"no tenant":        {map[string]string{"tenant": ""}, "tenant is not set"},
		"no secret":        {map[string]string{"client_secret": ""}, "client_secret is empty"},
		"bad version":      {map[string]string{"api_version": "9.2"}, "not a Web API version"},
		"bad auth":         {map[string]string{"auth": "password"}, "not supported"},
		"tenant path":      {map[string]string{"tenant": "a/b"}, "not a tenant"},
		"refresh no login": {map[string]string{"auth": "refresh_token"}, "synclang auth login crm"},
	} {
		s := map[string]string{}
		for k, v := range base {
			s[k] = v
		}
		for k, v := range tc.change {
			s[k] = v
		}
		_, err := New(context.Background(), connector.Config{Name: "crm", Settings: s, CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// scriptedBrowser follows the authorize URL as a browser would: the
// emulator redirects to the loopback listener with the code. The browser
// must be shown the outcome page, whether sign-in worked or not: Login
// may not cut the connection that delivered the answer. The test waits
// for the browser before it ends.
func scriptedBrowser(t *testing.T) func(string) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return func(u string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(u)
			if err != nil {
				t.Errorf("browser: %v", err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || !strings.Contains(string(body), "You can close this window") {
				t.Errorf("browser was shown %q (%v), want the outcome page", body, err)
			}
		}()
	}
}

func TestAuthorizationCodeFlowEndToEnd(t *testing.T) {
	t.Parallel()
	emu, srv := emulator.NewTestServer(t, emulator.Options{Seed: 3})
	settings := emu.Settings(srv.URL)
	delete(settings, "client_secret") // a public client: PKCE, no secret
	settings["auth"] = AuthRefreshToken
	cache := t.TempDir()
	var shown string
	open := scriptedBrowser(t)
	err := Login(testCtx(t), settings, LoginOptions{Name: "crm", CacheDir: cache, OpenURL: func(u string) { shown = u; open(u) }})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	for _, p := range []string{"code_challenge_method=S256", "code_challenge=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A", "offline_access", "user_impersonation", "state="} {
		if !strings.Contains(shown, p) {
			t.Errorf("authorize URL lacks %s: %s", p, shown)
		}
	}
	files, _ := os.ReadDir(cache)
	if len(files) != 1 {
		t.Fatalf("token cache holds %d files", len(files))
	}
	path := cache + "/" + files[0].Name()
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token cache mode %v, want 0600", info.Mode().Perm())
	}
	first, _ := os.ReadFile(path)

	// A connection with auth = refresh_token now works...
	c, err := New(testCtx(t), connector.Config{Name: "crm", Settings: settings, HTTPClient: srv.Client(), CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _ := readAll(t, c, "contact", connector.Cursor{}, 0, nil)
	if len(recs) != 3 {
		t.Errorf("read %d contacts", len(recs))
	}
	// ...and saved the rotated refresh token.
	second, _ := os.ReadFile(path)
	if string(first) == string(second) {
		t.Error("the rotated refresh token was not saved")
	}
	// 401 after expiry: refreshed again from the saved token.
	emu.ExpireAccessTokens()
	recs, _, _ = readAll(t, c, "contact", connector.Cursor{}, 0, nil)
	if len(recs) != 3 {
		t.Errorf("after token expiry: read %d contacts", len(recs))
	}

	// When the refresh token expires, the hint says to sign in again.
	emu.ExpireRefreshTokens()
	emu.ExpireAccessTokens()
	err = c.Read(testCtx(t), connector.ReadRequest{Entity: "contact"}, func(connector.Batch) error { return nil })
	e := authError(t, err)
	if e.Kind != connector.ErrorAuth || e.Code != "AADSTS700082" || !strings.Contains(e.Hint, "run `synclang auth login crm`") {
		t.Errorf("expired refresh token: %#v", e)
	}
}

func TestLoginDenied(t *testing.T) {
	t.Parallel()
	emu, srv := emulator.NewTestServer(t, emulator.Options{})
	settings := emu.Settings(srv.URL)
	settings["url"] = "https://other.crm.dynamics.com" // not this environment: the authorize step refuses the scope
	err := Login(testCtx(t), settings, LoginOptions{Name: "crm", CacheDir: t.TempDir(), OpenURL: scriptedBrowser(t)})
	if e := authError(t, err); e.Kind != connector.ErrorAuth || e.Code != "invalid_resource" {
		t.Errorf("Login for another resource: %#v", e)
	}
}
