package diag

import "testing"

// A Hint among Errorf's arguments prints as the sentence and is recorded
// as the diagnostic's Suggested; an empty one adds neither. Suggest does
// the same for a detail built by hand.
func TestHintIsRecorded(t *testing.T) {
	names := []string{"firstname", "lastname"}
	d := Errorf(Range{}, "unknown-field", "Unknown field", "no field %q.%s", "lastnme", DidYouMean("lastnme", names))
	if d.Detail != `no field "lastnme". Did you mean "lastname"?` || d.Suggested != "lastname" {
		t.Errorf("detail %q, suggested %q", d.Detail, d.Suggested)
	}
	d = Warningf(Range{}, "x", "X", "none here.%s", DidYouMean("qqqq", names))
	if d.Detail != "none here." || d.Suggested != "" {
		t.Errorf("empty hint: detail %q, suggested %q", d.Detail, d.Suggested)
	}
	d = (&Diagnostic{Detail: "A sentence."}).Suggest(Hint{Name: `say "hi"`})
	if d.Detail != `A sentence. Did you mean "say \"hi\""?` || d.Suggested != `say "hi"` {
		t.Errorf("Suggest: detail %q, suggested %q", d.Detail, d.Suggested)
	}
}
