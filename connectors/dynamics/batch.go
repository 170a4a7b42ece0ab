package dynamics

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/synclang/synclang/connectors/internal/wire"
)

// The multipart/mixed $batch format (reference §7; OData v4.0 §11.7): each
// part is "Content-Type: application/http" with a request line, headers and
// body; every line ends with CRLF.

// batchReq is one request of a $batch.
type batchReq struct {
	method, url string
	header      http.Header
	body        []byte
}

// batchResp is one response of a $batch, in request order.
type batchResp struct {
	status int
	header http.Header
	body   []byte
}

// buildBatch renders requests as top-level parts (no change set: each
// succeeds or fails on its own, which odata.continue-on-error needs).
func buildBatch(reqs []batchReq) (contentType string, body []byte) {
	boundary := "batch_" + randomState()
	var b bytes.Buffer
	for _, r := range reqs {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n", boundary)
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", r.method, r.url)
		if len(r.body) > 0 {
			b.WriteString("Content-Type: application/json; type=entry\r\n")
		}
		for k, vs := range r.header {
			for _, v := range vs {
				fmt.Fprintf(&b, "%s: %s\r\n", k, v)
			}
		}
		b.WriteString("\r\n")
		if len(r.body) > 0 {
			b.Write(r.body)
			b.WriteString("\r\n")
		}
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return `multipart/mixed; boundary="` + boundary + `"`, b.Bytes()
}

// parseBatchResponse splits a $batch response body into its responses,
// flattening change sets. The boundary comes from contentType; when that
// has none, from the body's first line. Quoted and unquoted boundaries and
// LF or CRLF line ends are accepted.
func parseBatchResponse(contentType string, body []byte) ([]batchResp, error) {
	boundary := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		boundary = params["boundary"]
	}
	if boundary == "" {
		line, _, _ := bytes.Cut(bytes.TrimLeft(body, "\r\n"), []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if !bytes.HasPrefix(line, []byte("--")) {
			return nil, fmt.Errorf("the $batch answer is not multipart")
		}
		boundary = string(line[2:])
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []batchResp
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("reading the $batch answer: %w", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return out, fmt.Errorf("reading the $batch answer: %w", err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch mt {
		case "multipart/mixed":
			inner, err := parseBatchResponse(p.Header.Get("Content-Type"), data)
			if err != nil {
				return out, err
			}
			out = append(out, inner...)
		case "application/http":
			r, err := parsePartResponse(data)
			if err != nil {
				return out, err
			}
			out = append(out, r)
		default:
			return out, fmt.Errorf("the $batch answer has a part of type %q", p.Header.Get("Content-Type"))
		}
	}
}

// parsePartResponse parses "HTTP/1.1 204 No Content" + headers + body.
func parsePartResponse(data []byte) (batchResp, error) {
	data = bytes.TrimLeft(data, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	if err != nil {
		return batchResp{}, fmt.Errorf("a $batch answer part is not an HTTP response: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && len(body) == 0 {
		return batchResp{}, fmt.Errorf("a $batch answer part has an unreadable body: %w", err)
	}
	return batchResp{status: resp.StatusCode, header: resp.Header, body: bytes.TrimRight(body, "\r\n")}, nil
}

// entityIDFrom extracts the GUID from an OData-EntityId or Location header
// (".../contacts(<guid>)").
func entityIDFrom(h http.Header) string {
	loc := h.Get("OData-EntityId")
	if loc == "" {
		loc = h.Get("Location")
	}
	i := strings.LastIndexByte(loc, '(')
	if i < 0 || !strings.HasSuffix(loc, ")") {
		return ""
	}
	id := loc[i+1 : len(loc)-1]
	if !wire.IsGUID(id) {
		return ""
	}
	return strings.ToLower(id)
}
