package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/file"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// RejectKind classifies why a record was rejected.
type RejectKind string

const (
	// RejectExpression: a field, where or match expression failed on the
	// record (e.g. email() on "x").
	RejectExpression RejectKind = "expression"
	// RejectValue: a computed value does not fit the target field (type,
	// length, option or enumeration value, required on create).
	RejectValue RejectKind = "value"
	// RejectService: the target service refused the record (a record-level
	// connector error: invalid, not found, conflict).
	RejectService RejectKind = "service"
	// RejectAmbiguous: pairing found several candidates, or several source
	// records claim one target. synclang does not guess.
	RejectAmbiguous RejectKind = "ambiguous"
	// RejectForeign: the target found belongs to something this sync must
	// not write over (connector.Record.Foreign: a People customer found for
	// a lead).
	RejectForeign RejectKind = "foreign"
	// RejectUnfinished: a create for the record was started by a run that
	// did not finish; synclang cannot tell whether the target exists.
	RejectUnfinished RejectKind = "unfinished-create"
)

// RecordError is a record the engine rejected: which sync and flow, which
// record (its source key), which target field and the mapping line that
// produced the bad value, and why. Its Error reads
//
//	contacts.sync:14:3: field email (record 0e7c…): "x" is not an email address
type RecordError struct {
	Sync      string
	Flow      string
	Key       string
	TargetKey string
	Field     string
	Range     diag.Range
	Kind      RejectKind
	Err       error
}

func (e *RecordError) Error() string {
	var b strings.Builder
	if e.Range.IsValid() {
		b.WriteString(e.Range.String())
		b.WriteString(": ")
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s (record %s): ", e.Field, e.Key)
	} else {
		fmt.Fprintf(&b, "record %s: ", e.Key)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Diagnostic renders the error as a diagnostic, so the CLI prints it as
// the compiler prints its own (diag.Write shows the mapping line under it):
//
//	contacts.sync:14:3: field email (record 0e7c…): "x" is not an email address [rejected-expression]
func (e *RecordError) Diagnostic() *diag.Diagnostic {
	summary := "record " + e.Key
	if e.Field != "" {
		summary = fmt.Sprintf("field %s (record %s)", e.Field, e.Key)
	}
	return &diag.Diagnostic{Severity: diag.Error, Code: "rejected-" + string(e.Kind), Summary: summary, Detail: e.Err.Error(), Subject: e.Range}
}

// reject converts the error to the row the store keeps: the cause as the
// reason, the key, field and range in their own columns.
func (e *RecordError) reject() state.Reject {
	return state.Reject{
		Flow: e.Flow, Key: e.Key, TargetKey: e.TargetKey, Field: e.Field,
		Range: stateRange(e.Range), Kind: string(e.Kind), Reason: e.Err.Error(),
	}
}

// FromReject rebuilds the RecordError of a reject the store kept (for
// `synclang rejects`).
func FromReject(r state.Reject) *RecordError {
	return &RecordError{Sync: r.Sync, Flow: r.Flow, Key: r.Key, TargetKey: r.TargetKey, Field: r.Field,
		Range: diagRange(r.Range), Kind: RejectKind(r.Kind), Err: errors.New(r.Reason)}
}

func stateRange(r diag.Range) state.Range {
	return state.Range{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column, EndLine: r.End.Line, EndColumn: r.End.Column}
}

func diagRange(r state.Range) diag.Range {
	return diag.Range{Filename: r.File, Start: diag.Pos{Line: r.Line, Column: r.Column}, End: diag.Pos{Line: r.EndLine, Column: r.EndColumn}}
}

// exprError turns an error from evaluating x into a message and the range
// of the offending part: expr's runtime errors carry a position inside the
// expression, which is mapped into the file.
func exprError(x *plan.Expr, err error) (diag.Range, RejectKind, error) {
	var fe *file.Error
	if !errors.As(err, &fe) {
		var ve *eval.ValueError
		if errors.As(err, &ve) {
			return x.Range, RejectValue, ve.Err
		}
		return x.Range, RejectExpression, err
	}
	rng := x.Range
	off := eval.RuneToByte(x.Source, fe.From)
	if off > 0 && off < len(x.Source) && !strings.Contains(x.Source[:off], "\n") && rng.Start.IsValid() {
		rng.Start.Column += off
		rng.Start.Offset += off
	}
	msg := fe.Message
	if fe.Prev != nil && !strings.Contains(msg, fe.Prev.Error()) {
		msg += ": " + fe.Prev.Error()
	}
	return rng, RejectExpression, errors.New(msg)
}

// describe quotes a value briefly for messages shown to the user (never
// logged).
func describe(v any) string {
	if s, ok := v.(string); ok {
		if r := []rune(s); len(r) > 40 {
			s = string(r[:40]) + "…"
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// check validates a canonical value against its target field: maximum
// length, enumeration and option values.
func check(f *connector.Field, v any) error {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		if f.MaxLength > 0 {
			if n := len([]rune(x)); n > f.MaxLength {
				return fmt.Errorf("the value is %d characters long; %s allows at most %d", n, f.Name, f.MaxLength)
			}
		}
		if len(f.Enum) > 0 {
			for _, e := range f.Enum {
				if x == e {
					return nil
				}
			}
			return fmt.Errorf("%s is not one of %s", describe(x), strings.Join(f.Enum, ", "))
		}
	case int64:
		if f.Type == connector.Choice && len(f.Options) > 0 {
			var opts []string
			for _, o := range f.Options {
				if o.Value == x {
					return nil
				}
				opts = append(opts, fmt.Sprintf("%d (%s)", o.Value, o.Label))
			}
			return fmt.Errorf("%d is not one of the options of %s: %s", x, f.Name, strings.Join(opts, ", "))
		}
	}
	return nil
}
