package httpx

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script serves the given statuses in order, then 200.
func script(t *testing.T, statuses []int, header http.Header) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && string(body) != "payload" {
			t.Errorf("attempt %d: body %q", i, body)
		}
		if i < len(statuses) {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(statuses[i])
			_, _ = w.Write([]byte(`{"error":"x"}`))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newTestTransport(waits *[]time.Duration) *Transport {
	tr := New(Options{Service: "test"})
	var mu sync.Mutex
	tr.opts.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return tr
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		statuses []int
		header   http.Header
		want     int // final status
		attempts int64
	}{
		{"429 honours Retry-After", "GET", []int{429, 429}, http.Header{"Retry-After": {"3"}}, 200, 3},
		{"503 retried", "POST", []int{503}, nil, 200, 2},
		{"500 retried for GET", "GET", []int{500}, nil, 200, 2},
		{"500 not retried for POST", "POST", []int{500}, nil, 500, 1},
		{"400 never retried", "GET", []int{400}, nil, 400, 1},
		{"404 never retried", "GET", []int{404}, nil, 404, 1},
		{"gives up after MaxAttempts", "GET", []int{503, 503, 503, 503, 503, 503, 503, 503, 503}, nil, 503, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := script(t, tt.statuses, tt.header)
			var waits []time.Duration
			tr := newTestTransport(&waits)
			req, _ := http.NewRequest(tt.method, srv.URL, strings.NewReader("payload"))
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want || n.Load() != tt.attempts {
				t.Fatalf("status %d after %d attempts, want %d after %d", resp.StatusCode, n.Load(), tt.want, tt.attempts)
			}
			if tt.header.Get("Retry-After") == "3" {
				for _, w := range waits {
					if w != 3*time.Second {
						t.Errorf("waited %v, want the 3s Retry-After", w)
					}
				}
			}
			for _, w := range waits {
				if w > 30*time.Second {
					t.Errorf("backoff %v above the cap", w)
				}
			}
			req2, retries, throttled := tr.Stats()
			if req2 != tt.attempts || retries != tt.attempts-1 {
				t.Errorf("stats requests=%d retries=%d throttled=%d", req2, retries, throttled)
			}
		})
	}
}

func TestRetryAfterTooLongFails(t *testing.T) {
	srv, n := script(t, []int{429}, http.Header{"Retry-After": {"3600"}})
	var waits []time.Duration
	tr := newTestTransport(&waits)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 429 || n.Load() != 1 || len(waits) != 0 {
		t.Fatalf("status %d, %d attempts, waits %v", resp.StatusCode, n.Load(), waits)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	tr := New(Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	for attempt := 1; attempt < 40; attempt++ {
		d := tr.backoff(attempt)
		step := 100 * time.Millisecond << (attempt - 1)
		if step > time.Second || step <= 0 {
			step = time.Second
		}
		if d < step/2 || d > step {
			t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, step/2, step)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"2":                             2 * time.Second,
		"0":                             0,
		"Thu, 01 Jan 2026 00:00:05 GMT": 5 * time.Second,
	} {
		got, ok := RetryAfter(http.Header{"Retry-After": {v}}, now)
		if !ok || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, ok, want)
		}
	}
	if _, ok := RetryAfter(http.Header{"Retry-After": {"soon"}}, now); ok {
		t.Error("garbage parsed")
	}
}

func TestConnectionRefusedRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	var waits []time.Duration
	tr := newTestTransport(&waits)
	tr.opts.MaxAttempts = 3
	req, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
	if _, err := (&http.Client{Transport: tr}).Do(req); err == nil {
		t.Fatal("want an error")
	}
	if len(waits) != 2 {
		t.Fatalf("refused POST retried %d times, want 2", len(waits))
	}
}

func TestPacerSpacesAndCaps(t *testing.T) {
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := inflight.Add(1)
		for {
			p := peak.Load()
			if v <= p || peak.CompareAndSwap(p, v) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inflight.Add(-1)
	}))
	defer srv.Close()
	scopeOf := func(r *http.Request) string { return "all" }
	// 50 requests per second, burst 1, at most 2 in flight.
	p := NewPacer(scopeOf, []Scope{{Name: "all", Rate: Rate{N: 50, Per: time.Second}}}, 1, 2)
	c := &http.Client{Transport: New(Options{Pacer: p})}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 11; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	// 11 requests at 50/s with burst 1 need at least 10 intervals of 20ms.
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Errorf("11 requests took %v; the pacer let them through too fast", el)
	}
	if peak.Load() > 2 {
		t.Errorf("%d requests in flight, cap is 2", peak.Load())
	}
}

// A sliding-window scope lets at most N requests reach the service in any
// window of Per, counted where the service counts them: on arrival. The
// first request's dial is slow (a TLS handshake to a far service), so it
// arrives well after the pacer let it go; spacing tokens 200 ms apart then
// puts six or seven arrivals into one second at five per second.
func TestSlidingWindowCountsArrivals(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	defer srv.Close()
	var dials atomic.Int64
	base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			time.Sleep(450 * time.Millisecond)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}, MaxConnsPerHost: 1}
	defer base.CloseIdleConnections()
	const n, per = 5, 500 * time.Millisecond
	p := NewPacer(nil, []Scope{{Name: "", Rate: Rate{N: n, Per: per}, Sliding: true}}, 1, 1)
	c := &http.Client{Transport: New(Options{Pacer: p, Base: base})}
	var wg sync.WaitGroup
	for range 3 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	// A request may reach the handler late on a busy machine, which only
	// spreads arrivals; the check allows 10% of the window for a request
	// that was let go on time but counted late against the one before it.
	for i := n; i < len(arrivals); i++ {
		if gap := arrivals[i].Sub(arrivals[i-n]); gap < per*9/10 {
			t.Fatalf("requests %d and %d arrived %v apart: %d requests in less than %v", i-n, i, gap, n+1, per)
		}
	}
}

func TestPausedScopeWaits(t *testing.T) {
	p := NewPacer(nil, nil, 1, 0)
	p.Pause("", 60*time.Millisecond)
	start := time.Now()
	tk, err := p.wait(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	tk.release()
	if time.Since(start) < 50*time.Millisecond {
		t.Error("a paused scope did not wait")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Pause("", time.Hour)
	cancel()
	if _, err := p.wait(ctx, ""); err == nil {
		t.Error("cancelled wait returned no error")
	}
}

func TestCheckResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":{"code":"0x0","message":"bad"}}`))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/data/v9.2/contacts?$filter=emailaddress1%20eq%20'a@b.c'")
	if err != nil {
		t.Fatal(err)
	}
	herr, ok := CheckResponse(resp).(*HTTPError)
	if !ok || herr.Status != 400 || !strings.Contains(string(herr.Body), "0x0") {
		t.Fatalf("got %#v", herr)
	}
	if strings.Contains(herr.Error(), "a@b.c") {
		t.Errorf("error message leaks the query: %s", herr.Error())
	}
}
