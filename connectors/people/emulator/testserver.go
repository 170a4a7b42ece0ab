package emulator

import (
	"net/http/httptest"
)

// TB is the part of testing.TB NewTestServer uses. A local interface keeps
// package testing (and its flags) out of binaries that link the emulator
// for `synclang emulate`, as the Dynamics emulator's TB does.
type TB interface {
	Helper()
	Cleanup(func())
}

// NewTestServer starts an emulator on a loopback httptest server, closed
// when the test ends. Connect to it with Settings(srv.URL).
func NewTestServer(t TB, opts Options) (*Emulator, *httptest.Server) {
	t.Helper()
	e := New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}
