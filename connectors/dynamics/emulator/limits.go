package emulator

import (
	"net/http"
	"sync"
	"time"
)

// limiter enforces the service protection limits per user (reference §9):
// 6000 requests and 1,200 s of combined execution time in a 300 s sliding
// window, and 52 concurrent requests. The request and execution-time limits
// are evaluated after the fact: requests go through until the window's
// totals exceed the limit, then 429s come with a Retry-After of the time
// until enough of the window has passed. The concurrency limit errors at
// once. Requests refused with 429 still count, so a client that keeps
// sending extends its wait, as the service does.
type limiter struct {
	on     bool
	window time.Duration
	// execBudget scales with the window so the ratio of execution time to
	// wall time the service allows (4x) is kept.
	execBudget  time.Duration
	maxRequests int
	maxInFlight int

	mu    sync.Mutex
	users map[string]*userWindow
}

type userWindow struct {
	starts   []time.Time // request arrival times in the window (oldest first)
	execs    []execEntry
	execSum  time.Duration
	inFlight int
}

type execEntry struct {
	at time.Time
	d  time.Duration
}

func newLimiter(on bool, scale float64) *limiter {
	return &limiter{
		on:          on,
		window:      time.Duration(float64(300*time.Second) / scale),
		execBudget:  time.Duration(float64(1200*time.Second) / scale),
		maxRequests: 6000,
		maxInFlight: 52,
		users:       map[string]*userWindow{},
	}
}

// admit lets a request in or refuses it with a 429 apiError; release must
// be called with the request's execution time when it is done.
func (l *limiter) admit(user string) (release func(time.Duration), err *apiError) {
	if !l.on {
		return func(time.Duration) {}, nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[user]
	if u == nil {
		u = &userWindow{}
		l.users[user] = u
	}
	u.expire(now, l.window)
	if u.inFlight >= l.maxInFlight {
		// UNCERTAIN: the Retry-After the concurrency limit sends is not
		// documented; the shortest integer wait, 1 s, is used.
		return nil, &apiError{status: http.StatusTooManyRequests, code: codeConcurrencyLimit, message: msgConcurrencyLimit, retryAfter: 1}
	}
	u.starts = append(u.starts, now)
	if len(u.starts) > l.maxRequests {
		// Wait until the oldest requests leave the window.
		excess := len(u.starts) - l.maxRequests
		wait := u.starts[excess-1].Add(l.window).Sub(now)
		return nil, &apiError{status: http.StatusTooManyRequests, code: codeRequestsLimit, message: msgRequestsLimit, retryAfter: retrySeconds(wait)}
	}
	if u.execSum > l.execBudget {
		over := u.execSum - l.execBudget
		var wait time.Duration
		for _, e := range u.execs {
			over -= e.d
			wait = e.at.Add(l.window).Sub(now)
			if over < 0 {
				break
			}
		}
		return nil, &apiError{status: http.StatusTooManyRequests, code: codeExecTimeLimit, message: msgExecTimeLimit, retryAfter: retrySeconds(wait)}
	}
	u.inFlight++
	return func(d time.Duration) {
		l.mu.Lock()
		defer l.mu.Unlock()
		u.inFlight--
		u.execs = append(u.execs, execEntry{at: time.Now(), d: d})
		u.execSum += d
	}, nil
}

func (u *userWindow) expire(now time.Time, window time.Duration) {
	cut := now.Add(-window)
	i := 0
	for i < len(u.starts) && !u.starts[i].After(cut) {
		i++
	}
	if i > 0 {
		u.starts = append(u.starts[:0], u.starts[i:]...)
	}
	j := 0
	for j < len(u.execs) && !u.execs[j].at.After(cut) {
		u.execSum -= u.execs[j].d
		j++
	}
	if j > 0 {
		u.execs = append(u.execs[:0], u.execs[j:]...)
	}
}
