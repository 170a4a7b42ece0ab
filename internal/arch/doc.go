// Package arch holds the test that keeps the import graph the one STYLE.md
// draws: lang and connectors meet only through connectors/connector's schema
// types, the runtime never names a concrete connector, and only cmd/synclang
// wires concrete connectors in.
package arch
