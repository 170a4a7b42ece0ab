package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/diag"
)

// FormatVersion is the version of the plan JSON. A runtime refuses plans of
// another version rather than guessing what they mean.
const FormatVersion = 1

// Plan is a checked project: its connections and syncs. It is plain data,
// deterministic (everything sorted), and JSON-printable.
type Plan struct {
	Version int `json:"version"`
	// Project is the directory of the .sync files the plan was compiled
	// from, relative to the plan file (slash-separated), so that running
	// the plan uses that project's state, the one `synclang run DIR` uses;
	// "" when unknown (a plan printed to standard output). Set by
	// `synclang compile -o FILE`, not by the checker.
	Project     string        `json:"project,omitempty"`
	Connections []*Connection `json:"connections"`
	Syncs       []*Sync       `json:"syncs"`
	// Tests are the checked test blocks of *_test.sync files (test.go).
	Tests []*Test `json:"tests,omitempty"`
}

// Connection is a `connection NAME KIND { ... }` block.
type Connection struct {
	Name     string     `json:"name"`
	Kind     string     `json:"kind"`
	Settings []*Setting `json:"settings"` // sorted by name
	Range    diag.Range `json:"range"`
	// Declarations are the custom fields the block declares (attribute,
	// column), in source order. They are already part of the entities'
	// schemas the plan was checked against; they are kept (not printed) so
	// a command that connects can compare them with the service's live
	// schema (check.CompareLive).
	Declarations []*Declaration `json:"-"`
}

// Declaration is one custom field declaration: `attribute "JobTitle"
// string` declares custom.JobTitle on every entity of a People connection
// (Entity ""); `column contact.new_tier string` declares new_tier on
// Dynamics' contact.
type Declaration struct {
	Entity string         // "" for every entity of the connection
	Field  string         // the field's name in the schema ("custom.JobTitle")
	Type   connector.Type // the declared type
	Range  diag.Range     // the declaration's line
	Name   diag.Range     // the declared name
}

// Setting is one connection setting: exactly one of Value (a literal), Env
// (read from the environment at run time) or Secret (likewise, and never
// printed) is set.
type Setting struct {
	Name   string     `json:"name"`
	Value  string     `json:"value,omitempty"`
	Env    string     `json:"env,omitempty"`
	Secret string     `json:"secret,omitempty"`
	Range  diag.Range `json:"range"`
}

// SideName names one side of a sync: the entity written first in the pair
// line is Left.
type SideName string

const (
	Left  SideName = "left"
	Right SideName = "right"
)

// Other returns the opposite side.
func (s SideName) Other() SideName {
	if s == Left {
		return Right
	}
	return Left
}

// Direction is the direction of a sync's pair line.
type Direction string

const (
	Both        Direction = "both"          // A <-> B
	LeftToRight Direction = "left-to-right" // A -> B
	RightToLeft Direction = "right-to-left" // A <- B
)

// Sync is a `sync NAME { ... }` block.
type Sync struct {
	Name      string     `json:"name"`
	Range     diag.Range `json:"range"`
	Left      *Side      `json:"left"`
	Right     *Side      `json:"right"`
	Direction Direction  `json:"direction"`
	// Link ties a record on one side to one on the other; nil when the sync
	// has none.
	Link *Link `json:"link,omitempty"`
	// Match keys pair records that are not linked yet, tried in order.
	Match []*Match `json:"match,omitempty"`
	// Flows has one entry per direction data moves, Left-to-Right first.
	Flows []*Flow `json:"flows"`
	// Conflict decides which side wins when both changed a field since the
	// last sync: "newest", or a side.
	Conflict Conflict `json:"conflict"`
	// Every is the polling interval in watch mode.
	Every Duration `json:"every"`
}

// Side returns the named side.
func (s *Sync) Side(n SideName) *Side {
	if n == Left {
		return s.Left
	}
	return s.Right
}

// Conflict is a conflict policy.
type Conflict string

const (
	ConflictNewest Conflict = "newest"
	ConflictLeft   Conflict = "left"
	ConflictRight  Conflict = "right"
)

// Side is one entity of a sync.
type Side struct {
	Connection string `json:"connection"`
	Kind       string `json:"kind"`
	Entity     string `json:"entity"`
	// Key is the entity's primary key field, Modified its modification-time
	// field ("" when none).
	Key      string `json:"key"`
	Modified string `json:"modified,omitempty"`
	// Incremental and Deletes copy the entity's read capabilities.
	Incremental bool `json:"incremental,omitempty"`
	Deletes     bool `json:"deletes,omitempty"`
	// Fields are the fields the sync reads or writes on this side, sorted by
	// name, with their schema (types, lengths, options).
	Fields []*connector.Field `json:"fields"`
}

// Field returns the named field of the side.
func (s *Side) Field(name string) (*connector.Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// FieldNames returns the names in Fields.
func (s *Side) FieldNames() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// Link is `link A <-> B`: the value of field Left on the left record equals
// the value of field Right on the right one. Owner is the side whose field is
// its entity's primary key (assigned by the service); the engine writes that
// key into the other side's field when it creates or pairs records.
type Link struct {
	Left  string     `json:"left"`
	Right string     `json:"right"`
	Owner SideName   `json:"owner"`
	Range diag.Range `json:"range"`
}

// Field returns the link's field on side n.
func (l *Link) Field(n SideName) string {
	if n == Left {
		return l.Left
	}
	return l.Right
}

// Match is `match EXPR <-> EXPR`: records whose two expressions evaluate to
// equal, non-empty values are the same entity. Each expression reads exactly
// one field (LeftField, RightField), possibly through normalising functions;
// the engine looks the computed value up in the other side's field and keeps
// the candidates whose expression gives the same value.
type Match struct {
	Left       *Expr      `json:"left"`
	Right      *Expr      `json:"right"`
	LeftField  string     `json:"leftField"`
	RightField string     `json:"rightField"`
	Range      diag.Range `json:"range"`
}

// Expr returns the match expression on side n.
func (m *Match) Expr(n SideName) *Expr {
	if n == Left {
		return m.Left
	}
	return m.Right
}

// Field returns the match field on side n.
func (m *Match) Field(n SideName) string {
	if n == Left {
		return m.LeftField
	}
	return m.RightField
}

// Flow moves data one way: records read From one side are written To the
// other.
type Flow struct {
	From SideName `json:"from"`
	To   SideName `json:"to"`
	// Where filters the source records; nil means all.
	Where *Expr `json:"where,omitempty"`
	// Maps computes target fields from a source record, sorted by target.
	Maps []*FieldMap `json:"maps"`
	// Delete says what a deletion at the source does to the linked target.
	Delete DeletePolicy `json:"delete"`
}

// DeletePolicy says what happens to the target when a source record is
// deleted.
type DeletePolicy string

const (
	DeleteIgnore    DeletePolicy = "ignore"    // keep the target; forget the link
	DeletePropagate DeletePolicy = "propagate" // delete the linked target record
)

// FieldMap computes one target field.
type FieldMap struct {
	Target string `json:"target"`
	Expr   *Expr  `json:"expr"`
	// TwoWay is set for maps that come from an `a <-> b` line.
	TwoWay bool       `json:"twoWay,omitempty"`
	Range  diag.Range `json:"range"`
}

// Expr is a field expression in expr-lang syntax, evaluated over one record
// of one side.
type Expr struct {
	Source string `json:"source"`
	// Fields are the fields of the source record the expression reads.
	Fields []string `json:"fields"`
	// Type is the inferred result type; "" when the checker could not tell
	// (e.g. a conditional that may yield nil).
	Type  connector.Type `json:"type,omitempty"`
	Range diag.Range     `json:"range"`
}

// Duration is a time.Duration that prints as "1m0s" in JSON.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Connection returns the named connection.
func (p *Plan) Connection(name string) (*Connection, bool) {
	for _, c := range p.Connections {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// Sync returns the named sync.
func (p *Plan) Sync(name string) (*Sync, bool) {
	for _, s := range p.Syncs {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Encode writes the plan as indented JSON with a trailing newline.
func (p *Plan) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(p)
}

// Decode reads a plan written by Encode and checks its version.
func Decode(r io.Reader) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not a synclang plan: %w", err)
	}
	if p.Version != FormatVersion {
		return nil, fmt.Errorf("plan format version %d is not supported by this synclang (it reads version %d); compile the .sync files again", p.Version, FormatVersion)
	}
	return &p, nil
}

// Resolve returns the setting's value: the literal, or the environment
// variable named by Env or Secret, read through getenv. A variable that is
// unset or empty is an error naming the variable (never its value).
func (s *Setting) Resolve(getenv func(string) string) (string, error) {
	switch {
	case s.Env != "":
		if v := getenv(s.Env); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s: setting %s: environment variable %s is not set", s.Range, s.Name, s.Env)
	case s.Secret != "":
		if v := getenv(s.Secret); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s: setting %s: secret %s is not set (export it in the environment)", s.Range, s.Name, s.Secret)
	}
	return s.Value, nil
}
