// Package lsp is synclang's language server: `synclang lsp` speaks the
// Language Server Protocol over stdio so editors show, while a line is
// typed, what `synclang check` would print, and offer formatting, hover,
// completion, navigation and the checker's fixes.
//
// Serve is the entry point. A project is a directory of .sync files and
// schema snapshots, as `synclang check DIR` reads it; open editor buffers
// take precedence over the files on disk. The JSON-RPC framing and
// dispatch come from go.lsp.dev/jsonrpc2; the protocol types this server
// uses are declared in protocol.go.
package lsp
