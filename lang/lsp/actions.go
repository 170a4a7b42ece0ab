package lsp

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/diag"
)

func init() {
	handlers["textDocument/codeAction"] = (*server).codeAction
	featureCapabilities["codeActionProvider"] = map[string]any{"codeActionKinds": []string{"quickfix"}}
}

type codeAction struct {
	Title       string         `json:"title"`
	Kind        string         `json:"kind"`
	Diagnostics []Diagnostic   `json:"diagnostics,omitempty"`
	IsPreferred bool           `json:"isPreferred,omitempty"`
	Edit        *workspaceEdit `json:"edit,omitempty"`
}

type workspaceEdit struct {
	Changes map[string][]TextEdit `json:"changes"`
}

// codeAction offers the fixes the checker suggests for the diagnostics
// that overlap the range: the name a did-you-mean proposes, the arrow the
// sync's direction allows, secret("VAR") for a secret written as a literal
// or read with env(). The project is checked afresh, so the fixes fit the
// text as it is now, whatever diagnostics the client sends back.
func (s *server) codeAction(_ context.Context, params []byte) (any, error) {
	var p struct {
		TextDocument textDocumentIdentifier `json:"textDocument"`
		Range        Range                  `json:"range"`
	}
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	v, path, err := s.viewOf(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	t := v.texts[path]
	start, end, err := t.span(p.Range)
	if err != nil {
		return nil, invalidParams("%v", err)
	}
	inputs := make([]lang.Input, 0, len(v.order))
	for _, name := range v.order {
		inputs = append(inputs, lang.Input{Name: name, Src: []byte(v.texts[name].src)})
	}
	_, diags := lang.Compile(inputs, v.opts)
	actions := []codeAction{}
	for _, d := range diags {
		if d.Subject.Filename != path || d.Subject.End.Offset < start || d.Subject.Start.Offset > end {
			continue
		}
		title, newText, ok := v.fix(d, path)
		if !ok {
			continue
		}
		ld := toLSP(d, t, v.texts)
		actions = append(actions, codeAction{Title: title, Kind: "quickfix", Diagnostics: []Diagnostic{ld}, IsPreferred: true,
			Edit: &workspaceEdit{Changes: map[string][]TextEdit{pathToURI(path): {{Range: ld.Range, NewText: newText}}}}})
	}
	return actions, nil
}

// fix is the replacement of a diagnostic's subject that the checker
// suggests, if any.
func (v *view) fix(d *diag.Diagnostic, path string) (title, newText string, ok bool) {
	src := v.texts[path].src
	start, end := d.Subject.Start.Offset, d.Subject.End.Offset
	if start < 0 || end > len(src) || end < start {
		return "", "", false
	}
	subject := src[start:end]
	switch d.Code {
	case "direction-mismatch":
		if arrow := v.syncArrow(path, start); arrow != "" && arrow != "<->" && reArrow.MatchString(subject) {
			return "Use " + arrow, arrow, true
		}
		return "", "", false
	case "secret-literal", "secret-env":
		name := secretVar(subject)
		if name == "" {
			name = envName(v.connAt(path, start), settingAt(src, start))
		}
		text := "secret(" + strconv.Quote(name) + ")"
		return "Read it with " + text, text, true
	}
	suggested := d.Suggested
	if suggested == "" {
		return "", "", false
	}
	switch {
	case strings.HasPrefix(subject, `"`):
		newText = strconv.Quote(suggested)
	case strings.HasPrefix(subject, "custom"):
		newText = fieldText(suggested)
	default:
		newText = suggested
	}
	return fmt.Sprintf("Change to %s", newText), newText, true
}

// secretVar is VAR in env("VAR").
func secretVar(subject string) string {
	inner, ok := strings.CutPrefix(subject, "env(")
	if !ok {
		return ""
	}
	s, err := strconv.Unquote(strings.TrimSuffix(inner, ")"))
	if err != nil || !isIdentifier(s) {
		return ""
	}
	return s
}

// syncArrow is the pair arrow of the sync around offset off.
func (v *view) syncArrow(path string, off int) string {
	for _, d := range v.files[path].AST.Decls {
		if sy, ok := d.(*ast.Sync); ok && within(sy, off) && sy.Pair != nil && sy.Pair.Arrow != nil {
			return sy.Pair.Arrow.Op
		}
	}
	return ""
}

// connAt is the name of the connection block around offset off.
func (v *view) connAt(path string, off int) string {
	for _, d := range v.files[path].AST.Decls {
		if c, ok := d.(*ast.Connection); ok && within(c, off) {
			return identName(c.Name)
		}
	}
	return "synclang"
}

// settingAt is the setting name on the line of offset off.
func settingAt(src string, off int) string {
	lineStart := strings.LastIndexByte(src[:off], '\n') + 1
	if m := reSetName.FindStringSubmatch(src[lineStart:off]); m != nil {
		return m[1]
	}
	return "secret"
}
