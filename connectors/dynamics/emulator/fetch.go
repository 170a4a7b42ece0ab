package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FetchXML queries (GET <entityset>?fetchXml=...), evaluated against the
// store. What is implemented, with the page that documents it
// (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/...):
//
//   - fetch: count, page, paging-cookie (reference/fetch, "Page results"),
//     top, distinct, aggregate, returntotalrecordcount, and the
//     no-effect mapping, version, output-format, no-lock, latematerialize;
//   - entity with attribute (name, alias; aggregate count/countcolumn with
//     distinct, "Aggregate data"), all-attributes, order (attribute or
//     alias, descending), filter (type and/or, nested) with condition
//     (attribute, operator, value, <value> children, entityname), and
//     link-entity (name, from, to, alias, link-type inner/outer, with
//     attribute, all-attributes and filter);
//   - condition operators eq, ne, neq, gt, ge, lt, le, like, not-like,
//     begins-with, not-begin-with, ends-with, not-end-with, in, not-in,
//     between, not-between, null, not-null, on, on-or-before, on-or-after.
//
// Everything else the FetchXML schema allows is refused (invalidFetch):
// answered without, a query would return rows the client did not ask for.
//
// Results follow "Use FetchXML with Web API": properties whose value is
// null are omitted (unlike OData queries), lookups are _<name>_value,
// columns of a link-entity are <alias>.<name>, and with
// Prefer: odata.include-annotations naming Microsoft.Dynamics.CRM.* (or
// "*") the page carries @Microsoft.Dynamics.CRM.fetchxmlpagingcookie and
// @Microsoft.Dynamics.CRM.morerecords ("Page results using FetchXml",
// https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results?tabs=webapi).

type fetchAttr struct {
	col      *column
	key      string // the result property name
	agg      string // "", "count", "countcolumn"
	distinct bool
}

type fetchOrder struct {
	col   *column // nil when ordering by an aggregate alias
	alias string
	desc  bool
}

type fetchLink struct {
	def      *tableDef
	alias    string
	from, to *column // from: in the linked table; to: in the base table
	outer    bool
	attrs    []fetchAttr
	all      bool
	filter   func(r *row) bool
	children int
}

type fetchQuery struct {
	def        *tableDef
	attrs      []fetchAttr
	all        bool
	filter     func(jrow) bool
	orders     []fetchOrder
	links      []*fetchLink
	count      int
	page       int
	cookieLast string // last primary key of the previous page, when the cookie is for page-1
	top        int
	distinct   bool
	aggregate  bool
	totalCount bool
}

// jrow is a base row with the row each link-entity joined (nil for an
// outer join without a match).
type jrow struct {
	base  *row
	links []*row
}

var fetchAttrs = []string{"mapping", "version", "output-format", "count", "page", "paging-cookie", "top", "distinct",
	"aggregate", "returntotalrecordcount", "no-lock", "latematerialize", "useraworderby"}

func fetchNoAttr(d *tableDef, name string) *apiError {
	return errf(http.StatusBadRequest, codeFetchNoAttr, "'%s' entity doesn't contain attribute with Name = '%s' and NameMapping = 'Logical'.", d.logical, name)
}

// fetchCol resolves a FetchXML attribute name (a logical name: lookups are
// "parentcustomerid", never the OData "_parentcustomerid_value").
func fetchCol(d *tableDef, name string) (*column, *apiError) {
	if strings.HasPrefix(name, "_") && strings.HasSuffix(name, "_value") {
		return nil, fetchNoAttr(d, name)
	}
	if c, ok := d.col(name); ok && c.typ != tLookup && c.typ != tOwner {
		return c, nil
	}
	if c, ok := d.col("_" + name + "_value"); ok && (c.typ == tLookup || c.typ == tOwner) {
		return c, nil
	}
	return nil, fetchNoAttr(d, name)
}

// logicalName is the FetchXML name of a column.
func logicalName(c *column) string {
	if c.typ == tLookup || c.typ == tOwner {
		return strings.TrimSuffix(strings.TrimPrefix(c.name, "_"), "_value")
	}
	return c.name
}

func fetchInt(n *xnode, k string, min, max int) (int, bool, *apiError) {
	v, ok := n.attr(k)
	if !ok {
		return 0, false, nil
	}
	i, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || i < min || i > max {
		return 0, false, invalidFetch("The '%s' attribute of <%s> is invalid: '%s' is not an integer from %d to %d.", k, n.name, v, min, max)
	}
	return i, true, nil
}

func fetchBool(n *xnode, k string) (bool, *apiError) {
	v, ok := n.attr(k)
	if !ok {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, invalidFetch("The '%s' attribute of <%s> is invalid: '%s' is not a boolean.", k, n.name, v)
}

var cookieLastRx = regexp.MustCompile(`^<cookie page="(\d+)"[^>]*>\s*<([a-z0-9_]+) last="\{([0-9A-Fa-f-]{36})\}" first="\{[0-9A-Fa-f-]{36}\}"\s*/>\s*</cookie>$`)

// compileFetch checks a parsed FetchXML document against the schema and
// the table the entity set holds.
func (e *Emulator) compileFetch(root *xnode, t *table) (*fetchQuery, *apiError) {
	if root.name != "fetch" {
		return nil, invalidFetch("The root element must be <fetch>, not <%s>.", root.name)
	}
	if err := checkAttrs(root, fetchAttrs, []string{"options", "datasource"}); err != nil {
		return nil, err
	}
	q := &fetchQuery{def: t.def, count: maxPageSize, page: 1}
	var err *apiError
	var hasCount, hasPage, hasTop bool
	if q.count, hasCount, err = fetchInt(root, "count", 1, maxPageSize); err != nil {
		return nil, err
	}
	if !hasCount {
		q.count = maxPageSize
	}
	if q.page, hasPage, err = fetchInt(root, "page", 1, 1<<30); err != nil {
		return nil, err
	}
	if !hasPage {
		q.page = 1
	}
	if q.top, hasTop, err = fetchInt(root, "top", 1, maxPageSize); err != nil {
		return nil, err
	}
	if hasTop && (hasCount || hasPage) {
		// "Page results": don't use top with paging; the service refuses
		// the combination. UNCERTAIN: the exact message.
		return nil, invalidFetch("The 'top' attribute can't be used with the 'count' or 'page' attributes.")
	}
	if q.distinct, err = fetchBool(root, "distinct"); err != nil {
		return nil, err
	}
	if q.aggregate, err = fetchBool(root, "aggregate"); err != nil {
		return nil, err
	}
	if q.totalCount, err = fetchBool(root, "returntotalrecordcount"); err != nil {
		return nil, err
	}
	if q.totalCount && hasTop {
		return nil, invalidFetch("The 'top' attribute can't be used with 'returntotalrecordcount'.")
	}
	if pc, ok := root.attr("paging-cookie"); ok && strings.TrimSpace(pc) != "" {
		// "Page large result sets with FetchXML": a cookie for a page that
		// is not the one before the requested page is ignored.
		if m := cookieLastRx.FindStringSubmatch(strings.TrimSpace(pc)); m != nil && m[2] == t.def.key {
			if p, _ := strconv.Atoi(m[1]); p == q.page-1 {
				q.cookieLast = strings.ToLower(m[3])
			}
		}
	}
	var entity *xnode
	for _, k := range root.kids {
		if k.name != "entity" {
			return nil, invalidFetch("The element 'fetch' has invalid child element '%s'.", k.name)
		}
		if entity != nil {
			return nil, invalidFetch("The element 'fetch' has more than one <entity>.")
		}
		entity = k
	}
	if entity == nil {
		return nil, errf(http.StatusBadRequest, codeFetchNoEntity, "Entity Name was not specified in FetchXml String.")
	}
	if err := checkAttrs(entity, []string{"name"}, []string{"enableprefiltering", "prefilterparametername"}); err != nil {
		return nil, err
	}
	name, _ := entity.attr("name")
	if name == "" {
		return nil, errf(http.StatusBadRequest, codeFetchNoEntity, "Entity Name was not specified in FetchXml String.")
	}
	if name != t.def.logical {
		if _, ok := e.st.tables[name]; !ok {
			return nil, errf(http.StatusBadRequest, codeFetchNoEntity, "The entity with a name = '%s' with namemapping = 'Logical' was not found in the MetadataCache.", name)
		}
		// UNCERTAIN: the message; the service answers the entity set's
		// table only.
		return nil, invalidFetch("The entity name '%s' in the FetchXML does not match the entity set '%s' (table '%s').", name, t.def.set, t.def.logical)
	}
	var filters []*xnode
	for _, k := range entity.kids {
		switch k.name {
		case "attribute":
			a, err := fetchAttribute(t.def, k, "", q.aggregate)
			if err != nil {
				return nil, err
			}
			q.attrs = append(q.attrs, a)
		case "all-attributes":
			if err := checkAttrs(k, nil, nil); err != nil {
				return nil, err
			}
			q.all = true
		case "order":
			o, err := fetchOrderOf(t.def, k, q.aggregate)
			if err != nil {
				return nil, err
			}
			q.orders = append(q.orders, o)
		case "filter":
			filters = append(filters, k)
		case "link-entity":
			l, err := e.fetchLinkOf(t.def, k, len(q.links))
			if err != nil {
				return nil, err
			}
			for _, o := range q.links {
				if o.alias == l.alias {
					return nil, invalidFetch("The link-entity alias '%s' is used more than once.", l.alias)
				}
			}
			q.links = append(q.links, l)
		default:
			return nil, invalidFetch("The element 'entity' has invalid child element '%s'.", k.name)
		}
	}
	if q.all && q.aggregate {
		return nil, invalidFetch("<all-attributes> can't be used in an aggregate query.")
	}
	if q.aggregate {
		if len(q.attrs) == 0 {
			return nil, invalidFetch("An aggregate query needs at least one <attribute> with an 'aggregate' attribute.")
		}
		if len(q.links) > 0 {
			return nil, notImplementedFetch("link-entity in an aggregate query")
		}
	}
	scope := func(entityname string) (*tableDef, int, *apiError) {
		if entityname == "" {
			return t.def, -1, nil
		}
		for i, l := range q.links {
			if l.alias == entityname {
				return l.def, i, nil
			}
		}
		return nil, 0, invalidFetch("The condition's entityname '%s' is not the alias of a link-entity.", entityname)
	}
	var preds []func(jrow) bool
	for _, f := range filters {
		p, err := fetchFilter(f, scope, 0)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	if len(preds) > 0 {
		q.filter = func(j jrow) bool {
			for _, p := range preds {
				if !p(j) {
					return false
				}
			}
			return true
		}
	}
	return q, nil
}

func fetchAttribute(d *tableDef, n *xnode, linkAlias string, aggregate bool) (fetchAttr, *apiError) {
	if err := checkAttrs(n, []string{"name", "alias", "aggregate", "distinct"}, []string{"groupby", "dategrouping", "usertimezone", "rowaggregate", "build"}); err != nil {
		return fetchAttr{}, err
	}
	if len(n.kids) > 0 {
		return fetchAttr{}, invalidFetch("The element 'attribute' cannot have child elements.")
	}
	name, _ := n.attr("name")
	c, err := fetchCol(d, name)
	if err != nil {
		return fetchAttr{}, err
	}
	a := fetchAttr{col: c, key: c.name}
	if linkAlias != "" {
		a.key = linkAlias + "." + logicalName(c)
	}
	if alias, ok := n.attr("alias"); ok {
		if !identRx.MatchString(alias) {
			return fetchAttr{}, invalidFetch("The alias '%s' is not valid.", alias)
		}
		a.key = alias
	}
	agg, hasAgg := n.attr("aggregate")
	if a.distinct, err = fetchBool(n, "distinct"); err != nil {
		return fetchAttr{}, err
	}
	switch {
	case !aggregate && hasAgg:
		return fetchAttr{}, invalidFetch("The 'aggregate' attribute of <attribute> needs aggregate='true' on <fetch>.")
	case aggregate && !hasAgg:
		// "Aggregate data": without groupby (not implemented) every
		// attribute of an aggregate query must aggregate.
		return fetchAttr{}, notImplementedFetch("an attribute without 'aggregate' (groupby) in an aggregate query")
	case aggregate:
		if _, ok := n.attr("alias"); !ok {
			return fetchAttr{}, invalidFetch("An aggregate attribute needs an 'alias'.")
		}
		switch agg {
		case "count", "countcolumn":
			a.agg = agg
		case "sum", "avg", "min", "max":
			return fetchAttr{}, notImplementedFetch("aggregate='" + agg + "'")
		default:
			return fetchAttr{}, invalidFetch("The 'aggregate' attribute value '%s' is invalid.", agg)
		}
	}
	return a, nil
}

func fetchOrderOf(d *tableDef, n *xnode, aggregate bool) (fetchOrder, *apiError) {
	if err := checkAttrs(n, []string{"attribute", "alias", "descending"}, []string{"entityname"}); err != nil {
		return fetchOrder{}, err
	}
	var o fetchOrder
	var err *apiError
	if o.desc, err = fetchBool(n, "descending"); err != nil {
		return o, err
	}
	attr, hasAttr := n.attr("attribute")
	alias, hasAlias := n.attr("alias")
	switch {
	case hasAttr == hasAlias:
		return o, invalidFetch("An <order> needs exactly one of 'attribute' and 'alias'.")
	case hasAlias:
		if !aggregate {
			return o, invalidFetch("An <order> by 'alias' is only valid in an aggregate query.")
		}
		o.alias = alias
	default:
		if aggregate {
			return o, invalidFetch("An aggregate query orders by 'alias', not 'attribute'.")
		}
		c, err := fetchCol(d, attr)
		if err != nil {
			return o, err
		}
		o.col = c
	}
	return o, nil
}

func (e *Emulator) fetchLinkOf(parent *tableDef, n *xnode, index int) (*fetchLink, *apiError) {
	if err := checkAttrs(n, []string{"name", "from", "to", "alias", "link-type", "visible", "intersect"}, nil); err != nil {
		return nil, err
	}
	name, _ := n.attr("name")
	lt, ok := e.st.tables[name]
	if !ok {
		return nil, errf(http.StatusBadRequest, codeFetchNoEntity, "The entity with a name = '%s' with namemapping = 'Logical' was not found in the MetadataCache.", name)
	}
	l := &fetchLink{def: lt.def}
	switch typ, _ := n.attr("link-type"); typ {
	case "", "inner":
	case "outer":
		l.outer = true
	case "any", "not any", "all", "not all", "exists", "in", "matchfirstrowusingcrossapply":
		return nil, notImplementedFetch("link-type='" + typ + "'")
	default:
		return nil, invalidFetch("The 'link-type' attribute value '%s' is invalid.", typ)
	}
	from, okFrom := n.attr("from")
	to, okTo := n.attr("to")
	if !okFrom || !okTo {
		return nil, notImplementedFetch("a link-entity without both 'from' and 'to'")
	}
	var err *apiError
	if l.from, err = fetchCol(lt.def, from); err != nil {
		return nil, err
	}
	if l.to, err = fetchCol(parent, to); err != nil {
		return nil, err
	}
	l.alias, _ = n.attr("alias")
	if l.alias == "" {
		// Without an alias the service names the link <name><n>
		// ("Join tables": e.g. account1). UNCERTAIN: the numbering.
		l.alias = name + strconv.Itoa(index+1)
	} else if !identRx.MatchString(l.alias) {
		return nil, invalidFetch("The alias '%s' is not valid.", l.alias)
	}
	var preds []func(jrow) bool
	scope := func(entityname string) (*tableDef, int, *apiError) {
		if entityname != "" && entityname != l.alias {
			return nil, 0, notImplementedFetch("a condition with entityname inside a link-entity")
		}
		return lt.def, 0, nil
	}
	for _, k := range n.kids {
		switch k.name {
		case "attribute":
			a, err := fetchAttribute(lt.def, k, l.alias, false)
			if err != nil {
				return nil, err
			}
			l.attrs = append(l.attrs, a)
		case "all-attributes":
			l.all = true
		case "filter":
			p, err := fetchFilter(k, scope, 0)
			if err != nil {
				return nil, err
			}
			preds = append(preds, p)
		case "link-entity":
			return nil, notImplementedFetch("nested link-entity")
		case "order":
			return nil, notImplementedFetch("order inside link-entity")
		default:
			return nil, invalidFetch("The element 'link-entity' has invalid child element '%s'.", k.name)
		}
	}
	if len(preds) > 0 {
		l.filter = func(r *row) bool {
			j := jrow{links: []*row{r}}
			for _, p := range preds {
				if !p(j) {
					return false
				}
			}
			return true
		}
	}
	return l, nil
}

type fetchScope func(entityname string) (*tableDef, int, *apiError)

func fetchFilter(n *xnode, scope fetchScope, depth int) (func(jrow) bool, *apiError) {
	if err := checkAttrs(n, []string{"type"}, []string{"isquickfindfields", "overridequickfindrecordlimitenabled", "overridequickfindrecordlimitdisabled", "hint"}); err != nil {
		return nil, err
	}
	or := false
	switch typ, _ := n.attr("type"); typ {
	case "", "and":
	case "or":
		or = true
	default:
		return nil, invalidFetch("The filter 'type' value '%s' is invalid; use 'and' or 'or'.", typ)
	}
	var parts []func(jrow) bool
	for _, k := range n.kids {
		switch k.name {
		case "condition":
			p, err := fetchCondition(k, scope)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "filter":
			p, err := fetchFilter(k, scope, depth+1)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "link-entity":
			return nil, notImplementedFetch("link-entity inside filter")
		default:
			return nil, invalidFetch("The element 'filter' has invalid child element '%s'.", k.name)
		}
	}
	return func(j jrow) bool {
		if len(parts) == 0 {
			return true
		}
		for _, p := range parts {
			if p(j) == or {
				return or
			}
		}
		return !or
	}, nil
}

// condition operators by the number of values they take (-1: one or more).
var fetchOperators = map[string]int{"eq": 1, "ne": 1, "neq": 1, "gt": 1, "ge": 1, "lt": 1, "le": 1,
	"like": 1, "not-like": 1, "begins-with": 1, "not-begin-with": 1, "ends-with": 1, "not-end-with": 1,
	"in": -1, "not-in": -1, "between": 2, "not-between": 2, "null": 0, "not-null": 0,
	"on": 1, "on-or-before": 1, "on-or-after": 1}

// fetchUnimplementedOperators are operators of the schema the emulator
// does not evaluate (mostly relative dates and the hierarchy operators).
var fetchUnimplementedOperators = []string{"yesterday", "today", "tomorrow", "last-seven-days", "next-seven-days",
	"last-week", "this-week", "next-week", "last-month", "this-month", "next-month", "last-year", "this-year",
	"next-year", "last-x-hours", "next-x-hours", "last-x-days", "next-x-days", "last-x-weeks", "next-x-weeks",
	"last-x-months", "next-x-months", "olderthan-x-months", "olderthan-x-years", "olderthan-x-weeks",
	"olderthan-x-days", "olderthan-x-hours", "olderthan-x-minutes", "last-x-years", "next-x-years", "eq-userid",
	"ne-userid", "eq-userteams", "eq-useroruserteams", "eq-useroruserhierarchy", "eq-useroruserhierarchyandteams",
	"eq-businessid", "ne-businessid", "eq-userlanguage", "this-fiscal-year", "this-fiscal-period",
	"next-fiscal-year", "next-fiscal-period", "last-fiscal-year", "last-fiscal-period", "last-x-fiscal-years",
	"last-x-fiscal-periods", "next-x-fiscal-years", "next-x-fiscal-periods", "in-fiscal-year", "in-fiscal-period",
	"in-fiscal-period-and-year", "in-or-before-fiscal-period-and-year", "in-or-after-fiscal-period-and-year",
	"under", "eq-or-under", "not-under", "above", "eq-or-above", "contain-values", "not-contain-values"}

func fetchCondition(n *xnode, scope fetchScope) (func(jrow) bool, *apiError) {
	if err := checkAttrs(n, []string{"attribute", "operator", "value", "entityname", "uiname", "uitype", "uihidden"}, []string{"valueof", "alias", "aggregate", "rowaggregate"}); err != nil {
		return nil, err
	}
	entityname, _ := n.attr("entityname")
	def, idx, err := scope(entityname)
	if err != nil {
		return nil, err
	}
	name, _ := n.attr("attribute")
	c, err := fetchCol(def, name)
	if err != nil {
		return nil, err
	}
	op, _ := n.attr("operator")
	arity, known := fetchOperators[op]
	if !known {
		if has(fetchUnimplementedOperators, op) {
			return nil, notImplementedFetch("the condition operator '" + op + "'")
		}
		return nil, invalidFetch("The 'operator' attribute value '%s' is invalid.", op)
	}
	var raw []string
	if v, ok := n.attr("value"); ok {
		raw = append(raw, v)
	}
	for _, k := range n.kids {
		if k.name != "value" || len(k.kids) > 0 {
			return nil, invalidFetch("The element 'condition' has invalid child element '%s'.", k.name)
		}
		if err := checkAttrs(k, []string{"uiname", "uitype"}, nil); err != nil {
			return nil, err
		}
		raw = append(raw, k.text.String())
	}
	if (arity >= 0 && len(raw) != arity) || (arity < 0 && len(raw) == 0) {
		return nil, errf(http.StatusBadRequest, codeInvalidArgument, "Condition for attribute '%s.%s': the operator '%s' takes %s, but %d were given.", def.logical, name, op, arityText(arity), len(raw))
	}
	vals := make([]any, len(raw))
	for i, s := range raw {
		v, err := fetchValue(def, c, name, op, s)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	get := func(j jrow) any {
		r := j.base
		if idx >= 0 {
			r = j.links[idx]
		}
		if r == nil {
			return nil
		}
		return r.vals[c.name]
	}
	switch op {
	case "null":
		return func(j jrow) bool { return get(j) == nil }, nil
	case "not-null":
		return func(j jrow) bool { return get(j) != nil }, nil
	case "eq", "ne", "neq", "gt", "ge", "lt", "le":
		o := op
		if o == "neq" {
			o = "ne"
		}
		want := vals[0]
		return func(j jrow) bool { return compareValues(get(j), want, o) }, nil
	case "on", "on-or-before", "on-or-after":
		want, ok := want0Time(vals[0])
		if !ok {
			return nil, typeMismatch(def, name, op, c)
		}
		o := map[string]string{"on": "eq", "on-or-before": "le", "on-or-after": "ge"}[op]
		return func(j jrow) bool {
			t, ok := get(j).(time.Time)
			return ok && compareValues(t.UTC().Truncate(24*time.Hour), want, o)
		}, nil
	case "in", "not-in":
		neg := op == "not-in"
		return func(j jrow) bool {
			v := get(j)
			if v == nil {
				return false // SQL: NULL [NOT] IN (...) is not true
			}
			for _, w := range vals {
				if compareValues(v, w, "eq") {
					return !neg
				}
			}
			return neg
		}, nil
	case "between", "not-between":
		neg := op == "not-between"
		lo, hi := vals[0], vals[1]
		return func(j jrow) bool {
			v := get(j)
			if v == nil {
				return false
			}
			in := compareValues(v, lo, "ge") && compareValues(v, hi, "le")
			return in != neg
		}, nil
	}
	// The string operators.
	s, _ := vals[0].(string)
	pattern := s
	switch op {
	case "begins-with", "not-begin-with":
		pattern = s + "%"
	case "ends-with", "not-end-with":
		pattern = "%" + s
	}
	rx := likeRegexp(pattern)
	neg := strings.HasPrefix(op, "not-")
	return func(j jrow) bool {
		v, ok := get(j).(string)
		return ok && rx.MatchString(v) != neg
	}, nil
}

func arityText(n int) string {
	switch n {
	case -1:
		return "one or more values"
	case 0:
		return "no value"
	case 1:
		return "one value"
	}
	return fmt.Sprintf("%d values", n)
}

func want0Time(v any) (time.Time, bool) {
	t, ok := v.(time.Time)
	return t.UTC().Truncate(24 * time.Hour), ok
}

func typeMismatch(d *tableDef, name, op string, c *column) *apiError {
	return errf(http.StatusBadRequest, codeInvalidArgument, "Condition for attribute '%s.%s': the operator '%s' is not valid for a column of type %s.", d.logical, name, op, c.typ)
}

// fetchValue converts a condition value to the column's type. String
// operators (like, begins-with, ...) take text on string columns only.
func fetchValue(d *tableDef, c *column, name, op, s string) (any, *apiError) {
	stringOp := strings.Contains(op, "like") || strings.Contains(op, "begin") || strings.Contains(op, "end-with") || op == "ends-with"
	if stringOp {
		if c.typ != tString && c.typ != tMemo {
			return nil, typeMismatch(d, name, op, c)
		}
		return s, nil
	}
	if (c.typ == tGUID || c.typ == tLookup || c.typ == tOwner) && strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		s = s[1 : len(s)-1]
	}
	if c.typ == tDateTime {
		s = strings.TrimSpace(s)
		// FetchXML dates may be "2024-05-01", "2024-05-01T10:00:00Z" or
		// carry no zone (taken as UTC).
		if len(s) == 19 && strings.Count(s, ":") == 2 {
			s += "Z"
		}
	}
	v, err := valueForColumn(c, literal{kind: kString, s: s})
	if err != nil {
		return nil, errf(http.StatusBadRequest, codeInvalidArgument, "Condition for attribute '%s.%s': expected argument(s) of type '%s' but received '%s'.", d.logical, name, c.edmType(), s)
	}
	if op == "on" || op == "on-or-before" || op == "on-or-after" {
		if _, ok := v.(time.Time); !ok {
			return nil, typeMismatch(d, name, op, c)
		}
	}
	return v, nil
}

// maxJoinedRows bounds the rows a query with link-entities may produce
// before paging (one-to-many links multiply rows).
const maxJoinedRows = 200000

// serveFetch answers GET <entityset>?fetchXml=.
func (e *Emulator) serveFetch(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, src string) *apiError {
	root, err := parseXMLTree(src)
	if err != nil {
		return err
	}
	rc.lock()
	defer rc.unlock()
	q, err := e.compileFetch(root, t)
	if err != nil {
		return err
	}
	rows, err := e.runFetch(q, t)
	if err != nil {
		return err
	}
	ann := rc.prefer.ann
	out := jobj{}
	var sel []string
	if !q.all && !q.aggregate {
		for _, a := range q.attrs {
			sel = append(sel, a.col.name)
		}
		if !has(sel, t.def.key) {
			sel = append(sel, t.def.key)
		}
	}
	out.add("@odata.context", contextURL(rc, t.def, sel, ""))
	if q.aggregate {
		if ann.lookups {
			out.add("@Microsoft.Dynamics.CRM.totalrecordcount", -1)
			out.add("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded", false)
		}
		out.add("value", []jobj{aggregateRow(q, rows)})
		writeFetch(w, rc, out)
		return nil
	}
	total := len(rows)
	if q.top > 0 && len(rows) > q.top {
		rows = rows[:q.top]
	}
	start := 0
	if q.cookieLast != "" && len(q.orders) == 0 && len(q.links) == 0 {
		// Key order, one row per record: the page starts after the
		// cookie's last key, whatever was inserted or deleted before it.
		start = sort.Search(len(rows), func(i int) bool { return rows[i].base.id > q.cookieLast })
	} else {
		start = min(len(rows), (q.page-1)*q.count)
	}
	end := min(len(rows), start+q.count)
	page := rows[start:end]
	more := end < len(rows)
	if ann.lookups {
		if q.totalCount {
			out.add("@Microsoft.Dynamics.CRM.totalrecordcount", min(total, maxPageSize))
			out.add("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded", total > maxPageSize)
		} else {
			out.add("@Microsoft.Dynamics.CRM.totalrecordcount", -1)
			out.add("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded", false)
		}
		if more && len(page) > 0 {
			inner := fmt.Sprintf(`<cookie page="%d"><%s last="{%s}" first="{%s}" /></cookie>`, q.page, t.def.key,
				strings.ToUpper(page[len(page)-1].base.id), strings.ToUpper(page[0].base.id))
			// The inner cookie is URL-encoded twice, as in the documented
			// response ("Page results using FetchXml": pagingcookie="%253ccookie%2520page...").
			out.add("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie", fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="False" />`,
				q.page+1, encodeLower(encodeLower(inner))))
		}
		out.add("@Microsoft.Dynamics.CRM.morerecords", more)
	}
	objs := make([]jobj, 0, len(page))
	for _, j := range page {
		objs = append(objs, fetchRowObj(e.st, q, j, ann))
	}
	out.add("value", objs)
	writeFetch(w, rc, out)
	return nil
}

func writeFetch(w http.ResponseWriter, rc *requestContext, out jobj) {
	if rc.prefer.annRaw != "" {
		w.Header().Add("Preference-Applied", "odata.include-annotations="+rc.prefer.annRaw)
	}
	writeBody(w, http.StatusOK, out)
}

func (e *Emulator) runFetch(q *fetchQuery, t *table) ([]jrow, *apiError) {
	// index each link's matching rows by the joined value
	idx := make([]map[string][]*row, len(q.links))
	for i, l := range q.links {
		m := map[string][]*row{}
		lt := e.st.tables[l.def.logical]
		for _, id := range lt.sortedIDs() {
			r := lt.rows[id]
			v := r.vals[l.from.name]
			if v == nil || (l.filter != nil && !l.filter(r)) {
				continue
			}
			k := joinKey(v)
			m[k] = append(m[k], r)
		}
		idx[i] = m
	}
	var rows []jrow
	for _, id := range t.sortedIDs() {
		base := t.rows[id]
		combos := []jrow{{base: base, links: make([]*row, len(q.links))}}
		for i, l := range q.links {
			var matches []*row
			if v := base.vals[l.to.name]; v != nil {
				matches = idx[i][joinKey(v)]
			}
			if len(matches) == 0 {
				if !l.outer {
					combos = nil
					break
				}
				continue
			}
			var next []jrow
			for _, c := range combos {
				for _, m := range matches {
					links := append([]*row(nil), c.links...)
					links[i] = m
					next = append(next, jrow{base: base, links: links})
				}
			}
			combos = next
		}
		for _, c := range combos {
			if q.filter == nil || q.filter(c) {
				rows = append(rows, c)
			}
		}
		if len(rows) > maxJoinedRows {
			return nil, errf(http.StatusBadRequest, codeInvalidArgument, "The FetchXML query joins more than %d rows; the emulator refuses it.", maxJoinedRows)
		}
	}
	if len(q.orders) > 0 {
		sort.SliceStable(rows, func(a, b int) bool {
			for _, o := range q.orders {
				if c := orderCmp(rows[a].base.vals[o.col.name], rows[b].base.vals[o.col.name], o.desc); c != 0 {
					return c < 0
				}
			}
			return false
		})
	}
	if q.distinct {
		seen := map[string]bool{}
		kept := rows[:0]
		for _, j := range rows {
			k := distinctKey(q, j)
			if !seen[k] {
				seen[k] = true
				kept = append(kept, j)
			}
		}
		rows = kept
	}
	return rows, nil
}

func joinKey(v any) string {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return fmt.Sprint(v)
}

// distinctKey is the selected values of a joined row (distinct compares
// the output columns, not the primary key).
func distinctKey(q *fetchQuery, j jrow) string {
	var b strings.Builder
	cols := q.attrs
	if q.all {
		cols = nil
		for _, c := range q.def.columns {
			cols = append(cols, fetchAttr{col: c})
		}
	}
	for _, a := range cols {
		b.Write(appendJSON(nil, wireValue(a.col, j.base.vals[a.col.name])))
		b.WriteByte(0)
	}
	for i, l := range q.links {
		for _, a := range l.attrs {
			var v any
			if j.links[i] != nil {
				v = j.links[i].vals[a.col.name]
			}
			b.Write(appendJSON(nil, wireValue(a.col, v)))
			b.WriteByte(0)
		}
	}
	return b.String()
}

func aggregateRow(q *fetchQuery, rows []jrow) jobj {
	var o jobj
	for _, a := range q.attrs {
		n := 0
		seen := map[string]bool{}
		for _, j := range rows {
			v := j.base.vals[a.col.name]
			if a.agg == "countcolumn" && v == nil {
				continue
			}
			if a.distinct {
				k := string(appendJSON(nil, wireValue(a.col, v)))
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			n++
		}
		o.add(a.key, n)
	}
	return o
}

// fetchRowObj renders a FetchXML result row: @odata.etag, the selected
// non-null columns (with their annotations), the link-entity columns as
// <alias>.<name>, then the primary key.
func fetchRowObj(s *store, q *fetchQuery, j jrow, ann annotations) jobj {
	var o jobj
	o.add("@odata.etag", etag(j.base))
	keyDone := false
	emit := func(r *row, d *tableDef, a fetchAttr) {
		v := r.vals[a.col.name]
		if v == nil {
			return // FetchXML results omit null values
		}
		addValue(&o, s, a.key, d, a.col, r, ann)
		if r == j.base && a.col.name == d.key && a.key == d.key {
			keyDone = true
		}
	}
	if q.all {
		for _, c := range q.def.columns {
			emit(j.base, q.def, fetchAttr{col: c, key: c.name})
		}
	}
	for _, a := range q.attrs {
		emit(j.base, q.def, a)
	}
	for i, l := range q.links {
		r := j.links[i]
		if r == nil {
			continue
		}
		if l.all {
			for _, c := range l.def.columns {
				emit(r, l.def, fetchAttr{col: c, key: l.alias + "." + logicalName(c)})
			}
		}
		for _, a := range l.attrs {
			emit(r, l.def, a)
		}
	}
	if !keyDone {
		o.add(q.def.key, j.base.id)
	}
	return o
}

// fetchParam returns the fetchXml query option, refusing the system query
// options that cannot be combined with it (they would otherwise be
// silently ignored).
func fetchParam(q url.Values) (string, bool, *apiError) {
	v, ok := q["fetchXml"]
	if !ok {
		return "", false, nil
	}
	if len(v) != 1 {
		return "", true, queryError("The query parameter 'fetchXml' is specified more than once.")
	}
	for k := range q {
		if strings.HasPrefix(k, "$") && k != "$format" {
			return "", true, queryError("The query parameter '%s' can't be combined with 'fetchXml'.", k)
		}
	}
	if strings.TrimSpace(v[0]) == "" {
		return "", true, invalidFetch("The fetchXml parameter is empty.")
	}
	return v[0], true, nil
}
