package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Custom attribute definitions: /people/2/customAttributes.

type attributeList struct {
	CustomAttributes []attributeJSON `json:"customAttributes"`
	Limit            int             `json:"limit"`
	Page             int             `json:"page"`
	OrderBy          string          `json:"orderBy,omitempty"`
	TotalCount       *int            `json:"totalCount,omitempty"`
}

func (e *Emulator) listAttributes(w http.ResponseWriter, r *http.Request, _ []string) {
	lp, errs := parseListParams(r.URL.Query(), []string{"name", "createdAt", "modifiedAt"})
	if len(errs) > 0 {
		badRequest(w, errs)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	all := make([]*attribute, 0, len(e.attrs))
	for _, a := range e.attrs {
		all = append(all, a)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		var ka, kb string
		switch lp.field {
		case "createdAt":
			ka, kb = a.CreatedAt.Format(TimeLayout), b.CreatedAt.Format(TimeLayout)
		case "modifiedAt":
			ka, kb = a.ModifiedAt.Format(TimeLayout), b.ModifiedAt.Format(TimeLayout)
		}
		if ka != kb {
			return (ka < kb) != lp.desc
		}
		return (a.Name < b.Name) != lp.desc
	})
	out := attributeList{CustomAttributes: []attributeJSON{}, Limit: lp.limit, Page: lp.page, OrderBy: lp.orderBy}
	for _, a := range page(all, lp) {
		out.CustomAttributes = append(out.CustomAttributes, a.render())
	}
	if lp.includeTotal {
		n := len(all)
		out.TotalCount = &n
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) createAttribute(w http.ResponseWriter, r *http.Request, _ []string) {
	raw, err := readBody(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest)
		return
	}
	var body struct {
		Name         string            `json:"name"`
		DataType     string            `json:"dataType"`
		ObjectSchema map[string]string `json:"objectSchema"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		badRequest(w, []fieldError{{"", "body must be {\"name\", \"dataType\", \"objectSchema\"}"}})
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, errs := e.defineAttribute(body.Name, body.DataType, body.ObjectSchema); len(errs) > 0 {
		badRequest(w, errs)
		return
	}
	writeJSON(w, http.StatusOK, e.attrs[body.Name].render())
}

// defineAttribute checks and stores a definition. Names are case-sensitive
// and may contain spaces ("Contract Expiry"); the spec forbids {}[] and
// more than 256 characters.
func (e *Emulator) defineAttribute(name, dataType string, schema map[string]string) (*attribute, []fieldError) {
	var errs []fieldError
	switch {
	case strings.TrimSpace(name) == "":
		errs = append(errs, fieldError{"name", "must not be blank"})
	case utf8.RuneCountInString(name) > 256:
		errs = append(errs, fieldError{"name", "size must be between 1 and 256"})
	case strings.ContainsAny(name, "{}[]"):
		errs = append(errs, fieldError{"name", "must not contain any of {}[]"})
	}
	if !slices.Contains(DataTypes, dataType) {
		errs = append(errs, fieldError{"dataType", fmt.Sprintf("%q is not one of %s", dataType, strings.Join(DataTypes, ", "))})
	}
	if dataType == "LIST_OF_OBJECTS" {
		if len(schema) == 0 {
			errs = append(errs, fieldError{"objectSchema", "is required for LIST_OF_OBJECTS"})
		}
		for k, t := range schema {
			if t == "LIST_OF_OBJECTS" || !slices.Contains(DataTypes, t) {
				errs = append(errs, fieldError{"objectSchema." + k, fmt.Sprintf("%q is not a scalar data type", t)})
			}
		}
	} else {
		schema = nil
	}
	if _, dup := e.attrs[name]; dup && len(errs) == 0 {
		// Not documented (UNCERTAIN); a 400 like other validation errors.
		errs = append(errs, fieldError{"name", fmt.Sprintf("custom attribute %q already exists", name)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	now := e.now().UTC().Truncate(time.Second)
	a := &attribute{Name: name, DataType: dataType, ObjectSchema: schema, CreatedAt: now, ModifiedAt: now}
	e.attrs[name] = a
	return a, nil
}

func (e *Emulator) getAttribute(w http.ResponseWriter, _ *http.Request, params []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.attrs[params[0]]
	if !ok {
		writeStatus(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, a.render())
}

// deleteAttribute removes a definition. Values persons have for it are
// kept: whether People drops them is not documented (UNCERTAIN), and keeping
// them produces the case clients must survive, a person whose custom
// attribute is not defined.
func (e *Emulator) deleteAttribute(w http.ResponseWriter, _ *http.Request, params []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.attrs[params[0]]; !ok {
		writeStatus(w, http.StatusNotFound)
		return
	}
	delete(e.attrs, params[0])
	w.WriteHeader(http.StatusOK)
}

// Tags: /people/2/tags.

type tag struct {
	ID         int64
	Name       string
	CreatedAt  time.Time
	ModifiedAt time.Time
}

type tagJSON struct {
	CreatedAt  string `json:"createdAt"`
	ModifiedAt string `json:"modifiedAt"`
	ID         int64  `json:"id"`
	Name       string `json:"name"`
}

func (t *tag) render() tagJSON {
	return tagJSON{CreatedAt: t.CreatedAt.UTC().Format(TimeLayout), ModifiedAt: t.ModifiedAt.UTC().Format(TimeLayout), ID: t.ID, Name: t.Name}
}

// ensureTag creates a tag a person write names. Real code reports that a tag
// must exist before persons carry it (reference §4, a claim only); the
// emulator accepts unknown tags and creates them, rather than be stricter
// than the service on an unconfirmed rule.
func (e *Emulator) ensureTag(name string) {
	if _, ok := e.tags[name]; ok {
		return
	}
	e.nextTag++
	now := e.now().UTC().Truncate(time.Second)
	e.tags[name] = &tag{ID: e.nextTag, Name: name, CreatedAt: now, ModifiedAt: now}
}

// listTags answers {"tags": [...], limit, page, ...}: the spec types the
// list as a bare array, but real clients read the object form (reference
// §4, UNCERTAIN which); the emulator follows the clients.
func (e *Emulator) listTags(w http.ResponseWriter, r *http.Request, _ []string) {
	lp, errs := parseListParams(r.URL.Query(), []string{"name", "createdAt", "modifiedAt"})
	if len(errs) > 0 {
		badRequest(w, errs)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	all := make([]*tag, 0, len(e.tags))
	for _, t := range e.tags {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		ka, kb := a.Name, b.Name
		switch lp.field {
		case "createdAt":
			ka, kb = a.CreatedAt.Format(TimeLayout), b.CreatedAt.Format(TimeLayout)
		case "modifiedAt":
			ka, kb = a.ModifiedAt.Format(TimeLayout), b.ModifiedAt.Format(TimeLayout)
		}
		if ka != kb {
			return (ka < kb) != lp.desc
		}
		return (a.ID < b.ID) != lp.desc
	})
	out := struct {
		Tags       []tagJSON `json:"tags"`
		Limit      int       `json:"limit"`
		Page       int       `json:"page"`
		OrderBy    string    `json:"orderBy,omitempty"`
		TotalCount *int      `json:"totalCount,omitempty"`
	}{Tags: []tagJSON{}, Limit: lp.limit, Page: lp.page, OrderBy: lp.orderBy}
	for _, t := range page(all, lp) {
		out.Tags = append(out.Tags, t.render())
	}
	if lp.includeTotal {
		n := len(all)
		out.TotalCount = &n
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) createTag(w http.ResponseWriter, r *http.Request, _ []string) {
	raw, err := readBody(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest)
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || strings.TrimSpace(body.Name) == "" || utf8.RuneCountInString(body.Name) > maxTagName {
		badRequest(w, []fieldError{{"name", fmt.Sprintf("must have 1 to %d characters", maxTagName)}})
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.tags[body.Name]; dup {
		badRequest(w, []fieldError{{"name", fmt.Sprintf("tag %q already exists", body.Name)}})
		return
	}
	e.ensureTag(body.Name)
	writeJSON(w, http.StatusOK, e.tags[body.Name].render())
}

func (e *Emulator) getTag(w http.ResponseWriter, _ *http.Request, params []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tags[params[0]]
	if !ok {
		writeStatus(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, t.render())
}

// deleteTag removes a tag and takes it off every person who has it.
func (e *Emulator) deleteTag(w http.ResponseWriter, _ *http.Request, params []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name := params[0]
	if _, ok := e.tags[name]; !ok {
		writeStatus(w, http.StatusNotFound)
		return
	}
	for _, p := range e.sortedPersons() {
		if slices.Contains(p.Tags, name) {
			next := p.clone()
			next.Tags = without(next.Tags, []string{name}, false)
			_, _, _ = e.commit(p, next, "API")
		}
	}
	delete(e.tags, name)
	w.WriteHeader(http.StatusOK)
}

// tagPersons is PATCH (add) or DELETE (remove) /people/2/tags/{name}/persons
// with {"people":[{"query":{...}}]}, at most 1000. The response schema is
// not documented; the emulator answers like the v2 batch update: 200, or 207
// listing the failed queries.
func (e *Emulator) tagPersons(add bool) func(http.ResponseWriter, *http.Request, []string) {
	return func(w http.ResponseWriter, r *http.Request, params []string) {
		people, ok := readPeople(w, r)
		if !ok {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		name := params[0]
		if _, ok := e.tags[name]; !ok {
			writeStatus(w, http.StatusNotFound)
			return
		}
		writeBatch(w, e.eachQueried(people, func(p *person) *failure {
			next := p.clone()
			if add {
				next.Tags = appendUnique(next.Tags, []string{name}, false)
			} else {
				next.Tags = without(next.Tags, []string{name}, false)
			}
			_, _, f := e.commit(p, next, "API")
			return f
		}))
	}
}
