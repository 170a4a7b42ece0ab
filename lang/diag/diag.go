package diag

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a source file. Line and Column are 1-based; Column
// counts bytes, like go/token. Offset is the 0-based byte offset.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Offset int `json:"offset"`
}

// IsValid reports whether the position is set.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Range is a half-open span [Start, End) in one file.
type Range struct {
	Filename string `json:"filename"`
	Start    Pos    `json:"start"`
	End      Pos    `json:"end"`
}

// IsValid reports whether the range has a start position.
func (r Range) IsValid() bool { return r.Start.IsValid() }

// String renders the range's start as file:line:col, the form editors and CI
// systems jump to.
func (r Range) String() string {
	switch {
	case !r.IsValid() && r.Filename == "":
		return "-"
	case !r.IsValid():
		return r.Filename
	case r.Filename == "":
		return fmt.Sprintf("%d:%d", r.Start.Line, r.Start.Column)
	}
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// MarshalText renders the range compactly as FILE:LINE:COL-LINE:COL (the
// form plans store; byte offsets are left out).
func (r Range) MarshalText() ([]byte, error) {
	if !r.IsValid() {
		return []byte(r.Filename), nil
	}
	return []byte(fmt.Sprintf("%s:%d:%d-%d:%d", r.Filename, r.Start.Line, r.Start.Column, r.End.Line, r.End.Column)), nil
}

// UnmarshalText parses the form MarshalText writes.
func (r *Range) UnmarshalText(b []byte) error {
	s := string(b)
	// Parse from the right: the file name may itself contain colons.
	dash := strings.LastIndexByte(s, '-')
	if dash < 0 {
		*r = Range{Filename: s}
		return nil
	}
	var el, ec int
	if _, err := fmt.Sscanf(s[dash+1:], "%d:%d", &el, &ec); err != nil {
		*r = Range{Filename: s}
		return nil
	}
	head := s[:dash]
	c2 := strings.LastIndexByte(head, ':')
	if c2 < 0 {
		return fmt.Errorf("range %q: want FILE:LINE:COL-LINE:COL", s)
	}
	c1 := strings.LastIndexByte(head[:c2], ':')
	if c1 < 0 {
		return fmt.Errorf("range %q: want FILE:LINE:COL-LINE:COL", s)
	}
	var sl, sc int
	if _, err := fmt.Sscanf(head[c1+1:], "%d:%d", &sl, &sc); err != nil {
		return fmt.Errorf("range %q: %v", s, err)
	}
	*r = Range{Filename: head[:c1], Start: Pos{Line: sl, Column: sc}, End: Pos{Line: el, Column: ec}}
	return nil
}

// Severity says whether a diagnostic stops compilation.
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText makes severities print as words in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Related points at a secondary place that explains a diagnostic, such as
// "previous declaration here".
type Related struct {
	Message string `json:"message"`
	Subject Range  `json:"subject"`
}

// Diagnostic is one problem found in the input. Code is a stable slug that
// tests, documentation (SPEC.md) and users' tooling key on; Summary is terse,
// Detail a full sentence that may end with a suggestion.
type Diagnostic struct {
	Severity Severity  `json:"severity"`
	Code     string    `json:"code"`
	Summary  string    `json:"summary"`
	Detail   string    `json:"detail,omitempty"`
	Subject  Range     `json:"subject"`
	Related  []Related `json:"related,omitempty"`
	// Masked is set when the subject's text is a secret (a client_secret
	// written as a literal): renderers print it as * so the secret does not
	// reach a terminal or a CI log a second time.
	Masked bool `json:"masked,omitempty"`
	// Suggested is the name the detail's "Did you mean" proposes for the
	// subject (see Hint): the fix an editor offers replaces the subject's
	// name with it.
	Suggested string `json:"suggested,omitempty"`
}

// Error makes a single diagnostic usable as an error.
func (d *Diagnostic) Error() string {
	var b strings.Builder
	if d.Subject.IsValid() || d.Subject.Filename != "" {
		b.WriteString(d.Subject.String())
		b.WriteString(": ")
	}
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(": ")
		b.WriteString(d.Detail)
	}
	if d.Code != "" {
		fmt.Fprintf(&b, " [%s]", d.Code)
	}
	return b.String()
}

// Errorf builds an error-severity diagnostic.
func Errorf(rng Range, code, summary, detailFormat string, args ...any) *Diagnostic {
	return &Diagnostic{Severity: Error, Code: code, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Subject: rng, Suggested: suggested(args)}
}

// Warningf builds a warning-severity diagnostic.
func Warningf(rng Range, code, summary, detailFormat string, args ...any) *Diagnostic {
	return &Diagnostic{Severity: Warning, Code: code, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Subject: rng, Suggested: suggested(args)}
}

// Diagnostics is a list of diagnostics. Every phase of the language returns
// one next to its (possibly partial) result; callers test HasErrors.
type Diagnostics []*Diagnostic

// Append adds diagnostics and returns the extended list.
func (ds Diagnostics) Append(d ...*Diagnostic) Diagnostics { return append(ds, d...) }

// Extend appends another list.
func (ds Diagnostics) Extend(other Diagnostics) Diagnostics { return append(ds, other...) }

// HasErrors reports whether any diagnostic has error severity.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns the number of errors and warnings.
func (ds Diagnostics) Count() (errs, warnings int) {
	for _, d := range ds {
		if d.Severity == Error {
			errs++
		} else {
			warnings++
		}
	}
	return errs, warnings
}

// Sort orders diagnostics by file, position, then code, and drops exact
// duplicates (same place, code and summary), as go/scanner.ErrorList does.
func (ds Diagnostics) Sort() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Subject, ds[j].Subject
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Start.Offset != b.Start.Offset {
			return a.Start.Offset < b.Start.Offset
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return ds[i].Code < ds[j].Code
	})
	out := ds[:0]
	for i, d := range ds {
		if i > 0 {
			p := out[len(out)-1]
			if p.Subject == d.Subject && p.Code == d.Code && p.Summary == d.Summary && p.Detail == d.Detail {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// Err returns nil when there are no errors (warnings do not count), and an
// error listing every diagnostic otherwise.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return ErrorList(ds)
}

// Error joins all diagnostics, one per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.Error()
	}
	return strings.Join(lines, "\n")
}

// ErrorList is the error returned by Diagnostics.Err.
type ErrorList Diagnostics

func (e ErrorList) Error() string { return Diagnostics(e).Error() }

// AsDiagnostics extracts diagnostics from an error built by this package.
func AsDiagnostics(err error) (Diagnostics, bool) {
	var list ErrorList
	if errors.As(err, &list) {
		return Diagnostics(list), true
	}
	var d *Diagnostic
	if errors.As(err, &d) {
		return Diagnostics{d}, true
	}
	return nil, false
}
