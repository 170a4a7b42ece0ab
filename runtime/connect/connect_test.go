package connect_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/connect"
)

// closing records that its connector was closed.
type closing struct {
	connector.Connector
	closed *bool
}

func (c closing) Close() error { *c.closed = true; return c.Connector.Close() }

// TestOpen: the selected connections open with the settings and config
// given; each one that fails has its own error naming it, in order, and
// then those that opened are closed and none is returned.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	closed := map[string]*bool{}
	caches := map[string]string{}
	kind := memory.Kind()
	newMemory := kind.New
	kind.New = func(ctx context.Context, cfg connector.Config) (connector.Connector, error) {
		if cfg.Settings["fail"] != "" {
			return nil, errors.New(cfg.Settings["fail"])
		}
		caches[cfg.Name] = cfg.CacheDir
		c, err := newMemory(ctx, cfg)
		b := new(bool)
		closed[cfg.Name] = b
		return closing{c, b}, err
	}
	noNew := &connector.Kind{Name: "nonew"}
	reg := connector.NewRegistry(kind, noNew)
	conns := []*plan.Connection{{Name: "a", Kind: "memory"}, {Name: "b", Kind: "memory"}, {Name: "skipped", Kind: "unknown"}}
	var seen []string
	opts := connect.Options{
		Registry: reg,
		Uses:     func(name string) bool { return name != "skipped" },
		Settings: func(c *plan.Connection, k *connector.Kind) (map[string]string, error) {
			seen = append(seen, c.Name+":"+k.Name)
			return map[string]string{}, nil
		},
		Config: func(c *plan.Connection) connector.Config { return connector.Config{CacheDir: "/cache/" + c.Name} },
	}
	opened, errs := connect.Open(ctx, conns, opts)
	if len(errs) != 0 || len(opened) != 2 || opened["a"] == nil || opened["b"] == nil {
		t.Fatalf("Open: %v, %v", opened, errs)
	}
	if !reflect.DeepEqual(seen, []string{"a:memory", "b:memory"}) {
		t.Errorf("settings asked for %v", seen)
	}
	if caches["a"] != "/cache/a" || caches["b"] != "/cache/b" {
		t.Errorf("the factory got the configs %v", caches)
	}

	// One connection fails in its settings, one in its factory, one has
	// an unknown kind and one a kind that cannot connect: four errors, in
	// order, and the one that opened is closed.
	conns = []*plan.Connection{{Name: "ok", Kind: "memory"}, {Name: "unset", Kind: "memory"}, {Name: "refused", Kind: "memory"},
		{Name: "odd", Kind: "unknown"}, {Name: "stub", Kind: "nonew"}}
	opts.Uses = nil
	opts.Settings = func(c *plan.Connection, k *connector.Kind) (map[string]string, error) {
		switch c.Name {
		case "unset":
			return nil, errors.New("a.sync:1:1: connection unset: X is not set")
		case "refused":
			return map[string]string{"fail": "401"}, nil
		}
		return map[string]string{}, nil
	}
	opened, errs = connect.Open(ctx, conns, opts)
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{"a.sync:1:1: connection unset: X is not set", "connection refused: 401", `connection odd: unknown kind "unknown"`,
		"connection stub: this build of synclang cannot connect to nonew"}
	if opened != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Open: %v\n%q\nwant %q", opened, got, want)
	}
	if !*closed["ok"] {
		t.Error("the connection that opened was not closed")
	}
}
