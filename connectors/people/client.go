package people

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Answer caps (SPEC.md, "Connections at run time"): the largest answers
// are a page of 1000 persons (GET /people/2/persons) and a batch answer of
// 1000 items; a person with many custom attributes is a few kilobytes, so
// a page is a few megabytes. The caps leave ten times that.
var defaultCaps = answerCaps{get: 64 << 20, other: 32 << 20}

// answerCaps are the size caps of 2xx answers (tests lower them).
type answerCaps struct{ get, other int64 }

func (a answerCaps) of(method string) int64 {
	if method == http.MethodGet {
		return a.get
	}
	return a.other
}

// call sends one request to path (escaped, relative to the base URL) and decodes a 2xx JSON answer into out (when not
// nil). A non-2xx answer comes back as a *connector.Error (see apiError)
// whose Status tells callers what happened; the API key never appears in
// errors, and neither do query strings (they carry email addresses).
func (c *Conn) call(ctx context.Context, op, method, path string, q url.Values, body, out any) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// path is escaped (tag and attribute names are path-escaped by the
	// callers).
	u := *c.base
	escaped := c.base.EscapedPath() + path
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return 0, &connector.Error{Kind: connector.ErrorInvalid, Service: service, Op: op, Message: "cannot build the request path: " + err.Error()}
	}
	u.Path, u.RawPath = unescaped, escaped
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, &connector.Error{Kind: connector.ErrorInvalid, Service: service, Op: op, Message: "cannot encode the request: " + err.Error()}
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, &connector.Error{Kind: connector.ErrorConfig, Service: service, Op: op, Message: "cannot build the request: " + redact(err).Error()}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "synclang")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// PATCH batches and matches may be sent twice: they set the same values
	// or only read. Creates (POST) are not: a retried batch create would
	// report its own persons as duplicates.
	if method == http.MethodPatch || (method == http.MethodPost && strings.HasSuffix(path, "/match")) {
		req = httpx.Idempotent(req)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, transportError(op, err)
	}
	if err := httpx.CheckResponse(resp); err != nil {
		return resp.StatusCode, apiError(op, err)
	}
	defer resp.Body.Close()
	if d, ok := out.(dated); ok {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			d.setDate(t)
		}
	}
	// The answer is decoded as it arrives, through the endpoint's cap.
	answer := httpx.LimitBody(resp.Body, c.tune.caps.of(method), service, scopeOf(req, c.base.Path))
	if out == nil {
		_, err = io.Copy(io.Discard, answer)
	} else {
		dec := json.NewDecoder(answer)
		dec.UseNumber()
		if err = dec.Decode(out); err == io.EOF {
			err = nil // an empty answer
		}
		if err == nil {
			_, err = io.Copy(io.Discard, answer) // to reuse the connection
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return resp.StatusCode, ctx.Err()
		}
		var tl *httpx.TooLargeError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		e := &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: op, Status: resp.StatusCode,
			Message: "the answer was cut off: " + redact(err).Error(), Hint: "run again later", Err: redact(err)}
		switch {
		case errors.As(err, &tl):
			e.Message, e.Hint = strings.TrimPrefix(tl.Error(), service+": "), "run again later; if it persists, report it to Infobip support"
		case errors.As(err, &syn), errors.As(err, &typ), errors.Is(err, io.ErrUnexpectedEOF) && !isTimeout(err):
			e.Message = "the answer is not the JSON the People API documents: " + err.Error()
			e.Hint = "run again later; if it persists, the account's API may have changed"
		}
		return resp.StatusCode, e
	}
	return resp.StatusCode, nil
}

func isTimeout(err error) bool {
	var te *httpx.TimeoutError
	return errors.As(err, &te)
}

// transportError is a request that got no answer: a refused redirect or
// foreign host, or what retrying cannot fix (the url's host does not
// exist, its certificate does not verify) are configuration errors; a
// network failure or timeout is transient.
func transportError(op string, err error) error {
	e := &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: op,
		Message: "the People API did not answer: " + redact(err).Error(),
		Hint:    "check the network and the connection's url; run again later", Err: redact(err)}
	var fh *httpx.ForeignHostError
	switch {
	case errors.Is(err, httpx.ErrRedirect):
		e.Kind, e.Message = connector.ErrorConfig, redact(err).Error()
		e.Hint = "set url to the account's own base URL (https://xxxxx.api.infobip.com), which answers without redirecting"
	case errors.As(err, &fh):
		e.Kind, e.Message = connector.ErrorConfig, strings.TrimPrefix(fh.Error(), service+": ")
		e.Hint = "check the connection's url"
	case httpx.Permanent(err):
		e.Kind = connector.ErrorConfig
		e.Hint = "check the connection's url (the host name, and that it serves a valid TLS certificate)"
	}
	return e
}

// dated is implemented by answers that want the response's Date header
// (the service's clock).
type dated interface{ setDate(time.Time) }

// redact drops the URL (and with it the query string, which may hold an
// email address) from *url.Error messages.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// legacyEnvelope is the v2 error body (ApiException):
// {"requestError":{"serviceException":{"messageId","text","validationErrors"}}}.
type legacyEnvelope struct {
	RequestError *struct {
		ServiceException struct {
			MessageID        string              `json:"messageId"`
			Text             string              `json:"text"`
			ValidationErrors map[string][]string `json:"validationErrors"`
		} `json:"serviceException"`
	} `json:"requestError"`
}

// v3Envelope is the /people/3 error body (ErrorResponseV3).
type v3Envelope struct {
	Code    json.Number `json:"code"`
	Message string      `json:"message"`
	Details []struct {
		Property string `json:"property"`
		Message  string `json:"message"`
	} `json:"details"`
}

// parseErrorBody returns the service's code and text from either error
// shape, and the fields (schema names) its per-property violations name;
// code and text are empty when the body is neither.
func parseErrorBody(body []byte) (code, text string, fields []string) {
	var l legacyEnvelope
	if json.Unmarshal(body, &l) == nil && l.RequestError != nil {
		se := l.RequestError.ServiceException
		text = se.Text
		if len(se.ValidationErrors) > 0 {
			keys := make([]string, 0, len(se.ValidationErrors))
			for k := range se.ValidationErrors {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, k+": "+strings.Join(se.ValidationErrors[k], ", "))
				fields = addFields(fields, fieldsOfProperty(k))
			}
			text = strings.TrimSuffix(text, ".") + ": " + strings.Join(parts, "; ")
		}
		return se.MessageID, text, fields
	}
	var v v3Envelope
	if json.Unmarshal(body, &v) == nil && v.Code != "" {
		text = v.Message
		for _, d := range v.Details {
			text += "; " + d.Property + ": " + d.Message
			fields = addFields(fields, fieldsOfProperty(d.Property))
		}
		return v.Code.String(), text, fields
	}
	return "", "", nil
}

// fieldsOfProperty maps the property path of a People violation
// ("firstName", "customAttributes.tier", "tags[2]",
// "contactInformation.email[0].address", v3's
// "persons[1].contactInformation[0].identifier") to the schema fields it
// may be (see connector.Error.Fields). A path naming no field (the body,
// "persons") gives none.
func fieldsOfProperty(path string) []string {
	if rest, ok := strings.CutPrefix(path, "persons["); ok {
		i := strings.Index(rest, "].")
		if i < 0 {
			return nil // the person as a whole
		}
		path = rest[i+2:]
	}
	first, rest, _ := strings.Cut(path, ".")
	if i := strings.IndexByte(first, '['); i >= 0 {
		first = first[:i]
	}
	switch first {
	case "", "body", "persons":
		return nil
	case "customAttributes":
		name, _, _ := strings.Cut(rest, ".")
		if name == "" {
			return nil
		}
		return []string{connector.CustomPrefix + name}
	case "contactInformation":
		kind, _, _ := strings.Cut(rest, ".")
		if i := strings.IndexByte(kind, '['); i >= 0 {
			kind = kind[:i]
		}
		switch kind {
		case "email":
			return []string{"email", "emails"}
		case "phone":
			return []string{"phone", "phones"}
		}
		// v3's flat list does not say which: either.
		return []string{"email", "emails", "phone", "phones"}
	}
	return []string{first}
}

func addFields(have, more []string) []string {
	for _, f := range more {
		if !slices.Contains(have, f) {
			have = append(have, f)
		}
	}
	return have
}

// apiError turns a non-2xx answer into a typed error with the service's
// messageId and text and a hint saying what to do.
func apiError(op string, err error) error {
	var he *httpx.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	code, text, fields := parseErrorBody(he.Body)
	e := &connector.Error{Service: service, Op: op, Status: he.Status, Code: code, Message: text, Fields: fields}
	if e.Message == "" {
		e.Message = http.StatusText(he.Status)
	}
	switch {
	case he.Status == http.StatusUnauthorized:
		e.Kind = connector.ErrorAuth
		e.Hint = "check the connection's api_key: People refused it (wrong, expired or revoked key; it is sent as `Authorization: App <key>`)"
	case he.Status == http.StatusForbidden:
		e.Kind = connector.ErrorPermission
		e.Hint = "give the API key the people:manage scope (people:read is enough to read) in the Infobip portal"
	case he.Status == http.StatusNotFound:
		e.Kind = connector.ErrorNotFound
	case he.Status == http.StatusTooManyRequests:
		e.Kind = connector.ErrorThrottled
		e.Hint = "People kept throttling the account after the connector's retries; run again later or lower other traffic on the account"
	case he.Status >= 500:
		e.Kind = connector.ErrorTransient
		e.Hint = "People had an internal error; run again later, and if it persists contact Infobip support quoting the time of the failure"
	case isConflictText(text) || he.Status == http.StatusConflict:
		e.Kind = connector.ErrorConflict
		e.Hint = hintConflict
	default:
		e.Kind = connector.ErrorInvalid
		e.Hint = hintInvalid(text)
	}
	return e
}

const hintConflict = "another People person already has this email address, phone number or externalId: " +
	"look the person up by it and update that person, or merge the duplicates in People"

func hintInvalid(text string) string {
	if isUndefinedAttributeText(text) {
		return hintUndefined
	}
	return "correct the value in the source record or the mapping; this record is skipped until then"
}

const hintUndefined = "define the custom attribute in People (People > Configuration > Custom attributes, " +
	"or POST /people/2/customAttributes) or remove it from the mapping, then run `synclang schema pull`"

func isConflictText(s string) bool { return strings.Contains(strings.ToLower(s), "already exists") }

func isNotFoundText(s string) bool {
	return strings.Contains(strings.ToLower(s), "no person matching")
}

func isUndefinedAttributeText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "custom attribute") && (strings.Contains(s, "not defined") || strings.Contains(s, "does not exist"))
}

// itemError is the error of one failed item of a batch answer: status is
// the item's (409 for duplicates and, as the spec documents, for "There is
// no person matching the query").
func itemError(op string, status int, messages []string) *connector.Error {
	text := strings.Join(messages, "; ")
	if text == "" {
		text = "People rejected the record without a message"
	}
	e := &connector.Error{Service: service, Op: op, Status: status, Message: text}
	if status != 0 {
		e.Code = strconv.Itoa(status)
	}
	switch {
	case isNotFoundText(text) || status == http.StatusNotFound:
		e.Kind = connector.ErrorNotFound
		e.Hint = hintNotFound
	case isConflictText(text) || status == http.StatusConflict:
		e.Kind = connector.ErrorConflict
		e.Hint = hintConflict
	case status >= 500:
		e.Kind = connector.ErrorTransient
		e.Hint = "People failed on this record; run again later"
	default:
		e.Kind = connector.ErrorInvalid
		e.Hint = hintInvalid(text)
	}
	return e
}

const hintNotFound = "the person no longer exists in People (deleted, or merged into another profile)"

// notFound is the error for a key that names no person.
func notFound(op, key string) *connector.Error {
	return &connector.Error{Kind: connector.ErrorNotFound, Service: service, Op: op,
		Message: fmt.Sprintf("there is no person with id %s", key), Hint: hintNotFound}
}
