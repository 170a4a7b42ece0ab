package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/runtime/engine"
)

// progress shows how a run advances, from the engine's per-batch reports.
// On a terminal it redraws one status line (records read and written, the
// rate, and during an initial load with a known total the ETA); elsewhere it
// prints a plain line per flow at most every interval, so logs of a long
// initial load show it moving without flooding.
type progress struct {
	w        io.Writer
	terminal bool
	now      func() time.Time
	interval time.Duration
	// label names a flow ("contacts crm.contact -> infobip.customer").
	label func(sync, flow string) string

	mu sync.Mutex
	// mark is when the last flow reported (or the run started): flows run
	// one after another, so the next flow started then.
	mark    time.Time
	flows   map[string]*flowProgress
	current *flowProgress
	drawn   time.Time
	width   int
	// count, when set, counts the records a flow is going to read, and
	// says whether the count is exact (0 when it cannot tell, or the flow
	// does not read in full; an approximate one prints as ~N). It is
	// called once per flow, on its first report, in a goroutine of its own:
	// by then the flows before it have written what they create, so the
	// count includes it.
	count func(sync, flow string) (int, bool)
}

type flowProgress struct {
	label   string
	start   time.Time
	ev      engine.Progress
	printed time.Time
	total   int
	approx  bool // total is the service's approximation (Dataverse past 5000)
}

func newProgress(w io.Writer, terminal bool, now func() time.Time, interval time.Duration) *progress {
	return &progress{w: w, terminal: terminal, now: now, interval: interval, mark: now(), flows: map[string]*flowProgress{}}
}

// update is the engine's Env.Progress.
func (p *progress) update(ev engine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	key := ev.Sync + "\x00" + ev.Flow
	f := p.flows[key]
	if f == nil {
		f = &flowProgress{label: ev.Sync + " " + ev.Flow, start: p.mark, printed: now}
		if p.label != nil {
			f.label = p.label(ev.Sync, ev.Flow)
		}
		p.flows[key] = f
		if p.count != nil {
			go func() {
				if n, exact := p.count(ev.Sync, ev.Flow); n > 0 {
					p.mu.Lock()
					f.total, f.approx = n, !exact
					p.mu.Unlock()
				}
			}()
		}
	}
	f.ev = ev
	p.current = f
	p.mark = now
	if p.terminal {
		if now.Sub(p.drawn) >= 100*time.Millisecond {
			p.drawn = now
			p.draw(f.line(now))
		}
		return
	}
	if p.interval > 0 && now.Sub(f.printed) >= p.interval {
		f.printed = now
		fmt.Fprintf(p.w, "progress: %s\n", f.line(now))
	}
}

// line renders a flow's progress.
func (f *flowProgress) line(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: read %s", f.label, diag.Thousands(f.ev.Read))
	tilde := ""
	if f.approx {
		tilde = "~"
	}
	if f.total >= f.ev.Read {
		fmt.Fprintf(&b, " of %s%s", tilde, diag.Thousands(f.total))
	}
	fmt.Fprintf(&b, ", written %s", diag.Thousands(f.ev.Written))
	if f.ev.Rejected > 0 {
		fmt.Fprintf(&b, ", rejected %s", diag.Thousands(f.ev.Rejected))
	}
	if el := now.Sub(f.start); el > 0 && f.ev.Read > 0 {
		rate := float64(f.ev.Read) / el.Seconds()
		fmt.Fprintf(&b, ", %s records/s", diag.Thousands(int(rate+0.5)))
		if f.total > f.ev.Read && rate > 0 {
			eta := time.Duration(float64(f.total-f.ev.Read) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", ETA %s%s", tilde, roundDur(eta.Round(time.Second)))
		}
	}
	return b.String()
}

// draw replaces the status line.
func (p *progress) draw(line string) {
	pad := ""
	if n := len([]rune(line)); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	p.width = len([]rune(line))
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// done clears the status line (on a terminal), before the summary.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}
