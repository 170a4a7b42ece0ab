package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// personQuery is how a request addresses one person (IdentityQuery).
type personQuery struct {
	Type       string `json:"type"`
	Identifier string `json:"identifier"`
	Sender     string `json:"sender,omitempty"`
}

// queryOf reads the person a single-person request addresses: identifier +
// type (+ sender), or the legacy email / phone / externalId parameters real
// clients still send. Old docs: "only one unique identifier should be passed
// … If you send more than one identifier only the first one will be used",
// so the first of them in the query string wins.
func queryOf(r *http.Request) (q personQuery, given bool, f *failure) {
	vals := r.URL.Query()
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		switch k {
		case "identifier":
			q = personQuery{Type: vals.Get("type"), Identifier: vals.Get("identifier"), Sender: vals.Get("sender")}
			if q.Type == "" {
				return q, true, &failure{fields: []fieldError{{"type", "must not be null when identifier is given"}}}
			}
			return q, true, nil
		case "email":
			return personQuery{Type: "EMAIL", Identifier: vals.Get("email")}, true, nil
		case "phone":
			return personQuery{Type: "PHONE", Identifier: vals.Get("phone")}, true, nil
		case "externalId":
			return personQuery{Type: "EXTERNAL_ID", Identifier: vals.Get("externalId")}, true, nil
		}
	}
	return q, false, nil
}

// getPersons is GET /people/2/persons: one person when an identifier is
// given (404 NOT_FOUND when there is none: the spec's analogue on tags and
// custom attributes, reference §3.1), else a page of the list.
func (e *Emulator) getPersons(w http.ResponseWriter, r *http.Request, _ []string) {
	q, given, f := queryOf(r)
	if f != nil {
		writeFailure(w, f)
		return
	}
	if !given {
		e.listPersons(w, r)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, f := e.find(q.Type, q.Identifier, q.Sender)
	if f != nil {
		writeFailure(w, f)
		return
	}
	writeJSON(w, http.StatusOK, p.render())
}

// listJSON is the list envelope. Only "persons" is confirmed by real
// clients; limit, page, orderBy and totalCount follow the sibling list
// endpoints (CustomAttributesResponse, CompaniesResponse), as the reference
// recommends (§3.2, UNCERTAIN). totalCount is sent when includeTotalCount is
// true.
type listJSON struct {
	Persons    []personJSON `json:"persons"`
	Limit      int          `json:"limit"`
	Page       int          `json:"page"`
	OrderBy    string       `json:"orderBy,omitempty"`
	TotalCount *int         `json:"totalCount,omitempty"`
}

// listParams are the paging parameters every list endpoint shares.
type listParams struct {
	limit, page  int
	includeTotal bool
	orderBy      string
	field        string
	desc         bool
}

func parseListParams(vals url.Values, orderFields []string) (listParams, []fieldError) {
	lp := listParams{limit: defaultLimit, page: 1}
	var errs []fieldError
	if s := vals.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageLimit {
			errs = append(errs, fieldError{"limit", "must be a number from 1 to 1000"})
		} else {
			lp.limit = n
		}
	}
	if s := vals.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, fieldError{"page", "must be a number from 1 (pages are 1-based)"})
		} else {
			lp.page = n
		}
	}
	if s := vals.Get("includeTotalCount"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			errs = append(errs, fieldError{"includeTotalCount", "must be true or false"})
		}
		lp.includeTotal = b
	}
	if s := vals.Get("orderBy"); s != "" {
		field, dir, _ := strings.Cut(s, ":")
		ok := false
		for _, f := range orderFields {
			ok = ok || f == field
		}
		switch {
		case !ok:
			errs = append(errs, fieldError{"orderBy", "can order by " + strings.Join(orderFields, ", ") + " only"})
		case dir != "" && dir != "asc" && dir != "desc":
			errs = append(errs, fieldError{"orderBy", "direction must be asc or desc"})
		}
		lp.orderBy, lp.field, lp.desc = s, field, dir == "desc"
	}
	return lp, errs
}

// page returns the items of page lp.page.
func page[T any](items []T, lp listParams) []T {
	start := (lp.page - 1) * lp.limit
	if start >= len(items) || start < 0 {
		return nil
	}
	return items[start:min(start+lp.limit, len(items))]
}

func (e *Emulator) listPersons(w http.ResponseWriter, r *http.Request) {
	vals := r.URL.Query()
	lp, errs := parseListParams(vals, []string{"firstName", "lastName", "createdAt", "modifiedAt"})
	if len(errs) > 0 {
		badRequest(w, errs)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	pred := func(*person) bool { return true }
	var lo, hi *time.Time
	if s := vals.Get("filter"); s != "" {
		var err error
		if pred, err = e.compileFilter(s); err != nil {
			badRequest(w, []fieldError{{"filter", err.Error()}})
			return
		}
		lo, hi = modifiedBounds(s)
	}
	// The persons whose modifiedAt is within the filter's bounds, from the
	// index in modifiedAt order: a client walking down a large list by
	// modifiedAt ranges (as the connector's read does) reads a page without
	// the emulator visiting every person each time.
	cand := e.modifiedIn(lo, hi)
	var pageItems []*person
	total := 0
	if lp.field == "modifiedAt" {
		// cand is in the list order already (ascending; reversed for desc):
		// take the page, and count further only when a total is asked for.
		start, end := (lp.page-1)*lp.limit, lp.page*lp.limit
		for i := range cand {
			p := cand[i]
			if lp.desc {
				p = cand[len(cand)-1-i]
			}
			if !pred(p) {
				continue
			}
			if total >= start && total < end {
				pageItems = append(pageItems, p)
			}
			total++
			if total >= end && !lp.includeTotal {
				break
			}
		}
	} else {
		var matched []*person
		for _, p := range cand {
			if pred(p) {
				matched = append(matched, p)
			}
		}
		total = len(matched)
		// Only the pages up to the one asked for need ordering.
		pageItems = page(firstPersons(matched, lp, lp.page*lp.limit), lp)
	}
	out := listJSON{Persons: []personJSON{}, Limit: lp.limit, Page: lp.page, OrderBy: lp.orderBy}
	for _, p := range pageItems {
		out.Persons = append(out.Persons, p.render())
	}
	if lp.includeTotal {
		out.TotalCount = &total
	}
	writeJSON(w, http.StatusOK, out)
}

// modifiedIn returns the persons whose modifiedAt second is within [lo,
// hi] (nil: unbounded), ascending by modifiedAt and id: a part of the
// index byModified, rebuilt after writes. The caller holds e.mu and must
// not change the slice.
func (e *Emulator) modifiedIn(lo, hi *time.Time) []*person {
	if e.byModified == nil {
		e.byModified = e.sortedPersons()
		sortPersons(e.byModified, listParams{field: "modifiedAt"})
	}
	ps := e.byModified
	sec := func(p *person) time.Time { return p.ModifiedAt.UTC().Truncate(time.Second) }
	i, j := 0, len(ps)
	if lo != nil {
		i = sort.Search(len(ps), func(k int) bool { return !sec(ps[k]).Before(*lo) })
	}
	if hi != nil {
		j = sort.Search(len(ps), func(k int) bool { return sec(ps[k]).After(*hi) })
	}
	if i >= j {
		return nil
	}
	return ps[i:j]
}

// sortPersons orders by the orderBy field, ties (and no orderBy) by id in
// the same direction, so paging is stable while nothing changes.
// Timestamps are stored at second precision, so comparing them is
// comparing what the API shows.
func sortPersons(ps []*person, lp listParams) {
	less := personLess(lp)
	sort.Slice(ps, func(i, j int) bool { return less(ps[i], ps[j]) })
}

// personLess is the list order of sortPersons (a total order: ids differ).
func personLess(lp listParams) func(a, b *person) bool {
	cmp := func(a, b *person) int {
		switch lp.field {
		case "createdAt":
			return a.CreatedAt.Compare(b.CreatedAt)
		case "modifiedAt":
			return a.ModifiedAt.Compare(b.ModifiedAt)
		case "":
			return 0
		}
		return strings.Compare(a.Attrs[lp.field], b.Attrs[lp.field])
	}
	return func(a, b *person) bool {
		if c := cmp(a, b); c != 0 {
			return (c < 0) != lp.desc
		}
		return (a.ID < b.ID) != lp.desc
	}
}

// firstPersons returns the first n persons of ps in the list order,
// ordered (all of ps when it holds no more than n). It keeps the n first
// in a heap whose top is the last of them, so it costs O(len(ps) log n)
// rather than a sort of ps. ps may be reordered.
func firstPersons(ps []*person, lp listParams, n int) []*person {
	if n >= len(ps) {
		sortPersons(ps, lp)
		return ps
	}
	less := personLess(lp)
	h := make([]*person, 0, n)
	// after reports whether h[i] comes after h[j]: the heap's top (h[0])
	// is the last of the persons kept.
	after := func(i, j int) bool { return less(h[j], h[i]) }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && after(r, l) {
				m = r
			}
			if !after(m, i) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for _, p := range ps {
		if len(h) < n {
			h = append(h, p)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !after(i, parent) {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
			continue
		}
		if n > 0 && less(p, h[0]) {
			h[0] = p
			down(0)
		}
	}
	sortPersons(h, lp)
	return h
}

// createPerson is POST /people/2/persons: 200 (not 201) with the new
// person.
func (e *Emulator) createPerson(w http.ResponseWriter, r *http.Request, _ []string) {
	raw, err := readBody(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, f := e.save(nil, raw, modeCreate)
	if f != nil {
		writeFailure(w, f)
		return
	}
	writeJSON(w, http.StatusOK, p.render())
}

// save decodes an IamPersonV2 body, validates it and commits it over cur
// (nil: a new person) with mode's semantics, as every API write of a whole
// person does; invalid fields come back as one failure listing them all.
// The caller holds e.mu.
func (e *Emulator) save(cur *person, raw json.RawMessage, mode writeMode) (*person, *failure) {
	in, errs := decodePerson(raw)
	if errs = append(errs, e.validate(in)...); len(errs) > 0 {
		return nil, &failure{fields: errs}
	}
	p, _, f := e.commit(cur, apply(cur, in, mode), "API")
	return p, f
}

// requireQuery reads the query of a single-person operation (identifier,
// type, sender). When it is missing or malformed, the request is answered
// with the failure and ok is false.
func requireQuery(w http.ResponseWriter, r *http.Request) (q personQuery, ok bool) {
	q, given, f := queryOf(r)
	if f == nil && !given {
		f = &failure{fields: []fieldError{{"identifier", "must not be null"}}}
	}
	if f != nil {
		writeFailure(w, f)
		return q, false
	}
	return q, true
}

// updatePerson is PUT (full overwrite) or PATCH (partial) of one person.
func (e *Emulator) updatePerson(mode writeMode) func(http.ResponseWriter, *http.Request, []string) {
	return func(w http.ResponseWriter, r *http.Request, _ []string) {
		q, ok := requireQuery(w, r)
		if !ok {
			return
		}
		raw, err := readBody(r)
		if err != nil {
			writeStatus(w, http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		cur, f := e.find(q.Type, q.Identifier, q.Sender)
		if f != nil {
			writeFailure(w, f)
			return
		}
		p, f := e.save(cur, raw, mode)
		if f != nil {
			writeFailure(w, f)
			return
		}
		writeJSON(w, http.StatusOK, p.render())
	}
}

// deletePerson is DELETE /people/2/persons: 200 without a body.
func (e *Emulator) deletePerson(w http.ResponseWriter, r *http.Request, _ []string) {
	q, ok := requireQuery(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, f := e.find(q.Type, q.Identifier, q.Sender)
	if f != nil {
		writeFailure(w, f)
		return
	}
	e.remove(p)
	w.WriteHeader(http.StatusOK)
}

// contacts serves /people/2/persons/contactInformation: PUT replaces all of
// the person's emails and phones with those of the request (a list left out
// is cleared), PATCH appends, DELETE removes the listed ones. Each answers
// the person. The body (PersonDestinationRequest) requires
// contactInformation.
func (e *Emulator) contacts(method string) func(http.ResponseWriter, *http.Request, []string) {
	return func(w http.ResponseWriter, r *http.Request, _ []string) {
		q, ok := requireQuery(w, r)
		if !ok {
			return
		}
		raw, err := readBody(r)
		if err != nil {
			writeStatus(w, http.StatusBadRequest)
			return
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(raw, &body); err != nil || body == nil {
			badRequest(w, []fieldError{{"", "body must be a JSON object"}})
			return
		}
		ci, ok := body["contactInformation"]
		if !ok || isNull(ci) {
			badRequest(w, []fieldError{{"contactInformation", "must not be null"}})
			return
		}
		var in input
		errs := decodeContacts(ci, &in)
		e.mu.Lock()
		defer e.mu.Unlock()
		cur, f := e.find(q.Type, q.Identifier, q.Sender)
		if f != nil {
			writeFailure(w, f)
			return
		}
		if method != http.MethodDelete {
			errs = append(errs, e.validate(in)...)
		}
		if len(errs) > 0 {
			badRequest(w, errs)
			return
		}
		next := cur.clone()
		switch method {
		case http.MethodPut:
			next.Emails = appendUnique(nil, in.emails, true)
			next.Phones = appendUnique(nil, in.phones, false)
		case http.MethodPatch:
			next.Emails = appendUnique(next.Emails, in.emails, true)
			next.Phones = appendUnique(next.Phones, in.phones, false)
		case http.MethodDelete:
			next.Emails = without(next.Emails, in.emails, true)
			next.Phones = without(next.Phones, in.phones, false)
		}
		if len(next.Emails) > maxContacts || len(next.Phones) > maxContacts {
			badRequest(w, []fieldError{{"contactInformation", "a person can have at most 100 email addresses and 100 phone numbers"}})
			return
		}
		p, _, f := e.commit(cur, next, "API")
		if f != nil {
			writeFailure(w, f)
			return
		}
		writeJSON(w, http.StatusOK, p.render())
	}
}

// without returns list minus the values of drop.
func without(list, drop []string, fold bool) []string {
	var out []string
	for _, v := range list {
		keep := true
		for _, d := range drop {
			if v == d || (fold && strings.EqualFold(v, d)) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, v)
		}
	}
	return out
}
