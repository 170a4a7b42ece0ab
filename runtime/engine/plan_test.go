package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// noDelete is a connector without the Deleter capability.
type noDelete struct{ connector.Connector }

func TestPlanAndConnectorsCheckedBeforeRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(h *harness)
		wantS string
	}{
		{"missing connector", func(h *harness) { delete(h.conns, "infobip") }, `contacts.sync:19:1: sync contacts: no connector for connection "infobip"`},
		{"propagate without Deleter", func(h *harness) {
			h.conns["infobip"] = noDelete{h.ppl}
			h.plan.Syncs[0].Flows[0].Delete = plan.DeletePropagate
		}, "deletes infobip.customer records (delete propagate), but the people connector cannot delete"},
		{"unknown target field", func(h *harness) { h.plan.Syncs[0].Flows[0].Maps[0].Target = "nope" }, "nope is not a field of infobip.customer"},
		{"broken expression", func(h *harness) { h.plan.Syncs[0].Flows[0].Maps[0].Expr.Source = "firstname +" }, `does not compile`},
		{"unknown sync", func(h *harness) { h.opts.Sync = "leads" }, `no sync named "leads" (the plan has [contacts])`},
		{"bad conflict policy", func(h *harness) { h.plan.Syncs[0].Conflict = "oldest" }, `unknown conflict policy "oldest"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, spec{})
			seedInitial(t, h)
			tt.edit(h)
			_, err := h.runErr()
			if err == nil || !strings.Contains(err.Error(), tt.wantS) {
				t.Fatalf("got %v, want %q", err, tt.wantS)
			}
			if n := len(h.ppl.Records("customer")); n != 2 {
				t.Errorf("a rejected plan wrote")
			}
		})
	}
}

func TestExpiredCursorFallsBackToFullRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{})
	seedInitial(t, h)
	h.run()
	h.run()
	ctx := context.Background()
	l, err := h.store.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A cursor the service no longer accepts (memory answers
	// ErrorExpiredCursor for it, as Dynamics does for an old delta token).
	if err := h.store.Apply(ctx, l, &state.Changes{Sync: "contacts", Cursor: &state.Cursor{Flow: lr, Token: "expired"}}); err != nil {
		t.Fatal(err)
	}
	h.store.Release(ctx, l)
	rep := h.run()
	f := flow(t, rep, lr)
	if f.Resync != 6 || f.Read != 6 || writes(rep) != 0 {
		t.Errorf("resync pass: %+v", f)
	}
	if tok, _ := h.store.Cursor(ctx, "contacts", lr); tok == "expired" {
		t.Error("the expired cursor was kept")
	}
}

func TestSourceWithoutCursorIsReadInFull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spec{direction: plan.LeftToRight})
	h.plan.Syncs[0].Left.Incremental = false
	seedInitial(t, h)
	h.run()
	rep := h.run()
	if f := flow(t, rep, lr); !f.Full || f.Read != 5 || f.Unchanged != 4 || writes(rep) != 0 {
		t.Errorf("second pass over a non-incremental source: %+v", f)
	}
	if c, _ := h.store.Cursors(context.Background()); len(c) != 0 {
		t.Errorf("cursor saved for a non-incremental source: %+v", c)
	}
}
