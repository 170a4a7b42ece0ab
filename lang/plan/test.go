package plan

import (
	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
)

// Test is a checked `test` block (SPEC.md "Tests"): the syncs it runs and
// its steps in order. Tests live in *_test.sync files, which `synclang
// run`, `plan` and `compile` never load, so a plan that runs against live
// services has no tests.
type Test struct {
	Name  string     `json:"name"`
	Range diag.Range `json:"range"`
	// Syncs are the syncs each run step runs, in plan order.
	Syncs []string `json:"syncs"`
	Steps []*Step  `json:"steps"`
}

// StepOp is what a test step does.
type StepOp string

const (
	// StepGiven creates a record in a stand-in service: before the first
	// run, the state the test starts from; after it, a record a person
	// created between runs.
	StepGiven StepOp = "given"
	// StepUpdate changes fields of a record between runs; StepDelete
	// deletes it.
	StepUpdate StepOp = "update"
	StepDelete StepOp = "delete"
	// StepRun runs one pass of the test's syncs.
	StepRun StepOp = "run"
	// StepExpect compares a record's fields (all of them when Exactly).
	StepExpect StepOp = "expect"
	// StepExpectCount compares the number of records of an entity.
	StepExpectCount StepOp = "expect-count"
	// StepExpectReport compares the counters of one flow of the last run.
	StepExpectReport StepOp = "expect-report"
	// StepExpectRejected expects the last run to have rejected a record.
	StepExpectRejected StepOp = "expect-rejected"
	// StepExpectConflict expects the last run to have decided a conflict
	// on a record.
	StepExpectConflict StepOp = "expect-conflict"
)

// Step is one line of a test.
type Step struct {
	Op    StepOp     `json:"op"`
	Range diag.Range `json:"range"`
	// Connection and Entity name the entity the step is about; Record is
	// the test's name for the record (given, update, delete, expect,
	// expect-rejected, expect-conflict).
	Connection string `json:"connection,omitempty"`
	Entity     string `json:"entity,omitempty"`
	Record     string `json:"record,omitempty"`
	// Exactly makes an expect step compare every field the record has,
	// not only the ones it names (the key and modification time aside).
	Exactly bool `json:"exactly,omitempty"`
	// Count is the expected number of records (expect-count).
	Count int `json:"count,omitempty"`
	// From and To name the flow of an expect-report step
	// ("crm.contact", "infobip.customer").
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Fields are the record's fields (given, update, expect) or the
	// expected properties (expect-report counters, expect-rejected field
	// and kind, expect-conflict field and winner).
	Fields []*TestField `json:"fields,omitempty"`
}

// TestField is one `NAME = VALUE` line of a step's body. Value may refer
// to the test's records by name (ada.crm.contactid: the contactid of
// ada's record on connection crm), so it is evaluated when the step runs.
type TestField struct {
	Name  string         `json:"name"`
	Type  connector.Type `json:"type"`
	Value *Expr          `json:"value"`
	// Range is the whole line, for failures.
	Range diag.Range `json:"range"`
}
