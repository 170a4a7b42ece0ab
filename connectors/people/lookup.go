package people

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
)

// identifierTypes maps the lookup fields to People's identifier types.
// All four are unique across every person, so a lookup through either
// entity finds the person whatever its type (Record.Fields["type"] says
// which).
var identifierTypes = map[string]string{
	"id":         "ID",
	"externalId": "EXTERNAL_ID",
	"email":      "EMAIL",
	"phone":      "PHONE",
}

// Lookup finds persons by id, externalId, email (without case) or phone.
// One value costs one GET by identifier; many ids are read with list
// filters (200 ids a request); many emails, phones or externalIds are first
// matched to ids with POST /people/2/persons/match (1000 a request, 15/s)
// and then read by id.
func (c *Conn) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return connector.LookupResult{}, err
	}
	if _, err := personType(req.Entity); err != nil {
		return connector.LookupResult{}, err
	}
	idType, ok := identifierTypes[req.Field]
	if !ok {
		return connector.LookupResult{}, fmt.Errorf("people: lookup by %s.%s (only id, externalId, email and phone): %w",
			req.Entity, req.Field, connector.ErrUnsupported)
	}
	defs, err := c.attributes(ctx)
	if err != nil {
		return connector.LookupResult{}, err
	}
	op := "look up " + req.Entity + " by " + req.Field
	keys := make([]string, len(req.Values)) // normalized; "" matches nobody
	var distinct []string
	seen := map[string]bool{}
	for i, v := range req.Values {
		keys[i] = lookupKey(idType, v)
		if k := keys[i]; k != "" && !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	found := map[string]*apiPerson{}
	switch {
	case len(distinct) == 0:
	case len(distinct) == 1:
		p, err := c.getOne(ctx, op, idType, distinct[0])
		if err != nil {
			return connector.LookupResult{}, err
		}
		if p != nil {
			found[distinct[0]] = p
		}
	case idType == "ID":
		ids := make([]int64, len(distinct))
		for i, k := range distinct {
			ids[i], _ = strconv.ParseInt(k, 10, 64)
		}
		persons, err := c.fetchByIDs(ctx, op, ids)
		if err != nil {
			return connector.LookupResult{}, err
		}
		for _, k := range distinct {
			id, _ := strconv.ParseInt(k, 10, 64)
			if p := persons[id]; p != nil {
				found[k] = p
			}
		}
	default:
		idents := make([]identity, len(distinct))
		for i, k := range distinct {
			idents[i] = identity{Type: idType, Identifier: k}
		}
		matched, err := c.matchIDs(ctx, op, idents)
		if err != nil {
			return connector.LookupResult{}, err
		}
		var ids []int64
		for _, id := range matched {
			ids = append(ids, id)
		}
		persons, err := c.fetchByIDs(ctx, op, ids)
		if err != nil {
			return connector.LookupResult{}, err
		}
		for _, k := range distinct {
			if id, ok := matched[identityKey(idType, k)]; ok && persons[id] != nil {
				found[k] = persons[id]
			}
		}
	}
	res := connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}
	for i, k := range keys {
		if p := found[k]; p != nil {
			rec, err := p.record(req.Fields, defs)
			rec.Foreign = foreign(req.Entity, p)
			if err != nil && rec.Foreign == "" {
				// Found, so not paired with a second person, but not
				// written over either: the engine rejects the record
				// looked for with the reason.
				rec.Foreign = "a person synclang cannot read: " + err.Error()
			}
			res.Records[i] = []connector.Record{rec}
		}
	}
	return res, nil
}

// foreign says why a person found by a lookup of entity must not be written
// through it, "" when it may. A customer beats a lead: People keeps one
// profile per person, and a lead sync pairing with a customer's profile (a
// lead with a customer's email, or a lead since qualified into a contact)
// would overwrite the customer's data and its externalId, which links it
// to its contact. Writing a lead's person through customer is allowed: that
// is the promotion a qualification makes.
func foreign(entity string, p *apiPerson) string {
	if entity != EntityLead || p.Type != "CUSTOMER" {
		return ""
	}
	if ext := p.str("externalId"); ext != "" {
		return fmt.Sprintf("a CUSTOMER (externalId %s), which a lead never writes over", ext)
	}
	return "a CUSTOMER, which a lead never writes over"
}

// lookupKey normalizes a lookup value: ids as decimal, emails lower-cased
// (People compares them without case), phones without "+" and separators.
// Values that cannot match return "".
func lookupKey(idType string, v any) string {
	if v == nil {
		return ""
	}
	switch idType {
	case "ID":
		cv, err := connector.Canonical(connector.Int, v)
		if err != nil || cv.(int64) <= 0 {
			return ""
		}
		return strconv.FormatInt(cv.(int64), 10)
	}
	s, ok := v.(string)
	if !ok {
		cv, err := connector.Canonical(connector.ID, v)
		if err != nil {
			return ""
		}
		s = cv.(string)
	}
	switch idType {
	case "EMAIL":
		return strings.ToLower(normalizeEmail(s))
	case "PHONE":
		return normalizePhone(s)
	}
	return s
}

// getOne reads one person by identifier; nil when there is none.
func (c *Conn) getOne(ctx context.Context, op, idType, identifier string) (*apiPerson, error) {
	q := url.Values{"identifier": {identifier}, "type": {idType}}
	var raw rawJSON
	status, err := c.call(ctx, op, http.MethodGet, "/people/2/persons", q, nil, &raw)
	if status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := parsePerson(json.RawMessage(raw))
	if err != nil {
		return nil, &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: op, Message: err.Error(),
			Hint: "People answered with a person the connector cannot read; run again later"}
	}
	return p, nil
}

// rawJSON keeps a response body as is.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// fetchByIDs reads persons by id with list filters
// ({"#or":[{"id":1},{"id":2}]}). Filtering by id is not documented
// (UNCERTAIN): when the service refuses or ignores it, the connector reads
// the remaining persons one GET each from then on. Missing ids are absent
// from the result.
func (c *Conn) fetchByIDs(ctx context.Context, op string, ids []int64) (map[int64]*apiPerson, error) {
	out := map[int64]*apiPerson{}
	if len(ids) == 0 {
		return out, nil
	}
	if !c.noIDFilter.Load() {
	chunks:
		for start := 0; start < len(ids); start += c.tune.idsPerGet {
			chunk := ids[start:min(start+c.tune.idsPerGet, len(ids))]
			want := map[int64]bool{}
			clauses := make([]any, len(chunk))
			for i, id := range chunk {
				want[id] = true
				clauses[i] = map[string]any{"id": id}
			}
			var filter any = map[string]any{"#or": clauses}
			if len(clauses) == 1 {
				filter = clauses[0]
			}
			items, _, _, err := c.list(ctx, op, filter, "", 1, min(maxPage, len(chunk)), false)
			if err != nil {
				if connector.KindOf(err) == connector.ErrorInvalid {
					c.noIDFilter.Store(true)
					break chunks
				}
				return nil, err
			}
			for _, p := range items {
				if !want[p.ID] {
					c.noIDFilter.Store(true)
					break chunks
				}
				out[p.ID] = p
			}
		}
		if !c.noIDFilter.Load() {
			return out, nil
		}
		c.logger.Warn("people: the account does not filter persons by id; reading them one by one")
	}
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		p, err := c.getOne(ctx, op, "ID", strconv.FormatInt(id, 10))
		if err != nil {
			return nil, err
		}
		if p != nil {
			out[id] = p
		}
	}
	return out, nil
}

// identity is one entry of a match request.
type identity struct {
	Type       string `json:"type"`
	Identifier string `json:"identifier"`
}

func identityKey(idType, identifier string) string {
	switch idType {
	case "EMAIL":
		identifier = strings.ToLower(normalizeEmail(identifier))
	case "PHONE":
		identifier = normalizePhone(identifier)
	}
	return idType + "\x00" + identifier
}

// matchIDs resolves identities to person ids with POST
// /people/2/persons/match, 1000 identities a request. The spec documents a
// 404 on this operation; it is read as "nothing matched".
func (c *Conn) matchIDs(ctx context.Context, op string, idents []identity) (map[string]int64, error) {
	out := map[string]int64{}
	for start := 0; start < len(idents); start += c.tune.batchSize {
		chunk := idents[start:min(start+c.tune.batchSize, len(idents))]
		var resp struct {
			Matches []struct {
				Type       string `json:"type"`
				Identifier string `json:"identifier"`
				PersonID   int64  `json:"personId"`
			} `json:"matches"`
		}
		status, err := c.call(ctx, op, http.MethodPost, "/people/2/persons/match", nil, map[string]any{"identities": chunk}, &resp)
		if status == http.StatusNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, m := range resp.Matches {
			out[identityKey(m.Type, m.Identifier)] = m.PersonID
		}
	}
	return out, nil
}
