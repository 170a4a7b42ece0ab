// Package nettest holds the hostile servers the connectors' network tests
// share: a sink on another loopback host that records what reaches it, a
// redirector, a server that floods, and one that trickles. Tests only.
package nettest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Cleanup(func())
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Sink is a server on 127.0.0.2 (another loopback host than the
// connectors' 127.0.0.1 servers) that records every request it gets.
type Sink struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Seen
}

// Seen is one request a sink got.
type Seen struct {
	Method, Path, Authorization, Body string
}

// NewSink starts a sink; the test is skipped where 127.0.0.2 cannot be
// bound (it is loopback on Linux, not everywhere).
func NewSink(t TB) *Sink {
	t.Helper()
	return NewSinkOn(t, "127.0.0.2:0")
}

// NewSinkOn starts a plain-http sink on addr.
func NewSinkOn(t TB, addr string) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := &Sink{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.reqs = append(s.reqs, Seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(body)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer","expires_in":3600,"value":[]}`))
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// Requests returns what reached the sink.
func (s *Sink) Requests() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.reqs...)
}

// Redirect answers every request with status and Location to + the
// request's path and query.
func Redirect(status int, to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Location", strings.TrimRight(to, "/")+r.URL.RequestURI())
		w.WriteHeader(status)
	}
}

// Flood answers 200 with prefix and then an endless stream of spaces (at
// most limit bytes, or until the client goes away).
func Flood(prefix string, limit int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, prefix)
		chunk := []byte(strings.Repeat(" ", 32<<10))
		for sent := int64(0); sent < limit; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// Trickle answers 200 with prefix and then one space every step, for at
// most 10 seconds or until the client goes away.
func Trickle(prefix string, step time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, prefix)
		w.(http.Flusher).Flush()
		for i := 0; i < int(10*time.Second/step); i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(step):
			}
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}
