package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// batchError is one failed item of a v2 batch: the spec lists only
// unsuccessful results ("List of any unsuccessful result"), create items by
// index, update and delete items by their query.
type batchError struct {
	Errors []batchMessage `json:"errors"`
	Status int            `json:"status"`
	Index  *int           `json:"index,omitempty"`
	Query  *personQuery   `json:"query,omitempty"`
}

type batchMessage struct {
	Message string `json:"message"`
}

type batchResponse struct {
	Results []batchError `json:"results"`
}

func newBatchError(f *failure) batchError {
	be := batchError{Status: f.itemStatus()}
	for _, m := range f.messages() {
		be.Errors = append(be.Errors, batchMessage{m})
	}
	return be
}

// writeBatch answers 200 when every item succeeded and 207 when some failed
// (the spec documents the same body under both without saying when each is
// used; reference §3.5 finds this the plausible reading).
func writeBatch(w http.ResponseWriter, results []batchError) {
	status := http.StatusOK
	if len(results) > 0 {
		status = http.StatusMultiStatus
	}
	if results == nil {
		results = []batchError{}
	}
	writeJSON(w, status, batchResponse{Results: results})
}

// readPeople decodes {"people": [...]} with at most 1000 entries.
func readPeople(w http.ResponseWriter, r *http.Request) ([]json.RawMessage, bool) {
	raw, err := readBody(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest)
		return nil, false
	}
	var body struct {
		People []json.RawMessage `json:"people"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		badRequest(w, []fieldError{{"", "body must be {\"people\": [...]}"}})
		return nil, false
	}
	if len(body.People) > maxBatch {
		badRequest(w, []fieldError{{"people", fmt.Sprintf("size must be between 0 and %d", maxBatch)}})
		return nil, false
	}
	return body.People, true
}

// batchCreate is POST /people/2/persons/batch. Successful creates are not
// reported (the result has no id): clients find the new ids by their
// identifiers.
func (e *Emulator) batchCreate(w http.ResponseWriter, r *http.Request, _ []string) {
	people, ok := readPeople(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refuseBatch(w, people, func(raw json.RawMessage) json.RawMessage { return raw }) {
		return
	}
	var results []batchError
	for i, raw := range people {
		if _, f := e.save(nil, raw, modeCreate); f != nil {
			be := newBatchError(f)
			be.Index = &i
			results = append(results, be)
		}
	}
	writeBatch(w, results)
}

// refuseBatch answers 400 for the whole batch when RefuseBadBatches is set
// and a person of it (body picks it out of an entry; nil: none) does not
// decode or validate, and reports whether it did. The answer names the
// fields, not the entry.
func (e *Emulator) refuseBatch(w http.ResponseWriter, people []json.RawMessage, body func(json.RawMessage) json.RawMessage) bool {
	if !e.opts.RefuseBadBatches {
		return false
	}
	for _, raw := range people {
		p := body(raw)
		if p == nil {
			continue
		}
		in, errs := decodePerson(p)
		if errs = append(errs, e.validate(in)...); len(errs) > 0 {
			badRequest(w, errs)
			return true
		}
	}
	return false
}

// batchUpdate is PATCH /people/2/persons/batch: {"people":[{"query":
// {...}, "update": IamPersonV2}]}, with PATCH semantics.
func (e *Emulator) batchUpdate(w http.ResponseWriter, r *http.Request, _ []string) {
	people, ok := readPeople(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refuseBatch(w, people, func(raw json.RawMessage) json.RawMessage {
		var item struct {
			Update json.RawMessage `json:"update"`
		}
		if json.Unmarshal(raw, &item) != nil || len(item.Update) == 0 {
			return nil
		}
		return item.Update
	}) {
		return
	}
	var results []batchError
	for _, raw := range people {
		var item struct {
			Query  *personQuery    `json:"query"`
			Update json.RawMessage `json:"update"`
		}
		var f *failure
		if err := json.Unmarshal(raw, &item); err != nil || item.Query == nil {
			f = &failure{fields: []fieldError{{"query", "must not be null"}}}
		} else if len(item.Update) == 0 || isNull(item.Update) {
			f = &failure{fields: []fieldError{{"update", "must not be null"}}}
		} else {
			var cur *person
			if cur, f = e.find(item.Query.Type, item.Query.Identifier, item.Query.Sender); f == nil {
				_, f = e.save(cur, item.Update, modePatch)
			}
		}
		if f != nil {
			be := newBatchError(f)
			be.Query = item.Query
			results = append(results, be)
		}
	}
	writeBatch(w, results)
}

// batchDelete is DELETE /people/2/persons/batch: {"people":[{"query":
// {...}}]}.
func (e *Emulator) batchDelete(w http.ResponseWriter, r *http.Request, _ []string) {
	people, ok := readPeople(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	writeBatch(w, e.eachQueried(people, func(p *person) *failure {
		e.remove(p)
		return nil
	}))
}

// eachQueried applies do to the person each entry of a batch addresses by
// its "query" ({"people":[{"query":{...}}]}) and returns the failures by
// query: a missing query, nobody matching it, or what do failed with. The
// caller holds e.mu.
func (e *Emulator) eachQueried(people []json.RawMessage, do func(p *person) *failure) []batchError {
	var results []batchError
	for _, raw := range people {
		var item struct {
			Query *personQuery `json:"query"`
		}
		var f *failure
		if err := json.Unmarshal(raw, &item); err != nil || item.Query == nil {
			f = &failure{fields: []fieldError{{"query", "must not be null"}}}
		} else {
			var p *person
			if p, f = e.find(item.Query.Type, item.Query.Identifier, item.Query.Sender); f == nil {
				f = do(p)
			}
		}
		if f != nil {
			be := newBatchError(f)
			be.Query = item.Query
			results = append(results, be)
		}
	}
	return results
}

type matchJSON struct {
	Type       string `json:"type"`
	Identifier string `json:"identifier"`
	Sender     string `json:"sender,omitempty"`
	PersonID   int64  `json:"personId"`
}

// match is POST /people/2/persons/match: the person id of each identity
// that matches one; duplicate identities give one reference. The spec
// documents a 404 with an empty object; the emulator sends it when no
// identity matches (the only case a 404 can mean on this path). The spec
// states no maximum number of identities; the emulator takes the batch
// limit of 1000 (UNCERTAIN).
func (e *Emulator) match(w http.ResponseWriter, r *http.Request, _ []string) {
	raw, err := readBody(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest)
		return
	}
	var body struct {
		Identities []personQuery `json:"identities"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Identities == nil {
		badRequest(w, []fieldError{{"identities", "must not be null"}})
		return
	}
	if len(body.Identities) > maxBatch {
		badRequest(w, []fieldError{{"identities", fmt.Sprintf("size must be between 1 and %d", maxBatch)}})
		return
	}
	for i, id := range body.Identities {
		if id.Type == "" || id.Identifier == "" {
			badRequest(w, []fieldError{{fmt.Sprintf("identities[%d]", i), "type and identifier are required"}})
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := struct {
		Matches []matchJSON `json:"matches"`
	}{Matches: []matchJSON{}}
	seen := map[string]bool{}
	for _, id := range body.Identities {
		key := id.Type + "\x00" + id.Identifier + "\x00" + id.Sender
		if id.Type == "EMAIL" {
			key = strings.ToLower(key)
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		p, f := e.find(id.Type, id.Identifier, id.Sender)
		if f != nil && !f.notFound {
			writeFailure(w, f)
			return
		}
		if p != nil {
			out.Matches = append(out.Matches, matchJSON{Type: id.Type, Identifier: id.Identifier, Sender: id.Sender, PersonID: p.ID})
		}
	}
	if len(out.Matches) == 0 {
		writeJSON(w, http.StatusNotFound, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, out)
}
