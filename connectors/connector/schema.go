package connector

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Type is a field's type as the language and the engine see it. Each type has
// one canonical Go representation in a Record (see ValueOf).
type Type string

const (
	String   Type = "string"   // Go string
	Int      Type = "int"      // Go int64
	Decimal  Type = "decimal"  // Go float64
	Bool     Type = "bool"     // Go bool
	Date     Type = "date"     // Go time.Time at 00:00 UTC; wire form YYYY-MM-DD
	DateTime Type = "datetime" // Go time.Time in UTC
	ID       Type = "id"       // Go string: a GUID or a service-assigned identifier
	Choice   Type = "choice"   // Go int64, one of Field.Options
	List     Type = "list"     // Go []any of strings (tags, all emails of a person)
	Object   Type = "object"   // any JSON value (map[string]any, []any, ...)
)

// Types lists every type, in the order SPEC.md documents them.
var Types = []Type{String, Int, Decimal, Bool, Date, DateTime, ID, Choice, List, Object}

// ParseType returns the type named s (as written in .sync declarations and
// schema snapshots).
func ParseType(s string) (Type, bool) {
	for _, t := range Types {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// Option is one value of a choice (Dynamics option set) field.
type Option struct {
	Value int64  `json:"value"`
	Label string `json:"label"`
}

// Field describes one field of an entity.
type Field struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// MaxLength is the maximum length of a string value in characters; 0
	// means no limit is known.
	MaxLength int `json:"maxLength,omitempty"`
	// ReadOnly fields are set by the service (ids, timestamps, computed
	// names); the checker rejects mappings that write them.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Required fields must be set when a record is created.
	Required bool `json:"required,omitempty"`
	// Custom marks fields that come from a declaration or a schema snapshot
	// rather than the service's standard schema.
	Custom bool `json:"custom,omitempty"`
	// Lookup marks fields the connector can find records by (Lookup and
	// match keys). Primary keys are always lookup fields.
	Lookup bool `json:"lookup,omitempty"`
	// Unique fields identify at most one record (People email, phone and
	// externalId; Dynamics alternate keys).
	Unique bool `json:"unique,omitempty"`
	// CaseInsensitive string fields compare without regard to case on the
	// service (People email, every Dynamics string filter).
	CaseInsensitive bool `json:"caseInsensitive,omitempty"`
	// Options are the values of a choice field (Dynamics option sets).
	Options []Option `json:"options,omitempty"`
	// Enum lists the allowed values of a string field that is an
	// enumeration (People gender: MALE, FEMALE).
	Enum []string `json:"enum,omitempty"`
	Doc  string   `json:"doc,omitempty"`
}

// Entity describes a kind of record a connector reads and writes (Dynamics
// "contact", People "customer").
type Entity struct {
	Name string `json:"name"`
	Doc  string `json:"doc,omitempty"`
	// Key is the primary key field; Record.Key holds its value as a string.
	Key string `json:"key"`
	// Modified is the field holding the record's last modification time,
	// used for conflict resolution by "newest"; empty when there is none.
	Modified string `json:"modified,omitempty"`
	// Incremental is true when Read honours a cursor (ReadRequest.Since).
	Incremental bool `json:"incremental,omitempty"`
	// Deletes is true when incremental reads report deleted records.
	Deletes bool     `json:"deletes,omitempty"`
	Fields  []*Field `json:"fields"`
}

// Field returns the named field.
func (e *Entity) Field(name string) (*Field, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// FieldNames returns the names of all fields, sorted.
func (e *Entity) FieldNames() []string {
	names := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

// Clone returns a deep copy of the entity.
func (e *Entity) Clone() *Entity {
	c := *e
	c.Fields = make([]*Field, len(e.Fields))
	for i, f := range e.Fields {
		fc := *f
		fc.Options = append([]Option(nil), f.Options...)
		fc.Enum = append([]string(nil), f.Enum...)
		c.Fields[i] = &fc
	}
	return &c
}

// AddField adds or replaces a field, keeping Fields sorted by name.
func (e *Entity) AddField(f *Field) {
	for i, old := range e.Fields {
		if old.Name == f.Name {
			e.Fields[i] = f
			return
		}
	}
	e.Fields = append(e.Fields, f)
	sort.Slice(e.Fields, func(i, j int) bool { return e.Fields[i].Name < e.Fields[j].Name })
}

// CustomPrefix is the name prefix of fields that hold custom attributes
// in connectors that keep them in a map (People: "custom.JobTitle"). In
// field expressions the prefix is a map variable: custom.JobTitle or
// custom["Contract Expiry"].
const CustomPrefix = "custom."

// SchemaVersion is the version of the schema snapshot format.
const SchemaVersion = 1

// Schema is what Discover returns and what a schema snapshot file holds
// (`synclang schema pull` writes it; `synclang check` reads it offline).
type Schema struct {
	Version  int       `json:"version"`
	Kind     string    `json:"kind"`
	Entities []*Entity `json:"entities"`
}

// Entity returns the named entity.
func (s *Schema) Entity(name string) (*Entity, bool) {
	if s == nil {
		return nil, false
	}
	for _, e := range s.Entities {
		if e.Name == name {
			return e, true
		}
	}
	return nil, false
}

// EntityNames returns the names of all entities, sorted.
func (s *Schema) EntityNames() []string {
	var names []string
	if s != nil {
		for _, e := range s.Entities {
			names = append(names, e.Name)
		}
	}
	sort.Strings(names)
	return names
}

// Clone returns a deep copy.
func (s *Schema) Clone() *Schema {
	c := &Schema{Version: s.Version, Kind: s.Kind}
	for _, e := range s.Entities {
		c.Entities = append(c.Entities, e.Clone())
	}
	return c
}

// Normalize sorts entities and fields by name, so snapshots diff cleanly.
func (s *Schema) Normalize() {
	if s.Version == 0 {
		s.Version = SchemaVersion
	}
	sort.Slice(s.Entities, func(i, j int) bool { return s.Entities[i].Name < s.Entities[j].Name })
	for _, e := range s.Entities {
		sort.Slice(e.Fields, func(i, j int) bool { return e.Fields[i].Name < e.Fields[j].Name })
	}
}

// Merge adds the entities and fields of other to s. Fields of other replace
// fields of the same name; entities only in other are added.
func (s *Schema) Merge(other *Schema) {
	entities := make(map[string]*Entity, len(s.Entities))
	for _, e := range s.Entities {
		entities[e.Name] = e
	}
	for _, oe := range other.Entities {
		e, ok := entities[oe.Name]
		if !ok {
			e = oe.Clone()
			entities[e.Name] = e
			s.Entities = append(s.Entities, e)
			continue
		}
		// One index and one sort (in Normalize), not AddField's scan and
		// sort per field: that was quadratic, and a snapshot of 40,000
		// fields took 10 s to load.
		at := make(map[string]int, len(e.Fields))
		for i, f := range e.Fields {
			at[f.Name] = i
		}
		for _, f := range oe.Fields {
			fc := *f
			if i, ok := at[f.Name]; ok {
				e.Fields[i] = &fc
				continue
			}
			at[f.Name] = len(e.Fields)
			e.Fields = append(e.Fields, &fc)
		}
	}
	s.Normalize()
}

// Validate checks a schema read from a file.
func (s *Schema) Validate() error {
	if s.Version != SchemaVersion {
		return fmt.Errorf("schema version %d is not supported (want %d)", s.Version, SchemaVersion)
	}
	for _, e := range s.Entities {
		if e.Name == "" {
			return fmt.Errorf("an entity has no name")
		}
		if e.Key == "" {
			return fmt.Errorf("entity %q has no key", e.Name)
		}
		if _, ok := e.Field(e.Key); !ok {
			return fmt.Errorf("entity %q: key %q is not one of its fields", e.Name, e.Key)
		}
		for _, f := range e.Fields {
			if f.Name == "" {
				return fmt.Errorf("entity %q: a field has no name", e.Name)
			}
			if _, ok := ParseType(string(f.Type)); !ok {
				return fmt.Errorf("entity %q: field %q has unknown type %q (want one of %s)", e.Name, f.Name, f.Type, typeList())
			}
		}
	}
	return nil
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// ReadSchemaFile reads and validates a schema snapshot.
func ReadSchemaFile(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSchema(path, data)
}

// ParseSchema decodes and validates a schema snapshot read from path.
func ParseSchema(path string, data []byte) (*Schema, error) {
	var s Schema
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: not a schema snapshot: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.Normalize()
	return &s, nil
}

// WriteSchemaFile writes a normalized snapshot (indented, trailing newline).
func WriteSchemaFile(path string, s *Schema) error {
	c := s.Clone()
	c.Normalize()
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
