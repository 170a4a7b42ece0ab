package emulator

import (
	"net/http/httptest"
	"testing"
)

// NewTestServer starts an emulator on a loopback httptest server, closed
// when the test ends. Connect to it with Settings(srv.URL).
func NewTestServer(t testing.TB, opts Options) (*Emulator, *httptest.Server) {
	t.Helper()
	e := New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}
