package emulator

import (
	"fmt"
	"time"

	"github.com/synclang/synclang/connectors/internal/fake"
)

// Seeded custom attributes.
var seedAttributes = []struct{ name, dataType string }{
	{"JobTitle", "STRING"},
	{"Company", "STRING"},
	{"Contract Expiry", "DATE"},
	{"Loyalty Points", "INTEGER"},
}

// SeedIndex returns the fake.PersonAt index of the k-th seeded person:
// every third index, so a People emulator seeded with N persons shares the
// email addresses of indices 0, 3, 6, ... < 3N with the contacts the
// Dynamics emulator seeds from the same generator.
func SeedIndex(k int) int { return 3 * k }

// seed defines the sample custom attributes and creates n persons from
// fake.PersonAt(SeedIndex(k)), k < n, with ids 1..n:
//
//   - type LEAD when k%4 == 1, else CUSTOMER;
//   - externalId "ext-<index>" (from some other system, not a Dynamics id),
//     except when k%3 == 2: those were created by hand (origin PORTAL);
//   - first and last name, gender, birth date, city, country, one email
//     and one phone (international, without "+") from the generator;
//   - custom attributes: JobTitle when the generator has one and k is
//     even, Company when k%3 == 0, Contract Expiry when k%5 == 0, Loyalty
//     Points when k%4 == 0; others have none;
//   - tags VIP (k%10 == 0) and Newsletter (k%3 == 1);
//   - createdAt 10 minutes apart, the last 10 minutes before Now, and
//     modifiedAt k%7 minutes after createdAt.
func (e *Emulator) seed(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range seedAttributes {
		if _, ok := e.attrs[a.name]; !ok {
			_, _ = e.defineAttribute(a.name, a.dataType, nil)
		}
	}
	base := e.now().UTC().Truncate(time.Second)
	for k := 0; k < n; k++ {
		i := SeedIndex(k)
		fp := fake.PersonAt(i)
		p := &person{Type: TypeCustomer, Attrs: map[string]string{}, Custom: map[string]any{}}
		if k%4 == 1 {
			p.Type = TypeLead
		}
		origin := "API"
		if k%3 == 2 {
			origin = "PORTAL"
		} else {
			p.ExternalID = fmt.Sprintf("ext-%06d", i)
		}
		p.Attrs["firstName"], p.Attrs["lastName"] = fp.FirstName, fp.LastName
		p.Attrs["city"], p.Attrs["country"] = fp.City, fp.Country
		if fp.Gender != "" {
			p.Attrs["gender"] = fp.Gender
		}
		if !fp.BirthDate.IsZero() {
			p.Attrs["birthDate"] = fp.BirthDate.Format(dateLayout)
		}
		p.Emails = []string{fp.Email}
		p.Phones = []string{fp.Phone}
		if fp.JobTitle != "" && k%2 == 0 {
			p.Custom["JobTitle"] = fp.JobTitle
		}
		if k%3 == 0 {
			p.Custom["Company"] = fp.Company
		}
		if k%5 == 0 {
			p.Custom["Contract Expiry"] = base.AddDate(0, 0, 30+k%365).Format(dateLayout)
		}
		if k%4 == 0 {
			p.Custom["Loyalty Points"] = int64(k * 37 % 1000)
		}
		if k%10 == 0 {
			p.Tags = append(p.Tags, "VIP")
		}
		if k%3 == 1 {
			p.Tags = append(p.Tags, "Newsletter")
		}
		stored, _, f := e.commit(nil, p, origin)
		if f != nil {
			// fake.PersonAt is unique per index; a failure here is a bug in
			// the generator, not an input error.
			panic(fmt.Sprintf("emulator: seeding person %d: %v", i, f.messages()))
		}
		stored.CreatedAt = base.Add(-time.Duration(n-k) * 10 * time.Minute)
		stored.ModifiedAt = stored.CreatedAt.Add(time.Duration(k%7) * time.Minute)
	}
	e.byModified = nil
}
