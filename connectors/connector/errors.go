package connector

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnsupported is returned (wrapped) for an operation a connector or an
// entity does not support. It is a normal answer, not a failure.
var ErrUnsupported = errors.New("not supported")

// ErrorKind classifies errors so the engine can decide what to do without
// knowing the service.
type ErrorKind string

const (
	// ErrorAuth: credentials are wrong, expired or revoked. Stop the run;
	// Hint says what the user must do.
	ErrorAuth ErrorKind = "auth"
	// ErrorPermission: authenticated but not allowed (missing role/scope).
	ErrorPermission ErrorKind = "permission"
	// ErrorThrottled: the service kept answering 429 after the connector's
	// own retries. Retryable later.
	ErrorThrottled ErrorKind = "throttled"
	// ErrorTransient: 5xx or network failures that outlasted the retries.
	// Retryable later.
	ErrorTransient ErrorKind = "transient"
	// ErrorInvalid: the service rejected the record's data (validation,
	// unknown attribute, value too long). Retrying the same data fails
	// again: reject the record.
	ErrorInvalid ErrorKind = "invalid"
	// ErrorNotFound: the addressed record does not exist.
	ErrorNotFound ErrorKind = "not-found"
	// ErrorConflict: a uniqueness rule was violated (duplicate email or key)
	// or a concurrency check failed.
	ErrorConflict ErrorKind = "conflict"
	// ErrorExpiredCursor: the service no longer accepts a cursor.
	ErrorExpiredCursor ErrorKind = "expired-cursor"
	// ErrorConfig: the connection's settings are unusable (bad URL).
	ErrorConfig ErrorKind = "config"
)

// Error is the typed error connectors return. It carries the service's own
// code and text so a user can search for them, and a hint saying what to do.
// It never carries credentials.
type Error struct {
	Kind    ErrorKind
	Service string // "dynamics", "people"
	Op      string // what was attempted: "read contact", "create customer"
	Status  int    // HTTP status, 0 when there was no response
	Code    string // the service's error code ("0x80040217", "BAD_REQUEST")
	Message string // the service's error text
	Hint    string // what the user should do, when known
	// RetryAfter is the wait the service asked for (Dynamics 429).
	RetryAfter time.Duration
	// Fields are the record's fields (schema names, as Discover names
	// them) that the service's validation error names, when it names any:
	// the connector decodes them from the service's own structure (People's
	// per-property violations, the property Dataverse's validation messages
	// quote), so the engine can point a rejected record at the mapping line
	// that wrote the field without reading the message. A path the
	// connector cannot tell apart names every field it may be ("email",
	// "emails"); the caller keeps those it wrote.
	Fields []string
	Err    error // the underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Service != "" {
		b.WriteString(e.Service)
		b.WriteString(": ")
	}
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	switch {
	case e.Message != "":
		b.WriteString(e.Message)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(string(e.Kind))
	}
	var meta []string
	if e.Status != 0 {
		meta = append(meta, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.Code != "" {
		meta = append(meta, "code "+e.Code)
	}
	if len(meta) > 0 {
		b.WriteString(" (" + strings.Join(meta, ", ") + ")")
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or "" when
// there is none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// Retryable reports whether trying the same operation later may succeed.
func Retryable(err error) bool {
	switch KindOf(err) {
	case ErrorThrottled, ErrorTransient:
		return true
	}
	return false
}

// RecordLevel reports whether err concerns one record's data (so the record
// is rejected and the run goes on) rather than the whole connection.
func RecordLevel(err error) bool {
	switch KindOf(err) {
	case ErrorInvalid, ErrorNotFound, ErrorConflict:
		return true
	}
	return false
}

// FieldsOf returns the fields the first *Error in err's chain names (see
// Error.Fields), or nil.
func FieldsOf(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
