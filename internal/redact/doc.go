// Package redact keeps the secrets a synclang process knows out of what it
// prints, logs, stores and serves, and makes text a remote service wrote
// safe to print.
//
// A [Registry] holds the secret values of one process (one CLI
// invocation): the values of secret() settings, registered when the
// settings are resolved, the OAuth tokens a connector obtains, and the
// password of a URL's userinfo. [Registry.String] replaces each of them,
// and the encodings in which an error text may quote one (URL query and
// path escaping, JSON and Go string escaping), by [Mask]. [Registry.Writer]
// and [Registry.Handler] apply it to a stream and to a log handler, so a
// command that writes through them cannot print a registered secret.
//
// [Escape] is the other half: it makes control characters (C0, DEL, C1)
// and Unicode bidirectional controls visible as \x1b, \u202e, so a service
// cannot move the cursor, recolour the terminal, ring the bell or reorder
// the text a user reads.
//
// cmd/synclang creates one Registry per invocation (Stdio.Secrets), wraps
// its streams and log handler with it and the state store's write path
// (cmd/synclang/secrets.go); SPEC.md "Secrets in output" and "Text from
// services" state the guarantees. The package uses the standard library
// only.
package redact
