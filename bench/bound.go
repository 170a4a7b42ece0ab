package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
)

// The bound of an initial load is the record rate the services' documented
// limits allow for the requests the connectors must send. Per 1000 records
// of a load from Dynamics into an empty People account:
//
//   - Dynamics reads a page of up to 5000 rows per request (0.2 requests per
//     1000 records) under 6000 requests per 5 minutes per user: 20 requests/s
//     sustained, 100,000 records/s. (A load needing fewer than 6000 requests
//     fits in one window and is not slowed at all.)
//   - People creates 1000 persons per POST /people/2/persons/batch
//     (5 requests/s): 5000 records/s.
//   - People's batch create answers only failures, so the connector learns
//     the new ids with one POST /people/2/persons/match (1000 identities,
//     15 requests/s); before writing, the engine pairs each record by the
//     link field (externalId) and by each match key (email), one match
//     request per 1000 values each: 1 + 1 + len(match) = 3 requests per
//     1000 records on the 15/s endpoint: 5000 records/s. Two lookups cannot
//     share a request: one request carries 1000 identities.
//
// So the batch-create and match endpoints both allow exactly 5000
// records/s: the first flow's bound. In a two-way sync the pass then reads
// every person back (GET /people/2/persons, 1000 a page, 5 requests/s:
// 5000 records/s) to find each an echo that costs no further request; the
// flows run one after the other, so the pass's bound is
// N / (N/5000 + N/5000) = 2500 records/s.

// Bound is what the limits allow for an initial load.
type Bound struct {
	// Flow and Pass are the bounds in records per second of the first
	// flow and of the whole pass.
	Flow, Pass float64
	// Terms are the endpoints the first flow needs, Reverse the reverse
	// flow's read (nil in a one-way sync).
	Terms   []BoundTerm
	Reverse *BoundTerm
}

// BoundTerm is one rate-limited endpoint's share of a load.
type BoundTerm struct {
	Connection string
	// Scope is the limit's scope (an endpoint, or all requests).
	Scope string
	// Per1000 is the requests the connectors must send per 1000 records.
	Per1000 float64
	// Why says where those requests come from.
	Why string
	// Rate is the documented limit in requests per second (scaled).
	Rate float64
	// Records is the record rate the endpoint allows: Rate*1000/Per1000.
	Records float64
}

// Bottleneck names the terms that set the flow's bound.
func (b Bound) Bottleneck() string {
	var names []string
	for _, t := range b.Terms {
		if t.Records <= b.Flow*1.0001 {
			names = append(names, t.Scope)
		}
	}
	return strings.Join(names, " = ")
}

const (
	dynamicsPage = 5000 // rows per Dataverse page (maximum)
	peopleBatch  = 1000 // persons per People batch create, match identities, list page
)

// loadBound computes the bound of an initial load of n records for sync s
// from the connections' documented limits (connector.Limited), at the rate
// scale the emulators run with.
func loadBound(pr *project, s *plan.Sync, n int, scale float64) Bound {
	lim := pr.limits()
	find := func(conn, scope string) float64 {
		for _, l := range lim[conn] {
			if (scope == "" || l.Scope == scope) && l.Requests > 0 && l.Per > 0 {
				return float64(l.Requests) / l.Per.Seconds() * scale
			}
		}
		return math.Inf(1)
	}
	term := func(conn, scope, why string, per1000 float64, rate float64) BoundTerm {
		return BoundTerm{Connection: conn, Scope: scope, Why: why, Per1000: per1000, Rate: rate, Records: rate * 1000 / per1000}
	}
	src, dst := s.Left, s.Right
	lookups := len(s.Match)
	if s.Link != nil {
		lookups++
	}
	var b Bound
	srcLimit := "all requests"
	if l := lim[src.Connection]; len(l) > 0 {
		srcLimit = l[0].Scope
	}
	b.Terms = []BoundTerm{
		term(src.Connection, srcLimit, fmt.Sprintf("read: 1 page of %d rows", dynamicsPage), 1000.0/dynamicsPage, find(src.Connection, "")),
		term(dst.Connection, "POST /people/2/persons/batch", "create: 1 batch of 1000", 1000.0/peopleBatch, find(dst.Connection, "POST /people/2/persons/batch")),
		term(dst.Connection, "POST /people/2/persons/match",
			fmt.Sprintf("%d pairing lookups (link field, match keys) + 1 to learn the new ids, 1000 identities each", lookups),
			float64(lookups+1)*1000/peopleBatch, find(dst.Connection, "POST /people/2/persons/match")),
	}
	b.Flow = math.Inf(1)
	for _, t := range b.Terms {
		b.Flow = math.Min(b.Flow, t.Records)
	}
	flowTime := float64(n) / b.Flow
	passTime := flowTime
	if s.Direction == plan.Both {
		r := term(dst.Connection, "GET /people/2/persons", "reverse flow: read back 1 page of 1000", 1000.0/peopleBatch, find(dst.Connection, "GET /people/2/persons"))
		b.Reverse = &r
		passTime += float64(n) / r.Records
	}
	b.Pass = float64(n) / passTime
	return b
}

// endpointRate returns the documented rate (requests/s, scaled) of the
// endpoint a request counter names, and the scope it shares; for Dynamics
// every API request shares one limit, token requests none.
func endpointRate(limits []connector.Limit, kind, ep string, scale float64) (scope string, perSecond float64) {
	if kind == "dynamics" {
		if strings.Contains(ep, " identity ") || len(limits) == 0 {
			return "", 0
		}
		return limits[0].Scope, float64(limits[0].Requests) / limits[0].Per.Seconds() * scale
	}
	for _, l := range limits {
		if l.Scope == ep && l.Per > 0 {
			return l.Scope, float64(l.Requests) / l.Per.Seconds() * scale
		}
	}
	return "", 0
}

// EndpointCount is the requests a run sent to one endpoint.
type EndpointCount struct {
	Connection, Endpoint string
	Requests             int64
	// Scope and Rate are the limit the endpoint counts against and its
	// documented rate (scaled); Shared is set when other endpoints count
	// against it too (Dataverse counts all requests of a user together).
	Scope  string
	Rate   float64
	Shared bool
}

// Least is the least time the limit needs for these requests alone.
func (e EndpointCount) Least() time.Duration {
	if e.Rate == 0 {
		return 0
	}
	return time.Duration(float64(e.Requests) / e.Rate * float64(time.Second))
}

// endpointCounts lists the requests sent by endpoint, with a total row for
// each limit several endpoints share.
func endpointCounts(pr *project, sent map[string]map[string]int64, scale float64) []EndpointCount {
	lim := pr.limits()
	var out []EndpointCount
	for _, conn := range sortedKeys(sent) {
		shared := map[string]*EndpointCount{}
		for _, ep := range sortedKeys(sent[conn]) {
			n := sent[conn][ep]
			scope, r := endpointRate(lim[conn], pr.kinds[conn], ep, scale)
			e := EndpointCount{Connection: conn, Endpoint: ep, Requests: n, Scope: scope, Rate: r}
			if pr.kinds[conn] == "dynamics" && scope != "" {
				e.Shared = true
				if shared[scope] == nil {
					shared[scope] = &EndpointCount{Connection: conn, Endpoint: "(total)", Scope: scope, Rate: r}
				}
				shared[scope].Requests += n
			}
			out = append(out, e)
		}
		for _, scope := range sortedKeys(shared) {
			out = append(out, *shared[scope])
		}
	}
	return out
}
