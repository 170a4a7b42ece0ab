// Package arch holds the test that keeps the import graph the one STYLE.md
// draws: lang and connectors meet only through connectors/connector's schema
// types, the runtime never names a concrete connector, connectors are
// independent of each other (sharing code only through connectors/internal,
// and the emulators' conventions through connectors/emulate), the one list
// of connection kinds (internal/kinds) is read only by cmd/synclang and
// bench, and the release binary links no package testing. It is the one
// place import rules live.
package arch
