package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
)

// Report is what a Run did (or, in a dry run, would do).
type Report struct {
	DryRun   bool          `json:"dryRun,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	Syncs    []*SyncReport `json:"syncs"`
	// Changes lists, in a dry run without Env.Changes, every change the run
	// would make.
	Changes []Change `json:"changes,omitempty"`
}

// Rejected returns the number of records rejected by all syncs.
func (r *Report) Rejected() int {
	n := 0
	for _, s := range r.Syncs {
		for _, f := range s.Flows {
			n += f.Rejected
		}
	}
	return n
}

// Changed returns the number of records created, updated, linked or deleted
// (in a dry run: that would be).
func (r *Report) Changed() int {
	n := 0
	for _, s := range r.Syncs {
		for _, f := range s.Flows {
			n += f.Created + f.Updated + f.Linked + f.Deleted + f.Unlinked + f.WrittenBack
		}
	}
	return n
}

// SyncReport is one sync's part of a Report.
type SyncReport struct {
	Sync  string        `json:"sync"`
	RunID int64         `json:"runId,omitempty"`
	Flows []*FlowReport `json:"flows"`
	// Requests counts the requests sent to each connection (by connection
	// name), for connectors that are connector.Metered.
	Requests map[string]connector.Stats `json:"requests,omitempty"`
	Duration time.Duration              `json:"duration"`
	// Status says how the sync ended: ok, rejects (finished, with records
	// rejected), failed (it could not run or did not finish: Error says
	// why), or stopped (Env.Stop ended it early). The counts of a sync that
	// failed or stopped cover only what it did before.
	Status Status `json:"status"`
	// Error is the error that stopped the sync, if any; Err is that error
	// itself, for callers that act on its type (connector.Error,
	// state.LockedError, ErrStopped). Run also returns these errors joined,
	// each prefixed with its sync's name; a caller that reports per sync
	// reads Err instead of taking the joined error apart.
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
}

// Status is how a sync or flow ended.
type Status string

const (
	StatusOK      Status = "ok"
	StatusRejects Status = "rejects"
	StatusFailed  Status = "failed"
	StatusStopped Status = "stopped"
)

func statusOf(err error, rejected int) Status {
	switch {
	case errors.Is(err, ErrStopped):
		return StatusStopped
	case err != nil:
		return StatusFailed
	case rejected > 0:
		return StatusRejects
	}
	return StatusOK
}

// FlowReport counts what one direction of a sync did to records.
type FlowReport struct {
	// Flow is "left-to-right" or "right-to-left"; From and To name the
	// entities ("crm.contact").
	Flow string `json:"flow"`
	From string `json:"from"`
	To   string `json:"to"`
	// Status says how the flow ended (see SyncReport.Status); Error is the
	// error that stopped it.
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
	// Full is set when the source was read in full.
	Full bool `json:"full,omitempty"`
	// Read counts source records read (deletions included); Skipped those
	// the flow's where filter left out.
	Read    int `json:"read"`
	Skipped int `json:"skipped,omitempty"`
	// Created and Updated count target records written; Unchanged counts
	// source records whose target needed nothing.
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Linked counts pairs made with an existing target (by the link field
	// or a match key); LinkedByMatch the part made by match keys.
	Linked        int `json:"linked"`
	LinkedByMatch int `json:"linkedByMatch"`
	// WrittenBack counts source records updated: link keys written back
	// and values taken from the target in two-way reconciliation.
	WrittenBack int `json:"writtenBack,omitempty"`
	// ReplacedLinks counts pairs made by a match key whose link field
	// (People's externalId) held another value someone else wrote, which
	// the write replaced (in a dry run: would replace). Not an outcome:
	// the record is counted as linked and updated too.
	ReplacedLinks int `json:"replacedLinks,omitempty"`
	// Deleted counts targets deleted (delete propagate); Unlinked the pairs
	// forgotten (delete ignore, or a linked target that no longer exists).
	Deleted  int `json:"deleted"`
	Unlinked int `json:"unlinked,omitempty"`
	Rejected int `json:"rejected"`
	// Retried counts rejected records read again for `rejects retry`.
	Retried   int `json:"retried,omitempty"`
	Conflicts int `json:"conflicts"`
	// Resync counts records read in a full read the connector fell back to
	// because the saved cursor had expired.
	Resync int `json:"resync,omitempty"`
	// Outcome partitions the records read: each lands in exactly one of
	// its counts (the summary's columns). The counts above count actions
	// instead (a record can be linked and updated, updated and written back).
	Outcome Outcome `json:"outcome"`
	// WriteCalls counts Upsert and Delete calls sent (in a dry run: that
	// would be sent), each up to a batch of records.
	WriteCalls int                        `json:"writeCalls"`
	Requests   map[string]connector.Stats `json:"requests,omitempty"`
	// EstimatedWrites, in a dry run, counts the requests the write calls
	// would send, by connection: the connector's estimate
	// (connector.Estimator), or one per call.
	EstimatedWrites map[string]int `json:"estimatedWrites,omitempty"`
	Duration        time.Duration  `json:"duration"`
	// Rejects holds the first rejects of the run (at most 100), for the
	// summary; the store has them all.
	Rejects []*RecordError `json:"-"`
}

// Outcome counts the records a flow read by what became of each; Read is
// their sum (FlowReport.Balanced). A record repeated within one page of a
// read counts once.
type Outcome struct {
	// Created: a target was created for the record.
	Created int `json:"created"`
	// Updated: the pair was written to, on the target (an update) or on the
	// record itself (its link key, values taken from the other side).
	Updated int `json:"updated"`
	// Linked: paired with an existing target (by the link field or a match
	// key) that needed no write.
	Linked int `json:"linked"`
	// Unchanged: nothing to write (the pair is in sync, the record's inputs
	// did not change, or it was deleted and was never linked).
	Unchanged int `json:"unchanged"`
	// Deleted: the record's deletion was acted on (its target deleted, or
	// the pair forgotten).
	Deleted int `json:"deleted"`
	// Skipped: left out by the flow's where filter.
	Skipped int `json:"skipped"`
	// Rejected: not synced; kept in the store with the reason.
	Rejected int `json:"rejected"`
	// Unwritten: its writes did not complete because a write call failed as
	// a whole; the flow failed and the next run does them.
	Unwritten int `json:"unwritten,omitempty"`
}

func (o *Outcome) add(p Outcome) {
	o.Created += p.Created
	o.Updated += p.Updated
	o.Linked += p.Linked
	o.Unchanged += p.Unchanged
	o.Deleted += p.Deleted
	o.Skipped += p.Skipped
	o.Rejected += p.Rejected
	o.Unwritten += p.Unwritten
}

// Total is the number of records counted.
func (o Outcome) Total() int {
	return o.Created + o.Updated + o.Linked + o.Unchanged + o.Deleted + o.Skipped + o.Rejected + o.Unwritten
}

// Balanced returns an error when the records read do not add up to the
// outcomes: a record counted twice or in no column.
func (f *FlowReport) Balanced() error {
	if t := f.Outcome.Total(); t != f.Read {
		return fmt.Errorf("flow %s (%s -> %s): %d read but %d counted in the outcomes %+v", f.Flow, f.From, f.To, f.Read, t, f.Outcome)
	}
	return nil
}

// Op is what a change does.
type Op string

const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpLink   Op = "link"
	OpDelete Op = "delete"
	OpUnlink Op = "unlink"
	OpReject Op = "reject"
)

// Change is one record a dry run would write (or link, delete, reject).
type Change struct {
	Sync string `json:"sync"`
	Flow string `json:"flow"`
	Op   Op     `json:"op"`
	// Entity is where the change is written ("infobip.customer"); for
	// write-backs and values taken from the target it is the source side.
	Entity string `json:"entity"`
	// Key is the source record's key; TargetKey the key of the record
	// written ("" for a create).
	Key       string        `json:"key"`
	TargetKey string        `json:"targetKey,omitempty"`
	Fields    []FieldChange `json:"fields,omitempty"`
	// By says how a pair was found ("link field externalId", "match
	// lower(email)").
	By string `json:"by,omitempty"`
	// Reason says why a record is rejected.
	Reason string     `json:"reason,omitempty"`
	Range  diag.Range `json:"range,omitzero"`
}

// FieldChange is one field of a change, before and after.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Progress is reported after every batch a flow commits.
type Progress struct {
	Sync string
	Flow string
	// Read, Written and Rejected count the flow's source records so far.
	Read     int
	Written  int
	Rejected int
}

// Durations in a report's JSON are Go duration strings ("1.5s"), as in
// every document synclang prints, not integer nanoseconds; reading accepts
// both (reports stored by earlier versions hold nanoseconds).

func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(r), r.Duration.String()})
}

func (r *Report) UnmarshalJSON(b []byte) error {
	type plain Report
	aux := struct {
		*plain
		Duration json.RawMessage `json:"duration"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	return decodeDuration(aux.Duration, &r.Duration)
}

func (r SyncReport) MarshalJSON() ([]byte, error) {
	type plain SyncReport
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(r), r.Duration.String()})
}

func (r *SyncReport) UnmarshalJSON(b []byte) error {
	type plain SyncReport
	aux := struct {
		*plain
		Duration json.RawMessage `json:"duration"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	return decodeDuration(aux.Duration, &r.Duration)
}

func (f FlowReport) MarshalJSON() ([]byte, error) {
	type plain FlowReport
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(f), f.Duration.String()})
}

func (f *FlowReport) UnmarshalJSON(b []byte) error {
	type plain FlowReport
	aux := struct {
		*plain
		Duration json.RawMessage `json:"duration"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	return decodeDuration(aux.Duration, &f.Duration)
}

// decodeDuration reads "1.5s" or integer nanoseconds; absent is zero.
func decodeDuration(raw json.RawMessage, d *time.Duration) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = v
		return nil
	}
	var ns int64
	if err := json.Unmarshal(raw, &ns); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"1.5s\" or nanoseconds", raw)
	}
	*d = time.Duration(ns)
	return nil
}
