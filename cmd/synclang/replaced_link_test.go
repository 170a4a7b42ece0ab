package main

import (
	"strings"
	"testing"
)

// TestReplacedExternalID: a profile found by email whose externalId
// another system wrote ("ext-000003") gets the contact's ID; plan shows
// that it replaces a value synclang did not write, and run warns once
// with the count (issue 13 item 11).
func TestReplacedExternalID(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 4})
	for i, c := range w.dyn.Rows("contact")[:2] {
		p := personFrom(c, "CUSTOMER")
		p["externalId"] = []string{"ext-000003", "ext-000004"}[i]
		w.ppl.Insert(p)
	}
	r := w.synclang("plan", w.dir)
	if r.code != 2 || strings.Count(r.out, "(replaces a value synclang did not write)") != 2 || !strings.Contains(r.out, `"ext-000003" -> "`) ||
		!strings.Contains(r.out, "2 pairs found by a match key would replace a link value synclang did not write") {
		t.Errorf("plan does not show the replaced externalIds:\n%s", r)
	}
	r = w.pass(exitOK)
	if strings.Count(r.err, "replaced a link value") != 1 || !strings.Contains(r.err, "warning: 2 pairs found by a match key replaced a link value synclang did not write") {
		t.Errorf("run does not warn once with the count:\n%s", r)
	}
	// The next run replaces nothing: the values are synclang's now.
	if r := w.pass(exitOK); strings.Contains(r.err, "replaced a link value") {
		t.Errorf("second run warns again:\n%s", r)
	}
}
