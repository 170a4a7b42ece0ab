package dynamics

import (
	"fmt"
	"regexp"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Setting names of a `connection NAME dynamics { ... }` block.
const (
	SettingURL          = "url"
	SettingTenant       = "tenant"
	SettingClientID     = "client_id"
	SettingClientSecret = "client_secret"
	SettingAPIVersion   = "api_version"
	SettingAuthority    = "authority"
	SettingAuth         = "auth"
	SettingRetryBudget  = "retry_budget"
)

// Auth modes.
const (
	AuthClientCredentials = "client_credentials"
	AuthRefreshToken      = "refresh_token"
)

// DefaultAPIVersion is the Web API version used when api_version is not set
// (the current version per Microsoft's "Compose HTTP requests" page).
const DefaultAPIVersion = "v9.2"

// DefaultAuthority is the Microsoft identity platform host.
const DefaultAuthority = "https://login.microsoftonline.com"

// AuthorityEnv is the environment variable that supplies the authority of a
// connection block that leaves it unset (connector.SettingSpec.Env): how
// `synclang emulate dynamics` and `synclang demo` point a project at the
// emulator's identity platform, or a sovereign cloud's sign-in host.
const AuthorityEnv = "DYNAMICS_AUTHORITY"

// EnvironmentHosts are the hosts of Dataverse environments in Microsoft's
// clouds, after the Global Discovery Service locations per cloud
// (https://learn.microsoft.com/power-apps/developer/data-platform/discovery-service):
// commercial and GCC (crm, crm2 ... crm9 ... .dynamics.com), GCC High
// (.crm.microsoftdynamics.us), DoD (.crm.appsplatform.us) and China
// operated by 21Vianet (.crm.dynamics.cn).
var EnvironmentHosts = []string{"*.dynamics.com", "*.crm.microsoftdynamics.us", "*.crm.appsplatform.us", "*.crm.dynamics.cn"}

// AuthorityHosts are the Microsoft identity platform hosts of the global
// and national clouds
// (https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud):
// global, US Government, and China operated by 21Vianet (both names).
var AuthorityHosts = []string{"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"}

var apiVersionRx = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// Kind describes the dynamics connection kind: its settings, the standard
// schema of the contact and lead tables that ships with the binary, and the
// `column TABLE.NAME TYPE` declarations of custom columns.
func Kind() *connector.Kind {
	return &connector.Kind{
		Name: "dynamics",
		Doc:  "Microsoft Dynamics 365 / Dataverse, through the Web API (OData v4) with an Azure app registration.",
		Settings: []connector.SettingSpec{
			{Name: SettingURL, Required: true, Validate: validateURL, Hosts: EnvironmentHosts,
				Doc: "The environment URL, e.g. https://org0000000.crm4.dynamics.com (https; http only for loopback emulators)."},
			{Name: SettingTenant, Required: true,
				Doc: "The Entra ID tenant: its GUID or domain name."},
			{Name: SettingClientID, Required: true,
				Doc: "The application (client) ID of the app registration."},
			{Name: SettingClientSecret, Secret: true,
				Doc: "The client secret's value; required for auth = \"client_credentials\"."},
			{Name: SettingAPIVersion, Default: DefaultAPIVersion, Validate: validateAPIVersion,
				Doc: "The Web API version, e.g. v9.2."},
			{Name: SettingAuthority, Default: DefaultAuthority, Validate: validateURL, Hosts: AuthorityHosts, Env: AuthorityEnv,
				Doc: "The identity platform host; tests and emulators stand in for it."},
			{Name: SettingAuth, Default: AuthClientCredentials, Values: []string{AuthClientCredentials, AuthRefreshToken},
				Doc: "client_credentials (an application user), or refresh_token (a user's token stored by `synclang auth login`)."},
			{Name: SettingRetryBudget, Default: "15m", Validate: validateBudget,
				Doc: "How long one request may be retried (429s, 5xx, network failures) before it fails, e.g. \"15m\" (1s to 24h)."},
		},
		Schema:        StandardSchema(),
		Declare:       &connector.DeclareSpec{Keyword: "column", Scoped: true, Types: declTypes, Lookup: true},
		LinkRequired:  true,
		CheckSettings: checkSettings,
		New:           New,
	}
}

var declTypes = []connector.Type{connector.String, connector.Int, connector.Decimal, connector.Bool,
	connector.Date, connector.DateTime, connector.ID, connector.Choice}

func validateURL(s string) error { return connector.CheckServiceURL(s) }

func validateBudget(s string) error {
	_, err := httpx.ParseBudget(s)
	return err
}

func validateAPIVersion(s string) error {
	if !apiVersionRx.MatchString(s) {
		return fmt.Errorf("%q is not a Web API version (want e.g. v9.2)", s)
	}
	return nil
}

func checkSettings(given map[string]string) []string {
	auth, ok := given[SettingAuth]
	if !ok || auth == "" {
		auth = AuthClientCredentials
	}
	if _, has := given[SettingClientSecret]; auth == AuthClientCredentials && !has {
		return []string{`client_secret is required with auth = "client_credentials" (set client_secret = secret("AZURE_CLIENT_SECRET"), or use auth = "refresh_token" after ` + "`synclang auth login`" + `)`}
	}
	return nil
}
