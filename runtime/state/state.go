package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Side names one side of a sync; the values equal lang/plan's SideName.
type Side string

const (
	Left  Side = "left"
	Right Side = "right"
)

// Link pairs a record on the left with one on the right. The hashes are the
// fingerprints of each synced field's value on that side when the pair was
// last synced; nil means unknown (a pair found but never synced), which the
// engine treats as "every field changed".
type Link struct {
	Left, Right string
	LeftHashes  Hashes
	RightHashes Hashes
	SyncedAt    time.Time
}

// Key returns the link's key on side s.
func (l Link) Key(s Side) string {
	if s == Left {
		return l.Left
	}
	return l.Right
}

// Hashes returns the hashes of side s.
func (l Link) Hashes(s Side) Hashes {
	if s == Left {
		return l.LeftHashes
	}
	return l.RightHashes
}

// Range is where in the .sync files a rejected value came from (the mapping
// line); it mirrors lang/diag.Range without importing it. Lines and columns
// are 1-based; a zero Line means unknown.
type Range struct {
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"endLine,omitempty"`
	EndColumn int    `json:"endColumn,omitempty"`
}

// String renders the range as file:line:col.
func (r Range) String() string {
	switch {
	case r.Line == 0 && r.File == "":
		return "-"
	case r.Line == 0:
		return r.File
	}
	return fmt.Sprintf("%s:%d:%d", r.File, r.Line, r.Column)
}

// Reject is a source record the engine could not sync. It stays until the
// record syncs (it changed again, or `synclang rejects retry`) or is deleted.
type Reject struct {
	Sync string
	Flow string
	// Key is the source record's key; TargetKey the paired target's, when
	// there is one.
	Key       string
	TargetKey string
	// Field is the target field whose value failed ("" when the record
	// failed as a whole), Range the mapping line that produced it.
	Field string
	Range Range
	// Kind classifies the failure (see the engine's RejectKind constants);
	// Reason is the full message for the user. Reasons may quote record
	// values, so they are shown to users, never logged.
	Kind      string
	Reason    string
	FirstSeen time.Time
	LastSeen  time.Time
	// Attempts counts how often the record was tried and rejected.
	Attempts int
}

// Conflict records a decision taken when both sides of a linked pair changed
// the same field pair since the last sync.
type Conflict struct {
	ID       int64
	Sync     string
	RunID    int64
	LeftKey  string
	RightKey string
	// LeftField and RightField are the field pair (e.g. firstname and
	// firstName).
	LeftField  string
	RightField string
	Winner     Side
	// Policy is the sync's conflict policy that decided ("newest", "left",
	// "right").
	Policy string
	// LeftValue and RightValue are the two values as JSON (the loser's value
	// is the one overwritten).
	LeftValue  string
	RightValue string
	At         time.Time
}

// Intent marks a create the engine is about to send for a source record
// whose target side assigns the link key (People -> Dynamics creates). It is
// committed before the create and cleared with the link, so a run that
// crashes in between leaves a trace the next run acts on instead of creating
// the record a second time.
//
// The trace says enough to find the created record again: Print is a
// fingerprint of the values the create writes (the other direction
// recognises the new record by it), and Target, recorded as soon as the
// service answers the create, is the new record's key. (Intent also names
// a record in ClearRejects, where only Flow and Key count.)
type Intent struct {
	Flow   string
	Key    string
	Target string
	Print  uint64
	// RunID is the run that recorded the intent (set by the store from
	// Changes.RunID).
	RunID int64
}

// Orphan is a record left on its own when the record it was linked to was
// deleted and the pair forgotten (delete ignore), with the hashes its
// side's tracked fields had at the last sync. In a two-way sync the
// survivor may still be read as a change that is only the echo of an
// earlier write (its link key written back just before the deletion); the
// engine compares it with these hashes and leaves it alone unless it
// really changed, instead of creating a new record for it on the other
// side. An orphan is removed when its record changes or is deleted.
type Orphan struct {
	Side   Side
	Key    string
	Hashes Hashes
}

// Cursor is a flow's saved position in its source's change stream.
type Cursor struct {
	Sync      string
	Flow      string
	Token     string
	UpdatedAt time.Time
}

// Changes is everything one Apply writes, atomically. Deletions are applied
// before insertions, so a record can be unlinked and relinked in one batch.
type Changes struct {
	Sync string
	// RunID, when set, attributes conflicts to a run.
	RunID int64

	// DeleteLinks lists links to remove, by left key.
	DeleteLinks []string
	// PutLinks inserts links or replaces the link with the same left key.
	// A right key linked to another left key is an error (the engine never
	// links one record twice).
	PutLinks []Link

	// ClearRejects removes rejects of Flow for the given source keys.
	ClearRejects []Intent
	// PutRejects inserts rejects or updates the existing one (same sync,
	// flow and key): reason, kind and range replaced, Attempts incremented,
	// FirstSeen kept.
	PutRejects []Reject

	Conflicts []Conflict

	// ClearIntents removes intents by flow and key. PutIntents records
	// intents: one with a Print records (or replaces) the intent of a
	// create about to be sent; one without only sets the Target of the
	// intent recorded (the answer to the create).
	ClearIntents []Intent
	PutIntents   []Intent

	// ClearOrphans removes orphans by side and key (Hashes unused);
	// PutOrphans inserts orphans or replaces the one with the same side and
	// key. Clears are applied first.
	ClearOrphans []Orphan
	PutOrphans   []Orphan

	// Cursor, when set, is saved last.
	Cursor *Cursor
}

// Empty reports whether there is nothing to apply.
func (c *Changes) Empty() bool {
	return len(c.DeleteLinks) == 0 && len(c.PutLinks) == 0 && len(c.ClearRejects) == 0 &&
		len(c.PutRejects) == 0 && len(c.Conflicts) == 0 && len(c.ClearIntents) == 0 &&
		len(c.PutIntents) == 0 && len(c.ClearOrphans) == 0 && len(c.PutOrphans) == 0 && c.Cursor == nil
}

// Lease is a held lock on one sync.
type Lease struct {
	Sync   string
	Holder Holder
	// Token identifies this lease; every write checks it.
	Token   string
	Expires time.Time
	TTL     time.Duration
}

// Holder identifies the process holding a lease.
type Holder struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

func (h Holder) String() string { return fmt.Sprintf("%s pid %d", h.Host, h.PID) }

// RunStatus is the outcome of a run.
type RunStatus string

const (
	RunRunning RunStatus = "running"
	RunOK      RunStatus = "ok"
	// RunRejects: the run finished but rejected records.
	RunRejects RunStatus = "rejects"
	RunFailed  RunStatus = "failed"
)

// Run is one pass of one sync.
type Run struct {
	ID       int64
	Sync     string
	Holder   Holder
	Full     bool
	Started  time.Time
	Finished time.Time // zero while running (or when the process died)
	Status   RunStatus
	// Report is the engine's report as JSON; Error the error that stopped
	// the run, if any.
	Report string
	Error  string
}

// RejectQuery selects rejects, ordered by sync, flow and key. After pages:
// pass the last reject of the previous page.
type RejectQuery struct {
	Sync  string // "" for all syncs
	Flow  string // "" for all flows
	After *Reject
	Limit int // 0 means 1000
}

// Store is what synclang remembers between runs. Implementations are safe
// for concurrent use. Writes ([Store.Apply], runs) need a [Lease] on the
// sync they write, and fail with [ErrLockLost] when it is no longer held.
type Store interface {
	// Acquire takes the lock of a sync for ttl. When another live process
	// holds it, the error is an *[LockedError] saying who and until when.
	Acquire(ctx context.Context, sync string, ttl time.Duration) (*Lease, error)
	// Renew extends a lease by its TTL; it fails with ErrLockLost when the
	// lease expired and was taken over, or was released.
	Renew(ctx context.Context, l *Lease) error
	// Release gives the lock up. Releasing a lost lease is not an error.
	Release(ctx context.Context, l *Lease) error

	// Cursor returns the saved cursor token of a flow, "" when none.
	Cursor(ctx context.Context, sync, flow string) (string, error)
	// Links returns the links whose key on side by is one of keys, keyed by
	// that key. Missing keys are absent from the map.
	Links(ctx context.Context, sync string, by Side, keys []string) (map[string]Link, error)
	// Intents returns the unfinished creates of flow among keys, by key.
	Intents(ctx context.Context, sync, flow string, keys []string) (map[string]Intent, error)
	// IntentsFor returns the unfinished creates of flow whose Target is one
	// of targets or whose Print is one of prints (zero prints never match),
	// ordered by key: the opposite direction's way to recognise a record a
	// crashed run created.
	IntentsFor(ctx context.Context, sync, flow string, targets []string, prints []uint64) ([]Intent, error)
	// Orphans returns the orphans of a sync on side by among keys, keyed by
	// key. Missing keys are absent from the map.
	Orphans(ctx context.Context, sync string, by Side, keys []string) (map[string]Hashes, error)
	// Apply writes changes atomically, checking the lease first.
	Apply(ctx context.Context, l *Lease, c *Changes) error

	// StartRun records the start of a run and returns its id; FinishRun
	// records its end (Finished, Status, Report, Error of r).
	StartRun(ctx context.Context, l *Lease, r Run) (int64, error)
	FinishRun(ctx context.Context, l *Lease, r Run) error

	// Cursors lists every saved cursor, sorted by sync and flow.
	Cursors(ctx context.Context) ([]Cursor, error)
	// Runs lists the latest runs of a sync ("" for all), newest first.
	Runs(ctx context.Context, sync string, limit int) ([]Run, error)
	// Rejects lists rejects (see RejectQuery).
	Rejects(ctx context.Context, q RejectQuery) ([]Reject, error)
	// Conflicts lists the latest conflicts of a sync ("" for all), newest
	// first.
	Conflicts(ctx context.Context, sync string, limit int) ([]Conflict, error)
	// LinkCount returns how many pairs a sync has linked.
	LinkCount(ctx context.Context, sync string) (int, error)

	Close() error
}

// ErrLockLost is returned by writes whose lease expired and was taken over,
// or was released.
var ErrLockLost = errors.New("the sync's lock was lost (another synclang process took it over after this one stalled past the lock's expiry); nothing was written, run again")

// LockedError is returned by Acquire when another process holds the lock.
type LockedError struct {
	Sync    string
	Holder  Holder
	Expires time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("sync %s is being run by another synclang process (%s, lock valid until %s); wait for it to finish, or stop it",
		e.Sync, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}
