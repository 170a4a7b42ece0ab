// Package examples holds the example projects the README and SPEC.md refer
// to: contacts.sync and leads.sync (one project: contacts both ways, leads
// one way), and people-to-dynamics/ (a second project), each with its
// golden plan.json. The Go package only embeds the first project's .sync
// files, so that `synclang demo` runs these very files from an installed
// binary.
package examples

import "embed"

// Project holds contacts.sync and leads.sync, the project `synclang demo`
// runs.
//
//go:embed contacts.sync leads.sync
var Project embed.FS
