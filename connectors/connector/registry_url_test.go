package connector

import (
	"strings"
	"testing"
)

// TestCheckServiceURLAPIPath: an API endpoint given as a service's URL is
// refused with the part to drop (issue 13 item 4); a base path that is not
// an API path (a proxy) stays allowed.
func TestCheckServiceURLAPIPath(t *testing.T) {
	for raw, want := range map[string]string{
		"https://org0.crm4.dynamics.com/api/data/v9.2":       "give the service's address without it, https://org0.crm4.dynamics.com ",
		"https://org0.crm4.dynamics.com/api/data/v9.2/":      "ends in the API path /api/data/v9.2/",
		"https://xxxxx.api.infobip.com/people/2/persons":     "without it, https://xxxxx.api.infobip.com ",
		"https://proxy.example.com/infobip/people/2/persons": "without it, https://proxy.example.com/infobip ",
	} {
		err := CheckServiceURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckServiceURL(%q) = %v, want %q", raw, err, want)
		}
	}
	for _, ok := range []string{"https://org0.crm4.dynamics.com", "https://org0.crm4.dynamics.com/", "https://proxy.example.com/infobip", "http://127.0.0.1:8090"} {
		if err := CheckServiceURL(ok); err != nil {
			t.Errorf("CheckServiceURL(%q) = %v", ok, err)
		}
	}
}
