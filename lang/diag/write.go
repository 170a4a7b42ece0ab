package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// Write renders diagnostics for people:
//
//	contacts.sync:14:3: error: Unknown field [unknown-field]
//	  Entity "contact" has no field "emailadress1". Did you mean "emailaddress1"?
//	   |
//	14 |   emailadress1 <-> email
//	   |   ^^^^^^^^^^^^
//
// sources maps file names to their text; a diagnostic whose file is missing
// is printed without a snippet.
func Write(w io.Writer, ds Diagnostics, sources map[string]*Source, opts WriteOptions) error {
	paint := func(code, s string) string {
		if !opts.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for _, d := range ds {
		sev := paint(ansiBold+ansiRed, "error")
		if d.Severity == Warning {
			sev = paint(ansiBold+ansiYellow, "warning")
		}
		fmt.Fprintf(&b, "%s: %s: %s", paint(ansiBold, d.Subject.String()), sev, paint(ansiBold, d.Summary))
		if d.Code != "" {
			fmt.Fprintf(&b, " [%s]", d.Code)
		}
		b.WriteByte('\n')
		if d.Detail != "" {
			for _, line := range strings.Split(d.Detail, "\n") {
				b.WriteString("  " + line + "\n")
			}
		}
		writeSnippet(&b, d.Subject, sources, paint)
		for _, r := range d.Related {
			fmt.Fprintf(&b, "  %s: %s\n", r.Subject.String(), r.Message)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSnippet(b *strings.Builder, rng Range, sources map[string]*Source, paint func(string, string) string) {
	src := sources[rng.Filename]
	if src == nil || !rng.IsValid() {
		return
	}
	line := src.Line(rng.Start.Line)
	num := strconv.Itoa(rng.Start.Line)
	pad := strings.Repeat(" ", len(num))
	// Underline from the start column to the end of the range on this line
	// (at least one caret). Tabs are kept so the carets line up.
	startCol := rng.Start.Column - 1
	if startCol > len(line) {
		startCol = len(line)
	}
	width := 1
	if rng.End.Line == rng.Start.Line && rng.End.Column > rng.Start.Column {
		width = rng.End.Column - rng.Start.Column
	} else if rng.End.Line > rng.Start.Line {
		width = len(line) - startCol
	}
	if width < 1 {
		width = 1
	}
	var lead strings.Builder
	for _, c := range line[:startCol] {
		if c == '\t' {
			lead.WriteByte('\t')
		} else {
			lead.WriteByte(' ')
		}
	}
	fmt.Fprintf(b, "%s %s\n", pad, paint(ansiBlue, "|"))
	fmt.Fprintf(b, "%s %s %s\n", paint(ansiBlue, num), paint(ansiBlue, "|"), line)
	fmt.Fprintf(b, "%s %s %s%s\n", pad, paint(ansiBlue, "|"), lead.String(), paint(ansiBold+ansiRed, strings.Repeat("^", width)))
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
}

// JSONDiagnostic is one diagnostic in a JSONReport.
type JSONDiagnostic struct {
	Severity Severity      `json:"severity"`
	Code     string        `json:"code"`
	Summary  string        `json:"summary"`
	Detail   string        `json:"detail,omitempty"`
	Range    JSONRange     `json:"range"`
	Related  []JSONRelated `json:"related,omitempty"`
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
	rep := JSONReport{Version: JSONVersion, Errors: errs, Warnings: warns, Diagnostics: []JSONDiagnostic{}}
	for _, d := range ds {
		jd := JSONDiagnostic{Severity: d.Severity, Code: d.Code, Summary: d.Summary, Detail: d.Detail, Range: jsonRange(d.Subject)}
		for _, r := range d.Related {
			jd.Related = append(jd.Related, JSONRelated{Message: r.Message, Range: jsonRange(r.Subject)})
		}
		rep.Diagnostics = append(rep.Diagnostics, jd)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteGitHub prints GitHub Actions workflow commands so diagnostics show up
// as annotations on the pull request:
//
//	::error file=contacts.sync,line=14,col=3,endLine=14,endColumn=15,title=unknown-field::Unknown field: …
func WriteGitHub(w io.Writer, ds Diagnostics) error {
	var b strings.Builder
	for _, d := range ds {
		kind := "error"
		if d.Severity == Warning {
			kind = "warning"
		}
		props := []string{}
		if d.Subject.Filename != "" {
			props = append(props, "file="+ghProp(d.Subject.Filename))
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
			props = append(props, "title="+ghProp(d.Code))
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		fmt.Fprintf(&b, "::%s %s::%s\n", kind, strings.Join(props, ","), ghData(msg))
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
