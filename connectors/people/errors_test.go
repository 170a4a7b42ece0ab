package people

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people/emulator"
)

// A storm of 429s (People sends no Retry-After) is ridden out with backoff:
// each record is written once, and the connector counts what happened.
func TestThrottleStorm(t *testing.T) {
	t.Parallel()
	// 429s are retried for as long as the retry budget lasts: a short one
	// lets the storms below outlast it.
	h := newHarness(t, emulator.Options{}, tuning{budget: 300 * time.Millisecond})
	warm(t, h)
	h.emu.FailNext(5, http.StatusTooManyRequests)
	key := mustCreate(t, h.c, EntityCustomer, map[string]any{"email": "a@example.com", "firstName": "A"})
	if get(t, h.emu, key)["firstName"] != "A" || h.emu.Len() != 1 {
		t.Fatalf("after the storm: %d persons", h.emu.Len())
	}
	st := h.c.Stats()
	if st.Throttled != 5 || st.Retries != 5 {
		t.Errorf("stats %+v, want 5 throttled and 5 retries", st)
	}
	// A storm on the match after the batch create does not create twice.
	h.emu.FailNext(0, 0)
	h.rec.setHook(func(n int, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/match") {
			h.rec.setHook(nil)
			h.emu.FailNext(3, http.StatusTooManyRequests)
		}
	})
	key2 := mustCreate(t, h.c, EntityCustomer, map[string]any{"email": "b@example.com"})
	if h.emu.Len() != 2 || get(t, h.emu, key2) == nil {
		t.Errorf("%d persons", h.emu.Len())
	}

	// A storm that outlasts the retries of the match after a batch create:
	// the call fails, and the created record says it was created.
	h.rec.setHook(func(n int, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/match") {
			h.rec.setHook(nil)
			h.emu.FailNext(100000, http.StatusTooManyRequests)
		}
	})
	res, err := h.c.Upsert(testCtx(t), connector.UpsertRequest{Entity: EntityCustomer, Records: []connector.Record{
		{Fields: map[string]any{"email": "m@example.com"}}}})
	if connector.KindOf(err) != connector.ErrorThrottled || h.emu.Len() != 3 ||
		!strings.Contains(res.Results[0].Err.Error(), "People created the person") || !strings.Contains(res.Results[0].Err.Error(), "by its email") {
		t.Errorf("match storm after a create: %v; %+v", err, res.Results)
	}
	h.emu.FailNext(0, 0)

	// A storm longer than the retries fails the call as throttled, and
	// every record with it.
	h.emu.Throttle(time.Hour)
	res, err = h.c.Upsert(testCtx(t), connector.UpsertRequest{Entity: EntityCustomer, Records: []connector.Record{
		{Fields: map[string]any{"email": "c@example.com"}}, {Key: key, Fields: map[string]any{"city": "x"}}}})
	if connector.KindOf(err) != connector.ErrorThrottled || !connector.Retryable(err) {
		t.Fatalf("err %v, want throttled", err)
	}
	for i, r := range res.Results {
		if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorThrottled {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if !strings.Contains(err.Error(), "TOO_MANY_REQUESTS") || !strings.Contains(err.Error(), "run again later") {
		t.Errorf("message %q", err)
	}
}

// With the emulator's real limits, a burst of requests stays under them
// thanks to the pacer: nothing is throttled.
func TestPacerKeepsUnderLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{Limits: "real", TimeScale: 20}, tuning{})
	for i := 0; i < 30; i++ {
		if _, err := h.c.Lookup(testCtx(t), connector.LookupRequest{Entity: EntityCustomer, Field: "email", Values: []any{fmt.Sprintf("x%d@example.com", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// 30 GETs at 5 per (scaled) second. Without the pacer they all go at
	// once and the lookups fail as throttled. With it, an occasional 429 is
	// possible where the emulator's windows and the pacer's spacing do not
	// line up (the pacer lets at most two requests go back to back after a
	// stall, a window holds five); it is retried.
	if st := h.c.Stats(); st.Throttled > 3 {
		t.Errorf("stats %+v: the pacer let too many requests through", st)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{Seed: 5}, tuning{})
	warm(t, h)
	h.emu.FailNext(2, http.StatusServiceUnavailable)
	recs, _ := readAll(t, h.c, EntityCustomer, connector.Cursor{})
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	if st := h.c.Stats(); st.Retries != 2 {
		t.Errorf("stats %+v", st)
	}
	// A 500 on a create is not retried (the batch may have been applied);
	// the call fails as transient.
	h.emu.FailNext(1, http.StatusInternalServerError)
	_, err := h.c.Upsert(testCtx(t), connector.UpsertRequest{Entity: EntityCustomer, Records: []connector.Record{{Fields: map[string]any{"email": "z@example.com"}}}})
	if connector.KindOf(err) != connector.ErrorTransient || !strings.Contains(err.Error(), "GENERAL_ERROR") {
		t.Errorf("500 on create: %v", err)
	}
	// A 500 on an idempotent PATCH is retried.
	h.emu.FailNext(1, http.StatusInternalServerError)
	if r := upsert(t, h.c, EntityCustomer, connector.Record{Key: recs[0].Key, Fields: map[string]any{"city": "Split"}})[0]; r.Effect != connector.Updated {
		t.Errorf("500 on update: %+v", r)
	}
}

// Credentials never reach errors or logs, whatever fails.
func TestAuthErrorsKeepTheKeySecret(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	emu, srv := emulator.NewTestServer(t, emulator.Options{Limits: "off"})
	settings := emu.Settings(srv.URL)
	wrong := "0123456789abcdef0123456789abcdef-deadbeef-0000-4000-8000-000000000000"
	settings["api_key"] = wrong
	c, err := newConn(connector.Config{Name: "cdp", Settings: settings, HTTPClient: srv.Client(), RateScale: testScale, CacheDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, tuning{minBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Discover(testCtx(t))
	if connector.KindOf(err) != connector.ErrorAuth || !strings.Contains(err.Error(), "api_key") {
		t.Fatalf("%v", err)
	}
	noSecret(t, wrong, err.Error())
	noSecret(t, wrong, logs.String())

	// Retries are logged without the key or the query (an email).
	right, err := newConn(connector.Config{Name: "cdp", Settings: emu.Settings(srv.URL), HTTPClient: srv.Client(), RateScale: testScale, CacheDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, tuning{minBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	emu.FailNext(3, 503)
	if _, err = right.Lookup(testCtx(t), connector.LookupRequest{Entity: EntityCustomer, Field: "email", Values: []any{"a@b.co"}}); err != nil {
		t.Fatal(err)
	}
	noSecret(t, emu.APIKey(), logs.String())
	noSecret(t, "a@b.co", logs.String())
	noSecret(t, "b.co", logs.String())
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("retries are not logged at debug level: %s", logs.String())
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	emu, srv := emulator.NewTestServer(t, emulator.Options{Limits: "off"})
	settings := emu.Settings(srv.URL)
	srv.Close()
	c, err := newConn(connector.Config{Name: "cdp", Settings: settings, RateScale: testScale, CacheDir: t.TempDir()}, tuning{minBackoff: time.Millisecond, maxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(testCtx(t), connector.LookupRequest{Entity: EntityCustomer, Field: "email", Values: []any{"secret@example.com"}})
	if connector.KindOf(err) != connector.ErrorTransient || !connector.Retryable(err) {
		t.Fatalf("%v", err)
	}
	noSecret(t, "secret@example.com", err.Error()) // the query string is not in the message
	if st := c.Stats(); st.Retries == 0 {
		t.Errorf("connection failures were not retried: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Discover(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		settings map[string]string
		want     string
	}{
		"no url":        {map[string]string{"api_key": "k"}, `"url" is empty`},
		"plain http":    {map[string]string{"url": "http://example.api.infobip.com", "api_key": "k"}, "must use https"},
		"not a url":     {map[string]string{"url": "example.api.infobip.com", "api_key": "k"}, "not an absolute"},
		"query":         {map[string]string{"url": "https://x.api.infobip.com/?a=b", "api_key": "k"}, "without query"},
		"no key":        {map[string]string{"url": "https://x.api.infobip.com"}, `"api_key" is empty`},
		"key with a CR": {map[string]string{"url": "https://x.api.infobip.com", "api_key": "sec\rret"}, "control characters"},
	} {
		_, err := New(context.Background(), connector.Config{Name: "cdp", Settings: tc.settings})
		if connector.KindOf(err) != connector.ErrorConfig || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `connection "cdp"`) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil {
			noSecret(t, "sec\rret", err.Error())
		}
	}
	for _, u := range []string{"https://x.api.infobip.com", "http://127.0.0.1:8082", "http://localhost:1/"} {
		if _, err := New(context.Background(), connector.Config{Settings: map[string]string{"url": u, "api_key": "k"}}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if Kind().New == nil {
		t.Error("Kind().New is not set")
	}
}

func TestLimitsAndScopes(t *testing.T) {
	t.Parallel()
	c, err := newConn(connector.Config{Settings: map[string]string{"url": "https://x.api.infobip.com/base", "api_key": "k"}}, tuning{})
	if err != nil {
		t.Fatal(err)
	}
	emu := emulator.New(emulator.Options{})
	documented := map[string]int{}
	for _, l := range emu.RateLimits() {
		documented[strings.ReplaceAll(l.Op, "{}", "{name}")] = l.PerSecond
	}
	for _, l := range c.Limits() {
		if l.Per != time.Second || l.Requests != documented[l.Scope] {
			t.Errorf("limit %+v; the emulator documents %d/s", l, documented[l.Scope])
		}
	}
	for path, want := range map[string]string{
		"/base/people/2/persons":                    "GET /people/2/persons",
		"/base/people/2/tags/VIP%20Club/persons":    "GET /people/2/tags/{name}/persons",
		"/base/people/2/customAttributes/Job/":      "GET /people/2/customAttributes/{name}",
		"/base/people/2/persons/contactInformation": "GET /people/2/persons/contactInformation",
	} {
		req, _ := http.NewRequest("GET", "https://x.api.infobip.com"+path, nil)
		if got := scopeOf(req, "/base"); got != want {
			t.Errorf("scope of %s = %q, want %q", path, got, want)
		}
	}
}

func TestLookupCosts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{Seed: 40}, tuning{})
	warm(t, h)
	persons := h.emu.Persons()
	var emails, phones, ids []any
	for _, p := range persons[:25] {
		emails = append(emails, strings.ToUpper(emailsOf(p)[0]))
		phones = append(phones, "+"+phonesOf(p)[0])
		ids = append(ids, fmt.Sprint(int64(p["id"].(float64))))
	}
	emails = append(emails, "nobody@example.com", nil, emails[0])
	for _, tc := range []struct {
		field  string
		values []any
		want   map[string]int
	}{
		{"email", emails, map[string]int{"POST /people/2/persons/match": 1, "GET /people/2/persons": 1}},
		{"phone", phones, map[string]int{"POST /people/2/persons/match": 1, "GET /people/2/persons": 1}},
		{"id", ids, map[string]int{"GET /people/2/persons": 1}},
		{"email", emails[:1], map[string]int{"GET /people/2/persons": 1}},
	} {
		res, err := h.c.Lookup(testCtx(t), connector.LookupRequest{Entity: EntityCustomer, Field: tc.field, Values: tc.values})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range tc.values {
			var want string
			if i < 25 {
				want = fmt.Sprint(int64(persons[i]["id"].(float64)))
			}
			if i == 27 {
				want = fmt.Sprint(int64(persons[0]["id"].(float64)))
			}
			var got string
			if len(res.Records[i]) == 1 {
				got = res.Records[i][0].Key
			}
			if got != want {
				t.Errorf("lookup %s=%v: %q, want %q", tc.field, v, got, want)
			}
		}
		if c := counts(h.rec.reset()); !reflect.DeepEqual(c, tc.want) {
			t.Errorf("lookup of %d %s values: requests %v, want %v", len(tc.values), tc.field, c, tc.want)
		}
	}
	if _, err := h.c.Lookup(testCtx(t), connector.LookupRequest{Entity: EntityCustomer, Field: "city", Values: []any{"x"}}); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("lookup by city: %v", err)
	}
}

// TestLookupMarksCustomersForeignToLeads: a lookup for a lead finds persons
// of any type, and marks a CUSTOMER so the engine does not write a lead over
// it; a lookup for a customer finds a lead unmarked (the promotion a
// qualification makes).
func TestLookupMarksCustomersForeignToLeads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, emulator.Options{}, tuning{})
	cust := mustCreate(t, h.c, EntityCustomer, map[string]any{"firstName": "Ana", "email": "ana@example.com", "externalId": "c-1"})
	lead := mustCreate(t, h.c, EntityLead, map[string]any{"firstName": "Luka", "email": "luka@example.com"})
	for _, tc := range []struct {
		entity, field string
		value         any
		key, foreign  string
	}{
		{EntityLead, "email", "ANA@example.com", cust, "a CUSTOMER (externalId c-1), which a lead never writes over"},
		{EntityLead, "id", cust, cust, "a CUSTOMER (externalId c-1), which a lead never writes over"},
		{EntityLead, "externalId", "c-1", cust, "a CUSTOMER (externalId c-1), which a lead never writes over"},
		{EntityLead, "email", "luka@example.com", lead, ""},
		{EntityCustomer, "email", "luka@example.com", lead, ""},
		{EntityCustomer, "email", "ana@example.com", cust, ""},
	} {
		res, err := h.c.Lookup(testCtx(t), connector.LookupRequest{Entity: tc.entity, Field: tc.field, Values: []any{tc.value}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records[0]) != 1 || res.Records[0][0].Key != tc.key || res.Records[0][0].Foreign != tc.foreign {
			t.Errorf("lookup %s by %s %v = %+v, want %s foreign %q", tc.entity, tc.field, tc.value, res.Records, tc.key, tc.foreign)
		}
	}
}
