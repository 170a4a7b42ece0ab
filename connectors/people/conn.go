package people

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/diskcache"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// service names People in errors.
const service = "people"

// Entities and the person type each one reads and writes.
const (
	EntityCustomer = "customer"
	EntityLead     = "lead"
)

func personType(entity string) (string, error) {
	switch entity {
	case EntityCustomer:
		return "CUSTOMER", nil
	case EntityLead:
		return "LEAD", nil
	}
	return "", &connector.Error{Kind: connector.ErrorConfig, Service: service,
		Message: fmt.Sprintf("no entity %q", entity), Hint: "People has the entities customer and lead"}
}

// Conn is a live connection to one People account. It is safe for
// concurrent use; every request goes through a pacer that keeps each
// endpoint under its documented per-account rate, and a transport that
// retries 429s, 5xx and connection failures with capped, jittered
// exponential backoff.
type Conn struct {
	name   string
	base   *url.URL
	key    string
	client *http.Client
	tr     *httpx.Transport
	baseRT http.RoundTripper
	logger *slog.Logger
	tune   tuning

	// loadMu serializes the first loads of the attribute definitions, so
	// concurrent first writes and lookups send one request, not several.
	loadMu sync.Mutex

	mu    sync.Mutex
	attrs map[string]string // custom attribute name → dataType; nil until loaded
	// attrsAt is when attrs was read from the service (here or by an
	// earlier process, through the attribute cache); attrs older than
	// attrTTL are read again.
	attrsAt  time.Time
	attrTTL  time.Duration
	attrPath string // the attribute cache file; "" = none
	attrKey  string
	now      func() time.Time
	tags     map[string]bool // tag names known to exist

	// Capabilities of the account's list filter that the reference marks
	// UNCERTAIN, switched off the first time the service refuses or
	// ignores them.
	noDateFilter atomic.Bool
	noIDFilter   atomic.Bool
	// noTotalCount is set once a list answer asked for includeTotalCount
	// came without totalCount: full reads then walk by modifiedAt ranges.
	noTotalCount atomic.Bool
}

// tuning holds the knobs tests turn; zero values take the defaults.
type tuning struct {
	pageSize   int // persons per list request (max 1000)
	batchSize  int // persons per batch, match and tag request (max 1000)
	idsPerGet  int // ids per list request when fetching persons by id
	minBackoff time.Duration
	maxBackoff time.Duration
	caps       answerCaps
	budget     time.Duration // overrides the retry_budget setting
}

func (t *tuning) defaults(scale float64) {
	if t.pageSize <= 0 || t.pageSize > maxPage {
		t.pageSize = maxPage
	}
	if t.batchSize <= 0 || t.batchSize > maxBatch {
		t.batchSize = maxBatch
	}
	if t.idsPerGet <= 0 {
		// {"id":1234567} is 23 characters URL-encoded: 200 ids keep the
		// URL under 5 kB, well within common server limits (8 kB).
		t.idsPerGet = 200
	}
	// The backoff scales with the rates: with limits scaled up 10x (an
	// emulator with TimeScale 10) a one-second window lasts 100 ms.
	if t.caps == (answerCaps{}) {
		t.caps = defaultCaps
	}
	if t.minBackoff <= 0 {
		t.minBackoff = time.Duration(float64(250*time.Millisecond) / scale)
	}
	if t.maxBackoff <= 0 {
		t.maxBackoff = time.Duration(float64(30*time.Second) / scale)
	}
}

// peopleTimeout is the deadline of one attempt (SPEC.md, "Connections at
// run time").
const peopleTimeout = 2 * time.Minute

const (
	maxPage  = 1000 // list limit maximum
	maxBatch = 1000 // batch, upsert, match and tag request maximum
)

// New connects to the People account the settings name (url, api_key). It
// checks the settings but sends no request; the first call does.
func New(ctx context.Context, cfg connector.Config) (connector.Connector, error) {
	return newConn(cfg, tuning{})
}

func newConn(cfg connector.Config, tune tuning) (*Conn, error) {
	cfgErr := func(format string, args ...any) error {
		return &connector.Error{Kind: connector.ErrorConfig, Service: service, Op: "connect " + cfg.Name,
			Message: fmt.Sprintf(format, args...),
			Hint:    fmt.Sprintf("fix the settings of connection %q", cfg.Name)}
	}
	raw := strings.TrimSpace(cfg.Settings[SettingURL])
	if raw == "" {
		return nil, cfgErr("setting %q is empty", SettingURL)
	}
	if err := connector.CheckServiceURL(raw); err != nil {
		return nil, cfgErr("setting %q: %v", SettingURL, err)
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, cfgErr("setting %q is not a URL", SettingURL)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, cfgErr("setting %q must be a base URL without query or fragment", SettingURL)
	}
	key := strings.TrimSpace(cfg.Settings[SettingAPIKey])
	if key == "" {
		return nil, cfgErr("setting %q is empty", SettingAPIKey)
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// Never echo the key.
		return nil, cfgErr("setting %q contains spaces or control characters", SettingAPIKey)
	}
	budget, err := httpx.ParseBudget(cfg.Setting(Kind(), SettingRetryBudget))
	if err != nil {
		return nil, cfgErr("setting %q: %v", SettingRetryBudget, err)
	}
	scale := cfg.RateScale
	if scale <= 0 {
		scale = 1
	}
	tune.defaults(scale)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var baseRT http.RoundTripper
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		baseRT = cfg.HTTPClient.Transport
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 8
		baseRT = t
	}
	basePath := base.Path
	pacer := httpx.NewPacer(func(r *http.Request) string { return scopeOf(r, basePath) }, pacerScopes(), scale, 4)
	tr := httpx.New(httpx.Options{
		Service: service, Base: baseRT, Pacer: pacer, Logger: logger,
		MinBackoff: tune.minBackoff, MaxBackoff: tune.maxBackoff, Budget: cmp.Or(tune.budget, budget),
		// People answers in seconds; a batch of 1000 persons in well under
		// a minute.
		Timeout: peopleTimeout,
	})
	// Redirects are followed only within the account's scheme and host, and
	// the key goes only to the account's URL (keyTransport): Go's client
	// would follow a redirect to any host, and re-post a 307's body there.
	origin := *base
	client := &http.Client{Transport: &keyTransport{base: tr, origin: &origin, key: key}, CheckRedirect: httpx.SameHost}
	if cfg.HTTPClient != nil {
		client.Jar = cfg.HTTPClient.Jar
	}
	c := &Conn{name: cfg.Name, base: base, key: key, client: client, tr: tr, baseRT: baseRT, logger: logger, tune: tune,
		attrTTL: attrTTL, now: time.Now, attrKey: attrCacheKey(base)}
	if path, err := diskcache.Path(cfg.CacheDir, "people-attributes", c.attrKey); err == nil {
		c.attrPath = path
		c.loadAttrCache()
	}
	return c, nil
}

// keyTransport sets `Authorization: App <key>` on requests for the
// account's URL over https (plain http only on loopback), and refuses to
// send any other request.
type keyTransport struct {
	base   http.RoundTripper
	origin *url.URL
	key    string
}

func (t *keyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !httpx.MayCarry(t.origin, req.URL) {
		return nil, &httpx.ForeignHostError{Service: service, URL: req.URL, Allowed: t.origin.Scheme + "://" + t.origin.Host}
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "App "+t.key)
	return t.base.RoundTrip(r)
}

// endpointLimits are the documented per-account rates of the endpoints the
// connector calls (spec x-throttling-info, reference §3, §4, §7).
var endpointLimits = []struct {
	scope     string
	perSecond int
}{
	{"GET /people/2/persons", 5},
	{"POST /people/2/persons", 10},
	{"PUT /people/2/persons/contactInformation", 5},
	{"POST /people/2/persons/batch", 5},
	{"PATCH /people/2/persons/batch", 5},
	{"DELETE /people/2/persons/batch", 5},
	{"POST /people/2/persons/match", 15},
	{"GET /people/2/customAttributes", 5},
	{"POST /people/2/tags", 5},
	{"DELETE /people/2/tags/{name}/persons", 5},
}

// pacerScopes paces each endpoint for a sliding one-second window:
// Infobip documents requests per second without saying whether it counts
// them in fixed or sliding windows, and traffic that never puts more than
// N requests into any second passes either.
func pacerScopes() []httpx.Scope {
	scopes := make([]httpx.Scope, len(endpointLimits))
	for i, l := range endpointLimits {
		scopes[i] = httpx.Scope{Name: l.scope, Rate: httpx.Rate{N: l.perSecond, Per: time.Second}, Sliding: true}
	}
	return scopes
}

// scopeOf names a request's rate-limit scope: method and path, with tag
// and attribute names replaced by {name}. People limits each operation
// separately.
func scopeOf(r *http.Request, basePath string) string {
	p := strings.TrimPrefix(r.URL.Path, basePath)
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) >= 4 && segs[0] == "people" && segs[1] == "2" && (segs[2] == "tags" || segs[2] == "customAttributes") {
		segs[3] = "{name}"
	}
	return r.Method + " /" + strings.Join(segs, "/")
}

// Limits reports the documented rates of the endpoints the connector uses.
func (c *Conn) Limits() []connector.Limit {
	out := make([]connector.Limit, len(endpointLimits))
	for i, l := range endpointLimits {
		out[i] = connector.Limit{Scope: l.scope, Requests: l.perSecond, Per: time.Second}
	}
	return out
}

// ReadRate is the persons per second a full read can bring at the list
// endpoint's documented 5 requests per second, a page each
// (connector.ReadRater).
func (c *Conn) ReadRate(string) float64 {
	return float64(c.tune.pageSize * endpointLimits[0].perSecond)
}

// Stats counts the requests sent, retries and 429s.
func (c *Conn) Stats() connector.Stats {
	req, retries, throttled := c.tr.Stats()
	return connector.Stats{Requests: req, Retries: retries, Throttled: throttled}
}

// Close releases idle connections.
func (c *Conn) Close() error {
	if ci, ok := c.baseRT.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	return nil
}

// Discover returns the standard person schema with the account's custom
// attributes as custom.NAME fields on both entities (the definitions as
// attributes returns them: read within attrTTL, here or by an earlier
// process, or read again).
func (c *Conn) Discover(ctx context.Context) (*connector.Schema, error) {
	defs, err := c.attributes(ctx)
	return c.schema(defs, err)
}

// Revalidate reads the attribute definitions again now and returns the
// schema.
func (c *Conn) Revalidate(ctx context.Context) (*connector.Schema, error) {
	c.loadMu.Lock()
	defs, err := c.loadAttributes(ctx)
	c.loadMu.Unlock()
	return c.schema(defs, err)
}

func (c *Conn) schema(defs map[string]string, err error) (*connector.Schema, error) {
	if err != nil {
		return nil, err
	}
	s := StandardSchema()
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, e := range s.Entities {
		for _, n := range names {
			e.AddField(customField(n, defs[n]))
		}
	}
	s.Normalize()
	return s, nil
}

// customField is the field of a custom attribute definition. A data type
// this version does not know becomes an object field (any JSON value).
func customField(name, dataType string) *connector.Field {
	t, ok := AttributeType(dataType)
	if !ok {
		t = connector.Object
	}
	f := &connector.Field{Name: connector.CustomPrefix + name, Type: t, Custom: true,
		Doc: fmt.Sprintf("Custom attribute %q (%s).", name, dataType)}
	if dataType == "STRING" {
		f.MaxLength = 4096
	}
	return f
}

// loadAttributes reads every custom attribute definition
// (GET /people/2/customAttributes, 1000 per page) and caches them.
func (c *Conn) loadAttributes(ctx context.Context) (map[string]string, error) {
	defs := map[string]string{}
	for page := 1; ; page++ {
		var resp struct {
			CustomAttributes []struct {
				Name     string `json:"name"`
				DataType string `json:"dataType"`
			} `json:"customAttributes"`
		}
		q := url.Values{"limit": {fmt.Sprint(maxPage)}, "page": {fmt.Sprint(page)}, "orderBy": {"name:asc"}}
		if _, err := c.call(ctx, "read custom attribute definitions", http.MethodGet, "/people/2/customAttributes", q, nil, &resp); err != nil {
			return nil, err
		}
		for _, a := range resp.CustomAttributes {
			defs[a.Name] = a.DataType
		}
		if len(resp.CustomAttributes) < maxPage {
			break
		}
	}
	c.mu.Lock()
	c.attrs, c.attrsAt = defs, c.now()
	c.mu.Unlock()
	c.saveAttrCache(defs)
	return defs, nil
}

// attributes returns the cached definitions, loading them the first time
// and when they are attrTTL old.
func (c *Conn) attributes(ctx context.Context) (map[string]string, error) {
	if defs := c.freshAttrs(); defs != nil {
		return defs, nil
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if defs := c.freshAttrs(); defs != nil {
		return defs, nil // loaded by another caller meanwhile
	}
	return c.loadAttributes(ctx)
}

func (c *Conn) freshAttrs() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.attrs != nil && c.now().Sub(c.attrsAt) < c.attrTTL {
		return c.attrs
	}
	return nil
}

var (
	_ connector.Connector   = (*Conn)(nil)
	_ connector.Deleter     = (*Conn)(nil)
	_ connector.ReadRater   = (*Conn)(nil)
	_ connector.Limited     = (*Conn)(nil)
	_ connector.Metered     = (*Conn)(nil)
	_ connector.Normalizer  = (*Conn)(nil)
	_ connector.Counter     = (*Conn)(nil)
	_ connector.Estimator   = (*Conn)(nil)
	_ connector.Revalidator = (*Conn)(nil)
)
