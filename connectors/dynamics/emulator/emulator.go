package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synclang/synclang/connectors/emulate"
	"github.com/synclang/synclang/connectors/internal/fake"
)

// Options configure an emulator.
type Options struct {
	// Seed is the number of sample contacts to create from
	// connectors/internal/fake (PersonAt(0) ... PersonAt(Seed-1)), plus
	// about Seed/4 leads from the indices after those. Deterministic.
	Seed int
	// Limits is emulate.Real (the service protection limits: 6000
	// requests and 1,200 s of execution time per user in a 300 s sliding
	// window, 52 concurrent requests), emulate.Sliding (the same: the
	// service's window is sliding already) or emulate.Off. The zero value
	// is Off: tests send thousands of requests at real time scale.
	// `synclang emulate dynamics` defaults to Real.
	Limits emulate.Limits
	// TimeScale > 1 shrinks the limits' time window (and the Retry-After
	// waits with it) by that factor, so tests run fast: with TimeScale 100
	// the 6000 requests are allowed per 3 s. 0 means 1.
	TimeScale float64
	// Now is the clock that stamps createdon/modifiedon and issues tokens;
	// nil means time.Now.
	Now func() time.Time
}

// Credentials are what a client of the emulator authenticates with.
type Credentials struct {
	Tenant       string
	ClientID     string
	ClientSecret string
}

// Fixed identities of the emulated organization.
const (
	emulatorTenant         = "5f0c7e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	emulatorClientID       = "3c5a9e2d-7b41-4f6a-9d8e-0c1b2a3f4e5d"
	emulatorClientSecret   = "emu~Secret.Value-For-Tests_Only"
	emulatorUserID         = "a1b2c3d4-0000-4000-8000-00000000aaaa"
	emulatorBusinessUnitID = "b1b2c3d4-0000-4000-8000-00000000bbbb"
	emulatorOrgID          = "c1b2c3d4-0000-4000-8000-00000000cccc"
	emulatorTenantDomain   = "synclang-emulator.onmicrosoft.com"
	// The primary names (fullname, name) of the emulated user and business
	// unit, for the FormattedValue of createdby, ownerid, owningbusinessunit.
	emulatorUserName         = "Synclang Emulator Application"
	emulatorBusinessUnitName = "synclangemulator"
)

// Emulator is a Dataverse Web API and Microsoft identity platform emulator.
// It is an http.Handler serving both /api/data/v9.x/... and
// /{tenant}/oauth2/v2.0/{token,authorize}, so a client's authority is the
// emulator's base URL. It is safe for concurrent use.
type Emulator struct {
	opts  Options
	scale float64

	mu sync.Mutex // guards st and the fault state below
	st *store

	failN, failStatus int
	throttleUntil     time.Time
	throttleCode      string
	deltaExpiredBelow int64 // delta tokens with a version below this are expired

	id       identity
	limiter  *limiter
	requests atomic.Int64
}

// New returns an emulator seeded as opts says.
func New(opts Options) *Emulator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 1
	}
	if opts.Limits == "" {
		opts.Limits = emulate.Off
	}
	e := &Emulator{opts: opts, scale: opts.TimeScale, st: newStore(opts.Now, 1)}
	e.id.init()
	e.id.now = opts.Now
	e.limiter = newLimiter(opts.Limits == emulate.Real || opts.Limits == emulate.Sliding, opts.TimeScale)
	e.seed(opts.Seed)
	return e
}

// Credentials returns the tenant, client id and secret the emulator accepts.
func (e *Emulator) Credentials() Credentials {
	return Credentials{Tenant: emulatorTenant, ClientID: emulatorClientID, ClientSecret: emulatorClientSecret}
}

// Settings returns the connection settings (names as in connectors/dynamics
// kind.go) for a client of this emulator served at baseURL.
func (e *Emulator) Settings(baseURL string) map[string]string {
	baseURL = strings.TrimRight(baseURL, "/")
	return map[string]string{
		"url":           baseURL,
		"tenant":        emulatorTenant,
		"client_id":     emulatorClientID,
		"client_secret": emulatorClientSecret,
		"authority":     baseURL,
		"api_version":   "v9.2",
		"auth":          "client_credentials",
	}
}

// TB is the part of testing.TB that NewTestServer uses (so this package
// does not import testing into binaries that embed the emulator).
type TB interface {
	Helper()
	Cleanup(func())
}

// NewTestServer starts an emulator on a loopback httptest server that is
// closed when the test ends.
func NewTestServer(t TB, opts Options) (*Emulator, *httptest.Server) {
	t.Helper()
	e := New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

func (e *Emulator) seed(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	contacts := e.st.tables["contact"]
	leads := e.st.tables["lead"]
	for i := 0; i < n; i++ {
		p := fake.PersonAt(i)
		vals := personValues(p)
		if g := genderCode(p.Gender); g != nil {
			vals["gendercode"] = g
		}
		if !p.BirthDate.IsZero() {
			vals["birthdate"] = p.BirthDate
		}
		if _, err := e.st.create(nil, contacts, vals, ""); err != nil {
			panic(fmt.Sprintf("emulator: seeding contact %d: %v", i, err)) // deterministic data; a bug if it fails
		}
	}
	for i := n; i < n+n/4; i++ {
		p := fake.PersonAt(i)
		vals := personValues(p)
		vals["subject"] = "Interested in " + p.Company + " offer"
		vals["companyname"] = p.Company
		if _, err := e.st.create(nil, leads, vals, ""); err != nil {
			panic(fmt.Sprintf("emulator: seeding lead %d: %v", i, err))
		}
	}
}

func personValues(p fake.Person) map[string]any {
	vals := map[string]any{
		"firstname":        p.FirstName,
		"lastname":         p.LastName,
		"emailaddress1":    p.Email,
		"mobilephone":      "+" + p.Phone,
		"address1_city":    p.City,
		"address1_country": p.Country,
	}
	if p.JobTitle != "" {
		vals["jobtitle"] = p.JobTitle
	}
	return vals
}

func genderCode(g string) any {
	switch g {
	case "MALE":
		return int64(1)
	case "FEMALE":
		return int64(2)
	}
	return nil
}

// ---- inspection and seeding for tests ----

// Insert creates a row in table (a logical name: "contact", "lead") with
// fields in their JSON form (strings, numbers, bools, "YYYY-MM-DD" dates,
// RFC 3339 date-times), validated as a Web API create would be, and returns
// its id. It panics on invalid input: it is for test setup. Add returns
// the error instead (as the People emulator's Insert and Add do).
func (e *Emulator) Insert(table string, fields map[string]any) string {
	id, err := e.Add(table, fields)
	if err != nil {
		panic("emulator.Insert: " + err.Error())
	}
	return id
}

// Add is Insert returning an error instead of panicking on invalid
// fields. An unknown table still panics: that is a bug in the caller.
func (e *Emulator) Add(table string, fields map[string]any) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	vals, err := bodyValues(e.st, t.def, jsonish(fields), true)
	if err != nil {
		return "", errors.New(err.message)
	}
	id, _ := fields[t.def.key].(string)
	r, err := e.st.create(nil, t, vals, strings.ToLower(id))
	if err != nil {
		return "", errors.New(err.message)
	}
	return r.id, nil
}

// Len returns the number of rows in table.
func (e *Emulator) Len(table string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.mustTable(table).rows)
}

// Update changes fields of a row, as a Web API update would; it panics on
// invalid input or a missing row.
func (e *Emulator) Update(table, id string, fields map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	r, ok := t.rows[strings.ToLower(id)]
	if !ok {
		panic(fmt.Sprintf("emulator.Update: no %s %s", table, id))
	}
	vals, err := bodyValues(e.st, t.def, jsonish(fields), false)
	if err == nil {
		err = e.st.update(nil, t, r, vals)
	}
	if err != nil {
		panic("emulator.Update: " + err.message)
	}
}

// SetRaw stores v in a row's column as it is, without validation or a new
// version, so a test can make the service answer with a value that does
// not fit the column (a string column holding the number 12345), as a
// plug-in or a bad import can leave behind. It panics on a missing row.
func (e *Emulator) SetRaw(table, id, column string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	r, ok := t.rows[strings.ToLower(id)]
	if !ok {
		panic(fmt.Sprintf("emulator.SetRaw: no %s %s", table, id))
	}
	r.vals[column] = v
}

// Delete removes a row; it reports whether the row existed.
func (e *Emulator) Delete(table, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	r, ok := t.rows[strings.ToLower(id)]
	if ok {
		e.st.remove(nil, t, r)
	}
	return ok
}

// Get returns a row's columns in their JSON wire form (dates as strings).
func (e *Emulator) Get(table, id string) (map[string]any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	r, ok := t.rows[strings.ToLower(id)]
	if !ok {
		return nil, false
	}
	return wireRow(t.def, r), true
}

// Rows returns every row of a table in their JSON wire form, ordered by
// primary key.
func (e *Emulator) Rows(table string) []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	ids := make([]string, 0, len(t.rows))
	for id := range t.rows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = wireRow(t.def, t.rows[id])
	}
	return out
}

// QualifyLead qualifies a lead as the QualifyLead action with CreateContact
// does, and returns the new contact's id.
func (e *Emulator) QualifyLead(leadID string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, err := e.qualifyLead(strings.ToLower(leadID), true, 3)
	if err != nil {
		return "", err
	}
	return id, nil
}

// AddColumn adds a custom column to a table (a customization: typ is an
// AttributeType such as "String", "Integer", "Picklist", "DateTime",
// "Boolean", "Decimal"); maxLength applies to strings. Discovery reports it
// with IsCustomAttribute true.
func (e *Emulator) AddColumn(table, name, typ string, maxLength int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	c := &column{name: name, typ: attrType(typ), maxLength: maxLength, custom: true, validForCreate: true, validForUpdate: true}
	if c.typ == tPicklist {
		c.options = []option{opt(100000000, "Option A"), opt(100000001, "Option B")}
	}
	if _, dup := t.def.col(name); dup {
		panic("emulator.AddColumn: " + table + " already has a column " + name)
	}
	e.st.metaVersion++
	c.changedAt = e.st.metaVersion
	t.def.columns = append(t.def.columns, c)
	t.def.index()
	for _, r := range t.rows {
		r.vals[name] = nil
	}
}

// RemoveColumn deletes a custom column from a table, with its values (a
// customization). RetrieveMetadataChanges reports it among the deleted
// metadata from then on. It panics for a column the table does not have,
// a stock column or one in an alternate key: it is for test setup.
func (e *Emulator) RemoveColumn(table, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	c, ok := t.def.col(name)
	if !ok || !c.custom {
		panic("emulator.RemoveColumn: " + table + " has no custom column " + name)
	}
	for _, k := range t.def.keys {
		if has(k.columns, name) {
			panic("emulator.RemoveColumn: " + name + " is in the alternate key " + k.logicalName)
		}
	}
	e.st.metaVersion++
	e.st.metaDeleted = append(e.st.metaDeleted, deletedMeta{id: attrMetaID(t.def, c), kind: "Attribute", version: e.st.metaVersion})
	if len(c.options) > 0 {
		e.st.metaDeleted = append(e.st.metaDeleted, deletedMeta{id: metaID("os:" + t.def.logical + "." + c.name), kind: "OptionSet", version: e.st.metaVersion})
	}
	cols := t.def.columns[:0:0]
	for _, x := range t.def.columns {
		if x != c {
			cols = append(cols, x)
		}
	}
	t.def.columns = cols
	t.def.index()
	for _, r := range t.rows {
		delete(r.vals, name)
	}
}

// ExpireMetadataVersionStamps makes every metadata version stamp issued so
// far expired, as the end of the retention of deleted metadata would:
// RetrieveMetadataChanges with one answers ExpiredVersionStamp.
func (e *Emulator) ExpireMetadataVersionStamps() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.metaVersion++
	e.st.metaExpiredBelow = e.st.metaVersion
}

// SetChangeTracking turns change tracking of a table on or off (on a real
// organization it cannot be turned off once on; tests use this to exercise
// the modifiedon fallback).
func (e *Emulator) SetChangeTracking(table string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.mustTable(table)
	if t.def.changeTracking != on {
		e.st.metaVersion++
		t.def.changeTracking = on
		t.def.changedAt = e.st.metaVersion
	}
}

func (e *Emulator) mustTable(name string) *table {
	t, ok := e.st.tables[name]
	if !ok {
		panic(fmt.Sprintf("emulator: no table %q", name))
	}
	return t
}

// ---- fault injection ----

// FailNext makes the next n API requests answer with status and the body
// the real service sends with it (429 with Retry-After and 0x80072322, 503,
// 500 0x80040216 "An unexpected error occurred.", 401 with WWW-Authenticate,
// ...).
func (e *Emulator) FailNext(n, status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failN, e.failStatus = n, status
}

// Throttle answers every API request with 429 (0x80072322, the request
// limit) for d, with a Retry-After of the time left.
func (e *Emulator) Throttle(d time.Duration) { e.ThrottleWith(d, codeRequestsLimit) }

// ThrottleWith is Throttle citing another limit's code: 0x80072321
// (execution time) or 0x80072326 (concurrency).
func (e *Emulator) ThrottleWith(d time.Duration, code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.throttleUntil = time.Now().Add(d)
	e.throttleCode = code
}

// ExpireDeltaTokens makes every delta token issued so far expired (the
// service answers 0x80044352 for them).
func (e *Emulator) ExpireDeltaTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Tokens carry the row version they were issued at; moving the version
	// on (a gap, as rowversion allows) separates the tokens issued so far
	// from those issued from now on.
	e.st.version++
	e.deltaExpiredBelow = e.st.version
}

// ExpireAccessTokens invalidates every access token issued so far, as their
// expiry would: the API answers 401 until the client gets a new one.
func (e *Emulator) ExpireAccessTokens() { e.id.expireAccessTokens() }

// ExpireRefreshTokens makes every refresh token issued so far expired
// (AADSTS700082).
func (e *Emulator) ExpireRefreshTokens() { e.id.expireRefreshTokens() }

// ExpireClientSecret makes the client secret expired (AADSTS7000222).
func (e *Emulator) ExpireClientSecret() { e.id.expireSecret() }

// Requests returns the number of API requests served (identity endpoints
// excluded; a $batch counts once).
func (e *Emulator) Requests() int64 { return e.requests.Load() }

// ---- serving ----

// ServeHTTP serves the Web API under /api/data/ and the identity platform
// under /{tenant}/oauth2/v2.0/.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if strings.HasPrefix(path, "/api/data/") {
		e.serveAPI(w, r)
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" {
		switch parts[3] {
		case "token":
			e.serveToken(w, r, parts[0])
			return
		case "authorize":
			e.serveAuthorize(w, r, parts[0])
			return
		}
	}
	http.NotFound(w, r)
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// maxURLLength is the service's URL limit (32 KB; Microsoft, "Compose HTTP
// requests and handle errors", section "Maximum URL length":
// https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
// Inside a $batch the limit is 64 KB.
const (
	maxURLLength      = 32768
	maxBatchURLLength = 65536
)

func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	if err := e.injectedFault(); err != nil {
		writeAPIError(w, r, err)
		return
	}
	user, ok := e.id.checkBearer(r)
	if !ok {
		// UNCERTAIN (reference §8: the body of a 401 is not documented).
		// The service answers with an empty body and a WWW-Authenticate
		// challenge naming the authority and the resource.
		base := baseURL(r)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/`, base, emulatorTenant, base))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	release, err := e.limiter.admit(user)
	if err != nil {
		writeAPIError(w, r, err)
		return
	}
	start := time.Now()
	defer func() { release(time.Since(start)) }()
	// The Date header comes from the same clock that stamps modifiedon, as
	// on the service.
	w.Header().Set("Date", e.opts.Now().UTC().Format(http.TimeFormat))
	if len(r.URL.RequestURI()) > maxURLLength {
		// UNCERTAIN: the status the service answers an over-long URL with
		// is not documented; 414 is HTTP's status for it.
		writeAPIError(w, r, errf(http.StatusRequestURITooLong, "", "The request URL is longer than the maximum of %d characters.", maxURLLength))
		return
	}
	e.dispatch(w, r, false, nil)
}

func (e *Emulator) injectedFault() *apiError {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failN > 0 {
		e.failN--
		return faultBody(e.failStatus)
	}
	if d := time.Until(e.throttleUntil); d > 0 {
		msg := map[string]string{codeRequestsLimit: msgRequestsLimit, codeExecTimeLimit: msgExecTimeLimit, codeConcurrencyLimit: msgConcurrencyLimit}[e.throttleCode]
		return &apiError{status: http.StatusTooManyRequests, code: e.throttleCode, message: msg, retryAfter: retrySeconds(d)}
	}
	return nil
}

// retrySeconds is a Retry-After value: whole seconds (the service sends an
// integer, reference §9), rounded up, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// writeAPIError writes the standard error body.
func writeAPIError(w http.ResponseWriter, r *http.Request, err *apiError) {
	h := w.Header()
	h.Set("OData-Version", "4.0")
	if err.retryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(err.retryAfter))
	}
	if err.status == http.StatusUnauthorized && err.message == "" {
		base := baseURL(r)
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/`, base, emulatorTenant, base))
		w.WriteHeader(err.status)
		return
	}
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	h.Set("REQ_ID", "00000000-0000-0000-0000-000000000000")
	w.WriteHeader(err.status)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": err.code, "message": err.message}})
	_, _ = w.Write(body)
}

// requestContext carries what a handler needs about one (sub-)request.
type requestContext struct {
	base    string // scheme://host
	version string // v9.2
	prefer  preferences
	inBatch bool
	ctx     context.Context
	// tx is the change set a request runs in; the emulator's mutex is
	// then held by the change set, and the request must not lock it.
	tx *tx
	e  *Emulator
	// detect: the request sent MSCRM.SuppressDuplicateDetection: false.
	detect bool
}

func (rc *requestContext) lock() {
	if rc.tx == nil {
		rc.e.mu.Lock()
	}
	rc.e.st.detect = rc.detect
}

func (rc *requestContext) unlock() {
	rc.e.st.detect = false
	if rc.tx == nil {
		rc.e.mu.Unlock()
	}
}

func (rc *requestContext) apiRoot() string { return rc.base + "/api/data/" + rc.version + "/" }
