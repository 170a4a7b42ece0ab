package emulator

import (
	"fmt"
	"net/http"
)

// apiError is an error answer of the Web API: an HTTP status and the
// {"error":{"code","message"}} body (reference §8: "The code is not related
// to the http status code and is frequently empty").
type apiError struct {
	status  int
	code    string
	message string
	// retryAfter, when set, is sent as an integer-seconds Retry-After header.
	retryAfter int
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.code, e.message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// Error codes the emulator answers with (reference §8; decimal SDK values in
// comments).
const (
	codeNone             = "0x0"        // OData validation errors
	codeResourceNotFound = "0x8006088a" // unknown entity set / segment
	codeObjectNotExist   = "0x80040217" // -2147220969 ObjectDoesNotExist
	codeDuplicateRecord  = "0x80040237" // -2147220937 DuplicateRecord
	codeDuplicateKey     = "0x80060892" // DuplicateRecordEntityKey
	codeVersionMismatch  = "0x80060882" // ConcurrencyVersionMismatch
	codeMaxLength        = "0x80044331" // validation: length exceeded
	codeOptionOutOfRange = "0x8004431a" // validation: option set value out of range
	codeInvalidStateCode = "0x80048408" // status code not valid for state code
	codePayload          = "0x80048d19" // ODataClientPayloadError
	codeUnexpected       = "0x80040216" // "An unexpected error occurred."
	codeExpiredVersion   = "0x80044352" // -2147204270 ExpiredVersionStamp
	codeCTNotEnabled     = "0x80072491" // ChangeTrackingNotEnabledForEntity
	codeQuerySyntax      = "0x80060888" // see queryError
	codeRequestsLimit    = "0x80072322" // -2147015902
	codeExecTimeLimit    = "0x80072321" // -2147015903
	codeConcurrencyLimit = "0x80072326" // -2147015898
	codeLeadClosed       = "0x8004d24d" // qualifying a lead that is not open (UNCERTAIN, see QualifyLead)
	codeNotImplemented   = "0x80040800" // not-supported messages (UNCERTAIN)
	codePrivilegeDenied  = "0x80040220"
	codeInvalidArgument  = "0x80040203" // InvalidArgument
	codeDuplicateFound   = "0x80040333" // DuplicateRecordsFound (duplicate detection)
)

// Messages of the service protection limits (reference §9, verbatim,
// including the two spaces before "milliseconds").
const (
	msgRequestsLimit    = "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
	msgExecTimeLimit    = "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
	msgConcurrencyLimit = "Number of concurrent requests exceeded the limit of 52."
)

func notFoundSegment(seg string) *apiError {
	return errf(http.StatusNotFound, codeResourceNotFound, "Resource not found for the segment '%s'.", seg)
}

func noProperty(t *tableDef, name string) *apiError {
	return errf(http.StatusBadRequest, codeNone, "Could not find a property named '%s' on type '%s'.", name, t.typeName())
}

func doesNotExist(t *tableDef, id string) *apiError {
	// The docs sample shows an empty code; the code table gives
	// ObjectDoesNotExist 0x80040217 (reference §6 Upsert). We send the code:
	// clients branch on it.
	return errf(http.StatusNotFound, codeObjectNotExist, "%s With Id = %s Does Not Exist", t.logical, id)
}

// faultBody returns the error an injected failure (FailNext) answers with for
// a status: the body the real service sends with that status.
func faultBody(status int) *apiError {
	switch status {
	case http.StatusTooManyRequests:
		return &apiError{status: status, code: codeRequestsLimit, message: msgRequestsLimit, retryAfter: 1}
	case http.StatusUnauthorized:
		return &apiError{status: status}
	case http.StatusForbidden:
		return errf(status, codePrivilegeDenied, "Principal user (Id=%s, type=8, roleCount=0, privilegeCount=0, accessMode=4), is missing prvReadContact privilege (Id=%s) on OTC=2 for entity 'contact'.", emulatorUserID, "886b280c-6396-4d56-a0a3-2c1b0a50ceb0")
	case http.StatusNotFound:
		return errf(status, codeObjectNotExist, "The requested record was not found or you do not have sufficient permissions to view it.")
	case http.StatusServiceUnavailable:
		return errf(status, codeUnexpected, "The service is temporarily unavailable. Try again later.")
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return errf(status, "", "The request could not be completed. Try again later.")
	}
	return errf(status, codeUnexpected, "An unexpected error occurred.")
}
