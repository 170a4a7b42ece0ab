// Package httpx is the HTTP plumbing the connectors share: a RoundTripper
// that paces requests to a service's documented limits, retries what is safe
// to retry (429 honouring Retry-After, 5xx, connection failures) with capped
// exponential backoff and jitter, and counts what it sent; and HTTPError, the
// typed error for a non-2xx answer whose body a connector parses into a
// connector.Error.
//
// Order of wrapping in a connector: oauth2.Transport{Base: httpx.Transport},
// so every retry carries the same bearer token and the pacer sees each
// attempt. Nothing here logs headers or bodies: credentials and personal data
// never reach a log.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Decision is what the transport does with one attempt's outcome.
type Decision int

const (
	// Done returns the response (or error) to the caller.
	Done Decision = iota
	// Retry waits (Retry-After if the response has one, else backoff) and
	// sends the request again.
	Retry
	// Throttled is Retry for a 429: the whole scope of the request pauses,
	// so concurrent requests do not pile onto a throttled service.
	Throttled
)

// Options configure a Transport.
type Options struct {
	// Service names the service in logs ("dynamics", "people").
	Service string
	// Base sends the requests; nil means a clone of http.DefaultTransport.
	Base http.RoundTripper
	// MaxAttempts bounds tries per request (first try included); default 8.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential backoff; defaults
	// 250ms and 30s. MaxRetryAfter caps a service-sent Retry-After (a wait
	// longer than that fails the request instead); default 5 minutes.
	MinBackoff, MaxBackoff, MaxRetryAfter time.Duration
	// Pacer, when set, spaces requests to the service's rate limits.
	Pacer *Pacer
	// Classify overrides the default retry policy (DefaultClassify).
	Classify func(req *http.Request, resp *http.Response, err error) Decision
	Logger   *slog.Logger
	// sleep is replaced in tests.
	sleep func(context.Context, time.Duration) error
}

// Transport is an http.RoundTripper with pacing, retries and counters. It is
// safe for concurrent use.
type Transport struct {
	opts      Options
	requests  atomic.Int64
	retries   atomic.Int64
	throttled atomic.Int64
}

// New returns a Transport with defaults filled in.
func New(opts Options) *Transport {
	if opts.Base == nil {
		opts.Base = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 5 * time.Minute
	}
	if opts.Classify == nil {
		opts.Classify = DefaultClassify
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.sleep == nil {
		opts.sleep = sleepCtx
	}
	return &Transport{opts: opts}
}

// Stats returns the counters: requests sent (attempts), retries, and 429s.
func (t *Transport) Stats() (requests, retries, throttled int64) {
	return t.requests.Load(), t.retries.Load(), t.throttled.Load()
}

type idempotentKey struct{}

// Idempotent marks a request as safe to send twice (a PATCH by key, an
// upsert), so a connection failure after it was sent is retried too. GET,
// HEAD, OPTIONS, PUT and DELETE are idempotent already (RFC 9110).
func Idempotent(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), idempotentKey{}, true))
}

// IsIdempotent reports whether req may be sent twice.
func IsIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	v, _ := req.Context().Value(idempotentKey{}).(bool)
	return v
}

// DefaultClassify retries 429 (throttled), 502/503/504 (the request did not
// reach the application, or it asked us to come back), 500 for idempotent
// requests, connection failures before the request was sent, and any
// connection failure of an idempotent request. Everything else, 4xx above
// all, is returned to the caller: a 4xx is never retried blindly.
func DefaultClassify(req *http.Request, resp *http.Response, err error) Decision {
	if err != nil {
		if req.Context().Err() != nil {
			return Done
		}
		if IsIdempotent(req) || notSent(err) {
			return Retry
		}
		return Done
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return Throttled
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return Retry
	case http.StatusInternalServerError:
		if IsIdempotent(req) {
			return Retry
		}
	}
	return Done
}

// notSent reports errors that happen before a request leaves: refused or
// failed dials, DNS failures.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// RoundTrip sends req, pacing and retrying as configured.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	scope := ""
	if t.opts.Pacer != nil {
		scope = t.opts.Pacer.scopeOf(req)
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if req.Body != nil && req.GetBody == nil {
				return nil, fmt.Errorf("%s: cannot retry %s %s: request body is not replayable", t.opts.Service, req.Method, req.URL.Path)
			}
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				req = req.Clone(ctx)
				req.Body = body
			}
		}
		release := func() {}
		if t.opts.Pacer != nil {
			rel, err := t.opts.Pacer.wait(ctx, scope)
			if err != nil {
				return nil, err
			}
			release = rel
		}
		t.requests.Add(1)
		resp, err := t.opts.Base.RoundTrip(req)
		release()
		decision := t.opts.Classify(req, resp, err)
		if decision == Done || attempt >= t.opts.MaxAttempts {
			return resp, err
		}
		wait := t.backoff(attempt)
		if resp != nil {
			if ra, ok := RetryAfter(resp.Header, time.Now()); ok {
				if ra > t.opts.MaxRetryAfter {
					return resp, err
				}
				wait = ra
			}
			// Drain so the connection is reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if decision == Throttled {
			t.throttled.Add(1)
			if t.opts.Pacer != nil {
				t.opts.Pacer.pause(scope, wait)
			}
		}
		t.retries.Add(1)
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "retrying request",
			slog.String("service", t.opts.Service), slog.String("method", req.Method),
			slog.String("path", req.URL.Path), slog.Int("status", status),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("error", redactErr(err)))
		if err := t.opts.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// backoff is capped exponential backoff with equal jitter: half the step
// fixed, half random, so retries of many clients spread out.
func (t *Transport) backoff(attempt int) time.Duration {
	d := t.opts.MinBackoff << (attempt - 1)
	if d > t.opts.MaxBackoff || d <= 0 {
		d = t.opts.MaxBackoff
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// RetryAfter parses a Retry-After header: integer seconds (what Dataverse
// sends) or an HTTP date.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		d := at.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// redactErr drops the URL from *url.Error messages: query strings can carry
// personal data (an email in a $filter).
func redactErr(err error) any {
	if err == nil {
		return nil
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

// HTTPError is a non-2xx answer, with the start of its body for the
// connector to parse.
type HTTPError struct {
	Method string
	Path   string // URL path only: queries may carry personal data
	Status int
	Header http.Header
	Body   []byte
}

func (e *HTTPError) Error() string {
	body := strings.TrimSpace(string(e.Body))
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, body)
}

// maxErrorBody bounds how much of an error body is kept.
const maxErrorBody = 64 << 10

// CheckResponse returns nil for a 2xx response, and otherwise reads (a
// bounded part of) the body into an *HTTPError and closes it.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &HTTPError{
		Method: resp.Request.Method,
		Path:   resp.Request.URL.Path,
		Status: resp.StatusCode,
		Header: resp.Header.Clone(),
		Body:   body,
	}
}
