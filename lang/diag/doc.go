// Package diag owns positions, ranges and diagnostics for every phase of
// synclang: parse, check, fmt, plan output, and the runtime's record errors
// that point back at the mapping line that produced a bad value.
//
// It is a leaf package (standard library only). Phases return a partial
// result next to a [Diagnostics] list instead of stopping at the first
// problem; [Write], [WriteJSON] and [WriteGitHub] render a list for people,
// tools and GitHub Actions annotations.
package diag
