package lsp

import (
	"context"
	"fmt"
	"strings"

	"go.lsp.dev/jsonrpc2"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/format"
)

func init() {
	handlers["textDocument/hover"] = (*server).hover
	handlers["textDocument/formatting"] = (*server).formatting
	featureCapabilities["hoverProvider"] = true
	featureCapabilities["documentFormattingProvider"] = true
}

type hoverResult struct {
	Contents markup `json:"contents"`
	Range    Range  `json:"range"`
}

type markup struct {
	Kind  string `json:"kind"` // markdown
	Value string `json:"value"`
}

func (s *server) hover(_ context.Context, params []byte) (any, error) {
	v, path, off, err := s.positionParams(params)
	if err != nil {
		return nil, err
	}
	t := v.at(path, off)
	var text string
	switch t.kind {
	case tConn:
		text = connDoc(t.conn, v.texts[t.conn.path].src)
	case tKind:
		if t.kindSpec != nil {
			text = fmt.Sprintf("**%s** (connection kind)\n\n%s", t.kindSpec.Name, t.kindSpec.Doc)
		}
	case tSetting:
		if t.setting != nil {
			text = settingDoc(t.setting)
		}
	case tEntity:
		if t.side.entity != nil {
			text = entityDoc(t.side)
		}
	case tField:
		text = fieldDoc(t)
	case tFunc:
		text = fmt.Sprintf("```\n%s\n```\n\n%s", t.fn.Signature, t.fn.Doc)
	}
	if text == "" {
		return json0null, nil
	}
	tx := v.texts[path]
	return hoverResult{Contents: markup{Kind: "markdown", Value: text},
		Range: Range{Start: tx.position(t.start), End: tx.position(t.end)}}, nil
}

// json0null answers "nothing here" (a JSON null result).
var json0null = rawNull{}

type rawNull struct{}

func (rawNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// connDoc describes a connection: its kind, its settings as written (a
// secret is only ever a secret("VAR") there) and its entities.
func connDoc(cd *connDecl, src string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**connection %s**", cd.name)
	if cd.kind == nil {
		return b.String()
	}
	fmt.Fprintf(&b, " (%s)\n\n%s\n", cd.kind.Name, cd.kind.Doc)
	var lines []string
	for _, item := range cd.node.Items {
		if st, ok := item.(*ast.Setting); ok {
			start, end := spanOf(st)
			lines = append(lines, src[start:end])
		}
	}
	if len(lines) > 0 {
		b.WriteString("\n```\n" + strings.Join(lines, "\n") + "\n```\n")
	}
	if cd.schema != nil {
		fmt.Fprintf(&b, "\nEntities: %s", strings.Join(cd.schema.EntityNames(), ", "))
	}
	return b.String()
}

func settingDoc(spec *connector.SettingSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (setting)", spec.Name)
	var facts []string
	if spec.Required {
		facts = append(facts, "required")
	}
	if spec.Secret {
		facts = append(facts, `secret: write secret("VAR")`)
	}
	if spec.Default != "" {
		facts = append(facts, fmt.Sprintf("default %q", spec.Default))
	}
	if len(spec.Values) > 0 {
		facts = append(facts, "one of "+strings.Join(spec.Values, ", "))
	}
	if len(facts) > 0 {
		b.WriteString(" — " + strings.Join(facts, "; "))
	}
	if spec.Doc != "" {
		b.WriteString("\n\n" + spec.Doc)
	}
	return b.String()
}

func entityDoc(sd *side) string {
	e := sd.entity
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (entity of %s)\n\nkey `%s`", sd.label(), sd.conn.kind.Name, e.Key)
	if e.Modified != "" {
		fmt.Fprintf(&b, ", modified `%s`", e.Modified)
	}
	if e.Incremental {
		b.WriteString(", incremental reads")
	}
	if e.Deletes {
		b.WriteString(", reports deletions")
	}
	if e.Doc != "" {
		b.WriteString("\n\n" + e.Doc)
	}
	return b.String()
}

// fieldDoc describes a field: type, max length, read-only, options, doc.
func fieldDoc(t *target) string {
	fd := t.field
	if fd == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** `%s`", fieldText(fd.Name), fd.Type)
	if t.side != nil {
		fmt.Fprintf(&b, " — field of %s", t.side.label())
	}
	var facts []string
	if fd.MaxLength > 0 {
		facts = append(facts, fmt.Sprintf("max length %d", fd.MaxLength))
	}
	for _, f := range []struct {
		on   bool
		word string
	}{{fd.ReadOnly, "read-only"}, {fd.Required, "required"}, {fd.Custom, "custom"}, {fd.Lookup, "lookup"}, {fd.Unique, "unique"}, {fd.CaseInsensitive, "case-insensitive"}} {
		if f.on {
			facts = append(facts, f.word)
		}
	}
	if len(facts) > 0 {
		b.WriteString("\n\n" + strings.Join(facts, ", "))
	}
	if len(fd.Options) > 0 {
		b.WriteString("\n\nOptions:")
		for _, o := range fd.Options {
			fmt.Fprintf(&b, "\n- `%d` %s", o.Value, o.Label)
		}
	}
	if len(fd.Enum) > 0 {
		b.WriteString("\n\nValues: `" + strings.Join(fd.Enum, "`, `") + "`")
	}
	if fd.Doc != "" {
		b.WriteString("\n\n" + fd.Doc)
	}
	return b.String()
}

// formatting formats the document with `synclang fmt`'s formatter: one
// edit replacing the whole text, none when it is formatted already. A
// document with syntax errors is not formatted, as with fmt.
func (s *server) formatting(_ context.Context, params []byte) (any, error) {
	var p struct {
		TextDocument textDocumentIdentifier `json:"textDocument"`
	}
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	v, path, err := s.viewOf(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	t := v.texts[path]
	out, diags := format.Source(path, []byte(t.src))
	if diags.HasErrors() {
		return nil, requestFailed("not formatted: %v", diags[0])
	}
	if string(out) == t.src {
		return []TextEdit{}, nil
	}
	return []TextEdit{{Range: Range{Start: Position{}, End: t.position(len(t.src))}, NewText: string(out)}}, nil
}

// requestFailed is the LSP's RequestFailed error.
func requestFailed(format string, args ...any) error {
	return jsonrpc2.NewError(-32803, fmt.Sprintf(format, args...))
}
