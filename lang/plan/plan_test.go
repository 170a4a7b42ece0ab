package plan

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/lang/diag"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	p := &Plan{Version: FormatVersion,
		Connections: []*Connection{{Name: "crm", Kind: "dynamics", Settings: []*Setting{{Name: "client_secret", Secret: "S"}}}},
		Syncs: []*Sync{{Name: "s", Direction: Both, Conflict: ConflictNewest, Every: Duration(90 * time.Second),
			Range: diag.Range{Filename: "a.sync", Start: diag.Pos{Line: 1, Column: 1}, End: diag.Pos{Line: 9, Column: 2}}}},
	}
	var b bytes.Buffer
	if err := p.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"every": "1m30s"`) || !strings.Contains(b.String(), `"range": "a.sync:1:1-9:2"`) {
		t.Errorf("encoding:\n%s", b.String())
	}
	back, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Syncs[0].Every != p.Syncs[0].Every || back.Syncs[0].Range != p.Syncs[0].Range {
		t.Errorf("round trip: %+v", back.Syncs[0])
	}
}

func TestDecodeRejects(t *testing.T) {
	for in, want := range map[string]string{
		`{"version": 2, "connections": [], "syncs": []}`: "version 2 is not supported",
		`{"version": 1, "surprise": true}`:               "unknown field",
		`not json`:                                       "not a synclang plan",
	} {
		if _, err := Decode(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestResolveNeverLeaksValues(t *testing.T) {
	env := map[string]string{"SET": "s3cret"}
	getenv := func(k string) string { return env[k] }
	s := &Setting{Name: "api_key", Secret: "SET"}
	if v, err := s.Resolve(getenv); err != nil || v != "s3cret" {
		t.Fatalf("%q %v", v, err)
	}
	missing := &Setting{Name: "api_key", Secret: "UNSET"}
	_, err := missing.Resolve(getenv)
	if err == nil || !strings.Contains(err.Error(), "UNSET") {
		t.Fatalf("error %v should name the variable", err)
	}
}
