package connector

import "testing"

// TestHostAllowed: a wildcard matches subdomains only, names compare
// without case or a trailing dot, loopback always passes, and a look-alike
// suffix does not.
func TestHostAllowed(t *testing.T) {
	known := []string{"*.dynamics.com", "login.microsoftonline.com"}
	for raw, want := range map[string]bool{
		"https://org.crm4.dynamics.com":                    true,
		"https://ORG.CRM.Dynamics.com./api":                true,
		"https://dynamics.com":                             false,
		"https://evildynamics.com":                         false,
		"https://org.crm4.dynamics.com.evil.example":       false,
		"https://login.microsoftonline.com/tenant":         true,
		"https://login.microsoftonline.com.evil.example":   false,
		"https://x@login.microsoftonline.com@evil.example": false,
		"http://127.0.0.1:8080":                            true,
		"http://[::1]:8080":                                true,
		"http://localhost":                                 true,
		"https://proxy.example.net":                        true, // allowed below
		"not a url":                                        false,
		"":                                                 false,
	} {
		if got := HostAllowed(raw, known, []string{" proxy.example.net "}); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", raw, got, want)
		}
	}
}
