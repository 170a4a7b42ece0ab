package emulator

import (
	"net/url"

	"github.com/synclang/synclang/connectors/emulate"
)

// Spec describes the emulator to `synclang emulate people`.
func Spec() *emulate.Spec {
	return &emulate.Spec{
		Title: "Infobip People",
		Doc: `Serve an in-memory Infobip People API (persons, batch, match, v3 upsert,
custom attributes, tags) on its real paths, seeded with sample persons whose
emails overlap the Dynamics emulator's contacts. It prints the base URL and
API key, and the environment variables a connection block can read with
env("INFOBIP_BASE_URL") and secret("INFOBIP_API_KEY"). It serves until
interrupted.`,
		Addr:      "127.0.0.1:8082",
		SeedDoc:   "number of sample persons to create (0: none, and no custom attributes)",
		Limits:    []emulate.Limits{emulate.Real, emulate.Sliding, emulate.Off},
		LimitsDoc: "rate limits: real (429 past each endpoint's documented rate, in fixed one-second windows), sliding (the same, in the second before each request) or off",
		Flags:     []emulate.Flag{{Name: "api-key", Value: "KEY", Doc: "API key clients must send (default: a random one)"}},
		New: func(o emulate.Options) emulate.Served {
			return New(Options{Seed: o.Seed, Limits: o.Limits, APIKey: o.Flags["api-key"]})
		},
	}
}

// Intro says how to connect to the emulator served at base and how to
// edit its data by hand: the People API v2 with the API key.
func (e *Emulator) Intro(base string) emulate.Intro {
	auth := emulate.ShellQuote("Authorization: App " + e.key)
	in := emulate.Intro{
		Seeded: []emulate.Held{{N: e.Len(), What: "persons"}},
		Settings: []emulate.Line{
			{Name: "People API", Value: base + "/people/2/"},
			{Name: "API key", Value: e.key},
		},
		Exports: []emulate.Line{
			{Name: "INFOBIP_BASE_URL", Value: base},
			{Name: "INFOBIP_API_KEY", Value: e.key},
		},
		EditHow: "People API v2, the API key in the Authorization header",
		Edit:    []string{"curl -s -H " + auth + " " + emulate.ShellQuote(base+"/people/2/persons?limit=3")},
	}
	if email := e.firstEmail(); email != "" {
		in.Edit = append(in.Edit, "curl -s -X PATCH -H "+auth+` -H 'Content-Type: application/json' -d '{"city":"Rijeka"}' `+
			emulate.ShellQuote(base+"/people/2/persons?type=EMAIL&identifier="+url.QueryEscape(email)))
	}
	return in
}

// firstEmail is the primary email of the person with the lowest id, or "".
func (e *Emulator) firstEmail() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps := e.sortedPersons()
	if len(ps) == 0 || len(ps[0].Emails) == 0 {
		return ""
	}
	return ps[0].Emails[0]
}
