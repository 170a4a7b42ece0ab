package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteOptions controls the human-readable renderer.
type WriteOptions struct {
	// Color adds ANSI colours. Callers enable it only on a terminal and when
	// NO_COLOR is unset.
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
)

// MaxWritten is how many diagnostics a renderer prints; the rest are
// counted in one closing line (text), one notice (GitHub) or the "omitted"
// field (JSON). A hostile file can produce a diagnostic per line, and a
// log of millions of them helps nobody.
const MaxWritten = 100

// maxText is how many characters of a summary, a detail line or a related
// message are printed; maxSnippet how many columns of a source line. Both
// keep a huge identifier or a 180 KB line from being echoed whole.
const (
	maxText    = 1000
	maxSnippet = 160
)

// Write renders diagnostics for people:
//
//	contacts.sync:14:3: error: Unknown field [unknown-field]
//	  Entity "contact" has no field "emailadress1". Did you mean "emailaddress1"?
//	   |
//	14 |   emailadress1 <-> email
//	   |   ^^^^^^^^^^^^
//
// sources maps file names to their text; a diagnostic whose file is missing
// is printed without a snippet. Every text is made printable (control
// characters escaped, see Printable) and clipped, a masked subject is
// printed as *, and at most MaxWritten diagnostics are printed.
func Write(w io.Writer, ds Diagnostics, sources map[string]*Source, opts WriteOptions) error {
	paint := func(code, s string) string {
		if !opts.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	shown, rest := limit(ds)
	for _, d := range shown {
		sev := paint(ansiBold+ansiRed, "error")
		if d.Severity == Warning {
			sev = paint(ansiBold+ansiYellow, "warning")
		}
		fmt.Fprintf(&b, "%s: %s: %s", paint(ansiBold, text(d.Subject.String())), sev, paint(ansiBold, text(d.Summary)))
		if d.Code != "" {
			fmt.Fprintf(&b, " [%s]", text(d.Code))
		}
		b.WriteByte('\n')
		if d.Detail != "" {
			for _, line := range strings.Split(d.Detail, "\n") {
				b.WriteString("  " + text(line) + "\n")
			}
		}
		writeSnippet(&b, d, sources, paint)
		for _, r := range d.Related {
			fmt.Fprintf(&b, "  %s: %s\n", text(r.Subject.String()), text(r.Message))
		}
	}
	if rest > 0 {
		fmt.Fprintf(&b, "... and %s more not shown (synclang prints the first %d)\n", Thousands(rest), MaxWritten)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// limit splits off the diagnostics beyond MaxWritten.
func limit(ds Diagnostics) (Diagnostics, int) {
	if len(ds) <= MaxWritten {
		return ds, 0
	}
	return ds[:MaxWritten], len(ds) - MaxWritten
}

// text makes s printable and clips it to maxText characters.
func text(s string) string { return clip(Printable(s), maxText) }

// clip cuts s after n characters, saying how much was left out.
func clip(s string, n int) string {
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if i >= len(s) {
		return s
	}
	return fmt.Sprintf("%s... (%d more bytes)", s[:i], len(s)-i)
}

// Printable returns s with every character that could move the cursor,
// change colours or reorder text on a terminal escaped in Go syntax
// (\x1b, \u202e): C0 and C1 control characters (tab and newline
// included), DEL, Unicode line separators and bidirectional controls
// (the "Trojan Source" characters), and bytes that are not UTF-8.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(escapeRune(r, s[i:i+size]))
		i += size
	}
	return b.String()
}

// escapeRune returns the printable form of one decoded character (raw is its
// bytes).
func escapeRune(r rune, raw string) string {
	switch {
	case r == utf8.RuneError && len(raw) == 1:
		return fmt.Sprintf(`\x%02x`, raw[0])
	case r == '\t':
		return `\t`
	case r == '\n':
		return `\n`
	case r == '\r':
		return `\r`
	case r < 0x80 && unsafeRune(r):
		return fmt.Sprintf(`\x%02x`, r)
	case unsafeRune(r):
		return fmt.Sprintf(`\u%04x`, r)
	}
	return raw
}

// unsafeRune reports characters Printable escapes.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c, // LRM, RLM, ALM
		r >= 0x202a && r <= 0x202e, // LRE ... RLO
		r >= 0x2066 && r <= 0x2069, // LRI ... PDI
		r == 0x2028, r == 0x2029,   // line and paragraph separators
		r == 0xfeff: // zero-width no-break space (BOM)
		return true
	}
	return false
}

// cell is one character of a snippet line as printed: its byte offset in
// the line and its printed form.
type cell struct {
	off int
	s   string
}

// tabWidth is how many spaces a tab in a snippet line prints as (so the
// carets line up without printing a control character).
const tabWidth = 4

// cells splits a line into printed characters; bytes in [maskFrom, maskTo)
// print as *.
func cells(line string, maskFrom, maskTo int) []cell {
	var out []cell
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		c := cell{off: i, s: escapeRune(r, line[i:i+size])}
		switch {
		case i >= maskFrom && i < maskTo:
			c.s = "*"
		case r == '\t':
			c.s = strings.Repeat(" ", tabWidth)
		}
		out = append(out, c)
		i += size
	}
	return out
}

func writeSnippet(b *strings.Builder, d *Diagnostic, sources map[string]*Source, paint func(string, string) string) {
	rng := d.Subject
	src := sources[rng.Filename]
	if src == nil || !rng.IsValid() {
		return
	}
	line := src.Line(rng.Start.Line)
	num := strconv.Itoa(rng.Start.Line)
	pad := strings.Repeat(" ", len(num))
	// Underline from the start column to the end of the range on this line
	// (at least one caret).
	start := min(max(rng.Start.Column-1, 0), len(line))
	end := start + 1
	if rng.End.Line == rng.Start.Line && rng.End.Column > rng.Start.Column {
		end = rng.End.Column - 1
	} else if rng.End.Line > rng.Start.Line {
		end = len(line)
	}
	maskFrom, maskTo := len(line), len(line)
	if d.Masked {
		maskFrom, maskTo = start, end
	}
	cs := cells(line, maskFrom, maskTo)
	// Show a window of the line around the start column when it is long.
	first := 0
	for first < len(cs) && cs[first].off < start {
		first++
	}
	from := max(first-maxSnippet/4, 0)
	if len(cs)-from < maxSnippet {
		from = max(len(cs)-maxSnippet, 0)
	}
	to := min(from+maxSnippet, len(cs))
	var shown, lead, carets strings.Builder
	if from > 0 {
		shown.WriteString("...")
		lead.WriteString("   ")
	}
	for _, c := range cs[from:to] {
		shown.WriteString(c.s)
		switch {
		case c.off < start:
			lead.WriteString(strings.Repeat(" ", utf8.RuneCountInString(c.s)))
		case c.off < end:
			carets.WriteString(strings.Repeat("^", utf8.RuneCountInString(c.s)))
		}
	}
	if to < len(cs) {
		shown.WriteString("...")
	}
	if carets.Len() == 0 {
		carets.WriteString("^")
	}
	fmt.Fprintf(b, "%s %s\n", pad, paint(ansiBlue, "|"))
	fmt.Fprintf(b, "%s %s %s\n", paint(ansiBlue, num), paint(ansiBlue, "|"), shown.String())
	fmt.Fprintf(b, "%s %s %s%s\n", pad, paint(ansiBlue, "|"), lead.String(), paint(ansiBold+ansiRed, carets.String()))
}

// JSONVersion is the version of the JSON diagnostics document. It changes
// only when a field is removed or changes meaning.
const JSONVersion = 1

// JSONReport is the document `synclang check --format json` prints
// (documented in SPEC.md).
type JSONReport struct {
	Version     int              `json:"version"`
	Errors      int              `json:"errors"`
	Warnings    int              `json:"warnings"`
	Diagnostics []JSONDiagnostic `json:"diagnostics"`
	// Omitted counts the diagnostics left out after the first MaxWritten
	// (Errors and Warnings count them all).
	Omitted int `json:"omitted,omitempty"`
}

// JSONDiagnostic is one diagnostic in a JSONReport.
type JSONDiagnostic struct {
	Severity Severity      `json:"severity"`
	Code     string        `json:"code"`
	Summary  string        `json:"summary"`
	Detail   string        `json:"detail,omitempty"`
	Range    JSONRange     `json:"range"`
	Related  []JSONRelated `json:"related,omitempty"`
	// Suggested is the name the detail's "Did you mean" proposes (see
	// Hint), for tools that offer the fix.
	Suggested string `json:"suggested,omitempty"`
}

// JSONRange is a range with structured positions (lines and columns
// 1-based, columns and offsets in bytes).
type JSONRange struct {
	File  string `json:"file"`
	Start Pos    `json:"start"`
	End   Pos    `json:"end"`
}

// JSONRelated is a secondary place of a JSONDiagnostic.
type JSONRelated struct {
	Message string    `json:"message"`
	Range   JSONRange `json:"range"`
}

func jsonRange(r Range) JSONRange { return JSONRange{File: r.Filename, Start: r.Start, End: r.End} }

// WriteJSON prints the diagnostics as one JSON document.
func WriteJSON(w io.Writer, ds Diagnostics) error {
	errs, warns := ds.Count()
	shown, rest := limit(ds)
	rep := JSONReport{Version: JSONVersion, Errors: errs, Warnings: warns, Diagnostics: []JSONDiagnostic{}, Omitted: rest}
	for _, d := range shown {
		jd := JSONDiagnostic{Severity: d.Severity, Code: d.Code, Summary: clip(d.Summary, maxText), Detail: clip(d.Detail, maxText), Range: jsonRange(d.Subject),
			Suggested: clip(d.Suggested, maxText)}
		for _, r := range d.Related {
			jd.Related = append(jd.Related, JSONRelated{Message: clip(r.Message, maxText), Range: jsonRange(r.Subject)})
		}
		rep.Diagnostics = append(rep.Diagnostics, jd)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<->" as written, not "\u003c-\u003e" (one JSON style, issue 13)
	return enc.Encode(rep)
}

// WriteGitHub prints GitHub Actions workflow commands so diagnostics show up
// as annotations on the pull request:
//
//	::error file=contacts.sync,line=14,col=3,endLine=14,endColumn=15,title=unknown-field::Unknown field: …
func WriteGitHub(w io.Writer, ds Diagnostics) error {
	var b strings.Builder
	shown, rest := limit(ds)
	for _, d := range shown {
		kind := "error"
		if d.Severity == Warning {
			kind = "warning"
		}
		props := []string{}
		if d.Subject.Filename != "" {
			props = append(props, "file="+ghProp(text(d.Subject.Filename)))
		}
		if d.Subject.IsValid() {
			props = append(props,
				"line="+strconv.Itoa(d.Subject.Start.Line),
				"col="+strconv.Itoa(d.Subject.Start.Column))
			if d.Subject.End.IsValid() {
				props = append(props,
					"endLine="+strconv.Itoa(d.Subject.End.Line),
					"endColumn="+strconv.Itoa(d.Subject.End.Column))
			}
		}
		if d.Code != "" {
			props = append(props, "title="+ghProp(text(d.Code)))
		}
		msg := text(d.Summary)
		if d.Detail != "" {
			lines := strings.Split(d.Detail, "\n")
			for i, l := range lines {
				lines[i] = text(l)
			}
			msg += ": " + strings.Join(lines, "\n")
		}
		fmt.Fprintf(&b, "::%s %s::%s\n", kind, strings.Join(props, ","), ghData(msg))
	}
	if rest > 0 {
		fmt.Fprintf(&b, "::notice::%d more diagnostics not shown (synclang prints the first %d)\n", rest, MaxWritten)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Escaping rules of GitHub workflow commands (actions/toolkit, command.ts).
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Thousands prints n with comma thousands separators ("39,900"), as every
// count synclang prints.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
