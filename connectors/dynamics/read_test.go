package dynamics

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
	"github.com/synclang/synclang/connectors/internal/fake"
)

func TestPagingThroughManyContacts(t *testing.T) {
	t.Parallel()
	const n = 12000
	env := newTestEnv(t, emulator.Options{Seed: n}, 0)
	if _, err := env.conn.Discover(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	before := env.emu.Requests()
	recs, cur, batches := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"emailaddress1", "birthdate", "gendercode"})
	if len(recs) != n {
		t.Fatalf("read %d contacts, want %d", len(recs), n)
	}
	// 5000 per page (the service maximum): 3 pages.
	if len(batches) != 3 || env.emu.Requests()-before != 3 {
		t.Errorf("%d batches in %d requests", len(batches), env.emu.Requests()-before)
	}
	seen := map[string]bool{}
	emails := map[string]bool{}
	for _, r := range recs {
		if seen[r.Key] {
			t.Fatalf("contact %s read twice", r.Key)
		}
		seen[r.Key] = true
		emails[r.Fields["emailaddress1"].(string)] = true
		if r.Modified.IsZero() {
			t.Fatalf("contact %s has no Modified", r.Key)
		}
	}
	for i := 0; i < n; i += 997 {
		if !emails[fake.PersonAt(i).Email] {
			t.Errorf("sample person %d (%s) not read", i, fake.PersonAt(i).Email)
		}
	}
	if cur.IsZero() || batches[2].Next.IsZero() || !batches[0].Next.IsZero() || !batches[1].Next.IsZero() {
		t.Errorf("cursor %q; only the last batch is a checkpoint", cur.Token)
	}
	// Canonical values: birthdate a midnight-UTC time.Time, gendercode int64.
	p := fake.PersonAt(0)
	for _, r := range recs {
		if r.Fields["emailaddress1"] != p.Email {
			continue
		}
		if !p.BirthDate.IsZero() && r.Fields["birthdate"] != p.BirthDate {
			t.Errorf("birthdate = %#v, want %v", r.Fields["birthdate"], p.BirthDate)
		}
		if g, ok := r.Fields["gendercode"].(int64); p.Gender != "" && !ok {
			t.Errorf("gendercode = %#v", g)
		}
	}

	// Smaller batches page with the same cookie mechanism.
	recs, _, batches = readAll(t, env.conn, "contact", connector.Cursor{}, 1000, []string{"lastname"})
	if len(recs) != n || len(batches) != 12 {
		t.Errorf("with batch size 1000: %d records in %d batches", len(recs), len(batches))
	}
}

func keys(recs []connector.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Key)
	}
	sort.Strings(out)
	return out
}

func TestDeltaAfterEditsAndDeletes(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 40}, 0)
	recs, cur, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 15, []string{"firstname", "lastname"})
	if len(recs) != 40 || cur.Token[:len(deltaPrefix)] != deltaPrefix {
		t.Fatalf("full read: %d records, cursor %q", len(recs), cur.Token)
	}
	edited, deleted := recs[3].Key, recs[7].Key
	env.emu.Update("contact", edited, map[string]any{"firstname": "Edited"})
	env.emu.Delete("contact", deleted)
	created := env.emu.Insert("contact", map[string]any{"lastname": "New", "emailaddress1": "new@example.com"})
	createdThenDeleted := env.emu.Insert("contact", map[string]any{"lastname": "Gone"})
	env.emu.Delete("contact", createdThenDeleted)

	changes, cur2, batches := readAll(t, env.conn, "contact", cur, 15, []string{"firstname", "lastname"})
	byKey := map[string]connector.Record{}
	for _, r := range changes {
		byKey[r.Key] = r
	}
	if len(changes) != 4 {
		t.Errorf("delta returned %v, want the edit, the create and two deletes", keys(changes))
	}
	if r := byKey[edited]; r.Deleted || r.Fields["firstname"] != "Edited" {
		t.Errorf("edited record: %+v", r)
	}
	if r := byKey[created]; r.Deleted || r.Fields["lastname"] != "New" {
		t.Errorf("created record: %+v", r)
	}
	for _, k := range []string{deleted, createdThenDeleted} {
		if r := byKey[k]; !r.Deleted {
			t.Errorf("deleted record %s: %+v", k, r)
		}
	}
	if cur2 == cur || batches[len(batches)-1].Next.IsZero() {
		t.Errorf("the delta read must end with a new deltaLink")
	}
	// Nothing changed since: an empty batch with a cursor.
	changes, cur3, batches := readAll(t, env.conn, "contact", cur2, 15, nil)
	if len(changes) != 0 || len(batches) != 1 || cur3.IsZero() {
		t.Errorf("no changes: %d records, %d batches, cursor %q", len(changes), len(batches), cur3.Token)
	}

	// Many changes page inside the delta too.
	for i, r := range recs[10:40] {
		env.emu.Update("contact", r.Key, map[string]any{"jobtitle": fmt.Sprint("T", i)})
	}
	changes, _, batches = readAll(t, env.conn, "contact", cur3, 7, []string{"jobtitle"})
	if len(changes) != 30 || len(batches) != 5 {
		t.Errorf("30 changes in pages of 7: %d records in %d batches", len(changes), len(batches))
	}
	for _, b := range batches[:len(batches)-1] {
		if !b.Next.IsZero() {
			t.Errorf("a delta page before the last carried a cursor")
		}
	}
}

func TestExpiredDeltaTokenResyncs(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 12}, 0)
	_, cur, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"lastname"})
	env.emu.ExpireDeltaTokens()
	recs, next, batches := readAll(t, env.conn, "contact", cur, 5, []string{"lastname"})
	if len(recs) != 12 {
		t.Errorf("resync read %d records, want all 12", len(recs))
	}
	for _, b := range batches {
		if !b.Resync {
			t.Errorf("a batch of the resync lacks Resync")
		}
	}
	if next.IsZero() || next == cur {
		t.Errorf("the resync must end with a fresh deltaLink")
	}
	// The fresh token works.
	recs, _, batches = readAll(t, env.conn, "contact", next, 0, []string{"lastname"})
	if len(recs) != 0 || batches[0].Resync {
		t.Errorf("after the resync: %d records, resync %v", len(recs), batches[0].Resync)
	}
}

func TestWatermarkWithoutChangeTracking(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	env := newTestEnv(t, emulator.Options{Seed: 20, Now: func() time.Time { return clock() }}, 0)
	env.emu.SetChangeTracking("contact", false)
	schema, err := env.conn.Discover(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ent, _ := schema.Entity("contact")
	if !ent.Incremental || ent.Deletes {
		t.Fatalf("contact without change tracking: Incremental %v, Deletes %v; want true, false", ent.Incremental, ent.Deletes)
	}
	recs, cur, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"lastname"})
	if len(recs) != 20 || cur.Token[:len(watermarkPrefix)] != watermarkPrefix {
		t.Fatalf("full read: %d records, cursor %.10q", len(recs), cur.Token)
	}
	// The emulator's clock is fixed, so every record sits inside the
	// overlap: an incremental read must still return nothing new.
	recs, cur, _ = readAll(t, env.conn, "contact", cur, 0, []string{"lastname"})
	if len(recs) != 0 {
		t.Errorf("no changes, yet the watermark read returned %v", keys(recs))
	}
	// A change in the same second as earlier reads is still seen (its
	// version differs), and only once.
	all := env.emu.Rows("contact")
	env.emu.Update("contact", all[0]["contactid"].(string), map[string]any{"lastname": "Changed"})
	recs, cur, _ = readAll(t, env.conn, "contact", cur, 0, []string{"lastname"})
	if len(recs) != 1 || recs[0].Fields["lastname"] != "Changed" {
		t.Errorf("after one change: %+v", recs)
	}
	now = now.Add(10 * time.Minute)
	created := env.emu.Insert("contact", map[string]any{"lastname": "Later"})
	recs, _, _ = readAll(t, env.conn, "contact", cur, 0, []string{"lastname"})
	if len(recs) != 1 || recs[0].Key != created {
		t.Errorf("after a later create: %v, want [%s]", keys(recs), created)
	}
}

// TestCountIsCappedAt5000: $count is exact below Dataverse's cap of 5000;
// at the cap the table is counted with RetrieveTotalRecordCount, an
// approximation (not exact) (conntest checks the exact counts).
func TestCountIsCappedAt5000(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, emulator.Options{Seed: 40}, 0)
	for i := 0; i < 4970; i++ {
		env.emu.Insert("lead", map[string]any{"lastname": fmt.Sprint("L", i)})
	}
	if n, exact, err := env.conn.Count(testCtx(t), "lead"); err != nil || n != 4980 || !exact {
		t.Errorf("Count(lead) = %d, %v, %v; want 4980, exact", n, exact, err)
	}
	for i := 0; i < 30; i++ {
		env.emu.Insert("lead", map[string]any{"lastname": fmt.Sprint("M", i)})
	}
	if n, exact, err := env.conn.Count(testCtx(t), "lead"); err != nil || n != 5010 || exact {
		t.Errorf("Count(lead) of 5010 = %d, %v, %v; want 5010, not exact", n, exact, err)
	}
}

// A row with a value its column cannot hold (firstname 12345) does not stop
// the read: it comes as a reject naming the column and the value's JSON
// type (not the value), every other row comes as usual, and the cursor is
// set. Over change tracking and over the modifiedon watermark.
func TestMalformedRowIsARejectNotAFailure(t *testing.T) {
	t.Parallel()
	for _, tracked := range []bool{true, false} {
		t.Run(fmt.Sprint("tracked=", tracked), func(t *testing.T) {
			env := newTestEnv(t, emulator.Options{Seed: 30}, 0)
			env.emu.SetChangeTracking("contact", tracked)
			rows := env.emu.Rows("contact")
			bad := rows[7]["contactid"].(string)
			env.emu.SetRaw("contact", bad, "firstname", int64(12345))
			var recs []connector.Record
			var rejects []connector.RecordError
			var last connector.Cursor
			err := env.conn.Read(testCtx(t), connector.ReadRequest{Entity: "contact", BatchSize: 10}, func(b connector.Batch) error {
				recs = append(recs, b.Records...)
				rejects = append(rejects, b.Rejects...)
				if !b.Next.IsZero() {
					last = b.Next
				}
				return nil
			})
			if err != nil {
				t.Fatalf("read with one malformed row failed: %v", err)
			}
			if len(recs) != 29 || len(rejects) != 1 || last.IsZero() {
				t.Fatalf("got %d records, %d rejects, cursor %q; want 29, 1 and a cursor", len(recs), len(rejects), last.Token)
			}
			rj := rejects[0]
			if rj.Key != bad || rj.Field != "firstname" || connector.KindOf(rj.Err) != connector.ErrorInvalid {
				t.Errorf("reject %+v: want key %s, field firstname, kind invalid", rj, bad)
			}
			if msg := rj.Err.Error(); !strings.Contains(msg, "JSON number") || strings.Contains(msg, "12345") {
				t.Errorf("reject message %q: want the JSON type, never the value", msg)
			}
			for _, r := range recs {
				if r.Key == bad {
					t.Errorf("the malformed row came as a record too")
				}
			}
			// A lookup finds it, marked as not to be written over.
			res, err := env.conn.Lookup(testCtx(t), connector.LookupRequest{Entity: "contact", Field: "contactid", Values: []any{bad}})
			if err != nil || len(res.Records[0]) != 1 || res.Records[0][0].Foreign == "" {
				t.Errorf("lookup of the malformed row: %+v, %v; want it found and Foreign", res, err)
			}
		})
	}
}

// A row whose modifiedon is in 2099 does not carry the watermark to 2099:
// later changes of other rows are still read, the future row is not
// emitted again while unchanged, and a saved watermark ahead of the
// service's clock is not trusted (the read starts over in full).
func TestFutureModifiedonDoesNotStopChanges(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	env := newTestEnv(t, emulator.Options{Seed: 10, Now: clock}, 0)
	env.emu.SetChangeTracking("contact", false)
	rows := env.emu.Rows("contact")
	id := func(i int) string { return rows[i]["contactid"].(string) }
	_, cur, _ := readAll(t, env.conn, "contact", connector.Cursor{}, 0, []string{"lastname"})

	base := clock()
	set(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
	env.emu.Update("contact", id(2), map[string]any{"lastname": "Future"})
	set(base.Add(time.Hour))
	recs, cur, _ := readAll(t, env.conn, "contact", cur, 0, []string{"lastname"})
	if len(recs) != 1 || recs[0].Key != id(2) {
		t.Fatalf("after the future edit: %v, want [%s]", keys(recs), id(2))
	}
	wm, err := parseWatermark(strings.TrimPrefix(cur.Token, watermarkPrefix))
	if err != nil || wm.At.Year() > 2026 {
		t.Fatalf("watermark after reading a row dated 2099: %v, %v; want the service's time", wm.At, err)
	}
	set(base.Add(2 * time.Hour))
	env.emu.Update("contact", id(5), map[string]any{"lastname": "Later"})
	set(base.Add(3 * time.Hour))
	recs, _, _ = readAll(t, env.conn, "contact", cur, 0, []string{"lastname"})
	if len(recs) != 1 || recs[0].Key != id(5) {
		t.Errorf("after a later edit: %v, want only [%s]", keys(recs), id(5))
	}

	ahead := watermarkCursor(time.Date(2099, 6, 1, 0, 0, 0, 0, time.UTC), nil)
	recs, _, batches := readAll(t, env.conn, "contact", ahead, 0, []string{"lastname"})
	if len(recs) != 10 || !batches[0].Resync {
		t.Errorf("read since a watermark in 2099: %d records, resync %v; want a full read (10) marked Resync", len(recs), batches[0].Resync)
	}
}
