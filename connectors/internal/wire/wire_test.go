package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		"00aa00aa-bb11-cc22-dd33-44ee44ee44ee":  true,
		"00AA00AA-BB11-CC22-DD33-44EE44EE44EE":  true,
		"00aa00aa-bb11-cc22-dd33-44ee44ee44e":   false,
		"00aa00aa-bb11-cc22-dd33-44ee44ee44eg":  false,
		"00aa00aa0bb11-cc22-dd33-44ee44ee44ee":  false,
		"{00aa00aa-bb11-cc22-dd33-44ee44ee44e}": false,
		"":                                      false,
	} {
		if got := IsGUID(s); got != want {
			t.Errorf("IsGUID(%q) = %v", s, got)
		}
	}
}

func TestPlainJSON(t *testing.T) {
	d := json.NewDecoder(strings.NewReader(`{"a":1,"b":1.5,"c":[2,"x",{"d":-3}],"e":null,"f":12345678901234567890}`))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": int64(1), "b": 1.5, "c": []any{int64(2), "x", map[string]any{"d": int64(-3)}}, "e": nil, "f": 1.2345678901234567e19}
	if got := PlainJSON(v); !reflect.DeepEqual(got, want) {
		t.Errorf("PlainJSON = %#v\nwant %#v", got, want)
	}
}
