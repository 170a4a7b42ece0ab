package dynamics

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

func TestDiscoverMergesOverStandardSchema(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	env.emu.AddColumn("contact", "new_tier", "String", 20)
	env.emu.AddColumn("contact", "new_score", "Integer", 0)
	s, err := env.conn.Discover(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.EntityNames(); !reflect.DeepEqual(got, []string{"contact", "lead"}) {
		t.Errorf("entities %v", got)
	}
	c, _ := s.Entity("contact")
	std, _ := StandardSchema().Entity("contact")
	if c.Key != "contactid" || c.Modified != "modifiedon" || !c.Incremental || !c.Deletes {
		t.Errorf("contact: %+v", c)
	}
	field := func(name string) *connector.Field {
		f, ok := c.Field(name)
		if !ok {
			t.Fatalf("no field %s", name)
		}
		return f
	}
	if f := field("new_tier"); !f.Custom || f.Type != connector.String || f.MaxLength != 20 || f.ReadOnly || !f.Lookup || !f.CaseInsensitive {
		t.Errorf("new_tier: %+v", f)
	}
	if f := field("new_score"); !f.Custom || f.Type != connector.Int {
		t.Errorf("new_score: %+v", f)
	}
	if f := field("emailaddress1"); !f.Unique || f.Custom || f.MaxLength != 100 {
		t.Errorf("emailaddress1 (alternate key): %+v", f)
	}
	if f := field("fullname"); !f.ReadOnly {
		t.Errorf("fullname: %+v", f)
	}
	if f := field("birthdate"); f.Type != connector.Date {
		t.Errorf("birthdate: %+v", f)
	}
	if f := field("gendercode"); !reflect.DeepEqual(f.Options, []connector.Option{{Value: 1, Label: "Male"}, {Value: 2, Label: "Female"}}) {
		t.Errorf("gendercode options %+v", f.Options)
	}
	if f := field("statuscode"); len(f.Options) != 2 || f.ReadOnly {
		t.Errorf("statuscode: %+v", f)
	}
	if f := field("_originatingleadid_value"); f.Type != connector.ID || !f.ReadOnly {
		t.Errorf("_originatingleadid_value: %+v", f)
	}
	// Standard fields keep their documentation.
	if sf, _ := std.Field("firstname"); field("firstname").Doc != sf.Doc {
		t.Errorf("firstname doc %q, want %q", field("firstname").Doc, sf.Doc)
	}
	for _, f := range std.Fields {
		if _, ok := c.Field(f.Name); !ok {
			t.Errorf("standard field %s is missing after discovery", f.Name)
		}
	}

	// The custom column can be written and read.
	res := upsert(t, env, "contact", []connector.Record{{Fields: map[string]any{"lastname": "X", "new_tier": "gold", "new_score": 7}}})
	recs, _, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"new_tier", "new_score"})
	if len(recs) != 1 || recs[0].Key != res.Results[0].Key || recs[0].Fields["new_tier"] != "gold" || recs[0].Fields["new_score"] != int64(7) {
		t.Errorf("custom columns read back as %+v", recs)
	}
}

func TestUnknownEntity(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	err := env.conn.Read(testCtx(t), connector.ReadRequest{Entity: "account"}, func(connector.Batch) error { return nil })
	if e := authError(t, err); e.Kind != connector.ErrorConfig || e.Hint == "" {
		t.Errorf("reading an unknown table: %#v", e)
	}
}

func TestLookupEscapesValues(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	names := []string{"O'Brien", "Müller", "100% & +1 #2", "a\"b\\c", "x' or 1 eq 1 or 'a' eq 'a"}
	ids := map[string]string{}
	for i, n := range names[:4] {
		ids[n] = env.emu.Insert("contact", map[string]any{"lastname": n, "emailaddress1": fmt.Sprintf("e%d@example.com", i)})
	}
	env.emu.Insert("contact", map[string]any{"lastname": "a", "emailaddress1": "a@example.com"})
	values := []any{"o'brien", "MÜLLER", "100% & +1 #2", "a\"b\\c", "x' or 1 eq 1 or 'a' eq 'a", "100%", "O'Brien  "}
	for _, single := range []bool{false, true} {
		res := connector.LookupResult{Records: make([][]connector.Record, len(values))}
		if single {
			// One value per request: the eq form.
			for i, v := range values {
				r, err := env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "lastname", Values: []any{v}})
				if err != nil {
					t.Fatalf("Lookup %q: %v", v, err)
				}
				res.Records[i] = r.Records[0]
			}
		} else {
			var err error
			res, err = env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "lastname", Values: values})
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
		}
		want := []string{ids["O'Brien"], ids["Müller"], ids["100% & +1 #2"], ids["a\"b\\c"], "", "", ids["O'Brien"]}
		for i, w := range want {
			got := ""
			if len(res.Records[i]) == 1 {
				got = res.Records[i][0].Key
			}
			if got != w || len(res.Records[i]) > 1 {
				t.Errorf("single %v: lookup %q found %v, want %q", single, values[i], keys(res.Records[i]), w)
			}
		}
	}
}

func TestLookupManyValuesSplitsRequests(t *testing.T) {
	t.Parallel()
	const n = 1500
	env := newTestEnv(t, emulator.Options{Seed: n}, 0)
	rows := env.emu.Rows("contact")
	values := make([]any, 0, n+1)
	for _, r := range rows {
		values = append(values, r["emailaddress1"])
	}
	values = append(values, "nobody@example.com")
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	before := env.emu.Requests()
	res, err := env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "emailaddress1", Values: values, Fields: []string{"lastname"}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := env.emu.Requests() - before
	if reqs < 3 || reqs > 10 {
		t.Errorf("%d requests for %d values", reqs, len(values))
	}
	for i, r := range rows {
		if len(res.Records[i]) != 1 || res.Records[i][0].Key != r["contactid"] || res.Records[i][0].Fields["lastname"] != r["lastname"] {
			t.Fatalf("value %d: %+v", i, res.Records[i])
		}
	}
	if len(res.Records[n]) != 0 {
		t.Errorf("the missing value matched %v", res.Records[n])
	}
	// By key, with ids in upper case.
	res, err = env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "contactid", Values: []any{fmt.Sprint(rows[0]["contactid"])[:8] + "X", rowsKeyUpper(rows[1])}})
	if err != nil || len(res.Records[0]) != 0 || len(res.Records[1]) != 1 {
		t.Errorf("lookup by key: %+v, %v", res.Records, err)
	}
}

func rowsKeyUpper(r map[string]any) string {
	s := r["contactid"].(string)
	out := []byte(s)
	for i, c := range out {
		if c >= 'a' && c <= 'f' {
			out[i] = c - 32
		}
	}
	return string(out)
}
