package connector

import (
	"strings"
	"testing"
)

// TestCheckServiceURLRefusesUserinfo: a URL with a user name or password
// is refused, and the error does not echo it.
func TestCheckServiceURLRefusesUserinfo(t *testing.T) {
	for _, raw := range []string{"https://alice:pw123456@org.crm4.dynamics.com", "https://alice@org.crm4.dynamics.com", "http://u:pw123456@127.0.0.1:8080"} {
		err := CheckServiceURL(raw)
		if err == nil || !strings.Contains(err.Error(), "user name or password") || strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "pw123456") {
			t.Errorf("CheckServiceURL(%q) = %v", raw, err)
		}
	}
	if err := CheckServiceURL("https://org.crm4.dynamics.com"); err != nil {
		t.Errorf("a plain https URL: %v", err)
	}
}
