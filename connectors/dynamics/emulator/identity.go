package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// identity emulates the Microsoft identity platform v2 endpoints the
// connector and other Dataverse clients use (reference §1): the token
// endpoint (client credentials, authorization code with PKCE, refresh token
// with rotation) and the authorize endpoint (no sign-in page: the emulator's
// one user consents at once and is redirected back with a code).
type identity struct {
	mu            sync.Mutex
	access        map[string]accessToken
	refresh       map[string]refreshToken
	codes         map[string]authCode
	accessGen     int // tokens of an older generation are expired
	refreshGen    int
	secretExpired bool
	now           func() time.Time
}

type accessToken struct {
	user, resource string
	expires        time.Time
	gen            int
}

type refreshToken struct {
	scopes   []string
	resource string
	issued   time.Time
	gen      int
}

type authCode struct {
	redirectURI, challenge, method string
	scopes                         []string
	resource                       string
	expires                        time.Time
}

// accessTokenLifetime is the lifetime the service gives access tokens
// (expires_in 3599 in Microsoft's samples).
const accessTokenLifetime = 3599 * time.Second

// refreshTokenInactivity is how long an unused refresh token lives (90 days,
// AADSTS700082's text).
const refreshTokenInactivity = 90 * 24 * time.Hour

func (id *identity) init() {
	id.access = map[string]accessToken{}
	id.refresh = map[string]refreshToken{}
	id.codes = map[string]authCode{}
	id.now = time.Now
}

func (id *identity) expireAccessTokens() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.accessGen++
}

func (id *identity) expireRefreshTokens() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.refreshGen++
}

func (id *identity) expireSecret() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.secretExpired = true
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkBearer validates the request's access token and returns the user it
// was issued to.
func (id *identity) checkBearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	at, ok := id.access[strings.TrimSpace(tok)]
	if !ok || at.gen < id.accessGen || !id.now().Before(at.expires) {
		return "", false
	}
	// The token's audience must be this environment.
	if !sameResource(at.resource, baseURL(r)) {
		return "", false
	}
	return at.user, true
}

// sameResource compares a token resource with an environment URL by scheme
// and host (case-insensitively), ignoring trailing slashes.
func sameResource(a, b string) bool {
	ua, err1 := url.Parse(strings.TrimRight(a, "/"))
	ub, err2 := url.Parse(strings.TrimRight(b, "/"))
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// issueAccess mints an access token. Tokens are JWT-shaped (three base64url
// parts with the claims Dataverse tokens carry) but their signature is
// random: the emulator validates them by lookup.
func (id *identity) issueAccess(user, resource, appID string, scopes []string) (string, time.Time) {
	now := id.now()
	exp := now.Add(accessTokenLifetime)
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": "emulator"})
	claims := map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + emulatorTenant + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"appid": appID, "tid": emulatorTenant, "oid": user, "ver": "1.0",
	}
	if len(scopes) > 0 {
		claims["scp"] = strings.Join(scopes, " ")
	}
	body, _ := json.Marshal(claims)
	tok := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body) + "." + randomToken(32)
	id.access[tok] = accessToken{user: user, resource: resource, expires: exp, gen: id.accessGen}
	return tok, exp
}

// tokenError is an error answer of the token endpoint.
type tokenError struct {
	status int
	err    string // RFC 6749 error
	code   int    // AADSTS number
	msg    string
}

func (e *tokenError) write(w http.ResponseWriter, now time.Time) {
	trace, corr := newUUID(), newUUID()
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error":             e.err,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.code, e.msg, trace, corr, ts),
		"error_codes":       []int{e.code},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.code),
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func knownTenant(t string, allowMulti bool) bool {
	switch strings.ToLower(t) {
	case emulatorTenant, emulatorTenantDomain:
		return true
	case "common", "organizations":
		return allowMulti
	}
	return false
}

func tenantNotFound(t string) *tokenError {
	return &tokenError{http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t)}
}

func appNotFound(clientID, tenant string) *tokenError {
	return &tokenError{http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant)}
}

// clientSecretStatus checks a presented secret; "" is fine for the
// authorization-code and refresh grants (the app allows public client
// flows, as a desktop/CLI registration does).
func (id *identity) checkSecret(secret string, required bool) *tokenError {
	if secret == "" {
		if required {
			return &tokenError{http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
		}
		return nil
	}
	if secret != emulatorClientSecret {
		// UNCERTAIN (reference §1): whether invalid_client comes with 400
		// or 401; public code treats AADSTS7000215 as 401 (RFC 6749 §5.2
		// allows 401 for failed client authentication).
		return &tokenError{http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", emulatorClientID)}
	}
	if id.secretExpired {
		return &tokenError{http.StatusUnauthorized, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", emulatorClientID)}
	}
	return nil
}

// resourceScopes splits a scope list into the resource it names and the
// scopes; OpenID scopes (openid, profile, email, offline_access) name no
// resource.
func resourceScopes(scope string) (resource string, scopes []string, bad string) {
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "profile", "email", "offline_access":
			scopes = append(scopes, s)
			continue
		}
		i := strings.LastIndex(s, "/")
		if i <= 0 {
			return "", nil, s
		}
		res, perm := s[:i], s[i+1:]
		res = strings.TrimRight(res, "/")
		if perm != ".default" && perm != "user_impersonation" {
			return "", nil, s
		}
		if resource != "" && !sameResource(resource, res) {
			return "", nil, s // one resource per request
		}
		resource = res
		scopes = append(scopes, s)
	}
	return resource, scopes, ""
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	id := &e.id
	id.mu.Lock()
	defer id.mu.Unlock()
	now := id.now()
	fail := func(te *tokenError) { te.write(w, now) }
	if r.Method != http.MethodPost {
		fail(&tokenError{http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request."})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		fail(&tokenError{http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."})
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(&tokenError{http.StatusBadRequest, "invalid_request", 90014, "The request body is not a valid form."})
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// client_secret_basic: RFC 6749 §2.3.1 form-encodes both parts.
		cu, err1 := url.QueryUnescape(u)
		cp, err2 := url.QueryUnescape(p)
		if err1 == nil && err2 == nil {
			clientID, secret = cu, cp
		}
	}
	grant := f.Get("grant_type")
	if grant == "" {
		fail(&tokenError{http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."})
		return
	}
	if !knownTenant(tenant, grant != "client_credentials") {
		fail(tenantNotFound(tenant))
		return
	}
	if clientID == "" {
		fail(&tokenError{http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."})
		return
	}
	if !strings.EqualFold(clientID, emulatorClientID) {
		fail(appNotFound(clientID, tenant))
		return
	}
	self := baseURL(r)
	switch grant {
	case "client_credentials":
		if te := id.checkSecret(secret, true); te != nil {
			fail(te)
			return
		}
		scope := f.Get("scope")
		resource, _, bad := resourceScopes(scope)
		if bad != "" || resource == "" || !strings.HasSuffix(strings.TrimSpace(scope), "/.default") || len(strings.Fields(scope)) != 1 {
			fail(&tokenError{http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)})
			return
		}
		if !sameResource(resource, self) {
			fail(resourceNotFound(resource, tenant))
			return
		}
		tok, _ := id.issueAccess(applicationUserID, resource, emulatorClientID, nil)
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(accessTokenLifetime.Seconds()), "ext_expires_in": int(accessTokenLifetime.Seconds()), "access_token": tok})
	case "authorization_code":
		if te := id.checkSecret(secret, false); te != nil {
			fail(te)
			return
		}
		code, ok := id.codes[f.Get("code")]
		if !ok || now.After(code.expires) {
			fail(&tokenError{http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."})
			return
		}
		delete(id.codes, f.Get("code")) // a code is redeemed once
		if f.Get("redirect_uri") != code.redirectURI {
			fail(&tokenError{http.StatusBadRequest, "invalid_grant", 500117, "The reply uri specified in the request isn't expected."})
			return
		}
		if code.challenge != "" {
			v := f.Get("code_verifier")
			want := v
			if code.method == "S256" {
				sum := sha256.Sum256([]byte(v))
				want = base64.RawURLEncoding.EncodeToString(sum[:])
			}
			if v == "" || want != code.challenge {
				fail(&tokenError{http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."})
				return
			}
		}
		e.writeUserTokens(w, code.scopes, code.resource)
	case "refresh_token":
		if te := id.checkSecret(secret, false); te != nil {
			fail(te)
			return
		}
		rt, ok := id.refresh[f.Get("refresh_token")]
		if !ok {
			fail(&tokenError{http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."})
			return
		}
		if rt.gen < id.refreshGen || now.Sub(rt.issued) > refreshTokenInactivity {
			fail(&tokenError{http.StatusBadRequest, "invalid_grant", 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", rt.issued.UTC().Format("2006-01-02T15:04:05.0000000Z"))})
			return
		}
		scopes, resource := rt.scopes, rt.resource
		if s := f.Get("scope"); s != "" {
			res, sc, bad := resourceScopes(s)
			if bad != "" || (res != "" && !sameResource(res, rt.resource)) {
				fail(&tokenError{http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", s)})
				return
			}
			scopes = sc
			if !has(scopes, "offline_access") && has(rt.scopes, "offline_access") {
				scopes = append(scopes, "offline_access") // a refresh keeps the grant
			}
		}
		e.writeUserTokens(w, scopes, resource)
	default:
		fail(&tokenError{http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '" + grant + "'."})
	}
}

// applicationUserID is the Dataverse user bound to the app registration
// (client credentials).
const applicationUserID = "a1b2c3d4-0000-4000-8000-00000000dddd"

func resourceNotFound(resource, tenant string) *tokenError {
	return &tokenError{http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, tenant)}
}

// writeUserTokens answers an authorization-code or refresh grant; a new
// refresh token (rotation) comes only with offline_access, an id_token only
// with openid (reference §1). The mutex is held.
func (e *Emulator) writeUserTokens(w http.ResponseWriter, scopes []string, resource string) {
	id := &e.id
	var resScopes []string
	for _, s := range scopes {
		if strings.Contains(s, "/") {
			resScopes = append(resScopes, s)
		}
	}
	tok, _ := id.issueAccess(emulatorUserID, resource, emulatorClientID, []string{"user_impersonation"})
	out := map[string]any{"token_type": "Bearer", "scope": strings.Join(resScopes, " "), "expires_in": int(accessTokenLifetime.Seconds()), "ext_expires_in": int(accessTokenLifetime.Seconds()), "access_token": tok}
	if has(scopes, "offline_access") {
		rt := randomToken(48)
		id.refresh[rt] = refreshToken{scopes: scopes, resource: resource, issued: id.now(), gen: id.refreshGen}
		out["refresh_token"] = rt
	}
	if has(scopes, "openid") {
		hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256"})
		claims, _ := json.Marshal(map[string]any{"aud": emulatorClientID, "iss": "https://login.microsoftonline.com/" + emulatorTenant + "/v2.0",
			"tid": emulatorTenant, "oid": emulatorUserID, "preferred_username": "user@" + emulatorTenantDomain, "name": "Emulator User",
			"iat": id.now().Unix(), "exp": id.now().Add(time.Hour).Unix()})
		out["id_token"] = base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + randomToken(32)
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// validRedirect reports whether uri is one of the app's redirect URIs: the
// loopback addresses http://localhost, http://127.0.0.1 and http://[::1]
// with any port (the platform ignores the port of loopback redirect URIs,
// RFC 8252 §7.3) and the path "/" or none.
func validRedirect(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return u.Path == "" || u.Path == "/"
}

func (e *Emulator) serveAuthorize(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "AADSTS90014: The request is not valid.", http.StatusBadRequest)
		return
	}
	q := r.Form
	page := func(code int, msg string) {
		// Errors before the redirect URI is trusted are shown on the
		// sign-in page, not redirected.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><p>AADSTS%d: %s</p></body></html>\n", code, html.EscapeString(msg))
	}
	if !knownTenant(tenant, true) {
		page(90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		page(900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if !strings.EqualFold(clientID, emulatorClientID) {
		page(700016, appNotFound(clientID, tenant).msg)
		return
	}
	redirect := q.Get("redirect_uri")
	if !validRedirect(redirect) {
		page(50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", redirect, clientID))
		return
	}
	state := q.Get("state")
	mode := q.Get("response_mode")
	back := func(params url.Values) {
		if state != "" {
			params.Set("state", state)
		}
		switch mode {
		case "form_post":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<html><body onload="document.forms[0].submit()"><form method="POST" action="%s">`, html.EscapeString(redirect))
			for k, vs := range params {
				fmt.Fprintf(w, `<input type="hidden" name="%s" value="%s"/>`, html.EscapeString(k), html.EscapeString(vs[0]))
			}
			fmt.Fprint(w, "</form></body></html>")
		case "fragment":
			http.Redirect(w, r, redirect+"#"+params.Encode(), http.StatusFound)
		default:
			http.Redirect(w, r, redirect+"?"+params.Encode(), http.StatusFound)
		}
	}
	deny := func(errCode string, code int, msg string) {
		back(url.Values{"error": {errCode}, "error_description": {fmt.Sprintf("AADSTS%d: %s", code, msg)}})
	}
	if q.Get("response_type") != "code" {
		deny("unsupported_response_type", 700051, fmt.Sprintf("response_type '%s' is not enabled for the application.", q.Get("response_type")))
		return
	}
	resource, scopes, bad := resourceScopes(q.Get("scope"))
	if bad != "" || resource == "" {
		deny("invalid_scope", 70011, fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", q.Get("scope")))
		return
	}
	if !sameResource(resource, baseURL(r)) {
		deny("invalid_resource", 500011, resourceNotFound(resource, tenant).msg)
		return
	}
	method := q.Get("code_challenge_method")
	challenge := q.Get("code_challenge")
	if challenge != "" && method == "" {
		method = "plain"
	}
	if method != "" && method != "S256" && method != "plain" {
		deny("invalid_request", 50000, "The code_challenge_method is not supported.")
		return
	}
	// The emulated user has a session and has consented, so every prompt
	// value (none included) succeeds without a page.
	code := randomToken(48)
	e.id.mu.Lock()
	e.id.codes[code] = authCode{redirectURI: redirect, challenge: challenge, method: method, scopes: scopes, resource: resource, expires: e.id.now().Add(10 * time.Minute)}
	e.id.mu.Unlock()
	back(url.Values{"code": {code}})
}
