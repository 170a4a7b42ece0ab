package lsp

import (
	"path/filepath"
	"strconv"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/check"
)

// view is a project parsed for a request: its syntax trees, texts and the
// schema of each connection, with open buffers in place of their files.
type view struct {
	dir   string
	order []string // paths, sorted
	files map[string]*check.File
	texts map[string]*text
	conns map[string]*connDecl
	reg   *connector.Registry
	opts  lang.Options
}

// connDecl is a declared connection (the first of its name).
type connDecl struct {
	name   string
	path   string
	node   *ast.Connection
	kind   *connector.Kind   // nil when the kind is unknown
	schema *connector.Schema // nil when the kind is unknown
}

// side is one entity of a sync's pair.
type side struct {
	ref    *ast.EntityRef
	conn   *connDecl         // nil when the connection is unknown
	entity *connector.Entity // nil when unknown
}

func (sd *side) label() string { return sd.ref.Conn.Name + "." + sd.ref.Entity.Name }

// newView parses the project in dir.
func (s *server) newView(dir string) *view {
	inputs := s.inputs(dir)
	opts := lang.Options{Registry: s.opts.Registry}
	files, _ := lang.Parse(inputs)
	v := &view{dir: dir, files: map[string]*check.File{}, texts: map[string]*text{}, conns: map[string]*connDecl{},
		reg: s.opts.Registry, opts: opts}
	s.mu.Lock()
	utf8 := s.utf8
	s.mu.Unlock()
	for i, f := range files {
		path := inputs[i].Name
		v.order = append(v.order, path)
		v.files[path] = f
		v.texts[path] = newText(string(inputs[i].Src), utf8)
	}
	schemas := check.ConnectionSchemas(files, opts.CheckOptions())
	for _, path := range v.order {
		for _, d := range v.files[path].AST.Decls {
			c, ok := d.(*ast.Connection)
			if !ok || c.Name == nil || v.conns[c.Name.Name] != nil {
				continue
			}
			cd := &connDecl{name: c.Name.Name, path: path, node: c, schema: schemas[c.Name.Name]}
			if c.Kind != nil {
				cd.kind, _ = s.opts.Registry.Kind(c.Kind.Name)
			}
			v.conns[cd.name] = cd
		}
	}
	return v
}

// viewOf parses the project of the document at uri.
func (s *server) viewOf(uri string) (*view, string, error) {
	path, err := uriToPath(uri)
	if err != nil {
		return nil, "", invalidParams("%v", err)
	}
	v := s.newView(filepath.Dir(path))
	if v.files[path] == nil {
		return nil, "", invalidParams("%s is not a .sync file of an open project", uri)
	}
	return v, path, nil
}

// sides resolves a sync's pair.
func (v *view) sides(sy *ast.Sync) (left, right *side) {
	if sy.Pair == nil || sy.Pair.Left == nil || sy.Pair.Right == nil {
		return nil, nil
	}
	return v.side(sy.Pair.Left), v.side(sy.Pair.Right)
}

func (v *view) side(ref *ast.EntityRef) *side {
	sd := &side{ref: ref}
	if ref.Conn == nil || ref.Entity == nil {
		return nil
	}
	sd.conn = v.conns[ref.Conn.Name]
	if sd.conn != nil && sd.conn.schema != nil {
		sd.entity, _ = sd.conn.schema.Entity(ref.Entity.Name)
	}
	return sd
}

// sideNamed finds the side a where or delete line names.
func (v *view) sideNamed(sy *ast.Sync, ref *ast.SideRef) *side {
	if ref == nil || ref.Conn == nil {
		return nil
	}
	l, r := v.sides(sy)
	for _, sd := range []*side{l, r} {
		if sd != nil && sd.ref.Conn.Name == ref.Conn.Name && (ref.Entity == nil || ref.Entity.Name == sd.ref.Entity.Name) {
			return sd
		}
	}
	return nil
}

func spanOf(n ast.Node) (int, int) {
	start, end := n.Span()
	return start.Offset, end.Offset
}

// within reports whether off is inside n or at its end (where the cursor
// sits after typing it).
func within(n ast.Node, off int) bool {
	start, end := spanOf(n)
	return start <= off && off <= end
}

// fieldRef is a field named in a line: "firstname", "custom.JobTitle" (for
// custom.JobTitle and custom["JobTitle"]), with its byte span.
type fieldRef struct {
	name       string
	start, end int
}

// fieldRefs finds the names in src[start:end] that may be fields: bare
// identifiers not after a dot, and custom.NAME / custom["NAME"]. Names in
// string literals are skipped.
func fieldRefs(src string, start, end int) []fieldRef {
	var refs []fieldRef
	end = min(end, len(src))
	for i := start; i < end; {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(src, i, end)
		case isIdentStart(c):
			j := i
			for j < end && isIdent(src[j]) {
				j++
			}
			name := src[i:j]
			afterDot := i > start && src[i-1] == '.'
			if name == "custom" {
				if j+1 < end && src[j] == '.' && isIdentStart(src[j+1]) {
					k := j + 1
					for k < end && isIdent(src[k]) {
						k++
					}
					refs = append(refs, fieldRef{connector.CustomPrefix + src[j+1:k], i, k})
					i = k
					continue
				}
				if j+1 < end && src[j] == '[' && src[j+1] == '"' {
					k := skipString(src, j+1, end)
					if k < end && src[k] == ']' {
						if u, err := strconv.Unquote(src[j+1 : k]); err == nil {
							refs = append(refs, fieldRef{connector.CustomPrefix + u, i, k + 1})
							i = k + 1
							continue
						}
					}
				}
			}
			if !afterDot {
				refs = append(refs, fieldRef{name, i, j})
			}
			i = j
		default:
			i++
		}
	}
	return refs
}

func skipString(src string, i, end int) int {
	q := src[i]
	for j := i + 1; j < end; j++ {
		switch src[j] {
		case '\\':
			j++
		case q:
			return j + 1
		case '\n':
			return j
		}
	}
	return end
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdent(c byte) bool      { return isIdentStart(c) || c >= '0' && c <= '9' }

// fieldText is how a line names a field: custom["Contract Expiry"] for a
// custom attribute whose name is not an identifier, the name otherwise.
func fieldText(name string) string {
	rest, ok := cutPrefix(name, connector.CustomPrefix)
	if !ok || isIdentifier(rest) {
		return name
	}
	return `custom[` + strconv.Quote(rest) + `]`
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdent(s[i]) {
			return false
		}
	}
	return true
}

// lineSides returns, for a statement of a sync, the spans of the text that
// names fields and the side each belongs to.
func (v *view) lineSides(sy *ast.Sync, st ast.Stmt) []sideSpan {
	l, r := v.sides(sy)
	var out []sideSpan
	add := func(sd *side, n ast.Node) {
		if n == nil || sd == nil {
			return
		}
		start, end := spanOf(n)
		out = append(out, sideSpan{sd, start, end})
	}
	switch st := st.(type) {
	case *ast.Map:
		if st.Left != nil {
			add(l, st.Left)
		}
		if st.Right != nil {
			add(r, st.Right)
		}
	case *ast.Link:
		if st.Left != nil {
			add(l, st.Left)
		}
		if st.Right != nil {
			add(r, st.Right)
		}
	case *ast.Match:
		if st.Left != nil {
			add(l, st.Left)
		}
		if st.Right != nil {
			add(r, st.Right)
		}
	case *ast.Where:
		if st.Cond != nil {
			add(v.sideNamed(sy, st.Side), st.Cond)
		}
	}
	return out
}

type sideSpan struct {
	side       *side
	start, end int
}
