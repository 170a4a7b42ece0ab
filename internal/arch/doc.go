// Package arch holds the test that keeps the import graph the one STYLE.md
// draws: lang and connectors meet only through connectors/connector's schema
// types, the runtime never names a concrete connector, connectors are
// independent of each other (sharing code only through connectors/internal),
// only cmd/synclang and bench wire concrete connectors in, and the release
// binary links no package testing. It is the one place import rules live.
package arch
