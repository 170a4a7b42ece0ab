package people

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people/emulator"
)

// newProcess builds a connector as a new synclang process would, with the
// harness's settings and cache directory; stale makes it treat cached
// definitions as attrTTL old.
func (h *harness) newProcess(t *testing.T, stale bool) *Conn {
	t.Helper()
	c, err := newConn(h.cfg, h.tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if stale {
		c.attrTTL = 0
	}
	return c
}

func customFields(t *testing.T, c *Conn) map[string]bool {
	t.Helper()
	s, err := c.Discover(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.Entity(EntityCustomer)
	out := map[string]bool{}
	for _, f := range e.Fields {
		if name, ok := strings.CutPrefix(f.Name, connector.CustomPrefix); ok {
			out[name] = true
		}
	}
	return out
}

// TestAttributeCacheQuietRunOfANewProcess: a new process with the
// attribute cache of an earlier one reads a quiet pass in one request
// (two when the definitions are attrTTL old, where it always took two);
// an attribute defined or deleted is noticed once they are; a corrupt
// cache file reads as absent; the file holds no API key.
func TestAttributeCacheQuietRunOfANewProcess(t *testing.T) {
	h := newHarness(t, emulator.Options{}, tuning{})
	if err := h.emu.DefineAttribute("tier", "STRING"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, h.c, EntityCustomer, map[string]any{"email": "a@example.com", "firstName": "A"})
	_, cur := readAll(t, h.c, EntityCustomer, connector.Cursor{})
	h.clock.Advance(2 * time.Minute)
	// quiet reads a quiet pass and returns the requests it made (retries
	// of a 429, which new processes in quick succession can draw, not
	// counted) and the paths asked.
	quiet := func(c *Conn) (int64, map[string]int) {
		h.rec.reset()
		recs, _ := readAll(t, c, EntityCustomer, cur)
		if len(recs) != 0 {
			t.Fatalf("a quiet read returned %d records", len(recs))
		}
		st := c.Stats()
		return st.Requests - st.Retries, counts(h.rec.reset())
	}
	if n, paths := quiet(h.newProcess(t, false)); n != 1 || paths["GET /people/2/customAttributes"] != 0 {
		t.Errorf("a new process within attrTTL: %d requests %v; want one, for the persons", n, paths)
	}
	if n, paths := quiet(h.newProcess(t, true)); n != 2 || paths["GET /people/2/customAttributes"] == 0 {
		t.Errorf("a new process after attrTTL: %d requests %v; want the definitions and the persons", n, paths)
	}

	// Defined and deleted: noticed once the definitions are attrTTL old,
	// in a new process or the same one.
	if err := h.emu.DefineAttribute("score", "INTEGER"); err != nil {
		t.Fatal(err)
	}
	if customFields(t, h.newProcess(t, false))["score"] {
		t.Error("within attrTTL the cached definitions were expected (the test's premise)")
	}
	p := h.newProcess(t, true)
	if got := customFields(t, p); !got["score"] || !got["tier"] {
		t.Errorf("after attrTTL: %v; want tier and score", got)
	}
	h.emu.UndefineAttribute("tier")
	p.attrTTL = 0
	if got := customFields(t, p); got["tier"] || !got["score"] {
		t.Errorf("a deleted attribute, same process after attrTTL: %v", got)
	}
	if got := customFields(t, h.newProcess(t, false)); got["tier"] || !got["score"] {
		t.Errorf("the next process's cache: %v", got)
	}

	// The file: 0600, no key; corrupt reads as absent.
	path := h.c.attrPath
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), h.emu.APIKey()) {
		t.Error("the attribute cache holds the API key")
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
	for _, bad := range [][]byte{[]byte("]]"), data[:len(data)/2], {}} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if n, paths := quiet(h.newProcess(t, false)); n != 2 || paths["GET /people/2/customAttributes"] == 0 {
			t.Errorf("a corrupt cache (%d bytes): %d requests %v; want the definitions read", len(bad), n, paths)
		}
		if n, paths := quiet(h.newProcess(t, false)); n != 1 {
			t.Errorf("after the corrupt cache was replaced: %d requests %v", n, paths)
		}
	}
}
