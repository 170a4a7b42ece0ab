// Package fake generates deterministic sample people for the emulators'
// seeders, the demo and benchmarks. Person(i) is the same on every machine,
// so the Dynamics and People emulators can seed overlapping records (the same
// email addresses on both sides) without talking to each other.
package fake

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Person is one sample person.
type Person struct {
	Index     int
	FirstName string
	LastName  string
	Email     string    // unique per index, lower case
	Phone     string    // E.164 without "+", unique per index (Infobip's form)
	City      string    // with Country
	Country   string    // free text, as both services store it
	JobTitle  string    // "" for some people
	Gender    string    // "MALE", "FEMALE" or ""
	BirthDate time.Time // zero for some people
	Company   string
}

var (
	firstF = []string{"Ana", "Maria", "Sofia", "Emma", "Olivia", "Mia", "Lea", "Ivana", "Chloe", "Yuki", "Amara", "Noor"}
	firstM = []string{"Luka", "Noah", "Liam", "Marco", "Jonas", "David", "Ivan", "Tomás", "Kenji", "Omar", "Ravi", "Leo"}
	lasts  = []string{"Horvat", "Smith", "Müller", "Rossi", "García", "Novak", "Kovač", "Dubois", "Tanaka", "Okafor", "Silva", "Jensen", "O'Brien", "Nguyen", "Kowalski", "Andersen"}
	places = [][2]string{{"Zagreb", "Croatia"}, {"London", "United Kingdom"}, {"Berlin", "Germany"}, {"Milan", "Italy"}, {"Madrid", "Spain"},
		{"Paris", "France"}, {"Tokyo", "Japan"}, {"Lagos", "Nigeria"}, {"São Paulo", "Brazil"}, {"Amsterdam", "Netherlands"}}
	// Mobile number prefixes (calling code and operator range) of the
	// places above; seven more digits make a number libphonenumber accepts
	// as valid, so phone() and msisdn() work on seeded data.
	mobilePrefixes = []string{"38591", "44770", "491512", "39333", "3461", "3361", "81901", "234802", "551191", "3161"}
	jobs           = []string{"", "Buyer", "CTO", "Office Manager", "Sales Director", "Engineer", "Marketing Lead", "Accountant"}
	companies      = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises", "Hooli", "Vandelay"}
)

// PersonAt returns sample person i (i >= 0).
func PersonAt(i int) Person {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	p := Person{Index: i}
	female := r.IntN(2) == 0
	if female {
		p.FirstName = firstF[r.IntN(len(firstF))]
	} else {
		p.FirstName = firstM[r.IntN(len(firstM))]
	}
	p.LastName = lasts[r.IntN(len(lasts))]
	switch r.IntN(10) {
	case 0:
		p.Gender = ""
	default:
		if female {
			p.Gender = "FEMALE"
		} else {
			p.Gender = "MALE"
		}
	}
	local := strings.NewReplacer("'", "", "ü", "u", "í", "i", "á", "a", "č", "c", "ć", "c").Replace(strings.ToLower(p.FirstName + "." + p.LastName))
	p.Email = fmt.Sprintf("%s.%d@example.com", local, i)
	place := r.IntN(len(places))
	p.City, p.Country = places[place][0], places[place][1]
	// The index in the last seven digits keeps numbers unique below 10^7.
	p.Phone = fmt.Sprintf("%s%07d", mobilePrefixes[place], i%10_000_000)
	p.JobTitle = jobs[r.IntN(len(jobs))]
	if r.IntN(4) != 0 {
		p.BirthDate = time.Date(1950+r.IntN(55), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	}
	p.Company = companies[r.IntN(len(companies))]
	return p
}
