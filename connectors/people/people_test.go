package people

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/conntest"
	"github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/internal/testkit"
)

// testScale speeds up the emulator's rate-limit windows and the
// connector's pacing alike, so tests run against the real limits quickly.
const testScale = 50

// harness is a connector wired to an emulator through a recording
// transport, with a fake clock stamping modifiedAt.
type harness struct {
	c     *Conn
	emu   *emulator.Emulator
	rec   *recorder
	clock *testkit.Clock
	cfg   connector.Config // what c was built from (a new process uses it again)
	tune  tuning
}

func newHarness(t testing.TB, opts emulator.Options, tune tuning) *harness {
	t.Helper()
	if opts.TimeScale == 0 {
		opts.TimeScale = testScale
	}
	clock := testkit.NewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if tune.minBackoff == 0 {
		tune.minBackoff, tune.maxBackoff = time.Millisecond, 5*time.Millisecond
	}
	emu, srv := emulator.NewTestServer(t, opts)
	rec := &recorder{base: srv.Client().Transport}
	cfg := connector.Config{Name: "cdp", Settings: emu.Settings(srv.URL), RateScale: opts.TimeScale, CacheDir: t.TempDir(),
		HTTPClient: &http.Client{Transport: rec}}
	c, err := newConn(cfg, tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &harness{c: c, emu: emu, rec: rec, clock: clock, cfg: cfg, tune: tune}
}

// recorder counts the requests that reach the server, by "METHOD path",
// and runs a hook before each.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []string
	hook func(n int, r *http.Request)
	// rewrite, when set, changes the body of every answer (a hostile or
	// broken service).
	rewrite func([]byte) []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.log = append(r.log, req.Method+" "+req.URL.Path)
	n, hook, rewrite := len(r.log), r.hook, r.rewrite
	r.mu.Unlock()
	if hook != nil {
		hook(n, req)
	}
	resp, err := r.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		// A throttled request did nothing: it is logged apart, so that
		// counts of the requests the connector chose to send stay exact
		// however the pacing and the emulator's windows meet on a busy
		// machine.
		r.mu.Lock()
		if n-1 < len(r.log) && r.log[n-1] == req.Method+" "+req.URL.Path {
			r.log[n-1] += " (429)"
		}
		r.mu.Unlock()
	}
	if err != nil || rewrite == nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = rewrite(body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// reset clears the log and returns what it held.
func (r *recorder) reset() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

func (r *recorder) setHook(h func(n int, r *http.Request)) {
	r.mu.Lock()
	r.hook = h
	r.mu.Unlock()
}

// counts summarizes a request log: "GET /people/2/persons" → n.
func counts(log []string) map[string]int {
	m := map[string]int{}
	for _, l := range log {
		m[l]++
	}
	return m
}

func TestConformance(t *testing.T) {
	t.Parallel()
	var harnesses sync.Map // *Conn → *harness
	conntest.Run(t, func(t *testing.T) connector.Connector {
		// Small batches, so the estimates meet batch boundaries.
		h := newHarness(t, emulator.Options{}, tuning{pageSize: 7, batchSize: 4, idsPerGet: 3})
		if err := h.emu.DefineAttribute("JobTitle", "STRING"); err != nil {
			t.Fatal(err)
		}
		harnesses.Store(h.c, h)
		return h.c
	}, conntest.Options{
		Entity: EntityCustomer,
		NewRecord: func(i int) map[string]any {
			return map[string]any{"firstName": fmt.Sprint("F", i), "lastName": "Lovelace", "city": "London",
				"email": fmt.Sprintf("p%d@example.com", i), "phone": fmt.Sprintf("4477009%05d", i),
				"externalId": fmt.Sprintf("crm-%d", i), "custom.JobTitle": "Engineer"}
		},
		UpdateField:  "city",
		UpdateValue:  func(i int) any { return fmt.Sprint("Paris ", i) },
		LookupFields: []string{"email", "phone", "externalId"},
		MissingKey:   "999999",
		Invalid:      func(i int) map[string]any { return map[string]any{"lastName": "X", "email": "not-an-email"} },
		// People's answers are rewritten on their way to the connector:
		// the person's firstName comes as a number.
		Corrupt: func(t *testing.T, c connector.Connector, key string) string {
			hv, _ := harnesses.Load(c)
			h := hv.(*harness)
			id, _ := strconv.ParseInt(key, 10, 64)
			p, _ := h.emu.Get(id)
			from, _ := json.Marshal(map[string]any{"firstName": p["firstName"]})
			from = bytes.Trim(from, "{}")
			h.rec.mu.Lock()
			h.rec.rewrite = func(b []byte) []byte { return bytes.ReplaceAll(b, from, []byte(`"firstName":12345`)) }
			h.rec.mu.Unlock()
			return "firstName"
		},
		Served: func(c connector.Connector) int64 {
			hv, _ := harnesses.Load(c)
			emu := hv.(*harness).emu
			return emu.Requests() - emu.Throttled()
		},
		EstimateSizes: []int{1, 4, 10},
		// Writes whose cost differs: persons without an identity (created
		// one by one), changed contacts, a lead.
		EstimateRequests: func(t *testing.T, c connector.Connector, keys []string) []connector.UpsertRequest {
			lead := mustCreate(t, c.(*Conn), EntityLead, map[string]any{"firstName": "L", "email": "lead@example.com"})
			return []connector.UpsertRequest{
				{Entity: EntityCustomer, Records: []connector.Record{{Fields: map[string]any{"firstName": "Nobody"}}, {Fields: map[string]any{"lastName": "Nobody"}}}},
				{Entity: EntityCustomer, Records: []connector.Record{{Key: keys[2], Fields: map[string]any{"phone": "385912222222"}}, {Key: keys[3], Fields: map[string]any{"email": "new3@example.com", "lastName": "X"}},
					{Key: keys[4], Fields: map[string]any{"phone": "385913333333"}}, {Key: keys[5], Fields: map[string]any{"email": "new5@example.com"}}}},
				{Entity: EntityLead, Records: []connector.Record{{Key: lead, Fields: map[string]any{"email": "lead2@example.com"}}}},
			}
		},
		NormalizeValues: []conntest.FieldValue{
			{Field: "phone", Value: "+385 91 234-5678"},
			{Field: "phone", Value: "+44 (7700) 900.123"},
			{Field: "email", Value: "  Ana.Horvat@Example.com "},
			{Field: "phones", Value: []any{"+385 91 234 5678", "385912345678", " +44 7700 900123"}},
			{Field: "emails", Value: []any{"ana@example.com", "ANA@example.com", " ana2@example.com"}},
			{Field: "tags", Value: []any{"VIP", " VIP", "Newsletter"}},
			{Field: "firstName", Value: "  Ana  "},
			{Field: "city", Value: ""},
			{Field: "city", Value: "Zagreb"},
		},
	})
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads an entity since cur and returns the records and the last
// cursor, which it must carry (testkit.ReadAll).
func readAll(t testing.TB, c *Conn, entity string, since connector.Cursor) ([]connector.Record, connector.Cursor) {
	t.Helper()
	recs, next, _ := testkit.ReadAll(t, testCtx(t), c, connector.ReadRequest{Entity: entity, Since: since})
	if next.IsZero() {
		t.Fatalf("Read %s returned no cursor", entity)
	}
	return recs, next
}

func upsert(t testing.TB, c *Conn, entity string, recs ...connector.Record) []connector.WriteResult {
	t.Helper()
	res, err := c.Upsert(testCtx(t), connector.UpsertRequest{Entity: entity, Records: recs})
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	if len(res.Results) != len(recs) {
		t.Fatalf("Upsert: %d results for %d records", len(res.Results), len(recs))
	}
	return res.Results
}

func mustCreate(t testing.TB, c *Conn, entity string, fields map[string]any) string {
	t.Helper()
	r := upsert(t, c, entity, connector.Record{Fields: fields})[0]
	if r.Effect != connector.Created || r.Err != nil {
		t.Fatalf("create: %+v", r)
	}
	return r.Key
}

func personMap(email string, extra map[string]any) map[string]any {
	p := map[string]any{"contactInformation": map[string]any{"email": []any{map[string]any{"address": email}}}}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func emailsOf(p map[string]any) []string {
	return listOf(p, "email", "address")
}

func phonesOf(p map[string]any) []string {
	return listOf(p, "phone", "number")
}

func listOf(p map[string]any, kind, key string) []string {
	ci, _ := p["contactInformation"].(map[string]any)
	list, _ := ci[kind].([]any)
	var out []string
	for _, e := range list {
		out = append(out, e.(map[string]any)[key].(string))
	}
	return out
}

func get(t testing.TB, emu *emulator.Emulator, key string) map[string]any {
	t.Helper()
	var id int64
	if _, err := fmt.Sscan(key, &id); err != nil {
		t.Fatalf("key %q", key)
	}
	p, ok := emu.Get(id)
	if !ok {
		t.Fatalf("person %s does not exist", key)
	}
	return p
}

func noSecret(t testing.TB, key, what string) {
	t.Helper()
	if strings.Contains(what, key) {
		t.Errorf("the API key leaked: %s", what)
	}
}
