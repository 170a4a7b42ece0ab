package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// row is one record. vals holds every column of the table: string, int64,
// float64, bool, time.Time (DateTime in UTC; DateOnly at midnight UTC) or
// nil.
type row struct {
	id      string
	vals    map[string]any
	version int64
}

// tomb records a deletion for change tracking.
type tomb struct {
	id      string
	version int64
}

type table struct {
	def   *tableDef
	rows  map[string]*row
	tombs []tomb
	// keyIdx maps an alternate key's name to normalized value → row id.
	keyIdx map[string]map[string]string
	// sorted caches the row ids in primary-key order (the default order
	// of queries); nil after an insert or a delete.
	sorted []string
}

// sortedIDs returns the row ids in primary-key order.
func (t *table) sortedIDs() []string {
	if t.sorted == nil {
		t.sorted = make([]string, 0, len(t.rows))
		for id := range t.rows {
			t.sorted = append(t.sorted, id)
		}
		sort.Strings(t.sorted)
	}
	return t.sorted
}

// store holds the data of the emulated organization. Every method expects
// the emulator's mutex to be held.
type store struct {
	tables  map[string]*table // by logical name
	bySet   map[string]*table // by entity set name
	version int64             // the organization's row version counter
	now     func() time.Time
	rng     *rand.Rand
	// detect is set while a request that sent
	// MSCRM.SuppressDuplicateDetection: false is being served (the mutex
	// is held throughout), so creates and updates run the duplicate rules.
	detect bool
	// metaVersion is the organization's metadata version: customizations
	// (AddColumn, RemoveColumn, SetChangeTracking) move it on.
	// metaDeleted records removed metadata for RetrieveMetadataChanges.
	metaVersion      int64
	metaDeleted      []deletedMeta
	metaExpiredBelow int64
}

// deletedMeta is one removed metadata item: its MetadataId, which
// DeletedMetadataFilters member it falls under, and the version it was
// removed at.
type deletedMeta struct {
	id      string
	kind    string // a DeletedMetadataFilters member: "Default" (a table), "Attribute", "OptionSet"
	version int64
}

// duplicateRules are the published duplicate detection rules the emulator
// runs: "Contacts with the same e-mail address" and "Leads with the same
// e-mail address" (reference §6: default rules exist for accounts, contacts
// and leads; UNCERTAIN which other default rules an organization has).
var duplicateRules = map[string][]string{"contact": {"emailaddress1"}, "lead": {"emailaddress1"}}

// checkDuplicates applies the duplicate rules to a row's values (reference
// §6: a hit answers 500 with 0x80040333).
func (s *store) checkDuplicates(t *table, vals map[string]any, self string) *apiError {
	if !s.detect {
		return nil
	}
	for _, col := range duplicateRules[t.def.logical] {
		v, ok := vals[col].(string)
		if !ok {
			continue
		}
		for id, r := range t.rows {
			if o, ok := r.vals[col].(string); ok && id != self && collate(o) == collate(v) {
				return errf(http.StatusInternalServerError, codeDuplicateFound, "A record was not created or updated because a duplicate of the current record already exists.")
			}
		}
	}
	return nil
}

func newStore(now func() time.Time, seed uint64) *store {
	s := &store{tables: map[string]*table{}, bySet: map[string]*table{}, now: now, rng: rand.New(rand.NewPCG(seed, 0xd1ce)), metaVersion: 1}
	for _, d := range []*tableDef{contactTable(), leadTable()} {
		s.addTable(d)
	}
	return s
}

func (s *store) addTable(d *tableDef) {
	t := &table{def: d, rows: map[string]*row{}, keyIdx: map[string]map[string]string{}}
	for _, k := range d.keys {
		t.keyIdx[k.logicalName] = map[string]string{}
	}
	s.tables[d.logical] = t
	s.bySet[d.set] = t
}

// newGUID returns a random (version 4) GUID in lower case, from the store's
// deterministic generator so seeded data is the same on every run.
func (s *store) newGUID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *store) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }

// tx collects undo steps so a change set or a bulk message can be rolled
// back as a whole (standard tables run a bulk message in one transaction).
type tx struct {
	undo []func()
}

func (x *tx) add(f func()) {
	if x != nil {
		x.undo = append(x.undo, f)
	}
}

func (x *tx) rollback() {
	for i := len(x.undo) - 1; i >= 0; i-- {
		x.undo[i]()
	}
	x.undo = nil
}

// keyValue normalizes a value for an alternate-key index: SQL Server's
// default collation compares strings case-insensitively and ignores
// trailing spaces.
func keyValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return strings.ToLower(strings.TrimRight(x, " ")), true
	default:
		return fmt.Sprint(x), true
	}
}

func (t *table) keyOf(k altKey, vals map[string]any) (string, bool) {
	parts := make([]string, len(k.columns))
	for i, c := range k.columns {
		v, ok := keyValue(vals[c])
		if !ok {
			return "", false // rows with a null key column are not indexed
		}
		parts[i] = v
	}
	return strings.Join(parts, "\x00"), true
}

func (t *table) unindex(x *tx, r *row) {
	for _, k := range t.def.keys {
		if kv, ok := t.keyOf(k, r.vals); ok && t.keyIdx[k.logicalName][kv] == r.id {
			delete(t.keyIdx[k.logicalName], kv)
			idx, id := t.keyIdx[k.logicalName], r.id
			x.add(func() { idx[kv] = id })
		}
	}
}

func (t *table) index(x *tx, r *row) {
	for _, k := range t.def.keys {
		if kv, ok := t.keyOf(k, r.vals); ok {
			t.keyIdx[k.logicalName][kv] = r.id
			idx := t.keyIdx[k.logicalName]
			x.add(func() { delete(idx, kv) })
		}
	}
}

// checkKeys reports an alternate-key violation of vals by a row other than
// self.
func (t *table) checkKeys(vals map[string]any, self string) *apiError {
	for _, k := range t.def.keys {
		kv, ok := t.keyOf(k, vals)
		if !ok {
			continue
		}
		if other, dup := t.keyIdx[k.logicalName][kv]; dup && other != self {
			// DuplicateRecordEntityKey; HTTP status UNCERTAIN (reference §8
			// "412?"): 412 is what the service uses for the other
			// duplicate-key case, so the emulator uses it here too.
			return errf(http.StatusPreconditionFailed, codeDuplicateKey,
				"Entity Key %s violated. A record with the same value for %s already exists. A duplicate record cannot be created. Try again with different data or verify the data.",
				k.logicalName, strings.Join(k.columns, ", "))
		}
	}
	return nil
}

// findByKey returns the row an alternate key value identifies.
func (t *table) findByKey(k altKey, vals map[string]any) (*row, bool) {
	kv, ok := t.keyOf(k, vals)
	if !ok {
		return nil, false
	}
	id, ok := t.keyIdx[k.logicalName][kv]
	if !ok {
		return nil, false
	}
	r, ok := t.rows[id]
	return r, ok
}

// create inserts a row. vals are already coerced and filtered to columns
// valid for create; id is the caller-chosen primary key or "".
func (s *store) create(x *tx, t *table, vals map[string]any, id string) (*row, *apiError) {
	if id == "" {
		id = s.newGUID()
	}
	if _, dup := t.rows[id]; dup {
		return nil, errf(http.StatusPreconditionFailed, codeDuplicateRecord, "A record with matching key values already exists.")
	}
	r := &row{id: id, vals: map[string]any{}}
	for _, c := range t.def.columns {
		r.vals[c.name] = c.defaultValue
	}
	for k, v := range vals {
		r.vals[k] = v
	}
	if err := fixState(t.def, r.vals, nil, vals); err != nil {
		return nil, err
	}
	if err := s.checkDuplicates(t, r.vals, id); err != nil {
		return nil, err
	}
	if err := t.checkKeys(r.vals, id); err != nil {
		return nil, err
	}
	now := s.stamp()
	r.vals[t.def.key] = id
	r.vals["createdon"] = now
	if oc, ok := vals["overriddencreatedon"].(time.Time); ok {
		r.vals["createdon"] = oc
	}
	r.vals["modifiedon"] = now
	if r.vals["_ownerid_value"] == nil {
		r.vals["_ownerid_value"] = emulatorUserID
	}
	r.vals["_createdby_value"] = emulatorUserID
	r.vals["_modifiedby_value"] = emulatorUserID
	r.vals["_owningbusinessunit_value"] = emulatorBusinessUnitID
	s.computeColumns(t.def, r.vals)
	s.version++
	r.version = s.version
	r.vals["versionnumber"] = r.version
	t.rows[id] = r
	t.sorted = nil
	t.index(x, r)
	x.add(func() { delete(t.rows, id); t.sorted = nil })
	return r, nil
}

// update changes the columns in vals of an existing row.
func (s *store) update(x *tx, t *table, r *row, vals map[string]any) *apiError {
	next := make(map[string]any, len(r.vals))
	for k, v := range r.vals {
		next[k] = v
	}
	for k, v := range vals {
		next[k] = v
	}
	if err := fixState(t.def, next, r.vals, vals); err != nil {
		return err
	}
	if err := s.checkDuplicates(t, next, r.id); err != nil {
		return err
	}
	if err := t.checkKeys(next, r.id); err != nil {
		return err
	}
	old, oldVersion := r.vals, r.version
	t.unindex(x, r)
	next["modifiedon"] = s.stamp()
	next["_modifiedby_value"] = emulatorUserID
	s.computeColumns(t.def, next)
	s.version++
	r.vals, r.version = next, s.version
	r.vals["versionnumber"] = r.version
	t.index(x, r)
	x.add(func() { r.vals, r.version = old, oldVersion })
	return nil
}

// remove deletes a row and records the deletion for change tracking.
func (s *store) remove(x *tx, t *table, r *row) {
	t.unindex(x, r)
	delete(t.rows, r.id)
	t.sorted = nil
	s.version++
	t.tombs = append(t.tombs, tomb{id: r.id, version: s.version})
	n := len(t.tombs) - 1
	x.add(func() {
		t.rows[r.id] = r
		t.sorted = nil
		t.tombs = t.tombs[:n]
	})
}

// fixState keeps statecode and statuscode consistent: setting statecode
// alone picks its default status; setting statuscode alone moves the row to
// its state; a pair that does not belong together is an error (reference §3).
func fixState(d *tableDef, next, old, set map[string]any) *apiError {
	if _, ok := d.col("statuscode"); !ok {
		return nil
	}
	_, setState := set["statecode"]
	_, setStatus := set["statuscode"]
	state, _ := next["statecode"].(int64)
	status, _ := next["statuscode"].(int64)
	switch {
	case setState && !setStatus:
		next["statuscode"] = defaultStatus(d, state)
	case setStatus && !setState:
		if st, ok := stateOfStatus(d, status); ok {
			if old == nil && st != 0 {
				return errf(http.StatusBadRequest, codeInvalidStateCode, "%d is not a valid status code for state code %sState.Active on %s.", status, strings.ToUpper(d.logical[:1])+d.logical[1:], d.logical)
			}
			next["statecode"] = st
		}
	case setState && setStatus:
		if st, ok := stateOfStatus(d, status); ok && st != state {
			return errf(http.StatusBadRequest, codeInvalidStateCode, "%d is not a valid status code for state code %s on %s.", status, stateName(d, state), d.logical)
		}
	}
	if next["statuscode"] == nil {
		next["statuscode"] = defaultStatus(d, state)
	}
	return nil
}

func stateName(d *tableDef, state int64) string {
	c, _ := d.col("statecode")
	name := strings.ToUpper(d.logical[:1]) + d.logical[1:] + "State."
	for _, o := range c.options {
		if o.value == state {
			return name + o.label
		}
	}
	return name + strconv.FormatInt(state, 10)
}

// computeColumns sets the columns the platform derives.
func (s *store) computeColumns(d *tableDef, v map[string]any) {
	str := func(k string) string { x, _ := v[k].(string); return x }
	if _, ok := d.col("fullname"); ok {
		if fn := fullName(str("firstname"), str("middlename"), str("lastname")); fn != "" {
			v["fullname"] = fn
		} else {
			v["fullname"] = nil
		}
		v["yomifullname"] = v["fullname"]
	}
	if _, ok := d.col("address1_composite"); ok {
		// UNCERTAIN (reference §2 lists address1_composite as a read-only
		// memo; its exact format is not documented): lines, then "city,
		// state postal", then country, joined with CRLF.
		var lines []string
		for _, k := range []string{"address1_line1", "address1_line2", "address1_line3"} {
			if x := str(k); x != "" {
				lines = append(lines, x)
			}
		}
		cityLine := str("address1_city")
		if sp := strings.TrimSpace(str("address1_stateorprovince") + " " + str("address1_postalcode")); sp != "" {
			if cityLine != "" {
				cityLine += ", "
			}
			cityLine += sp
		}
		if cityLine != "" {
			lines = append(lines, cityLine)
		}
		if x := str("address1_country"); x != "" {
			lines = append(lines, x)
		}
		if len(lines) > 0 {
			v["address1_composite"] = strings.Join(lines, "\r\n")
		} else {
			v["address1_composite"] = nil
		}
	}
}

// coerce converts a JSON value from a request body to the column's stored
// form, with the service's errors for values that do not fit.
func coerce(t *tableDef, c *column, raw any) (any, *apiError) {
	if raw == nil {
		return nil, nil
	}
	bad := func(edm string) *apiError {
		return errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert the literal '%s' to the expected type '%s'.", literalText(raw), edm)
	}
	switch c.typ {
	case tString, tMemo:
		s, ok := raw.(string)
		if !ok {
			return nil, errf(http.StatusBadRequest, codeNone, "An error occurred while validating input parameters: Microsoft.OData.ODataException: Cannot convert a primitive value to the expected type 'Edm.String'. See the inner exception for more details.")
		}
		if c.maxLength > 0 && len([]rune(s)) > c.maxLength {
			return nil, errf(http.StatusBadRequest, codeMaxLength, "A validation error occurred.  The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.", c.name, t.logical, c.maxLength)
		}
		if s == "" {
			return nil, nil // the platform stores an empty string as null
		}
		return s, nil
	case tGUID, tLookup, tOwner:
		s, ok := raw.(string)
		if !ok || !wire.IsGUID(s) {
			return nil, bad("Edm.Guid")
		}
		return strings.ToLower(s), nil
	case tDateTime:
		s, ok := raw.(string)
		if !ok {
			return nil, bad(c.edmType())
		}
		if c.dateOnly {
			// A DateOnly column takes "YYYY-MM-DD" (Edm.Date). UNCERTAIN
			// (reference §3): whether a full date-time is also accepted;
			// the platform drops the time part of DateOnly values, so the
			// emulator accepts one and keeps its date.
			if d, err := time.Parse("2006-01-02", s); err == nil {
				return d, nil
			}
			if d, err := time.Parse(time.RFC3339Nano, s); err == nil {
				y, m, dd := d.Date()
				return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC), nil
			}
			return nil, bad("Edm.Date")
		}
		d, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, bad("Edm.DateTimeOffset")
		}
		if d.Year() < 1753 {
			return nil, errf(http.StatusBadRequest, codeInvalidArgument, "The date-time format for %s is invalid, or value is outside the supported range.", c.name)
		}
		return d.UTC().Truncate(time.Second), nil
	case tPicklist, tState, tStatus, tInteger, tBigInt:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, bad(c.edmType())
		}
		i, err := n.Int64()
		if err != nil || (c.typ != tBigInt && (i > math.MaxInt32 || i < math.MinInt32)) {
			return nil, bad(c.edmType())
		}
		if (c.typ == tPicklist || c.typ == tState || c.typ == tStatus) && !c.hasOption(i) {
			vals := make([]string, len(c.options))
			for k, o := range c.options {
				vals[k] = strconv.FormatInt(o.value, 10)
			}
			return nil, errf(http.StatusBadRequest, codeOptionOutOfRange, "A validation error occurred.  The value %d of '%s' on record of type '%s' is outside the valid range. Accepted Values: %s", i, c.name, t.logical, strings.Join(vals, ","))
		}
		return i, nil
	case tDecimal, tDouble:
		n, ok := raw.(json.Number)
		if !ok {
			return nil, bad(c.edmType())
		}
		f, err := n.Float64()
		if err != nil {
			return nil, bad(c.edmType())
		}
		return f, nil
	case tBoolean:
		b, ok := raw.(bool)
		if !ok {
			return nil, bad("Edm.Boolean")
		}
		return b, nil
	}
	return raw, nil
}

func literalText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}
