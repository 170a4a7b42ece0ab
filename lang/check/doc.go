// Package check is the compiler's middle: it resolves every name of the
// parsed .sync files (lang/ast) against the connection kinds of a
// connector.Registry and the schema snapshots, type-checks every field,
// where and match expression with expr (through lang/eval), and builds the
// plan (lang/plan) the engine runs. The entry point is [Check]:
//
//	p, diags := check.Check(files, check.Options{Registry: reg, Snapshot: snap})
//
// It collects every problem as a diagnostic (lang/diag) with a range, a
// stable code ([CodeDoc] documents each) and, where one exists, a
// suggestion; the plan is nil when any diagnostic is an error. The checker
// knows connectors only through their kinds' declarations (settings,
// standard schemas, custom-field declarations), never a live service:
// [CompareLive] compares a live schema with a snapshot when a command has
// connected, and [Plan] re-checks a plan read from a file.
//
// Files: check.go (files to plan), connection.go (connection blocks and
// settings), sync.go (sync blocks, maps, links, match keys), expr.go
// (expressions), test.go (test blocks), schemas.go, live.go, plan.go,
// codes.go.
package check
