package emulator

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// maxBatchOps is the most requests a $batch may hold (reference §7).
const maxBatchOps = 1000

// batchPart is one request of a $batch, or a change set of requests.
type batchPart struct {
	req       *http.Request
	contentID string
	changeset []batchPart
}

// recorder is a minimal http.ResponseWriter capturing a sub-response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}

func batchPayloadError(detail string) *apiError {
	return errf(http.StatusBadRequest, codePayload, "Error identified in Payload provided by the user for Entity :'' ---->  InnerException : %s", detail)
}

// serveBatch executes a multipart/mixed $batch (reference §7): parts run in
// order; a change set is atomic; without Prefer: odata.continue-on-error
// the batch stops at the first failed part.
func (e *Emulator) serveBatch(w http.ResponseWriter, r *http.Request, rc *requestContext) *apiError {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return errf(http.StatusBadRequest, codePayload, "The content type '%s' is not valid for a batch request; multipart/mixed with a boundary is expected.", r.Header.Get("Content-Type"))
	}
	data, rerr := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if rerr != nil {
		return batchPayloadError("Stream was not readable.")
	}
	parts, perr := parseBatch(data, params["boundary"], r, true)
	if perr != nil {
		return perr
	}
	n := 0
	for _, p := range parts {
		n += max(1, len(p.changeset))
	}
	if n > maxBatchOps {
		return errf(http.StatusBadRequest, codeInvalidArgument, "The number of requests in the batch, %d, exceeds the maximum of %d.", n, maxBatchOps)
	}
	boundary := "batchresponse_" + newUUID()
	var out bytes.Buffer
	failed := false
	var firstErr *recorder
	for _, p := range parts {
		if failed && !rc.prefer.continueOnError {
			break
		}
		if p.changeset != nil {
			recs, ok := e.runChangeset(p.changeset, r)
			csb := "changesetresponse_" + newUUID()
			fmt.Fprintf(&out, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", boundary, csb)
			if !ok {
				// A failed change set answers with the one failure.
				failed = true
				writePart(&out, csb, recs[len(recs)-1], "")
				if firstErr == nil {
					firstErr = recs[len(recs)-1]
				}
			} else {
				for i, rec := range recs {
					writePart(&out, csb, rec, p.changeset[i].contentID)
				}
			}
			fmt.Fprintf(&out, "--%s--\r\n", csb)
			continue
		}
		rec := newRecorder()
		e.dispatch(rec, p.req, true, nil)
		if rec.status >= 400 {
			failed = true
			if firstErr == nil {
				firstErr = rec
			}
		}
		writePart(&out, boundary, rec, p.contentID)
	}
	fmt.Fprintf(&out, "--%s--\r\n", boundary)
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+boundary)
	status := http.StatusOK
	if failed && !rc.prefer.continueOnError && firstErr != nil {
		// Without continue-on-error the batch's status is the failure's
		// (reference §7).
		status = firstErr.status
	}
	if rc.prefer.continueOnError {
		w.Header().Set("Preference-Applied", "odata.continue-on-error")
	}
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
	return nil
}

// runChangeset runs a change set atomically: every part under the mutex, in
// one transaction; a failure rolls back the parts before it. $n Content-ID
// references in later URLs are replaced by the created entity's URL.
func (e *Emulator) runChangeset(parts []batchPart, outer *http.Request) ([]*recorder, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &tx{}
	refs := map[string]string{}
	var recs []*recorder
	for _, p := range parts {
		req := p.req
		if strings.HasPrefix(strings.TrimPrefix(req.URL.Path, "/"), "$") {
			resolved, ok := resolveRef(req.URL, refs)
			if !ok {
				rec := newRecorder()
				writeAPIError(rec, req, errf(http.StatusBadRequest, "", "Content-ID Reference: '%s' does not exist in the batch context.", strings.TrimPrefix(req.URL.Path, "/")))
				recs = append(recs, rec)
				x.rollback()
				return recs, false
			}
			req.URL = resolved
		}
		rec := newRecorder()
		e.dispatch(rec, req, true, x)
		recs = append(recs, rec)
		if rec.status >= 400 {
			x.rollback()
			return recs, false
		}
		if p.contentID != "" {
			if loc := rec.header.Get("OData-EntityId"); loc != "" {
				refs["$"+p.contentID] = loc
			} else if loc := rec.header.Get("Location"); loc != "" {
				refs["$"+p.contentID] = loc
			}
		}
	}
	return recs, true
}

func resolveRef(u *url.URL, refs map[string]string) (*url.URL, bool) {
	p := strings.TrimPrefix(u.Path, "/")
	name, rest, _ := strings.Cut(p, "/")
	target, ok := refs[name]
	if !ok {
		return nil, false
	}
	if rest != "" {
		target += "/" + rest
	}
	nu, err := url.Parse(target)
	if err != nil {
		return nil, false
	}
	nu.RawQuery = u.RawQuery
	return nu, true
}

func writePart(out *bytes.Buffer, boundary string, rec *recorder, contentID string) {
	fmt.Fprintf(out, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n", boundary)
	if contentID != "" {
		fmt.Fprintf(out, "Content-ID: %s\r\n", contentID)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	fmt.Fprintf(out, "\r\nHTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	keys := []string{"Content-Type", "OData-Version", "Location", "OData-EntityId", "ETag", "Preference-Applied", "Retry-After", "REQ_ID"}
	for _, k := range keys {
		for _, v := range rec.header.Values(k) {
			fmt.Fprintf(out, "%s: %s\r\n", k, v)
		}
	}
	out.WriteString("\r\n")
	if rec.body.Len() > 0 {
		out.Write(rec.body.Bytes())
		out.WriteString("\r\n")
	}
	out.WriteString("\r\n")
}

// parseBatch splits a batch body into requests. Boundaries may be quoted or
// not (mime.ParseMediaType handles both); line endings must be CRLF. What
// follows the close-delimiter is optional (RFC 2046 §5.1.1: transport
// padding, then "[CRLF epilogue]"), and mime/multipart reads it so.
func parseBatch(data []byte, boundary string, outer *http.Request, top bool) ([]batchPart, *apiError) {
	if !bytes.Contains(data, []byte("\r\n")) && bytes.Contains(data, []byte("\n")) {
		// reference §7: LF-only bodies fail with "Stream was not readable".
		return nil, batchPayloadError("System.ArgumentException: Stream was not readable.")
	}
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	var parts []batchPart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, batchPayloadError("System.ArgumentException: Stream was not readable.")
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return nil, batchPayloadError("System.ArgumentException: Stream was not readable.")
		}
		ct := p.Header.Get("Content-Type")
		mt, params, _ := mime.ParseMediaType(ct)
		switch {
		case mt == "multipart/mixed" && top:
			cs, perr := parseBatch(body, params["boundary"], outer, false)
			if perr != nil {
				return nil, perr
			}
			for i := range cs {
				if cs[i].changeset != nil {
					return nil, batchPayloadError("Change sets cannot be nested.")
				}
				if cs[i].req.Method == http.MethodGet {
					return nil, batchPayloadError("A GET request cannot be part of a change set.")
				}
			}
			parts = append(parts, batchPart{changeset: cs})
		case mt == "application/http":
			req, perr := readPartRequest(body, outer)
			if perr != nil {
				return nil, perr
			}
			parts = append(parts, batchPart{req: req, contentID: partContentID(p.Header, req)})
		default:
			return nil, batchPayloadError(fmt.Sprintf("The content type '%s' of a batch part is not application/http.", ct))
		}
	}
	return parts, nil
}

func partContentID(h textproto.MIMEHeader, req *http.Request) string {
	if id := h.Get("Content-ID"); id != "" {
		return id
	}
	return req.Header.Get("Content-ID")
}

// readPartRequest parses "METHOD URL HTTP/1.1" + headers + body. The URL may
// be absolute, absolute-path, or relative to the service root.
func readPartRequest(body []byte, outer *http.Request) (*http.Request, *apiError) {
	br := bufio.NewReader(bytes.NewReader(body))
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return nil, batchPayloadError("The batch part has no request line.")
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil, batchPayloadError("The request line of a batch part is not valid: " + strings.TrimSpace(line))
	}
	method, target := f[0], f[1]
	tp := textproto.NewReader(br)
	hdr, err := tp.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		return nil, batchPayloadError("The headers of a batch part are not valid.")
	}
	rest, _ := io.ReadAll(br)
	rest = bytes.TrimRight(rest, "\r\n")
	if len(target) > maxBatchURLLength {
		return nil, errf(http.StatusRequestURITooLong, "", "The request URL is longer than the maximum of %d characters.", maxBatchURLLength)
	}
	var u *url.URL
	switch {
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://"):
		u, err = url.Parse(target)
	case strings.HasPrefix(target, "/"):
		u, err = url.Parse(target)
	case strings.HasPrefix(target, "$"):
		u, err = url.Parse("/" + target) // a Content-ID reference
	default:
		u, err = url.Parse(strings.TrimSuffix(outer.URL.Path, "$batch") + target)
	}
	if err != nil {
		return nil, batchPayloadError("The URL of a batch part is not valid: " + target)
	}
	req, _ := http.NewRequestWithContext(outer.Context(), method, u.RequestURI(), bytes.NewReader(rest))
	req.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	req.Host = outer.Host
	req.TLS = outer.TLS
	req.Header = http.Header(hdr)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	// Preferences of the batch apply to its parts unless a part sets its own.
	if len(req.Header.Values("Prefer")) == 0 {
		for _, v := range outer.Header.Values("Prefer") {
			for _, item := range splitPrefer(v) {
				if n := strings.ToLower(strings.TrimSpace(item)); n != "odata.continue-on-error" {
					req.Header.Add("Prefer", item)
				}
			}
		}
	}
	req.ContentLength = int64(len(rest))
	req.Header.Set("Content-Length", strconv.Itoa(len(rest)))
	return req, nil
}
