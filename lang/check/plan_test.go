package check_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/plan"
)

// TestPlanRecheck: a plan edited by hand is refused for what check refuses
// in a .sync file (run trusted it: "link": null ran and duplicated records,
// a literal client_secret was used), and the golden plan passes.
func TestPlanRecheck(t *testing.T) {
	golden, err := os.ReadFile("../../examples/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	decode := func(t *testing.T, edit func(p *plan.Plan)) *plan.Plan {
		p, err := plan.Decode(bytes.NewReader(golden))
		if err != nil {
			t.Fatal(err)
		}
		edit(p)
		return p
	}
	if ds := check.Plan(decode(t, func(*plan.Plan) {}), check.Options{Registry: registry()}); len(ds) > 0 {
		t.Fatalf("the golden plan does not re-check clean:\n%s", ds.Error())
	}
	setting := func(p *plan.Plan, conn, name string) *plan.Setting {
		c, _ := p.Connection(conn)
		for _, s := range c.Settings {
			if s.Name == name {
				return s
			}
		}
		s := &plan.Setting{Name: name}
		c.Settings = append(c.Settings, s)
		return s
	}
	for _, tc := range []struct {
		name, code, want string
		edit             func(p *plan.Plan)
	}{
		{"link null", "missing-link", `Sync "contacts" writes into contact (dynamics), so it must keep the contact ID`,
			func(p *plan.Plan) { s, _ := p.Sync("contacts"); s.Link = nil }},
		{"link owned by the wrong side", "bad-link", "must hold",
			func(p *plan.Plan) { s, _ := p.Sync("contacts"); s.Link.Owner = s.Link.Owner.Other() }},
		{"literal secret", "secret-literal", "client_secret of connection \"crm\" is a secret and holds a literal value",
			func(p *plan.Plan) {
				st := setting(p, "crm", "client_secret")
				st.Secret, st.Value = "", "s3cr3t-literal"
			}},
		{"unknown kind", "unknown-kind", `kind "ldap"`,
			func(p *plan.Plan) { c, _ := p.Connection("crm"); c.Kind = "ldap" }},
		{"plain http", "setting-value", "must use https",
			func(p *plan.Plan) { st := setting(p, "crm", "url"); st.Env, st.Value = "", "http://example.com" }},
		{"read-only target", "readonly-field", "fullname is computed",
			func(p *plan.Plan) {
				s, _ := p.Sync("contacts")
				for _, fl := range s.Flows {
					if s.Side(fl.To).Kind == "dynamics" {
						fl.Maps[0].Target = "fullname"
						s.Side(fl.To).Fields = append(s.Side(fl.To).Fields, fieldNamed(s.Side(fl.To), "fullname"))
					}
				}
			}},
		{"every 0", "bad-duration", "between 1s and 24h",
			func(p *plan.Plan) { s, _ := p.Sync("contacts"); s.Every = 0 }},
		{"missing connection", "unknown-connection", "does not hold",
			func(p *plan.Plan) { s, _ := p.Sync("contacts"); s.Left.Connection = "elsewhere" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := check.Plan(decode(t, tc.edit), check.Options{Registry: registry()})
			if !ds.HasErrors() {
				t.Fatalf("accepted")
			}
			found := false
			for _, d := range ds {
				found = found || (d.Code == tc.code && strings.Contains(d.Detail, tc.want))
				if strings.Contains(d.Error(), "s3cr3t") {
					t.Errorf("the secret is quoted: %s", d.Error())
				}
			}
			if !found {
				t.Errorf("no %s diagnostic with %q:\n%s", tc.code, tc.want, ds.Error())
			}
		})
	}
}

// fieldNamed returns a copy of a side's first field renamed, marked as the
// plan would not (not read-only): the standard schema still says it is.
func fieldNamed(s *plan.Side, name string) *connector.Field {
	f := *s.Fields[0]
	f.Name, f.ReadOnly = name, false
	return &f
}
