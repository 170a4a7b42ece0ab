package dynamics

import (
	"fmt"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

func upsert(t *testing.T, env *testEnv, entity string, recs []connector.Record) connector.BatchResult {
	t.Helper()
	res, err := env.conn.Upsert(testCtx(t), connector.UpsertRequest{Entity: entity, Records: recs})
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	if len(res.Results) != len(recs) {
		t.Fatalf("%d results for %d records", len(res.Results), len(recs))
	}
	return res
}

func TestBulkWriteWithOneBadRecord(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	existing := env.emu.Insert("contact", map[string]any{"lastname": "Existing", "emailaddress1": "taken@example.com"})
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var recs []connector.Record
	for i := 0; i < 6; i++ {
		recs = append(recs, connector.Record{Fields: map[string]any{"lastname": fmt.Sprint("L", i), "emailaddress1": fmt.Sprintf("p%d@example.com", i)}})
	}
	recs[3].Fields["emailaddress1"] = "TAKEN@example.com" // the alternate key already holds it
	recs[5].Fields["lastname"] = strings.Repeat("x", 51)  // caught before sending
	before := env.emu.Requests()
	res := upsert(t, env, "contact", recs)
	for i, r := range res.Results {
		switch i {
		case 3:
			var e *connector.Error
			if r.Effect != connector.Failed || !errorsAs(r.Err, &e) || e.Kind != connector.ErrorConflict || e.Code != "0x80060892" ||
				e.Op != "create contact (record 4)" || e.Hint == "" {
				t.Errorf("record 4: %+v (%#v)", r, e)
			}
		case 5:
			if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorInvalid || !strings.Contains(r.Err.Error(), "lastname") {
				t.Errorf("record 6: %+v", r)
			}
		default:
			if r.Effect != connector.Created || r.Key == "" || r.Err != nil {
				t.Errorf("record %d: %+v", i+1, r)
			}
		}
	}
	// One CreateMultiple (rolled back as a whole) and one $batch isolating
	// the bad record.
	if got := env.emu.Requests() - before; got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
	if rows := env.emu.Rows("contact"); len(rows) != 5 {
		t.Errorf("%d contacts after the write, want the existing one and 4 new", len(rows))
	}
	if row, _ := env.emu.Get("contact", existing); row["lastname"] != "Existing" {
		t.Errorf("the existing contact changed: %v", row["lastname"])
	}
}

func TestBulkUpdateWithMissingRecord(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 4}, 0)
	rows := env.emu.Rows("contact")
	missing := "00000000-0000-4000-8000-00000000beef"
	recs := []connector.Record{
		{Key: rows[0]["contactid"].(string), Fields: map[string]any{"jobtitle": "A"}},
		{Key: missing, Fields: map[string]any{"jobtitle": "B"}},
		{Key: rows[1]["contactid"].(string), Fields: map[string]any{"jobtitle": nil}},
		{Key: "not-a-guid", Fields: map[string]any{"jobtitle": "C"}},
		{Key: rows[2]["contactid"].(string), Fields: map[string]any{}},
	}
	res := upsert(t, env, "contact", recs)
	if res.Results[0].Effect != connector.Updated || res.Results[2].Effect != connector.Updated || res.Results[4].Effect != connector.Unchanged {
		t.Errorf("results: %+v", res.Results)
	}
	for _, i := range []int{1, 3} {
		if res.Results[i].Effect != connector.Failed || connector.KindOf(res.Results[i].Err) != connector.ErrorNotFound {
			t.Errorf("record %d: %+v, want not-found", i+1, res.Results[i])
		}
	}
	if _, ok := env.emu.Get("contact", missing); ok {
		t.Error("an update created the missing record")
	}
	if r, _ := env.emu.Get("contact", rows[0]["contactid"].(string)); r["jobtitle"] != "A" {
		t.Errorf("jobtitle = %v", r["jobtitle"])
	}
	if r, _ := env.emu.Get("contact", rows[1]["contactid"].(string)); r["jobtitle"] != nil {
		t.Errorf("nil did not clear jobtitle: %v", r["jobtitle"])
	}
}

func TestBulkSplitsIntoRequestsOfAtMost1000(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	recs := make([]connector.Record, 2500)
	for i := range recs {
		recs[i] = connector.Record{Fields: map[string]any{"lastname": fmt.Sprint("L", i)}}
	}
	before := env.emu.Requests()
	res := upsert(t, env, "contact", recs)
	if res.Count(connector.Created) != 2500 || env.emu.Requests()-before != 3 {
		t.Errorf("%d created in %d requests, want 2500 in 3", res.Count(connector.Created), env.emu.Requests()-before)
	}
	// Keys come back in request order.
	for _, i := range []int{0, 999, 1000, 2499} {
		row, ok := env.emu.Get("contact", res.Results[i].Key)
		if !ok || row["lastname"] != fmt.Sprint("L", i) {
			t.Errorf("record %d: key %s holds %v", i, res.Results[i].Key, row["lastname"])
		}
	}
}

func TestWriteValueMapping(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{}, 0)
	res := upsert(t, env, "contact", []connector.Record{
		{Fields: map[string]any{"lastname": "Dates", "birthdate": "1990-07-15", "gendercode": 2, "donotemail": true}},
		{Fields: map[string]any{"lastname": "Bad", "gendercode": 7}},
		{Fields: map[string]any{"lastname": "Bad", "fullname": "Set By Dynamics"}},
		{Fields: map[string]any{"lastname": "Bad", "no_such_column": 1}},
		{Fields: map[string]any{"lastname": "Bad", "birthdate": "not a date"}},
	})
	if res.Results[0].Effect != connector.Created {
		t.Fatalf("record 1: %+v", res.Results[0])
	}
	row, _ := env.emu.Get("contact", res.Results[0].Key)
	if row["birthdate"] != "1990-07-15" || row["gendercode"] != int64(2) || row["donotemail"] != true || row["fullname"] != "Dates" {
		t.Errorf("stored %v %v %v %v", row["birthdate"], row["gendercode"], row["donotemail"], row["fullname"])
	}
	for i, want := range []string{"not one of the column's options", "read-only", `no column "no_such_column"`, "not a date"} {
		r := res.Results[i+1]
		if r.Effect != connector.Failed || connector.KindOf(r.Err) != connector.ErrorInvalid || !strings.Contains(r.Err.Error(), want) {
			t.Errorf("record %d: %v, want %q", i+2, r.Err, want)
		}
	}
	recs, _, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"birthdate", "gendercode", "donotemail"})
	for _, r := range recs {
		if r.Key != res.Results[0].Key {
			continue
		}
		if bd, ok := r.Fields["birthdate"].(interface{ Format(string) string }); !ok || bd.Format("2006-01-02 15:04:05 MST") != "1990-07-15 00:00:00 UTC" {
			t.Errorf("birthdate read back as %#v", r.Fields["birthdate"])
		}
		if r.Fields["gendercode"] != int64(2) || r.Fields["donotemail"] != true {
			t.Errorf("read back %#v", r.Fields)
		}
	}
}

func TestDeleteMany(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 3}, 0)
	rows := env.emu.Rows("contact")
	keys := []string{rows[0]["contactid"].(string), "00000000-0000-4000-8000-000000000000", rows[2]["contactid"].(string), "nope"}
	res, err := env.conn.Delete(testCtx(t), connector.DeleteRequest{Entity: "contact", Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	want := []connector.Effect{connector.Deleted, connector.Failed, connector.Deleted, connector.Failed}
	for i, r := range res.Results {
		if r.Effect != want[i] || (r.Effect == connector.Failed && connector.KindOf(r.Err) != connector.ErrorNotFound) {
			t.Errorf("key %d: %+v", i, r)
		}
	}
	if n := len(env.emu.Rows("contact")); n != 1 {
		t.Errorf("%d contacts left, want 1", n)
	}
}

func TestQualifiedLeadContactIsReadable(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 8}, 0)
	leads := env.emu.Rows("lead")
	if len(leads) != 2 {
		t.Fatalf("seed 8 made %d leads, want 2", len(leads))
	}
	contactID, err := env.emu.QualifyLead(leads[0]["leadid"].(string))
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "_originatingleadid_value", Values: []any{leads[0]["leadid"]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records[0]) != 1 || res.Records[0][0].Key != contactID || res.Records[0][0].Fields["emailaddress1"] != leads[0]["emailaddress1"] {
		t.Errorf("lookup by originating lead: %+v", res.Records)
	}
	lead, _ := env.emu.Get("lead", leads[0]["leadid"].(string))
	if lead["statecode"] != int64(1) || lead["statuscode"] != int64(3) {
		t.Errorf("lead state %v/%v, want 1/3", lead["statecode"], lead["statuscode"])
	}
	if _, err := env.emu.QualifyLead(leads[0]["leadid"].(string)); err == nil {
		t.Error("qualifying a qualified lead succeeded")
	}
}
