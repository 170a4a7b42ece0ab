package check

import (
	"fmt"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/plan"
)

// CompareLive compares the custom fields a plan's connection declares with
// the schema the service reported when a command connected (its Discover):
// a declared field the service does not have, or has with another type, is
// an error at the declaration (code declaration-live), since every record
// the run reads or writes through it would be rejected one at a time. A
// field of a data type this version of synclang does not know (read as
// object) is not reported: the declaration may be right. cmd/synclang calls it once
// per connection when plan, run, serve or rejects retry connect, before
// anything is read.
//
// snap, when not nil, is the connection's schema snapshot (read from
// snapPath), which check resolved the project against: its custom fields
// that the service no longer has, or has with another type, are one
// warning at the connection (code snapshot-live), naming them, since the
// run may not use them.
func CompareLive(p *plan.Plan, conn string, live, snap *connector.Schema, snapPath string) diag.Diagnostics {
	var diags diag.Diagnostics
	for _, c := range p.Connections {
		if c.Name != conn {
			continue
		}
		for _, d := range c.Declarations {
			if dg := compareDeclaration(c.Name, c.Kind, d, live, "", true); dg != nil {
				diags = append(diags, dg)
			}
		}
		if snap != nil {
			if dg := compareSnapshot(c, live, snap, snapPath); dg != nil {
				diags = append(diags, dg)
			}
		}
	}
	return diags
}

// compareSnapshot lists the custom fields of a snapshot that the live
// schema lacks or types otherwise.
func compareSnapshot(c *plan.Connection, live, snap *connector.Schema, path string) *diag.Diagnostic {
	var diffs []string
	for _, se := range snap.Entities {
		le, ok := live.Entity(se.Name)
		if !ok {
			continue
		}
		for _, sf := range se.Fields {
			if !sf.Custom {
				continue
			}
			lf, ok := le.Field(sf.Name)
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s.%s is gone", se.Name, sf.Name))
			case lf.Type != sf.Type && lf.Type != connector.Object:
				diffs = append(diffs, fmt.Sprintf("%s.%s is %s, not %s", se.Name, sf.Name, lf.Type, sf.Type))
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return diag.Warningf(c.Range, "snapshot-live", "Schema snapshot out of date",
		"The service of connection %q differs from its schema snapshot %s, which check used: %s. Run `synclang schema pull %s`, then `synclang check`.",
		c.Name, path, strings.Join(diffs, "; "), c.Name)
}

// compareDeclaration compares one declaration with the schema have, which
// is the service's live schema (live) or the connection's snapshot read
// from source. It returns nil when they agree, or when have cannot say
// (no such entity in it).
func compareDeclaration(conn, kind string, d *plan.Declaration, have *connector.Schema, source string, live bool) *diag.Diagnostic {
	var ent *connector.Entity
	if d.Entity != "" {
		ent, _ = have.Entity(d.Entity)
	} else if len(have.Entities) > 0 {
		// Unscoped declarations (People attributes) are account-wide:
		// every entity has the same custom fields.
		ent = have.Entities[0]
	}
	if ent == nil {
		return nil
	}
	what, usage := declaredThing(d)
	f, ok := ent.Field(d.Field)
	if ok && (!f.Custom || f.Type == d.Type || f.Type == connector.Object) {
		// A standard field clashes elsewhere (duplicate-declaration); a
		// data type this version does not know (read as object) may be
		// what the declaration says, and values that do not convert are
		// rejected one by one: nothing to say up front.
		return nil
	}
	var customs []string
	for _, x := range ent.Fields {
		if x.Custom {
			customs = append(customs, strings.TrimPrefix(x.Name, connector.CustomPrefix))
		}
	}
	name := strings.TrimPrefix(d.Field, connector.CustomPrefix)
	if !live {
		if !ok {
			return diag.Warningf(d.Name, "declaration-snapshot", "Not in the schema snapshot",
				"%s has no %s: it is not defined in %q's account, or was defined after the pull. Define it there, or run `synclang schema pull %s` if it was.%s",
				capital(source), what, conn, conn, didYouMean(name, customs))
		}
		return diag.Warningf(d.Range, "declaration-snapshot", "Declared type differs from the schema snapshot",
			"%s has %s as %s; it is declared %s here, so the run would misread or refuse its values. Declare it `%s %s`, or run `synclang schema pull %s` if the account changed.",
			capital(source), what, f.Type, d.Type, usage, f.Type, conn)
	}
	if !ok {
		return diag.Errorf(d.Name, "declaration-live", "Not defined in the service",
			"Connection %q (%s) has no %s: the service refuses to write it and never returns it, so every record through it would be rejected. Define it in the service first, or remove the declaration.%s",
			conn, kind, what, didYouMean(name, customs))
	}
	return diag.Errorf(d.Range, "declaration-live", "Declared type differs from the service",
		"Connection %q defines %s as %s, not %s: values read would not convert and writes would be refused, one record at a time. Declare it `%s %s`.",
		conn, what, f.Type, d.Type, usage, f.Type)
}

// declaredThing names a declared field for messages ("custom attribute
// \"JobTitle\"", "column contact.new_tier") and gives the start of its
// declaration, without the type.
func declaredThing(d *plan.Declaration) (what, usage string) {
	if d.Entity == "" {
		name := strings.TrimPrefix(d.Field, connector.CustomPrefix)
		return fmt.Sprintf("custom attribute %q", name), fmt.Sprintf("attribute %q", name)
	}
	return fmt.Sprintf("column %s.%s", d.Entity, d.Field), fmt.Sprintf("column %s.%s", d.Entity, d.Field)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
