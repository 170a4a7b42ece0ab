//go:build unix

package main

import (
	"io"
	"os"
	"syscall"
)

// closableStdin returns stdin, when it is a pipe or a socket (as editors
// start a language server), as a non-blocking file that Go's poller
// watches, so that closing it ends the read the server is blocked in.
// Closing the blocking *os.File of os.Stdin does not: after the client's
// exit notification the server waited for that read until the client
// closed its end, and a client that waits for the server to exit first
// (VS Code's, editors/vscode/test/client.test.js) waited for ever. A
// terminal or a file is left as it is: O_NONBLOCK on a terminal would
// reach the shell that shares it.
func closableStdin(in io.Reader) io.Reader {
	f, ok := in.(*os.File)
	if !ok {
		return in
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return in
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return in
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(u uintptr) { fd, dupErr = syscall.Dup(int(u)) }); err != nil || dupErr != nil {
		return in
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return in
	}
	return os.NewFile(uintptr(fd), f.Name()) // non-blocking: NewFile registers it with the poller
}
