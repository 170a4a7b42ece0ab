package emulator

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBatchClosingBoundaryWithoutCRLF: RFC 2046 §5.1.1 makes what follows
// the close-delimiter optional (close-delimiter := delimiter "--", then an
// optional epilogue: "CRLF epilogue" is in brackets), and no Dataverse page
// forbids ending a $batch body right after it, so the emulator accepts the
// body whether or not a CRLF (or an epilogue) follows, at the top level and
// for a change set — over a real HTTP connection, as a client sends it.
// (Go's mime/multipart, which parseBatch uses, reads the close-delimiter
// this way; the test keeps a stricter hand-written parser from creeping
// in.)
func TestBatchClosingBoundaryWithoutCRLF(t *testing.T) {
	c := newHTTPClient(t, Options{})
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, c.base+"/api/data/v9.2/$batch", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("OData-Version", "4.0")
		req.Header.Set("Content-Type", "multipart/mixed; boundary=batch_X")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	create := httpPart("POST /api/data/v9.2/contacts", `{"lastname":"End"}`)
	changeset := func(end string) string {
		return "Content-Type: multipart/mixed; boundary=cs_1\r\n\r\n" + strings.TrimSuffix(batchBody("cs_1", "Content-ID: 1\r\n"+create), "\r\n") + end
	}
	for _, tc := range []struct{ name, body string }{
		{"top level, CRLF after the close", batchBody("batch_X", create)},
		{"top level, nothing after the close", strings.TrimSuffix(batchBody("batch_X", create), "\r\n")},
		{"top level, transport padding and no CRLF", strings.TrimSuffix(batchBody("batch_X", create), "\r\n") + " \t"},
		{"top level, an epilogue after the close", batchBody("batch_X", create) + "epilogue text\r\n"},
		{"change set, nothing between its close and the batch's", strings.TrimSuffix(batchBody("batch_X", changeset("\r\n")), "\r\n")},
		{"change set, a CRLF of its own", batchBody("batch_X", changeset("\r\n\r\n"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.e.Rows("contact"))
			status, body := post(tc.body)
			if status != 200 || strings.Count(body, "HTTP/1.1 204 No Content") != 1 {
				t.Fatalf("%d\n%s", status, body)
			}
			if n := len(c.e.Rows("contact")); n != before+1 {
				t.Errorf("%d contacts, want %d", n, before+1)
			}
		})
	}
}
