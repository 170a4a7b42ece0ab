package lsp

import (
	"context"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/ast"
	"github.com/synclang/synclang/lang/eval"
)

func init() {
	handlers["textDocument/definition"] = (*server).definition
	handlers["textDocument/references"] = (*server).references
	handlers["textDocument/documentSymbol"] = (*server).documentSymbol
	featureCapabilities["definitionProvider"] = true
	featureCapabilities["referencesProvider"] = true
	featureCapabilities["documentSymbolProvider"] = true
}

// targetKind says what a name under the cursor is.
type targetKind int

const (
	tNone targetKind = iota
	tConn
	tKind
	tSetting
	tEntity
	tField
	tFunc
)

// target is the thing a name in a file refers to.
type target struct {
	kind       targetKind
	start, end int // the name's span
	conn       *connDecl
	side       *side
	field      *connector.Field
	fieldName  string
	setting    *connector.SettingSpec
	kindSpec   *connector.Kind
	fn         *eval.Func
}

// at finds what the name at offset off of the file at path refers to.
func (v *view) at(path string, off int) *target {
	f := v.files[path]
	for _, d := range f.AST.Decls {
		if !within(d, off) {
			continue
		}
		switch d := d.(type) {
		case *ast.Connection:
			return v.atConnection(d, off)
		case *ast.Sync:
			return v.atSync(d, off)
		}
	}
	return &target{}
}

func (v *view) atConnection(c *ast.Connection, off int) *target {
	cd := v.conns[identName(c.Name)]
	switch {
	case c.Name != nil && within(c.Name, off):
		return v.connTarget(c.Name, cd)
	case c.Kind != nil && within(c.Kind, off):
		start, end := spanOf(c.Kind)
		k, _ := v.reg.Kind(c.Kind.Name)
		return &target{kind: tKind, start: start, end: end, kindSpec: k}
	}
	for _, item := range c.Items {
		if !within(item, off) {
			continue
		}
		switch it := item.(type) {
		case *ast.Setting:
			if it.Name != nil && within(it.Name, off) && cd != nil && cd.kind != nil {
				spec, _ := cd.kind.Setting(it.Name.Name)
				start, end := spanOf(it.Name)
				return &target{kind: tSetting, start: start, end: end, setting: spec, conn: cd}
			}
		case *ast.Declaration:
			if cd == nil || cd.schema == nil {
				break
			}
			if entity, name, n, ok := declared(cd, it); ok && within(n, off) {
				start, end := spanOf(n)
				t := &target{kind: tField, start: start, end: end, conn: cd, fieldName: name}
				for _, e := range cd.schema.Entities {
					if entity != "" && e.Name != entity {
						continue
					}
					if fd, ok := e.Field(name); ok {
						t.field, t.side = fd, &side{ref: &ast.EntityRef{Conn: c.Name, Entity: &ast.Ident{Name: e.Name}}, conn: cd, entity: e}
						break
					}
				}
				return t
			}
		}
	}
	return &target{}
}

// declared returns the field a declaration declares: the entity it is
// scoped to ("" for every entity), the field name and the node naming it.
func declared(cd *connDecl, d *ast.Declaration) (entity, name string, n ast.Node, ok bool) {
	if cd.kind == nil || cd.kind.Declare == nil || d.Keyword == nil || d.Keyword.Name != cd.kind.Declare.Keyword {
		return "", "", nil, false
	}
	spec := cd.kind.Declare
	switch {
	case d.Quoted != nil:
		name, n = ast.Unquote(*d.Quoted), d
	case d.Path != nil:
		name, n = d.Path.Name(), d.Path
	default:
		return "", "", nil, false
	}
	if spec.Scoped {
		ent, field, found := strings.Cut(name, ".")
		if !found {
			return "", "", nil, false
		}
		return ent, spec.Prefix + field, n, true
	}
	return "", spec.Prefix + name, n, true
}

func identName(id *ast.Ident) string {
	if id == nil {
		return ""
	}
	return id.Name
}

func (v *view) connTarget(id *ast.Ident, cd *connDecl) *target {
	start, end := spanOf(id)
	if cd == nil {
		return &target{start: start, end: end}
	}
	return &target{kind: tConn, start: start, end: end, conn: cd}
}

func (v *view) atSync(sy *ast.Sync, off int) *target {
	if sy.Pair != nil {
		for _, ref := range []*ast.EntityRef{sy.Pair.Left, sy.Pair.Right} {
			if ref == nil || !within(ref, off) {
				continue
			}
			if ref.Conn != nil && within(ref.Conn, off) {
				return v.connTarget(ref.Conn, v.conns[ref.Conn.Name])
			}
			if sd := v.side(ref); sd != nil && within(ref.Entity, off) {
				start, end := spanOf(ref.Entity)
				return &target{kind: tEntity, start: start, end: end, side: sd, conn: sd.conn}
			}
		}
	}
	for _, st := range sy.Stmts {
		if !within(st, off) {
			continue
		}
		var ref *ast.SideRef
		switch st := st.(type) {
		case *ast.Where:
			ref = st.Side
		case *ast.Delete:
			ref = st.Side
		}
		if ref != nil && ref.Conn != nil && within(ref.Conn, off) {
			return v.connTarget(ref.Conn, v.conns[ref.Conn.Name])
		}
		for _, sp := range v.lineSides(sy, st) {
			if off < sp.start || off > sp.end {
				continue
			}
			src := v.texts[v.pathOfSync(sy)].src
			for _, r := range fieldRefs(src, sp.start, sp.end) {
				if off < r.start || off > r.end {
					continue
				}
				return v.nameTarget(sp.side, r)
			}
		}
	}
	return &target{}
}

// nameTarget resolves a name in a line of side sd: a field of its entity,
// else a function.
func (v *view) nameTarget(sd *side, r fieldRef) *target {
	t := &target{start: r.start, end: r.end, side: sd, fieldName: r.name}
	if sd.entity != nil {
		if fd, ok := sd.entity.Field(r.name); ok {
			t.kind, t.field, t.conn = tField, fd, sd.conn
			return t
		}
	}
	for i := range eval.Funcs {
		if eval.Funcs[i].Name == r.name {
			t.kind, t.fn = tFunc, &eval.Funcs[i]
			return t
		}
	}
	return t
}

// pathOfSync finds the file that holds a sync.
func (v *view) pathOfSync(sy *ast.Sync) string {
	for _, path := range v.order {
		for _, d := range v.files[path].AST.Decls {
			if d == ast.Decl(sy) {
				return path
			}
		}
	}
	return ""
}

func (v *view) location(path string, start, end int) Location {
	t := v.texts[path]
	return Location{URI: pathToURI(path), Range: Range{Start: t.position(start), End: t.position(end)}}
}

// positionParams decodes a position request and finds its offset.
func (s *server) positionParams(params []byte) (*view, string, int, error) {
	var p textDocumentPositionParams
	if err := decode(params, &p); err != nil {
		return nil, "", 0, err
	}
	v, path, err := s.viewOf(p.TextDocument.URI)
	if err != nil {
		return nil, "", 0, err
	}
	off, err := v.texts[path].offset(p.Position)
	if err != nil {
		return nil, "", 0, invalidParams("%v", err)
	}
	return v, path, off, nil
}

func (s *server) definition(_ context.Context, params []byte) (any, error) {
	v, path, off, err := s.positionParams(params)
	if err != nil {
		return nil, err
	}
	t := v.at(path, off)
	if loc, ok := v.declaration(t); ok {
		return []Location{loc}, nil
	}
	return []Location{}, nil
}

// declaration is where a connection or a declared field is declared.
func (v *view) declaration(t *target) (Location, bool) {
	switch t.kind {
	case tConn:
		start, end := spanOf(t.conn.node.Name)
		return v.location(t.conn.path, start, end), true
	case tField:
		if t.conn == nil || t.side == nil {
			return Location{}, false
		}
		for _, item := range t.conn.node.Items {
			d, ok := item.(*ast.Declaration)
			if !ok {
				continue
			}
			entity, name, n, ok := declared(t.conn, d)
			if ok && name == t.fieldName && (entity == "" || entity == t.side.ref.Entity.Name) {
				start, end := spanOf(n)
				return v.location(t.conn.path, start, end), true
			}
		}
	}
	return Location{}, false
}

func (s *server) references(_ context.Context, params []byte) (any, error) {
	v, path, off, err := s.positionParams(params)
	if err != nil {
		return nil, err
	}
	var ctx struct {
		Context struct {
			IncludeDeclaration bool `json:"includeDeclaration"`
		} `json:"context"`
	}
	_ = decode(params, &ctx)
	t := v.at(path, off)
	locs := []Location{}
	if ctx.Context.IncludeDeclaration {
		if loc, ok := v.declaration(t); ok {
			locs = append(locs, loc)
		}
	}
	switch t.kind {
	case tConn:
		locs = append(locs, v.connUses(t.conn.name)...)
	case tField:
		if t.side != nil {
			locs = append(locs, v.fieldUses(t.side, t.fieldName)...)
		}
	}
	return locs, nil
}

// connUses are the places syncs name a connection.
func (v *view) connUses(name string) []Location {
	var locs []Location
	add := func(path string, id *ast.Ident) {
		if id != nil && id.Name == name {
			start, end := spanOf(id)
			locs = append(locs, v.location(path, start, end))
		}
	}
	for _, path := range v.order {
		for _, d := range v.files[path].AST.Decls {
			sy, ok := d.(*ast.Sync)
			if !ok {
				continue
			}
			if sy.Pair != nil {
				for _, ref := range []*ast.EntityRef{sy.Pair.Left, sy.Pair.Right} {
					if ref != nil {
						add(path, ref.Conn)
					}
				}
			}
			for _, st := range sy.Stmts {
				switch st := st.(type) {
				case *ast.Where:
					if st.Side != nil {
						add(path, st.Side.Conn)
					}
				case *ast.Delete:
					if st.Side != nil {
						add(path, st.Side.Conn)
					}
				}
			}
		}
	}
	return locs
}

// fieldUses are the places lines name a field of the side's entity.
func (v *view) fieldUses(sd *side, name string) []Location {
	var locs []Location
	for _, path := range v.order {
		src := v.texts[path].src
		for _, d := range v.files[path].AST.Decls {
			sy, ok := d.(*ast.Sync)
			if !ok {
				continue
			}
			for _, st := range sy.Stmts {
				for _, sp := range v.lineSides(sy, st) {
					if sp.side.label() != sd.label() {
						continue
					}
					for _, r := range fieldRefs(src, sp.start, sp.end) {
						if r.name == name {
							locs = append(locs, v.location(path, r.start, r.end))
						}
					}
				}
			}
		}
	}
	return locs
}

// documentSymbol is the LSP DocumentSymbol.
type documentSymbol struct {
	Name           string           `json:"name"`
	Detail         string           `json:"detail,omitempty"`
	Kind           int              `json:"kind"`
	Range          Range            `json:"range"`
	SelectionRange Range            `json:"selectionRange"`
	Children       []documentSymbol `json:"children,omitempty"`
}

// LSP SymbolKind values.
const (
	symNamespace = 3
	symClass     = 5
	symProperty  = 7
	symField     = 8
)

func (s *server) documentSymbol(_ context.Context, params []byte) (any, error) {
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
	rng := func(n ast.Node) Range {
		start, end := spanOf(n)
		return Range{Start: t.position(start), End: t.position(end)}
	}
	syms := []documentSymbol{}
	for _, d := range v.files[path].AST.Decls {
		switch d := d.(type) {
		case *ast.Connection:
			if d.Name == nil {
				continue
			}
			sym := documentSymbol{Name: d.Name.Name, Detail: "connection " + identName(d.Kind), Kind: symNamespace,
				Range: rng(d), SelectionRange: rng(d.Name)}
			for _, item := range d.Items {
				switch it := item.(type) {
				case *ast.Setting:
					if it.Name != nil {
						sym.Children = append(sym.Children, documentSymbol{Name: it.Name.Name, Detail: "setting", Kind: symProperty, Range: rng(it), SelectionRange: rng(it.Name)})
					}
				case *ast.Declaration:
					if it.Keyword != nil {
						name := t.src[it.Keyword.EndPos.Offset:it.EndPos.Offset]
						sym.Children = append(sym.Children, documentSymbol{Name: strings.TrimSpace(name), Detail: it.Keyword.Name, Kind: symField, Range: rng(it), SelectionRange: rng(it)})
					}
				}
			}
			syms = append(syms, sym)
		case *ast.Sync:
			if d.Name == nil {
				continue
			}
			sym := documentSymbol{Name: d.Name.Name, Detail: "sync", Kind: symClass, Range: rng(d), SelectionRange: rng(d.Name)}
			if d.Pair != nil {
				start, end := spanOf(d.Pair)
				sym.Detail = "sync " + t.src[start:end]
			}
			syms = append(syms, sym)
		}
	}
	return syms, nil
}
