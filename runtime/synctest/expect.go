package synctest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
	"github.com/synclang/synclang/lang/eval"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/engine"
	"github.com/synclang/synclang/runtime/state"
)

// value evaluates a field's value: a literal, or an expression over the
// test's records (ada.crm.contactid), as they are now.
func (r *runner) value(ctx context.Context, f *plan.TestField) (any, error) {
	if len(f.Value.Fields) == 0 {
		if v, ok := constant(f.Value.Source); ok {
			cv, err := connector.Canonical(f.Type, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", f.Name, err)
			}
			return cv, nil
		}
	}
	env := map[string]any{}
	var fields []*connector.Field
	for _, name := range f.Value.Fields {
		env[name] = r.recordsOf(ctx, name)
		fields = append(fields, &connector.Field{Name: name, Type: connector.Object})
	}
	prog, err := eval.Compile(f.Value.Source, fields)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name, err)
	}
	v, err := eval.Run(prog, env, f.Type)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name, err)
	}
	return v, nil
}

// recordsOf returns a record name's records by connection: the fields of
// its record on each connection of the test's syncs.
func (r *runner) recordsOf(ctx context.Context, name string) map[string]any {
	out := map[string]any{}
	for _, s := range r.plan.Syncs {
		for _, side := range []*plan.Side{s.Left, s.Right} {
			if _, done := out[side.Connection]; done {
				continue
			}
			if rec, ok := r.find(ctx, side.Connection, side.Entity, name); ok {
				out[side.Connection] = rec.Fields
			}
		}
	}
	return out
}

// key resolves a record name on an entity: the record given there under
// that name, or the one a sync of the test linked to the record given
// under that name on the other side.
func (r *runner) key(ctx context.Context, conn, entity, name string) (string, bool) {
	if k, ok := r.keys[recordKey(conn, entity, name)]; ok {
		return k, true
	}
	for _, s := range r.plan.Syncs {
		for _, n := range []plan.SideName{plan.Left, plan.Right} {
			here, there := s.Side(n), s.Side(n.Other())
			if here.Connection != conn || here.Entity != entity {
				continue
			}
			k, ok := r.keys[recordKey(there.Connection, there.Entity, name)]
			if !ok {
				continue
			}
			links, err := r.store.Links(ctx, s.Name, state.Side(n.Other()), []string{k})
			if err != nil {
				continue
			}
			if l, ok := links[k]; ok {
				return l.Key(state.Side(n)), true
			}
		}
	}
	// A record given under the name on another entity of the connection,
	// when the service's entities are views of one set of records (a
	// People person given as a lead, read as the customer it became).
	for k, key := range r.keys {
		c, e, n := splitKey(k)
		if c != conn || e == entity || n != name {
			continue
		}
		ent, _ := r.schemas[conn].Entity(entity)
		res, err := r.conns[conn].Lookup(ctx, connector.LookupRequest{Entity: entity, Field: ent.Key, Values: []any{key}})
		if err == nil && len(res.Records) == 1 && len(res.Records[0]) == 1 {
			return key, true
		}
	}
	return "", false
}

// find reads the record a name resolves to on an entity.
func (r *runner) find(ctx context.Context, conn, entity, name string) (connector.Record, bool) {
	k, ok := r.key(ctx, conn, entity, name)
	if !ok {
		return connector.Record{}, false
	}
	ent, _ := r.schemas[conn].Entity(entity)
	res, err := r.conns[conn].Lookup(ctx, connector.LookupRequest{Entity: entity, Field: ent.Key, Values: []any{k}})
	if err != nil || len(res.Records) != 1 || len(res.Records[0]) != 1 {
		return connector.Record{}, false
	}
	return res.Records[0][0], true
}

// mapping finds the mapping line of the test's syncs that writes field on
// conn.entity.
func (r *runner) mapping(conn, entity, field string) diag.Range {
	for _, s := range r.plan.Syncs {
		for _, fl := range s.Flows {
			to := s.Side(fl.To)
			if to.Connection != conn || to.Entity != entity {
				continue
			}
			if s.Link != nil && s.Link.Field(fl.To) == field {
				return s.Link.Range
			}
			for _, m := range fl.Maps {
				if m.Target == field {
					return m.Range
				}
			}
		}
	}
	return diag.Range{}
}

func (r *runner) expectRecord(ctx context.Context, st *plan.Step) {
	label := st.Connection + "." + st.Entity
	rec, ok := r.find(ctx, st.Connection, st.Entity, st.Record)
	if !ok {
		r.fail(st, r.missing(st))
		return
	}
	ent, _ := r.schemas[st.Connection].Entity(st.Entity)
	named := map[string]bool{}
	for _, f := range st.Fields {
		named[f.Name] = true
		want, err := r.value(ctx, f)
		if err != nil {
			r.fail(st, &Failure{Range: f.Range, Record: st.Record, Entity: label, Field: f.Name, Message: err.Error()})
			continue
		}
		have := rec.Fields[f.Name]
		if fd, ok := ent.Field(f.Name); ok {
			if cv, err := connector.Canonical(fd.Type, have); err == nil {
				have = cv
			}
		}
		if connector.Equal(want, have) || (want == nil && have == nil) {
			continue
		}
		// A value that refers to records (ada.crm.contactid) says what the
		// author meant; --update leaves it to them rather than pin a
		// literal in its place.
		var fix *Edit
		if len(f.Value.Fields) == 0 {
			fix = &Edit{File: f.Value.Range.Filename, Start: f.Value.Range.Start.Offset, End: f.Value.Range.End.Offset, Text: literal(have, f.Type)}
		}
		r.fail(st, &Failure{Range: f.Range, Mapping: r.mapping(st.Connection, st.Entity, f.Name), Record: st.Record, Entity: label, Field: f.Name,
			Expected: literal(want, f.Type), Actual: literal(have, f.Type), Fix: fix,
			Message: fmt.Sprintf("%s %s: %s is %s, expected %s", label, st.Record, f.Name, literal(have, f.Type), literal(want, f.Type))})
	}
	if !st.Exactly {
		return
	}
	var extra []string
	for name, v := range rec.Fields {
		fd, ok := ent.Field(name)
		if named[name] || v == nil || (ok && fd.ReadOnly) || name == ent.Key || name == ent.Modified {
			continue
		}
		extra = append(extra, name)
	}
	sort.Strings(extra)
	for _, name := range extra {
		fd, _ := ent.Field(name)
		typ := connector.Type("")
		if fd != nil {
			typ = fd.Type
		}
		v := literal(rec.Fields[name], typ)
		r.fail(st, &Failure{Mapping: r.mapping(st.Connection, st.Entity, name), Record: st.Record, Entity: label, Field: name, Actual: v,
			Fix:     &Edit{File: st.Range.Filename, Start: st.Range.End.Offset - 1, End: st.Range.End.Offset - 1, Text: fmt.Sprintf("  %s = %s\n", name, v)},
			Message: fmt.Sprintf("%s %s: %s is %s, which `expect exactly` does not name", label, st.Record, name, v)})
	}
}

func (r *runner) expectCount(ctx context.Context, st *plan.Step) {
	n := 0
	err := r.conns[st.Connection].Read(ctx, connector.ReadRequest{Entity: st.Entity}, func(b connector.Batch) error {
		for _, rec := range b.Records {
			if !rec.Deleted {
				n++
			}
		}
		return nil
	})
	if err != nil {
		r.fail(st, &Failure{Message: err.Error()})
		return
	}
	if n != st.Count {
		end := st.Range.End.Offset
		start := end - len(strconv.Itoa(st.Count))
		r.fail(st, &Failure{Entity: st.Connection + "." + st.Entity, Expected: strconv.Itoa(st.Count), Actual: strconv.Itoa(n),
			Fix:     &Edit{File: st.Range.Filename, Start: start, End: end, Text: strconv.Itoa(n)},
			Message: fmt.Sprintf("%s.%s has %s, expected %d", st.Connection, st.Entity, records(n), st.Count)})
	}
}

func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}

// flow finds the last run's report of the flow from -> to.
func (r *runner) flow(from, to string) *engine.FlowReport {
	if r.report == nil {
		return nil
	}
	for _, s := range r.report.Syncs {
		for _, f := range s.Flows {
			if f.From == from && f.To == to {
				return f
			}
		}
	}
	return nil
}

func (r *runner) expectReport(st *plan.Step) {
	f := r.flow(st.From, st.To)
	if f == nil {
		r.fail(st, &Failure{Message: fmt.Sprintf("the last run reported no flow %s -> %s", st.From, st.To)})
		return
	}
	data, _ := json.Marshal(f)
	var counters map[string]any
	_ = json.Unmarshal(data, &counters)
	for _, tf := range st.Fields {
		want, err := r.value(context.Background(), tf)
		if err != nil {
			r.fail(st, &Failure{Range: tf.Range, Field: tf.Name, Message: err.Error()})
			continue
		}
		have := int64(0)
		if v, ok := counters[tf.Name].(float64); ok {
			have = int64(v)
		}
		if connector.Equal(want, have) {
			continue
		}
		msg := fmt.Sprintf("%s -> %s: %s is %d, expected %v", st.From, st.To, tf.Name, have, want)
		if tf.Name == "rejected" && len(f.Rejects) > 0 {
			msg += "; first reject: " + f.Rejects[0].Error()
		}
		r.fail(st, &Failure{Range: tf.Range, Field: tf.Name, Entity: st.From + " -> " + st.To, Expected: fmt.Sprint(want), Actual: strconv.FormatInt(have, 10),
			Fix:     &Edit{File: tf.Value.Range.Filename, Start: tf.Value.Range.Start.Offset, End: tf.Value.Range.End.Offset, Text: strconv.FormatInt(have, 10)},
			Message: msg})
	}
}

// props evaluates the string properties of an expect rejected or
// conflict body.
func (r *runner) props(st *plan.Step) map[string]string {
	out := map[string]string{}
	for _, tf := range st.Fields {
		if v, err := r.value(context.Background(), tf); err == nil && v != nil {
			out[tf.Name] = fmt.Sprint(v)
		}
	}
	return out
}

func (r *runner) expectRejected(st *plan.Step) {
	label := st.Connection + "." + st.Entity
	key, ok := r.keys[recordKey(st.Connection, st.Entity, st.Record)]
	if !ok {
		key, ok = r.key(context.Background(), st.Connection, st.Entity, st.Record)
	}
	want := r.props(st)
	var seen []string
	if ok && r.report != nil {
		for _, s := range r.report.Syncs {
			for _, f := range s.Flows {
				if f.From != label {
					continue
				}
				for _, e := range f.Rejects {
					if e.Key != key {
						continue
					}
					if (want["field"] == "" || want["field"] == e.Field) && (want["code"] == "" || want["code"] == e.Diagnostic().Code) &&
						strings.Contains(e.Err.Error(), want["reason"]) {
						return
					}
					seen = append(seen, fmt.Sprintf("field %q code %q: %v", e.Field, e.Diagnostic().Code, e.Err))
				}
			}
		}
	}
	msg := fmt.Sprintf("the last run did not reject %s %s", label, st.Record)
	if len(want) > 0 {
		msg += " with " + describe(want)
	}
	if len(seen) > 0 {
		msg += "; it rejected it with " + strings.Join(seen, "; ")
	}
	r.fail(st, &Failure{Record: st.Record, Entity: label, Message: msg})
}

func describe(m map[string]string) string {
	var parts []string
	for _, k := range []string{"field", "code", "reason", "winner"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %q", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func (r *runner) expectConflict(ctx context.Context, st *plan.Step) {
	label := st.Connection + "." + st.Entity
	want := r.props(st)
	key, _ := r.key(ctx, st.Connection, st.Entity, st.Record)
	var seen []string
	for _, s := range r.plan.Syncs {
		var side plan.SideName
		switch {
		case s.Left.Connection == st.Connection && s.Left.Entity == st.Entity:
			side = plan.Left
		case s.Right.Connection == st.Connection && s.Right.Entity == st.Entity:
			side = plan.Right
		default:
			continue
		}
		cs, err := r.store.Conflicts(ctx, s.Name, 1000)
		if err != nil {
			r.fail(st, &Failure{Message: err.Error()})
			return
		}
		for _, c := range cs {
			if c.RunID != r.runID[s.Name] {
				continue
			}
			k, field := c.LeftKey, c.LeftField
			if side == plan.Right {
				k, field = c.RightKey, c.RightField
			}
			if k != key {
				continue
			}
			winner := s.Side(plan.SideName(c.Winner)).Connection
			if (want["field"] == "" || want["field"] == field) && (want["winner"] == "" || want["winner"] == winner) {
				return
			}
			seen = append(seen, fmt.Sprintf("field %q won by %s", field, winner))
		}
	}
	msg := fmt.Sprintf("the last run decided no conflict on %s %s", label, st.Record)
	if len(want) > 0 {
		msg += " with " + describe(want)
	}
	if len(seen) > 0 {
		msg += "; it decided " + strings.Join(seen, ", ")
	}
	r.fail(st, &Failure{Record: st.Record, Entity: label, Message: msg})
}

// constant reads a value written as a plain literal (a string, a whole
// number, true, false or nil) without compiling it: most of a test's
// values are, and compiling each with expr would cost more than running
// the test. Anything else is left to expr.
func constant(src string) (any, bool) {
	switch src {
	case "nil":
		return nil, true
	case "true":
		return true, true
	case "false":
		return false, true
	}
	if len(src) >= 2 && src[0] == '"' && src[len(src)-1] == '"' {
		s, err := strconv.Unquote(src)
		return s, err == nil
	}
	if n, err := strconv.ParseInt(src, 10, 64); err == nil && src[0] != '+' && (src == "0" || src[0] != '0') {
		return n, true
	}
	return nil, false
}

// literal writes a value as a .sync literal of a field of type t.
func literal(v any, t connector.Type) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(v)
	case time.Time:
		if t == connector.Date {
			return strconv.Quote(v.UTC().Format("2006-01-02"))
		}
		return strconv.Quote(v.UTC().Format(time.RFC3339))
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = literal(e, "")
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case bool, int, int64, float64:
		return fmt.Sprint(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
