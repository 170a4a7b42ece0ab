// Package eval is the one place field expressions meet expr-lang: the typed
// environment of a record's fields ([TypeEnv], custom attributes under
// custom), the domain functions ([Funcs], documented in SPEC.md),
// compilation ([Compile], [Compiler]), and evaluation with the result
// converted to the target field's type ([Run], and [Machine] to reuse one
// VM for many records). The checker (lang/check) compiles with it to
// type-check, the engine (runtime/engine) and `synclang test`
// (runtime/synctest) evaluate with it, and the language server reads
// expressions through [Refs].
//
// An evaluation error is either the expression's own (expr's *file.Error,
// positioned inside the expression) or a *[ValueError]: the expression ran
// and its value does not fit the type asked for.
package eval
