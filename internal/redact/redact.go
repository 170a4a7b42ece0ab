package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Mask is what a secret is replaced by.
const Mask = "[redacted]"

// MinLen is the shortest value Register accepts. A shorter "secret" would
// mask ordinary words and numbers everywhere (a client secret is 40
// characters, an API key 64, a token hundreds); such a value is not a
// credential worth the name and is not registered.
const MinLen = 6

// Registry is a set of secret values. The zero value is empty and ready;
// a Registry is safe for concurrent use. A nil *Registry redacts nothing.
type Registry struct {
	mu sync.RWMutex
	// kept are the values registered with Register: they stay for the
	// life of the registry.
	kept map[string]bool
	// recent are the last [MaxRecent] values registered with
	// RegisterExpiring, oldest first.
	recent []string
	r      *strings.Replacer // nil until the first secret, rebuilt on change
}

// MaxRecent is how many expiring values (tokens) a Registry keeps. A
// connector registers each new access token; `serve` obtains one an hour
// for as long as it runs, so the oldest are forgotten. A token that many
// generations old has long expired.
const MaxRecent = 64

// Register adds secret values that stay registered (the values of
// settings). Empty values and values shorter than [MinLen] are ignored.
func (g *Registry) Register(values ...string) {
	g.add(false, values)
}

// RegisterExpiring adds values that expire (OAuth tokens): the registry
// keeps the last [MaxRecent] of them, so a long-running process that
// obtains a token an hour does not grow without bound.
func (g *Registry) RegisterExpiring(values ...string) {
	g.add(true, values)
}

func (g *Registry) add(expiring bool, values []string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < MinLen || g.kept[v] || slices.Contains(g.recent, v) {
			continue
		}
		changed = true
		switch {
		case !expiring:
			if g.kept == nil {
				g.kept = map[string]bool{}
			}
			g.kept[v] = true
		case len(g.recent) == MaxRecent:
			g.recent = append(g.recent[1:], v)
		default:
			g.recent = append(g.recent, v)
		}
	}
	if changed {
		g.rebuild()
	}
}

// rebuild makes the replacer of every registered value's forms. Longest
// first: where one secret contains another, the longer one is masked
// whole (strings.Replacer tries the old strings in order).
func (g *Registry) rebuild() {
	set := map[string]bool{}
	for v := range g.kept {
		for _, f := range forms(v) {
			set[f] = true
		}
	}
	for _, v := range g.recent {
		for _, f := range forms(v) {
			set[f] = true
		}
	}
	all := make([]string, 0, len(set))
	for f := range set {
		all = append(all, f)
	}
	slices.SortFunc(all, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(all))
	for _, f := range all {
		pairs = append(pairs, f, Mask)
	}
	g.r = strings.NewReplacer(pairs...)
}

// forms are v and the encodings in which a message may quote it: a form
// body or query string (client_secret=...), a URL path, a JSON string (a
// JSON log line, an echoed JSON body) and a Go %q.
func forms(v string) []string {
	out := []string{v, url.QueryEscape(v), url.PathEscape(v)}
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		s := strings.TrimSpace(b.String())
		out = append(out, s[1:len(s)-1])
	}
	for _, q := range []string{strconv.Quote(v), strconv.QuoteToASCII(v)} {
		out = append(out, q[1:len(q)-1])
	}
	var uniq []string
	for _, f := range out {
		if len(f) >= MinLen && !slices.Contains(uniq, f) {
			uniq = append(uniq, f)
		}
	}
	return uniq
}

// RegisterURL registers the password of a URL's userinfo (a URL is never
// a secret by itself, but https://user:pass@host carries one).
func (g *Registry) RegisterURL(raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return
	}
	if p, ok := u.User.Password(); ok {
		g.Register(p)
	}
	g.Register(u.User.String())
}

// String returns s with every registered secret replaced by [Mask].
func (g *Registry) String(s string) string {
	if g == nil {
		return s
	}
	g.mu.RLock()
	r := g.r
	g.mu.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// Writer returns a writer that redacts each Write to w. Every call is
// redacted on its own: a secret split over two calls is not recognised.
// The fmt and log/slog functions write a formatted message in one call,
// which is how synclang writes.
func (g *Registry) Writer(w io.Writer) io.Writer {
	if g == nil {
		return w
	}
	if rw, ok := w.(*writer); ok && rw.g == g {
		return w
	}
	return &writer{g: g, w: w}
}

type writer struct {
	g *Registry
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	s := string(p)
	out := w.g.String(s)
	if out == s {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Handler returns a slog handler that redacts the message and every
// attribute before h sees them: string values, errors and Stringers
// (rendered to text first), inside groups too, are masked and then
// escaped ([Escape]: a log line quotes what services wrote, and is read on
// terminals). Values of other kinds (numbers, times, durations) cannot
// hold a secret and pass unchanged.
func (g *Registry) Handler(h slog.Handler) slog.Handler {
	return &handler{g: g, h: h}
}

type handler struct {
	g *Registry
	h slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &handler{g: h.g, h: h.h.WithAttrs(red)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{g: h.g, h: h.h.WithGroup(name)}
}

func (h *handler) text(s string) string { return Escape(h.g.String(s)) }

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.text(v.String()))
	case slog.KindGroup:
		gs := v.Group()
		red := make([]any, len(gs))
		for i, ga := range gs {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.text(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.text(x.String()))
		case []string:
			red := make([]string, len(x))
			for i, s := range x {
				red[i] = h.text(s)
			}
			return slog.Any(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Escape makes s safe to print on a terminal: control characters (C0
// except tab and newline, DEL, C1), Unicode bidirectional controls and
// the bytes of invalid UTF-8 become Go escapes (\x1b, \r, \u202e, \xff).
// Text a remote service wrote goes through it before synclang prints it;
// the state keeps the raw text.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unsafeRune(r) {
			return true
		}
	}
	return false
}

// unsafeRune reports the runes Escape rewrites.
func unsafeRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		// ALM, LRM, RLM, LRE..RLO, LRI..PDI: they reorder what is shown.
		return true
	}
	return false
}

// Line is Escape for text printed on one line: a newline is escaped too.
func Line(s string) string {
	return strings.ReplaceAll(Escape(s), "\n", `\n`)
}
