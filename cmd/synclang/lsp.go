package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/synclang/synclang/lang/lsp"
)

var lspCmd = &command{
	name:    "lsp",
	summary: "language server for editors (Language Server Protocol over stdio)",
	run:     runLSP,
}

type lspOptions struct {
	dir string
}

func runLSP(ctx context.Context, s *Stdio, args []string) int {
	var opts lspOptions
	fs := newFlags(s, "lsp", "[DIR]",
		"Speak the Language Server Protocol on stdin and stdout, for editors (editors/vscode starts it).\n"+
			"DIR is the project used when the editor names no workspace folder. Open buffers take\n"+
			"precedence over the files on disk; diagnostics are those `synclang check` prints.")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(s.Err, "synclang lsp: at most one directory")
		return exitUsage
	}
	opts.dir = fs.Arg(0)
	if opts.dir != "" {
		if info, err := os.Stat(opts.dir); err != nil || !info.IsDir() {
			fmt.Fprintf(s.Err, "synclang lsp: %s is not a directory\n", opts.dir)
			return exitUsage
		}
	}
	rwc := stdioConn{Reader: closableStdin(s.In), Writer: s.Out}
	if err := lsp.Serve(ctx, rwc, lsp.Options{Registry: s.Registry, Dir: opts.dir, Log: s.Err}); err != nil {
		fmt.Fprintf(s.Err, "synclang lsp: %v\n", err)
		return exitError
	}
	return exitOK
}

// stdioConn joins stdin and stdout into the connection the server reads
// and writes. Close closes stdin when it can, so the server's reader ends.
type stdioConn struct {
	io.Reader
	io.Writer
}

func (c stdioConn) Close() error {
	if cl, ok := c.Reader.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
