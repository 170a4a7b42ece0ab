package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// writeReport prints the figures as tables, each with the bound it is
// measured against and the ratio.
func writeReport(w io.Writer, r *Results) {
	m, o := r.Machine, r.Options
	fmt.Fprintf(w, "synclang runtime benchmarks\n")
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d)%s, %s %s/%s; load average before the run: %s\n",
		m.CPUs, m.GOMAXPROCS, prefixed(", ", m.CPUModel), m.Go, m.OS, m.Arch, m.LoadAvg)
	fmt.Fprintf(w, "emulators: limits %s, time scale %g (bounds scale with it); engine batch %s, in flight %s\n",
		o.Limits, o.Scale, orDefault(o.Engine.BatchSize, "1000 (default)"), orDefault(o.Engine.InFlight, "4 (default)"))
	if len(r.Load) > 0 {
		writeLoads(w, r)
	}
	if len(r.Incremental) > 0 {
		writePasses(w, r)
	}
	if r.Populated != nil {
		writePopulated(w, r)
	}
	if len(r.Freshness) > 0 {
		writeFreshness(w, r)
	}
	if len(r.Growth) > 0 {
		writeGrowth(w, r)
	}
	if r.Transform != nil {
		writeTransform(w, r.Transform)
	}
	if len(r.Memory) > 0 {
		writeMemory(w, r)
	}
	if r.State != nil {
		writeState(w, r.State)
	}
	fmt.Fprintf(w, "\nwall time of the whole run: %v\n", r.Wall.Round(time.Second))
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func orDefault(n int, def string) string {
	if n <= 0 {
		return def
	}
	return fmt.Sprint(n)
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func writeLoads(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nINITIAL LOAD (Dynamics records into an empty People account; emulators in this process)\n")
	tw := table(w)
	fmt.Fprintf(tw, "figure\trecords\tduration\tmeasured\tbound\tratio\tgoal\n")
	for _, l := range r.Load {
		f := l.Flow
		fmt.Fprintf(tw, "%s %s -> %s (first flow)\t%d\t%v\t%.0f records/s\t%.0f records/s\t%.3f\t%s\n",
			l.Sync, f.From, f.To, l.Records, f.Duration.Round(time.Millisecond), l.FlowRate(), l.Bound.Flow, l.FlowRate()/l.Bound.Flow, goalIf(l.Sync == r.Load[0].Sync, ">= 0.9"))
		what := "whole pass (one-way: the flow)"
		if l.Bound.Reverse != nil {
			what = "whole pass (+ reverse flow reads all back)"
		}
		fmt.Fprintf(tw, "%s %s\t%d\t%v\t%.0f records/s\t%.0f records/s\t%.3f\t\n",
			l.Sync, what, l.Records, l.Pass.Duration.Round(time.Millisecond), l.PassRate(), l.Bound.Pass, l.PassRate()/l.Bound.Pass)
	}
	tw.Flush()

	for _, l := range r.Load {
		fmt.Fprintf(w, "\n%s: how the bound is derived (requests per 1000 records the connectors must send, documented limits x scale %g)\n", l.Sync, r.Options.Scale)
		tw := table(w)
		fmt.Fprintf(tw, "  connection\tlimit scope\treq/1000\twhy\tlimit\tallows\n")
		terms := l.Bound.Terms
		if l.Bound.Reverse != nil {
			terms = append(terms[:len(terms):len(terms)], *l.Bound.Reverse)
		}
		for i, t := range terms {
			tag := ""
			if l.Bound.Reverse != nil && i == len(terms)-1 {
				tag = " (reverse flow)"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\t%.1f\t%s\t%s/s\t%.0f records/s\n", t.Connection, t.Scope, tag, t.Per1000, t.Why, trimFloat(t.Rate), t.Records)
		}
		tw.Flush()
		fmt.Fprintf(w, "  first flow: the slowest endpoint bounds it: %s, %.0f records/s\n", l.Bound.Bottleneck(), l.Bound.Flow)
		if l.Bound.Reverse != nil {
			fmt.Fprintf(w, "  pass: the flows run one after the other: N / (N/%.0f + N/%.0f) = %.0f records/s\n", l.Bound.Flow, l.Bound.Reverse.Records, l.Bound.Pass)
		}

		fmt.Fprintf(w, "  requests the pass sent, by endpoint (retries included), and the least time each limit needs for them:\n")
		tw = table(w)
		fmt.Fprintf(tw, "    connection\tendpoint\trequests\tper 1000 records\tlimit\tleast time\n")
		for _, e := range l.Endpoints {
			limit, least := "-", "-"
			switch {
			case e.Rate > 0 && e.Shared && e.Endpoint != "(total)":
				limit = "shared"
			case e.Rate > 0:
				limit = trimFloat(e.Rate) + "/s"
				least = fmt.Sprintf("%.1f s", e.Least().Seconds())
			}
			fmt.Fprintf(tw, "    %s\t%s\t%d\t%.2f\t%s\t%s\n", e.Connection, e.Endpoint, e.Requests, float64(e.Requests)*1000/float64(l.Records), limit, least)
		}
		tw.Flush()
		if n := l.writtenBack(); n > 0 {
			fmt.Fprintf(w, "  NOTE: the reverse flow wrote %d of %d records back to %s: values People stores differently from how they were written\n"+
				"        (phones lose their \"+\") come back as changes; see README.md, \"Findings\"\n", n, l.Records, l.Flow.From)
		}
		st := statsTotal(l.Pass.Requests)
		fmt.Fprintf(w, "  throttled (429): %d, retries: %d\n", st.Throttled, st.Retries)
		cores := l.CPU / l.Pass.Duration.Seconds()
		fmt.Fprintf(w, "  CPU: %.1f s in %.1f s = %.2f of %d cores busy (engine, connectors, SQLite and both emulators share this process)\n",
			l.CPU, l.Pass.Duration.Seconds(), cores, r.Machine.CPUs)
	}
}

func goalIf(ok bool, goal string) string {
	if ok {
		return goal
	}
	return ""
}

func trimFloat(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprintf("%.2f", f)
}

func writePasses(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nINCREMENTAL PASSES (every sync, after the initial loads; requests per sync, retries included)\n")
	tw := table(w)
	var conns []string
	if len(r.Incremental) > 0 {
		seen := map[string]bool{}
		for _, s := range r.Incremental[0].Syncs {
			for c := range s.Requests {
				if !seen[c] {
					seen[c] = true
					conns = append(conns, c)
				}
			}
		}
	}
	conns = sortStrings(conns)
	fmt.Fprintf(tw, "pass\tsync\trequests\t(%s)\tread\tupdated\tduration\tgoal\n", strings.Join(conns, " + "))
	for _, p := range r.Incremental {
		for _, s := range p.Syncs {
			var parts []string
			for _, c := range conns {
				parts = append(parts, fmt.Sprint(s.Requests[c].Requests))
			}
			read, upd := 0, 0
			for _, f := range s.Flows {
				read += f.Read
				upd += f.Updated + f.Created + f.WrittenBack
			}
			goal := ""
			if p.Name == passQuiet || p.Name == passNewProcess {
				goal = "<= 2"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t(%s)\t%d\t%d\t%v\t%s\n", p.Name, s.Sync, p.Requests(s.Sync), strings.Join(parts, " + "), read, upd, s.Duration.Round(time.Millisecond), goal)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "  by endpoint:\n")
	for _, p := range r.Incremental {
		var parts []string
		for _, conn := range sortedKeys(p.Sent) {
			for _, ep := range sortedKeys(p.Sent[conn]) {
				parts = append(parts, fmt.Sprintf("%s %s x%d", conn, ep, p.Sent[conn][ep]))
			}
		}
		fmt.Fprintf(w, "    %s: %s\n", p.Name, strings.Join(parts, ", "))
	}
}

func sortStrings(s []string) []string {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return sortedKeys(m)
}

func writeTransform(w io.Writer, t *TransformResult) {
	fmt.Fprintf(w, "\nTRANSFORM (contacts mapping, Dynamics contact -> People customer, per record; fastest of 3)\n")
	tw := table(w)
	fmt.Fprintf(tw, "mapping\tns/record\tB/record\tallocs/record\n")
	fmt.Fprintf(tw, "compiled (.sync, expr VM)\t%.0f\t%.0f\t%.0f\n", t.Compiled.NsPerOp, t.Compiled.BytesPerOp, t.Compiled.AllocsPerOp)
	fmt.Fprintf(tw, "hand-written Go\t%.0f\t%.0f\t%.0f\n", t.Go.NsPerOp, t.Go.BytesPerOp, t.Go.AllocsPerOp)
	tw.Flush()
	fmt.Fprintf(w, "  ratio compiled/hand-written time: %.2f (the bound is the hand-written function, 1.0); %.0f records/s per core compiled\n",
		t.Ratio(), 1e9/t.Compiled.NsPerOp)
	fmt.Fprintf(w, "  from: %s (GOMAXPROCS %d)\n", t.Command, t.GoMaxProcs)
}

func writeMemory(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nPEAK MEMORY (initial load of the contacts sync, both flows; emulators in a child process, so this process holds only the runtime)\n")
	tw := table(w)
	fmt.Fprintf(tw, "records\tscale\tpeak live heap\tpeak Go heap\tpeak Go runtime (held)\tpeak RSS (VmHWM)\tduration\tthrottled\tCPU runtime + emulators\tgoal\n")
	var largest uint64
	for _, m := range r.Memory {
		hwm := mb(m.HWM)
		if !m.HWMReset {
			hwm += " (since start)"
		}
		largest = max(largest, m.HWM)
		fmt.Fprintf(tw, "%d\t%g\t%s\t%s\t%s\t%s\t%v\t%d\t%.0f s + %.0f s\t< 200 MB, flat\n", m.Records, m.Scale, mb(m.PeakLive), mb(m.PeakHeap), mb(m.PeakGo), hwm,
			m.Duration.Round(time.Second), m.Throttled, m.CPU, m.EmulatorCPU)
	}
	tw.Flush()
	fmt.Fprintf(w, "  live heap: what the last GC found live; Go heap: live and not yet collected objects (GOGC lets it reach about twice the live heap)\n")
	fmt.Fprintf(w, "  the same loads' rates, against the bound (first flow; whole pass):\n")
	for _, m := range r.Memory {
		fmt.Fprintf(w, "    %d records, scale %g: flow %.0f records/s = %.3f of %.0f; pass %.0f records/s = %.3f of %.0f\n", m.Records, m.Scale,
			m.FlowRate, m.FlowRate/m.Bound.Flow, m.Bound.Flow, m.PassRate, m.PassRate/m.Bound.Pass, m.Bound.Pass)
	}
	// Flatness compares runs at the same scale: the scale changes the
	// pace, and with it how many batches wait and how much garbage the
	// GC lets accumulate.
	for i, a := range r.Memory {
		for _, b := range r.Memory[i+1:] {
			if a.Scale != b.Scale || a.Records == b.Records {
				continue
			}
			fmt.Fprintf(w, "  flatness at scale %g: %.1fx the records, peak live heap x%.2f, peak Go heap x%.2f, peak RSS x%.2f\n",
				a.Scale, float64(b.Records)/float64(max(a.Records, 1)), ratioOf(b.PeakLive, a.PeakLive), ratioOf(b.PeakHeap, a.PeakHeap), ratioOf(b.HWM, a.HWM))
		}
	}
	fmt.Fprintf(w, "  largest peak RSS: %s = %.2f of 200 MB\n", mb(largest), float64(largest)/(200<<20))
}

func ratioOf(a, b uint64) float64 { return float64(a) / float64(max(b, 1)) }

func mb(b uint64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

// cpuModel returns the "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func trimFields(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

func writePopulated(w io.Writer, r *Results) {
	p := r.Populated
	sh := p.Shape
	fmt.Fprintf(w, "\nTWO-WAY INITIAL LOAD, BOTH SIDES POPULATED (%d contacts; %d persons: %d share a contact's email, %d People-only)\n",
		sh.Contacts, sh.Persons(), sh.Shared, sh.PeopleOnly)
	order := [2]string{"1st", "2nd"}
	if p.SlowerFirst {
		order = [2]string{"2nd", "1st"}
	}
	tw := table(w)
	fmt.Fprintf(tw, "figure\tduration\tbound\tratio\tgoal\n")
	for i, f := range p.Pass.Flows {
		fmt.Fprintf(tw, "%s -> %s (ran %s)\t%v\t%v\t%.3f\t\n", f.From, f.To, order[i], f.Duration.Round(time.Millisecond), p.RunBound[i].Round(time.Millisecond), p.RunBound[i].Seconds()/f.Duration.Seconds())
	}
	fmt.Fprintf(tw, "whole pass, against the issue's bound (left to right first)\t%v\t%v\t%.3f\t>= 0.9\n", p.Pass.Duration.Round(time.Millisecond), (p.Bound[0] + p.Bound[1]).Round(time.Millisecond), p.Ratio())
	fmt.Fprintf(tw, "whole pass, against the bound of the plan run\t%v\t%v\t%.3f\t\n", p.Pass.Duration.Round(time.Millisecond), (p.RunBound[0] + p.RunBound[1]).Round(time.Millisecond), p.RunRatio())
	tw.Flush()
	for _, b := range []struct {
		what  string
		terms [2][]populatedTerm
	}{{"the issue's bound (left to right first)", p.Terms}, {"the bound of the plan run", p.RunTerms}} {
		fmt.Fprintf(w, "  %s: per flow, the slowest endpoint for the requests it must send (1000 records each), endpoints in parallel:\n", b.what)
		tw = table(w)
		fmt.Fprintf(tw, "    flow\tendpoint\trequests needed\tlimit\tleast time\n")
		for i, ts := range b.terms {
			for _, t := range ts {
				fmt.Fprintf(tw, "    %d\t%s\t%d\t%s/s\t%.1f s\n", i+1, t.Endpoint, t.Requests, trimFloat(t.Rate), t.least().Seconds())
			}
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "  requests the pass sent, by endpoint (retries included):\n")
	tw = table(w)
	for _, e := range p.Endpoints {
		fmt.Fprintf(tw, "    %s\t%s\t%d\n", e.Connection, e.Endpoint, e.Requests)
	}
	tw.Flush()
	for i, f := range p.Pass.Flows {
		fmt.Fprintf(w, "  flow %d: read %d, created %d, updated %d, paired by match %d, written back %d, unchanged %d, rejected %d; requests:",
			i+1, f.Read, f.Created, f.Updated, f.LinkedByMatch, f.WrittenBack, f.Unchanged, f.Rejected)
		for _, conn := range sortedKeys(f.Requests) {
			fmt.Fprintf(w, " %s %d", conn, f.Requests[conn].Requests)
		}
		fmt.Fprintln(w)
	}
	st := statsTotal(p.Pass.Requests)
	fmt.Fprintf(w, "  afterwards: %d contacts, %d persons (no duplicates); a pass right after wrote %d records in %v, sending:\n",
		p.Contacts, p.Persons, p.QuietWrites, p.QuietDuration.Round(time.Millisecond))
	tw = table(w)
	for _, e := range p.QuietSent {
		if !e.Shared {
			fmt.Fprintf(tw, "    %s\t%s\t%d\n", e.Connection, e.Endpoint, e.Requests)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "  throttled (429): %d, retries: %d; CPU %.1f s in %.1f s\n", st.Throttled, st.Retries, p.CPU, p.Pass.Duration.Seconds())
}

func writeFreshness(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nFRESHNESS (edit to arrival while the syncs run as serve runs them; idle polling cost)\n")
	tw := table(w)
	fmt.Fprintf(tw, "every\tdirection\tedits\tp50\tp99\tmax\tlost\tgoal (p99)\n")
	for _, f := range r.Freshness {
		goal := "<= 10 s"
		if f.Every >= time.Minute {
			goal = "<= 65 s"
		}
		for _, d := range []struct {
			name string
			ds   []time.Duration
		}{{"Dynamics -> People", f.ToPeople}, {"People -> Dynamics", f.ToDynamics}} {
			fmt.Fprintf(tw, "%v\t%s\t%d\t%.1f s\t%.1f s\t%.1f s\t%d\t%s\n", f.Every, d.name, len(d.ds),
				percentile(d.ds, 0.5).Seconds(), percentile(d.ds, 0.99).Seconds(), percentile(d.ds, 1).Seconds(), f.Lost, goal)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "  idle: requests per sync per interval (goal: at most 1 per side), and per minute for the project's syncs:\n")
	tw = table(w)
	for _, f := range r.Freshness {
		for _, conn := range sortedKeys(f.Idle) {
			perMin := f.Idle[conn] * float64(f.Syncs) * float64(time.Minute) / float64(f.Every)
			fmt.Fprintf(tw, "    every %v\t%s\t%.2f per sync per interval\t%.1f per minute\tover %d intervals:\t%s\n", f.Every, conn, f.Idle[conn], perMin, f.IdleIntervals, requestsBy(f.IdleBy[conn]))
		}
	}
	tw.Flush()
}

func writeGrowth(w io.Writer, r *Results) {
	fmt.Fprintf(w, "\nHOW COST GROWS WITH THE LINK TABLE (quiet pass of the two-way sync, fastest of 3; state size with its WAL)\n")
	tw := table(w)
	fmt.Fprintf(tw, "links\tquiet pass\tx the smallest\tstate\tbytes per link\tgoal\n")
	first := r.Growth[0]
	for _, g := range r.Growth {
		fmt.Fprintf(tw, "%d\t%v\t%.2f\t%.1f MB\t%.0f\tflat\n", g.Links, g.Quiet.Round(time.Millisecond),
			g.Quiet.Seconds()/first.Quiet.Seconds(), float64(g.Bytes)/(1<<20), float64(g.Bytes)/float64(max(g.Links, 1)))
	}
	tw.Flush()
}

// requestsBy lists requests by endpoint, "GET /people/2/persons x3, ...",
// sorted by endpoint; "none" when there are none.
func requestsBy(by map[string]int64) string {
	if len(by) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(by))
	for _, ep := range sortedKeys(by) {
		parts = append(parts, fmt.Sprintf("%s x%d", ep, by[ep]))
	}
	return strings.Join(parts, ", ")
}
