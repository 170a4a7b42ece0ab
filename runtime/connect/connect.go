// Package connect opens the live connectors of a plan's connections: the
// one place cmd/synclang (run, plan, serve, schema pull) and bench do it.
// Entry point: [Open]. It names no concrete connector: the kinds come in
// a connector.Registry (internal/kinds builds the binary's), and where the
// settings come from (the environment, an emulator) is the caller's.
package connect

import (
	"context"
	"fmt"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
)

// Options say how to open connections.
type Options struct {
	// Registry holds the connection kinds; required.
	Registry *connector.Registry
	// Uses, when set, selects the connections to open by name; nil opens
	// every one.
	Uses func(name string) bool
	// Settings resolves a connection's settings. Its error is reported as
	// it is, so it names the connection itself (with the block's position
	// where it has one).
	Settings func(c *plan.Connection, kind *connector.Kind) (map[string]string, error)
	// Config returns the rest of a connection's connector.Config (HTTP
	// client, logger, cache directories, rate scale); Open fills in Name
	// and Settings. nil means the zero Config.
	Config func(c *plan.Connection) connector.Config
}

// Open builds the connector of each selected connection, in order. Every
// connection that cannot be opened has an error of its own in errs, which
// names it ("connection crm: ..."); when there is one, the connectors that
// did open are closed and conns is nil.
func Open(ctx context.Context, conns []*plan.Connection, o Options) (opened map[string]connector.Connector, errs []error) {
	opened = map[string]connector.Connector{}
	for _, c := range conns {
		if o.Uses != nil && !o.Uses(c.Name) {
			continue
		}
		conn, err := One(ctx, c, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		opened[c.Name] = conn
	}
	if len(errs) > 0 {
		for _, conn := range opened {
			_ = conn.Close()
		}
		return nil, errs
	}
	return opened, nil
}

// One builds the connector of connection c (o.Uses is not consulted).
func One(ctx context.Context, c *plan.Connection, o Options) (connector.Connector, error) {
	kind, ok := o.Registry.Kind(c.Kind)
	if !ok {
		return nil, fmt.Errorf("connection %s: unknown kind %q", c.Name, c.Kind)
	}
	if kind.New == nil {
		return nil, fmt.Errorf("connection %s: this build of synclang cannot connect to %s", c.Name, c.Kind)
	}
	settings, err := o.Settings(c, kind)
	if err != nil {
		return nil, err
	}
	var cfg connector.Config
	if o.Config != nil {
		cfg = o.Config(c)
	}
	cfg.Name, cfg.Settings = c.Name, settings
	conn, err := kind.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.Name, err)
	}
	return conn, nil
}
