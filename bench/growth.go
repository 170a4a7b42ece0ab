package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// How cost grows with the size of a project's link table (issue 12, goal
// 6): the state's bytes per link, and the time of a pass with nothing to
// do, at each size of --growth. The bench loads a small project for real
// (so the cursors are the connectors' own), then adds links to its
// two-way sync's table through the store, shaped as the engine writes
// them (a hash per mapped field on each side), and times quiet passes.
// A quiet pass reads the changes since the cursor and nothing else, so
// its time should not depend on the table's size.

// GrowthResult is one size's figures.
type GrowthResult struct {
	Links int
	// Quiet is the fastest of three quiet passes of the two-way sync.
	Quiet time.Duration
	// Bytes is the state database's size (with its WAL) after the links
	// were added.
	Bytes int64
}

func measureGrowth(ctx context.Context, o Options, p *plan.Plan, sizes []int) ([]*GrowthResult, error) {
	s, err := twoWaySync(p)
	if err != nil {
		return nil, err
	}
	const loaded = 1000
	progress(o, "growth: loading %d contacts, then growing the link table to %v links", loaded, sizes)
	svc, err := startInProcess(serviceOptions{Contacts: loaded, Limits: o.Limits, Scale: o.Scale})
	if err != nil {
		return nil, err
	}
	defer svc.close()
	dir := o.Dir + "/growth"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pr, err := openProject(ctx, p, svc, o.Scale, dir, o.Logger)
	if err != nil {
		return nil, err
	}
	defer pr.close()
	if _, _, err := pr.run(ctx, "", o.Engine); err != nil {
		return nil, fmt.Errorf("growth: initial load: %w", err)
	}
	hashes := func(n int, names []string) state.Hashes {
		h := state.Hashes{}
		for i, f := range names {
			h[f] = uint64(n)*0x9e3779b97f4a7c15 + uint64(i)
		}
		return h
	}
	var leftNames, rightNames []string
	for _, f := range s.Flows {
		for _, m := range f.Maps {
			if f.To == plan.Right {
				rightNames = append(rightNames, m.Target)
			} else {
				leftNames = append(leftNames, m.Target)
			}
		}
	}
	have, err := pr.store.LinkCount(ctx, s.Name)
	if err != nil {
		return nil, err
	}
	var out []*GrowthResult
	for _, size := range sizes {
		if size > have {
			l, err := pr.store.Acquire(ctx, s.Name, time.Hour)
			if err != nil {
				return out, err
			}
			for have < size {
				n := min(10_000, size-have)
				ch := &state.Changes{Sync: s.Name}
				for i := range n {
					k := have + i
					ch.PutLinks = append(ch.PutLinks, state.Link{
						Left:  fmt.Sprintf("%08x-0000-4000-8000-%012x", k, k),
						Right: fmt.Sprint(100_000_000 + k), LeftHashes: hashes(k, leftNames), RightHashes: hashes(k, rightNames),
						SyncedAt: time.Now()})
				}
				if err := pr.store.Apply(ctx, l, ch); err != nil {
					return out, err
				}
				have += n
			}
			if err := pr.store.Release(ctx, l); err != nil {
				return out, err
			}
		}
		time.Sleep(time.Duration(float64(2*time.Second) / o.Scale))
		r := &GrowthResult{Links: have}
		for range 3 {
			rep, _, err := pr.run(ctx, s.Name, o.Engine)
			if err != nil {
				return out, fmt.Errorf("growth: quiet pass at %d links: %w", have, err)
			}
			if d := rep.Syncs[0].Duration; r.Quiet == 0 || d < r.Quiet {
				r.Quiet = d
			}
		}
		r.Bytes = fileSize(filepath.Join(dir, "state.db")) + fileSize(filepath.Join(dir, "state.db-wal"))
		progress(o, "  %d links: quiet pass %v, state %.1f MB", have, r.Quiet.Round(time.Millisecond), float64(r.Bytes)/(1<<20))
		out = append(out, r)
	}
	return out, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
