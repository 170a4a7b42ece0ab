// Package format prints .sync files in their one canonical layout. It works
// on the token stream and changes only white space: indentation (two spaces
// per block), spacing between tokens, blank lines, and alignment. Comments
// are kept where they are. Formatting is idempotent and never changes the
// syntax tree (the tests check both, and fuzz them).
//
// Alignment follows gofmt. In a run of lines not broken by a blank line or a
// comment line: setting names are padded so the = signs line up; link and
// match keywords are padded to the same width; field-line arrows line up
// unless a left side is much longer than the others (go/printer's rule for
// key: value lists: sizes up to 40 always align, larger ones break the run
// when they differ from the run's geometric mean by a factor of 2.5 or
// more). Trailing comments start at column 48, or two spaces after code
// that reaches past it.
package format

import (
	"bytes"
	"math"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"

	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/parser"
)

// CommentColumn is the 0-based column trailing comments start at.
const CommentColumn = 47

const indentUnit = "  "

// Source formats a file. A file with syntax errors is not formatted: the
// diagnostics are returned instead. A leading byte-order mark is dropped
// so `fmt -w` repairs files Windows editors saved.
func Source(name string, src []byte) ([]byte, diag.Diagnostics) {
	src = bytes.TrimPrefix(src, []byte(parser.BOM))
	if _, diags := parser.Parse(name, src); diags.HasErrors() {
		return nil, diags
	}
	lines, err := split(name, src)
	if err != nil {
		return nil, diag.Diagnostics{{Severity: diag.Error, Code: "syntax", Summary: "Syntax error", Detail: err.Error(), Subject: diag.Range{Filename: name}}}
	}
	return render(lines), nil
}

// token is a code token with the white space that preceded it.
type token struct {
	text  string
	space string // original white space before the token (may hold newlines inside brackets)
	kind  string // lexer symbol name
}

// line is one logical line: a statement, a block opener or closer, or a
// comment line. Blank lines are counted in blankBefore.
type line struct {
	toks        []token
	comment     string // trailing or whole-line comment
	blankBefore int
	depth       int    // block depth, for indentation
	indent      string // original indentation, to shift continuation lines
	kind        lineKind
	block       string // the innermost block: "connection", "sync", "test", "body" ("" at top level)
}

type lineKind int

const (
	kComment lineKind = iota
	kOpen             // connection ... { / sync ... {
	kClose            // }
	kSetting
	kDecl
	kPair
	kKeyword // link, match, where, conflict, delete, every
	kMap
	kStep  // a test step without a body, or with a body on the same line
	kField // FIELD = VALUE in a test step's body
)

// stepKeywords start the test steps whose { opens a body.
var stepKeywords = map[string]bool{"given": true, "update": true, "expect": true}

var keywords = map[string]bool{"link": true, "match": true, "where": true, "conflict": true, "delete": true, "every": true}

// split turns the token stream into logical lines.
func split(name string, src []byte) ([]*line, error) {
	lex, err := parser.Lexer.LexString(name, string(bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))))
	if err != nil {
		return nil, err
	}
	syms := lexer.SymbolsByRune(parser.Lexer)
	var all []lexer.Token
	for {
		tok, err := lex.Next()
		if err != nil {
			return nil, err
		}
		if tok.EOF() {
			break
		}
		all = append(all, tok)
	}
	// bodyOnItsLines reports whether the { at index i ends its line (only
	// white space or a comment follows): then it opens a body laid out one
	// field a line; a body that goes on on the { line stays inline.
	bodyOnItsLines := func(i int) bool {
		for _, t := range all[i+1:] {
			switch syms[t.Type] {
			case "Whitespace":
				continue
			case "Newline", "Comment":
				return true
			}
			return false
		}
		return true
	}
	var blocks []string // kinds of the open blocks
	inner := func() string {
		if len(blocks) == 0 {
			return ""
		}
		return blocks[len(blocks)-1]
	}
	var (
		lines       []*line
		cur         = &line{}
		space       strings.Builder
		exprDepth   int
		blockDepth  int
		blank       int
		atLineStart = true
		lineIndent  string
		// braceEnded is set when a structural brace ended a line early;
		// the newline that follows ends that same line, not a blank one.
		braceEnded bool
	)
	flush := func() {
		if len(cur.toks) > 0 || cur.comment != "" {
			cur.blankBefore = blank
			cur.indent = lineIndent
			lines = append(lines, cur)
			blank = 0
		}
		cur = &line{depth: blockDepth, block: inner()}
	}
	for i, tok := range all {
		kind := syms[tok.Type]
		switch kind {
		case "Whitespace":
			space.WriteString(tok.Value)
			if atLineStart {
				lineIndent = tok.Value
			}
			continue
		case "Newline":
			if exprDepth > 0 {
				space.WriteString("\n")
				continue
			}
			if len(cur.toks) == 0 && cur.comment == "" && !braceEnded {
				blank++
			}
			braceEnded = false
			flush()
			space.Reset()
			atLineStart, lineIndent = true, ""
			continue
		case "Comment":
			text := strings.TrimRight(tok.Value, " \t\r\f")
			if braceEnded && len(cur.toks) == 0 && len(lines) > 0 && lines[len(lines)-1].comment == "" {
				// A comment after a block's { or } stays on its line.
				lines[len(lines)-1].comment = text
			} else {
				cur.comment = text
			}
			space.Reset()
			continue
		}
		atLineStart, braceEnded = false, false
		t := token{text: tok.Value, space: space.String(), kind: kind}
		space.Reset()
		switch tok.Value {
		case "(", "[":
			exprDepth++
		case ")", "]":
			exprDepth = max(0, exprDepth-1)
		case "{":
			opens := ""
			if exprDepth == 0 && len(cur.toks) > 0 {
				switch first := cur.toks[0].text; {
				case blockDepth == 0 && (first == "connection" || first == "sync" || first == "test"):
					opens = first
				case inner() == "test" && stepKeywords[first] && bodyOnItsLines(i):
					opens = "body"
				}
			}
			if opens != "" {
				cur.toks = append(cur.toks, t)
				cur.depth = blockDepth
				blockDepth++
				blocks = append(blocks, opens)
				flush()
				braceEnded = true
				continue
			}
			exprDepth++
		case "}":
			if exprDepth == 0 && blockDepth > 0 {
				flush()
				blockDepth--
				blocks = blocks[:len(blocks)-1]
				cur.depth, cur.block = blockDepth, inner()
				cur.toks = append(cur.toks, t)
				flush()
				braceEnded = true
				continue
			}
			exprDepth = max(0, exprDepth-1)
		}
		if len(cur.toks) == 0 {
			cur.depth, cur.block = blockDepth, inner()
		}
		cur.toks = append(cur.toks, t)
	}
	flush()
	for _, l := range lines {
		l.kind = classify(l)
	}
	return lines, nil
}

func classify(l *line) lineKind {
	if len(l.toks) == 0 {
		return kComment
	}
	first := l.toks[0].text
	last := l.toks[len(l.toks)-1].text
	switch {
	case first == "}":
		return kClose
	case last == "{" && (first == "connection" || first == "sync" || first == "test" || (l.block == "test" && stepKeywords[first])):
		return kOpen
	case l.block == "test":
		return kStep
	case l.block == "body" && equalsIndex(l.toks) > 0:
		return kField
	case keywords[first] && arrowIndex(l.toks) != 1:
		return kKeyword
	case arrowIndex(l.toks) > 0:
		if l.depth == 1 && isPair(l.toks) {
			return kPair
		}
		return kMap
	case len(l.toks) > 1 && l.toks[1].text == "=":
		return kSetting
	}
	return kDecl
}

// arrowIndex returns the index of the first arrow token outside brackets,
// or -1.
func arrowIndex(toks []token) int {
	depth := 0
	for i, t := range toks {
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
		if depth == 0 && t.kind == "Arrow" {
			return i
		}
	}
	return -1
}

// isPair reports whether a line is CONN.ENTITY ARROW CONN.ENTITY.
func isPair(toks []token) bool {
	if len(toks) != 7 {
		return false
	}
	return toks[0].kind == "Ident" && toks[1].text == "." && toks[2].kind == "Ident" && toks[3].kind == "Arrow" &&
		toks[4].kind == "Ident" && toks[5].text == "." && toks[6].kind == "Ident"
}

// tight joins tokens with canonical spacing for structural text (names,
// paths, calls): no space around . ( ) [ ] or before : and ,.
func tight(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			prev := toks[i-1].text
			noSpace := t.text == "." || t.text == "(" || t.text == ")" || t.text == "[" || t.text == "]" ||
				t.text == ":" || t.text == "," || prev == "." || prev == "(" || prev == "["
			if !noSpace {
				b.WriteByte(' ')
			}
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// loose joins expression tokens keeping the author's spacing: a run of
// white space becomes one space, no space stays none, and line breaks
// inside brackets are kept with their indentation shifted by shift.
func loose(toks []token, shift func(string) string) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t.space != "" {
			if i := strings.LastIndexByte(t.space, '\n'); i >= 0 {
				// A line break inside brackets: keep one, with the next
				// line's indentation shifted like its statement's.
				b.WriteString("\n")
				b.WriteString(shift(t.space[i+1:]))
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// cells is a rendered line before alignment: head is padded when aligned,
// tail follows it.
type cells struct {
	head, sep, tail string
	align           bool // takes part in its run's alignment
}

func render(lines []*line) []byte {
	var out bytes.Buffer
	rendered := make([]cells, len(lines))
	indents := make([]string, len(lines))
	for i, l := range lines {
		indents[i] = strings.Repeat(indentUnit, l.depth)
		shift := func(s string) string {
			if rest, ok := strings.CutPrefix(s, l.indent); ok {
				return indents[i] + rest
			}
			return s
		}
		rendered[i] = renderLine(l, shift)
	}
	alignRuns(lines, rendered)
	for i, l := range lines {
		// Blank lines: at most one; none after an opener or before a
		// closer; one between top-level blocks.
		blank := min(l.blankBefore, 1)
		if i > 0 && lines[i-1].kind == kOpen {
			blank = 0
		}
		if l.kind == kClose {
			blank = 0
		}
		if i > 0 && l.depth == 0 && l.kind == kOpen && lines[i-1].kind == kClose {
			blank = 1
		}
		if i == 0 {
			blank = 0
		}
		for ; blank > 0; blank-- {
			out.WriteByte('\n')
		}
		c := rendered[i]
		code := c.head + c.sep + c.tail
		text := indents[i] + code
		if l.comment != "" {
			if code == "" {
				text = indents[i] + l.comment
			} else {
				width := lastLineWidth(text)
				pad := max(CommentColumn-width, 2)
				text += strings.Repeat(" ", pad) + l.comment
			}
		}
		out.WriteString(strings.TrimRight(text, " \t\r\f"))
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func lastLineWidth(s string) int {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return len([]rune(s))
}

func renderLine(l *line, shift func(string) string) cells {
	t := l.toks
	switch l.kind {
	case kComment:
		return cells{}
	case kOpen, kClose, kDecl, kPair:
		if l.kind == kPair {
			a := arrowIndex(t)
			return cells{head: tight(t[:a]), sep: " " + t[a].text + " ", tail: tight(t[a+1:])}
		}
		return cells{head: tight(t)}
	case kSetting:
		return cells{head: t[0].text, sep: " = ", tail: tight(t[2:]), align: true}
	case kKeyword:
		kw := t[0].text
		rest := t[1:]
		switch kw {
		case "link":
			a := arrowIndex(rest)
			if a > 0 {
				return cells{head: kw, sep: " ", tail: tight(rest[:a]) + " " + rest[a].text + " " + tight(rest[a+1:]), align: true}
			}
		case "match":
			a := arrowIndex(rest)
			if a > 0 {
				return cells{head: kw, sep: " ", tail: loose(rest[:a], shift) + " " + rest[a].text + " " + loose(rest[a+1:], shift), align: true}
			}
		case "where", "delete":
			if c := colonIndex(rest); c > 0 {
				return cells{head: kw + " " + tight(rest[:c]) + ":", sep: " ", tail: loose(rest[c+1:], shift)}
			}
		}
		return cells{head: kw, sep: " ", tail: loose(rest, shift)}
	case kField:
		e := equalsIndex(t)
		return cells{head: tight(t[:e]), sep: " = ", tail: loose(t[e+1:], shift), align: true}
	case kStep:
		for k, tok := range t {
			if tok.text == "{" {
				return cells{head: tight(t[:k]), sep: " ", tail: loose(t[k:], shift)}
			}
		}
		return cells{head: tight(t)}
	case kMap:
		a := arrowIndex(t)
		return cells{head: loose(t[:a], shift), sep: " " + t[a].text + " ", tail: loose(t[a+1:], shift), align: true}
	}
	return cells{head: loose(t, shift)}
}

// equalsIndex returns the index of the = after a field path (firstname,
// custom.JobTitle, custom["Long Name"]) at the start of toks, or -1.
func equalsIndex(toks []token) int {
	for i, t := range toks {
		switch {
		case t.text == "=":
			return i
		case t.kind == "Ident" || t.kind == "String" || t.text == "." || t.text == "[" || t.text == "]":
			continue
		}
		return -1
	}
	return -1
}

func colonIndex(toks []token) int {
	for i, t := range toks {
		if t.text == ":" {
			return i
		}
		if t.kind != "Ident" && t.text != "." {
			return -1
		}
	}
	return -1
}

// alignRuns pads the heads of aligned lines within runs of consecutive
// lines of one kind and depth.
func alignRuns(lines []*line, rendered []cells) {
	i := 0
	for i < len(lines) {
		j := i + 1
		for j < len(lines) && lines[j].kind == lines[i].kind && lines[j].depth == lines[i].depth && lines[j].blankBefore == 0 {
			j++
		}
		if rendered[i].align {
			switch lines[i].kind {
			case kMap:
				alignMaps(rendered[i:j])
			case kKeyword:
				alignKeywords(lines[i:j], rendered[i:j])
			default:
				pad(rendered[i:j])
			}
		}
		i = j
	}
}

func pad(run []cells) {
	width := 0
	for _, c := range run {
		if !strings.Contains(c.head, "\n") {
			width = max(width, len([]rune(c.head)))
		}
	}
	for k := range run {
		if !strings.Contains(run[k].head, "\n") {
			run[k].head += strings.Repeat(" ", width-len([]rune(run[k].head)))
		}
	}
}

// alignKeywords pads link and match keywords of consecutive identity lines.
func alignKeywords(lines []*line, run []cells) {
	start := -1
	for k := 0; k <= len(run); k++ {
		ok := k < len(run) && run[k].align
		if ok && start < 0 {
			start = k
		}
		if !ok && start >= 0 {
			pad(run[start:k])
			start = -1
		}
	}
}

// alignMaps aligns arrows with go/printer's heuristic (exprList in
// go/printer/nodes.go): key sizes up to smallSize always align; otherwise a
// size whose ratio to the geometric mean of the run so far is 2.5 or more
// (or 1/2.5 or less) starts a new run. Multi-line left sides never align.
func alignMaps(run []cells) {
	const smallSize = 40
	const r = 2.5
	start := 0
	lnsum, count := 0.0, 0
	prevSize := 0
	for k := 0; k < len(run); k++ {
		size := len([]rune(run[k].head))
		if strings.Contains(run[k].head, "\n") || strings.Contains(run[k].tail, "\n") {
			size = 0
		}
		breakHere := k > 0
		if prevSize > 0 && size > 0 {
			if count == 0 || (prevSize <= smallSize && size <= smallSize) {
				breakHere = false
			} else {
				geomean := math.Exp(lnsum / float64(count))
				ratio := float64(size) / geomean
				breakHere = r*ratio <= 1 || r <= ratio
			}
		}
		if breakHere {
			pad(run[start:k])
			start, lnsum, count = k, 0, 0
		}
		if size > 0 {
			lnsum += math.Log(float64(size))
			count++
		}
		prevSize = size
	}
	pad(run[start:])
}

// Check reports whether src is formatted.
func Check(name string, src []byte) (bool, diag.Diagnostics) {
	out, diags := Source(name, src)
	if diags.HasErrors() {
		return false, diags
	}
	return bytes.Equal(out, src), nil
}
