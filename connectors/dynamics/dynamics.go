package dynamics

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/diskcache"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Service protection limits per user (reference §9), and what the
// connector paces itself to: under 6000 requests per 5 minutes (a token
// bucket of 5600 per 5 minutes with a burst of 200 sends at most 5800 in
// any window) and under 52 requests in flight.
const (
	limitRequests    = 6000
	limitWindow      = 5 * time.Minute
	limitConcurrency = 52
	paceRequests     = 5600
	paceBurst        = 200
	maxInFlight      = 48
)

// Conn is a live connection to a Dataverse environment. It is safe for
// concurrent use.
type Conn struct {
	name   string
	set    authSettings
	apiURL string // https://org.crm.dynamics.com/api/data/v9.2/
	client *http.Client
	tr     *httpx.Transport
	pacer  *httpx.Pacer
	tokens *tokenSource
	log    *slog.Logger
	caps   answerCaps

	mu     sync.Mutex
	tables map[string]*tableInfo // by entity (logical) name
	known  bool                  // tables holds a discovery (live or cached)
	// discovered are the tables of the last discovery (what Discover
	// returns and the schema cache keeps).
	discovered map[string]*tableInfo
	// The schema cache (schemacache.go): where it is kept and under which
	// key, the RetrieveMetadataChanges stamp and MetadataIds of the
	// discovery, and when it was last validated against the service.
	apiVersion string
	schemaPath string
	schemaKey  string
	stamp      string
	metaIDs    map[string]bool
	validated  time.Time
	ttl        time.Duration
	now        func() time.Time
	// discoverMu serializes discovery and revalidation.
	discoverMu sync.Mutex

	// bulkSize is the adaptive number of records per bulk request.
	bulkSize atomic.Int64
	// execLimited counts 429s that cited the execution-time limit.
	execLimited atomic.Int64
}

// tableInfo is what the connector knows about one table.
type tableInfo struct {
	ent            *connector.Entity
	set            string // entity set name ("contacts")
	changeTracking bool
	noBulk         bool // the table lacks CreateMultiple/UpdateMultiple
}

var _ connector.Factory = New

// New builds a connector from a connection's resolved settings (see
// Kind().Settings). It validates the settings and, for auth =
// "refresh_token", loads the stored sign-in; it sends no request.
func New(ctx context.Context, cfg connector.Config) (connector.Connector, error) {
	set, err := resolveAuthSettings(cfg)
	if err != nil {
		return nil, err
	}
	version := cfg.Setting(Kind(), SettingAPIVersion)
	if err := validateAPIVersion(version); err != nil {
		return nil, configError(SettingAPIVersion, err)
	}
	budget, err := httpx.ParseBudget(cfg.Setting(Kind(), SettingRetryBudget))
	if err != nil {
		return nil, configError(SettingRetryBudget, err)
	}
	base := http.RoundTripper(nil)
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		base = cfg.HTTPClient.Transport
	}
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Conn{name: cfg.Name, set: set, apiURL: set.url + "/api/data/" + version + "/", log: logger, tables: map[string]*tableInfo{}, caps: defaultCaps,
		apiVersion: version, schemaKey: schemaKey(set.url, version), ttl: schemaTTL, now: time.Now}
	if path, err := diskcache.Path(cfg.CacheDir, "dynamics-schema", c.schemaKey); err == nil {
		c.schemaPath = path
	}
	c.bulkSize.Store(maxBulk)
	c.pacer = httpx.NewPacer(nil, []httpx.Scope{{Name: "", Rate: httpx.Rate{N: paceRequests, Per: limitWindow}, Burst: paceBurst}}, cfg.RateScale, maxInFlight)
	c.tr = httpx.New(httpx.Options{Service: "dynamics", Base: &sniffer{base: base, c: c}, Pacer: c.pacer, Logger: logger, Budget: budget})
	c.tokens, err = newTokenSource(set, base, budget, logger)
	if err != nil {
		return nil, err
	}
	// Redirects are followed only within the environment's scheme and host,
	// and the token goes only to the environment (mayCarry): Go's client
	// would otherwise follow a redirect anywhere, and authTransport sets
	// the token on every hop.
	c.client = &http.Client{Transport: &authTransport{base: c.tr, src: c.tokens, allow: c.mayCarry, origin: set.url},
		CheckRedirect: httpx.SameHost}
	for _, e := range StandardSchema().Entities {
		c.tables[e.Name] = &tableInfo{ent: e, set: e.Name + "s", changeTracking: e.Incremental}
	}
	c.loadSchemaCache()
	return c, nil
}

func configError(setting string, err error) error {
	return &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "check setting " + setting, Message: err.Error()}
}

func resolveAuthSettings(cfg connector.Config) (authSettings, error) {
	k := Kind()
	get := func(n string) string { return strings.TrimSpace(cfg.Setting(k, n)) }
	set := authSettings{name: cfg.Name, url: strings.TrimRight(get(SettingURL), "/"), tenant: get(SettingTenant),
		clientID: get(SettingClientID), clientSecret: cfg.Settings[SettingClientSecret],
		authority: strings.TrimRight(get(SettingAuthority), "/"), mode: get(SettingAuth), cacheDir: cmp.Or(cfg.SignInDir, cfg.CacheDir),
		register: cfg.RegisterSecret}
	if set.name == "" {
		set.name = "CONNECTION"
	}
	for _, req := range []struct{ name, v string }{{SettingURL, set.url}, {SettingTenant, set.tenant}, {SettingClientID, set.clientID}} {
		if req.v == "" {
			return set, configError(req.name, fmt.Errorf("%s is not set", req.name))
		}
	}
	if err := validateURL(set.url); err != nil {
		return set, configError(SettingURL, err)
	}
	if err := validateURL(set.authority); err != nil {
		return set, configError(SettingAuthority, err)
	}
	if strings.ContainsAny(set.tenant, "/?#") {
		return set, configError(SettingTenant, fmt.Errorf("%q is not a tenant ID or domain name", set.tenant))
	}
	if set.mode == AuthClientCredentials && set.clientSecret == "" {
		return set, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "check setting client_secret",
			Message: `client_secret is empty with auth = "client_credentials"`,
			Hint:    `set client_secret = secret("AZURE_CLIENT_SECRET") (and export it), or use auth = "refresh_token" after ` + "`synclang auth login " + set.name + "`"}
	}
	return set, nil
}

// Close releases idle connections.
func (c *Conn) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// Stats counts the requests sent to the Web API (token requests excluded).
func (c *Conn) Stats() connector.Stats {
	req, retries, throttled := c.tr.Stats()
	return connector.Stats{Requests: req, Retries: retries, Throttled: throttled}
}

// Limits are Dataverse's service protection limits (reference §9): per user
// and web server, 6000 requests and 20 minutes of combined execution time
// in a 5-minute sliding window, and 52 concurrent requests.
func (c *Conn) Limits() []connector.Limit {
	return []connector.Limit{{Scope: "all requests of the user (per web server)", Requests: limitRequests, Per: limitWindow, Concurrency: limitConcurrency}}
}

// ReadRate is the rows per second a full read can bring under service
// protection: pages of 5000 rows (the service's maximum), 6000 requests
// per 5 minutes (connector.ReadRater).
func (c *Conn) ReadRate(string) float64 {
	return 5000 * limitRequests / limitWindow.Seconds()
}

var (
	_ connector.ReadRater   = (*Conn)(nil)
	_ connector.Connector   = (*Conn)(nil)
	_ connector.Deleter     = (*Conn)(nil)
	_ connector.Limited     = (*Conn)(nil)
	_ connector.Metered     = (*Conn)(nil)
	_ connector.Counter     = (*Conn)(nil)
	_ connector.Estimator   = (*Conn)(nil)
	_ connector.Revalidator = (*Conn)(nil)
)

// ---- HTTP ----

// authTransport sets the bearer token, and when the API answers 401 (the
// token expired or was revoked before its time) fetches a new token and
// sends the request once more.
type authTransport struct {
	base   http.RoundTripper
	src    *tokenSource
	allow  func(*url.URL) bool // may a request to this URL carry the token?
	origin string              // the environment URL, for the error
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.allow(req.URL) {
		return nil, &httpx.ForeignHostError{Service: "dynamics", URL: req.URL, Allowed: t.origin}
	}
	tok, err := t.src.token(req.Context())
	if err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(withToken(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t.src.invalidate(tok)
	tok, err = t.src.token(req.Context())
	if err != nil {
		return nil, err
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.base.RoundTrip(withToken(retry, tok))
}

// mayCarry reports whether a request to u may carry the access token: over
// https (plain http only on loopback), to the environment's host or, for a
// *.dynamics.com environment, to another *.dynamics.com host (the Web API's
// alias hosts, see sameService).
func (c *Conn) mayCarry(u *url.URL) bool {
	return httpx.Secure(u) && c.sameService(u.String()) == nil
}

func withToken(req *http.Request, tok *oauth2.Token) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return r
}

// sniffer sits under the retrying transport and watches 429 answers: when
// they cite the execution-time limit (0x80072321) the connector sends
// smaller bulk requests (reference §9: "Decrease number of concurrent
// requests or reduce the duration of requests").
type sniffer struct {
	base http.RoundTripper
	c    *Conn
}

func (s *sniffer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte(codeExecTimeLimit)) {
		s.c.execLimited.Add(1)
		s.c.shrinkBulk()
	}
	return resp, nil
}

// Dataverse error codes the connector branches on (reference §8).
const (
	codeObjectNotExist   = "0x80040217"
	codeResourceNotFound = "0x8006088a"
	codeExpiredVersion   = "0x80044352"
	codeCTNotEnabled     = "0x80072491"
	codeDupDetection     = "0x80040333"
	codeDuplicateRecord  = "0x80040237"
	codeDuplicateKey     = "0x80060892"
	codeVersionMismatch  = "0x80060882"
	codeMaxLength        = "0x80044331"
	codeOptionRange      = "0x8004431a"
	codeExecTimeLimit    = "0x80072321"
)

// serviceError is the {"error":{"code","message"}} body, with OData's
// optional target and details (OData JSON Format 4.01 §21: "target" names
// the property the error concerns).
type serviceError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Target  string `json:"target"`
		Details []struct {
			Target string `json:"target"`
		} `json:"details"`
	} `json:"error"`
}

// quotedColumn finds the column a Dataverse validation message names, in
// the templates reference §8 documents for the codes that concern one
// column: "The length of the 'subject' attribute ...", "The value 7 of
// 'statuscode' on record ...", "Invalid property 'Name' was found ...".
// Dataverse sends the column nowhere else.
var quotedColumn = map[string]*regexp.Regexp{
	codeMaxLength:   regexp.MustCompile(`The length of the '([^']+)' attribute`),
	codeOptionRange: regexp.MustCompile(`The value -?\d+ of '([^']+)'`),
	"0x0":           regexp.MustCompile(`Invalid property '([^']+)' was found`),
}

// errorFields returns the columns a decoded error names (see
// connector.Error.Fields).
func errorFields(se serviceError) []string {
	var out []string
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	add(se.Error.Target)
	for _, d := range se.Error.Details {
		add(d.Target)
	}
	if rx := quotedColumn[se.Error.Code]; rx != nil {
		if m := rx.FindStringSubmatch(se.Error.Message); m != nil {
			add(m[1])
		}
	}
	return out
}

// apiError turns a failed response into a *connector.Error: the service's
// code and message, the Kind the engine acts on, and a hint.
func (c *Conn) apiError(op string, status int, header http.Header, body []byte, cause error) *connector.Error {
	e := &connector.Error{Service: "dynamics", Op: op, Status: status, Err: cause}
	var se serviceError
	if json.Unmarshal(body, &se) == nil {
		e.Code, e.Message, e.Fields = se.Error.Code, se.Error.Message, errorFields(se)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized:
		e.Kind = connector.ErrorAuth
		e.Hint = "the environment rejected the access token: check that the app registration has an application user with a security role in this environment (Power Platform admin center → Application users), and that url is the environment's URL"
		if c.set.mode == AuthRefreshToken {
			e.Hint = fmt.Sprintf("the environment rejected the sign-in: check that your user has access to %s, or run `synclang auth login %s`", c.set.url, c.name)
		}
	case status == http.StatusForbidden:
		e.Kind = connector.ErrorPermission
		e.Hint = "the user lacks a privilege: give the application user a security role with read/write access to this table"
	case status == http.StatusTooManyRequests:
		e.Kind = connector.ErrorThrottled
		if ra, ok := httpx.RetryAfter(header, time.Now()); ok {
			e.RetryAfter = ra
		}
		e.Hint = "Dataverse kept throttling after retries (service protection limits); run again later or lower the run's concurrency"
	case e.Code == codeExpiredVersion:
		e.Kind = connector.ErrorExpiredCursor
	case status == http.StatusNotFound && e.Code == codeResourceNotFound:
		e.Kind = connector.ErrorConfig
		e.Hint = "the table or operation does not exist in this environment: check the entity name, or run `synclang schema pull`"
	case status == http.StatusNotFound:
		e.Kind = connector.ErrorNotFound
		e.Hint = "the record no longer exists in Dynamics (deleted or merged); synclang will not re-create it on an update"
	case status == http.StatusPreconditionFailed:
		e.Kind = connector.ErrorConflict
		switch e.Code {
		case codeDuplicateKey, codeDuplicateRecord:
			e.Hint = "another record already has this key value (an alternate key such as emailaddress1): match on that key instead of creating"
		case codeVersionMismatch:
			e.Hint = "the record changed in Dynamics meanwhile; the next run will see the new version"
		}
	case status == http.StatusInternalServerError && e.Code == codeDupDetection:
		e.Kind = connector.ErrorConflict
		e.Hint = "a duplicate detection rule matched an existing record: match on that record's key, or adjust the rule"
	case status == http.StatusRequestEntityTooLarge:
		e.Kind = connector.ErrorInvalid
		e.Hint = "the request is too large; synclang sends smaller batches"
	case status >= 500:
		e.Kind = connector.ErrorTransient
		e.Hint = "Dataverse failed after retries; run again later"
	case status == http.StatusBadRequest && e.Code == "0x0" && strings.Contains(e.Message, "Could not find a property named"):
		e.Kind = connector.ErrorConfig
		e.Hint = "a column in the mapping does not exist in this environment (names are case-sensitive): check it, or run `synclang schema pull`"
		c.markSchemaStale() // the cached schema may still list a removed column
	case status >= 400:
		e.Kind = connector.ErrorInvalid
		switch e.Code {
		case codeMaxLength:
			e.Hint = "a value is longer than the column allows: shorten it in the mapping (e.g. truncate())"
		case "0x8004431a":
			e.Hint = "a choice value is not one of the column's options: map it to one of them"
		case "0x0":
			if strings.Contains(e.Message, "Invalid property") {
				e.Hint = "the record sets a column the table does not have: check the mapping's column names"
			}
		}
	}
	return e
}

// call sends a request and returns the response body of a 2xx answer; any
// other answer becomes a *connector.Error for op. body (when not nil) is
// sent as JSON. hdr adds headers (Prefer, If-Match, ...).
func (c *Conn) call(ctx context.Context, op, method, url string, body any, hdr http.Header) (*http.Response, []byte, error) {
	var rd []byte
	if body != nil {
		var err error
		if rd, err = json.Marshal(body); err != nil {
			return nil, nil, &connector.Error{Kind: connector.ErrorInvalid, Service: "dynamics", Op: op, Message: "cannot encode the request: " + err.Error()}
		}
	}
	return c.send(ctx, op, method, url, "application/json; charset=utf-8", rd, hdr)
}

func (c *Conn) send(ctx context.Context, op, method, url, contentType string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rdr)
	if err != nil {
		return nil, nil, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: op, Message: "cannot build the request: " + redact(err)}
	}
	// reference §2: the headers every request should carry.
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("If-None-Match", "null")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range hdr {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if method == http.MethodPatch && req.Header.Get("If-Match") != "" {
		req = httpx.Idempotent(req) // an update by key may be sent twice
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ce := contextError(err); ce != nil && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var cerr *connector.Error
		if errors.As(err, &cerr) {
			return nil, nil, cerr // token errors
		}
		return nil, nil, c.transportError(op, err)
	}
	defer resp.Body.Close()
	var data []byte
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	} else {
		data, err = httpx.ReadBody(resp.Body, c.caps.of(method, req.URL), "dynamics", endpoint(method, req.URL, c.apiURL))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		msg := "reading the answer: " + redact(err)
		var tl *httpx.TooLargeError
		if errors.As(err, &tl) {
			msg = strings.TrimPrefix(tl.Error(), "dynamics: ")
		}
		return nil, nil, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: op, Message: msg, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		herr := &httpx.HTTPError{Method: method, Path: req.URL.Path, Status: resp.StatusCode, Header: resp.Header, Body: data}
		return resp, data, c.apiError(op, resp.StatusCode, resp.Header, data, herr)
	}
	return resp, data, nil
}

// Answer caps (SPEC.md, "Connections at run time"): a page is at most 5000
// rows (reference §4) and a $batch at most 1000 operations (reference §7),
// with room for wide rows and their annotations; other answers (bulk
// actions' ids, counts, single records) are small.
var defaultCaps = answerCaps{page: 128 << 20, batch: 64 << 20, other: 16 << 20}

// maxErrorBody bounds what is kept of a non-2xx answer.
const maxErrorBody = 64 << 10

// answerCaps are the size caps of 2xx answers (tests lower them).
type answerCaps struct{ page, batch, other int64 }

func (a answerCaps) of(method string, u *url.URL) int64 {
	switch {
	case strings.HasSuffix(u.Path, "/$batch"):
		return a.batch
	case method == http.MethodGet:
		return a.page
	}
	return a.other
}

// endpoint names a request for messages: the method and the path under the
// Web API root, without keys or query ("GET contacts", "POST $batch").
func endpoint(method string, u *url.URL, apiURL string) string {
	p := u.Path
	if root, err := url.Parse(apiURL); err == nil {
		p = strings.TrimPrefix(p, root.Path)
	}
	if i := strings.IndexByte(p, '('); i >= 0 {
		p = p[:i]
	}
	return method + " " + p
}

// transportError is a request that got no usable answer: a refused
// redirect or foreign host (a configuration matter), a timeout, or a
// network failure.
func (c *Conn) transportError(op string, err error) *connector.Error {
	e := &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: op,
		Message: "could not reach " + c.set.url + ": " + redact(err), Hint: "check the url setting and the network; run again later", Err: err}
	var fh *httpx.ForeignHostError
	switch {
	case errors.Is(err, httpx.ErrRedirect):
		e.Kind, e.Message = connector.ErrorConfig, redact(err)
		e.Hint = "set url to the environment's own URL (https://ORG.crmN.dynamics.com), which answers without redirecting"
	case errors.As(err, &fh):
		e.Kind, e.Message = connector.ErrorConfig, strings.TrimPrefix(fh.Error(), "dynamics: ")
		e.Hint = "the service pointed synclang at another host; check the url setting"
	case httpx.Permanent(err):
		e.Kind = connector.ErrorConfig
		e.Hint = "check the url setting (the host name, and that it serves a valid TLS certificate)"
	}
	return e
}
