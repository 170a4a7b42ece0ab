package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// This file implements the part of OData $filter the emulator understands:
// comparisons (eq ne gt ge lt le) between columns and literals, and or not,
// parentheses, contains/startswith/endswith with SQL LIKE wildcards, and the
// query functions Microsoft.Dynamics.CRM.In / NotIn / Between / NotBetween,
// with parameter aliases (@p1). String comparisons are case-insensitive and
// ignore trailing spaces, as SQL Server's default collation does (reference
// §4). Query functions it does not know are rejected with 501 and a message
// naming the emulator, rather than silently answered wrongly.

// queryError is a syntax error in a query option. UNCERTAIN (reference §5):
// the service's code for OData syntax errors is not documented; 0x80060888
// is the code a public Dataverse simulator uses, the analogue the reference
// recommends.
func queryError(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codeQuerySyntax, format, args...)
}

type litKind int

const (
	kNull litKind = iota
	kString
	kInt
	kFloat
	kBool
	kGUID
	kDate
	kDateTime
)

type literal struct {
	kind litKind
	s    string
	i    int64
	f    float64
	b    bool
	t    time.Time
}

func (l literal) edm() string {
	switch l.kind {
	case kString:
		return "Edm.String"
	case kInt:
		return "Edm.Int32"
	case kFloat:
		return "Edm.Decimal"
	case kBool:
		return "Edm.Boolean"
	case kGUID:
		return "Edm.Guid"
	case kDate:
		return "Edm.Date"
	case kDateTime:
		return "Edm.DateTimeOffset"
	}
	return "null"
}

// colGetter returns a row's value of a column.
type colGetter func(name string) any

// pred is a compiled filter.
type pred func(get colGetter) bool

// schemaOf resolves property names during compilation.
type schemaOf interface {
	column(name string) (*column, bool)
	typeName() string
}

type tableSchema struct{ *tableDef }

func (t tableSchema) column(name string) (*column, bool) { return t.col(name) }

type token struct {
	text string
	pos  int // 0-based offset in the filter text
	str  bool
	json bool // a double-quoted JSON string (inside an array literal)
}

type filterParser struct {
	src     string
	toks    []token
	i       int
	sch     schemaOf
	aliases map[string]string
}

// compileFilter parses a $filter against a schema.
func compileFilter(src string, sch schemaOf, aliases map[string]string) (pred, *apiError) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: src, toks: toks, sch: sch, aliases: aliases}
	if len(toks) == 0 {
		return nil, queryError("Expression expected at position 0 in '%s'.", src)
	}
	pr, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, queryError("Syntax error at position %d in '%s'.", p.toks[p.i].pos+len(p.toks[p.i].text), src)
	}
	return pr, nil
}

// scanQuoted reads the OData string literal that starts with the quote at
// src[i] (” inside it is one '), and returns its text, the index after
// its closing quote, and whether it was closed at all.
func scanQuoted(src string, i int) (text string, next int, closed bool) {
	var b strings.Builder
	for i++; i < len(src); i++ {
		if src[i] != '\'' {
			b.WriteByte(src[i])
			continue
		}
		if i+1 < len(src) && src[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return b.String(), i, false
}

func lexFilter(src string) ([]token, *apiError) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '\'':
			start := i
			text, next, closed := scanQuoted(src, i)
			if !closed {
				return nil, queryError("There is an unterminated literal at position %d in '%s'.", start, src)
			}
			i = next
			toks = append(toks, token{text: text, pos: start, str: true})
		case c == '"':
			start := i
			i++
			esc := false
			for i < len(src) && (esc || src[i] != '"') {
				esc = !esc && src[i] == '\\'
				i++
			}
			if i >= len(src) {
				return nil, queryError("There is an unterminated literal at position %d in '%s'.", start, src)
			}
			i++
			var s string
			if err := json.Unmarshal([]byte(src[start:i]), &s); err != nil {
				return nil, queryError("Syntax error at position %d in '%s'.", start, src)
			}
			toks = append(toks, token{text: s, pos: start, str: true, json: true})
		case strings.IndexByte("(),[]=", c) >= 0:
			toks = append(toks, token{text: string(c), pos: i})
			i++
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n'\"(),[]=", rune(src[i])) {
				i++
			}
			toks = append(toks, token{text: src[start:i], pos: start})
		}
	}
	return toks, nil
}

func (p *filterParser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *filterParser) word(w string) bool {
	t, ok := p.peek()
	if ok && !t.str && t.text == w {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) expect(w string) *apiError {
	if p.word(w) {
		return nil
	}
	return p.syntax()
}

func (p *filterParser) syntax() *apiError {
	pos := len(p.src)
	if t, ok := p.peek(); ok {
		pos = t.pos
	}
	return queryError("Syntax error at position %d in '%s'.", pos, p.src)
}

func (p *filterParser) or() (pred, *apiError) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.word("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(g colGetter) bool { return a(g) || b(g) }
	}
	return l, nil
}

func (p *filterParser) and() (pred, *apiError) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.word("and") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(g colGetter) bool { return a(g) && b(g) }
	}
	return l, nil
}

func (p *filterParser) not() (pred, *apiError) {
	if p.word("not") {
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(g colGetter) bool { return !x(g) }, nil
	}
	return p.primary()
}

// operand is a column reference or a literal.
type operand struct {
	col *column
	lit literal
}

func (p *filterParser) primary() (pred, *apiError) {
	t, ok := p.peek()
	if !ok {
		return nil, p.syntax()
	}
	if !t.str && t.text == "(" {
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return x, nil
	}
	if !t.str && p.i+1 < len(p.toks) && p.toks[p.i+1].text == "(" && !p.toks[p.i+1].str {
		return p.function()
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	opTok, ok := p.peek()
	if !ok || opTok.str {
		return nil, p.syntax()
	}
	op := opTok.text
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return nil, p.syntax()
	}
	p.i++
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	return p.comparison(left, op, right)
}

func (p *filterParser) operand() (operand, *apiError) {
	t, ok := p.peek()
	if !ok {
		return operand{}, p.syntax()
	}
	p.i++
	if t.str {
		return operand{lit: literal{kind: kString, s: t.text}}, nil
	}
	if strings.HasPrefix(t.text, "@") {
		v, ok := p.aliases[t.text]
		if !ok {
			return operand{}, queryError("The parameter alias '%s' was not found in the request.", t.text)
		}
		sub, err := lexFilter(v)
		if err != nil || len(sub) != 1 {
			return operand{}, queryError("The value of parameter alias '%s' is not a literal.", t.text)
		}
		if sub[0].str {
			return operand{lit: literal{kind: kString, s: sub[0].text}}, nil
		}
		t = sub[0]
	}
	if l, ok := parseLiteral(t.text); ok {
		return operand{lit: l}, nil
	}
	if isIdent(t.text) {
		c, ok := p.sch.column(t.text)
		if !ok {
			return operand{}, errf(http.StatusBadRequest, codeNone, "Could not find a property named '%s' on type '%s'.", t.text, p.sch.typeName())
		}
		return operand{col: c}, nil
	}
	if strings.Contains(t.text, "/") {
		return operand{}, queryError("The emulator does not support lookup paths in $filter ('%s').", t.text)
	}
	return operand{}, queryError("Syntax error at position %d in '%s'.", t.pos, p.src)
}

var (
	identRx    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dateRx     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	dateTimeRx = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$`)
	numberRx   = regexp.MustCompile(`^-?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDfFlL]?$`)
)

func isIdent(s string) bool { return identRx.MatchString(s) }

func parseLiteral(s string) (literal, bool) {
	switch s {
	case "null":
		return literal{kind: kNull}, true
	case "true":
		return literal{kind: kBool, b: true}, true
	case "false":
		return literal{kind: kBool}, true
	}
	if wire.IsGUID(s) {
		return literal{kind: kGUID, s: strings.ToLower(s)}, true
	}
	if dateRx.MatchString(s) {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return literal{kind: kDate, t: t}, true
		}
	}
	if dateTimeRx.MatchString(s) {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return literal{kind: kDateTime, t: t.UTC()}, true
			}
		}
	}
	if numberRx.MatchString(s) {
		n := strings.TrimRight(s, "mMdDfFlL")
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return literal{kind: kInt, i: i, f: float64(i)}, true
		}
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			return literal{kind: kFloat, f: f}, true
		}
	}
	return literal{}, false
}

var opKind = map[string]string{"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan", "le": "LessThanOrEqual"}

// compatible reports whether a column can be compared with a literal.
func compatible(c *column, l literal) bool {
	if l.kind == kNull {
		return true
	}
	switch c.edmType() {
	case "Edm.String":
		return l.kind == kString
	case "Edm.Guid":
		return l.kind == kGUID
	case "Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double":
		return l.kind == kInt || l.kind == kFloat
	case "Edm.Boolean":
		return l.kind == kBool
	case "Edm.Date", "Edm.DateTimeOffset":
		return l.kind == kDate || l.kind == kDateTime
	}
	return false
}

func (p *filterParser) comparison(left operand, op string, right operand) (pred, *apiError) {
	incompatible := func(a, b string) *apiError {
		return queryError("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", a, b, opKind[op])
	}
	switch {
	case left.col != nil && right.col != nil:
		if left.col.edmType() != right.col.edmType() {
			return nil, incompatible(left.col.edmType(), right.col.edmType())
		}
		a, b := left.col.name, right.col.name
		return func(g colGetter) bool { return compareValues(g(a), g(b), op) }, nil
	case left.col != nil:
		if !compatible(left.col, right.lit) {
			return nil, incompatible(left.col.edmType(), right.lit.edm())
		}
		name, lit := left.col.name, right.lit
		return func(g colGetter) bool { return compareLiteral(g(name), lit, op) }, nil
	case right.col != nil:
		if !compatible(right.col, left.lit) {
			return nil, incompatible(left.lit.edm(), right.col.edmType())
		}
		name, lit := right.col.name, left.lit
		flip := map[string]string{"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}[op]
		return func(g colGetter) bool { return compareLiteral(g(name), lit, flip) }, nil
	default:
		// literal op literal: constant.
		v := compareLiteral(litValue(left.lit), right.lit, op)
		return func(colGetter) bool { return v }, nil
	}
}

func litValue(l literal) any {
	switch l.kind {
	case kString, kGUID:
		return l.s
	case kInt:
		return l.i
	case kFloat:
		return l.f
	case kBool:
		return l.b
	case kDate, kDateTime:
		return l.t
	}
	return nil
}

func compareLiteral(v any, l literal, op string) bool {
	if l.kind == kNull {
		switch op {
		case "eq":
			return v == nil
		case "ne":
			return v != nil
		}
		return false
	}
	return compareValues(v, litValue(l), op)
}

// compareValues compares two non-literal values; a null on either side
// makes every comparison false, as in SQL.
func compareValues(a, b any, op string) bool {
	if a == nil || b == nil {
		return false
	}
	c, ok := cmp(a, b)
	if !ok {
		return false
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

func cmp(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(collate(x), collate(y)), true
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	case time.Time:
		y, ok := b.(time.Time)
		if !ok {
			return 0, false
		}
		return x.Compare(y), true
	}
	fa, ok1 := toFloat(a)
	fb, ok2 := toFloat(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	switch {
	case fa < fb:
		return -1, true
	case fa > fb:
		return 1, true
	}
	return 0, true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// collate is the comparison form of a string under SQL Server's default
// collation: case-insensitive, trailing spaces ignored.
func collate(s string) string { return strings.ToLower(strings.TrimRight(s, " ")) }

// collatedSet returns the collated values when every value is a string;
// a string row value equals one of them (compareValues "eq") exactly when
// its collated form is in the set.
func collatedSet(vals []any) (map[string]bool, bool) {
	set := make(map[string]bool, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		set[collate(s)] = true
	}
	return set, true
}

func (p *filterParser) function() (pred, *apiError) {
	name := p.toks[p.i].text
	p.i += 2 // name and "("
	switch name {
	case "contains", "startswith", "endswith":
		arg, err := p.operand()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		val, err := p.operand()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if arg.col == nil || val.col != nil || val.lit.kind != kString || arg.col.edmType() != "Edm.String" {
			return nil, queryError("No function signature for the function with name '%s' matches the specified arguments. The function signatures considered are: %s(Edm.String Nullable=true, Edm.String Nullable=true).", name, name)
		}
		pattern := val.lit.s
		switch name {
		case "contains":
			pattern = "%" + pattern + "%"
		case "startswith":
			pattern += "%"
		case "endswith":
			pattern = "%" + pattern
		}
		rx := likeRegexp(pattern)
		col := arg.col.name
		return func(g colGetter) bool {
			s, ok := g(col).(string)
			return ok && rx.MatchString(s)
		}, nil
	case "Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn", "Microsoft.Dynamics.CRM.Between", "Microsoft.Dynamics.CRM.NotBetween":
		return p.queryFunction(name)
	}
	if strings.HasPrefix(name, "Microsoft.Dynamics.CRM.") {
		return nil, errf(http.StatusNotImplemented, codeNotImplemented, "The emulator does not implement the query function '%s'.", name)
	}
	return nil, queryError("An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.", name)
}

// queryFunction parses Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=["a","b"])
// and its relatives. PropertyValues is a JSON array (reference §4: "For
// array parameters use double quotes").
func (p *filterParser) queryFunction(name string) (pred, *apiError) {
	params := map[string][]literal{}
	var prop string
	for {
		t, ok := p.peek()
		if !ok {
			return nil, p.syntax()
		}
		if t.text == ")" && !t.str {
			p.i++
			break
		}
		if t.str {
			return nil, p.syntax()
		}
		p.i++
		if err := p.expect("="); err != nil {
			return nil, err
		}
		switch t.text {
		case "PropertyName":
			v, ok := p.peek()
			if ok && !v.str && strings.HasPrefix(v.text, "@") {
				s, found := p.aliases[v.text]
				if !found {
					return nil, queryError("The parameter alias '%s' was not found in the request.", v.text)
				}
				v = token{text: strings.Trim(s, "'"), str: true}
			}
			if !ok || !v.str {
				return nil, p.syntax()
			}
			p.i++
			prop = v.text
		case "PropertyValues":
			vals, err := p.array()
			if err != nil {
				return nil, err
			}
			params[t.text] = vals
		default:
			return nil, queryError("The parameter '%s' is not valid for function '%s'.", t.text, name)
		}
		if p.word(",") {
			continue
		}
	}
	c, ok := p.sch.column(prop)
	if !ok {
		return nil, errf(http.StatusBadRequest, codeNone, "Could not find a property named '%s' on type '%s'.", prop, p.sch.typeName())
	}
	raw, ok := params["PropertyValues"]
	if !ok || len(raw) == 0 {
		return nil, errf(http.StatusBadRequest, codeInvalidArgument, "The function '%s' requires the parameter 'PropertyValues'.", name)
	}
	// The values arrive as strings; convert them to the column's type.
	vals := make([]any, 0, len(raw))
	for _, l := range raw {
		v, err := valueForColumn(c, l)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	col := c.name
	switch name {
	case "Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn":
		neg := name == "Microsoft.Dynamics.CRM.NotIn"
		if set, ok := collatedSet(vals); ok {
			// Strings only (ids, names, emails): a set of collated values
			// decides as comparing with each would, without comparing a row
			// with each of hundreds of values (lookups by key send 500).
			return func(g colGetter) bool {
				s, ok := g(col).(string)
				if !ok {
					return false
				}
				return set[collate(s)] != neg
			}, nil
		}
		return func(g colGetter) bool {
			v := g(col)
			if v == nil {
				return false
			}
			for _, w := range vals {
				if compareValues(v, w, "eq") {
					return !neg
				}
			}
			return neg
		}, nil
	default:
		if len(vals) != 2 {
			return nil, errf(http.StatusBadRequest, codeInvalidArgument, "The function '%s' requires two values.", name)
		}
		neg := name == "Microsoft.Dynamics.CRM.NotBetween"
		return func(g colGetter) bool {
			v := g(col)
			if v == nil {
				return false
			}
			in := compareValues(v, vals[0], "ge") && compareValues(v, vals[1], "le")
			return in != neg
		}, nil
	}
}

func (p *filterParser) array() ([]literal, *apiError) {
	t, ok := p.peek()
	if ok && !t.str && strings.HasPrefix(t.text, "@") {
		s, found := p.aliases[t.text]
		if !found {
			return nil, queryError("The parameter alias '%s' was not found in the request.", t.text)
		}
		p.i++
		sub, err := lexFilter(s)
		if err != nil {
			return nil, err
		}
		q := &filterParser{src: s, toks: sub, sch: p.sch}
		return q.array()
	}
	if err := p.expect("["); err != nil {
		return nil, err
	}
	var out []literal
	for {
		t, ok := p.peek()
		if !ok {
			return nil, p.syntax()
		}
		p.i++
		if !t.str && t.text == "]" {
			return out, nil
		}
		if !t.str && t.text == "," {
			continue
		}
		if t.str {
			out = append(out, literal{kind: kString, s: t.text})
			continue
		}
		l, ok := parseLiteral(t.text)
		if !ok {
			return nil, queryError("Syntax error at position %d in '%s'.", t.pos, p.src)
		}
		out = append(out, l)
	}
}

// valueForColumn converts a query-function value (usually a string) to a
// column's stored type.
func valueForColumn(c *column, l literal) (any, *apiError) {
	bad := func() *apiError {
		return queryError("Cannot convert the literal '%v' to the expected type '%s'.", litValue(l), c.edmType())
	}
	s := l.s
	if l.kind != kString {
		if compatible(c, l) {
			return litValue(l), nil
		}
		s = fmt.Sprint(litValue(l))
	}
	switch c.edmType() {
	case "Edm.String":
		return s, nil
	case "Edm.Guid":
		if !wire.IsGUID(s) {
			return nil, bad()
		}
		return strings.ToLower(s), nil
	case "Edm.Int32", "Edm.Int64":
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, bad()
		}
		return i, nil
	case "Edm.Decimal", "Edm.Double":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, bad()
		}
		return f, nil
	case "Edm.Boolean":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, bad()
		}
		return b, nil
	case "Edm.Date", "Edm.DateTimeOffset":
		if l, ok := parseLiteral(s); ok && (l.kind == kDate || l.kind == kDateTime) {
			return l.t, nil
		}
		return nil, bad()
	}
	return s, nil
}

// likeRegexp translates a SQL LIKE pattern (% _ [abc] [^abc]) into a
// case-insensitive regular expression (reference §4: these act as wildcards
// inside string filter values).
func likeRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+1+end]
			neg := strings.HasPrefix(class, "^")
			if neg {
				class = class[1:]
			}
			b.WriteString("[")
			if neg {
				b.WriteString("^")
			}
			for _, r := range class {
				if r == '-' {
					b.WriteRune(r)
				} else {
					b.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			b.WriteString("]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(" *$")
	rx, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile(`^\b$`) // matches nothing
	}
	return rx
}
