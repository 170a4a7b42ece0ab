// Package synctest runs the tests of a project (the `test` blocks of its
// *_test.sync files, checked into plan.Tests by lang/check) through the
// real engine against in-memory stand-ins of the services, offline: each
// test gets empty stand-ins, a state store of its own and a fixed clock,
// seeds the records it gives, runs the passes it asks for and compares the
// records and reports with what it expects.
//
// The entry point is Run; each failure carries the test's line, the
// mapping line that wrote the field, the expected and the actual value,
// and the edit that would make the expectation true (`synclang test
// --update`). Which stand-in serves which kind is the caller's choice
// (Options.NewStandIn): the runtime names no concrete connector
// (cmd/synclang passes internal/kinds.NewStandIn).
package synctest
