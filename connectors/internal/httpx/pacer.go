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
	// tolerates inside its window. A Sliding scope ignores it.
	Burst int
	// Sliding paces for a service that counts requests in any window of
	// length Rate.Per ending now (a sliding window), the strictest reading
	// of "N requests per Per": at most Rate.N requests leave in any such
	// window, measured when each request's headers were written to the
	// connection, not when the pacer let it go. Spacing tokens does not
	// give that: a request that waited for a connection slot or a dial
	// after its token arrives late and shares a window with those after it
	// (six requests in one second at five per second).
	Sliding bool
}

// Pacer spaces requests so each scope stays under its rate, caps requests in
// flight, and pauses a scope after a 429 for as long as the service asked.
type Pacer struct {
	scopeOf func(*http.Request) string
	sem     chan struct{}

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	windows  map[string]*window
	until    map[string]time.Time // paused until (after a 429)
}

// window is a sliding-window scope: N slots, each held by one request
// from the moment it is let go until Per (plus a margin) after it was
// written to the connection. A request may go only when a slot is free,
// so any Per-long span holds at most N writes.
type window struct {
	per    time.Duration // the window, plus the margin
	slots  []slot
	change chan struct{} // closed (and replaced) when a slot's time becomes known
}

type slot struct {
	pending bool      // let go, not yet written: holds the slot
	sent    time.Time // when it was written (or let go, or answered)
}

// slidingMargin widens the window by 1/slidingMargin of Per (about 31 ms
// of a second): the request's way from the written headers to the
// service's counter varies a little from one request to the next, and the
// margin absorbs that at 3% of the throughput.
const slidingMargin = 32

// NewPacer builds a pacer. scopeOf names the scope of a request ("" for
// requests without a limit of their own, which then share Default if one is
// given). scale multiplies every rate (tests against an emulator whose limits
// are scaled); 0 means 1. concurrency caps requests in flight (0: no cap).
func NewPacer(scopeOf func(*http.Request) string, scopes []Scope, scale float64, concurrency int) *Pacer {
	if scale <= 0 {
		scale = 1
	}
	p := &Pacer{scopeOf: scopeOf, limiters: map[string]*rate.Limiter{}, windows: map[string]*window{}, until: map[string]time.Time{}}
	if p.scopeOf == nil {
		p.scopeOf = func(*http.Request) string { return "" }
	}
	for _, s := range scopes {
		if s.Sliding && s.Rate.N > 0 && s.Rate.Per > 0 {
			per := time.Duration(float64(s.Rate.Per) / scale)
			p.windows[s.Name] = &window{per: per + per/slidingMargin, slots: make([]slot, s.Rate.N), change: make(chan struct{})}
			continue
		}
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

// ticket is a request the pacer let go. sent must be called when its
// headers were written (the Transport hooks it to httptrace's
// WroteHeaders), release when its answer has arrived or it failed.
type ticket struct {
	sent    func()
	release func()
}

func noop() {}

// wait blocks until a request of scope may go.
func (p *Pacer) wait(ctx context.Context, scope string) (ticket, error) {
	for {
		p.mu.Lock()
		until := p.until[scope]
		p.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			break
		}
		if err := sleepCtx(ctx, d); err != nil {
			return ticket{}, err
		}
	}
	t := ticket{sent: noop, release: noop}
	if lim := p.limiters[scope]; lim != nil {
		if err := lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ticket{}, ctx.Err()
			}
			return ticket{}, err
		}
	}
	// The window's slot is taken before the connection slot: a request
	// waiting for one of the connections holds its place in the window,
	// and its time there starts only when it is written.
	if w := p.windows[scope]; w != nil {
		sent, done, err := p.take(ctx, w)
		if err != nil {
			return ticket{}, err
		}
		t.sent, t.release = sent, done
	}
	if p.sem == nil {
		return t, nil
	}
	select {
	case p.sem <- struct{}{}:
		done := t.release
		t.release = func() { <-p.sem; done() }
		return t, nil
	case <-ctx.Done():
		t.release()
		return ticket{}, ctx.Err()
	}
}

// take waits for a free slot of w and holds it; sent records when the
// request was written, done ends its wait for that (if it was never
// written, as when the dial failed, the slot counts from now: it may have
// reached the service).
func (p *Pacer) take(ctx context.Context, w *window) (sent, done func(), err error) {
	for {
		p.mu.Lock()
		now := time.Now()
		free, next := -1, time.Time{}
		for i, sl := range w.slots {
			if sl.pending {
				continue
			}
			at := sl.sent.Add(w.per)
			if sl.sent.IsZero() || !at.After(now) {
				free = i
				break
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if free >= 0 {
			w.slots[free] = slot{pending: true}
			p.mu.Unlock()
			var once sync.Once
			mark := func() {
				once.Do(func() {
					p.mu.Lock()
					w.slots[free] = slot{sent: time.Now()}
					close(w.change)
					w.change = make(chan struct{})
					p.mu.Unlock()
				})
			}
			return mark, mark, nil
		}
		change := w.change
		p.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(next.Sub(now))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-change:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
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
