package lsp

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/diag"
)

// diagnoseLoop checks the projects changes made dirty, one at a time, each
// after the debounce wait, and publishes their diagnostics. One goroutine
// does all checking, so results are published in the order of the changes
// they reflect.
func (s *server) diagnoseLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		if s.opts.Debounce > 0 {
			t := time.NewTimer(s.opts.Debounce)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		s.mu.Lock()
		dirs := make([]string, 0, len(s.dirty))
		for dir := range s.dirty {
			dirs = append(dirs, dir)
		}
		clear(s.dirty)
		s.mu.Unlock()
		sort.Strings(dirs)
		for _, dir := range dirs {
			if ctx.Err() != nil {
				return
			}
			s.publishProject(ctx, dir)
		}
		s.mu.Lock()
		projects := maps.Clone(s.published)
		s.mu.Unlock()
		s.cache.forget(func(path string) bool { return projects[filepath.Dir(path)][path] })
		s.checks.forget(func(dir string) bool { _, ok := projects[dir]; return ok })
	}
}

// publishProject checks the project in dir and publishes the diagnostics
// of each of its files, an empty list for a file that has none (which
// clears what an earlier check said about it).
func (s *server) publishProject(ctx context.Context, dir string) {
	inputs, versions := s.snapshot(dir)
	byFile := s.diagnose(inputs, s.checks.options(dir, lang.Options{Registry: s.opts.Registry}))
	s.mu.Lock()
	prev := s.published[dir]
	now := map[string]bool{}
	if len(inputs) > 0 || s.hasOpenDocsLocked(dir) {
		for _, in := range inputs {
			now[in.Name] = true
		}
		s.published[dir] = now
	} else {
		delete(s.published, dir)
	}
	s.mu.Unlock()
	names := make([]string, 0, len(now)+len(prev))
	for name := range now {
		names = append(names, name)
	}
	for name := range prev {
		if !now[name] {
			names = append(names, name)
		}
	}
	// Open buffers first: the file being edited is the one waited for.
	sort.Slice(names, func(i, j int) bool {
		_, oi := versions[names[i]]
		_, oj := versions[names[j]]
		if oi != oj {
			return oi
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		p := PublishDiagnosticsParams{URI: pathToURI(name), Diagnostics: byFile[name]}
		if p.Diagnostics == nil {
			p.Diagnostics = []Diagnostic{}
		}
		if v, open := versions[name]; open {
			p.Version = &v
		}
		if err := s.notify(ctx, "textDocument/publishDiagnostics", p); err != nil {
			fmt.Fprintf(s.opts.Log, "synclang lsp: publishing diagnostics of %s: %v\n", name, err)
			return
		}
	}
}

func (s *server) hasOpenDocsLocked(dir string) bool {
	for path := range s.docs {
		if strings.HasPrefix(path, dir+string('/')) {
			return true
		}
	}
	return false
}

// diagnose checks the project as `synclang check` does (lang.CheckParsed,
// here with the project's check cache) and converts its diagnostics to LSP
// ones, grouped by file.
func (s *server) diagnose(inputs []lang.Input, opts check.Options) map[string][]Diagnostic {
	files, diags := s.cache.parse(inputs)
	_, ds := check.Check(files, opts)
	diags = diags.Extend(ds).Sort()
	texts := map[string]*text{}
	for _, in := range inputs {
		texts[in.Name] = newText(string(in.Src), s.utf8)
	}
	out := map[string][]Diagnostic{}
	for _, d := range diags {
		t, ok := texts[d.Subject.Filename]
		if !ok {
			continue // not a .sync file of this project; cannot happen today
		}
		out[d.Subject.Filename] = append(out[d.Subject.Filename], toLSP(d, t, texts))
	}
	return out
}

// toLSP converts a diagnostic. The message is the summary, and the detail
// on the lines below it, so an editor shows what `synclang check` prints.
func toLSP(d *diag.Diagnostic, t *text, texts map[string]*text) Diagnostic {
	ld := Diagnostic{Range: t.rangeOf(d.Subject), Severity: 1, Code: d.Code, Source: "synclang", Message: d.Summary}
	if d.Masked {
		ld.Data = &DiagnosticData{Masked: true}
	}
	if d.Severity == diag.Warning {
		ld.Severity = 2
	}
	if d.Detail != "" {
		ld.Message += "\n" + d.Detail
	}
	for _, r := range d.Related {
		rt, ok := texts[r.Subject.Filename]
		if !ok {
			continue
		}
		ld.RelatedInformation = append(ld.RelatedInformation, RelatedInformation{
			Location: Location{URI: pathToURI(r.Subject.Filename), Range: rt.rangeOf(r.Subject)},
			Message:  r.Message,
		})
	}
	return ld
}
