package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// preferences are the Prefer header's values (reference §2: several Prefer
// lines and comma-joined values are both accepted).
type preferences struct {
	returnRep       bool
	maxPageSize     int // 0 when not given
	trackChanges    bool
	continueOnError bool
	ann             annotations
	annRaw          string
}

// splitPrefer splits a header value on commas outside double quotes.
func splitPrefer(v string) []string {
	var out []string
	inQ := false
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func parsePrefer(h http.Header) preferences {
	var p preferences
	for _, line := range h.Values("Prefer") {
		for _, item := range splitPrefer(line) {
			item = strings.TrimSpace(item)
			name, val, _ := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			val = strings.TrimSpace(val)
			switch name {
			case "return":
				p.returnRep = strings.EqualFold(strings.Trim(val, `"`), "representation")
			case "odata.maxpagesize":
				if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n > 0 {
					p.maxPageSize = n
				}
			case "odata.track-changes":
				p.trackChanges = true
			case "odata.continue-on-error":
				p.continueOnError = true
			case "odata.include-annotations":
				p.ann = parseAnnotations(val)
				p.annRaw = val
			}
		}
	}
	return p
}

var versionRx = regexp.MustCompile(`^v9\.[0-2]$`)

// dispatch routes an authenticated API request (or a $batch part).
func (e *Emulator) dispatch(w http.ResponseWriter, r *http.Request, inBatch bool, x *tx) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/data/")
	version, rest, _ := strings.Cut(rest, "/")
	if !versionRx.MatchString(version) {
		writeAPIError(w, r, notFoundSegment(version))
		return
	}
	rc := &requestContext{base: baseURL(r), version: version, prefer: parsePrefer(r.Header), inBatch: inBatch, ctx: r.Context(), tx: x, e: e}
	var segs []string
	if rest != "" {
		for _, s := range strings.Split(rest, "/") {
			u, err := url.PathUnescape(s)
			if err != nil {
				writeAPIError(w, r, notFoundSegment(s))
				return
			}
			segs = append(segs, u)
		}
	}
	rc.detect = strings.EqualFold(strings.TrimSpace(r.Header.Get("MSCRM.SuppressDuplicateDetection")), "false")
	if err := e.route(w, r, rc, segs); err != nil {
		writeAPIError(w, r, err)
	}
}

func (e *Emulator) route(w http.ResponseWriter, r *http.Request, rc *requestContext, segs []string) *apiError {
	if len(segs) == 0 || (len(segs) == 1 && segs[0] == "") {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		return e.serviceDocument(w, rc)
	}
	switch first := segs[0]; {
	case first == "$metadata":
		return e.metadataDocument(w, r, rc)
	case first == "$batch":
		if rc.inBatch {
			return errf(http.StatusBadRequest, codePayload, "Nested $batch requests are not supported.")
		}
		if r.Method != http.MethodPost {
			return methodNotAllowed(r)
		}
		return e.serveBatch(w, r, rc)
	case first == "WhoAmI" || first == "WhoAmI()":
		if r.Method != http.MethodGet {
			return methodNotAllowed(r)
		}
		writeBody(w, http.StatusOK, jobj{keys: []string{"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"},
			vals: []any{rc.apiRoot() + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", emulatorBusinessUnitID, emulatorUserID, emulatorOrgID}})
		return nil
	case first == "RetrieveMetadataChanges" || strings.HasPrefix(first, "RetrieveMetadataChanges("):
		return e.retrieveMetadataChanges(w, r, rc, first)
	case strings.HasPrefix(first, "RetrieveTotalRecordCount("):
		return e.retrieveTotalRecordCount(w, r, rc, first)
	case strings.HasPrefix(first, "EntityDefinitions"):
		return e.serveMetadata(w, r, rc, segs)
	}
	name, keyText, hasKey, err := splitKey(segs[0])
	if err != nil {
		return err
	}
	rc.lock()
	t, ok := e.st.bySet[name]
	rc.unlock()
	if !ok {
		return notFoundSegment(name)
	}
	if !hasKey {
		switch {
		case len(segs) == 1:
			switch r.Method {
			case http.MethodGet:
				return e.queryCollection(w, r, rc, t)
			case http.MethodPost:
				return e.createEntity(w, r, rc, t)
			}
			return methodNotAllowed(r)
		case len(segs) == 2 && segs[1] == "$count":
			if r.Method != http.MethodGet {
				return methodNotAllowed(r)
			}
			return e.countCollection(w, rc, t)
		case len(segs) == 2 && strings.HasPrefix(segs[1], "Microsoft.Dynamics.CRM."):
			if r.Method != http.MethodPost {
				return noResource(r)
			}
			return e.bulkAction(w, r, rc, t, strings.TrimPrefix(segs[1], "Microsoft.Dynamics.CRM."))
		}
		return notFoundSegment(segs[1])
	}
	key, err := parseKey(t.def, keyText)
	if err != nil {
		return err
	}
	if len(segs) == 1 {
		switch r.Method {
		case http.MethodGet:
			return e.getEntity(w, r, rc, t, key)
		case http.MethodPatch:
			return e.patchEntity(w, r, rc, t, key, segs[0])
		case http.MethodDelete:
			return e.deleteEntity(w, r, rc, t, key)
		}
		return methodNotAllowed(r)
	}
	if len(segs) == 2 && strings.HasPrefix(segs[1], "Microsoft.Dynamics.CRM.") {
		if r.Method != http.MethodPost {
			return noResource(r)
		}
		action := strings.TrimPrefix(segs[1], "Microsoft.Dynamics.CRM.")
		if action == "QualifyLead" && t.def.logical == "lead" {
			return e.qualifyLeadAction(w, r, rc, t, key)
		}
		return notFoundSegment(segs[1])
	}
	if len(segs) == 2 {
		return e.propertyOp(w, r, rc, t, key, segs[1])
	}
	return notFoundSegment(segs[2])
}

func methodNotAllowed(r *http.Request) *apiError {
	return errf(http.StatusMethodNotAllowed, "", "The requested resource does not support http method '%s'.", r.Method)
}

func noResource(r *http.Request) *apiError {
	return errf(http.StatusNotFound, "", "No HTTP resource was found that matches the request URI '%s'.", r.URL.String())
}

// splitKey splits "contacts(...)" into the name and the key text.
func splitKey(seg string) (name, key string, hasKey bool, err *apiError) {
	i := strings.IndexByte(seg, '(')
	if i < 0 {
		return seg, "", false, nil
	}
	if !strings.HasSuffix(seg, ")") {
		return "", "", false, notFoundSegment(seg)
	}
	return seg[:i], seg[i+1 : len(seg)-1], true, nil
}

// entityKey identifies a row: by primary key (id) or by alternate key
// values.
type entityKey struct {
	id     string
	alt    *altKey
	values map[string]any
	text   string // as written in the URL, for OData-EntityId echoes
}

// parseKey parses a key predicate: a GUID, name=value pairs of the primary
// key or of an alternate key (reference §6 "Alternate keys in URL").
func parseKey(d *tableDef, text string) (entityKey, *apiError) {
	invalidKey := errf(http.StatusBadRequest, codeQuerySyntax, "The key in the request URI is not valid for resource '%s'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource '%s'.", d.typeName(), d.typeName())
	if wire.IsGUID(text) {
		return entityKey{id: strings.ToLower(text), text: text}, nil
	}
	pairs, ok := splitKeyPairs(text)
	if !ok {
		return entityKey{}, errf(http.StatusBadRequest, codeQuerySyntax, "Bad Request - Error in query syntax.")
	}
	if len(pairs) == 1 {
		if v, ok := pairs[d.key]; ok {
			if !v.isGUID() {
				return entityKey{}, invalidKey
			}
			return entityKey{id: strings.ToLower(v.raw), text: text}, nil
		}
	}
	for i := range d.keys {
		k := &d.keys[i]
		if len(k.columns) != len(pairs) {
			continue
		}
		vals := map[string]any{}
		match := true
		for _, c := range k.columns {
			v, ok := pairs[c]
			if !ok {
				match = false
				break
			}
			col, _ := d.col(c)
			lit := literal{kind: kString, s: v.raw}
			if !v.quoted {
				l, ok := parseLiteral(v.raw)
				if !ok {
					return entityKey{}, invalidKey
				}
				lit = l
			}
			if !compatible(col, lit) {
				return entityKey{}, invalidKey
			}
			vals[c] = litValue(lit)
		}
		if match {
			return entityKey{alt: k, values: vals, text: text}, nil
		}
	}
	return entityKey{}, invalidKey
}

type keyPart struct {
	raw    string
	quoted bool
}

func (k keyPart) isGUID() bool { return !k.quoted && wire.IsGUID(k.raw) }

func splitKeyPairs(text string) (map[string]keyPart, bool) {
	out := map[string]keyPart{}
	i := 0
	for i < len(text) {
		eq := strings.IndexByte(text[i:], '=')
		if eq < 0 {
			return nil, false
		}
		name := strings.TrimSpace(text[i : i+eq])
		i += eq + 1
		var part keyPart
		if i < len(text) && text[i] == '\'' {
			raw, next, closed := scanQuoted(text, i)
			if !closed {
				return nil, false
			}
			i = next
			part = keyPart{raw: raw, quoted: true}
		} else {
			end := strings.IndexByte(text[i:], ',')
			if end < 0 {
				end = len(text) - i
			}
			part = keyPart{raw: strings.TrimSpace(text[i : i+end])}
			i += end
		}
		if name == "" {
			return nil, false
		}
		out[name] = part
		if i < len(text) {
			if text[i] != ',' {
				return nil, false
			}
			i++
		}
	}
	return out, len(out) > 0
}

// find returns the row a key identifies. The mutex is held.
func (t *table) find(k entityKey) (*row, bool) {
	if k.alt != nil {
		return t.findByKey(*k.alt, k.values)
	}
	r, ok := t.rows[k.id]
	return r, ok
}

func (k entityKey) describe(d *tableDef) string {
	if k.alt != nil {
		return k.text
	}
	return k.id
}

// readBody decodes a JSON object body.
func readBody(r *http.Request, set string) (map[string]any, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, errf(http.StatusUnsupportedMediaType, "", "The content type '%s' is not supported.", ct)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 128<<20))
	if err != nil {
		return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Stream was not readable.", set)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: Does not support untyped value in non-open type.", set)
	}
	return body, nil
}

// bodyValues turns a request body into column values, validating each
// property as the service does. Columns not valid for the operation
// (computed ones such as fullname, createdon) are ignored.
func bodyValues(s *store, d *tableDef, body map[string]any, create bool) (map[string]any, *apiError) {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := map[string]any{}
	for _, k := range keys {
		v := body[k]
		switch {
		case k == "@odata.type":
			ts, _ := v.(string)
			if strings.TrimPrefix(ts, "#") != d.typeName() {
				return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: A resource with type '%s' was found, but it is not assignable to the expected type '%s'. The type specified in the resource must be equal to either the expected type or a derived type.", d.set, strings.TrimPrefix(ts, "#"), d.typeName())
			}
		case strings.HasSuffix(k, "@odata.bind"):
			nav := strings.TrimSuffix(k, "@odata.bind")
			c, ok := navColumn(d, nav)
			if !ok {
				return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", d.set, nav)
			}
			target := c.target
			if len(c.targets) > 1 {
				// parentcustomerid_contact: the suffix names the table.
				target = strings.TrimPrefix(nav, logicalName(c)+"_")
				if !has(c.targets, target) {
					return nil, errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", d.set, nav)
				}
			}
			if v == nil {
				vals[c.name] = nil
				vals[targetKey(c)] = nil
				continue
			}
			ref, _ := v.(string)
			id, err := bindTarget(s, c, target, ref)
			if err != nil {
				return nil, err
			}
			if (create && c.validForCreate) || (!create && c.validForUpdate) {
				vals[c.name] = id
				vals[targetKey(c)] = target
			}
		case strings.HasPrefix(k, "@") || strings.Contains(k, "@"):
			// Instance and property annotations are ignored.
		default:
			c, ok := d.col(k)
			if !ok || c.typ == tLookup || c.typ == tOwner {
				return nil, errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid property '%s' was found in entity '%s'.", k, d.typeName())
			}
			cv, err := coerce(d, c, v)
			if err != nil {
				return nil, err
			}
			if (create && c.validForCreate) || (!create && c.validForUpdate) {
				vals[c.name] = cv
			}
		}
	}
	return vals, nil
}

// navColumn maps a single-valued navigation property to its lookup column:
// parentcustomerid_account → _parentcustomerid_value.
func navColumn(d *tableDef, nav string) (*column, bool) {
	if c, ok := d.col("_" + nav + "_value"); ok && (c.typ == tLookup || c.typ == tOwner) {
		return c, true
	}
	if i := strings.LastIndexByte(nav, '_'); i > 0 {
		if c, ok := d.col("_" + nav[:i] + "_value"); ok && (c.typ == tLookup || c.typ == tOwner) {
			return c, true
		}
	}
	return nil, false
}

var bindRx = regexp.MustCompile(`(?:^|/)([A-Za-z_][A-Za-z0-9_]*)\(([0-9A-Fa-f-]{36})\)$`)

// bindTarget resolves an @odata.bind reference ("/accounts(<guid>)"). For
// tables the emulator holds, the row must exist.
func bindTarget(s *store, c *column, target, ref string) (string, *apiError) {
	m := bindRx.FindStringSubmatch(ref)
	if m == nil || !wire.IsGUID(m[2]) {
		return "", errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'' ---->  InnerException : Microsoft.OData.ODataException: The URI '%s' is not valid because it is not based on the service root.", ref)
	}
	id := strings.ToLower(m[2])
	if t, ok := s.bySet[m[1]]; ok {
		if t.def.logical != target {
			// The navigation property says which table the record is in
			// ("Associate records on create"); a reference to another
			// table's set is a payload error.
			return "", errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'' ---->  InnerException : Microsoft.OData.ODataException: A resource with type 'Microsoft.Dynamics.CRM.%s' was found, but it is not assignable to the expected type 'Microsoft.Dynamics.CRM.%s'.", t.def.logical, target)
		}
		if _, exists := t.rows[id]; !exists {
			return "", doesNotExist(t.def, id)
		}
	}
	return id, nil
}

// parseSelect validates $select.
func parseSelect(d *tableDef, q url.Values) ([]string, *apiError) {
	raw, ok := q["$select"]
	if !ok {
		return nil, nil
	}
	var sel []string
	seen := map[string]bool{}
	for _, name := range strings.Split(strings.Join(raw, ","), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "*" {
			return nil, nil
		}
		if _, ok := d.col(name); !ok {
			return nil, noProperty(d, name)
		}
		if !seen[name] {
			seen[name] = true
			sel = append(sel, name)
		}
	}
	return sel, nil
}

func checkExpand(d *tableDef, q url.Values) *apiError {
	if v := q.Get("$expand"); v != "" {
		name := strings.TrimSpace(strings.SplitN(strings.SplitN(v, "(", 2)[0], ",", 2)[0])
		// The emulator models no navigation properties.
		return noProperty(d, name)
	}
	return nil
}

func contextURL(rc *requestContext, d *tableDef, sel []string, suffix string) string {
	u := rc.apiRoot() + "$metadata#" + d.set
	if sel != nil {
		u += "(" + strings.Join(sel, ",") + ")"
	}
	return u + suffix
}

func (e *Emulator) getEntity(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, key entityKey) *apiError {
	q := r.URL.Query()
	sel, err := parseSelect(t.def, q)
	if err != nil {
		return err
	}
	if err := checkExpand(t.def, q); err != nil {
		return err
	}
	rc.lock()
	row, ok := t.find(key)
	var obj jobj
	var tag string
	if ok {
		obj = rowObj(e.st, t.def, row, sel, rc.prefer.ann)
		tag = etag(row)
	}
	rc.unlock()
	if !ok {
		return doesNotExist(t.def, key.describe(t.def))
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm != "null" && rc.prefer.annRaw == "" && (inm == tag || inm == "*") {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	out := jobj{keys: []string{"@odata.context"}, vals: []any{contextURL(rc, t.def, sel, "/$entity")}}
	out.keys = append(out.keys, obj.keys...)
	out.vals = append(out.vals, obj.vals...)
	w.Header().Set("ETag", tag)
	if rc.prefer.annRaw != "" {
		w.Header().Set("Preference-Applied", "odata.include-annotations="+rc.prefer.annRaw)
	}
	writeBody(w, http.StatusOK, out)
	return nil
}

func entityURL(rc *requestContext, d *tableDef, id string) string {
	return rc.apiRoot() + d.set + "(" + id + ")"
}

// representation is the body of a write answered with Prefer:
// return=representation: the row with the request's $select, led by its
// @odata.context.
func representation(s *store, rc *requestContext, t *table, r *http.Request, row *row) (jobj, *apiError) {
	sel, err := parseSelect(t.def, r.URL.Query())
	if err != nil {
		return jobj{}, err
	}
	obj := rowObj(s, t.def, row, sel, rc.prefer.ann)
	obj.keys = append([]string{"@odata.context"}, obj.keys...)
	obj.vals = append([]any{contextURL(rc, t.def, sel, "/$entity")}, obj.vals...)
	return obj, nil
}

func (e *Emulator) createEntity(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table) *apiError {
	body, err := readBody(r, t.def.set)
	if err != nil {
		return err
	}
	rc.lock()
	vals, err := bodyValues(e.st, t.def, body, true)
	var row *row
	if err == nil {
		var id string
		if v, ok := body[t.def.key].(string); ok {
			if !wire.IsGUID(v) {
				err = errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert the literal '%s' to the expected type 'Edm.Guid'.", v)
			}
			id = strings.ToLower(v)
		}
		if err == nil {
			row, err = e.st.create(rc.tx, t, vals, id)
		}
	}
	var obj jobj
	if err == nil && rc.prefer.returnRep {
		obj, err = representation(e.st, rc, t, r, row)
	}
	rc.unlock()
	if err != nil {
		return err
	}
	loc := entityURL(rc, t.def, row.id)
	if rc.prefer.returnRep {
		w.Header().Set("Preference-Applied", "return=representation")
		w.Header().Set("ETag", etag(row))
		w.Header().Set("Location", loc)
		writeBody(w, http.StatusCreated, obj)
		return nil
	}
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("OData-EntityId", loc)
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkIfMatch applies If-Match / If-None-Match to a PATCH or DELETE
// (reference §6: If-Match: * prevents a create, If-None-Match: * prevents
// an update, If-None-Match: null is a no-op, an ETag must match).
func checkConditions(r *http.Request, row *row, exists bool, d *tableDef, key entityKey) *apiError {
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" {
		if !exists {
			return doesNotExist(d, key.describe(d))
		}
		if im != "*" && !etagListHas(im, etag(row)) {
			return errf(http.StatusPreconditionFailed, codeVersionMismatch, "The version of the existing record doesn't match the RowVersion property provided.")
		}
	}
	if inm := strings.TrimSpace(r.Header.Get("If-None-Match")); inm != "" && inm != "null" {
		if exists && (inm == "*" || etagListHas(inm, etag(row))) {
			return errf(http.StatusPreconditionFailed, codeDuplicateRecord, "A record with matching key values already exists.")
		}
	}
	return nil
}

func etagListHas(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == tag {
			return true
		}
	}
	return false
}

func (e *Emulator) patchEntity(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, key entityKey, seg string) *apiError {
	body, err := readBody(r, t.def.set)
	if err != nil {
		return err
	}
	rc.lock()
	row, exists := t.find(key)
	created := false
	err = checkConditions(r, row, exists, t.def, key)
	if err == nil {
		var vals map[string]any
		vals, err = bodyValues(e.st, t.def, body, !exists)
		if err == nil {
			if exists {
				err = e.st.update(rc.tx, t, row, vals)
			} else {
				// Upsert creates the row; key values from the URL are used
				// unless the body sets them (reference §6).
				id := key.id
				for c, v := range key.values {
					if _, set := vals[c]; !set {
						vals[c] = v
					}
				}
				row, err = e.st.create(rc.tx, t, vals, id)
				created = true
			}
		}
	}
	var obj jobj
	if err == nil && rc.prefer.returnRep {
		obj, err = representation(e.st, rc, t, r, row)
	}
	var tag, id string
	if err == nil {
		tag, id = etag(row), row.id
	}
	rc.unlock()
	if err != nil {
		return err
	}
	entityID := entityURL(rc, t.def, id)
	if key.alt != nil {
		entityID = rc.apiRoot() + seg // the key form is echoed
	}
	if rc.prefer.returnRep {
		w.Header().Set("Preference-Applied", "return=representation")
		w.Header().Set("ETag", tag)
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeBody(w, status, obj)
		return nil
	}
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("OData-EntityId", entityID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Emulator) deleteEntity(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, key entityKey) *apiError {
	rc.lock()
	defer rc.unlock()
	row, exists := t.find(key)
	if !exists {
		return doesNotExist(t.def, key.describe(t.def))
	}
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" && im != "*" && !etagListHas(im, etag(row)) {
		return errf(http.StatusPreconditionFailed, codeVersionMismatch, "The version of the existing record doesn't match the RowVersion property provided.")
	}
	e.st.remove(rc.tx, t, row)
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// propertyOp serves GET/PUT/DELETE of a single property
// (contacts(<id>)/lastname; reference §6 Update).
func (e *Emulator) propertyOp(w http.ResponseWriter, r *http.Request, rc *requestContext, t *table, key entityKey, prop string) *apiError {
	c, ok := t.def.col(prop)
	if !ok {
		return notFoundSegment(prop)
	}
	switch r.Method {
	case http.MethodGet:
		rc.lock()
		row, exists := t.find(key)
		var v any
		if exists {
			v = wireValue(c, row.vals[prop])
		}
		rc.unlock()
		if !exists {
			return doesNotExist(t.def, key.describe(t.def))
		}
		if v == nil {
			w.Header().Set("OData-Version", "4.0")
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		writeBody(w, http.StatusOK, jobj{keys: []string{"@odata.context", "value"}, vals: []any{rc.apiRoot() + "$metadata#" + t.def.set + "(" + key.text + ")/" + prop, v}})
		return nil
	case http.MethodPut, http.MethodDelete:
		var raw any
		if r.Method == http.MethodPut {
			body, err := readBody(r, t.def.set)
			if err != nil {
				return err
			}
			var present bool
			raw, present = body["value"]
			if !present {
				return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'%s' ---->  InnerException : Microsoft.OData.ODataException: The property 'value' was not found.", t.def.set)
			}
		}
		rc.lock()
		defer rc.unlock()
		row, exists := t.find(key)
		if !exists {
			return doesNotExist(t.def, key.describe(t.def))
		}
		vals, err := bodyValues(e.st, t.def, map[string]any{prop: raw}, false)
		if err != nil {
			return err
		}
		if err := e.st.update(rc.tx, t, row, vals); err != nil {
			return err
		}
		w.Header().Set("OData-Version", "4.0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}

func (e *Emulator) serviceDocument(w http.ResponseWriter, rc *requestContext) *apiError {
	rc.lock()
	defs := map[string]*tableDef{}
	for k, t := range e.st.tables {
		defs[k] = t.def
	}
	rc.unlock()
	var vals []jobj
	for _, set := range append(sortedSetNames(defs), "EntityDefinitions") {
		vals = append(vals, jobj{keys: []string{"name", "kind", "url"}, vals: []any{set, "EntitySet", set}})
	}
	writeBody(w, http.StatusOK, jobj{keys: []string{"@odata.context", "value"}, vals: []any{rc.apiRoot() + "$metadata", vals}})
	return nil
}

func (e *Emulator) countCollection(w http.ResponseWriter, rc *requestContext, t *table) *apiError {
	rc.lock()
	n := len(t.rows)
	rc.unlock()
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, min(n, 5000)) // $count is capped at 5000 (reference §4)
	return nil
}
