package dynamics

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/synclang/synclang/connectors/connector"
)

// maxFilterLength bounds the encoded $filter of one lookup request, well
// under the service's 32 KB URL limit ("Compose HTTP requests and handle
// errors", Maximum URL length:
// https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
const maxFilterLength = 16 << 10

// maxLookupValues bounds the values of one request.
const maxLookupValues = 500

// Lookup finds the records whose field equals each value: one value per
// `field eq literal`, many per Microsoft.Dynamics.CRM.In, in as few
// requests as the URL limit allows. Strings compare as the service does
// (case-insensitively, trailing spaces ignored); a value that cannot be
// stored in the field (a non-GUID id, a string longer than the column)
// matches nothing.
func (c *Conn) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	res := connector.LookupResult{Records: make([][]connector.Record, len(req.Values))}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	ti, err := c.table(ctx, req.Entity)
	if err != nil {
		return res, err
	}
	f, ok := ti.ent.Field(req.Field)
	if !ok || (req.Field != ti.ent.Key && !f.Lookup) {
		return res, fmt.Errorf("dynamics: lookup of %s by %s: %w", req.Entity, req.Field, connector.ErrUnsupported)
	}
	fields, err := selectFields(ti.ent, req.Fields, false)
	if err != nil {
		return res, err
	}
	if !contains(fields, f.Name) {
		fields = append(fields, f.Name)
	}
	// Distinct canonical values and the request indexes asking for each.
	type want struct {
		canon   any
		inValue string
		lit     string
		idx     []int
	}
	var wants []*want
	byNorm := map[string]*want{}
	for i, v := range req.Values {
		cv, err := connector.Canonical(f.Type, v)
		if err != nil || cv == nil {
			continue
		}
		if s, ok := cv.(string); ok && (s == "" || (f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength)) {
			continue
		}
		lit, err := odataLiteral(f.Type, cv)
		if err != nil {
			continue
		}
		iv, _ := inValue(f.Type, cv)
		norm := normalize(f, cv)
		w := byNorm[norm]
		if w == nil {
			w = &want{canon: cv, inValue: iv, lit: lit}
			byNorm[norm] = w
			wants = append(wants, w)
		}
		w.idx = append(w.idx, i)
	}
	sel := strings.Join(fields, ",")
	asked := req.Fields
	if asked != nil {
		asked = append(append([]string{}, asked...), ti.ent.Key, ti.ent.Modified, f.Name)
	}
	for start := 0; start < len(wants); {
		// Grow the chunk while the filter fits.
		end := start + 1
		for end < len(wants) && end-start < maxLookupValues {
			vals := make([]string, 0, end+1-start)
			for _, w := range wants[start : end+1] {
				vals = append(vals, w.inValue)
			}
			if len(queryEscape(inFilter(f.Name, vals))) > maxFilterLength {
				break
			}
			end++
		}
		chunk := wants[start:end]
		start = end
		var filter string
		if len(chunk) == 1 {
			filter = eqFilter(f.Name, chunk[0].lit)
		} else {
			vals := make([]string, len(chunk))
			for i, w := range chunk {
				vals[i] = w.inValue
			}
			filter = inFilter(f.Name, vals)
		}
		u := c.apiURL + ti.set + "?" + encodeQuery(queryOption{"$select", sel}, queryOption{"$filter", filter})
		r := &reader{c: c, ti: ti, fields: fields, asked: asked, pageSize: 5000}
		for u != "" {
			p, _, err := r.get(ctx, u, false)
			if err != nil {
				return res, err
			}
			recs := r.lookupRecords(p)
			for _, rec := range recs {
				have := rec.Fields[f.Name]
				if f.Name == ti.ent.Key {
					have = rec.Key
				}
				if have == nil {
					continue
				}
				if w := byNorm[normalize(f, have)]; w != nil {
					for _, i := range w.idx {
						res.Records[i] = append(res.Records[i], copyRecord(rec))
					}
				}
			}
			if u, err = r.follow(p, recs); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// lookupRecords converts a page of a lookup's answer. A row a column of
// which cannot be converted is still found (so the record looked for is not
// paired with a second one), but marked Foreign: it is not written over,
// and the engine rejects the record looked for with the reason.
func (r *reader) lookupRecords(p page) []connector.Record {
	recs := make([]connector.Record, 0, len(p.Value))
	fields := resolveFields(r.ti.ent, r.outFields())
	for _, row := range p.Value {
		rec, err := recordOf(r.ti.ent, row, fields)
		if err != nil {
			rec.Foreign = "a record synclang cannot read: " + err.Error()
		}
		if rec.Key != "" {
			recs = append(recs, rec)
		}
	}
	return recs
}

// normalize is the comparison form of a value: strings as Dataverse
// compares them (case-insensitive, trailing spaces ignored), ids in lower
// case, others in their canonical text.
func normalize(f *connector.Field, v any) string {
	if s, ok := v.(string); ok {
		return strings.ToLower(strings.TrimRight(s, " "))
	}
	lit, err := odataLiteral(f.Type, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return lit
}

func copyRecord(r connector.Record) connector.Record {
	c := r
	c.Fields = make(map[string]any, len(r.Fields))
	for k, v := range r.Fields {
		c.Fields[k] = v
	}
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
