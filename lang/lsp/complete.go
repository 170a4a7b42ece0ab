package lsp

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/eval"
)

func init() {
	handlers["textDocument/completion"] = (*server).completion
	featureCapabilities["completionProvider"] = map[string]any{"triggerCharacters": []string{".", "[", "\"", " ", ":"}}
}

// completionItem is the LSP CompletionItem. The text edit replaces the
// partial word before the cursor.
type completionItem struct {
	Label         string    `json:"label"`
	Kind          int       `json:"kind"`
	Detail        string    `json:"detail,omitempty"`
	Documentation *markup   `json:"documentation,omitempty"`
	TextEdit      *TextEdit `json:"textEdit,omitempty"`
	SortText      string    `json:"sortText,omitempty"`
}

// LSP CompletionItemKind values.
const (
	ciFunction = 3
	ciField    = 5
	ciClass    = 7
	ciModule   = 9
	ciProperty = 10
	ciValue    = 12
	ciKeyword  = 14
	ciEnum     = 20
)

// Completion works on the text before the cursor, not only on the syntax
// tree: while a line is typed it rarely parses. The block the cursor is in
// and a sync's pair are found by scanning the text; names come from the
// project's schemas.
var (
	reHeader     = regexp.MustCompile(`^\s*(connection|sync)\s+(\w+)(?:\s+(\w+))?\s*\{`)
	rePair       = regexp.MustCompile(`^\s*(\w+)\.(\w+)\s*(<->|->|<-)\s*(\w+)\.(\w+)`)
	reArrow      = regexp.MustCompile(`<->|->|<-`)
	reWord       = regexp.MustCompile(`\w*$`)
	reDotted     = regexp.MustCompile(`(\w+)\.(\w*)$`)
	reCustomQ    = regexp.MustCompile(`custom\["([^"\]]*)$`)
	reCompare    = regexp.MustCompile(`(custom\["[^"]*"\]|[\w.]+)\s*(?:==|!=)\s*"?(\w*)$`)
	reKeyword    = regexp.MustCompile(`^\s*(conflict|delete|where|every|link|match)\b\s*(.*)$`)
	reSideCol    = regexp.MustCompile(`^([\w.]+)\s*:\s*(.*)$`)
	reSetting    = regexp.MustCompile(`^\s*(\w+)\s*=\s*("?)(\w*)$`)
	reDeclType   = regexp.MustCompile(`^\s*(\w+)\s+("[^"]*"|[\w.]+)\s+(\w*)$`)
	reAtStart    = regexp.MustCompile(`^\s*(\w*)$`)
	reConnKind   = regexp.MustCompile(`^\s*connection\s+\w+\s+(\w*)$`)
	reSetName    = regexp.MustCompile(`^\s*(\w+)\s*=`)
	reSidePolicy = regexp.MustCompile(`^[\w.]+\s*:\s*\w*$`)
	reCustomDot  = regexp.MustCompile(`custom\.(\w*)$`)
)

// block is the top-level block around an offset, found in the text.
type block struct {
	keyword, name, kind string
	bodyStart           int // offset after the line of its header
}

// blockAt scans the text before off for the open block it is in.
func blockAt(src string, off int) *block {
	var cur *block
	depth := 0
	for lineStart := 0; lineStart <= off; {
		lineEnd := strings.IndexByte(src[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(src)
		} else {
			lineEnd += lineStart
		}
		line := src[lineStart:min(lineEnd, off)]
		if depth == 0 {
			if m := reHeader.FindStringSubmatch(line); m != nil {
				cur = &block{keyword: m[1], name: m[2], kind: m[3], bodyStart: lineEnd + 1}
			}
		}
		depth += braceDelta(line)
		if depth <= 0 {
			depth, cur = 0, nil
			if m := reHeader.FindStringSubmatch(line); m != nil && braceDelta(line) > 0 {
				cur = &block{keyword: m[1], name: m[2], kind: m[3], bodyStart: lineEnd + 1}
				depth = braceDelta(line)
			}
		}
		if lineEnd >= off {
			break
		}
		lineStart = lineEnd + 1
	}
	if cur != nil && off < cur.bodyStart {
		return nil // on the header line itself
	}
	return cur
}

// braceDelta counts { minus } outside strings and comments.
func braceDelta(line string) int {
	d := 0
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(line, i, len(line)) - 1
		case c == '#' || c == '/' && i+1 < len(line) && line[i+1] == '/':
			return d
		case c == '{':
			d++
		case c == '}':
			d--
		}
	}
	return d
}

func (s *server) completion(_ context.Context, params []byte) (any, error) {
	v, path, off, err := s.positionParams(params)
	if err != nil {
		return nil, err
	}
	t := v.texts[path]
	lineStart := strings.LastIndexByte(t.src[:off], '\n') + 1
	c := &completer{v: v, t: t, off: off, prefix: t.src[lineStart:off]}
	b := blockAt(t.src, off)
	switch {
	case b == nil:
		c.topLevel()
	case b.keyword == "connection":
		c.connection(b)
	default:
		c.sync(b)
	}
	if c.items == nil {
		c.items = []completionItem{}
	}
	return map[string]any{"isIncomplete": false, "items": c.items}, nil
}

type completer struct {
	v      *view
	t      *text
	off    int
	prefix string // the line up to the cursor
	items  []completionItem
}

// add offers newText for the word of length n before the cursor.
func (c *completer) add(label string, kind int, detail, newText string, n int) {
	start := c.t.position(c.off - n)
	c.items = append(c.items, completionItem{Label: label, Kind: kind, Detail: detail,
		TextEdit: &TextEdit{Range: Range{Start: start, End: c.t.position(c.off)}, NewText: newText},
		SortText: strconv.Itoa(len(c.items) + 1000)})
}

func (c *completer) word() int { return len(reWord.FindString(c.prefix)) }

func (c *completer) topLevel() {
	if m := reConnKind.FindStringSubmatch(c.prefix); m != nil {
		for _, name := range c.v.reg.Names() {
			k, _ := c.v.reg.Kind(name)
			c.add(name, ciModule, k.Doc, name, len(m[1]))
		}
		return
	}
	if reAtStart.MatchString(c.prefix) {
		c.add("connection", ciKeyword, "connection NAME KIND { settings }", "connection", c.word())
		c.add("sync", ciKeyword, "sync NAME { pair, lines }", "sync", c.word())
	}
}

func (c *completer) connection(b *block) {
	kind, ok := c.v.reg.Kind(b.kind)
	if !ok {
		return
	}
	if m := reSetting.FindStringSubmatch(c.prefix); m != nil {
		spec, ok := kind.Setting(m[1])
		if !ok {
			return
		}
		quoted := m[2] != ""
		for _, val := range spec.Values {
			if quoted {
				c.add(val, ciEnum, spec.Name, val, len(m[3]))
			} else {
				c.add(strconv.Quote(val), ciEnum, spec.Name, strconv.Quote(val), len(m[3]))
			}
		}
		if !quoted {
			fns := []string{"env", "secret"}
			if spec.Secret {
				fns = []string{"secret"}
			}
			for _, fn := range fns {
				c.add(fn+`("VAR")`, ciFunction, "read the value from the environment at run time", fn+`("`+envName(b.name, spec.Name)+`")`, len(m[3]))
			}
		}
		return
	}
	if kind.Declare != nil {
		if m := reDeclType.FindStringSubmatch(c.prefix); m != nil && m[1] == kind.Declare.Keyword {
			for _, typ := range kind.Declare.Types {
				c.add(string(typ), ciKeyword, "type", string(typ), len(m[3]))
			}
			return
		}
	}
	if !reAtStart.MatchString(c.prefix) {
		return
	}
	set := map[string]bool{}
	for _, line := range strings.Split(c.t.src[b.bodyStart:min(c.t.lineEndAt(c.off), len(c.t.src))], "\n") {
		if m := reSetName.FindStringSubmatch(line); m != nil {
			set[m[1]] = true
		}
	}
	n := c.word()
	for _, spec := range kind.Settings {
		if set[spec.Name] {
			continue
		}
		c.add(spec.Name, ciProperty, settingDoc(&spec), spec.Name+" = ", n)
	}
	if kind.Declare != nil {
		c.add(kind.Declare.Keyword, ciKeyword, "declare a custom field", kind.Declare.Keyword+" ", n)
	}
}

// envName proposes a variable name for a setting: CRM_CLIENT_SECRET.
func envName(conn, setting string) string {
	return strings.ToUpper(conn + "_" + setting)
}

func (t *text) lineEndAt(off int) int {
	if i := strings.IndexByte(t.src[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(t.src)
}

// pairOf finds a sync's pair line in the text of its body.
func (c *completer) pairOf(b *block) (left, right *side, pairLine int) {
	body := c.t.src[min(b.bodyStart, len(c.t.src)):]
	off := b.bodyStart
	for _, line := range strings.SplitAfter(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "//") {
			off += len(line)
			continue
		}
		m := rePair.FindStringSubmatch(line)
		if m == nil {
			return nil, nil, off
		}
		ref := func(conn, ent string) *side {
			return c.v.side(&ast.EntityRef{Conn: &ast.Ident{Name: conn}, Entity: &ast.Ident{Name: ent}})
		}
		return ref(m[1], m[2]), ref(m[4], m[5]), off
	}
	return nil, nil, off
}

func (c *completer) sync(b *block) {
	left, right, pairLine := c.pairOf(b)
	lineStart := c.off - len(c.prefix)
	// Entity names after CONN. (in the pair line, or a where/delete side).
	if m := reDotted.FindStringSubmatch(c.prefix); m != nil && m[1] != "custom" {
		if cd := c.v.conns[m[1]]; cd != nil && cd.schema != nil {
			for _, e := range cd.schema.Entities {
				c.add(e.Name, ciClass, e.Doc, e.Name, len(m[2]))
			}
			return
		}
	}
	if lineStart <= pairLine || left == nil {
		if reAtStart.MatchString(c.prefix) || reArrow.MatchString(c.prefix) {
			c.connNames(c.word(), "")
		}
		return
	}
	sides := []*side{left, right}
	if m := reKeyword.FindStringSubmatch(c.prefix); m != nil {
		rest := m[2]
		switch m[1] {
		case "conflict":
			if reAtStart.MatchString(rest) {
				n := c.word()
				c.add("newest", ciEnum, "the most recent change wins", "newest", n)
				for _, sd := range sides {
					c.add(sd.ref.Conn.Name, ciEnum, sd.label()+" always wins", sd.ref.Conn.Name, n)
				}
			}
			return
		case "delete":
			if reAtStart.MatchString(rest) {
				for _, sd := range sides {
					c.add(sd.ref.Conn.Name+":", ciModule, "deletions on "+sd.label(), sd.ref.Conn.Name+": ", c.word())
				}
			}
			if reAtStart.MatchString(rest) || reSidePolicy.MatchString(rest) {
				c.add("ignore", ciEnum, "keep the other record, forget the link", "ignore", c.word())
				c.add("propagate", ciEnum, "delete the linked record", "propagate", c.word())
			}
			return
		case "where":
			if sm := reSideCol.FindStringSubmatch(rest); sm != nil {
				for _, sd := range sides {
					if sd.ref.Conn.Name == sm[1] || sd.label() == sm[1] {
						c.expression(sd, true)
					}
				}
				return
			}
			if reAtStart.MatchString(rest) {
				for _, sd := range sides {
					c.add(sd.ref.Conn.Name, ciModule, "filter records of "+sd.label(), sd.ref.Conn.Name+": ", c.word())
				}
			}
			return
		case "every":
			return
		case "link", "match":
			sd := left
			if reArrow.MatchString(rest) {
				sd = right
			}
			c.expression(sd, m[1] == "match")
			return
		}
	}
	sd := left
	if reArrow.MatchString(c.prefix) {
		sd = right
	}
	if reAtStart.MatchString(c.prefix) {
		for _, kw := range []string{"link", "match", "where", "conflict", "delete", "every"} {
			c.add(kw, ciKeyword, "", kw+" ", c.word())
		}
	}
	c.expression(sd, true)
}

func (c *completer) connNames(n int, suffix string) {
	names := make([]string, 0, len(c.v.conns))
	for name := range c.v.conns {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cd := c.v.conns[name]
		c.add(name, ciModule, "connection "+name+" "+identName(cd.node.Kind), name+suffix, n)
	}
}

// expression offers what a line can name on side sd: its fields (custom
// attributes with their quoting), option values after a comparison with a
// choice field, and, where an expression may stand, the functions.
func (c *completer) expression(sd *side, funcs bool) {
	if sd == nil || sd.entity == nil {
		return
	}
	if m := reCompare.FindStringSubmatch(c.prefix); m != nil {
		refs := fieldRefs(m[1], 0, len(m[1]))
		if len(refs) == 1 {
			if fd, ok := sd.entity.Field(refs[0].name); ok && (len(fd.Options) > 0 || len(fd.Enum) > 0) {
				quoted := strings.HasSuffix(strings.TrimSuffix(c.prefix, m[2]), `"`)
				for _, o := range fd.Options {
					c.add(strconv.FormatInt(o.Value, 10), ciEnum, o.Label, strconv.FormatInt(o.Value, 10), len(m[2]))
				}
				for _, e := range fd.Enum {
					text := strconv.Quote(e)
					if quoted {
						text = e
					}
					c.add(e, ciEnum, fd.Name, text, len(m[2]))
				}
				return
			}
		}
	}
	if m := reCustomQ.FindStringSubmatch(c.prefix); m != nil {
		n := len(m[0])
		for _, fd := range sd.entity.Fields {
			if rest, ok := cutPrefix(fd.Name, connector.CustomPrefix); ok {
				c.add(`custom["`+rest+`"]`, ciField, fieldDetail(fd), `custom[`+strconv.Quote(rest)+`]`, n)
			}
		}
		return
	}
	if m := reCustomDot.FindStringSubmatch(c.prefix); m != nil {
		n := len(m[0])
		for _, fd := range sd.entity.Fields {
			if _, ok := cutPrefix(fd.Name, connector.CustomPrefix); ok {
				c.add(fieldText(fd.Name), ciField, fieldDetail(fd), fieldText(fd.Name), n)
			}
		}
		return
	}
	if strings.HasSuffix(strings.TrimRight(c.prefix, "\t "), `"`) && strings.Count(c.prefix, `"`)%2 == 1 {
		return // inside a string
	}
	n := c.word()
	for _, fd := range sd.entity.Fields {
		c.add(fieldText(fd.Name), ciField, fieldDetail(fd)+" — "+sd.label(), fieldText(fd.Name), n)
	}
	if funcs {
		for _, fn := range eval.Funcs {
			c.add(fn.Name, ciFunction, fn.Signature, fn.Name+"(", n)
			c.items[len(c.items)-1].Documentation = &markup{Kind: "markdown", Value: fn.Doc}
		}
	}
}

func fieldDetail(fd *connector.Field) string {
	d := string(fd.Type)
	if fd.ReadOnly {
		d += ", read-only"
	}
	return d
}
