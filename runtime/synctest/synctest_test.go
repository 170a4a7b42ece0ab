package synctest_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
	"github.com/synclang/synclang/runtime/synctest"
)

func registry() *connector.Registry { return kinds.Registry() }

func standIn(kind string, schema *connector.Schema) (synctest.StandIn, error) {
	return kinds.NewStandIn(kind, schema), nil
}

// project reads the .sync files of an example directory, tests included,
// and applies edit to their text (name is the file's base name).
func project(t testing.TB, dir string, edit func(name, src string) string) []lang.Input {
	t.Helper()
	inputs, err := lang.LoadWithTests(context.Background(), []string{filepath.Join("..", "..", dir)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range inputs {
		if edit != nil {
			inputs[i].Src = []byte(edit(filepath.Base(inputs[i].Name), string(inputs[i].Src)))
		}
	}
	return inputs
}

func compile(t testing.TB, inputs []lang.Input) *plan.Plan {
	t.Helper()
	p, diags := lang.Compile(inputs, lang.Options{Registry: registry()})
	if diags.HasErrors() {
		t.Fatalf("compile: %v", diags)
	}
	return p
}

func run(t testing.TB, p *plan.Plan, opts synctest.Options) []*synctest.Result {
	t.Helper()
	opts.Registry, opts.NewStandIn = registry(), standIn
	res, err := synctest.Run(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var projects = []string{"examples", "examples/people-to-dynamics"}

// TestExamplesPass runs the examples' tests with the in-memory store and
// with the SQLite store synclang runs with: both pass, the same way.
func TestExamplesPass(t *testing.T) {
	sqlite := func(now func() time.Time) (state.Store, error) {
		return state.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), state.Options{Now: now})
	}
	for _, dir := range projects {
		p := compile(t, project(t, dir, nil))
		if len(p.Tests) < 2 {
			t.Fatalf("%s: %d tests", dir, len(p.Tests))
		}
		for name, store := range map[string]func(func() time.Time) (state.Store, error){"memory": nil, "sqlite": sqlite} {
			for _, r := range run(t, p, synctest.Options{NewStore: store}) {
				if !r.Passed {
					for _, f := range r.Failures {
						t.Errorf("%s (%s store): %s: %s: %s", dir, name, r.Name, f.Range, f.Message)
					}
				}
			}
		}
	}
}

// TestMutatedMappingFailsItsTest changes one line of an example's mapping
// at a time and checks that the test covering it fails, at the right line,
// with the right message, naming the mapping line that wrote the value.
func TestMutatedMappingFailsItsTest(t *testing.T) {
	cases := []struct {
		what      string
		dir, file string
		old, new  string
		test      string
		message   string
		mapping   string // file:line of the mapping line named, "" for none
	}{
		{"the gender mapping, Dynamics to People", "examples", "contacts.sync",
			`gendercode == 2 ? "FEMALE"`, `gendercode == 2 ? "MALE"`,
			"a Dynamics contact reaches People with its gender, job title and ID", `gender is "MALE", expected "FEMALE"`, "contacts.sync:33"},
		{"the gender mapping, People to Dynamics", "examples", "contacts.sync",
			`gender == "FEMALE" ? 2`, `gender == "FEMALE" ? 1`,
			"a profile created in People becomes a contact with its ID written back", `gendercode is 1, expected 2`, "contacts.sync:34"},
		{"a custom attribute", "examples", "contacts.sync",
			`jobtitle -> custom.JobTitle`, `lastname -> custom.JobTitle`,
			"a Dynamics contact reaches People with its gender, job title and ID", `custom.JobTitle is "Lovelace", expected "Analyst"`, "contacts.sync:32"},
		{"the other direction", "examples", "contacts.sync",
			`firstname        <-> firstName`, `firstname        -> firstName`,
			"a profile created in People becomes a contact with its ID written back", `firstname is nil, expected "Yuki"`, ""},
		{"the match by email", "examples", "contacts.sync",
			"  match lower(emailaddress1) <-> lower(email)  # pairs records not linked yet\n", "",
			"a People profile with the contact's email in other case is paired, not duplicated", `linkedByMatch is 0, expected 1`, ""},
		{"the where filter", "examples", "contacts.sync",
			`where crm: statecode == 0 `, `where crm: statecode != 2 `,
			"an inactive contact stays out of People", `infobip.customer has 1 record, expected 0`, ""},
		{"the conflict policy", "examples", "contacts.sync",
			`conflict newest`, `conflict crm`,
			"a change on each side crosses over, and the newest edit of one field wins", `firstName is "Anna", expected "Ania"`, "contacts.sync:25"},
		{"the match keeps one profile for a qualified lead", "examples", "contacts.sync",
			"  match lower(emailaddress1) <-> lower(email)  # pairs records not linked yet\n", "",
			"a qualified lead keeps its one People profile, now a customer", `infobip.customer has no record mia_contact`, ""},
		{"the conflict policy on a known pair", "examples", "contacts.sync",
			`conflict newest`, `conflict crm`,
			"a pair synclang already knows is reconciled field by field, the newest side winning", `firstname is "Ana", expected "Anna"`, "contacts.sync:25"},
		{"the delete policy", "examples", "contacts.sync",
			`conflict newest`, "conflict newest\n  delete propagate",
			"a contact deleted in Dynamics leaves its profile, and the pair is forgotten", `infobip.customer has 0 records, expected 1`, ""},
		{"the phone check", "examples/people-to-dynamics", "customers.sync",
			`e164(phone, "") -> mobilephone`, `phone -> mobilephone`,
			"a phone that is no number rejects the profile at the phone line", `the last run did not reject infobip.customer bad with field "mobilephone", code "rejected-expression"`, ""},
		{"the match takes over a People lead", "examples", "contacts.sync",
			"  match lower(emailaddress1) <-> lower(email)  # pairs records not linked yet\n", "",
			"a People lead with the email of a new contact becomes that contact's customer profile", `type is "LEAD", expected "CUSTOMER"`, ""},
		{"the phone conversion", "examples/people-to-dynamics", "customers.sync",
			`e164(phone, "") -> mobilephone`, `phone -> mobilephone`,
			"a profile without externalId becomes a contact and gets its ID back", `mobilephone is "819012345678", expected "+819012345678"`, "customers.sync:30"},
		{"the People to Dynamics gender mapping", "examples/people-to-dynamics", "customers.sync",
			`gender == "MALE" ? 1`, `gender == "MALE" ? 2`,
			"a profile is paired with the contact that has its email, whatever the case", `gendercode is 2, expected 1`, "customers.sync:33"},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			inputs := project(t, c.dir, func(name, src string) string {
				if name != c.file {
					return src
				}
				if !strings.Contains(src, c.old) {
					t.Fatalf("%s does not contain %q", name, c.old)
				}
				return strings.Replace(src, c.old, c.new, 1)
			})
			var failed []string
			for _, r := range run(t, compile(t, inputs), synctest.Options{}) {
				if r.Passed {
					continue
				}
				failed = append(failed, r.Name)
				if r.Name != c.test {
					continue
				}
				found := false
				for _, f := range r.Failures {
					if strings.Contains(f.Message, c.message) {
						found = true
						if !strings.HasSuffix(f.Range.Filename, "_test.sync") || !f.Range.IsValid() {
							t.Errorf("failure at %s, want a line of the test file", f.Range)
						}
						if c.mapping != "" && !strings.HasPrefix(filepath.Base(f.Mapping.Filename)+":"+strconv.Itoa(f.Mapping.Start.Line), c.mapping) {
							t.Errorf("mapping line %s, want %s", f.Mapping, c.mapping)
						}
					}
				}
				if !found {
					for _, f := range r.Failures {
						t.Logf("failure: %s: %s", f.Range, f.Message)
					}
					t.Errorf("test %q failed without %q", c.test, c.message)
				}
			}
			if !contains(failed, c.test) {
				t.Errorf("test %q passed with the mutation; failed: %q", c.test, failed)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// BenchmarkProject200 runs a project of 200 tests (the examples' tests,
// repeated) and reports the time per test.
func BenchmarkProject200(b *testing.B) {
	inputs := project(b, "examples", nil)
	var tests []byte
	for _, in := range inputs {
		if strings.HasSuffix(in.Name, "_test.sync") {
			tests = in.Src
		}
	}
	p := compile(b, inputs)
	per := len(p.Tests)
	var extra []lang.Input
	for i := 0; (i+1)*per < 200; i++ {
		src := strings.ReplaceAll(string(tests), `test "`, `test "`+strconv.Itoa(i)+" ")
		extra = append(extra, lang.Input{Name: "extra" + strconv.Itoa(i) + "_test.sync", Src: []byte(src)})
	}
	p = compile(b, append(inputs, extra...))
	p.Tests = p.Tests[:200]
	b.ResetTimer()
	for range b.N {
		for _, r := range run(b, p, synctest.Options{}) {
			if !r.Passed {
				b.Fatalf("%s failed: %s", r.Name, r.Failures[0].Message)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/200, "µs/test")
}

// FuzzTestFile compiles a test file against the examples' syncs and runs
// it: whatever the file says, synclang reports it and never panics or
// hangs.
func FuzzTestFile(f *testing.F) {
	inputs := project(f, "examples", nil)
	var syncs []lang.Input
	for _, in := range inputs {
		if strings.HasSuffix(in.Name, "_test.sync") {
			f.Add(in.Src)
		} else {
			syncs = append(syncs, in)
		}
	}
	f.Add([]byte("test \"x\" {\n sync contacts\n given crm.contact a { lastname = \"A\" }\n expect infobip.customer a { lastName = a.crm.lastname }\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := lang.Compile(append(syncs, lang.Input{Name: "f_test.sync", Src: src}), lang.Options{Registry: registry()})
		if diags.HasErrors() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := synctest.Run(ctx, p, synctest.Options{Registry: registry(), NewStandIn: standIn}); err != nil {
			t.Fatal(err)
		}
	})
}
