package eval

import (
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
)

// TestPhoneErrors: e164's errors say once what is wrong, and the UK drama
// range is refused as the phone library refuses it, saying so, with a
// number to use instead (issue 13 item 4).
func TestPhoneErrors(t *testing.T) {
	for _, c := range []struct{ in, region, want string }{
		{"+44 7700 900123", "", "Ofcom's range for drama"},
		{"07700 900123", "GB", "for test data use a valid number such as +447"},
		{"12", "GB", "too short"},
		{"0201234", "", "give e164 the region"},
		{"hello", "GB", "is not a phone number"},
	} {
		_, err := normPhone(false)(c.in, c.region)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("e164(%q, %q) = %v, want %q", c.in, c.region, err, c.want)
			continue
		}
		if msg := err.Error(); strings.Count(msg, "not a valid") > 1 || strings.Contains(msg, "(not a valid number)") {
			t.Errorf("e164(%q): repeats itself: %s", c.in, msg)
		}
	}
	// What the library accepts still passes.
	if got, err := normPhone(false)("07400 123456", "GB"); err != nil || got != "+447400123456" {
		t.Errorf("e164 of a valid UK mobile = %v, %v", got, err)
	}
}

// TestNilOperandHint: "+" + phone on a record without a phone says how to
// give it a default, not only "string + <nil>".
func TestNilOperandHint(t *testing.T) {
	c := NewCompiler([]*connector.Field{{Name: "phone", Type: connector.String}})
	p, err := c.Compile(`"+" + phone`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(p, map[string]any{"phone": nil}, connector.String)
	if err == nil || !strings.Contains(err.Error(), "string + <nil>") || !strings.Contains(err.Error(), `(field ?? "")`) {
		t.Errorf("error = %v", err)
	}
}
