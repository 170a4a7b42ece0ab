package dynamics

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

// contactsPage is the emulator's answer of rows contacts, all columns, as
// a full read without Fields asks for them, and a reader for it.
func contactsPage(t testing.TB, rows int) (*reader, []byte) {
	env := newTestEnv(t, emulator.Options{Seed: rows}, 0)
	ti, err := env.conn.table(testCtx(t), "contact")
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{c: env.conn, ti: ti, pageSize: rows}
	if r.fields, err = selectFields(ti.ent, nil, false); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, r.collectionURL(), nil)
	req.Header.Set("Prefer", "odata.maxpagesize=5000")
	resp, err := env.conn.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return r, data
}

// BenchmarkDecodePage measures the CPU a full read spends per record once
// a page has arrived: decoding the emulator's answer of 5000 contacts into
// canonical records. "before" is the code this replaced (encoding/json
// into maps, then recordFromBefore), "after" decodePage and recordOf; run
// in one process, interleaved, their ratio holds on a loaded machine.
//
//	go test -run XXX -bench DecodePage -cpuprofile cpu.out ./connectors/dynamics/
func BenchmarkDecodePage(b *testing.B) {
	const rows = 5000
	r, data := contactsPage(b, rows)
	for _, impl := range []struct {
		name string
		run  func() []connector.Record
	}{
		{"before", func() []connector.Record { return decodeBefore(b, r, data) }},
		{"after", func() []connector.Record {
			var p page
			if err := decodePage(data, &p); err != nil {
				b.Fatal(err)
			}
			recs, _, _ := r.recordsVersions(p)
			return recs
		}},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			n := 0
			for range b.N {
				n += len(impl.run())
			}
			if n != rows*b.N {
				b.Fatalf("%d records", n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
		})
	}
}

// TestDecodePageAsBefore: the new decoding yields the records the old one
// did, for a page of every column of the emulator's contacts.
func TestDecodePageAsBefore(t *testing.T) {
	t.Parallel()
	r, data := contactsPage(t, 300)
	var p page
	if err := decodePage(data, &p); err != nil {
		t.Fatal(err)
	}
	got, _, _ := r.recordsVersions(p)
	want := decodeBefore(t, r, data)
	if len(got) != 300 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d records; first:\n%+v\nwant\n%+v", len(got), got[0], want[0])
	}
}

func decodeBefore(t testing.TB, r *reader, data []byte) []connector.Record {
	var p page
	if err := decodeJSON(data, &p); err != nil {
		t.Fatal(err)
	}
	recs := make([]connector.Record, 0, len(p.Value))
	for _, row := range p.Value {
		rec, err := recordFromBefore(r.ti.ent, row, r.outFields())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// recordFromBefore is the row conversion before resolveFields: the field
// names sorted, and each field found by a linear search, in every row.
func recordFromBefore(ent *connector.Entity, row map[string]any, fields []string) (connector.Record, error) {
	key, _ := row[ent.Key].(string)
	rec := connector.Record{Key: strings.ToLower(key), Fields: make(map[string]any, len(fields)+2)}
	if ent.Modified != "" {
		if s, ok := row[ent.Modified].(string); ok {
			if t, err := connector.ParseDateTime(s); err == nil {
				rec.Modified = t
			}
		}
	}
	names := fields
	if names == nil {
		names = ent.FieldNames()
	}
	for _, name := range names {
		f, ok := ent.Field(name)
		if !ok {
			continue
		}
		v, present := row[name]
		if !present {
			continue
		}
		cv, err := fromWire(f, v)
		if err != nil {
			return rec, err
		}
		rec.Fields[name] = cv
	}
	return rec, nil
}
