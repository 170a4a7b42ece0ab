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

// maxPageSize is the service's largest (and default) page (reference §4).
const maxPageSize = 5000

// changeTrackingDays is the default organization.expirechangetrackingindays
// (reference §5: the current doc says 7 days).
const changeTrackingDays = 7

// systemOptions are the query options the emulator knows; other $options
// are rejected.
var systemOptions = map[string]bool{"$select": true, "$filter": true, "$orderby": true, "$top": true, "$count": true,
	"$skiptoken": true, "$deltatoken": true, "$expand": true, "$apply": true, "$skip": true, "$format": true}

type orderKey struct {
	col  *column
	desc bool
}

func (e *Emulator) queryCollection(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table) *apiError {
	q := r.URL.Query()
	if src, ok, err := fetchParam(q); err != nil {
		return err
	} else if ok {
		return e.serveFetch(w, r, rc, t, src)
	}
	aliases := map[string]string{}
	for k, v := range q {
		switch {
		case strings.HasPrefix(k, "@"):
			aliases[k] = v[0]
		case strings.HasPrefix(k, "$") && !systemOptions[k]:
			return queryError("The query parameter '%s' is not supported.", k)
		}
	}
	if _, ok := q["$skip"]; ok {
		// reference §4: "$skip is NOT supported". UNCERTAIN: exact text.
		return queryError("The query parameter $skip is not supported.")
	}
	if _, ok := q["$apply"]; ok {
		return errf(http.StatusNotImplemented, codeNotImplemented, "The emulator does not implement $apply.")
	}
	if f := q.Get("$format"); f != "" && f != "json" && !strings.HasPrefix(f, "application/json") {
		return errf(http.StatusNotAcceptable, "", "The requested format '%s' is not supported; only JSON is.", f)
	}
	sel, err := parseSelect(t.def, q)
	if err != nil {
		return err
	}
	if err := checkExpand(t.def, q); err != nil {
		return err
	}
	pageSize := maxPageSize
	if rc.prefer.maxPageSize > 0 && rc.prefer.maxPageSize < maxPageSize {
		pageSize = rc.prefer.maxPageSize
	}
	tracking := rc.prefer.trackChanges || q.Has("$deltatoken")
	if tracking {
		for _, opt := range []string{"$filter", "$orderby", "$expand", "$top"} {
			if q.Has(opt) {
				// reference §5; the code is UNCERTAIN (see queryError).
				return queryError(`The "%s" query parameter isn't supported when Change Tracking is enabled.`, opt)
			}
		}
		rc.lock()
		enabled := t.def.changeTracking
		rc.unlock()
		if !enabled {
			// reference §5/§8: ChangeTrackingNotEnabledForEntity; the HTTP
			// status is UNCERTAIN, 400 as for other request errors.
			return errf(http.StatusBadRequest, codeCTNotEnabled, "Entity %s isn't enabled for change tracking.", t.def.logical)
		}
	}
	var cookie pagingCookie
	if st := q.Get("$skiptoken"); st != "" {
		c, ok := parseCookie(st)
		if !ok {
			return queryError("The $skiptoken value is not a valid paging cookie.")
		}
		cookie = c
	}
	applied := func() {
		if rc.prefer.maxPageSize > 0 && rc.prefer.maxPageSize <= maxPageSize {
			// A larger page size is ignored, so it is not echoed as applied.
			w.Header().Add("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(rc.prefer.maxPageSize))
		}
		if tracking {
			w.Header().Add("Preference-Applied", "odata.track-changes")
		}
		if rc.prefer.annRaw != "" {
			w.Header().Add("Preference-Applied", "odata.include-annotations="+rc.prefer.annRaw)
		}
	}
	if dt := q.Get("$deltatoken"); dt != "" {
		return e.deltaQuery(w, r, rc, t, sel, dt, cookie, pageSize, applied)
	}

	var pred pred
	if f, ok := q["$filter"]; ok {
		p, err := compileFilter(f[0], tableSchema{t.def}, aliases)
		if err != nil {
			return err
		}
		pred = p
	}
	var order []orderKey
	if ob := q.Get("$orderby"); ob != "" {
		for _, part := range strings.Split(ob, ",") {
			fs := strings.Fields(part)
			if len(fs) == 0 || len(fs) > 2 || (len(fs) == 2 && fs[1] != "asc" && fs[1] != "desc") {
				return queryError("Syntax error at position %d in '%s'.", len(ob), ob)
			}
			c, ok := t.def.col(fs[0])
			if !ok {
				return noProperty(t.def, fs[0])
			}
			order = append(order, orderKey{col: c, desc: len(fs) == 2 && fs[1] == "desc"})
		}
	}
	top := 0
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return queryError("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v)
		}
		top = n
		if rc.prefer.maxPageSize > 0 {
			top = 0 // $top is ignored with odata.maxpagesize (reference §4)
		}
	}

	rc.lock()
	if order == nil && top == 0 && q.Get("$count") != "true" {
		// The default order: page straight from the key-ordered ids.
		out := e.pageByKey(r, rc, t, sel, pred, cookie, pageSize, tracking)
		rc.unlock()
		applied()
		writeBody(w, http.StatusOK, out)
		return nil
	}
	rows := make([]*row, 0, len(t.rows))
	for _, row := range t.rows {
		if pred == nil || pred(func(n string) any { return row.vals[n] }) {
			rows = append(rows, row)
		}
	}
	sortRows(rows, order)
	total := len(rows)
	if top > 0 && len(rows) > top {
		rows = rows[:top]
	}
	start := 0
	version := e.st.version
	if cookie.page > 1 {
		if tracking && cookie.version > 0 {
			version = cookie.version
		}
		if order == nil && cookie.last != "" {
			last := strings.ToLower(cookie.last)
			start = sort.Search(len(rows), func(i int) bool { return rows[i].id > last })
		} else {
			// Paging is evaluated per request (reference §4).
			start = min(len(rows), (cookie.page-1)*pageSize)
		}
	}
	end := min(len(rows), start+pageSize)
	page := rows[start:end]
	objs := make([]jobj, len(page))
	for i, row := range page {
		objs[i] = rowObj(e.st, t.def, row, sel, rc.prefer.ann)
	}
	now := e.opts.Now()
	rc.unlock()

	out := jobj{}
	out.add("@odata.context", contextURL(rc, t.def, sel, ""))
	if q.Get("$count") == "true" {
		out.add("@odata.count", min(total, 5000))
	}
	out.add("value", objs)
	if end < len(rows) {
		pc := pagingCookie{page: cookie.pageOr1() + 1, tracking: tracking, keyName: t.def.key,
			first: page[0].id, last: page[len(page)-1].id}
		if tracking {
			pc.version = version
		}
		out.add("@odata.nextLink", rc.apiRoot()+t.def.set+"?"+withParam(r.URL.RawQuery, "$skiptoken", pc.encode()))
	} else if tracking {
		out.add("@odata.deltaLink", rc.apiRoot()+t.def.set+"?"+withParam(withoutParam(r.URL.RawQuery, "$skiptoken"), "$deltatoken", deltaToken(version, now)))
	}
	applied()
	writeBody(w, http.StatusOK, out)
	return nil
}

// pageByKey serves a page in primary-key order: the rows after the
// cookie's last key that pass the filter, reading one row past the page to
// know whether a nextLink is needed. The mutex is held; the caller writes
// the answer after releasing it.
func (e *Emulator) pageByKey(r *http.Request, rc *requestContext, t *table, sel []string, pred pred, cookie pagingCookie, pageSize int, tracking bool) jobj {
	ids := t.sortedIDs()
	start := 0
	version := e.st.version
	if cookie.page > 1 && cookie.last != "" {
		last := strings.ToLower(cookie.last)
		start = sort.SearchStrings(ids, last)
		if start < len(ids) && ids[start] == last {
			start++
		}
		if tracking && cookie.version > 0 {
			version = cookie.version
		}
	}
	var page []*row
	more := false
	for _, id := range ids[start:] {
		row := t.rows[id]
		if pred != nil && !pred(func(n string) any { return row.vals[n] }) {
			continue
		}
		if len(page) == pageSize {
			more = true
			break
		}
		page = append(page, row)
	}
	objs := make([]jobj, len(page))
	for i, row := range page {
		objs[i] = rowObj(e.st, t.def, row, sel, rc.prefer.ann)
	}
	out := jobj{}
	out.add("@odata.context", contextURL(rc, t.def, sel, ""))
	out.add("value", objs)
	if more {
		pc := pagingCookie{page: cookie.pageOr1() + 1, tracking: tracking, keyName: t.def.key, first: page[0].id, last: page[len(page)-1].id}
		if tracking {
			pc.version = version
		}
		out.add("@odata.nextLink", rc.apiRoot()+t.def.set+"?"+withParam(r.URL.RawQuery, "$skiptoken", pc.encode()))
	} else if tracking {
		out.add("@odata.deltaLink", rc.apiRoot()+t.def.set+"?"+withParam(withoutParam(r.URL.RawQuery, "$skiptoken"), "$deltatoken", deltaToken(version, e.opts.Now())))
	}
	return out
}

// sortRows orders rows by the $orderby keys, then by primary key (the
// service's default order; reference §4).
func sortRows(rows []*row, order []orderKey) {
	sort.Slice(rows, func(i, j int) bool {
		for _, k := range order {
			if c := orderCmp(rows[i].vals[k.col.name], rows[j].vals[k.col.name], k.desc); c != 0 {
				return c < 0
			}
		}
		return rows[i].id < rows[j].id
	})
}

// deltaToken renders "<version>!<MM/dd/yyyy HH:mm:ss>" (reference §5) in
// its URL form.
func deltaToken(version int64, now time.Time) string {
	return encodeLower(fmt.Sprintf("%d!%s", version, now.UTC().Format("01/02/2006 15:04:05")))
}

var deltaTokenRx = regexp.MustCompile(`^(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})$`)

func (e *Emulator) deltaQuery(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, sel []string, token string, cookie pagingCookie, pageSize int, applied func()) *apiError {
	m := deltaTokenRx.FindStringSubmatch(token)
	if m == nil {
		return errf(http.StatusBadRequest, codeExpiredVersion, "Version stamp associated with the client has expired. Please perform a full sync.")
	}
	since, _ := strconv.ParseInt(m[1], 10, 64)
	issued, _ := time.Parse("01/02/2006 15:04:05", m[2])
	rc.lock()
	now := e.opts.Now()
	if since < e.deltaExpiredBelow || now.Sub(issued) > changeTrackingDays*24*time.Hour || since > e.st.version {
		rc.unlock()
		// reference §5: ExpiredVersionStamp. UNCERTAIN: the HTTP status;
		// 400 as for other request errors.
		return errf(http.StatusBadRequest, codeExpiredVersion, "Version stamp associated with the client has expired. Please perform a full sync.")
	}
	upper := e.st.version
	phase, after := "rows", since
	if cookie.page > 1 {
		upper, phase, after = cookie.version, cookie.phase, cookie.lastVersion
	}
	var objs []jobj
	lastVersion := after
	more := false
	if phase == "rows" {
		var changed []*row
		for _, row := range t.rows {
			if row.version > after && row.version <= upper {
				changed = append(changed, row)
			}
		}
		sort.Slice(changed, func(i, j int) bool { return changed[i].version < changed[j].version })
		for _, row := range changed {
			if len(objs) == pageSize {
				more = true
				break
			}
			objs = append(objs, rowObj(e.st, t.def, row, sel, rc.prefer.ann))
			lastVersion = row.version
		}
		if !more {
			phase, lastVersion = "deletes", since
		}
	}
	if phase == "deletes" && !more {
		for _, tb := range t.tombs {
			if tb.version <= lastVersion || tb.version <= since || tb.version > upper {
				continue
			}
			if _, back := t.rows[tb.id]; back {
				continue
			}
			if len(objs) == pageSize {
				more = true
				break
			}
			objs = append(objs, jobj{keys: []string{"@odata.context", "id", "reason"},
				vals: []any{rc.apiRoot() + "$metadata#" + t.def.set + "/$deletedEntity", tb.id, "deleted"}})
			lastVersion = tb.version
		}
	}
	rc.unlock()
	if objs == nil {
		objs = []jobj{}
	}
	out := jobj{}
	out.add("@odata.context", contextURL(rc, t.def, sel, "/$delta"))
	out.add("value", objs)
	if more {
		pc := pagingCookie{page: cookie.pageOr1() + 1, tracking: true, delta: true, version: upper, lastVersion: lastVersion, phase: phase}
		out.add("@odata.nextLink", rc.apiRoot()+t.def.set+"?"+withParam(r.URL.RawQuery, "$skiptoken", pc.encode()))
	} else {
		q := withoutParam(withoutParam(r.URL.RawQuery, "$skiptoken"), "$deltatoken")
		out.add("@odata.deltaLink", rc.apiRoot()+t.def.set+"?"+withParam(q, "$deltatoken", deltaToken(upper, now)))
	}
	applied()
	writeBody(w, http.StatusOK, out)
	return nil
}

// pagingCookie is the $skiptoken of a nextLink (reference §4):
// <cookie pagenumber="2" pagingcookie="<escaped inner cookie>" istracking="False" />
// where the inner cookie holds the first and last primary keys of the page
// as upper-case GUIDs in braces. Change-tracking pages add the emulator's
// own attributes to the inner cookie (the format of delta paging cookies is
// UNCERTAIN, reference §5; the cookie is opaque to clients).
type pagingCookie struct {
	page        int
	tracking    bool
	delta       bool
	keyName     string
	first, last string
	version     int64
	lastVersion int64
	phase       string
}

func (c pagingCookie) pageOr1() int { return max(1, c.page) }

func (c pagingCookie) encode() string {
	var inner string
	if c.delta {
		inner = fmt.Sprintf(`<cookie page="%d" version="%d" lastversion="%d" phase="%s" />`, c.page-1, c.version, c.lastVersion, c.phase)
	} else {
		ver := ""
		if c.tracking {
			ver = fmt.Sprintf(` version="%d"`, c.version)
		}
		inner = fmt.Sprintf(`<cookie page="%d"%s><%s last="{%s}" first="{%s}" /></cookie>`, c.page-1, ver, c.keyName, strings.ToUpper(c.last), strings.ToUpper(c.first))
	}
	tracking := "False"
	if c.tracking {
		tracking = "True"
	}
	outer := fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="%s" />`, c.page, encodeLower(inner), tracking)
	return encodeOuter(outer)
}

var (
	outerRx   = regexp.MustCompile(`^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(True|False)" />$`)
	lastRx    = regexp.MustCompile(` last="\{([0-9A-Fa-f-]{36})\}"`)
	attrRx    = regexp.MustCompile(`([a-z]+)="([^"]*)"`)
	innerHead = regexp.MustCompile(`^<cookie [^>]*>`)
)

func parseCookie(s string) (pagingCookie, bool) {
	m := outerRx.FindStringSubmatch(s)
	if m == nil {
		return pagingCookie{}, false
	}
	page, err := strconv.Atoi(m[1])
	if err != nil || page < 1 {
		return pagingCookie{}, false
	}
	inner, err := url.QueryUnescape(m[2])
	if err != nil {
		return pagingCookie{}, false
	}
	c := pagingCookie{page: page, tracking: m[3] == "True"}
	if l := lastRx.FindStringSubmatch(inner); l != nil {
		c.last = l[1]
	}
	head := innerHead.FindString(inner)
	for _, a := range attrRx.FindAllStringSubmatch(head, -1) {
		switch a[1] {
		case "version":
			c.version, _ = strconv.ParseInt(a[2], 10, 64)
		case "lastversion":
			c.lastVersion, _ = strconv.ParseInt(a[2], 10, 64)
			c.delta = true
		case "phase":
			c.phase = a[2]
		}
	}
	if c.delta && c.phase != "rows" && c.phase != "deletes" {
		return pagingCookie{}, false
	}
	return c, true
}

// encodeLower percent-encodes everything but letters, digits and -_. with
// lower-case hex, as the inner paging cookie and the delta token are.
func encodeLower(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// encodeOuter percent-encodes the outer cookie as the service does in a
// nextLink: upper-case hex, with '=' and '/' left as they are.
func encodeOuter(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~=/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// withoutParam removes a parameter (written as name or %24name) from a raw
// query string, keeping the rest exactly as the client wrote it.
func withoutParam(raw, name string) string {
	if raw == "" {
		return ""
	}
	var keep []string
	for _, p := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		keep = append(keep, p)
	}
	return strings.Join(keep, "&")
}

// withParam appends name=value (value already encoded) to a raw query,
// replacing an earlier value.
func withParam(raw, name, value string) string {
	raw = withoutParam(raw, name)
	if raw == "" {
		return name + "=" + value
	}
	return raw + "&" + name + "=" + value
}

// orderCmp compares two column values for an order clause ($orderby or
// FetchXML's order): nulls first, as SQL Server orders them, and the
// result reversed for a descending order.
func orderCmp(a, b any, desc bool) int {
	c := 0
	switch {
	case a == nil && b == nil:
	case a == nil:
		c = -1
	case b == nil:
		c = 1
	default:
		c, _ = cmp(a, b)
	}
	if desc {
		c = -c
	}
	return c
}
