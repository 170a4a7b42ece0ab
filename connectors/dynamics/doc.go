// Package dynamics is the connector for Microsoft Dynamics 365 / Dataverse
// through its Web API (OData v4), authenticated against the Microsoft
// identity platform with golang.org/x/oauth2. [Kind] describes the
// connection kind (settings, standard schema of contact and lead, `column`
// declarations); its factory [New] builds a [Conn], which implements
// connector.Connector, Deleter, Limited, Metered and Revalidator.
//
// Discovery reads EntityDefinitions (discover.go) and keeps the result in
// a per-user cache file with RetrieveMetadataChanges' version stamp
// (schemacache.go): a new process uses it for schemaTTL after its last
// validation, then revalidates it with one request; [Conn.Revalidate]
// checks at once.
//
// Reads select only the mapped columns, page with Prefer:
// odata.maxpagesize and follow @odata.nextLink unchanged; incremental reads
// use change tracking (the deltaLink is the cursor) or, for tables without
// it, a modifiedon watermark. Lookups build their $filter with a small
// expression builder that escapes every value. Writes use CreateMultiple /
// UpdateMultiple and isolate rejected records through $batch with
// odata.continue-on-error, so each record gets its own result. Requests are
// paced under the service protection limits, retried on 429 (honouring
// Retry-After), 5xx and connection failures, and every failure comes back
// as a *connector.Error with the service's code and a hint. [Login] runs
// the interactive sign-in that auth = "refresh_token" connections use.
//
// Facts come from shared/reference/dynamics-webapi.md ("reference §N" in
// comments). The emulator in the emulator subpackage answers the same way
// the service does, for tests and demos.
package dynamics
