package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang"
)

var schemaCmd = &command{
	name:    "schema",
	summary: "schema pull CONNECTION: save a live system's schema for offline checks",
	run:     runSchema,
}

func runSchema(ctx context.Context, s *Stdio, args []string) int {
	fs := newFlags(s, "schema", "pull CONNECTION [PATHS]",
		"Read the entities, fields and custom attributes of CONNECTION's live system and write them to\n"+
			"CONNECTION.schema.json next to the .sync file that declares it, where `synclang check` reads them offline.\n"+
			"Commit the file with the .sync files.")
	var timeout time.Duration
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if len(rest) < 2 || rest[0] != "pull" {
		fs.Usage()
		return exitUsage
	}
	name := rest[1]
	inputs, err := lang.Load(defaultPaths(rest[2:]))
	if err != nil {
		fmt.Fprintf(s.Err, "synclang schema: %v\n", err)
		return exitError
	}
	conns, diags := lang.Connections(inputs, lang.Options{Registry: s.Registry})
	writeDiags(s, diags, lang.Sources(inputs))
	if diags.HasErrors() {
		return exitError
	}
	for _, c := range conns {
		if c.Name != name {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := openConnector(ctx, s, c, nil)
		if err != nil {
			fmt.Fprintf(s.Err, "synclang schema pull: %v\n", err)
			return exitError
		}
		defer conn.Close()
		// A pull asks the service now, not a schema the connector cached.
		discover := conn.Discover
		if rv, ok := conn.(connector.Revalidator); ok {
			discover = rv.Revalidate
		}
		schema, err := discover(ctx)
		if err != nil {
			// The service's answer, escaped.
			fmt.Fprintf(s.Err, "synclang schema pull: %s: %s\n", name, redact.Line(err.Error()))
			return exitError
		}
		schema.Kind = c.Kind
		path := lang.SnapshotFile(name, c.Range.Filename)
		if err := connector.WriteSchemaFile(path, schema); err != nil {
			fmt.Fprintf(s.Err, "synclang schema pull: %v\n", err)
			return exitError
		}
		n := 0
		for _, e := range schema.Entities {
			n += len(e.Fields)
		}
		fmt.Fprintf(s.Out, "wrote %s: %s, %s\n", filepath.ToSlash(path), plural(len(schema.Entities), "entity"), plural(n, "field"))
		return exitOK
	}
	fmt.Fprintf(s.Err, "synclang schema pull: no connection %q in %v\n", name, defaultPaths(rest[2:]))
	return exitError
}
