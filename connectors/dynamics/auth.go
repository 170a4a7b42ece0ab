package dynamics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/diskcache"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Authentication against the Microsoft identity platform v2 (reference §1):
// client credentials with scope <url>/.default, or a user's refresh token
// (scopes offline_access <url>/user_impersonation) kept in a per-user token
// cache that `synclang auth login` fills (Login below).

// authSettings are the settings authentication needs.
type authSettings struct {
	name         string // connection name, for messages
	url          string // environment URL without trailing slash
	tenant       string
	clientID     string
	clientSecret string
	authority    string // without trailing slash
	mode         string
	cacheDir     string
	// register is connector.Config.RegisterSecret (nil: nobody listens).
	register func(values ...string)
}

// registerSecret hands credentials to the process's redaction (see
// connector.Config.RegisterSecret) before they are sent anywhere.
func (a authSettings) registerSecret(values ...string) {
	if a.register != nil {
		a.register(values...)
	}
}

func (a authSettings) tokenURL() string {
	return a.authority + "/" + a.tenant + "/oauth2/v2.0/token"
}

func (a authSettings) authURL() string {
	return a.authority + "/" + a.tenant + "/oauth2/v2.0/authorize"
}

func (a authSettings) userScopes() []string {
	return []string{"offline_access", a.url + "/user_impersonation"}
}

// tokenSource hands out access tokens, fetching a new one when the cached
// one expires or when the API rejected it (invalidate). It is safe for
// concurrent use.
type tokenSource struct {
	mu      sync.Mutex
	tok     *oauth2.Token
	fetch   func(ctx context.Context) (*oauth2.Token, error)
	set     authSettings
	refresh string // refresh_token mode: the current refresh token
}

// token returns a valid access token.
func (s *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.Valid() {
		return s.tok, nil
	}
	s.set.registerSecret(s.refresh)
	tok, err := s.fetch(ctx)
	if err != nil {
		return nil, s.tokenError(err)
	}
	s.set.registerSecret(tok.AccessToken, tok.RefreshToken, s.refresh)
	s.tok = tok
	return tok, nil
}

// invalidate drops the cached token if it is still the one given (so
// concurrent 401s fetch one new token, not many).
func (s *tokenSource) invalidate(old *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == old {
		s.tok = nil
	}
}

var aadstsRx = regexp.MustCompile(`AADSTS(\d+)`)

// tokenError turns a token-endpoint failure into a *connector.Error with a
// hint. Branching is on the error's AADSTS code and RFC 6749 error, never
// on the description text (reference §1); the message is the description's
// first line, which names no secret.
func (s *tokenSource) tokenError(err error) error {
	if ctxErr := contextError(err); ctxErr != nil {
		return ctxErr
	}
	e := &connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Op: "sign in to " + s.set.tokenURL()}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		e.Kind = connector.ErrorTransient
		e.Message = "could not reach the identity platform: " + s.scrub(redact(err), 300)
		e.Hint = "check the authority setting and the network, then try again"
		switch {
		case errors.Is(err, httpx.ErrRedirect):
			e.Kind = connector.ErrorConfig
			e.Hint = "check the authority setting: it must be the identity platform's host (" + DefaultAuthority + ", or a sovereign cloud's), which answers token requests without redirecting"
		case httpx.Permanent(err):
			e.Kind = connector.ErrorConfig
			e.Hint = "check the authority setting (the host name, and that it serves a certificate this machine trusts)"
		}
		return e
	}
	if re.Response != nil {
		e.Status = re.Response.StatusCode
	}
	desc := re.ErrorDescription
	if desc == "" && re.ErrorCode == "" {
		// Not the JSON error the platform documents (a proxy's page, or a
		// body that echoes the request, client_secret included): say so,
		// with a short, scrubbed excerpt.
		desc = "the token endpoint answered with a body that is not an OAuth error"
		if ex := s.scrub(strings.TrimSpace(string(re.Body)), 120); ex != "" {
			desc += ": " + ex
		}
	}
	first, _, _ := strings.Cut(desc, "\r\n")
	e.Message = s.scrub(first, 300)
	code := ""
	if m := aadstsRx.FindStringSubmatch(desc); m != nil {
		code = "AADSTS" + m[1]
	}
	e.Code = code
	if e.Code == "" {
		e.Code = re.ErrorCode
	}
	login := fmt.Sprintf("run `synclang auth login %s` to sign in again", s.set.name)
	switch {
	case code == "AADSTS7000215":
		e.Hint = "the client secret is wrong: set client_secret to the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page"
	case code == "AADSTS7000222":
		e.Hint = "the client secret has expired: create a new one under the app registration's Certificates & secrets and update the variable client_secret comes from"
	case code == "AADSTS7000218":
		e.Hint = `client_secret is empty: set client_secret = secret("AZURE_CLIENT_SECRET"), or use auth = "refresh_token"`
	case code == "AADSTS700082", code == "AADSTS70008", code == "AADSTS50173", code == "AADSTS9002313":
		e.Hint = "the stored sign-in has expired or was revoked: " + login
	case code == "AADSTS700016":
		e.Hint = "client_id is not an app registration in this tenant: check client_id and tenant"
	case code == "AADSTS90002":
		e.Hint = "the tenant does not exist: check the tenant setting (the directory's GUID or domain name)"
	case code == "AADSTS500011", re.ErrorCode == "invalid_resource":
		e.Hint = "the url is not a Dataverse environment of this tenant: check url and tenant"
	case re.ErrorCode == "invalid_scope":
		e.Hint = "check that url is the environment's URL (https://ORG.crmN.dynamics.com)"
	case re.ErrorCode == "invalid_grant" && s.set.mode == AuthRefreshToken:
		e.Hint = login
	case re.ErrorCode == "temporarily_unavailable" || (re.Response != nil && re.Response.StatusCode >= 500):
		e.Kind = connector.ErrorTransient
		e.Hint = "the identity platform is unavailable; try again later"
	}
	return e
}

// secretParam matches the form parameters of a token request that carry a
// credential, as a body echoing the request shows them.
var secretParam = regexp.MustCompile(`(?i)\b(client_secret|refresh_token|code_verifier|client_assertion|code|password|access_token)=[^&\s"'<]*`)

// scrub makes text from the identity platform safe to show: the secrets
// this source knows (client secret, refresh token, raw or form-encoded)
// and any credential parameter are removed, control characters are
// escaped, and the text is cut to max runes. Error texts reach terminals,
// logs, /healthz and the state database.
func (s *tokenSource) scrub(text string, max int) string {
	for _, secret := range []string{s.set.clientSecret, s.refresh} {
		if len(secret) < 4 {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			text = strings.ReplaceAll(text, form, "[redacted]")
		}
	}
	text = secretParam.ReplaceAllString(text, "$1=[redacted]")
	var b strings.Builder
	n := 0
	for _, r := range text {
		if n == max {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// redact drops URLs from transport errors (they may carry query data).
func redact(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

func contextError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// tokenClient is the HTTP client for token requests: the connector's base
// transport with retries of 5xx and connection failures (asking for a token
// twice is harmless), but not the API's pacer.
//
// It follows no redirect: the identity platform answers a token request
// itself, and a redirect would take the client secret (a 307 re-posts the
// form) or the refresh token to wherever it points. Token answers are a few
// kilobytes; golang.org/x/oauth2 reads at most 1 MiB of them.
func tokenClient(base http.RoundTripper, budget time.Duration, logger *slog.Logger) *http.Client {
	tr := httpx.New(httpx.Options{Service: "dynamics-identity", Base: base, MaxAttempts: 4, Budget: budget, Logger: logger,
		Timeout: time.Minute,
		Classify: func(req *http.Request, resp *http.Response, err error) httpx.Decision {
			return httpx.DefaultClassify(httpx.Idempotent(req), resp, err)
		}})
	return &http.Client{Transport: tr, CheckRedirect: httpx.NoRedirects}
}

func newTokenSource(set authSettings, base http.RoundTripper, budget time.Duration, logger *slog.Logger) (*tokenSource, error) {
	client := tokenClient(base, budget, logger)
	withClient := func(ctx context.Context) context.Context { return context.WithValue(ctx, oauth2.HTTPClient, client) }
	s := &tokenSource{set: set}
	switch set.mode {
	case AuthClientCredentials:
		cc := &clientcredentials.Config{ClientID: set.clientID, ClientSecret: set.clientSecret, TokenURL: set.tokenURL(),
			Scopes: []string{set.url + "/.default"}, AuthStyle: oauth2.AuthStyleInParams}
		s.fetch = func(ctx context.Context) (*oauth2.Token, error) { return cc.Token(withClient(ctx)) }
	case AuthRefreshToken:
		cached, err := loadRefreshToken(set)
		if err != nil {
			return nil, err
		}
		s.refresh = cached
		oc := &oauth2.Config{ClientID: set.clientID, ClientSecret: set.clientSecret, Scopes: set.userScopes(),
			Endpoint: oauth2.Endpoint{TokenURL: set.tokenURL(), AuthURL: set.authURL(), AuthStyle: oauth2.AuthStyleInParams}}
		s.fetch = func(ctx context.Context) (*oauth2.Token, error) {
			tok, err := oc.TokenSource(withClient(ctx), &oauth2.Token{RefreshToken: s.refresh}).Token()
			if err != nil {
				return nil, err
			}
			if tok.RefreshToken != "" && tok.RefreshToken != s.refresh {
				// The identity platform rotates refresh tokens: save the new
				// one at once (reference §1).
				s.refresh = tok.RefreshToken
				if err := saveRefreshToken(set, tok.RefreshToken); err != nil {
					return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "save the refreshed sign-in",
						Message: err.Error(), Hint: "check that the token cache directory is writable"}
				}
			}
			return tok, nil
		}
	default:
		return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Message: fmt.Sprintf("auth %q is not supported", set.mode),
			Hint: `use auth = "client_credentials" or "refresh_token"`}
	}
	return s, nil
}

// ---- token cache ----

// cacheEntry is what the per-user token cache file holds.
type cacheEntry struct {
	Version      int       `json:"version"`
	Authority    string    `json:"authority"`
	Tenant       string    `json:"tenant"`
	ClientID     string    `json:"client_id"`
	URL          string    `json:"url"`
	RefreshToken string    `json:"refresh_token"`
	Saved        time.Time `json:"saved"`
}

// cacheDir returns the token cache directory: dir, or
// os.UserCacheDir()/synclang. It is per user and never the project folder.
func cacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Message: "no per-user cache directory: " + err.Error(),
			Hint: "set HOME (or XDG_CACHE_HOME) so synclang can store sign-ins"}
	}
	return filepath.Join(base, "synclang"), nil
}

// cachePath names the cache file of one (authority, tenant, client, url).
func cachePath(set authSettings) (string, error) {
	dir, err := cacheDir(set.cacheDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(strings.ToLower(strings.Join([]string{set.authority, set.tenant, set.clientID, set.url}, "\n"))))
	return filepath.Join(dir, "dynamics-"+hex.EncodeToString(sum[:8])+".json"), nil
}

func loadRefreshToken(set authSettings) (string, error) {
	path, err := cachePath(set)
	if err != nil {
		return "", err
	}
	noLogin := &connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Op: "read the stored sign-in",
		Message: fmt.Sprintf("no sign-in is stored for connection %s (%s)", set.name, set.url),
		Hint:    fmt.Sprintf("run `synclang auth login %s`", set.name)}
	if err := privateDir(filepath.Dir(path), false); err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", noLogin
	}
	if err != nil {
		return "", &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "read the stored sign-in", Message: err.Error()}
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil || e.RefreshToken == "" {
		noLogin.Message = fmt.Sprintf("the stored sign-in for connection %s is unreadable", set.name)
		return "", noLogin
	}
	return e.RefreshToken, nil
}

// privateDir makes the token cache directory the user's only: created
// 0700 (when create is set), and an existing one that other users can
// read or enter (os.MkdirAll leaves an existing directory as it is, and
// an older synclang or another tool may have made it 0755) is tightened
// to 0700. The directory is synclang's own, so tightening it takes
// nothing from anyone; when it cannot be tightened (another user owns it)
// the sign-in is refused rather than kept where others can list it.
func privateDir(dir string, create bool) error {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) && !create {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, fi.Mode().Perm()&^0o077); err != nil {
		return &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "protect the token cache",
			Message: fmt.Sprintf("the token cache directory %s is open to other users (mode %o) and cannot be made private: %v", dir, fi.Mode().Perm(), err),
			Hint:    "run `chmod 700 " + dir + "` as its owner, or use a cache directory of your own (XDG_CACHE_HOME)"}
	}
	return nil
}

// saveRefreshToken writes the cache file with mode 0600 (directory 0700),
// atomically.
func saveRefreshToken(set authSettings, rt string) error {
	path, err := cachePath(set)
	if err != nil {
		return err
	}
	if err := privateDir(filepath.Dir(path), true); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(cacheEntry{Version: 1, Authority: set.authority, Tenant: set.tenant, ClientID: set.clientID,
		URL: set.url, RefreshToken: rt, Saved: time.Now().UTC()}, "", "  ")
	return diskcache.WriteFile(path, data)
}

// ---- interactive sign-in ----

// LoginOptions configure Login.
type LoginOptions struct {
	// Name is the connection's name, for messages.
	Name string
	// CacheDir is the token cache directory ("" = os.UserCacheDir()/synclang).
	CacheDir string
	// OpenURL shows the sign-in URL to the user (prints it, or opens a
	// browser). It must not block.
	OpenURL func(string)
	// HTTPClient sends the code redemption; nil means a default client.
	HTTPClient *http.Client
}

// Login runs the authorization-code flow with PKCE and a loopback redirect
// (reference §1): it listens on 127.0.0.1 on a free port, shows the
// authorize URL through opts.OpenURL, waits for the browser to come back
// with a code (or ctx to end), redeems it, and stores the refresh token in
// the per-user token cache where auth = "refresh_token" connections find it.
// settings are the connection's resolved settings (url, tenant, client_id,
// optional client_secret, authority).
func Login(ctx context.Context, settings map[string]string, opts LoginOptions) error {
	// The sign-in is for auth = "refresh_token", whatever the settings say,
	// so a missing client secret is fine here.
	given := make(map[string]string, len(settings)+1)
	for k, v := range settings {
		given[k] = v
	}
	given[SettingAuth] = AuthRefreshToken
	set, err := resolveAuthSettings(connector.Config{Name: opts.Name, Settings: given, CacheDir: opts.CacheDir})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "sign in", Message: "cannot listen on a loopback port: " + err.Error()}
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/", ln.Addr().(*net.TCPAddr).Port)
	oc := &oauth2.Config{ClientID: set.clientID, ClientSecret: set.clientSecret, Scopes: set.userScopes(), RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{TokenURL: set.tokenURL(), AuthURL: set.authURL(), AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	state := randomState()
	authURL := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "query"),
		oauth2.SetAuthURLParam("prompt", "select_account"))

	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		var res result
		switch {
		case q.Get("state") != state:
			res.err = &connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Op: "sign in", Message: "the sign-in answer does not match this sign-in (state mismatch)", Hint: "start `synclang auth login` again"}
		case q.Get("error") != "":
			msg, _, _ := strings.Cut(q.Get("error_description"), "\r\n")
			res.err = &connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Op: "sign in", Code: q.Get("error"), Message: msg,
				Hint: "check that the app registration allows this redirect (Mobile and desktop: http://localhost) and the Dynamics CRM user_impersonation permission"}
		case q.Get("code") == "":
			res.err = &connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Op: "sign in", Message: "the sign-in answer has no code"}
		default:
			res.code = q.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			fmt.Fprintf(w, "<html><body><p>Sign-in failed: %s</p><p>You can close this window.</p></body></html>", html.EscapeString(res.err.Error()))
		} else {
			fmt.Fprint(w, "<html><body><p>Signed in to synclang. You can close this window.</p></body></html>")
		}
		select {
		case done <- res:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	// Shut down gracefully: the browser's request that delivered the
	// answer must get its page. Close would cut that connection while the
	// handler's response is still on its way (the browser shows "connection
	// reset" instead of "Signed in" or the reason it failed).
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()

	if opts.OpenURL != nil {
		opts.OpenURL(authURL)
	}
	var res result
	select {
	case <-ctx.Done():
		return ctx.Err()
	case res = <-done:
	}
	if res.err != nil {
		return res.err
	}
	var base http.RoundTripper
	if opts.HTTPClient != nil {
		base = opts.HTTPClient.Transport
	}
	client := tokenClient(base, httpx.DefaultBudget, nil)
	tok, err := oc.Exchange(context.WithValue(ctx, oauth2.HTTPClient, client), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		ts := &tokenSource{set: set}
		return ts.tokenError(err)
	}
	if tok.RefreshToken == "" {
		return &connector.Error{Kind: connector.ErrorAuth, Service: "dynamics", Op: "sign in", Message: "the identity platform returned no refresh token",
			Hint: "the app registration must allow the offline_access scope"}
	}
	if err := saveRefreshToken(set, tok.RefreshToken); err != nil {
		return &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "save the sign-in", Message: err.Error(),
			Hint: "check that the token cache directory is writable"}
	}
	return nil
}

func randomState() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
