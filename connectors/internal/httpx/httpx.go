// Package httpx is the HTTP plumbing the connectors share, and the one
// place that holds the rules of SPEC.md's "Connections at run time":
//
//   - Transport paces requests to a service's documented limits, gives
//     every attempt a deadline that covers reading the body and an
//     idle-read timeout, retries what is safe and useful to retry (429
//     honouring Retry-After, 5xx, network failures; never NXDOMAIN, TLS
//     failures or a host that keeps refusing) with capped exponential
//     backoff and jitter inside an overall retry budget, logs each retry at
//     warn, and counts what it sent;
//   - guard.go says where credentials may go (MayCarry, Secure) and which
//     redirects are followed (NoRedirects for token endpoints, SameHost
//     for APIs);
//   - limits.go caps answer sizes (LimitBody, ReadBody) and stops endless
//     paging (Pages);
//   - HTTPError is the typed error for a non-2xx answer whose body a
//     connector parses into a connector.Error.
//
// Order of wrapping in a connector: credentials (set by the connector,
// checked against its host) over Transport over the base transport, so
// every retry carries the same credential and the pacer sees each attempt.
// Nothing here logs headers, bodies or query strings: credentials and
// personal data never reach a log.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
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

// Defaults of the limits a Transport applies (SPEC.md, "Connections at run
// time"). They are what the services can legitimately need, with headroom:
// Dataverse's own clients time out after 2 to 4 minutes (reference §6,
// CreateMultiple), and Dataverse asks throttled clients to wait at most a
// 5-minute window (reference §9).
const (
	DefaultTimeout       = 5 * time.Minute
	DefaultIdleTimeout   = time.Minute
	DefaultBudget        = 15 * time.Minute
	DefaultMaxRetryAfter = 15 * time.Minute
	DefaultMaxAttempts   = 8
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	// refusedLimit is how many refused connections in a row make a host
	// "down": its requests then fail at once, without retries, until a
	// connection to it succeeds again.
	refusedLimit = 3
	// maxTimeouts is how many attempts of one request may run out of time.
	maxTimeouts = 2
)

// Options configure a Transport.
type Options struct {
	// Service names the service in logs ("dynamics", "people").
	Service string
	// Base sends the requests; nil means a clone of http.DefaultTransport.
	Base http.RoundTripper
	// MaxAttempts bounds tries per request (first try included) for
	// failures other than 429; default 8. A 429 is retried for as long as
	// the Budget lasts: the service said when to come back.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential backoff; defaults
	// 250ms and 30s. The backoff is also the least a retry waits after a
	// Retry-After shorter than it (so "Retry-After: 0" does not spin).
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a service-sent Retry-After: a longer wait fails the
	// request at once; default 15 minutes.
	MaxRetryAfter time.Duration
	// Timeout bounds one attempt, from sending the request to reading the
	// last byte of the answer's body; default 5 minutes.
	Timeout time.Duration
	// IdleTimeout fails an attempt whose answer body sends no byte for this
	// long; default 1 minute.
	IdleTimeout time.Duration
	// Budget bounds a whole retry chain, from the first attempt to the
	// last: no retry starts (and no wait begins) that would end after it,
	// and each attempt's Timeout is cut to what is left; default 15
	// minutes.
	Budget time.Duration
	// Pacer, when set, spaces requests to the service's rate limits.
	Pacer *Pacer
	// Classify overrides the default retry policy (DefaultClassify).
	Classify func(req *http.Request, resp *http.Response, err error) Decision
	Logger   *slog.Logger
	// sleep and now are replaced in tests.
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
}

// Transport is an http.RoundTripper with pacing, retries, deadlines and
// counters. It is safe for concurrent use.
type Transport struct {
	opts      Options
	requests  atomic.Int64
	retries   atomic.Int64
	throttled atomic.Int64

	mu      sync.Mutex
	refused map[string]int // host → connections refused in a row
}

// New returns a Transport with defaults filled in.
func New(opts Options) *Transport {
	if opts.Base == nil {
		opts.Base = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Budget <= 0 {
		opts.Budget = DefaultBudget
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
	if opts.now == nil {
		opts.now = time.Now
	}
	return &Transport{opts: opts, refused: map[string]int{}}
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
// all, is returned to the caller: a 4xx is never retried blindly, and
// neither is what retrying cannot fix (see Permanent).
func DefaultClassify(req *http.Request, resp *http.Response, err error) Decision {
	if err != nil {
		if req.Context().Err() != nil || Permanent(err) {
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

// Permanent reports transport failures that a retry cannot fix: a host
// name that does not exist (NXDOMAIN), a certificate that does not verify,
// a TLS handshake with something that does not speak TLS, and the
// redirects and oversized answers this package refuses.
func Permanent(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		tooLarge  *TooLargeError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &tooLarge) ||
		errors.Is(err, ErrRedirect)
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

// RoundTrip sends req, pacing and retrying as configured. Each attempt runs
// under its own deadline (Timeout, cut to what is left of the Budget),
// which covers reading the answer's body: the returned body fails its Read
// once the deadline passes or no byte came for IdleTimeout.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	start := t.opts.now()
	deadline := start.Add(t.opts.Budget)
	scope := ""
	if t.opts.Pacer != nil {
		scope = t.opts.Pacer.scopeOf(req)
	}
	failures := 0 // attempts that failed other than by a 429
	timeouts := 0 // attempts that ran out of time
	// throttled is the last 429 answer (status and headers, no body). An
	// attempt that the budget's end cuts short fails as a timeout; while
	// the service was throttling, the truth is the throttling, so that
	// attempt ends the chain with this answer instead, as the budget check
	// before it would have on a less loaded machine.
	var throttled *http.Response
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
		pass := ticket{sent: noop, release: noop}
		if t.opts.Pacer != nil {
			tk, err := t.opts.Pacer.wait(ctx, scope)
			if err != nil {
				return nil, err
			}
			pass = tk
		}
		t.requests.Add(1)
		limit := min(t.opts.Timeout, deadline.Sub(t.opts.now()))
		resp, err := t.attempt(req, limit, pass.sent)
		pass.release()
		t.noteRefused(req.URL.Host, err)
		decision := t.opts.Classify(req, resp, err)
		if decision == Retry && err != nil && t.hostDown(req.URL.Host) {
			decision = Done // refused again and again: the host is down
		}
		if te := (*TimeoutError)(nil); errors.As(err, &te) && throttled != nil &&
			(te.What == "the retry budget" || (te.What == "an answer" && limit < t.opts.Timeout)) {
			t.giveUp(ctx, req, throttled, nil, attempt, fmt.Sprintf("the retry budget of %s ended while the service was throttling", t.opts.Budget))
			return throttled, nil
		}
		if te := (*TimeoutError)(nil); errors.As(err, &te) {
			// One timed-out attempt may be bad luck; two are a service
			// that does not answer, and more would hold the run for
			// Timeout each.
			if timeouts++; timeouts >= maxTimeouts {
				decision = Done
			}
		}
		if decision != Throttled {
			failures++
		}
		if decision == Done || failures >= t.opts.MaxAttempts {
			return resp, err
		}
		if decision == Throttled && resp != nil {
			// Keep the 429 (its body is an error text of a few bytes) to
			// end the chain with if the budget runs out mid-attempt.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			throttled = &http.Response{Status: resp.Status, StatusCode: resp.StatusCode, Proto: resp.Proto,
				ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor, Header: resp.Header.Clone(),
				Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: resp.Request}
		}
		wait := t.backoff(attempt)
		ra, hasRA := time.Duration(0), false
		if resp != nil {
			ra, hasRA = RetryAfter(resp.Header, t.opts.now())
		}
		if hasRA {
			if ra > t.opts.MaxRetryAfter {
				t.giveUp(ctx, req, resp, err, attempt, fmt.Sprintf("the service asked to wait %s, more than the %s synclang waits at most", ra.Round(time.Second), t.opts.MaxRetryAfter))
				return resp, err
			}
			// The backoff is the least wait: a service that says "0"
			// again and again is not hammered.
			wait = max(ra, wait)
		}
		if t.opts.now().Add(wait).After(deadline) {
			t.giveUp(ctx, req, resp, err, attempt, fmt.Sprintf("the next try (in %s) would end after the retry budget of %s", wait.Round(time.Millisecond), t.opts.Budget))
			if err != nil {
				return nil, &BudgetError{Service: t.opts.Service, Attempts: attempt, Budget: t.opts.Budget, Err: err}
			}
			return resp, nil
		}
		if resp != nil {
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
		t.opts.Logger.LogAttrs(ctx, slog.LevelWarn, t.opts.Service+": retrying a request",
			append(failAttrs(req, resp, err, attempt),
				slog.Duration("wait", wait), slog.Time("next", t.opts.now().Add(wait)))...)
		if err := t.opts.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// failAttrs describe a failed attempt for the log: never headers, bodies or
// query strings.
func failAttrs(req *http.Request, resp *http.Response, err error, attempt int) []slog.Attr {
	attrs := []slog.Attr{slog.String("method", req.Method), slog.String("host", req.URL.Host),
		slog.String("path", Path(req.URL)), slog.Int("attempt", attempt)}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("error", redactErr(err)))
	}
	return attrs
}

func (t *Transport) giveUp(ctx context.Context, req *http.Request, resp *http.Response, err error, attempt int, why string) {
	t.opts.Logger.LogAttrs(ctx, slog.LevelWarn, t.opts.Service+": giving up on a request: "+why,
		failAttrs(req, resp, err, attempt)...)
}

// attempt sends req once under a deadline of limit, which the returned
// body carries on.
func (t *Transport) attempt(req *http.Request, limit time.Duration, sent func()) (*http.Response, error) {
	if limit <= 0 {
		return nil, &TimeoutError{Service: t.opts.Service, What: "the retry budget", Limit: t.opts.Budget}
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	// The pacer's window counts a request from when it was written, which
	// a dial or a wait for an idle connection can put well after the
	// pacer let it go.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: sent})
	overall := &TimeoutError{Service: t.opts.Service, What: "an answer", Limit: limit}
	timer := time.AfterFunc(limit, func() { cancel(overall) })
	resp, err := t.opts.Base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timer.Stop()
		cause := context.Cause(ctx)
		cancel(nil)
		var te *TimeoutError
		if errors.As(cause, &te) {
			return nil, te
		}
		return nil, err
	}
	resp.Body = newTimedBody(resp.Body, ctx, cancel, timer, t.opts.IdleTimeout, t.opts.Service)
	return resp, nil
}

// noteRefused counts refused connections per host; any other outcome
// resets the count.
func (t *Transport) noteRefused(host string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
		t.refused[host]++
		return
	}
	if err == nil {
		delete(t.refused, host)
	}
}

func (t *Transport) hostDown(host string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused[host] >= refusedLimit
}

// TimeoutError is an attempt that ran out of time: no answer, or an answer
// whose body did not finish (or paused too long) within the limit.
type TimeoutError struct {
	Service string
	What    string // "an answer", "the next byte of the answer", "the retry budget"
	Limit   time.Duration
}

func (e *TimeoutError) Error() string {
	if e.What == "the retry budget" {
		return fmt.Sprintf("%s: the retry budget of %s is spent", e.Service, e.Limit)
	}
	return fmt.Sprintf("%s: no %s within %s", e.Service, strings.TrimPrefix(e.What, "an "), e.Limit)
}

// Timeout marks the error as a timeout (net.Error).
func (e *TimeoutError) Timeout() bool { return true }

// BudgetError is a retry chain that gave up because the next try would end
// after its budget.
type BudgetError struct {
	Service  string
	Attempts int
	Budget   time.Duration
	Err      error
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts: the retry budget is %s)", redactErr(e.Err), e.Attempts, e.Budget)
}

func (e *BudgetError) Unwrap() error { return e.Err }

// timedBody is an answer body under its attempt's deadline and an idle
// timer that every byte read resets.
type timedBody struct {
	rc      io.ReadCloser
	ctx     context.Context
	cancel  context.CancelCauseFunc
	overall *time.Timer
	idle    *time.Timer
	idleFor time.Duration
}

func newTimedBody(rc io.ReadCloser, ctx context.Context, cancel context.CancelCauseFunc, overall *time.Timer, idleFor time.Duration, service string) *timedBody {
	b := &timedBody{rc: rc, ctx: ctx, cancel: cancel, overall: overall, idleFor: idleFor}
	idleErr := &TimeoutError{Service: service, What: "the next byte of the answer", Limit: idleFor}
	b.idle = time.AfterFunc(idleFor, func() { cancel(idleErr) })
	return b
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.idle.Reset(b.idleFor)
	}
	if err != nil && err != io.EOF {
		var te *TimeoutError
		if cause := context.Cause(b.ctx); errors.As(cause, &te) {
			return n, te
		}
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.idle.Stop()
	b.overall.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
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

var keySegment = regexp.MustCompile(`\([^/]*\)`)

// Path is u's path for messages and logs: OData keys in parentheses, which
// can be alternate-key values such as an email address, become "(…)".
func Path(u *url.URL) string { return keySegment.ReplaceAllString(u.Path, "(…)") }

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

// ParseBudget parses a connection's retry_budget setting: a Go duration
// ("90s", "15m", "1h") from 1 second to 24 hours; "" is DefaultBudget.
func ParseBudget(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultBudget, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < time.Second || d > 24*time.Hour {
		return 0, fmt.Errorf("retry_budget must be a duration from 1s to 24h, such as \"15m\"")
	}
	return d, nil
}
