package diag

import "testing"

// TestSuggestionInvertsDidYouMean: what DidYouMean appends, Suggestion
// reads back, quotes and all; a detail without it suggests nothing.
func TestSuggestionInvertsDidYouMean(t *testing.T) {
	for _, word := range []string{"emailaddress1", `custom.Contract "Expiry"`, "MALE"} {
		detail := `crm.contact has no field "x". Did you mean "y"?` + DidYouMean(word+"x", []string{word})
		if got := Suggestion(detail); got != word {
			t.Errorf("Suggestion(%q) = %q, want %q", detail, got, word)
		}
	}
	for _, detail := range []string{"", "No field.", `Did you mean "x"`, ` Did you mean x?`} {
		if got := Suggestion(detail); got != "" {
			t.Errorf("Suggestion(%q) = %q, want none", detail, got)
		}
	}
}
