package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
)

// Freshness (issue 12, goal 4): how long an edit takes to arrive on the
// other side while the syncs run as `synclang serve` runs them (each sync
// a pass, then the next one at start + every), and what polling costs
// while nothing changes. The edits are a contact's last name in Dynamics
// and a customer's city in People, at random moments spread over several
// intervals; the bench watches the other emulator's data directly (not
// through the API, so watching costs no request) and takes the first
// moment the new value is there.

// FreshnessResult is one interval's measurement.
type FreshnessResult struct {
	Every time.Duration
	// ToPeople and ToDynamics are the edit-to-arrival latencies.
	ToPeople, ToDynamics []time.Duration
	// Lost counts edits that had not arrived when the bench stopped
	// watching (3 intervals after the last edit).
	Lost int
	// Idle is the requests each connection sent per interval while nothing
	// changed, per sync, over IdleIntervals intervals.
	Idle          map[string]float64
	IdleIntervals int
	// IdleBy is what the idle requests were, per connection and
	// endpoint, so a figure above the goal says which endpoint sent more.
	IdleBy map[string]map[string]int64
	Syncs  int
}

// loop runs sync's passes as serve does until stop is closed.
func serveLoop(ctx context.Context, pr *project, sync string, every time.Duration, opts engine.Options, stop <-chan struct{}, errs chan<- error) {
	for {
		start := time.Now()
		if _, _, err := pr.run(ctx, sync, opts); err != nil {
			select {
			case errs <- fmt.Errorf("sync %s: %w", sync, err):
			default:
			}
		}
		t := time.NewTimer(max(0, time.Until(start.Add(every))))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// edit is one change waiting to arrive.
type edit struct {
	at      time.Time
	arrived func() bool
	toPpl   bool
}

func measureFreshness(ctx context.Context, o Options, p *plan.Plan, every time.Duration, edits int) (*FreshnessResult, error) {
	progress(o, "freshness at every %v: %d edits on each side", every, edits)
	contacts := max(200, edits*4)
	svc, err := startInProcess(serviceOptions{Contacts: contacts, Limits: o.Limits, Scale: 1})
	if err != nil {
		return nil, err
	}
	defer svc.close()
	dir := fmt.Sprintf("%s/freshness-%v", o.Dir, every)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pr, err := openProject(ctx, p, svc, 1, dir, o.Logger)
	if err != nil {
		return nil, err
	}
	defer pr.close()
	if _, _, err := pr.run(ctx, "", o.Engine); err != nil {
		return nil, fmt.Errorf("initial load: %w", err)
	}
	// The pairs: a contact and the customer whose externalId is its ID.
	type pair struct {
		contact string
		person  int64
	}
	var pairs []pair
	for _, m := range svc.ppl.Persons() {
		ext, _ := m["externalId"].(string)
		id, _ := m["id"].(float64)
		if m["type"] == "CUSTOMER" && ext != "" {
			pairs = append(pairs, pair{ext, int64(id)})
		}
	}
	if len(pairs) < 2*edits {
		return nil, fmt.Errorf("freshness: %d linked pairs after the load, need %d", len(pairs), 2*edits)
	}
	rand.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })

	stop := make(chan struct{})
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for _, s := range p.Syncs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveLoop(ctx, pr, s.Name, every, o.Engine, stop, errs)
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	// Edits at random moments over edits/3 intervals (at least 3): each
	// lands anywhere in a pass's cycle.
	span := every * time.Duration(max(3, edits/3))
	if every >= time.Minute {
		span = 3 * every // uniform over the phase either way; keeps the run under 10 minutes
	}
	var pending []*edit
	var mu sync.Mutex
	res := &FreshnessResult{Every: every, Syncs: len(p.Syncs)}
	watchDone := make(chan struct{})
	go func() { // the watcher: every 20 ms, note what arrived
		defer close(watchDone)
		for {
			mu.Lock()
			now := time.Now()
			left := pending[:0]
			for _, e := range pending {
				switch {
				case e.arrived():
					if e.toPpl {
						res.ToPeople = append(res.ToPeople, now.Sub(e.at))
					} else {
						res.ToDynamics = append(res.ToDynamics, now.Sub(e.at))
					}
				case e.at.IsZero(): // the end marker
					mu.Unlock()
					return
				default:
					left = append(left, e)
				}
			}
			pending = left
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	begin := time.Now()
	moments := make([]time.Duration, 2*edits)
	for i := range moments {
		moments[i] = time.Duration(rand.Int64N(int64(span)))
	}
	slices.Sort(moments)
	for i, d := range moments {
		time.Sleep(time.Until(begin.Add(d)))
		pr := pairs[i]
		e := &edit{at: time.Now(), toPpl: i%2 == 0}
		if e.toPpl {
			name := fmt.Sprintf("Fresh%d", i)
			svc.dyn.Update("contact", pr.contact, map[string]any{"lastname": name})
			e.arrived = func() bool { m, _ := svc.ppl.Get(pr.person); return m != nil && m["lastName"] == name }
		} else {
			city := fmt.Sprintf("Freshcity%d", i)
			if err := svc.ppl.Update(pr.person, map[string]any{"city": city}); err != nil {
				return nil, err
			}
			e.arrived = func() bool { m, _ := svc.dyn.Get("contact", pr.contact); return m != nil && m["address1_city"] == city }
		}
		mu.Lock()
		pending = append(pending, e)
		mu.Unlock()
	}
	// Wait for the last edits (at most 3 intervals and a minute), then
	// count what is still missing.
	deadline := time.Now().Add(3*every + time.Minute)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(pending)
		mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	res.Lost = len(pending)
	pending = append(pending, &edit{arrived: func() bool { return false }})
	mu.Unlock()
	<-watchDone
	select {
	case err := <-errs:
		return res, err
	default:
	}

	// Idle: nothing changes for a few intervals; count the requests. Wait
	// first for one full interval so the passes carrying the last edits
	// (and their echoes) are over.
	time.Sleep(every + every/2)
	res.IdleIntervals = min(max(3, int(2*time.Minute/every)), 24) // 2 minutes at 5 s, 3 intervals at 1 m
	before := map[string]map[string]int64{}
	for name, c := range pr.count {
		before[name] = c.snapshot()
	}
	time.Sleep(time.Duration(res.IdleIntervals) * every)
	res.Idle, res.IdleBy = map[string]float64{}, map[string]map[string]int64{}
	for name, c := range pr.count {
		var n int64
		by := c.since(before[name])
		for _, v := range by {
			n += v
		}
		res.IdleBy[name] = by
		res.Idle[name] = float64(n) / float64(res.IdleIntervals) / float64(len(p.Syncs))
	}
	progress(o, "  every %v: to People p99 %v, to Dynamics p99 %v, lost %d", every,
		percentile(res.ToPeople, 0.99).Round(time.Millisecond), percentile(res.ToDynamics, 0.99).Round(time.Millisecond), res.Lost)
	return res, nil
}

// percentile returns the q-quantile of ds (nearest rank); 0 when empty.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
