// Package kinds is the one list of the connection kinds this binary knows
// ([All]): for each, the connector's description (settings, standard
// schema, factory), its emulator for `synclang emulate`, and its in-memory
// stand-in for `synclang test`. cmd/synclang, bench and the tests read it
// for everything they do with any kind (internal/arch lets no other package
// import it). What names a service on purpose stays as it is: the demo and
// the bench's measurements, which run examples/ against these two
// services, and `synclang auth`, the Dynamics sign-in. Adding a kind is a
// folder under connectors/ and one line in All (see connectors/README.md).
//
// It is built by an explicit function, not by init() side effects, so a
// test can build a registry of its own.
package kinds

import (
	"sort"
	"sync"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	"github.com/synclang/synclang/connectors/emulate"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/connectors/people"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
)

// Kind is one connection kind.
type Kind struct {
	// Connector describes the kind to the checker (settings, schema,
	// declarations) and opens live connectors (New).
	Connector *connector.Kind
	// Emulator describes the kind's emulator to `synclang emulate`; nil
	// when it has none.
	Emulator *emulate.Spec
	// StandIn returns an empty in-memory service of the kind with the
	// given schema, for `synclang test`; nil means memory.New, the
	// reference connector (option sets, lengths, read-only and required
	// fields).
	StandIn func(*connector.Schema) StandIn
}

// All returns the kinds, one line each.
func All() []Kind {
	return []Kind{
		{Connector: dynamics.Kind(), Emulator: dynemu.Spec()},
		{Connector: people.Kind(), Emulator: pplemu.Spec(), StandIn: func(s *connector.Schema) StandIn { return memory.NewPeople(s) }},
	}
}

// Registry returns a registry of every kind's connector description.
func Registry() *connector.Registry {
	r := connector.NewRegistry()
	for _, k := range All() {
		r.Register(k.Connector)
	}
	return r
}

// Emulators returns the kinds that have an emulator, by kind name, and
// their names, sorted.
func Emulators() (map[string]*emulate.Spec, []string) {
	specs := map[string]*emulate.Spec{}
	var names []string
	for _, k := range All() {
		if k.Emulator != nil {
			specs[k.Connector.Name] = k.Emulator
			names = append(names, k.Connector.Name)
		}
	}
	sort.Strings(names)
	return specs, names
}

// standIns is All, built once: `synclang test` asks for stand-ins once
// per connection of each test (a millisecond a test), and building the
// kinds' schemas costs about 30 µs. Only the StandIn functions and names
// are read from it.
var standIns = sync.OnceValue(All)

// StandIn is an in-memory service a `synclang test` runs against (the
// shape of runtime/synctest.StandIn, which this package may not import): a
// connector whose records can also be deleted and whose clock the test
// sets.
type StandIn interface {
	connector.Connector
	connector.Deleter
	SetClock(now func() time.Time)
}

// NewStandIn returns an empty stand-in of the named kind with schema: the
// kind's own, or the reference memory connector.
func NewStandIn(kind string, schema *connector.Schema) StandIn {
	for _, k := range standIns() {
		if k.Connector.Name == kind && k.StandIn != nil {
			return k.StandIn(schema)
		}
	}
	return memory.New(schema)
}
