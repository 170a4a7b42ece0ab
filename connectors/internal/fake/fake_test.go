package fake

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestDeterministicAndUnique(t *testing.T) {
	emails, phones := map[string]int{}, map[string]int{}
	for i := 0; i < 20000; i++ {
		p := PersonAt(i)
		if p != PersonAt(i) {
			t.Fatalf("PersonAt(%d) is not deterministic", i)
		}
		if j, dup := emails[p.Email]; dup {
			t.Fatalf("email %s for %d and %d", p.Email, i, j)
		}
		if j, dup := phones[p.Phone]; dup {
			t.Fatalf("phone %s for %d and %d", p.Phone, i, j)
		}
		emails[p.Email], phones[p.Phone] = i, i
		if i < 2000 {
			n, err := phonenumbers.Parse("+"+p.Phone, "ZZ")
			if err != nil || !phonenumbers.IsValidNumber(n) {
				t.Errorf("PersonAt(%d).Phone = %s is not a valid number", i, p.Phone)
			}
		}
	}
}
