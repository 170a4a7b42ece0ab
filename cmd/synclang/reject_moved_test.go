package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRejectsAfterTheFileChanged: `rejects` points at the mapping line as
// the file is now after lines were added above it, and says so; when the
// line is gone it says that instead of pointing at whatever is there now
// (issue 13 item 5).
func TestRejectsAfterTheFileChanged(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 6})
	w.pass(exitOK)
	c := w.dyn.Rows("contact")[1]
	p := w.persons()[strings.ToLower(str2(c["emailaddress1"]))][0]
	if err := w.ppl.Update(personID(p), map[string]any{"firstName": strings.Repeat("Maximiliana", 6)}); err != nil {
		t.Fatal(err)
	}
	w.pass(exitRejects)
	file := filepath.Join(w.dir, "contacts.sync")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.synclang("rejects", w.dir); !strings.Contains(r.out, "contacts.sync:25:3: error") || strings.Contains(r.out, "changed since") {
		t.Fatalf("rejects before the edit:\n%s", r)
	}
	// Four comment lines above; the file's time is after the reject's.
	edited := "# one\n# two\n# three\n# four\n" + string(src)
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	r := w.synclang("rejects", w.dir)
	if !strings.Contains(r.out, "contacts.sync:29:3: error") || !strings.Contains(r.out, "29 |   firstname        <-> firstName") ||
		!strings.Contains(r.out, "changed since this reject: its mapping line, for firstname, is now line 29") {
		t.Errorf("rejects after lines were added above:\n%s", r)
	}
	r = w.synclang("rejects", "--json", w.dir)
	var doc rejectsJSON
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || len(doc.Rejects) != 1 || doc.Rejects[0].Line != 29 || doc.Rejects[0].Note == "" {
		t.Errorf("rejects --json after the edit: %v\n%s", err, r.out)
	}
	// The mapping line removed: said, with no caret under another line.
	gone := strings.Replace(edited, "  firstname        <-> firstName\n", "", 1)
	if gone == edited {
		t.Fatal("the example changed: no firstname line")
	}
	if err := os.WriteFile(file, []byte(gone), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	r = w.synclang("rejects", w.dir)
	if !strings.Contains(r.out, "no line of sync contacts writes firstname any more; it was line 25") || strings.Contains(r.out, "25 |") {
		t.Errorf("rejects after the line was removed:\n%s", r)
	}
}
