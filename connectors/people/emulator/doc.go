// Package emulator is an in-memory Infobip People API for tests, the demo
// and benchmarks: an http.Handler ([Emulator]) that answers the person
// endpoints the way the reference (shared/reference/infobip-people.md, from
// Infobip's OpenAPI spec 3.210.0) documents them, on their real paths.
//
// Served (each with its documented per-second limit, see RateLimits):
//
//	GET|POST|PUT|PATCH|DELETE /people/2/persons       one person by identifier+type (or legacy email/phone/externalId), or the list
//	PUT|PATCH|DELETE /people/2/persons/contactInformation
//	POST|PATCH|DELETE /people/2/persons/batch         ≤1000, 200 or 207 with the failed items
//	POST /people/2/persons/match
//	PUT|PATCH /people/3/persons/upsert                ≤1000, 207 with CREATED / UPDATED / NOT_MODIFIED
//	GET|POST /people/2/customAttributes, GET|DELETE /people/2/customAttributes/{name}
//	GET|POST /people/2/tags, GET|DELETE /people/2/tags/{name}, PATCH|DELETE /people/2/tags/{name}/persons
//
// Persons follow IamPersonV2: types CUSTOMER and LEAD, timestamps
// yyyy-MM-ddTHH:mm:ss (UTC, from Options.Now), email (case-insensitive),
// phone and externalId unique across all persons, PUT overwriting and PATCH
// appending tags and contacts, custom attributes validated against their
// definitions. v2 errors use the legacy envelope
// {"requestError":{"serviceException":{messageId,text,validationErrors}}};
// v3 errors use {code,message,details,index}. With Limits "real" every
// operation answers 429 past its rate (fixed one-second windows, shortened
// by TimeScale) and sends no Retry-After, as People does.
//
// Where the reference marks behaviour UNCERTAIN, the emulator takes the
// analogue it recommends and says so in a comment next to the code. Not
// served: POST /people/3/persons/merge (the merge rules are only described
// in product docs), companies, lists, segments, events, and the XML
// content type.
//
// Start one with [New] (in a process: `synclang emulate people`) or
// [NewTestServer]; seed and inspect it with DefineAttribute, Insert, Update,
// Delete, Get and Persons; inject faults with FailNext and Throttle.
package emulator
