package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synclang/synclang/connectors/emulate"
)

// Options configure an Emulator.
type Options struct {
	// Seed is the number of sample persons to create (see Seed in seed.go
	// for who they are); 0 starts empty, with no custom attributes.
	Seed int
	// Limits is emulate.Real (each operation answers 429 past its
	// documented per-second rate, counted in fixed one-second windows),
	// emulate.Sliding (the same rates, counted in the one second before
	// each request: Infobip documents requests per second without saying
	// which window it counts in, and a client paced for a sliding window
	// passes both) or emulate.Off. The zero value is Real, as for
	// `synclang emulate people`.
	Limits emulate.Limits
	// TimeScale speeds up the rate-limit windows: with 10, each operation
	// allows its documented number of requests per 100 ms. 0 means 1.
	// Timestamps are not scaled (they come from Now).
	TimeScale float64
	// Now is the clock that stamps createdAt and modifiedAt; nil means
	// time.Now. Tests pass a fake clock to put many writes in one second.
	Now func() time.Time
	// APIKey is the key clients must send (`Authorization: App <key>`);
	// "" generates a random one.
	APIKey string
	// NoDateFilters makes list filters on createdAt and modifiedAt answer
	// 400, for testing clients against an account where such filters do not
	// work (the reference, §8, marks their support UNCERTAIN).
	NoDateFilters bool
	// RefuseBadBatches makes a batch create or update with one invalid
	// person (a value of the wrong type or form, not a duplicate) fail as a
	// whole with 400 and no per-item results, as a service refuses a body
	// its JSON binding cannot read; the reference (§3.5) says whole-request
	// problems answer 400. By default each person fails alone.
	RefuseBadBatches bool
}

// Emulator is an in-memory Infobip People API: an http.Handler serving the
// person, batch, match, v3 upsert, custom attribute and tag endpoints on
// their real paths. It is safe for concurrent use.
type Emulator struct {
	opts      Options
	key       string
	now       func() time.Time
	scale     float64
	epoch     time.Time
	requests  atomic.Int64
	throttled atomic.Int64

	mu       sync.Mutex
	persons  map[int64]*person
	nextID   int64
	byEmail  map[string]int64 // lower-cased address
	byPhone  map[string]int64
	byExtID  map[string]int64
	attrs    map[string]*attribute
	tags     map[string]*tag
	nextTag  int64
	routes   []route
	fmu      sync.Mutex // faults and throttling
	failLeft int
	failCode int
	stormEnd time.Time
	windows  map[string]*window
	// byModified holds every person by ascending modifiedAt and id, for
	// lists; nil after a write (see modifiedIn).
	byModified []*person
}

type window struct {
	index int64
	count int
	// admitted holds the last admissions, oldest first, for "sliding".
	admitted []time.Time
}

// New returns an emulator, seeded as opts.Seed says.
func New(opts Options) *Emulator {
	if opts.Limits == "" {
		opts.Limits = emulate.Real
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 1
	}
	e := &Emulator{
		opts: opts, key: opts.APIKey, now: opts.Now, scale: opts.TimeScale, epoch: time.Now(),
		persons: map[int64]*person{}, byEmail: map[string]int64{}, byPhone: map[string]int64{}, byExtID: map[string]int64{},
		attrs: map[string]*attribute{}, tags: map[string]*tag{}, windows: map[string]*window{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.key == "" {
		e.key = newAPIKey()
	}
	e.routes = e.routeTable()
	if opts.Seed > 0 {
		e.seed(opts.Seed)
	}
	return e
}

// newAPIKey returns a key in Infobip's format: 32 hex digits, "-", a UUID.
func newAPIKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:32] + "-" + h[32:40] + "-" + h[40:44] + "-" + h[44:48] + "-" + h[48:52] + "-" + h[52:64]
}

// APIKey returns the key clients must send.
func (e *Emulator) APIKey() string { return e.key }

// Settings returns the connection settings (url, api_key) of a people
// connection to this emulator served at baseURL.
func (e *Emulator) Settings(baseURL string) map[string]string {
	return map[string]string{"url": strings.TrimRight(baseURL, "/"), "api_key": e.key}
}

// Requests returns how many requests the emulator has received, rejected
// ones included.
func (e *Emulator) Requests() int64 { return e.requests.Load() }

// Throttled returns how many requests the rate limits answered 429 (not
// counting Throttle's and FailNext's injected answers): a test counting the
// requests a client chose to send subtracts them, since how the client's
// pacing and the emulator's windows meet depends on the machine's load.
func (e *Emulator) Throttled() int64 { return e.throttled.Load() }

// FailNext makes the next n authenticated requests fail with status (and
// the legacy error body the API sends with it: 429 TOO_MANY_REQUESTS, 5xx
// GENERAL_ERROR, ...), before they reach their handler.
func (e *Emulator) FailNext(n int, status int) {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.failLeft, e.failCode = n, status
}

// Throttle answers every authenticated request with 429 for d (real time),
// as a throttled account does during a storm.
func (e *Emulator) Throttle(d time.Duration) {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.stormEnd = time.Now().Add(d)
}

// route is one operation: method, path pattern ("{}" is a path parameter),
// the operation's name for throttling and its per-second limit (reference
// §3, §4, §7; spec x-throttling-info).
type route struct {
	method  string
	pattern []string
	op      string
	limit   int
	handle  func(w http.ResponseWriter, r *http.Request, params []string)
}

func (e *Emulator) routeTable() []route {
	rt := func(method, path string, limit int, h func(http.ResponseWriter, *http.Request, []string)) route {
		return route{method: method, pattern: strings.Split(strings.Trim(path, "/"), "/"), op: method + " " + path, limit: limit, handle: h}
	}
	return []route{
		rt("GET", "/people/2/persons", 5, e.getPersons),
		rt("POST", "/people/2/persons", 10, e.createPerson),
		rt("PUT", "/people/2/persons", 5, e.updatePerson(modePut)),
		rt("PATCH", "/people/2/persons", 5, e.updatePerson(modePatch)),
		rt("DELETE", "/people/2/persons", 5, e.deletePerson),
		rt("PUT", "/people/2/persons/contactInformation", 5, e.contacts(http.MethodPut)),
		rt("PATCH", "/people/2/persons/contactInformation", 5, e.contacts(http.MethodPatch)),
		rt("DELETE", "/people/2/persons/contactInformation", 5, e.contacts(http.MethodDelete)),
		rt("POST", "/people/2/persons/batch", 5, e.batchCreate),
		rt("PATCH", "/people/2/persons/batch", 5, e.batchUpdate),
		rt("DELETE", "/people/2/persons/batch", 5, e.batchDelete),
		rt("POST", "/people/2/persons/match", 15, e.match),
		rt("PUT", "/people/3/persons/upsert", 5, e.upsert(modePut)),
		rt("PATCH", "/people/3/persons/upsert", 5, e.upsert(modePatch)),
		rt("GET", "/people/2/customAttributes", 5, e.listAttributes),
		rt("POST", "/people/2/customAttributes", 5, e.createAttribute),
		rt("GET", "/people/2/customAttributes/{}", 5, e.getAttribute),
		rt("DELETE", "/people/2/customAttributes/{}", 5, e.deleteAttribute),
		rt("GET", "/people/2/tags", 5, e.listTags),
		rt("POST", "/people/2/tags", 5, e.createTag),
		rt("GET", "/people/2/tags/{}", 5, e.getTag),
		rt("DELETE", "/people/2/tags/{}", 5, e.deleteTag),
		rt("PATCH", "/people/2/tags/{}/persons", 5, e.tagPersons(true)),
		rt("DELETE", "/people/2/tags/{}/persons", 5, e.tagPersons(false)),
	}
}

// RateLimit is one operation's documented limit.
type RateLimit struct {
	Op        string // "GET /people/2/persons", "PATCH /people/2/tags/{}/persons"
	PerSecond int
}

// RateLimits lists the per-second limits the emulator enforces with
// Limits "real" (before TimeScale).
func (e *Emulator) RateLimits() []RateLimit {
	out := make([]RateLimit, len(e.routes))
	for i, r := range e.routes {
		out[i] = RateLimit{Op: r.op, PerSecond: r.limit}
	}
	return out
}

// lookupRoute finds the route of a request and its path parameters; allowed lists
// the methods of the path when only the method is wrong.
func (e *Emulator) lookupRoute(method string, segs []string) (r *route, params []string, allowed []string) {
	for i := range e.routes {
		rt := &e.routes[i]
		if len(rt.pattern) != len(segs) {
			continue
		}
		var ps []string
		ok := true
		for j, p := range rt.pattern {
			if p == "{}" {
				ps = append(ps, segs[j])
			} else if p != segs[j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method == method {
			return rt, ps, nil
		}
		allowed = append(allowed, rt.method)
	}
	return nil, nil, allowed
}

// ServeHTTP authenticates, routes, applies injected faults and rate limits,
// and answers.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	// The Date header comes from the clock that stamps modifiedAt, as a
	// service's does: clients compare the two (how old a second is).
	w.Header().Set("Date", e.now().UTC().Format(http.TimeFormat))
	if !e.authorized(r) {
		writeLegacy(w, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized", nil)
		return
	}
	segs, ok := pathSegments(r.URL)
	if !ok {
		writeLegacy(w, http.StatusNotFound, "NOT_FOUND", "Not found", nil)
		return
	}
	rt, params, allowed := e.lookupRoute(r.Method, segs)
	if rt == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeLegacy(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed", nil)
			return
		}
		writeLegacy(w, http.StatusNotFound, "NOT_FOUND", "Not found", nil)
		return
	}
	if status := e.injectedFault(); status != 0 {
		writeStatus(w, status)
		return
	}
	if !e.admit(rt.op, rt.limit) {
		e.throttled.Add(1)
		writeStatus(w, http.StatusTooManyRequests)
		return
	}
	rt.handle(w, r, params)
}

// pathSegments splits the escaped path and unescapes each segment, so a
// custom attribute name may contain "/" when encoded.
func pathSegments(u *url.URL) ([]string, bool) {
	parts := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = s
	}
	return parts, true
}

// authorized accepts `Authorization: App <key>` (scheme case-insensitive).
// Basic, IBSSO and OAuth2 bearer tokens, which the real API also accepts,
// need credentials the emulator does not have; the query-string form of the
// key is not in the People spec (reference §1).
func (e *Emulator) authorized(r *http.Request) bool {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "App") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(cred)), []byte(e.key)) == 1
}

func (e *Emulator) injectedFault() int {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	if e.failLeft > 0 {
		e.failLeft--
		return e.failCode
	}
	if time.Now().Before(e.stormEnd) {
		return http.StatusTooManyRequests
	}
	return 0
}

// admit counts a request against its operation's limit in the current
// window (one second divided by TimeScale). The spec's throttling type is
// "time" with a number of requests per second; the emulator uses fixed
// windows, or sliding ones when Limits is "sliding". Rejected requests do
// not count.
func (e *Emulator) admit(op string, limit int) bool {
	if e.opts.Limits == emulate.Off || limit <= 0 {
		return true
	}
	idx := int64(time.Since(e.epoch).Seconds() * e.scale)
	e.fmu.Lock()
	defer e.fmu.Unlock()
	w := e.windows[op]
	if w == nil {
		w = &window{index: idx}
		e.windows[op] = w
	}
	if e.opts.Limits == emulate.Sliding {
		now := time.Now()
		span := time.Duration(float64(time.Second) / e.scale)
		if len(w.admitted) >= limit {
			if now.Sub(w.admitted[len(w.admitted)-limit]) < span {
				return false
			}
			w.admitted = append(w.admitted[:0], w.admitted[len(w.admitted)-limit+1:]...)
		}
		w.admitted = append(w.admitted, now)
		return true
	}
	if w.index != idx {
		w.index, w.count = idx, 0
	}
	if w.count >= limit {
		return false
	}
	w.count++
	return true
}

// legacyError is the envelope of every v2 error (ApiException).
type legacyError struct {
	RequestError struct {
		ServiceException struct {
			MessageID        string              `json:"messageId"`
			Text             string              `json:"text"`
			ValidationErrors map[string][]string `json:"validationErrors,omitempty"`
		} `json:"serviceException"`
	} `json:"requestError"`
}

func writeLegacy(w http.ResponseWriter, status int, messageID, text string, validation map[string][]string) {
	var body legacyError
	body.RequestError.ServiceException.MessageID = messageID
	body.RequestError.ServiceException.Text = text
	body.RequestError.ServiceException.ValidationErrors = validation
	writeJSON(w, status, body)
}

// writeStatus writes the legacy body the spec documents for status.
func writeStatus(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusBadRequest:
		writeLegacy(w, status, "BAD_REQUEST", "Bad request", nil)
	case status == http.StatusUnauthorized:
		writeLegacy(w, status, "UNAUTHORIZED", "Unauthorized", nil)
	case status == http.StatusForbidden:
		writeLegacy(w, status, "FORBIDDEN", "Forbidden", nil)
	case status == http.StatusNotFound:
		writeLegacy(w, status, "NOT_FOUND", "Not found", nil)
	case status == http.StatusTooManyRequests:
		writeLegacy(w, status, "TOO_MANY_REQUESTS", "Too many requests", nil)
	case status >= 500:
		writeLegacy(w, status, "GENERAL_ERROR", "Something went wrong. Please contact support.", nil)
	default:
		writeLegacy(w, status, "BAD_REQUEST", http.StatusText(status), nil)
	}
}

// badRequest answers 400 with the validation messages grouped by property.
func badRequest(w http.ResponseWriter, errs []fieldError) {
	v := map[string][]string{}
	for _, f := range errs {
		key := f.Field
		if key == "" {
			key = "body"
		}
		v[key] = append(v[key], f.Message)
	}
	writeLegacy(w, http.StatusBadRequest, "BAD_REQUEST", "Bad request", v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// maxBody bounds request bodies (1000 persons with long custom attributes
// fit easily).
const maxBody = 64 << 20

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("request body is larger than %d bytes", maxBody)
	}
	return data, nil
}

// failure is why one write was refused.
type failure struct {
	conflict bool // a uniqueness rule (item status 409)
	notFound bool
	fields   []fieldError
	message  string
}

func (f *failure) messages() []string {
	if f.message != "" {
		return []string{f.message}
	}
	out := make([]string, len(f.fields))
	for i, fe := range f.fields {
		out[i] = fe.String()
	}
	return out
}

// itemStatus is the per-item status of a batch result: 409 for duplicates
// and (as the spec documents) for "There is no person matching the query",
// 400 for invalid data.
func (f *failure) itemStatus() int {
	if f.conflict || f.notFound {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// writeFailure answers a single-person operation. Duplicates on single
// operations are not documented (reference §5, UNCERTAIN); the spec
// documents only the legacy envelope for v2 4xx, so the emulator answers
// 400 BAD_REQUEST with the batch operation's message as text.
func writeFailure(w http.ResponseWriter, f *failure) {
	switch {
	case f.notFound:
		writeStatus(w, http.StatusNotFound)
	case f.conflict:
		writeLegacy(w, http.StatusBadRequest, "BAD_REQUEST", f.message, nil)
	default:
		badRequest(w, f.fields)
	}
}

const noMatch = "There is no person matching the query"

// find resolves a person query (identifier + type + sender). Only ID,
// EXTERNAL_ID, PHONE and EMAIL are stored; the channel identifier types
// need a sender and find nobody.
func (e *Emulator) find(idType, identifier, sender string) (*person, *failure) {
	switch idType {
	case "ID":
		id, err := strconv.ParseInt(strings.TrimSpace(identifier), 10, 64)
		if err != nil {
			return nil, &failure{notFound: true, message: noMatch}
		}
		if p := e.persons[id]; p != nil {
			return p, nil
		}
	case "EXTERNAL_ID":
		if id, ok := e.byExtID[identifier]; ok {
			return e.persons[id], nil
		}
	case "EMAIL":
		if id, ok := e.byEmail[strings.ToLower(strings.TrimSpace(identifier))]; ok {
			return e.persons[id], nil
		}
	case "PHONE":
		if id, ok := e.byPhone[normalizePhone(identifier)]; ok {
			return e.persons[id], nil
		}
	case "LINE", "FACEBOOK", "TELEGRAM", "PUSH", "WEB_PUSH", "LIVE_CHAT", "VIBER_BOTS", "INSTAGRAM", "INSTAGRAM_DM",
		"TWITTER", "APPLE_BUSINESS_CHAT", "KAKAO_SANGDAM", "OPEN_CHANNEL", "ZALO_FOLLOWER", "TIKTOK_BM", "WHATSAPP":
		if sender == "" {
			return nil, &failure{fields: []fieldError{{"sender", fmt.Sprintf("sender is required for identifier type %s", idType)}}}
		}
	case "":
		return nil, &failure{fields: []fieldError{{"type", "must not be null"}}}
	default:
		return nil, &failure{fields: []fieldError{{"type", fmt.Sprintf("%q is not a person identifier type", idType)}}}
	}
	return nil, &failure{notFound: true, message: noMatch}
}

// commit stores next in place of cur (nil: create), enforcing the
// uniqueness of email (without case), phone and externalId across all
// persons. It stamps the timestamps and reports whether anything changed; an
// update that changes nothing keeps modifiedAt.
func (e *Emulator) commit(cur, next *person, source string) (*person, bool, *failure) {
	self := int64(0)
	if cur != nil {
		self = cur.ID
	}
	for _, a := range next.Emails {
		if id, ok := e.byEmail[strings.ToLower(a)]; ok && id != self {
			return nil, false, &failure{conflict: true, message: fmt.Sprintf("Destination(email) %s already exists.", a)}
		}
	}
	for _, n := range next.Phones {
		if id, ok := e.byPhone[n]; ok && id != self {
			// The spec shows only the email form; the phone form is its
			// analogue (reference §5, UNCERTAIN wording).
			return nil, false, &failure{conflict: true, message: fmt.Sprintf("Destination(phone) %s already exists.", n)}
		}
	}
	if next.ExternalID != "" {
		if id, ok := e.byExtID[next.ExternalID]; ok && id != self {
			// Wording not documented (UNCERTAIN).
			return nil, false, &failure{conflict: true, message: fmt.Sprintf("Person with externalId %s already exists.", next.ExternalID)}
		}
	}
	now := e.now().UTC().Truncate(time.Second)
	if cur == nil {
		e.nextID++
		next.ID = e.nextID
		next.CreatedAt, next.ModifiedAt = now, now
		next.Origin, next.ModifiedFrom = source, source
	} else {
		if cur.contentKey() == next.contentKey() {
			return cur, false, nil
		}
		next.ModifiedAt, next.ModifiedFrom = now, source
		e.unindex(cur)
	}
	e.persons[next.ID] = next
	e.index(next)
	for _, t := range next.Tags {
		e.ensureTag(t)
	}
	return next, true, nil
}

func (e *Emulator) index(p *person) {
	e.byModified = nil
	for _, a := range p.Emails {
		e.byEmail[strings.ToLower(a)] = p.ID
	}
	for _, n := range p.Phones {
		e.byPhone[n] = p.ID
	}
	if p.ExternalID != "" {
		e.byExtID[p.ExternalID] = p.ID
	}
}

func (e *Emulator) unindex(p *person) {
	e.byModified = nil
	for _, a := range p.Emails {
		delete(e.byEmail, strings.ToLower(a))
	}
	for _, n := range p.Phones {
		delete(e.byPhone, n)
	}
	if p.ExternalID != "" {
		delete(e.byExtID, p.ExternalID)
	}
}

func (e *Emulator) remove(p *person) {
	e.unindex(p)
	delete(e.persons, p.ID)
}

// sortedPersons returns every person by ascending id.
func (e *Emulator) sortedPersons() []*person {
	out := make([]*person, 0, len(e.persons))
	for _, p := range e.persons {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
