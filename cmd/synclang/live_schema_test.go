package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bounded runs the CLI like synclang, but interrupts it (and fails the
// test) if it has not ended after 30 seconds: serve runs until stopped.
func (w *world) bounded(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	s := w.stdio(&out, &errb)
	sig := make(chan os.Signal, 2)
	s.Interrupt = sig
	done := make(chan int, 1)
	go func() { done <- Main(args, s) }()
	select {
	case code := <-done:
		return result{code, out.String(), errb.String()}
	case <-time.After(30 * time.Second):
		sig <- os.Interrupt
		sig <- os.Interrupt
		code := <-done
		t.Errorf("synclang %v did not stop by itself", args)
		return result{code, out.String(), errb.String()}
	}
}

// A declaration the live account contradicts fails plan, run and serve
// once, at the declaration's line, naming the service's definition, before
// anything is read; `check` cannot know it and passes. Over the emulators.
func TestDeclarationsComparedWithTheLiveAccount(t *testing.T) {
	src := strings.Replace(readExample(t, "contacts.sync"), `  attribute "JobTitle" string                  # a custom attribute defined in People`,
		`  attribute "JobTitle" int
  attribute "Loyalty Tier" string`, 1)
	src = strings.Replace(src, "  jobtitle -> custom.JobTitle\n", "  jobtitle <- string(custom.JobTitle)\n  jobtitle -> custom[\"Loyalty Tier\"]\n", 1)
	w := newWorld(t, worldOptions{contacts: 5, files: map[string]string{"contacts.sync": src}})
	if r := w.synclang("check", w.dir); r.code != exitOK {
		t.Fatalf("check (offline, it cannot know): %s", r)
	}
	for _, cmd := range [][]string{{"plan"}, {"run"}, {"serve", "--listen", "127.0.0.1:0"}} {
		r := w.bounded(t, append(cmd, w.dir)...)
		if r.code != exitError ||
			!strings.Contains(r.err, `contacts.sync:16:3: error: Declared type differs from the service [declaration-live]`) ||
			!strings.Contains(r.err, `defines custom attribute "JobTitle" as string, not int`) ||
			!strings.Contains(r.err, `contacts.sync:17:3: error: Not defined in the service [declaration-live]`) ||
			strings.Count(r.err, "[declaration-live]") != 2 || !strings.Contains(r.err, "nothing was run") {
			t.Errorf("synclang %s:\n%s", cmd[0], r)
		}
	}
	if n := len(w.ppl.Persons()); n != 0 {
		t.Errorf("%d persons written despite the contradicted declarations", n)
	}
}

// One Dynamics row that cannot be read (firstname holding a number) no
// longer stops the sync on every run: the run syncs the others, the row is
// a rejected-value reject naming the column and the JSON type, and the
// next run reads nothing again.
func TestE2EMalformedRowIsRejected(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 8})
	rows := w.dyn.Rows("contact")
	bad := str2(rows[3]["contactid"])
	w.dyn.SetRaw("contact", bad, "firstname", int64(12345))
	r := w.pass(exitRejects)
	if !strings.Contains(r.err, "[rejected-value]") || !strings.Contains(r.err, "column firstname holds a JSON number") || strings.Contains(r.err, "12345") {
		t.Errorf("run with a malformed row:\n%s", r)
	}
	t.Logf("run:\n%s", r)
	r = w.synclang("rejects", w.dir)
	if r.code != exitOK || !strings.Contains(r.out, bad) || !strings.Contains(r.out, "[rejected-value]") {
		t.Errorf("rejects:\n%s", r)
	}
	if n := len(w.persons()); n < 7 {
		t.Errorf("%d persons after the run; the other contacts were not synced", n)
	}
	// The cursor moved past it: the next pass reads no contact.
	r = w.pass(exitOK, "--allow-rejects")
	if !regexp.MustCompile(`contacts\s+crm\.contact -> infobip\.customer\s+0\s`).MatchString(r.out) && strings.Contains(r.out, "crm.contact -> infobip.customer") {
		t.Errorf("second run read contacts again:\n%s", r)
	}
}

// An attribute defined in People just before the project declares it is
// found although the connectors cached the schema a minute before (a new
// process within the cache's 5 minutes): the declaration check asks the
// service again before refusing the run.
func TestNewDeclarationSeesPastTheSchemaCache(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 3})
	w.pass(exitOK)
	if err := w.ppl.DefineAttribute("Loyalty Tier", "STRING"); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(readExample(t, "contacts.sync"), `  attribute "JobTitle" string                  # a custom attribute defined in People`,
		`  attribute "JobTitle" string
  attribute "Loyalty Tier" string`, 1)
	src = strings.Replace(src, "  jobtitle -> custom.JobTitle\n", "  jobtitle -> custom.JobTitle\n  lastname -> custom[\"Loyalty Tier\"]\n", 1)
	if err := os.WriteFile(filepath.Join(w.dir, "contacts.sync"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := w.pass(exitOK)
	if strings.Contains(r.err, "[declaration-live]") {
		t.Errorf("the cached schema refused a new declaration:\n%s", r)
	}
}

// A quiet `synclang run` of a new process (each Main is one, with the
// world's cache directory, as cron starts them) sends one request per
// entity it reads to each service: no schema discovery. The project reads
// contact and lead from Dynamics, customers from People.
func TestQuietRunOfANewProcessSkipsDiscovery(t *testing.T) {
	w := newWorld(t, worldOptions{contacts: 6})
	w.pass(exitOK)
	w.pass(exitOK) // the first quiet pass re-reads the load's last second
	dyn, ppl := w.dyn.Requests(), w.ppl.Requests()
	w.pass(exitOK)
	dyn, ppl = w.dyn.Requests()-dyn, w.ppl.Requests()-ppl
	t.Logf("a quiet run of a new process: %d Dynamics requests, %d People requests", dyn, ppl)
	if dyn != 2 || ppl != 1 {
		t.Errorf("a quiet run of a new process sent %d Dynamics requests (want 2: contact and lead) and %d People requests (want 1: customers)", dyn, ppl)
	}
}
