// Package emulator is a local stand-in for a Microsoft Dataverse (Dynamics
// 365) environment: the Web API under /api/data/v9.x/ and the Microsoft
// identity platform's /{tenant}/oauth2/v2.0/token and /authorize endpoints,
// served by one http.Handler so a client's authority is the emulator's base
// URL. Entry points: [New] and [NewTestServer]; [Emulator.Credentials] and
// [Emulator.Settings] say how to connect.
//
// It answers with the real service's shapes (reference:
// shared/reference/dynamics-webapi.md, §13 is the checklist): case-sensitive
// entity sets and properties, @odata.etag, the skiptoken paging cookie,
// change tracking with deltaLink and $deletedEntity, alternate key on
// contact.emailaddress1, If-Match / If-None-Match (null is a no-op), bulk
// actions (one transaction each), multipart $batch with change sets, the
// QualifyLead action, FetchXML queries (GET <set>?fetchXml=, see fetch.go:
// filters, order, link-entity, paging cookies, count aggregates; the rest
// of the schema is refused), lookup annotations naming the table a
// Customer lookup actually refers to, $metadata as the service's CSDL and
// EntityDefinitions generated from the same table definitions (csdl.go,
// metadata.go), RetrieveMetadataChanges with ClientVersionStamp,
// DeletedMetadataFilters and ExpiredVersionStamp (metachanges.go, as
// "Query schema definitions" and "Cache schema data" describe it), a
// $batch close-delimiter with or without a CRLF after it (RFC 2046),
// the {"error":{"code","message"}} bodies and the
// service protection limits (429 with an integer Retry-After), scalable with
// Options.TimeScale. Any well-behaved Dataverse client should work against
// it unchanged; where the emulator does not implement something the real
// service has (navigation properties, most query functions, accounts), it
// says so in its error rather than answering wrongly.
//
// Tests seed and inspect it through Insert (or Add, which returns the error
// Insert panics with), Update, Delete, Get, Rows, Len and QualifyLead (the
// verbs the People emulator uses for the same things), customize it with AddColumn, RemoveColumn and
// SetChangeTracking, and inject faults with FailNext, Throttle,
// ExpireDeltaTokens, ExpireMetadataVersionStamps, ExpireAccessTokens,
// ExpireRefreshTokens and ExpireClientSecret.
package emulator
