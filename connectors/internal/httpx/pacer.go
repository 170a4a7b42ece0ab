package httpx

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a request rate: N requests per Per.
type Rate struct {
	N   int
	Per time.Duration
}

// PerSecond returns the rate as requests per second.
func (r Rate) PerSecond() float64 {
	if r.N <= 0 || r.Per <= 0 {
		return 0
	}
	return float64(r.N) / r.Per.Seconds()
}

// Scope is one group of requests that share a limit (People limits each
// endpoint separately; Dataverse counts all requests of a user together).
type Scope struct {
	Name string
	Rate Rate
	// Burst is how many requests may go at once after a quiet spell;
	// default 1 (strictly spaced). Keep it at or under what the service
	// tolerates inside its window.
	Burst int
}

// Pacer spaces requests so each scope stays under its rate, caps requests in
// flight, and pauses a scope after a 429 for as long as the service asked.
type Pacer struct {
	scopeOf func(*http.Request) string
	sem     chan struct{}

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	until    map[string]time.Time // paused until (after a 429)
}

// NewPacer builds a pacer. scopeOf names the scope of a request ("" for
// requests without a limit of their own, which then share Default if one is
// given). scale multiplies every rate (tests against an emulator whose limits
// are scaled); 0 means 1. concurrency caps requests in flight (0: no cap).
func NewPacer(scopeOf func(*http.Request) string, scopes []Scope, scale float64, concurrency int) *Pacer {
	if scale <= 0 {
		scale = 1
	}
	p := &Pacer{scopeOf: scopeOf, limiters: map[string]*rate.Limiter{}, until: map[string]time.Time{}}
	if p.scopeOf == nil {
		p.scopeOf = func(*http.Request) string { return "" }
	}
	for _, s := range scopes {
		burst := s.Burst
		if burst <= 0 {
			burst = 1
		}
		limit := rate.Inf
		if ps := s.Rate.PerSecond(); ps > 0 {
			limit = rate.Limit(ps * scale)
		}
		p.limiters[s.Name] = rate.NewLimiter(limit, burst)
	}
	if concurrency > 0 {
		p.sem = make(chan struct{}, concurrency)
	}
	return p
}

// wait blocks until a request of scope may go; release must be called when
// its response has arrived.
func (p *Pacer) wait(ctx context.Context, scope string) (release func(), err error) {
	for {
		p.mu.Lock()
		until := p.until[scope]
		p.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			break
		}
		if err := sleepCtx(ctx, d); err != nil {
			return nil, err
		}
	}
	if lim := p.limiters[scope]; lim != nil {
		if err := lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
	if p.sem == nil {
		return func() {}, nil
	}
	select {
	case p.sem <- struct{}{}:
		return func() { <-p.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pause stops every request of scope for d.
func (p *Pacer) pause(scope string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := time.Now().Add(d); t.After(p.until[scope]) {
		p.until[scope] = t
	}
}

// Pause stops every request of scope for d: a connector calls it when a
// service says to slow down in a way the transport cannot see.
func (p *Pacer) Pause(scope string, d time.Duration) { p.pause(scope, d) }

// ScopeOf returns the scope a request belongs to.
func (p *Pacer) ScopeOf(req *http.Request) string { return p.scopeOf(req) }
