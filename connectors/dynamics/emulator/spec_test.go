package emulator

import (
	"testing"

	"github.com/synclang/synclang/connectors/emulate"
)

// TestLimitsModes: Real and Sliding both enforce the service protection
// limits (Dataverse's window is sliding already), and the zero value is
// Off, as documented on Options.Limits.
func TestLimitsModes(t *testing.T) {
	for mode, on := range map[emulate.Limits]bool{emulate.Real: true, emulate.Sliding: true, emulate.Off: false, "": false} {
		if got := New(Options{Limits: mode}).limiter.on; got != on {
			t.Errorf("Limits %q: limits enforced %v, want %v", mode, got, on)
		}
	}
}
