package check

import "github.com/synclang/synclang/lang/diag"

// Code is a diagnostic code: a stable slug that tests, SPEC.md and users'
// tooling key on. Every code has a test case in testdata/ that triggers it.
type Code struct {
	Name     string
	Severity diag.Severity
	Doc      string
}

// Codes lists every diagnostic code the parser and checker emit, in the
// order SPEC.md documents them.
var Codes = []Code{
	{"limit", diag.Error, "A file is larger than 1 MiB, has a line longer than 16 KiB, or nests blocks and brackets more than 100 deep; it is refused whole, before parsing."},
	{"syntax", diag.Error, "The text is not valid .sync syntax (unknown declaration, malformed line, unterminated string, unclosed block)."},
	{"unknown-kind", diag.Error, "A connection names a kind synclang does not know (the kinds are dynamics and people)."},
	{"unknown-setting", diag.Error, "A connection sets something its kind has no setting for."},
	{"missing-setting", diag.Error, "A connection lacks a required setting."},
	{"duplicate-setting", diag.Error, "A connection sets the same setting twice."},
	{"secret-literal", diag.Error, "A secret setting (client_secret, api_key) is written as a literal, which would commit it to git; use secret(\"VAR\")."},
	{"secret-misplaced", diag.Warning, "secret(\"VAR\") in a setting that is not secret (tenant, client_id, url): its value would be sent in URLs and printed; a .sync change can use it to leak a secret."},
	{"unknown-host", diag.Warning, "A URL setting names a host that is not one of the service's (Dataverse *.dynamics.com and the sovereign clouds, the Microsoft sign-in hosts, *.api.infobip.com) nor loopback, nor in SYNCLANG_ALLOW_HOSTS; commands refuse to connect to it."},
	{"secret-env", diag.Warning, "A secret setting is read with env(); secret() keeps its value out of every output."},
	{"setting-value", diag.Error, "A setting's value is not valid: an unquoted word, a number where text is expected, a value outside the allowed ones, an http:// URL that is not loopback, an unknown function, a bad variable name, or settings that contradict each other."},
	{"unknown-declaration", diag.Error, "A connection block declares custom fields with a keyword its kind does not use (people: attribute; dynamics: column)."},
	{"unknown-type", diag.Error, "A custom field declaration names an unknown type."},
	{"duplicate-declaration", diag.Error, "A custom field is declared twice, or declares a field the schema already has."},
	{"schema-snapshot", diag.Error, "A schema snapshot file next to the .sync files cannot be read."},
	{"declaration-snapshot", diag.Warning, "A custom field declaration contradicts the connection's schema snapshot: the snapshot has the field with another type, or not at all."},
	{"declaration-live", diag.Error, "When plan, run, serve or rejects retry connect: a declared custom field has another type in the service, or the service does not have it."},
	{"snapshot-live", diag.Warning, "When plan, run, serve or rejects retry connect: the service's custom fields differ from the schema snapshot check used (a field gone, or of another type)."},
	{"duplicate-connection", diag.Error, "Two connections have the same name."},
	{"unused-connection", diag.Warning, "A connection is declared but no sync uses it."},
	{"duplicate-sync", diag.Error, "Two syncs have the same name."},
	{"missing-pair", diag.Error, "A sync block does not start with its entity pair (crm.contact <-> infobip.customer)."},
	{"unknown-connection", diag.Error, "A sync names a connection that is not declared."},
	{"unknown-entity", diag.Error, "A sync or declaration names an entity its connection does not have."},
	{"unknown-side", diag.Error, "A where, conflict or delete line names a side that is not one of the sync's two entities."},
	{"unknown-field", diag.Error, "A line names a field (or custom attribute) its entity does not have."},
	{"unknown-function", diag.Error, "An expression calls a function that does not exist."},
	{"expr-error", diag.Error, "An expression does not compile (expr-lang syntax or type error)."},
	{"type-mismatch", diag.Error, "An expression's type does not fit the field it is written to (an int into a string field, a string into a date field, ...)."},
	{"unknown-option", diag.Error, "A literal is not one of the target field's values (a Dynamics option-set value, People gender MALE/FEMALE)."},
	{"max-length", diag.Warning, "A string literal is longer than the target field allows; the service would reject the record."},
	{"readonly-field", diag.Error, "A line writes a field the service computes or assigns (fullname, createdon, People id, createdAt)."},
	{"duplicate-target", diag.Error, "Two lines write the same field in the same direction (the link counts as writing its field)."},
	{"direction-mismatch", diag.Error, "A line's arrow points against the sync's direction (a <- line in a -> sync, or <-> in a one-way sync)."},
	{"twoway-not-field", diag.Error, "A <-> line has an expression on one side; both sides of a two-way line must be plain fields."},
	{"bad-target", diag.Error, "The target of -> or <- is an expression rather than a field."},
	{"bad-link", diag.Error, "A link is not a primary key on one side and a writable lookup field on the other, or does not use <->."},
	{"missing-link", diag.Error, "A sync writes into Dynamics without `link <entity id> <-> FIELD`: every run would duplicate records in Dynamics."},
	{"no-identity", diag.Warning, "A sync has neither link nor match: every run would create the records again."},
	{"bad-match", diag.Error, "A match key is not one lookup field per side, normalised only by lower, upper, trim, email, phone or msisdn, or does not use <->."},
	{"not-bool", diag.Error, "A where condition is not a boolean expression."},
	{"duplicate-statement", diag.Error, "A sync has two link, conflict or every lines, or two where or delete lines for one side."},
	{"bad-policy", diag.Error, "A conflict or delete policy is not one of the allowed values."},
	{"no-deletes", diag.Warning, "delete propagate from a side that cannot report deletions (People has no change feed for deleted profiles)."},
	{"bad-duration", diag.Error, "An every interval is not a duration between 1s and 24h (e.g. 1m, 30s)."},
	{"empty-flow", diag.Warning, "A two-way sync has no line mapping one of its directions; that direction is left out."},
	{"unknown-sync", diag.Error, "A test names a sync the project does not have."},
	{"bad-test", diag.Error, "A test block is malformed: outside a *_test.sync file, a duplicate name, an unknown step or record name, a record given twice, no sync or no expect line, a step in the wrong form."},
}

// CodeDoc returns the documentation of a code.
func CodeDoc(name string) (Code, bool) {
	for _, c := range Codes {
		if c.Name == name {
			return c, true
		}
	}
	return Code{}, false
}
