// Package plan owns the checked intermediate representation of a synclang
// project: [Plan], [Sync], [Flow], [FieldMap], [Link], [Match]. The checker
// (lang/check) builds it; `synclang compile` prints it as versioned JSON
// ([Plan.Encode], [Decode]); the runtime executes it.
//
// A plan is pure data: no expr programs, no connectors. Expressions are kept
// as source text with the range they came from, so the runtime compiles them
// with lang/eval and points record errors at the mapping line.
package plan
