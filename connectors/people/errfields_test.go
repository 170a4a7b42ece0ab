package people

import (
	"slices"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// TestErrorFields: a validation error names the fields its violations
// concern (connector.Error.Fields), in the schema's names, decoded from the
// legacy validationErrors and v3's details, so the engine can point a
// reject at its mapping line without reading the message.
func TestErrorFields(t *testing.T) {
	t.Parallel()
	for body, want := range map[string][]string{
		`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"lastName":["size must be between 0 and 255"]}}}}`:                                                   {"lastName"},
		`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"customAttributes.tier":["Custom attribute \"tier\" is not defined"]}}}}`:                            {"custom.tier"},
		`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"contactInformation.email[0].address":["Email address \"x\" is invalid"],"tags[1]":["too long"]}}}}`: {"email", "emails", "tags"},
		`{"code":400100,"message":"One or more properties of the person are invalid","details":[{"property":"persons[1].contactInformation[0].identifier","message":"Phone number is invalid"}],"index":1}`:           {"email", "emails", "phone", "phones"},
		`{"code":400100,"message":"One or more properties of the person are invalid","details":[{"property":"persons[0].gender","message":"is not one of [MALE, FEMALE]"}]}`:                                          {"gender"},
		`{"code":400104,"message":"Missing required property 'persons'","details":[{"property":"persons","message":"Required, but value is missing"}]}`:                                                               nil,
		`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"body":["person must be a JSON object"]}}}}`:                                                         nil,
		`{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Destination(email) a@b.c already exists."}}}`:                                                                                         nil,
	} {
		got := connector.FieldsOf(apiError("create customer", &httpx.HTTPError{Status: 400, Body: []byte(body)}))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: fields %q, want %q", body, got, want)
		}
	}
}
