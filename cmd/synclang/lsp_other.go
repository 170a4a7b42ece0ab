//go:build !unix

package main

import "io"

// closableStdin is stdin as it is on this platform (see lsp_unix.go).
func closableStdin(in io.Reader) io.Reader { return in }
