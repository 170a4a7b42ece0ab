package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
)

// TestReportJSONStyle: a report's JSON is one style, lowerCamel keys
// (request counters included) and durations as Go duration strings; and a
// report stored by an earlier version (nanoseconds, "Requests") still reads.
func TestReportJSONStyle(t *testing.T) {
	t.Parallel()
	sr := &SyncReport{Sync: "contacts", Duration: 1500 * time.Millisecond,
		Requests: map[string]connector.Stats{"crm": {Requests: 3, Retries: 1}},
		Flows:    []*FlowReport{{Flow: "left-to-right", Duration: 2 * time.Second}}}
	b, err := json.Marshal(&Report{Duration: 3 * time.Second, Syncs: []*SyncReport{sr}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"duration":"3s"`, `"duration":"1.5s"`, `"duration":"2s"`, `"requests":3`, `"retries":1`} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"Requests"`) || strings.Contains(got, `"Retries"`) {
		t.Errorf("JSON mixes styles:\n%s", got)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Duration != 3*time.Second || back.Syncs[0].Duration != 1500*time.Millisecond ||
		back.Syncs[0].Flows[0].Duration != 2*time.Second || back.Syncs[0].Requests["crm"].Retries != 1 {
		t.Errorf("round trip: %v %+v", err, back)
	}
	var old SyncReport
	if err := json.Unmarshal([]byte(`{"sync":"a","duration":1500000000,"requests":{"crm":{"Requests":4}},"flows":[{"duration":5}]}`), &old); err != nil ||
		old.Duration != 1500*time.Millisecond || old.Requests["crm"].Requests != 4 || old.Flows[0].Duration != 5 {
		t.Errorf("old report: %v %+v", err, old)
	}
}
