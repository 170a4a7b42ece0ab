package dynamics

import (
	"net/http"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
)

func TestAPIErrorKinds(t *testing.T) {
	t.Parallel()
	c := &Conn{name: "crm", set: authSettings{url: "https://org.crm.dynamics.com", mode: AuthClientCredentials}}
	body := func(code, msg string) []byte {
		return []byte(`{"error":{"code":"` + code + `","message":"` + msg + `"}}`)
	}
	for _, tt := range []struct {
		status int
		code   string
		msg    string
		want   connector.ErrorKind
	}{
		{401, "", "", connector.ErrorAuth},
		{403, "0x80040220", "Principal user is missing prvReadContact privilege", connector.ErrorPermission},
		{404, "0x80040217", "contact With Id = x Does Not Exist", connector.ErrorNotFound},
		{404, "0x8006088a", "Resource not found for the segment 'Contacts'.", connector.ErrorConfig},
		{400, "0x0", "Could not find a property named 'x' on type 'Microsoft.Dynamics.CRM.contact'.", connector.ErrorConfig},
		{400, "0x80044331", "A validation error occurred.", connector.ErrorInvalid},
		{400, "0x80044352", "Version stamp associated with the client has expired. Please perform a full sync.", connector.ErrorExpiredCursor},
		{412, "0x80060892", "Entity Key violated", connector.ErrorConflict},
		{412, "0x80060882", "The version of the existing record doesn't match", connector.ErrorConflict},
		{500, "0x80040333", "A record was not created or updated because a duplicate of the current record already exists.", connector.ErrorConflict},
		{500, "0x80040216", "An unexpected error occurred.", connector.ErrorTransient},
		{503, "", "", connector.ErrorTransient},
		{429, "0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds.", connector.ErrorThrottled},
	} {
		h := http.Header{"Retry-After": {"7"}}
		e := c.apiError("read contact", tt.status, h, body(tt.code, tt.msg), nil)
		if e.Kind != tt.want || e.Code != tt.code || e.Status != tt.status || e.Service != "dynamics" || e.Op != "read contact" {
			t.Errorf("%d %s: %#v, want kind %s", tt.status, tt.code, e, tt.want)
		}
		if tt.msg != "" && e.Message != tt.msg {
			t.Errorf("%d %s: message %q", tt.status, tt.code, e.Message)
		}
		if e.Kind != connector.ErrorInvalid && e.Kind != connector.ErrorExpiredCursor && e.Hint == "" {
			t.Errorf("%d %s: no hint", tt.status, tt.code)
		}
		if tt.status == 429 && e.RetryAfter.Seconds() != 7 {
			t.Errorf("429: RetryAfter %v", e.RetryAfter)
		}
	}
	// A body that is not JSON still gives a message.
	if e := c.apiError("read contact", 502, nil, []byte("<html>Bad Gateway</html>"), nil); e.Message != "Bad Gateway" || e.Kind != connector.ErrorTransient {
		t.Errorf("HTML 502: %#v", e)
	}
}
