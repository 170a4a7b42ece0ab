package connector

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Kind describes a kind of connection (`connection crm dynamics { ... }`):
// the settings the checker validates, the standard schema that ships with the
// binary, how inline custom-field declarations map to fields, and the factory
// that builds a live Connector.
type Kind struct {
	Name     string
	Doc      string
	Settings []SettingSpec
	// Schema is the standard schema (entities, fields, types, lengths,
	// read-only flags, option values). Custom fields come from schema
	// snapshots and inline declarations on top of it.
	Schema *Schema
	// Declare says how a connection block declares custom fields inline;
	// nil when the kind has no such declarations.
	Declare *DeclareSpec
	// LinkRequired is true for services that duplicate records unless every
	// sync writing into them carries a link on the entity's primary key
	// (Dynamics: the entity ID kept in People's externalId).
	LinkRequired bool
	// CheckSettings, when set, checks settings that depend on each other.
	// given holds every setting the block sets, with its literal value ("" for
	// env() and secret()); it returns one message per problem.
	CheckSettings func(given map[string]string) []string
	New           Factory
}

// Setting returns the spec of the named setting.
func (k *Kind) Setting(name string) (*SettingSpec, bool) {
	for i := range k.Settings {
		if k.Settings[i].Name == name {
			return &k.Settings[i], true
		}
	}
	return nil, false
}

// SettingNames returns the names of the kind's settings.
func (k *Kind) SettingNames() []string {
	names := make([]string, len(k.Settings))
	for i, s := range k.Settings {
		names[i] = s.Name
	}
	return names
}

// SettingSpec describes one setting of a connection.
type SettingSpec struct {
	Name     string
	Required bool
	// Secret settings must come from secret("VAR"): a literal is an error,
	// so a secret can never be committed with the .sync files.
	Secret  bool
	Default string
	// Values lists the allowed values, when the setting is an enumeration.
	Values []string
	Doc    string
	// Validate checks a value (a literal at check time, the resolved value
	// at run time); nil accepts anything.
	Validate func(string) error
	// Hosts, for a setting that is a URL credentials are sent to, lists the
	// hosts it may name: exact names, or "*.example.com" for any subdomain
	// of example.com. Loopback hosts (emulators) are always allowed. The
	// checker warns about another host and a command that connects refuses
	// it, unless the operator allows it outside the .sync files (see
	// HostAllowed); nil means any host.
	Hosts []string
	// Env names an environment variable that supplies the setting when a
	// connection block leaves it unset (DYNAMICS_AUTHORITY points a project
	// written for the real service, unedited, at an emulator's identity
	// platform); "" for none. A setting the block sets always wins, and a
	// value from Env is validated like the setting.
	Env string
}

// HostAllowed reports whether the host of URL raw is loopback or matches
// one of the patterns of the lists (see SettingSpec.Hosts). Names compare
// case-insensitively, without a trailing dot.
func HostAllowed(raw string, lists ...[]string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return false
	}
	if IsLoopback(host) {
		return true
	}
	for _, list := range lists {
		for _, p := range list {
			p = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
			if suffix, wild := strings.CutPrefix(p, "*."); wild {
				if strings.HasSuffix(host, "."+suffix) && suffix != "" {
					return true
				}
			} else if p != "" && host == p {
				return true
			}
		}
	}
	return false
}

// DeclareSpec describes inline custom-field declarations in a connection
// block, e.g. People's `attribute "JobTitle" string`, which declares the field
// custom.JobTitle on every entity of the connection, or Dynamics'
// `column contact.new_tier string`, which declares one column of one table.
type DeclareSpec struct {
	Keyword string
	// Scoped declarations name ENTITY.FIELD; unscoped ones apply to every
	// entity of the connection.
	Scoped bool
	// Prefix is prepended to the declared name to form the field name
	// ("custom." for People).
	Prefix string
	// Types lists the types a declaration may use.
	Types []Type
	// Lookup is set when the service can find records by declared fields
	// (Dataverse filters on any column; People only on its identifiers).
	Lookup bool
}

// Config is what a Factory gets to build a live connector. Settings hold the
// resolved values (environment variables and secrets already read).
type Config struct {
	// Name is the connection's name in the .sync files, used in messages
	// ("run `synclang auth login crm`").
	Name     string
	Settings map[string]string
	// HTTPClient, when set, is the client whose Transport the connector
	// wraps (tests pass one bound to an httptest server).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// CacheDir is the per-user directory for what a connector may lose
	// without harm (the schema cache); "" means the default
	// (os.UserCacheDir()/synclang).
	CacheDir string
	// SignInDir is the per-user directory of stored sign-ins (refresh
	// tokens), which must outlive a wiped cache; "" means CacheDir.
	SignInDir string
	// RateScale multiplies the documented rate limits the client paces
	// itself to; 0 means 1. Tests against an emulator whose limits are
	// scaled up (or off) raise it so they run fast.
	RateScale float64
	// RegisterSecret, when set, is called with every credential the
	// connector obtains beyond its settings (OAuth access and refresh
	// tokens), before it is used, so the process can mask it in whatever
	// it prints, logs or stores. The caller registers the secret settings
	// itself, and may forget the oldest tokens of a long-running process
	// (they have expired).
	RegisterSecret func(values ...string)
}

// Setting returns a resolved setting or the spec's default.
func (c Config) Setting(k *Kind, name string) string {
	if v, ok := c.Settings[name]; ok && v != "" {
		return v
	}
	if s, ok := k.Setting(name); ok {
		return s.Default
	}
	return ""
}

// Factory builds a connector from a resolved configuration.
type Factory func(ctx context.Context, cfg Config) (Connector, error)

// Registry holds the kinds a binary knows. cmd/synclang builds it
// explicitly (no init side effects), so tests can use their own.
type Registry struct {
	kinds map[string]*Kind
}

// NewRegistry returns a registry of the given kinds.
func NewRegistry(kinds ...*Kind) *Registry {
	r := &Registry{kinds: map[string]*Kind{}}
	for _, k := range kinds {
		r.Register(k)
	}
	return r
}

// Register adds a kind; registering a name twice panics (a programming
// error).
func (r *Registry) Register(k *Kind) {
	if _, dup := r.kinds[k.Name]; dup {
		panic(fmt.Sprintf("connector kind %q registered twice", k.Name))
	}
	r.kinds[k.Name] = k
}

// Kind returns the named kind.
func (r *Registry) Kind(name string) (*Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names returns the registered kind names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CheckServiceURL enforces HTTPS for service URLs, except for loopback
// hosts (emulators and tests), so credentials never travel in clear text.
func CheckServiceURL(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		// Never echo it: the userinfo is a credential.
		return fmt.Errorf("the URL holds a user name or password (https://USER:PASSWORD@host): remove it; credentials go in the connection's secret() settings")
	}
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if p := APIPath(u.Path); p != "" {
		// An API endpoint given as the service's address: every request
		// would go to a doubled path and fail as "not found".
		return fmt.Errorf("%q ends in the API path %s: give the service's address without it, %s (synclang adds the API paths itself)",
			raw, p, u.Scheme+"://"+u.Host+strings.TrimSuffix(u.Path, p))
	}
	if u.Scheme == "https" {
		return nil
	}
	if IsLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%q must use https (plain http is allowed only for loopback addresses such as emulators)", raw)
}

// apiPathRE matches the API paths users copy into a service's URL: the
// Dataverse Web API (/api/data/v9.2) and Infobip People endpoints
// (/people/2/persons).
var apiPathRE = regexp.MustCompile(`(?i)(/api/data(/v[0-9.]+)?|/people/[0-9]+(/[A-Za-z/]*)?)/?$`)

// APIPath returns the API path a URL path ends in, or "".
func APIPath(path string) string {
	return apiPathRE.FindString(path)
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
