package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// v3Error is ErrorResponseV3, the error shape of the /people/3 endpoints
// (they do not use the legacy envelope for 400s).
type v3Error struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Details []v3Detail `json:"details,omitempty"`
	Index   *int       `json:"index,omitempty"`
}

type v3Detail struct {
	Property string `json:"property"`
	Message  string `json:"message"`
}

type upsertResult struct {
	ID     int64  `json:"id"`
	Index  int    `json:"index"`
	Status string `json:"status"` // CREATED, UPDATED, NOT_MODIFIED
}

const (
	codeInvalidPerson = 400100 // "One or more properties of the person are invalid"
	codeMalformed     = 400103 // "Malformed JSON body, wrong syntax"
	codeMissing       = 400104 // "Missing required property 'persons'"
	// codeSize and codeConflict are in the spec's ErrorCodeV3 enum, whose
	// meanings are not documented: the emulator's use of them is a guess
	// (UNCERTAIN).
	codeSize     = 400105
	codeConflict = 409100
)

// upsert is PUT (full) or PATCH (partial) /people/3/persons/upsert: each
// person is matched by externalId, else by its email addresses and phone
// numbers; a match is updated (PUT clears what is left out, PATCH appends
// contacts and tags as v2 PATCH does), no match creates. The answer is
// always 207 with per-index results and errors.
func (e *Emulator) upsert(mode writeMode) func(http.ResponseWriter, *http.Request, []string) {
	return func(w http.ResponseWriter, r *http.Request, _ []string) {
		raw, err := readBody(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, v3Error{Code: codeMalformed, Message: "Malformed JSON body, wrong syntax"})
			return
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(raw, &body); err != nil || body == nil {
			writeJSON(w, http.StatusBadRequest, v3Error{Code: codeMalformed, Message: "Malformed JSON body, wrong syntax"})
			return
		}
		var persons []json.RawMessage
		if p, ok := body["persons"]; !ok || isNull(p) {
			writeJSON(w, http.StatusBadRequest, v3Error{Code: codeMissing, Message: "Missing required property 'persons'",
				Details: []v3Detail{{"persons", "Required, but value is missing"}}})
			return
		} else if err := json.Unmarshal(p, &persons); err != nil {
			writeJSON(w, http.StatusBadRequest, v3Error{Code: codeMalformed, Message: "Malformed JSON body, wrong syntax"})
			return
		}
		if len(persons) < 1 || len(persons) > maxBatch {
			writeJSON(w, http.StatusBadRequest, v3Error{Code: codeSize, Message: fmt.Sprintf("Size of 'persons' must be between 1 and %d", maxBatch),
				Details: []v3Detail{{"persons", fmt.Sprintf("size must be between 1 and %d", maxBatch)}}})
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		out := struct {
			Errors  []v3Error      `json:"errors"`
			Results []upsertResult `json:"results"`
		}{Errors: []v3Error{}, Results: []upsertResult{}}
		for i, raw := range persons {
			res, verr := e.upsertOne(i, raw, mode)
			if verr != nil {
				verr.Index = &i
				out.Errors = append(out.Errors, *verr)
				continue
			}
			out.Results = append(out.Results, res)
		}
		writeJSON(w, http.StatusMultiStatus, out)
	}
}

func (e *Emulator) upsertOne(i int, raw json.RawMessage, mode writeMode) (upsertResult, *v3Error) {
	invalid := func(details []v3Detail) *v3Error {
		return &v3Error{Code: codeInvalidPerson, Message: "One or more properties of the person are invalid", Details: details}
	}
	prop := func(p string) string { return fmt.Sprintf("persons[%d].%s", i, p) }
	var obj map[string]json.RawMessage
	if err := unmarshalNumber(raw, &obj); err != nil || obj == nil {
		return upsertResult{}, invalid([]v3Detail{{fmt.Sprintf("persons[%d]", i), "Must be an object"}})
	}
	// The flat v3 contact list becomes the v2 email and phone lists;
	// "primary" entries go first. Only EMAIL and PHONE are allowed here.
	var details []v3Detail
	var contacts []struct {
		Type       *string `json:"type"`
		Identifier *string `json:"identifier"`
		Sender     string  `json:"sender"`
		Primary    bool    `json:"primary"`
	}
	if ci, ok := obj["contactInformation"]; ok && !isNull(ci) {
		if err := json.Unmarshal(ci, &contacts); err != nil {
			details = append(details, v3Detail{prop("contactInformation"), "Must be an array"})
		}
	}
	delete(obj, "contactInformation")
	var emails, phones []string
	for j, c := range contacts {
		p := prop(fmt.Sprintf("contactInformation[%d]", j))
		switch {
		case c.Type == nil:
			details = append(details, v3Detail{p + ".type", "Must not be null"})
		case c.Identifier == nil || *c.Identifier == "":
			details = append(details, v3Detail{p + ".identifier", "Must not be null"})
		case *c.Type == "EMAIL":
			a := strings.TrimSpace(*c.Identifier)
			if !validEmail(a) {
				details = append(details, v3Detail{p + ".identifier", "Email address is invalid"})
			} else if c.Primary {
				emails = append([]string{a}, emails...)
			} else {
				emails = append(emails, a)
			}
		case *c.Type == "PHONE":
			n := normalizePhone(*c.Identifier)
			if !validPhone(n) {
				details = append(details, v3Detail{p + ".identifier", "Phone number is invalid"})
			} else if c.Primary {
				phones = append([]string{n}, phones...)
			} else {
				phones = append(phones, n)
			}
		default:
			details = append(details, v3Detail{p + ".type", "Only EMAIL and PHONE contact information can be upserted"})
		}
	}
	delete(obj, "nickName") // v3 only; the emulator keeps the v2 model
	v2, _ := json.Marshal(obj)
	in, errs := decodePerson(v2)
	errs = append(errs, e.validate(in)...)
	for _, f := range errs {
		details = append(details, v3Detail{prop(f.Field), f.Message})
	}
	if len(details) > 0 {
		return upsertResult{}, invalid(details)
	}
	if len(contacts) > 0 || mode == modePut {
		in.emails, in.hasEmails = emails, true
		in.phones, in.hasPhones = phones, true
	}

	// Match: externalId first, then any email or phone.
	var cur *person
	conflict := func(msg string) *v3Error {
		return &v3Error{Code: codeConflict, Message: msg}
	}
	if ext := in.attrs["externalId"]; ext != nil && *ext != "" {
		if id, ok := e.byExtID[*ext]; ok {
			cur = e.persons[id]
		}
	}
	owners := map[int64]bool{}
	for _, a := range emails {
		if id, ok := e.byEmail[strings.ToLower(a)]; ok {
			owners[id] = true
		}
	}
	for _, n := range phones {
		if id, ok := e.byPhone[n]; ok {
			owners[id] = true
		}
	}
	if cur == nil {
		if len(owners) > 1 {
			return upsertResult{}, conflict("The identifiers of the person belong to more than one existing person")
		}
		for id := range owners {
			cur = e.persons[id]
		}
	}
	patchMode := mode
	if cur == nil {
		patchMode = modeCreate
	}
	next := apply(cur, in, patchMode)
	p, changed, f := e.commit(cur, next, "API")
	if f != nil {
		return upsertResult{}, conflict(strings.Join(f.messages(), "; "))
	}
	status := "UPDATED"
	switch {
	case cur == nil:
		status = "CREATED"
	case !changed:
		status = "NOT_MODIFIED"
	}
	return upsertResult{ID: p.ID, Index: i, Status: status}, nil
}
