// Package lang is the .sync language's entry point: [Load] reads files and
// directories, [Compile] runs the pipeline (lang/parser, then lang/check
// against the connection kinds and schema snapshots) and returns the plan
// (lang/plan) with every diagnostic (lang/diag). lang/format formats files;
// lang/eval holds the expression environment shared with the runtime.
package lang
