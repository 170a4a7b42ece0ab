// Package people is the Infobip People connector: person profiles as two
// entities, customer and lead (persons of type CUSTOMER and LEAD), read and
// written through the People API v2 with an API key
// (`Authorization: App <key>`).
//
// Kind describes the connection (settings url and api_key, the standard
// schema, `attribute "NAME" TYPE` declarations of custom attributes as
// custom.NAME fields); New builds a live connector. The contract is the one
// of connectors/connector; the choices People forces are documented on Read
// (incremental polling by modifiedAt with a watermark that overlaps its
// second), Upsert (which endpoint writes what, and at what request cost),
// and Lookup (match and id filters for many keys).
//
// The custom attribute definitions are kept in a per-user cache file and
// read again once attrTTL old (attrcache.go), so a new process's quiet run
// costs the persons read alone; [Conn.Revalidate] reads them at once.
//
// Every request is paced to the endpoint's documented per-account rate
// (5/s for most, 10/s single create, 15/s match; scaled by
// Config.RateScale) and retried on 429 (People sends no Retry-After),
// 5xx and connection failures with capped, jittered exponential backoff.
// Errors are *connector.Error values carrying People's messageId and text;
// the API key never appears in them or in logs.
//
// The package emulator next to it is an in-process People API the tests,
// the demo (`synclang emulate people`) and the benchmarks run against.
package people
