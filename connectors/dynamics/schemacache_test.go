package dynamics

import (
	"context"
	"maps"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

// newProcess builds a connector as a new synclang process would: a new
// instance with the same settings and cache directory. revalidate makes
// it treat the cached schema as older than schemaTTL.
func (env *testEnv) newProcess(t *testing.T, revalidate bool) *Conn {
	t.Helper()
	c, err := New(context.Background(), env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	conn := c.(*Conn)
	if revalidate {
		conn.ttl = 0
	}
	return conn
}

func (env *testEnv) count(t *testing.T, f func()) int64 {
	t.Helper()
	before := env.emu.Requests()
	f()
	return env.emu.Requests() - before
}

func hasField(t *testing.T, c *Conn, entity, field string) bool {
	t.Helper()
	s, err := c.Discover(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := s.Entity(entity)
	if !ok {
		t.Fatalf("no %s in %v", entity, s)
	}
	_, ok = e.Field(field)
	return ok
}

// TestSchemaCacheQuietRunOfANewProcess: a new process with the schema
// cache of an earlier one reads a quiet delta in one request (within
// schemaTTL) or two (revalidating with RetrieveMetadataChanges), where it
// took 18 before; a column added or removed on the service is noticed at
// the revalidation; an expired stamp or a corrupt cache file leads to a
// discovery, not a failure.
func TestSchemaCacheQuietRunOfANewProcess(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 5}, 0)
	fields := []string{"lastname", "emailaddress1"}
	var cursor connector.Cursor
	first := env.count(t, func() { _, cursor, _ = readAll(t, env.conn, "contact", connector.Cursor{}, 0, fields) })
	if first < 10 {
		t.Fatalf("the first process discovered in %d requests; expected a discovery", first)
	}
	quiet := func(c *Conn) int64 {
		return env.count(t, func() {
			recs, _, _ := readAll(t, c, "contact", cursor, 0, fields)
			if len(recs) != 0 {
				t.Fatalf("a quiet read returned %d records", len(recs))
			}
		})
	}
	if n := quiet(env.newProcess(t, false)); n != 1 {
		t.Errorf("a new process within schemaTTL: %d requests for a quiet read, want 1", n)
	}
	if n := quiet(env.newProcess(t, true)); n != 2 {
		t.Errorf("a new process revalidating: %d requests for a quiet read, want 2 (RetrieveMetadataChanges and the delta)", n)
	}

	// The cache file: 0600, no secret, keyed by URL and API version.
	path := env.conn.schemaPath
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %o, want 600", fi.Mode().Perm())
	}
	for _, secret := range []string{env.cfg.Settings["client_secret"], "access_token", "refresh_token", "Bearer"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the schema cache holds %q", secret)
		}
	}
	other := maps.Clone(env.cfg.Settings)
	other["api_version"] = "v9.1"
	c91, err := New(context.Background(), connector.Config{Name: "crm", Settings: other, HTTPClient: env.cfg.HTTPClient, CacheDir: env.cfg.CacheDir})
	if err != nil {
		t.Fatal(err)
	}
	if c := c91.(*Conn); c.known || c.schemaPath == path {
		t.Errorf("another API version uses the v9.2 cache (%s)", c.schemaPath)
	}

	// A column added on the service: noticed by the revalidation, which
	// then discovers; the next process revalidates in one request again.
	env.emu.AddColumn("contact", "new_tier", "String", 100)
	if hasField(t, env.newProcess(t, false), "contact", "new_tier") {
		t.Error("within schemaTTL the cached schema was expected (the test's premise)")
	}
	p := env.newProcess(t, true)
	if n := env.count(t, func() {
		if !hasField(t, p, "contact", "new_tier") {
			t.Error("an added column was not noticed at revalidation")
		}
	}); n < 3 {
		t.Errorf("rediscovery after a change took %d requests", n)
	}
	p = env.newProcess(t, true)
	if n := env.count(t, func() {
		if !hasField(t, p, "contact", "new_tier") {
			t.Error("the rediscovered schema was not cached")
		}
	}); n != 1 {
		t.Errorf("revalidating the updated cache: %d requests, want 1", n)
	}
	// Removed: reported among the deleted metadata.
	env.emu.RemoveColumn("contact", "new_tier")
	if hasField(t, env.newProcess(t, true), "contact", "new_tier") {
		t.Error("a removed column was not noticed at revalidation")
	}
	// The same process notices it too, after schemaTTL (serve).
	env.emu.AddColumn("contact", "new_size", "Integer", 0)
	p.ttl = 0
	if !hasField(t, p, "contact", "new_size") {
		t.Error("a long-lived connector did not notice an added column after schemaTTL")
	}

	// An expired version stamp: a discovery, not an error.
	env.emu.ExpireMetadataVersionStamps()
	p = env.newProcess(t, true)
	if n := env.count(t, func() { hasField(t, p, "contact", "lastname") }); n < 3 {
		t.Errorf("after ExpiredVersionStamp: %d requests; want a discovery", n)
	}

	// A truncated or garbled cache file is as good as none.
	for _, bad := range [][]byte{data[:len(data)/3], []byte("{not json"), {}} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		p := env.newProcess(t, false)
		if p.known {
			t.Fatalf("a corrupt cache file (%d bytes) was loaded", len(bad))
		}
		if n := quiet(p); n < 3 {
			t.Errorf("with a corrupt cache: %d requests; want a discovery", n)
		}
		if n := quiet(env.newProcess(t, false)); n != 1 {
			t.Errorf("after the corrupt cache was replaced: %d requests, want 1", n)
		}
	}
}

// TestSchemaCacheRefusedRevalidation: a service that refuses
// RetrieveMetadataChanges (400) costs a discovery, as without a cache, not
// a failed read; one that is down fails the read.
func TestSchemaCacheRefusedRevalidation(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 2}, 0)
	readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"lastname"})
	p := env.newProcess(t, true)
	env.emu.FailNext(1, 400)
	if n := env.count(t, func() { readAll(t, p, "contact", connector.Cursor{}, 0, []string{"lastname"}) }); n < 10 {
		t.Errorf("after a refused revalidation: %d requests; want a discovery and the read", n)
	}
	p = env.newProcess(t, true)
	env.emu.FailNext(100, 503)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.Read(ctx, connector.ReadRequest{Entity: "contact"}, func(connector.Batch) error { return nil })
	if err == nil {
		t.Error("a read against a service that is down succeeded")
	}
}
