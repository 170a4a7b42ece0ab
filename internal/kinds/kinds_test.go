package kinds_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/emulate"
	"github.com/synclang/synclang/internal/kinds"
)

// TestEveryEmulatorServesItsConnector: each kind's emulator, built as
// `synclang emulate KIND` builds it, answers its own connector with the
// settings it gives, and describes itself for the one serve loop; so a
// new kind's line in All is checked for what the command relies on.
func TestEveryEmulatorServesItsConnector(t *testing.T) {
	names := map[string]bool{}
	for _, k := range kinds.All() {
		name := k.Connector.Name
		if names[name] {
			t.Errorf("kind %q is listed twice", name)
		}
		names[name] = true
		spec := k.Emulator
		if spec == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if spec.Title == "" || spec.Doc == "" || spec.Addr == "" || spec.SeedDoc == "" || spec.LimitsDoc == "" {
				t.Errorf("the emulator's Spec leaves its help empty: %+v", spec)
			}
			hasReal := false
			for _, m := range spec.Limits {
				hasReal = hasReal || m == emulate.DefaultLimits
			}
			if !hasReal {
				t.Errorf("the emulator does not accept the default limits %q: %v", emulate.DefaultLimits, spec.Limits)
			}
			emu := spec.New(emulate.Options{Seed: 3, Limits: emulate.Off, Flags: map[string]string{}})
			srv := httptest.NewServer(emu)
			defer srv.Close()
			in := emu.Intro(srv.URL)
			if len(in.Seeded) == 0 || len(in.Settings) == 0 || len(in.Exports) == 0 || len(in.Edit) == 0 {
				t.Errorf("the emulator's Intro is incomplete: %+v", in)
			}
			ctx := context.Background()
			conn, err := k.Connector.New(ctx, connector.Config{Name: name, Settings: emu.Settings(srv.URL), CacheDir: t.TempDir()})
			if err != nil {
				t.Fatalf("the connector does not open with the emulator's settings: %v", err)
			}
			defer conn.Close()
			if _, err := conn.Discover(ctx); err != nil {
				t.Errorf("Discover against the emulator: %v", err)
			}
		})
	}
	if !names["dynamics"] || !names["people"] {
		t.Errorf("kinds: %v", names)
	}
}
