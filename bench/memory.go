package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/synclang/synclang/lang/plan"
)

// MemoryResult is one peak-memory run: an initial load of the contacts sync
// (both flows) with the emulators in a child process, so this process holds
// only what the runtime holds (engine, connectors, SQLite state store).
type MemoryResult struct {
	Records int
	Scale   float64
	// PeakHeap is the high-water mark of live and not yet collected heap
	// objects (runtime/metrics /memory/classes/heap/objects:bytes, sampled
	// every 5 ms); PeakGo that of the memory the Go runtime holds: all it
	// mapped (/memory/classes/total:bytes: heap spans, stacks, GC metadata)
	// less what it returned to the OS (/memory/classes/heap/released:bytes).
	// Both in bytes.
	PeakHeap, PeakGo uint64
	// PeakLive is the high-water mark of the heap the last garbage
	// collection found live (/gc/heap/live:bytes): what the runtime
	// retains, without the garbage PeakHeap includes.
	PeakLive uint64
	// HWM is the process's resident set high-water mark (VmHWM) in bytes:
	// it includes what is allocated outside the Go heap (the SQLite
	// library's C-style allocator). HWMReset says whether the mark was
	// reset before the run (clear_refs); otherwise it covers the whole
	// process lifetime, earlier runs included.
	HWM      uint64
	HWMReset bool
	Duration time.Duration
	// FlowDuration is the first flow's duration.
	FlowDuration time.Duration
	// FlowRate and PassRate are the load's records per second, Bound the
	// bound they are measured against (as for the initial load).
	FlowRate, PassRate float64
	Bound              Bound
	// CPU is the CPU time of this process and of the emulators' process
	// during the run, in seconds.
	CPU, EmulatorCPU float64
	Throttled        int64
}

// measureMemory seeds emulators in a child process with m.Records contacts
// and measures the peak memory of this process during the contacts sync's
// initial load.
func measureMemory(ctx context.Context, o Options, p *plan.Plan, m memoryRun, dir string) (*MemoryResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	scale := m.Scale
	if scale <= 0 {
		scale = o.Scale
	}
	seedStart := time.Now()
	svc, err := startChild(ctx, serviceOptions{Contacts: m.Records, Limits: o.Limits, Scale: scale})
	if err != nil {
		return nil, err
	}
	defer svc.close()
	progress(o, "  emulators seeded in %v", time.Since(seedStart).Round(time.Millisecond))
	pr, err := openProject(ctx, p, svc, scale, dir, o.Logger)
	if err != nil {
		return nil, err
	}
	defer pr.close()
	pr.progress = func(format string, args ...any) { progress(o, format, args...) }
	var ps *plan.Sync
	for _, s := range p.Syncs {
		if s.Left.Entity == "contact" {
			ps = s
		}
	}
	if ps == nil {
		return nil, fmt.Errorf("the project has no sync of Dynamics contacts")
	}
	sync := ps.Name

	runtime.GC()
	debug.FreeOSMemory()
	reset := resetHWM()
	profile := ""
	if o.HeapProfile != "" {
		profile = fmt.Sprintf("%s.%d", o.HeapProfile, m.Records)
	}
	w := watchMemory(profile)
	cpu, ecpu := cpuSeconds(0), cpuSeconds(svc.pid)
	start := time.Now()
	rep, _, err := pr.run(ctx, sync, o.Engine)
	d := time.Since(start)
	heap, total, live := w.stop()
	res := &MemoryResult{Records: m.Records, Scale: scale, PeakHeap: heap, PeakGo: total, PeakLive: live, HWM: vmHWM(), HWMReset: reset,
		Duration: d, CPU: cpuSeconds(0) - cpu, EmulatorCPU: cpuSeconds(svc.pid) - ecpu}
	if err != nil {
		return res, err
	}
	sr := rep.Syncs[0]
	res.FlowDuration = sr.Flows[0].Duration
	res.Throttled = statsTotal(sr.Requests).Throttled
	lr := &LoadResult{Sync: sync, Records: m.Records, Flow: sr.Flows[0], Pass: sr}
	if err := checkLoad(lr); err != nil {
		return res, err
	}
	res.FlowRate, res.PassRate = lr.FlowRate(), lr.PassRate()
	res.Bound = loadBound(pr, ps, m.Records, scale)
	return res, nil
}

// memWatch samples the Go runtime's memory every few milliseconds.
type memWatch struct {
	stopc, done       chan struct{}
	heap, total, live atomic.Uint64
}

// watchMemory samples until stop. When profile is not "", it writes a heap
// profile there whenever the peak grew by a tenth (at most once a second),
// so the last one shows what the heap held near its peak.
func watchMemory(profile string) *memWatch {
	w := &memWatch{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"},
			{Name: "/memory/classes/heap/released:bytes"}, {Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var profiled uint64
		var last time.Time
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > w.heap.Load() {
				w.heap.Store(v)
				if profile != "" && v > profiled+profiled/10 && time.Since(last) > time.Second {
					profiled, last = v, time.Now()
					writeHeapProfile(profile)
				}
			}
			if v := samples[3].Value.Uint64(); v > w.live.Load() {
				w.live.Store(v)
			}
			if v := samples[1].Value.Uint64() - samples[2].Value.Uint64(); v > w.total.Load() {
				w.total.Store(v)
			}
			select {
			case <-w.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

func (w *memWatch) stop() (heap, total, live uint64) {
	close(w.stopc)
	<-w.done
	return w.heap.Load(), w.total.Load(), w.live.Load()
}

// resetHWM resets the process's peak resident set size (Linux 4.0+:
// writing 5 to /proc/self/clear_refs) and reports whether it could.
func resetHWM() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// vmHWM returns the process's peak resident set size in bytes (VmHWM in
// /proc/self/status), 0 when unknown.
func vmHWM() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// parseMemoryRuns parses "200000,1000000@10": sizes, each optionally with
// @SCALE (the emulators' window scale for that run; default def).
func parseMemoryRuns(s string, def float64) ([]memoryRun, error) {
	var out []memoryRun
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		size, sc, hasScale := strings.Cut(part, "@")
		n, err := strconv.Atoi(strings.ReplaceAll(size, "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("memory size %q is not a positive number", size)
		}
		m := memoryRun{Records: n, Scale: def}
		if hasScale {
			f, err := strconv.ParseFloat(sc, 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("memory scale %q is not a positive number", sc)
			}
			m.Scale = f
		}
		out = append(out, m)
	}
	return out, nil
}
