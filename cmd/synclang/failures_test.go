package main

import (
	"errors"
	"testing"

	"github.com/synclang/synclang/runtime/engine"
)

// TestFailuresFromTheReport (issue 14.1): each failed sync is reported with
// the error its SyncReport carries, whatever the joined error Run returned
// looks like; an error without a failed sync is one failure of no sync.
func TestFailuresFromTheReport(t *testing.T) {
	t.Parallel()
	a, b := errors.New("reading crm.contact: boom"), errors.New("writing infobip.customer: bang")
	rep := &engine.Report{Syncs: []*engine.SyncReport{{Sync: "contacts", Err: a}, {Sync: "ok"}, {Sync: "leads", Err: b}}}
	// The joined error is not taken apart: here it holds one error for two
	// failed syncs, which pairing by index could not attribute.
	fs := failures(rep, errors.New("sync contacts: ...; sync leads: ..."))
	if len(fs) != 2 || fs[0].sync != "contacts" || fs[0].err != a || fs[1].sync != "leads" || fs[1].err != b {
		t.Fatalf("failures = %+v", fs)
	}
	refused := errors.New(`no sync named "x"`)
	if fs := failures(nil, refused); len(fs) != 1 || fs[0].sync != "" || fs[0].err != refused {
		t.Fatalf("failures without a report = %+v", fs)
	}
	if fs := failures(rep, nil); fs != nil {
		t.Fatalf("failures of a run without error = %+v", fs)
	}
}
