package emulator

import (
	"github.com/synclang/synclang/connectors/emulate"
)

// Spec describes the emulator to `synclang emulate dynamics`.
func Spec() *emulate.Spec {
	return &emulate.Spec{
		Title: "Dynamics 365",
		Doc: "Serve a local Dynamics 365 (Dataverse Web API) and Microsoft sign-in emulator, seeded with sample\n" +
			"contacts and leads, and print the settings and environment variables to use with it.",
		Addr:      "127.0.0.1:8081",
		SeedDoc:   "number of sample contacts to create (plus about a quarter as many leads)",
		Limits:    []emulate.Limits{emulate.Real, emulate.Sliding, emulate.Off},
		LimitsDoc: "service protection limits: real (6000 requests per 5 minutes, ..., in Dataverse's sliding window; sliding is the same) or off",
		New: func(o emulate.Options) emulate.Served {
			return New(Options{Seed: o.Seed, Limits: o.Limits})
		},
	}
}

// Intro says how to connect to the emulator served at base and how to
// edit its data by hand: a token from its sign-in endpoint (client
// credentials), then the Web API.
func (e *Emulator) Intro(base string) emulate.Intro {
	settings := e.Settings(base)
	cr := e.Credentials()
	in := emulate.Intro{
		Seeded: []emulate.Held{{N: e.Len("contact"), What: "contacts"}, {N: e.Len("lead"), What: "leads"}},
		Settings: []emulate.Line{
			{Name: "Web API", Value: base + "/api/data/v9.2/"},
			{Name: "authority", Value: base},
			{Name: "tenant", Value: cr.Tenant},
			{Name: "client id", Value: cr.ClientID},
			{Name: "client secret", Value: cr.ClientSecret},
		},
		Exports: []emulate.Line{
			{Name: "DYNAMICS_URL", Value: settings["url"]},
			{Name: "DYNAMICS_AUTHORITY", Value: settings["authority"]},
			{Name: "AZURE_TENANT_ID", Value: cr.Tenant},
			{Name: "AZURE_CLIENT_ID", Value: cr.ClientID},
			{Name: "AZURE_CLIENT_SECRET", Value: cr.ClientSecret},
		},
		EditHow: "a token from its sign-in endpoint, then the Web API",
		Edit: []string{
			"TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=" + cr.ClientID + " -d " + emulate.ShellQuote("client_secret="+cr.ClientSecret) +
				" -d " + emulate.ShellQuote("scope="+base+"/.default") + " " + emulate.ShellQuote(base+"/"+cr.Tenant+"/oauth2/v2.0/token") +
				` | sed 's/.*"access_token":"\([^"]*\)".*/\1/')`,
			`curl -s -H "Authorization: Bearer $TOKEN" ` + emulate.ShellQuote(base+"/api/data/v9.2/contacts?$select=fullname,jobtitle&$top=3"),
		},
	}
	if contacts := e.Rows("contact"); len(contacts) > 0 {
		id, _ := contacts[0]["contactid"].(string)
		in.Edit = append(in.Edit, `curl -s -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"jobtitle":"CTO"}' `+
			emulate.ShellQuote(base+"/api/data/v9.2/contacts("+id+")"))
	}
	return in
}
