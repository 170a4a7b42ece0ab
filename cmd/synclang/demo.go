package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	"github.com/synclang/synclang/connectors/emulate"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
	"github.com/synclang/synclang/examples"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/runtime/engine"
)

var demoCmd = &command{
	name:    "demo",
	summary: "run examples/ against local Dynamics and People emulators: an initial load, then edits on both sides",
	run:     runDemo,
}

const demoDoc = `Start a Dynamics 365 emulator and an Infobip People emulator on this machine,
seeded with sample data (a few thousand contacts and leads in Dynamics; People
profiles of which some share an email with a contact, some carry the contact's
ID as externalId, some have custom attributes, some exist only in People), and
run the project in examples/ (contacts.sync: contacts both ways; leads.sync:
leads from Dynamics to People) against them: the initial load, then edits on
each side and a second run that carries them across (a field change each way,
a conflict, a profile created in People, a lead qualified into a contact, a
deleted contact), then a third run that finds nothing to do. No account and
no network are needed; nothing is left behind.

The .sync files are the examples' own, built into the binary; the connections
read their settings from environment variables the demo sets for the
emulators (DYNAMICS_URL, DYNAMICS_AUTHORITY, AZURE_TENANT_ID, AZURE_CLIENT_ID,
AZURE_CLIENT_SECRET, INFOBIP_BASE_URL, INFOBIP_API_KEY), not from yours.`

// demoOptions are the flags of `synclang demo`.
type demoOptions struct {
	contacts int
	limits   string
	keep     string
}

func runDemo(ctx context.Context, s *Stdio, args []string) int {
	var o demoOptions
	fs := newFlags(s, "demo", "[flags]", demoDoc)
	fs.IntVar(&o.contacts, "contacts", 4000, "Dynamics contacts to seed (plus a quarter as many leads); 40 to 50,000")
	fs.StringVar(&o.limits, "limits", string(emulate.DefaultLimits), "the emulators' rate limits: real (Dynamics 6,000 requests per 5 minutes, People 5 per second per endpoint), sliding (People's counted in a sliding second, as synclang emulate --limits sliding) or off")
	fs.StringVar(&o.keep, "keep", "", "keep the state database in this directory (default: a temporary one, removed)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !noArgs(s, fs) {
		return exitUsage
	}
	if !oneOf(s, "demo", "limits", o.limits, string(emulate.Real), string(emulate.Sliding), string(emulate.Off)) {
		return exitUsage
	}
	if o.contacts < 40 || o.contacts > 50000 {
		fmt.Fprintf(s.Err, "synclang demo: --contacts must be between 40 and 50000, not %d\n", o.contacts)
		return exitUsage
	}
	d := &demo{s: s, o: o, out: s.Out, start: time.Now()}
	defer d.close()
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(s.Err, "synclang demo: %v\n", err)
		return exitError
	}
	return exitOK
}

// demo is one run of `synclang demo`.
type demo struct {
	s     *Stdio
	o     demoOptions
	out   io.Writer
	start time.Time

	dyn    *dynemu.Emulator
	ppl    *pplemu.Emulator
	dynURL string
	pplURL string
	srvs   []*http.Server
	temp   string
	ss     *session
	// contacts are the seeded Dynamics contacts, in seeding order.
	contacts []map[string]any

	// What was seeded, for the introduction.
	seeded struct {
		contacts, leads                             int
		persons, sharing, withExternalID, withTitle int
		leadPersons, onlyInPeople                   int
	}
	checks, failed int
}

func (d *demo) close() {
	if d.ss != nil {
		d.ss.close()
	}
	for _, srv := range d.srvs {
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(shutdown)
		cancel()
	}
	if d.temp != "" {
		_ = os.RemoveAll(d.temp)
	}
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *demo) run(ctx context.Context) error {
	d.printf("synclang demo: Dynamics 365 and Infobip People, emulated on this machine (no account, no network).\n\n")
	if err := d.startEmulators(); err != nil {
		return err
	}
	if err := d.seedPeople(); err != nil {
		return err
	}
	if err := d.open(ctx); err != nil {
		return err
	}
	d.introduce()

	d.printf("\n== 1. The initial load\n\n$ synclang run examples/\n")
	rep, code := d.ss.runOnce(ctx, engine.Options{})
	if code != exitOK {
		return errors.New("the initial load failed")
	}
	d.reportRejects(rep)

	d.printf("\n== 2. Someone edits records on both sides\n\n")
	e, err := d.edit()
	if err != nil {
		return err
	}
	d.printf("\n$ synclang run examples/\n")
	rep, code = d.ss.runOnce(ctx, engine.Options{})
	if code != exitOK {
		return errors.New("the second run failed")
	}
	d.reportRejects(rep)
	d.printf("\nWhat arrived:\n")
	d.verify(ctx, e)

	d.printf("\n== 3. Nothing changed since: the next run writes nothing\n\n$ synclang run examples/\n")
	rep, code = d.ss.runOnce(ctx, engine.Options{})
	if code != exitOK {
		return errors.New("the third run failed")
	}
	writes, reqs := 0, 0
	for _, sr := range rep.Syncs {
		for _, f := range sr.Flows {
			writes += f.Created + f.Updated + f.WrittenBack + f.Deleted
		}
		for _, st := range sr.Requests {
			reqs += int(st.Requests)
		}
	}
	d.check(writes == 0, fmt.Sprintf("nothing written back and forth (echo suppression): %s in %s requests for %d syncs",
		plural(writes, "write"), diag.Thousands(reqs), len(rep.Syncs)))

	d.printf("\nThe demo took %s", roundDur(time.Since(d.start)))
	if d.o.keep != "" {
		d.printf("; its state is in %s (`synclang status --state %s`)", stateName(d.ss.statePath), stateName(d.ss.statePath))
	}
	d.printf(".\n")
	if d.failed > 0 {
		return fmt.Errorf("%s of %s checks failed", diag.Thousands(d.failed), diag.Thousands(d.checks))
	}
	d.printf(`
Next, against your own systems (see README.md):
  export DYNAMICS_URL=https://YOURORG.crm4.dynamics.com AZURE_TENANT_ID=... AZURE_CLIENT_ID=...
  export AZURE_CLIENT_SECRET=... INFOBIP_BASE_URL=https://XXXXX.api.infobip.com INFOBIP_API_KEY=...
  synclang plan examples/     # what a run would change, writing nothing
  synclang run examples/      # one pass; then synclang serve examples/ to keep them in sync
`)
	return nil
}

// ---- emulators ----

func (d *demo) startEmulators() error {
	d.dyn = dynemu.New(dynemu.Options{Seed: d.o.contacts, Limits: emulate.Limits(d.o.limits)})
	d.ppl = pplemu.New(pplemu.Options{Limits: emulate.Limits(d.o.limits)})
	var err error
	if d.dynURL, err = d.serve(d.dyn); err != nil {
		return err
	}
	if d.pplURL, err = d.serve(d.ppl); err != nil {
		return err
	}
	d.seeded.contacts, d.seeded.leads = len(d.dyn.Rows("contact")), len(d.dyn.Rows("lead"))
	return nil
}

// serve serves h on a loopback port and returns its base URL.
func (d *demo) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot listen on a loopback port for the emulators: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.srvs = append(d.srvs, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// seedPeople fills the People emulator from the Dynamics emulator's rows,
// so the two overlap as a real account and org would:
//
//   - a third of the contacts have a People customer with the same email:
//     a third of those carry the contact's ID as externalId (linked before,
//     by another integration), the others none (created by hand or by a
//     form; some moved to Ljubljana since, which the first run decides as
//     a conflict), some typed LEAD (promoted when paired); half have a
//     JobTitle;
//   - half the leads have a People lead with the same email;
//   - 150 customers exist only in People.
func (d *demo) seedPeople() error {
	if err := d.ppl.DefineAttribute("JobTitle", "STRING"); err != nil {
		return err
	}
	// Both services stamp whole seconds: start the People profiles in the
	// second after the contacts', so their edits are the newer ones.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	add := func(p map[string]any) error {
		if _, err := d.ppl.Add(p); err != nil {
			return fmt.Errorf("seeding People: %v", err)
		}
		d.seeded.persons++
		return nil
	}
	d.contacts = d.dyn.Rows("contact")
	for i, c := range d.contacts {
		if i%3 != 0 {
			continue
		}
		k := i / 3
		p := personFrom(c, "CUSTOMER")
		switch k % 3 {
		case 0:
			p["externalId"] = c["contactid"]
			d.seeded.withExternalID++
		case 1:
			p["origin"] = "PORTAL"
		case 2:
			// Edited in People since: a new city, and no phone.
			p["origin"] = "PORTAL"
			p["city"] = "Ljubljana"
			p["country"] = "Slovenia"
			p["contactInformation"] = map[string]any{"email": []any{map[string]any{"address": c["emailaddress1"]}}}
		}
		if k%10 == 5 {
			p["type"] = "LEAD"
		}
		if t := str(c["jobtitle"]); t != "" && k%2 == 0 {
			p["customAttributes"] = map[string]any{"JobTitle": t}
			d.seeded.withTitle++
		}
		d.seeded.sharing++
		if err := add(p); err != nil {
			return err
		}
	}
	for j, l := range d.dyn.Rows("lead") {
		if j%2 != 0 {
			continue
		}
		d.seeded.leadPersons++
		if err := add(personFrom(l, "LEAD")); err != nil {
			return err
		}
	}
	firsts := []string{"Nadia", "Pavel", "Ines", "Tariq", "Hana", "Bruno", "Sara", "Felix", "Zoe", "Matej"}
	lasts := []string{"Petrović", "Lindqvist", "Moreau", "Haddad", "Sato", "Costa", "Weber", "Kim", "Lopez", "Babić"}
	for n := 0; n < 150; n++ {
		f, l := firsts[n%len(firsts)], lasts[(n/len(firsts))%len(lasts)]
		p := map[string]any{"type": "CUSTOMER", "firstName": f, "lastName": l, "city": "Ljubljana", "country": "Slovenia", "origin": "PORTAL",
			"contactInformation": map[string]any{
				"email": []any{map[string]any{"address": fmt.Sprintf("%s.%s.%d@example.net", strings.ToLower(f), strings.ToLower(l), n)}},
				"phone": []any{map[string]any{"number": fmt.Sprintf("38640%06d", n)}},
			}}
		d.seeded.onlyInPeople++
		if err := add(p); err != nil {
			return err
		}
	}
	return nil
}

// personFrom is the People profile of a Dynamics row (contact or lead).
func personFrom(row map[string]any, typ string) map[string]any {
	p := map[string]any{"type": typ, "firstName": row["firstname"], "lastName": row["lastname"],
		"city": row["address1_city"], "country": row["address1_country"],
		"contactInformation": map[string]any{"email": []any{map[string]any{"address": row["emailaddress1"]}}}}
	if ph := strings.TrimPrefix(str(row["mobilephone"]), "+"); ph != "" {
		p["contactInformation"].(map[string]any)["phone"] = []any{map[string]any{"number": ph}}
	}
	return p
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// open compiles the embedded examples and opens a session against the
// emulators, with the connections' variables set for them.
func (d *demo) open(ctx context.Context) error {
	var inputs []lang.Input
	err := fs.WalkDir(examples.Project, ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".sync") {
			return err
		}
		src, err := fs.ReadFile(examples.Project, path)
		inputs = append(inputs, lang.Input{Name: "examples/" + path, Src: src})
		return err
	})
	if err != nil {
		return err
	}
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Name < inputs[j].Name })
	// The demo sets the variables the examples read, for the emulators
	// only: the user's own environment is not consulted, so a real
	// DYNAMICS_URL in it cannot be written to. No schema snapshot is read
	// from disk either.
	cr := d.dyn.Credentials()
	env := map[string]string{
		"DYNAMICS_URL": d.dynURL, "DYNAMICS_AUTHORITY": d.dynURL,
		"AZURE_TENANT_ID": cr.Tenant, "AZURE_CLIENT_ID": cr.ClientID, "AZURE_CLIENT_SECRET": cr.ClientSecret,
		"INFOBIP_BASE_URL": d.pplURL, "INFOBIP_API_KEY": d.ppl.APIKey(),
	}
	ds := *d.s
	ds.Getenv = func(k string) string {
		if k == "NO_COLOR" {
			return d.s.Getenv(k)
		}
		return env[k]
	}
	ds.HTTPClient = nil
	ds.RateScale = 1
	if emulate.Limits(d.o.limits) == emulate.Off {
		ds.RateScale = 1000
	}
	noSnapshot := func(string, string) (*connector.Schema, string, error) { return nil, "", nil }
	p := compileProject(&ds, inputs, noSnapshot)
	if p.plan == nil {
		writeDiags(&ds, p.diags, p.sources)
		return errors.New("the embedded examples do not compile")
	}
	dir := d.o.keep
	if dir == "" {
		if d.temp, err = os.MkdirTemp("", "synclang-demo-"); err != nil {
			return err
		}
		dir = d.temp
	}
	// The connectors' schema caches go with the state, not into the
	// user's cache directory: the demo leaves nothing behind.
	ds.CacheDir = filepath.Join(dir, "cache")
	ss, code := openSession(ctx, &ds, "demo", sessionOptions{project: p,
		flags: runFlags{logLevel: "off", state: filepath.Join(dir, stateFile)}})
	if code != exitOK {
		return errors.New("cannot open the project against the emulators")
	}
	d.ss = ss
	return nil
}

func (d *demo) introduce() {
	limits := "real: Dynamics 6,000 requests per 5 minutes and 52 at once, People 5 to 15 requests per second per endpoint; synclang paces itself to them"
	switch emulate.Limits(d.o.limits) {
	case emulate.Sliding:
		limits = "sliding: " + strings.TrimPrefix(limits, "real: ") + " (People's counted in a sliding second)"
	case emulate.Off:
		limits = "off"
	}
	sd := d.seeded
	d.printf("Emulators (limits %s):\n", limits)
	d.printf("  Dynamics 365    %s  %s contacts, %s leads\n", d.dynURL, diag.Thousands(sd.contacts), diag.Thousands(sd.leads))
	d.printf("  Infobip People  %s  %s profiles: %s share an email with a contact (%s carry its ID as externalId, %s have a JobTitle),\n",
		d.pplURL, diag.Thousands(sd.persons), diag.Thousands(sd.sharing), diag.Thousands(sd.withExternalID), diag.Thousands(sd.withTitle))
	d.printf("                  %s are leads sharing an email with a Dynamics lead, %s exist only in People\n", diag.Thousands(sd.leadPersons), diag.Thousands(sd.onlyInPeople))
	d.printf("\nThe project is examples/contacts.sync (contacts <-> customers, both ways) and examples/leads.sync\n")
	d.printf("(leads -> People leads), read from the environment variables the demo set for the emulators.\n")
}

// reportRejects says so when a run of the demo rejected records (it should
// not: the data is clean).
func (d *demo) reportRejects(rep *engine.Report) {
	d.check(rep.Rejected() == 0, "no record rejected")
}

func (d *demo) check(ok bool, what string) {
	d.checks++
	mark := "ok  "
	if !ok {
		d.failed++
		mark = "FAIL"
	}
	d.printf("  %s %s\n", mark, what)
}

// ---- the edits and what arrived ----

// edits remembers what the demo changed, to check it arrived.
type edits struct {
	jobContact, jobOld, jobNew        string
	nameContact, nameOld, nameNew     string
	cityPerson                        int64
	cityContact, cityOld, cityNew     string
	conflictContact, conflictPerson   string
	conflictDyn, conflictPpl          string
	newEmail                          string
	lead, leadName, leadEmail, qualif string
	deleted, deletedName              string
	deletedPerson                     int64
}

func fullName(row map[string]any) string {
	return strings.TrimSpace(str(row["firstname"]) + " " + str(row["lastname"]))
}

// edit changes records on both sides through the emulators' library API, as
// users of the two systems would.
func (d *demo) edit() (*edits, error) {
	e := &edits{}
	byEmail := map[string]map[string]any{}
	for _, p := range d.ppl.Persons() {
		if em := personEmail(p); em != "" {
			byEmail[strings.ToLower(em)] = p
		}
	}
	// Pick, as they are now, contacts that had a People profile before the
	// initial load, and one that did not (synclang created its profile).
	var shared, created []map[string]any
	for i, c := range d.contacts {
		c, ok := d.dyn.Get("contact", str(c["contactid"]))
		switch {
		case !ok:
		case i%3 == 0 && byEmail[strings.ToLower(str(c["emailaddress1"]))] != nil:
			shared = append(shared, c)
		case i%3 == 1:
			created = append(created, c)
		}
	}
	if len(shared) < 4 || len(created) < 1 {
		return nil, errors.New("too few seeded contacts to edit")
	}

	// 1. Dynamics: a job title changes (one way: jobtitle -> custom.JobTitle).
	c := shared[0]
	e.jobContact, e.jobOld, e.jobNew = str(c["contactid"]), str(c["jobtitle"]), "CTO"
	if e.jobOld == e.jobNew {
		e.jobNew = "Chief Revenue Officer"
	}
	d.dyn.Update("contact", e.jobContact, map[string]any{"jobtitle": e.jobNew})
	d.printf("  Dynamics  contact %s: jobtitle %s -> %q\n", fullName(c), quoteOrNone(e.jobOld), e.jobNew)

	// 2. Dynamics: a last name changes (two way).
	c = shared[1]
	e.nameContact, e.nameOld, e.nameNew = str(c["contactid"]), str(c["lastname"]), "Lindqvist" // married
	d.dyn.Update("contact", e.nameContact, map[string]any{"lastname": e.nameNew})
	d.printf("  Dynamics  contact %s: lastname %q -> %q\n", fullName(c), e.nameOld, e.nameNew)

	// 3. People: a city changes (two way).
	c = shared[2]
	p := byEmail[strings.ToLower(str(c["emailaddress1"]))]
	e.cityPerson, e.cityContact, e.cityOld, e.cityNew = int64(p["id"].(float64)), str(c["contactid"]), str(p["city"]), "Rijeka"
	if e.cityOld == e.cityNew {
		e.cityNew = "Split"
	}
	if err := d.ppl.Update(e.cityPerson, map[string]any{"city": e.cityNew}); err != nil {
		return nil, err
	}
	d.printf("  People    customer %s %s: city %q -> %q\n", str(p["firstName"]), str(p["lastName"]), e.cityOld, e.cityNew)

	// 4. Both sides: the same person's first name changes twice, in
	// Dynamics first and a second later in People (conflict newest).
	c = shared[3]
	p = byEmail[strings.ToLower(str(c["emailaddress1"]))]
	e.conflictContact, e.conflictDyn, e.conflictPpl = str(c["contactid"]), "Alexander", "Sasha"
	e.conflictPerson = strconv.FormatInt(int64(p["id"].(float64)), 10)
	d.dyn.Update("contact", e.conflictContact, map[string]any{"firstname": e.conflictDyn})
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // both services stamp whole seconds
	if err := d.ppl.Update(int64(p["id"].(float64)), map[string]any{"firstName": e.conflictPpl}); err != nil {
		return nil, err
	}
	d.printf("  Both      %s: firstname %q in Dynamics, then firstName %q in People a second later\n", fullName(c), e.conflictDyn, e.conflictPpl)

	// 5. People: a customer is created by hand, without externalId.
	e.newEmail = "yuki.tanaka@example.org"
	if _, err := d.ppl.Add(map[string]any{"type": "CUSTOMER", "firstName": "Yuki", "lastName": "Tanaka", "city": "Osaka", "country": "Japan",
		"gender": "FEMALE", "origin": "PORTAL", "contactInformation": map[string]any{"email": []any{map[string]any{"address": e.newEmail}}}}); err != nil {
		return nil, err
	}
	d.printf("  People    new customer Yuki Tanaka <%s>, no externalId\n", e.newEmail)

	// 6. Dynamics: a lead that has a People profile is qualified.
	for j, l := range d.dyn.Rows("lead") {
		if j%2 == 0 && str(l["emailaddress1"]) != "" {
			e.lead, e.leadName, e.leadEmail = str(l["leadid"]), fullName(l), str(l["emailaddress1"])
			break
		}
	}
	id, err := d.dyn.QualifyLead(e.lead)
	if err != nil {
		return nil, err
	}
	e.qualif = id
	d.printf("  Dynamics  lead %s qualified into a contact\n", e.leadName)

	// 7. Dynamics: a contact that synclang copied to People is deleted.
	c = created[0]
	e.deleted, e.deletedName = str(c["contactid"]), fullName(c)
	d.dyn.Delete("contact", e.deleted)
	d.printf("  Dynamics  contact %s deleted\n", e.deletedName)
	return e, nil
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return strconv.Quote(s)
}

// personEmail is a person's primary email as the API renders it.
func personEmail(p map[string]any) string {
	ci, _ := p["contactInformation"].(map[string]any)
	list, _ := ci["email"].([]any)
	if len(list) == 0 {
		return ""
	}
	m, _ := list[0].(map[string]any)
	return str(m["address"])
}

// verify checks, through the emulators, that every edit arrived on the
// other side, and prints what it found.
func (d *demo) verify(ctx context.Context, e *edits) {
	byExt := map[string]map[string]any{}
	var byEmail = map[string][]map[string]any{}
	for _, p := range d.ppl.Persons() {
		if x := str(p["externalId"]); x != "" {
			byExt[x] = p
		}
		em := strings.ToLower(personEmail(p))
		byEmail[em] = append(byEmail[em], p)
	}

	p := byExt[e.jobContact]
	got := ""
	if p != nil {
		ca, _ := p["customAttributes"].(map[string]any)
		got = str(ca["JobTitle"])
	}
	d.check(got == e.jobNew, fmt.Sprintf("Dynamics jobtitle %s -> %q arrived in People: custom.JobTitle = %s", quoteOrNone(e.jobOld), e.jobNew, quoteOrNone(got)))

	p = byExt[e.nameContact]
	d.check(p != nil && str(p["lastName"]) == e.nameNew, fmt.Sprintf("Dynamics lastname %q -> %q arrived in People: lastName = %s", e.nameOld, e.nameNew, quoteOrNone(str(p["lastName"]))))

	c, _ := d.dyn.Get("contact", e.cityContact)
	d.check(str(c["address1_city"]) == e.cityNew, fmt.Sprintf("People city %q -> %q arrived in Dynamics: address1_city = %s", e.cityOld, e.cityNew, quoteOrNone(str(c["address1_city"]))))

	c, _ = d.dyn.Get("contact", e.conflictContact)
	p = byExt[e.conflictContact]
	dynName, pplName := str(c["firstname"]), str(p["firstName"])
	winner := ""
	if confs, err := d.ss.store.Conflicts(ctx, "contacts", 10); err == nil {
		for _, cf := range confs {
			if cf.LeftKey == e.conflictContact && cf.LeftField == "firstname" {
				winner = map[string]string{"left": "Dynamics", "right": "People"}[string(cf.Winner)]
				break
			}
		}
	}
	d.check(dynName == pplName && winner != "", fmt.Sprintf("the firstname conflict was decided by `conflict newest` for %s (modified last): both sides now say %q, and the state recorded the losing value",
		winner, dynName))

	var created map[string]any
	for _, row := range d.dyn.Rows("contact") {
		if strings.EqualFold(str(row["emailaddress1"]), e.newEmail) {
			created = row
		}
	}
	yuki := byEmail[e.newEmail]
	ok := created != nil && len(yuki) == 1 && str(yuki[0]["externalId"]) == str(created["contactid"])
	d.check(ok, fmt.Sprintf("People customer Yuki Tanaka was created in Dynamics (contact %s) and that ID written back to her externalId, so the next run links instead of duplicating", str(created["contactid"])))

	mias := byEmail[strings.ToLower(e.leadEmail)]
	ok = len(mias) == 1 && str(mias[0]["type"]) == "CUSTOMER" && str(mias[0]["externalId"]) == e.qualif
	typ := ""
	if len(mias) > 0 {
		typ = str(mias[0]["type"])
	}
	d.check(ok, fmt.Sprintf("lead %s, qualified into contact %s, kept one People profile (%d with that email), now type %s, externalId the contact's ID",
		e.leadName, e.qualif, len(mias), typ))

	deletedLinked := false
	if links, err := d.ss.store.Links(ctx, "contacts", "left", []string{e.deleted}); err == nil {
		_, deletedLinked = links[e.deleted]
	}
	kept := byExt[e.deleted] != nil
	d.check(kept && !deletedLinked, fmt.Sprintf("contact %s was deleted in Dynamics; its People profile stays (contacts.sync says nothing of deletes: delete ignore) and the pair is forgotten", e.deletedName))
}
