package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/connectors/people"
	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/state"
)

// clock is the settable test clock (testkit.Clock) shared by the memory
// services (modification times) and the engine.
type clock = testkit.Clock

func newClock() *clock { return testkit.NewClock(time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)) }

const syncFile = "contacts.sync"

func rng(line, col, width int) diag.Range {
	return diag.Range{Filename: syncFile, Start: diag.Pos{Line: line, Column: col, Offset: line * 100}, End: diag.Pos{Line: line, Column: col + width, Offset: line*100 + width}}
}

// x builds an expression; its fields are the names it reads.
func x(src string, line, col int) *plan.Expr {
	refs, err := eval.Refs(src)
	if err != nil {
		panic(err)
	}
	var fields []string
	seen := map[string]bool{}
	for _, r := range refs {
		if !r.Call && !seen[r.Name] {
			seen[r.Name] = true
			fields = append(fields, r.Name)
		}
	}
	sort.Strings(fields)
	return &plan.Expr{Source: src, Fields: fields, Range: rng(line, col, len(src))}
}

func pick(e *connector.Entity, names ...string) []*connector.Field {
	var out []*connector.Field
	for _, n := range names {
		f, ok := e.Field(n)
		if !ok {
			panic("no field " + n + " in " + e.Name)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// peopleSchema is People's person schema with the custom attribute the
// reference example declares.
func peopleSchema() *connector.Schema {
	s := people.StandardSchema()
	for _, e := range s.Entities {
		e.AddField(&connector.Field{Name: "custom.JobTitle", Type: connector.String, Custom: true})
	}
	return s
}

// spec describes the contacts sync of the reference example (with knobs).
type spec struct {
	direction plan.Direction
	conflict  plan.Conflict
	del       plan.DeletePolicy
	noWhere   bool
	noMatch   bool
	// emailExpr replaces emailaddress1 -> email with an expression.
	emailExpr string
}

// contactsPlan builds by hand the plan `synclang compile` makes of
// examples/contacts.sync: crm.contact <-> infobip.customer.
func contactsPlan(sp spec) *plan.Plan {
	crm := dynamics.StandardSchema()
	contact, _ := crm.Entity("contact")
	ppl := peopleSchema()
	customer, _ := ppl.Entity("customer")
	left := &plan.Side{Connection: "crm", Kind: "dynamics", Entity: "contact", Key: "contactid", Modified: "modifiedon",
		Incremental: true, Deletes: true,
		Fields: pick(contact, "contactid", "firstname", "lastname", "emailaddress1", "mobilephone", "address1_city",
			"jobtitle", "gendercode", "statecode", "modifiedon")}
	right := &plan.Side{Connection: "infobip", Kind: "people", Entity: "customer", Key: "id", Modified: "modifiedAt",
		Incremental: true,
		Fields:      pick(customer, "id", "externalId", "firstName", "lastName", "email", "phone", "city", "custom.JobTitle", "gender", "modifiedAt")}
	if sp.direction == "" {
		sp.direction = plan.Both
	}
	if sp.conflict == "" {
		sp.conflict = plan.ConflictNewest
	}
	if sp.del == "" {
		sp.del = plan.DeleteIgnore
	}
	two := func(l, r string, line int) (*plan.FieldMap, *plan.FieldMap) {
		return &plan.FieldMap{Target: r, Expr: x(l, line, 3), TwoWay: true, Range: rng(line, 3, len(l)+5+len(r))},
			&plan.FieldMap{Target: l, Expr: x(r, line, 8+len(l)), TwoWay: true, Range: rng(line, 3, len(l)+5+len(r))}
	}
	var lr, rl []*plan.FieldMap
	add := func(a, b *plan.FieldMap) { lr, rl = append(lr, a), append(rl, b) }
	add(two("firstname", "firstName", 24))
	add(two("lastname", "lastName", 25))
	add(two("address1_city", "city", 26))
	if sp.emailExpr != "" {
		lr = append(lr, &plan.FieldMap{Target: "email", Expr: x(sp.emailExpr, 28, 3), Range: rng(28, 3, len(sp.emailExpr)+9)})
		rl = append(rl, &plan.FieldMap{Target: "emailaddress1", Expr: x("email", 28, 30), Range: rng(28, 3, 30)})
	} else {
		add(two("emailaddress1", "email", 28))
	}
	lr = append(lr, &plan.FieldMap{Target: "custom.JobTitle", Expr: x("jobtitle", 31, 3), Range: rng(31, 3, 27)})
	g := `gendercode == 1 ? "MALE" : gendercode == 2 ? "FEMALE" : nil`
	lr = append(lr, &plan.FieldMap{Target: "gender", Expr: x(g, 32, 3), Range: rng(32, 3, len(g)+9)})
	gb := `gender == "MALE" ? 1 : gender == "FEMALE" ? 2 : nil`
	rl = append(rl, &plan.FieldMap{Target: "gendercode", Expr: x(gb, 33, 17), Range: rng(33, 3, len(gb)+14)})
	sort.Slice(lr, func(i, j int) bool { return lr[i].Target < lr[j].Target })
	sort.Slice(rl, func(i, j int) bool { return rl[i].Target < rl[j].Target })

	s := &plan.Sync{Name: "contacts", Range: rng(19, 1, 14), Left: left, Right: right, Direction: sp.direction,
		Link:     &plan.Link{Left: "contactid", Right: "externalId", Owner: plan.Left, Range: rng(22, 3, 30)},
		Conflict: sp.conflict, Every: plan.Duration(time.Minute)}
	if !sp.noMatch {
		s.Match = []*plan.Match{{Left: x("lower(emailaddress1)", 23, 9), Right: x("lower(email)", 23, 33),
			LeftField: "emailaddress1", RightField: "email", Range: rng(23, 3, 42)}}
	}
	l2r := &plan.Flow{From: plan.Left, To: plan.Right, Maps: lr, Delete: sp.del}
	if !sp.noWhere {
		l2r.Where = x("statecode == 0", 36, 13)
	}
	r2l := &plan.Flow{From: plan.Right, To: plan.Left, Maps: rl, Delete: sp.del}
	switch sp.direction {
	case plan.Both:
		s.Flows = []*plan.Flow{l2r, r2l}
	case plan.LeftToRight:
		s.Flows = []*plan.Flow{l2r}
	case plan.RightToLeft:
		s.Flows = []*plan.Flow{r2l}
	}
	return &plan.Plan{Version: plan.FormatVersion, Syncs: []*plan.Sync{s},
		Connections: []*plan.Connection{{Name: "crm", Kind: "dynamics"}, {Name: "infobip", Kind: "people"}}}
}

// harness is a sync over two memory services and a state file.
type harness struct {
	t     *testing.T
	clk   *clock
	crm   *memory.Conn
	ppl   *memory.Conn
	plan  *plan.Plan
	store state.Store
	path  string
	conns map[string]connector.Connector
	opts  Options
	log   *slog.Logger
}

func newHarness(t *testing.T, sp spec) *harness {
	t.Helper()
	clk := newClock()
	h := &harness{t: t, clk: clk, crm: memory.New(dynamics.StandardSchema()), ppl: memory.New(peopleSchema()), plan: contactsPlan(sp)}
	h.crm.SetClock(clk.Now)
	h.ppl.SetClock(clk.Now)
	h.conns = map[string]connector.Connector{"crm": h.crm, "infobip": h.ppl}
	h.path = filepath.Join(t.TempDir(), "state.db")
	h.store = h.open()
	h.opts = Options{BatchSize: 3, InFlight: 2}
	return h
}

func (h *harness) open() state.Store {
	h.t.Helper()
	st, err := state.Open(context.Background(), h.path, state.Options{Now: h.clk.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

func (h *harness) env() Env {
	return Env{Connectors: h.conns, Store: h.store, Now: h.clk.Now, Logger: h.log}
}

// run runs one pass and fails the test on error.
func (h *harness) run(mod ...func(*Options)) *Report {
	h.t.Helper()
	rep, err := h.runErr(mod...)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return rep
}

func (h *harness) runErr(mod ...func(*Options)) (*Report, error) {
	o := h.opts
	for _, m := range mod {
		m(&o)
	}
	h.clk.Advance(time.Second)
	rep, err := Run(context.Background(), h.plan, h.env(), o)
	checkBalanced(h.t, rep)
	return rep, err
}

// checkBalanced asserts that every record each flow read is counted in
// exactly one outcome (issue 9: the summary must add up).
func checkBalanced(t *testing.T, rep *Report) {
	t.Helper()
	if rep == nil {
		return
	}
	for _, s := range rep.Syncs {
		for _, f := range s.Flows {
			if err := f.Balanced(); err != nil {
				t.Errorf("sync %s: %v", s.Sync, err)
			}
		}
	}
}

func full(o *Options)  { o.Full = true }
func retry(o *Options) { o.RetryRejects = true }

// upsert writes records straight into a service (a user's edit).
func upsert(t *testing.T, c *memory.Conn, entity string, recs ...connector.Record) []string {
	t.Helper()
	res, err := c.Upsert(context.Background(), connector.UpsertRequest{Entity: entity, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i, r := range res.Results {
		if r.Effect == connector.Failed {
			t.Fatalf("seeding record %d: %v", i, r.Err)
		}
		keys = append(keys, r.Key)
	}
	return keys
}

type F = map[string]any

func contact(first, last, email string) connector.Record {
	return connector.Record{Fields: F{"firstname": first, "lastname": last, "emailaddress1": email, "statecode": 0}}
}

func byKey(recs []connector.Record) map[string]connector.Record {
	m := map[string]connector.Record{}
	for _, r := range recs {
		m[r.Key] = r
	}
	return m
}

// byField indexes records by a string field, failing on duplicates.
func byField(t *testing.T, recs []connector.Record, field string) map[string]connector.Record {
	t.Helper()
	m := map[string]connector.Record{}
	for _, r := range recs {
		v := fmt.Sprint(r.Fields[field])
		if _, dup := m[v]; dup && r.Fields[field] != nil {
			t.Fatalf("two records with %s = %s", field, v)
		}
		m[v] = r
	}
	return m
}

// flow returns a flow's report.
func flow(t *testing.T, rep *Report, name string) *FlowReport {
	t.Helper()
	for _, s := range rep.Syncs {
		for _, f := range s.Flows {
			if f.Flow == name {
				return f
			}
		}
	}
	t.Fatalf("no flow %s in the report", name)
	return nil
}

const (
	lr = "left-to-right"
	rl = "right-to-left"
)

// writes counts every write of a report.
func writes(rep *Report) int {
	n := 0
	for _, s := range rep.Syncs {
		for _, f := range s.Flows {
			n += f.Created + f.Updated + f.WrittenBack + f.Deleted + f.WriteCalls
		}
	}
	return n
}

// checkConverged asserts that every active contact and every customer are
// linked one to one, by externalId, with equal values.
func (h *harness) checkConverged() {
	h.t.Helper()
	contacts := h.crm.Records("contact")
	customers := h.ppl.Records("customer")
	byExt := byField(h.t, customers, "externalId")
	seen := map[string]bool{}
	for _, c := range contacts {
		// Dynamics sets statecode 0 on create; memory leaves it unset.
		if sc := c.Fields["statecode"]; sc != nil && sc != int64(0) {
			continue
		}
		p, ok := byExt[c.Key]
		if !ok {
			h.t.Errorf("contact %s has no customer", c.Key)
			continue
		}
		seen[p.Key] = true
		for l, r := range map[string]string{"firstname": "firstName", "lastname": "lastName", "emailaddress1": "email", "address1_city": "city"} {
			if !connector.Equal(c.Fields[l], p.Fields[r]) {
				h.t.Errorf("contact %s %s = %v but customer %s %s = %v", c.Key, l, c.Fields[l], p.Key, r, p.Fields[r])
			}
		}
	}
	for _, p := range customers {
		if !seen[p.Key] {
			h.t.Errorf("customer %s (externalId %v) has no active contact", p.Key, p.Fields["externalId"])
		}
	}
}

func contains2(s, sub string) bool { return strings.Contains(s, sub) }
