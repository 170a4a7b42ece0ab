package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Connector is the interface every service implements. A Connector is safe
// for concurrent use by multiple goroutines; it paces and retries its own
// requests (see the Error type for what is left to the caller).
//
// The language never sees a Connector; it sees only the Schema types through
// the registry's Kinds. The engine drives connectors through this interface
// and the optional capability interfaces below, found by type assertion.
type Connector interface {
	// Discover returns the entities the service has, with their fields,
	// including custom fields the account defines. Two calls against an
	// unchanged service return equal schemas.
	Discover(ctx context.Context) (*Schema, error)

	// Read emits the records of one entity in batches, in full (req.Since is
	// zero) or incrementally since a cursor a previous Read returned.
	//
	// Batches are emitted sequentially; emit owns the batch and its records
	// once called (the connector never touches them again). An error from
	// emit stops the read and Read returns that error unchanged.
	//
	// Cursors: Batch.Next, when not zero, is a checkpoint. Saving it and later
	// reading Since it returns every change not already emitted in this or an
	// earlier batch of this read; changes made while a read was under way may
	// come again, but none is ever skipped (at-least-once). A caller saves a
	// cursor only after it has committed everything derived from the batch
	// that carried it. The last batch of a read always carries a non-zero Next
	// when the entity is Incremental, even if it has no records.
	//
	// An incremental read of an entity that is not Incremental returns an
	// error wrapping ErrUnsupported. When the service no longer accepts the
	// cursor (an expired Dynamics delta token) the connector restarts with a
	// full read and sets Batch.Resync on its batches, so the caller can say so
	// in its report; deletions made meanwhile cannot be reported then.
	Read(ctx context.Context, req ReadRequest, emit func(Batch) error) error

	// Upsert writes a batch of records: a record with Key set updates that
	// record (and never creates one: a missing record fails with ErrorNotFound);
	// a record without Key creates a new one. Only the fields present in
	// Record.Fields are written, others keep their values; a present field
	// with a nil value is cleared. The connector splits the batch into as
	// many requests as the service needs.
	//
	// A record the service rejects fails alone: its WriteResult carries the
	// error, and the others are written. The returned error is reserved for
	// failures of the whole call (authentication, cancellation, the service
	// unreachable after retries); results may then be partial, with records
	// that were not attempted failing with the same error.
	Upsert(ctx context.Context, req UpsertRequest) (BatchResult, error)

	// Lookup finds records whose Field equals each of Values, comparing as the
	// service does (case-insensitively for Field.CaseInsensitive strings).
	// Field must be the entity's Key or a field with Lookup set. Many values
	// are looked up in as few requests as the service allows.
	Lookup(ctx context.Context, req LookupRequest) (LookupResult, error)

	// Close releases resources (idle connections, token caches).
	Close() error
}

// Cursor is a position in an entity's change stream: a Dynamics deltaLink, a
// People modifiedAt watermark with the ids already seen in its last second.
// It is opaque to the engine, which only stores and returns it.
type Cursor struct {
	Token string `json:"token"`
}

// IsZero reports whether the cursor is empty (a full read).
func (c Cursor) IsZero() bool { return c.Token == "" }

// ReadRequest asks for the records of one entity.
type ReadRequest struct {
	Entity string
	// Fields lists the fields to return; nil means all. The key and the
	// entity's Modified field are always returned.
	Fields []string
	// Since is the cursor to continue from; zero means a full read.
	Since Cursor
	// BatchSize is a hint for the number of records per batch; 0 lets the
	// connector choose (usually the service's page size).
	BatchSize int
}

// Batch is one page of a read.
type Batch struct {
	Records []Record
	// Next is a checkpoint cursor, or zero when this batch is not one (see
	// Connector.Read).
	Next Cursor
	// Resync is set when the Since cursor had expired and the connector fell
	// back to a full read.
	Resync bool
	// Rejects are the records of this batch the connector read but could
	// not convert (a column holding a value its type does not allow). They
	// are not in Records; the read goes on past them, and Next covers them
	// as it covers Records, so a caller records them as rejected instead of
	// stopping: one malformed row never stops a sync.
	Rejects []RecordError
}

// RecordError is a record a read could not convert. It names the record
// and the field, and says what was wrong with the value without quoting
// it (a record's content may be personal data): "column firstname holds a
// JSON number, not a string".
type RecordError struct {
	// Key is the record's primary key.
	Key string
	// Field is the field whose value could not be converted.
	Field string
	// Err says why; usually an *Error of ErrorInvalid.
	Err error
	// Modified is the record's modification time at the source, zero if
	// unknown.
	Modified time.Time
}

func (e RecordError) Error() string {
	return "record " + e.Key + ": " + e.Err.Error()
}

// JSONType names the JSON type of a decoded JSON value ("number",
// "string", "boolean", "object", "array", "null"), for errors that must
// describe a value without quoting it.
func JSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number, float64, float32, int, int64, int32:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// Record is one record of an entity. Field values use the canonical Go type
// of their field's Type (see Canonical).
type Record struct {
	// Key is the value of the entity's primary key, as a string. Empty in a
	// record to be created.
	Key string `json:"key,omitempty"`
	// Fields maps field names to values. Custom attributes of People use
	// CustomPrefix names ("custom.JobTitle").
	Fields map[string]any `json:"fields,omitempty"`
	// Deleted marks a record deleted at the source (incremental reads only);
	// Fields may then be empty.
	Deleted bool `json:"deleted,omitempty"`
	// Modified is the record's last modification time at the source, zero if
	// unknown.
	Modified time.Time `json:"modified,omitzero"`
	// Foreign, set only by Lookup, marks a record the lookup found that the
	// entity asked for must not be written over, and says what it is: a
	// People lookup for a lead finds persons of any type, and a CUSTOMER is
	// "a CUSTOMER (externalId …)". The engine does not pair a source record
	// with it (no update, no second record created): it rejects the record
	// with that reason.
	Foreign string `json:"foreign,omitempty"`
}

// LookupRequest asks for the records whose Field equals one of Values.
type LookupRequest struct {
	Entity string
	Field  string
	Values []any
	// Fields lists the fields to return, as in ReadRequest.
	Fields []string
}

// LookupResult holds, for each requested value (same index), the records
// found; more than one means the value is ambiguous.
type LookupResult struct {
	Records [][]Record
}

// UpsertRequest writes records of one entity; see Connector.Upsert.
type UpsertRequest struct {
	Entity  string
	Records []Record
}

// Effect says what a write did to one record (past tense: "created"),
// not the change a run plans to make ("create").
type Effect string

const (
	Created   Effect = "created"
	Updated   Effect = "updated"
	Unchanged Effect = "unchanged" // the service reported nothing to change
	Deleted   Effect = "deleted"
	Failed    Effect = "failed"
)

// WriteResult is the outcome for one record of a write.
type WriteResult struct {
	// Key is the primary key of the record written (the new key for a
	// create).
	Key    string
	Effect Effect
	// Err is set when Effect is Failed: usually an *Error of ErrorInvalid,
	// ErrorConflict or ErrorNotFound.
	Err error
}

// BatchResult is the answer to a batch write (Upsert, Delete): one
// WriteResult per requested record, in request order.
type BatchResult struct {
	Results []WriteResult
}

// Count returns how many results have effect e.
func (r BatchResult) Count(e Effect) int {
	n := 0
	for _, w := range r.Results {
		if w.Effect == e {
			n++
		}
	}
	return n
}

// Deleter is implemented by connectors that can delete records (used by the
// "delete propagate" policy).
type Deleter interface {
	// Delete removes the records with the given keys; results are per key,
	// in order. Deleting a record that does not exist fails with
	// ErrorNotFound for that key only.
	Delete(ctx context.Context, req DeleteRequest) (BatchResult, error)
}

// DeleteRequest names the records to delete.
type DeleteRequest struct {
	Entity string
	Keys   []string
}

// Limit is one rate limit a service documents.
type Limit struct {
	// Scope says which requests share the limit ("all requests",
	// "POST /people/2/persons/batch").
	Scope string
	// Requests may be sent per Per; 0 when the limit is only on
	// concurrency.
	Requests int
	Per      time.Duration
	// Concurrency caps requests in flight; 0 when not limited.
	Concurrency int
}

// Limited is implemented by connectors whose service enforces rate limits;
// `synclang plan` compares the requests a run would send against them.
type Limited interface {
	Limits() []Limit
}

// Normalizer is implemented by connectors whose service stores some values
// in a normal form other than the one written: People keeps phone numbers
// as digits without "+" ("+385911234567" is read back as "385911234567").
// Normalize returns v (a canonical value of the field's type) as a read
// would return it after a write; fields the service keeps as written are
// returned unchanged. The engine normalizes the values it computes before
// comparing them with the target's and remembering what it wrote, so a value
// the service rewrote does not come back as a change and get written back
// to the other side (echo suppression).
type Normalizer interface {
	Normalize(entity, field string, v any) any
}

// Counter is implemented by connectors that can count an entity's records
// in a request or two; the CLI shows a total and an ETA for initial loads
// with it. When exact is false, n is an approximation (Dataverse counts
// exactly only up to 5000, and beyond that from a snapshot of the last 24
// hours), or 0 when the service can tell only a lower bound.
type Counter interface {
	Count(ctx context.Context, entity string) (n int, exact bool, err error)
}

// Estimator is implemented by connectors that can tell, without sending
// anything, how many requests an Upsert or a Delete would send. `synclang
// plan` adds the estimates of the writes a run would make to the reads and
// lookups its dry run sent, and compares the sum with the service's limits.
// Where the cost depends on data the connector has not read, an estimate
// says so in its doc comment.
type Estimator interface {
	EstimateUpsert(req UpsertRequest) int
	EstimateDelete(req DeleteRequest) int
}

// Stats counts the requests a connector sent.
type Stats struct {
	Requests  int64 `json:"requests"`  // HTTP requests sent, retries included
	Retries   int64 `json:"retries"`   // requests re-sent after a 429, 5xx or network error
	Throttled int64 `json:"throttled"` // 429 responses received
}

// Revalidator is implemented by connectors that keep a discovered schema
// (on disk, across processes) and use it for a while before checking it
// with the service again, so Discover may answer from that cache.
// Revalidate checks it now, whatever its age (a cheap request when nothing
// changed), and returns the schema as Discover would. `synclang schema
// pull` uses it, and so does a run whose declarations the cached schema
// contradicts (the column may have been added since the last check).
type Revalidator interface {
	Revalidate(ctx context.Context) (*Schema, error)
}

// ReadRater is implemented by connectors whose full reads the service's
// documented limits pace: ReadRate is the most records of entity a full
// read can bring per second under those limits (the records one page holds
// times the pages the limit allows per second, at the documented rates,
// whatever Config.RateScale), 0 when unknown. The engine runs the first run
// of a two-way sync from the slower side first (runtime/engine, "Passes,
// flows and batches").
type ReadRater interface {
	ReadRate(entity string) float64
}

// Metered is implemented by connectors that count their requests.
type Metered interface {
	Stats() Stats
}
