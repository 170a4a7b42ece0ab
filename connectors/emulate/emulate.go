// Package emulate holds what every connector's emulator shares: the
// [Limits] modes they enforce their service's rate limits in, and the
// [Spec] by which an emulator describes itself to `synclang emulate KIND`
// (its flags, how it is built and seeded, and what it prints), so that one
// serve loop in cmd/synclang serves every kind's emulator in one layout.
//
// The emulators share their seeding words too: Options.Seed (and `--seed
// N`) creates N deterministic sample records, and tests seed and inspect
// one through Insert (panicking on invalid input), Add (returning the
// error instead), Update, Delete, Get and Len. What has no counterpart in
// the other service keeps the service's own word (Dataverse rows and
// columns: Rows, AddColumn; People persons and custom attributes: Persons,
// DefineAttribute).
//
// It is a leaf package (standard library only). Emulators import it, as
// they import connectors/connector; internal/kinds lists each kind's Spec.
package emulate

import (
	"net/http"
	"strings"
)

// Limits says how an emulator enforces its service's documented rate
// limits. The zero value is each emulator's Go default, documented on its
// Options.Limits: Off for Dynamics (whose tests send thousands of requests
// at real time scale) and Real for People (whose tests of pacing rely on
// it); `synclang emulate`, the demo and the bench default to Real for
// every kind.
type Limits string

// The limits modes.
const (
	// Real enforces the limits as the service documents them: a 429 past
	// each limit, in the window the service counts in (Dataverse: a sliding
	// 5-minute window; People, which does not say: fixed one-second
	// windows).
	Real Limits = "real"
	// Sliding is Real counted in a sliding window ending at each request:
	// for People, a stricter reading of "requests per second" that a
	// client paced for it passes in both; for Dynamics, the same as Real,
	// whose window is sliding already.
	Sliding Limits = "sliding"
	// Off enforces no rate limit.
	Off Limits = "off"
)

// DefaultLimits is the mode `synclang emulate`, the demo and the bench use
// when none is given: the service's real limits.
const DefaultLimits = Real

// Spec describes an emulator to `synclang emulate KIND`: the flags it
// takes, how it is built, and what it prints once it serves.
type Spec struct {
	// Title names the service in "TITLE emulator serving on ..."
	// ("Dynamics 365").
	Title string
	// Doc is the paragraph `synclang emulate KIND --help` prints.
	Doc string
	// Addr is the default --addr, a loopback address of the emulator's own.
	Addr string
	// SeedDoc says what --seed N creates.
	SeedDoc string
	// Limits lists the --limits modes the emulator accepts, and LimitsDoc
	// says what each means for its service.
	Limits    []Limits
	LimitsDoc string
	// Flags are string flags of the emulator's own (People's --api-key).
	Flags []Flag
	// New builds the emulator, seeded as o says.
	New func(o Options) Served
}

// Flag is a string flag of one emulator.
type Flag struct {
	// Name is the flag without dashes; Value names its argument in the
	// usage line ("KEY"); Doc is its help text.
	Name, Value, Doc string
}

// Options are the flags of `synclang emulate KIND`, parsed.
type Options struct {
	// Seed is the number of sample records to create (the emulator's
	// Options.Seed); 0 starts empty.
	Seed   int
	Limits Limits
	// Flags holds the values of the Spec's Flags, by name ("" when unset).
	Flags map[string]string
}

// Served is a built emulator: the handler to serve, and what to tell its
// user.
type Served interface {
	http.Handler
	// Settings are the connection settings (by the kind's setting names)
	// of a client of the emulator served at base.
	Settings(base string) map[string]string
	// Intro says how to use the emulator served at base (an http:// URL
	// without a trailing slash).
	Intro(base string) Intro
}

// Intro is what `synclang emulate KIND` prints about a serving emulator,
// in the layout it prints for every kind.
type Intro struct {
	// Seeded says what the emulator holds, a count per kind of record
	// ({6, "contacts"}, {1, "leads"}); the command formats the numbers as
	// it formats every count ("6 contacts, 1 leads").
	Seeded []Held
	// Settings are the endpoints and credentials, as label and value
	// ("Web API", "http://127.0.0.1:8081/api/data/v9.2/").
	Settings []Line
	// Exports are the environment variables examples/ read, as name and
	// value.
	Exports []Line
	// EditHow says how the Edit commands authenticate ("People API v2,
	// the API key in the Authorization header"), and Edit are shell
	// commands that read and change the emulator's data.
	EditHow string
	Edit    []string
}

// Line is a name and its value.
type Line struct{ Name, Value string }

// Held is how many records of one kind an emulator holds.
type Held struct {
	N    int
	What string // "contacts"
}

// ShellQuote quotes s for a POSIX shell, for the Edit commands.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
