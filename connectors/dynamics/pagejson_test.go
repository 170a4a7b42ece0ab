package dynamics

import (
	"reflect"
	"testing"
)

// FuzzDecodePage: decodePage answers what encoding/json (decodeJSON)
// answers, for any input: the same page, or an error where it errs.
func FuzzDecodePage(f *testing.F) {
	for _, seed := range []string{
		`{"@odata.context":"x","value":[{"contactid":"49b0be2e-d01c-ed11-b83e-000d3a572421","@odata.etag":"W/\"1\"","n":1.5e3,"b":true,"z":null}],"@odata.nextLink":"https://o/api?$skiptoken=%3Ccookie%3E"}`,
		`{"value":[],"@odata.deltaLink":"d"}`,
		`{"Value":[{"a":"\u00e9\n\t\\\/\"","a":"last"}]} trailing`,
		`{"value":[{"nested":{"x":1}}]}`,
		`{"value":[{"s":"\ud83d\ude00"}]}`,
		`{"value":[{"s":"caf` + "\xc3\xa9" + `"},{"bad":"` + "\xff" + `"}]}`,
		`{"value":null}`, `[]`, `{"value":[1]}`, `{"value":[{"n":-0.0e+1},{"n":01}]}`, `{"@odata.nextLink":null}`,
		`{"value":[{"a":tru}]}`, `{}`, ``, `{"value":[{}]}`, `{"@odata.count":5,"x":[1,2]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got page
		werr := decodeJSON(data, &want)
		gerr := decodePage(data, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json: %v; decodePage: %v", werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("encoding/json: %#v\ndecodePage: %#v", want, got)
		}
	})
}
