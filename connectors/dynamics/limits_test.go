package dynamics

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

func TestThrottleStormIsWaitedOut(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 10}, 0)
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	env.emu.Throttle(1500 * time.Millisecond)
	recs, _, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"lastname"})
	if len(recs) != 10 {
		t.Errorf("read %d records through the storm, want 10", len(recs))
	}
	st := env.conn.Stats()
	if st.Throttled < 1 || st.Retries < st.Throttled {
		t.Errorf("stats %+v: the 429s were not seen and retried", st)
	}
}

func TestTransientFailuresAreRetriedOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 3}, 0)
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// A GET is retried through 503s.
	env.emu.FailNext(2, http.StatusServiceUnavailable)
	recs, _, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, nil)
	if len(recs) != 3 {
		t.Errorf("read %d records, want 3", len(recs))
	}
	// A 500 on CreateMultiple is not retried (the request may have been
	// applied): the call fails as a whole, every record with the error.
	env.emu.FailNext(1, http.StatusInternalServerError)
	res, err := env.conn.Upsert(testCtx(t), connector.UpsertRequest{Entity: "contact", Records: []connector.Record{
		{Fields: map[string]any{"lastname": "A"}}, {Fields: map[string]any{"lastname": "B"}}}})
	if connector.KindOf(err) != connector.ErrorTransient || !connector.Retryable(err) {
		t.Fatalf("Upsert after a 500: %v, want a transient error", err)
	}
	for _, r := range res.Results {
		if r.Effect != connector.Failed || r.Err == nil {
			t.Errorf("result %+v, want failed", r)
		}
	}
	// A 400 is never retried.
	before := env.emu.Requests()
	env.emu.FailNext(1, http.StatusBadRequest)
	err = env.conn.Read(testCtx(t), connector.ReadRequest{Entity: "contact"}, func(connector.Batch) error { return nil })
	if connector.KindOf(err) != connector.ErrorInvalid || env.emu.Requests()-before != 1 {
		t.Errorf("after a 400: %v in %d requests", err, env.emu.Requests()-before)
	}
}

func TestExecutionTimeThrottlingShrinksBulk(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	env.emu.ThrottleWith(500*time.Millisecond, "0x80072321")
	res := upsert(t, env, "contact", []connector.Record{{Fields: map[string]any{"lastname": "A"}}})
	if res.Results[0].Effect != connector.Created {
		t.Fatalf("%+v", res.Results[0])
	}
	if env.conn.execLimited.Load() == 0 || env.conn.bulkSize.Load() >= maxBulk {
		t.Errorf("after execution-time 429s: %d seen, bulk size %d", env.conn.execLimited.Load(), env.conn.bulkSize.Load())
	}
}

func TestExpiredAccessTokenIsRefreshedOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 2}, 0)
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	old, _ := env.conn.tokens.token(testCtx(t))
	env.emu.ExpireAccessTokens()
	before := env.emu.Requests()
	recs, _, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, nil)
	if len(recs) != 2 {
		t.Errorf("read %d records", len(recs))
	}
	if got := env.emu.Requests() - before; got != 2 {
		t.Errorf("%d API requests, want the 401 and its retry", got)
	}
	if tok, _ := env.conn.tokens.token(testCtx(t)); tok.AccessToken == old.AccessToken {
		t.Error("the token was not replaced")
	}
	// A 401 that persists after a fresh token is an auth error with a hint.
	env.emu.FailNext(2, http.StatusUnauthorized)
	err := env.conn.Read(testCtx(t), connector.ReadRequest{Entity: "contact"}, func(connector.Batch) error { return nil })
	var e *connector.Error
	if !errorsAs(err, &e) || e.Kind != connector.ErrorAuth || e.Status != 401 || !strings.Contains(e.Hint, "application user") {
		t.Errorf("persistent 401: %#v", err)
	}
}

// TestPacerBound checks the pacer's arithmetic: a token bucket sends at most
// its burst plus its rate times the window in any window, which must stay
// under the service's 6000 requests per 5 minutes.
func TestPacerBound(t *testing.T) {
	t.Parallel()
	if most := paceBurst + paceRequests; most >= limitRequests {
		t.Errorf("the pacer allows %d requests per window, the service %d", most, limitRequests)
	}
	if maxInFlight >= limitConcurrency {
		t.Errorf("concurrency cap %d is not below %d", maxInFlight, limitConcurrency)
	}
}
