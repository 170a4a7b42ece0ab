package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTime is a clock that only the transport's sleeps move.
type fakeTime struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	f.waits = append(f.waits, d)
	return ctx.Err()
}

func fakeTransport(opts Options) (*Transport, *fakeTime) {
	ft := &fakeTime{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.now, opts.sleep = ft.now, ft.sleep
	return New(opts), ft
}

// logRecorder keeps the messages and levels logged.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	l.recs = append(l.recs, line)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func get(t *testing.T, tr http.RoundTripper, u string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	return (&http.Client{Transport: tr}).Do(req)
}

// "Retry-After: 0" again and again is not a reason to hammer the service:
// every retry waits at least the (jittered) backoff.
func TestRetryAfterZeroWaitsTheBackoff(t *testing.T) {
	srv, n := script(t, []int{429, 429, 429}, http.Header{"Retry-After": {"0"}})
	tr, ft := fakeTransport(Options{Service: "test"})
	resp, err := get(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || n.Load() != 4 {
		t.Fatalf("status %d after %d attempts", resp.StatusCode, n.Load())
	}
	for i, w := range ft.waits {
		if least := (DefaultMinBackoff << i) / 2; w < least {
			t.Errorf("retry %d waited %v, want at least %v", i+1, w, least)
		}
	}
}

// A Retry-After above the old 5-minute cap but under MaxRetryAfter is
// waited out, and the wait is logged at warn with when the next try is.
func TestLongRetryAfterIsWaitedOut(t *testing.T) {
	srv, n := script(t, []int{429}, http.Header{"Retry-After": {"400"}})
	logs := &logRecorder{}
	tr, ft := fakeTransport(Options{Service: "test", Logger: slog.New(logs)})
	resp, err := get(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || n.Load() != 2 || len(ft.waits) != 1 || ft.waits[0] != 400*time.Second {
		t.Fatalf("status %d after %d attempts, waits %v", resp.StatusCode, n.Load(), ft.waits)
	}
	if len(logs.recs) != 1 || !strings.HasPrefix(logs.recs[0], "WARN test: retrying") ||
		!strings.Contains(logs.recs[0], "status=429") || !strings.Contains(logs.recs[0], "wait=6m40s") ||
		!strings.Contains(logs.recs[0], "next=2026-01-01 00:06:40") {
		t.Errorf("logs %q", logs.recs)
	}
}

// The retry budget bounds the chain: with 4s waits and a 10s budget, the
// third failure gives up (the next try would end at 12s), 429 or 503.
func TestBudgetBoundsRetryChain(t *testing.T) {
	for _, status := range []int{429, 503} {
		srv, n := script(t, []int{status, status, status, status, status, status, status, status, status}, http.Header{"Retry-After": {"4"}})
		tr, ft := fakeTransport(Options{Service: "test", Budget: 10 * time.Second})
		resp, err := get(t, tr, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || n.Load() != 3 || len(ft.waits) != 2 {
			t.Errorf("%d: status %d after %d attempts, waits %v", status, resp.StatusCode, n.Load(), ft.waits)
		}
	}
	// A network failure gives up with an error that says so.
	base := &errTransport{err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}}
	tr, _ := fakeTransport(Options{Service: "test", Base: base, Budget: 100 * time.Millisecond, MinBackoff: 80 * time.Millisecond, MaxBackoff: 80 * time.Millisecond})
	_, err := get(t, tr, "http://127.0.0.1:1/")
	var be *BudgetError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "retry budget is 100ms") {
		t.Errorf("err %v, want a BudgetError", err)
	}
}

// errTransport fails every request with err and counts them.
type errTransport struct {
	err error
	n   atomic.Int64
}

func (e *errTransport) RoundTrip(*http.Request) (*http.Response, error) {
	e.n.Add(1)
	return nil, e.err
}

// What retrying cannot fix fails at the first attempt: a host name that
// does not exist, a certificate that does not verify.
func TestPermanentFailuresNotRetried(t *testing.T) {
	base := &errTransport{err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}}
	tr, _ := fakeTransport(Options{Service: "test", Base: base})
	if _, err := get(t, tr, "https://x.invalid/"); err == nil || base.n.Load() != 1 {
		t.Errorf("NXDOMAIN: %v after %d attempts, want 1", err, base.n.Load())
	}
	// A DNS failure that may pass (a timeout) is retried.
	base = &errTransport{err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "x.example", IsTimeout: true}}}
	tr, _ = fakeTransport(Options{Service: "test", Base: base, MaxAttempts: 3})
	if _, _ = get(t, tr, "https://x.example/"); base.n.Load() != 3 {
		t.Errorf("DNS timeout: %d attempts, want 3", base.n.Load())
	}

	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	var hits atomic.Int64
	untrusted := &countingTransport{base: &http.Transport{TLSClientConfig: &tls.Config{}}, n: &hits}
	tr, _ = fakeTransport(Options{Service: "test", Base: untrusted})
	_, err := get(t, tr, srv.URL)
	if err == nil || !Permanent(err) || hits.Load() != 1 {
		t.Errorf("untrusted certificate: %v after %d attempts, want 1", err, hits.Load())
	}
}

type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// A host that refused the last three connections is down: the first
// request retries until then, the next ones fail at once.
func TestRefusingHostFailsFast(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	tr, ft := fakeTransport(Options{Service: "test"})
	if _, err := get(t, tr, u); err == nil {
		t.Fatal("want an error")
	}
	if req, _, _ := tr.Stats(); req != refusedLimit {
		t.Errorf("first request: %d attempts, want %d", req, refusedLimit)
	}
	if _, err := get(t, tr, u); err == nil {
		t.Fatal("want an error")
	}
	if req, _, _ := tr.Stats(); req != refusedLimit+1 {
		t.Errorf("second request: %d attempts in all, want %d", req, refusedLimit+1)
	}
	var total time.Duration
	for _, w := range ft.waits {
		total += w
	}
	if total > 2*time.Second {
		t.Errorf("waited %v for a refusing host", total)
	}
}

// trickle writes the header, then one byte every step until the client
// goes away (or 10s pass).
func trickle(t *testing.T, first []byte, step time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write(first)
		w.(http.Flusher).Flush()
		for i := 0; i < int(10*time.Second/step); i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(step):
			}
			if step < time.Second {
				_, _ = w.Write([]byte("x"))
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The attempt's deadline covers the body: a server trickling bytes fails
// at the deadline although bytes keep coming.
func TestTimeoutCoversBody(t *testing.T) {
	srv := trickle(t, []byte("["), 10*time.Millisecond)
	tr := New(Options{Service: "test", Timeout: 300 * time.Millisecond, MaxAttempts: 1})
	resp, err := get(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "within 300ms") {
		t.Fatalf("reading a trickle: %v, want a timeout", err)
	}
}

// A body that stops sending fails after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	srv := trickle(t, []byte("["), 2*time.Second) // no byte after the first
	tr := New(Options{Service: "test", IdleTimeout: 100 * time.Millisecond, MaxAttempts: 1})
	resp, err := get(t, tr, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if err == nil || !strings.Contains(err.Error(), "no the next byte") && !strings.Contains(err.Error(), "next byte of the answer within 100ms") {
		t.Fatalf("reading a stalled body: %v, want an idle timeout", err)
	}
}

// A server that never answers fails at the deadline, retried within the
// budget.
func TestNoAnswerTimesOut(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	defer close(block)
	tr := New(Options{Service: "test", Timeout: 100 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	_, err := get(t, tr, srv.URL)
	var te *TimeoutError
	if !errors.As(err, &te) || err.Error() != "Get \""+srv.URL+"\": test: no answer within 100ms" {
		t.Fatalf("err %v, want a timeout", err)
	}
	// One timeout is retried, the second ends the chain (of 8 attempts).
	if req, _, _ := tr.Stats(); req != maxTimeouts {
		t.Errorf("%d attempts, want %d", req, maxTimeouts)
	}
}

// A flooding server is cut off at the cap, and the error names the
// endpoint and the cap.
func TestReadBodyCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 1024; i++ { // at most 64 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	resp, err := get(t, New(Options{}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := ReadBody(resp.Body, 1<<20, "test", "GET contacts")
	var tl *TooLargeError
	if !errors.As(err, &tl) || len(data) != 1<<20 || err.Error() != "test: the answer of GET contacts is larger than 1 MiB, more than the service sends for it; stopped reading it" {
		t.Fatalf("%d bytes, err %v", len(data), err)
	}
	// At the cap exactly is fine.
	data, err = ReadBody(strings.NewReader(strings.Repeat("y", 100)), 100, "test", "x")
	if err != nil || len(data) != 100 {
		t.Errorf("at the cap: %d bytes, %v", len(data), err)
	}
}

func TestRedirectPolicies(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	first := &http.Request{Method: "GET", URL: u("https://org.crm.dynamics.com/api/data/v9.2/contacts")}
	for to, ok := range map[string]bool{
		"https://org.crm.dynamics.com/api/data/v9.2/contacts?x": true,
		"http://org.crm.dynamics.com/api/data/v9.2/contacts":    false,
		"https://evil.example/":                                 false,
		"https://org.crm.dynamics.com:8443/":                    false,
	} {
		err := SameHost(&http.Request{URL: u(to)}, []*http.Request{first})
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrRedirect)) {
			t.Errorf("SameHost to %s: %v", to, err)
		}
	}
	if err := NoRedirects(&http.Request{URL: first.URL}, []*http.Request{first}); !errors.Is(err, ErrRedirect) {
		t.Errorf("NoRedirects: %v", err)
	}
	origin := u("https://api.infobip.com")
	for to, ok := range map[string]bool{
		"https://api.infobip.com/people/2/persons": true,
		"https://API.infobip.com:443/x":            true,
		"http://api.infobip.com/x":                 false,
		"https://api.infobip.com.evil.example/":    false,
	} {
		if MayCarry(origin, u(to)) != ok {
			t.Errorf("MayCarry %s: want %v", to, ok)
		}
	}
	if !MayCarry(u("http://127.0.0.1:8080"), u("http://127.0.0.1:8080/x")) || MayCarry(u("http://10.0.0.1"), u("http://10.0.0.1/x")) {
		t.Error("plain http: only loopback")
	}
}

func TestPagesStopsEndlessPaging(t *testing.T) {
	p := Pages{What: "contact"}
	if err := p.Next("l1", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Next("l2", []string{"b"}); err != nil {
		t.Fatal(err)
	}
	err := p.Next("l1", []string{"c"})
	if err == nil || err.Error() != "reading contact: the service sent the same next-page link a second time; stopped paging (the service is misbehaving: run again later, and report it if it persists)" {
		t.Fatalf("repeated link: %v", err)
	}
	p = Pages{What: "customer"}
	var last error
	for i := 0; i < 10 && last == nil; i++ {
		last = p.Next("", []string{"x", "y"})
	}
	if last == nil || !strings.Contains(last.Error(), "reading customer: 3 pages in a row brought no new record") {
		t.Fatalf("same page again and again: %v", last)
	}
	// Empty pages now and then are progress-neutral.
	p = Pages{What: "lead"}
	for i, keys := range [][]string{{"a"}, nil, {"b"}, nil, nil, {"c"}} {
		if err := p.Next("", keys); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
	}
}

func TestPathHidesKeys(t *testing.T) {
	u, _ := url.Parse("https://org.crm.dynamics.com/api/data/v9.2/contacts(emailaddress1='ann@example.com')/parentcustomerid(00000000-0000-0000-0000-000000000001)")
	if got := Path(u); got != "/api/data/v9.2/contacts(…)/parentcustomerid(…)" || strings.Contains(got, "ann") {
		t.Errorf("Path = %q", got)
	}
}
