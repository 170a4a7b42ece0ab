package dynamics

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Cursor tokens: "delta:" + the deltaLink of change tracking, or "wm:" +
// base64url(JSON) of a modifiedon watermark for tables without change
// tracking.
const (
	deltaPrefix     = "delta:"
	watermarkPrefix = "wm:"
)

// watermarkOverlap is how far before the watermark an incremental read of
// a table without change tracking starts: modifiedon is stamped when a
// change is made, not when its transaction commits, so a change can show up
// with a time older than one already read. Records re-read inside the
// overlap are dropped when their version number was already emitted.
const watermarkOverlap = 5 * time.Minute

// page is one page of a collection or delta response.
type page struct {
	Value     []map[string]any `json:"value"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
}

// Read emits an entity's records, in full or since a cursor: by change
// tracking (the deltaLink is the cursor; $deletedEntity rows become deleted
// records) when the table tracks changes, else by a modifiedon watermark.
// An expired delta token (0x80044352) restarts with a full read whose
// batches carry Resync.
func (c *Conn) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ti, err := c.table(ctx, req.Entity)
	if err != nil {
		return err
	}
	c.mu.Lock()
	tracked := ti.changeTracking
	c.mu.Unlock()
	// The watermark de-duplicates by version number, so only reads of
	// tables without change tracking select it unasked.
	fields, err := selectFields(ti.ent, req.Fields, !tracked)
	if err != nil {
		return err
	}
	pageSize := 5000 // the service's maximum page (reference §4)
	if req.BatchSize > 0 && req.BatchSize < pageSize {
		pageSize = req.BatchSize
	}
	r := &reader{c: c, ti: ti, fields: fields, asked: req.Fields, pageSize: pageSize, emit: emit}
	tok := req.Since.Token
	switch {
	case tok == "":
		return r.full(ctx)
	case strings.HasPrefix(tok, deltaPrefix):
		err := r.delta(ctx, strings.TrimPrefix(tok, deltaPrefix))
		if k := connector.KindOf(err); (k == connector.ErrorExpiredCursor || isCTNotEnabled(err)) && !r.emitted {
			c.log.Info("delta token no longer accepted; reading in full", "entity", req.Entity)
			r.resync = true
			return r.full(ctx)
		}
		return err
	case strings.HasPrefix(tok, watermarkPrefix):
		wm, err := parseWatermark(strings.TrimPrefix(tok, watermarkPrefix))
		if err != nil {
			r.resync = true
			return r.full(ctx)
		}
		return r.sinceWatermark(ctx, wm)
	}
	if !ti.ent.Incremental {
		return fmt.Errorf("dynamics: incremental read of %s: %w", req.Entity, connector.ErrUnsupported)
	}
	// A cursor of another form (saved by an older version, or edited):
	// start over.
	r.resync = true
	return r.full(ctx)
}

func isCTNotEnabled(err error) bool {
	var e *connector.Error
	return errors.As(err, &e) && e.Code == codeCTNotEnabled
}

// selectFields is the $select list: the fields asked for (all of the
// entity's when nil), plus the key and modifiedon, and versionnumber when
// withVersion.
func selectFields(ent *connector.Entity, asked []string, withVersion bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if asked == nil {
		for _, f := range ent.Fields {
			add(f.Name)
		}
	}
	for _, n := range asked {
		if _, ok := ent.Field(n); !ok {
			return nil, &connector.Error{Kind: connector.ErrorConfig, Service: "dynamics", Op: "read " + ent.Name,
				Message: fmt.Sprintf("table %s has no column %q", ent.Name, n), Hint: "check the column name, or run `synclang schema pull`"}
		}
		add(n)
	}
	add(ent.Key)
	add(ent.Modified)
	if _, ok := ent.Field("versionnumber"); ok && withVersion {
		add("versionnumber")
	}
	return out, nil
}

type reader struct {
	c        *Conn
	ti       *tableInfo
	fields   []string
	asked    []string
	pageSize int
	emit     func(connector.Batch) error
	resync   bool
	emitted  bool
	pages    httpx.Pages // stops a service that pages forever
}

// follow returns the page's nextLink after checking that paging makes
// progress: a nextLink seen before in this read, or pages that bring no
// new record, end the read with an error naming the entity, instead of
// requests without end against the shared service quota.
func (r *reader) follow(p page, recs []connector.Record) (string, error) {
	keys := make([]string, len(recs))
	for i, rec := range recs {
		keys[i] = rec.Key
	}
	r.pages.What = r.ti.ent.Name
	if err := r.pages.Next(p.NextLink, keys); err != nil {
		return "", &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: r.op(), Message: err.Error(), Err: err}
	}
	return p.NextLink, nil
}

func (r *reader) prefer(track bool) http.Header {
	h := http.Header{}
	h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(r.pageSize))
	if track {
		h.Add("Prefer", "odata.track-changes")
	}
	return h
}

func (r *reader) op() string { return "read " + r.ti.ent.Name }

// get fetches one page.
func (r *reader) get(ctx context.Context, u string, track bool) (page, http.Header, error) {
	if err := r.c.sameService(u); err != nil {
		return page{}, nil, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: r.op(), Message: err.Error()}
	}
	resp, data, err := r.c.call(ctx, r.op(), http.MethodGet, u, nil, r.prefer(track))
	if err != nil {
		return page{}, nil, err
	}
	var p page
	if err := decodePage(data, &p); err != nil {
		return page{}, nil, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: r.op(), Message: "the answer is not the JSON expected: " + err.Error()}
	}
	return p, resp.Header, nil
}

// records converts a page's rows; deleted entries become deleted records,
// and rows that cannot be converted become rejects.
func (r *reader) records(p page) ([]connector.Record, []connector.RecordError) {
	recs, _, rejects := r.recordsVersions(p)
	return recs, rejects
}

// recordsVersions is records with each record's versionnumber (0 for
// deleted records or when the column is absent). A row whose key is there
// but a column of which holds a value of the wrong type is a reject (see
// connector.Batch.Rejects) and has no entry in recs; a row without a key
// is returned as a record without one, which the engine rejects.
func (r *reader) recordsVersions(p page) ([]connector.Record, []int64, []connector.RecordError) {
	recs := make([]connector.Record, 0, len(p.Value))
	versions := make([]int64, 0, len(p.Value))
	var rejects []connector.RecordError
	fields := resolveFields(r.ti.ent, r.outFields())
	for _, row := range p.Value {
		ctxURL, _ := row["@odata.context"].(string)
		_, hasKey := row[r.ti.ent.Key]
		if strings.HasSuffix(ctxURL, "/$deletedEntity") || (!hasKey && row["reason"] == "deleted") {
			id, _ := row["id"].(string)
			if id == "" {
				continue
			}
			recs = append(recs, connector.Record{Key: strings.ToLower(id), Deleted: true})
			versions = append(versions, 0)
			continue
		}
		rec, err := recordOf(r.ti.ent, row, fields)
		if ce, ok := err.(*columnError); ok && rec.Key != "" {
			rejects = append(rejects, connector.RecordError{Key: rec.Key, Field: ce.column, Modified: rec.Modified,
				Err: &connector.Error{Kind: connector.ErrorInvalid, Service: "dynamics", Op: r.op(), Message: err.Error(),
					Hint: "correct the value in Dynamics (or the column's type), then run again"}})
			continue
		}
		var v int64
		if n, ok := row["versionnumber"].(json.Number); ok {
			v, _ = n.Int64()
		}
		recs = append(recs, rec)
		versions = append(versions, v)
	}
	return recs, versions, rejects
}

// outFields are the fields a record carries: those asked for (nil = all)
// plus the key and modification time, as ReadRequest.Fields says.
func (r *reader) outFields() []string {
	if r.asked == nil {
		return nil
	}
	out := append([]string{}, r.asked...)
	return append(out, r.ti.ent.Key, r.ti.ent.Modified)
}

func (r *reader) send(ctx context.Context, b connector.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.Resync = r.resync
	r.emitted = true
	return r.emit(b)
}

func (r *reader) collectionURL(extra ...queryOption) string {
	opts := append([]queryOption{{"$select", strings.Join(r.fields, ",")}}, extra...)
	return r.c.apiURL + r.ti.set + "?" + encodeQuery(opts...)
}

// full reads every record. With change tracking the read asks for it, and
// the last page's deltaLink is the cursor; without, the cursor is a
// watermark at the server's time of the first page.
func (r *reader) full(ctx context.Context) error {
	r.c.mu.Lock()
	track := r.ti.changeTracking
	r.c.mu.Unlock()
	u := r.collectionURL()
	var serverTime time.Time
	seen := seenSet{}
	for first := true; ; first = false {
		p, hdr, err := r.get(ctx, u, track)
		if err != nil && track && first && isCTNotEnabled(err) {
			// The table stopped tracking changes: use the watermark.
			r.c.mu.Lock()
			r.ti.changeTracking = false
			r.c.mu.Unlock()
			track = false
			p, hdr, err = r.get(ctx, u, false)
		}
		if err != nil {
			return err
		}
		if first {
			serverTime = serverDate(hdr)
		}
		recs, versions, rejects := r.recordsVersions(p)
		if !track {
			for i, rec := range recs {
				seen.add(rec, versions[i])
			}
		}
		b := connector.Batch{Records: recs, Rejects: rejects}
		last := p.NextLink == ""
		if last {
			switch {
			case p.DeltaLink != "":
				b.Next = connector.Cursor{Token: deltaPrefix + p.DeltaLink}
			case r.ti.ent.Incremental:
				// No deltaLink (change tracking off): a watermark at the
				// server's time when the read began.
				b.Next = watermarkCursor(serverTime, seen.since(serverTime.Add(-watermarkOverlap)))
			}
		}
		if err := r.send(ctx, b); err != nil {
			return err
		}
		if last {
			return nil
		}
		if u, err = r.follow(p, recs); err != nil { // followed unchanged (reference §4)
			return err
		}
	}
}

// delta reads the changes since a deltaLink.
func (r *reader) delta(ctx context.Context, link string) error {
	u, err := r.rebaseDelta(link)
	if err != nil {
		return &connector.Error{Kind: connector.ErrorExpiredCursor, Service: "dynamics", Op: r.op(), Message: err.Error()}
	}
	for {
		p, _, err := r.get(ctx, u, true)
		if err != nil {
			return err
		}
		recs, rejects := r.records(p)
		b := connector.Batch{Records: recs, Rejects: rejects}
		if p.NextLink == "" {
			if p.DeltaLink == "" {
				return &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: r.op(), Message: "the change-tracking answer has neither a nextLink nor a deltaLink"}
			}
			b.Next = connector.Cursor{Token: deltaPrefix + p.DeltaLink}
		}
		if err := r.send(ctx, b); err != nil {
			return err
		}
		if p.NextLink == "" {
			return nil
		}
		if u, err = r.follow(p, recs); err != nil {
			return err
		}
	}
}

// rebaseDelta checks that a deltaLink belongs to this environment and table
// and, when the read asks for other columns than the link's $select, puts
// the current $select in (the delta token is independent of the columns).
func (r *reader) rebaseDelta(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, r.c.apiURL+r.ti.set+"?") {
		return "", fmt.Errorf("the saved cursor is not a deltaLink of %s%s", r.c.apiURL, r.ti.set)
	}
	q := u.Query()
	tok := q.Get("$deltatoken")
	if tok == "" {
		return "", fmt.Errorf("the saved cursor has no $deltatoken")
	}
	if q.Get("$select") == strings.Join(r.fields, ",") {
		return link, nil
	}
	return r.collectionURL(queryOption{"$deltatoken", tok}), nil
}

// ---- modifiedon watermark ----

type watermark struct {
	At time.Time `json:"at"`
	// Seen maps the ids of records emitted inside the overlap before At to
	// their versionnumber.
	Seen map[string]int64 `json:"seen,omitempty"`
}

func watermarkCursor(at time.Time, seen map[string]int64) connector.Cursor {
	data, _ := json.Marshal(watermark{At: at.UTC(), Seen: seen})
	return connector.Cursor{Token: watermarkPrefix + base64.RawURLEncoding.EncodeToString(data)}
}

func parseWatermark(s string) (watermark, error) {
	var wm watermark
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(data, &wm)
	}
	if err == nil && wm.At.IsZero() {
		err = fmt.Errorf("no time")
	}
	return wm, err
}

// seenSet remembers the version and modification time of records read.
type seenSet map[string]seenRecord

type seenRecord struct {
	version  int64
	modified time.Time
}

func (s seenSet) add(rec connector.Record, version int64) {
	if !rec.Deleted {
		s[rec.Key] = seenRecord{version, rec.Modified}
	}
}

// since returns the versions of the records modified at or after t.
func (s seenSet) since(t time.Time) map[string]int64 {
	out := map[string]int64{}
	for id, r := range s {
		if !r.modified.Before(t) {
			out[id] = r.version
		}
	}
	return out
}

// serverDate is the response's Date header (the server's clock), or now.
func serverDate(h http.Header) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}

// sinceWatermark reads records modified at or after the watermark minus the
// overlap, in modifiedon order, dropping those already emitted at the same
// version.
//
// The watermark never passes the service's clock (the Date header of the
// answer): a record whose modifiedon is ahead of it (a clock-skewed import
// stamped 2099) is emitted with a warning naming it by id, but the next
// read starts no later than the service's time, or every later change
// would sit below the watermark until 2099. The cursor's Seen holds the
// record's version (it is modified after the next read's start), so it is
// emitted again only when it changes. A saved watermark ahead of the
// service's clock (a cursor from before this rule, a clock set back) is
// not trusted: the read starts over in full, its batches marked Resync.
func (r *reader) sinceWatermark(ctx context.Context, wm watermark) error {
	ent := r.ti.ent
	if ent.Modified == "" {
		return fmt.Errorf("dynamics: incremental read of %s (no modifiedon column): %w", ent.Name, connector.ErrUnsupported)
	}
	from := wm.At.Add(-watermarkOverlap)
	filter := ent.Modified + " ge " + from.UTC().Format(time.RFC3339)
	u := r.collectionURL(queryOption{"$filter", filter}, queryOption{"$orderby", ent.Modified + " asc," + ent.Key + " asc"})
	next := wm.At
	seen := seenSet{}
	for first := true; ; first = false {
		p, hdr, err := r.get(ctx, u, false)
		if err != nil {
			return err
		}
		now := serverDate(hdr).Add(time.Second) // the Date header is truncated to the second
		if first && wm.At.After(now) {
			r.c.log.Warn("the saved modifiedon watermark is ahead of the service's clock; reading in full",
				"entity", ent.Name, "watermark", wm.At.Format(time.RFC3339), "service time", now.Format(time.RFC3339))
			r.resync = true
			return r.full(ctx)
		}
		recs, versions, rejects := r.recordsVersions(p)
		out := make([]connector.Record, 0, len(recs))
		for i, rec := range recs {
			seen.add(rec, versions[i])
			if prev, ok := wm.Seen[rec.Key]; ok && prev == versions[i] && prev != 0 {
				continue // emitted by the previous read, unchanged since
			}
			next = r.advance(next, rec.Key, rec.Modified, now)
			out = append(out, rec)
		}
		for _, rj := range rejects {
			next = r.advance(next, rj.Key, rj.Modified, now)
		}
		b := connector.Batch{Records: out, Rejects: rejects}
		if p.NextLink == "" {
			// This read returned every record modified since from, and the
			// next read starts at next minus the overlap (not before from).
			b.Next = watermarkCursor(next, seen.since(next.Add(-watermarkOverlap)))
		}
		if err := r.send(ctx, b); err != nil {
			return err
		}
		if p.NextLink == "" {
			return nil
		}
		if u, err = r.follow(p, recs); err != nil {
			return err
		}
	}
}

// advance is the watermark after a record modified at mod was read from an
// answer sent at now: the newer of next and mod, but never past now (a
// record dated ahead of the service's clock is warned about instead).
func (r *reader) advance(next time.Time, key string, mod, now time.Time) time.Time {
	if mod.After(now) {
		r.c.log.Warn("a record's modifiedon is ahead of the service's clock; it is read, but the watermark does not move past the service's time",
			"entity", r.ti.ent.Name, "record", key, "modifiedon", mod.Format(time.RFC3339), "service time", now.Format(time.RFC3339))
		mod = now
	}
	if mod.After(next) {
		return mod
	}
	return next
}

// sameService checks that a link the service returned (nextLink,
// deltaLink) points at the environment, so the access token is never sent
// elsewhere. The Web API may answer on its alias host (org.api.crm.dynamics.com
// for org.crm.dynamics.com), so any host under dynamics.com is accepted when
// the environment itself is one.
func (c *Conn) sameService(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("the service returned a link that is not a URL")
	}
	env, _ := url.Parse(c.set.url)
	if strings.EqualFold(u.Scheme, env.Scheme) && strings.EqualFold(u.Host, env.Host) {
		return nil
	}
	ms := func(h string) bool { return strings.HasSuffix(strings.ToLower(h), ".dynamics.com") }
	if u.Scheme == "https" && ms(u.Hostname()) && ms(env.Hostname()) {
		return nil
	}
	return fmt.Errorf("the service returned a link to %s://%s, not to %s; not following it", u.Scheme, u.Host, c.set.url)
}

// countCap is where Dataverse stops counting: $count answers at most 5000
// (reference §4).
const countCap = 5000

// Count returns the number of rows of an entity's table with GET
// {set}/$count (connector.Counter). Dataverse caps that answer at 5000; a
// table at the cap is counted again with the RetrieveTotalRecordCount
// function, which answers from a snapshot "from within the last 24 hours"
// (RetrieveTotalRecordCountRequest): an approximation (exact is false),
// at least the 5000 $count saw. When that function fails the count is 0,
// not exact: the service told a lower bound only.
func (c *Conn) Count(ctx context.Context, entity string) (int, bool, error) {
	ti, err := c.table(ctx, entity)
	if err != nil {
		return 0, false, err
	}
	op := "count " + entity
	_, body, err := c.call(ctx, op, http.MethodGet, c.apiURL+ti.set+"/$count", nil, nil)
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))))
	if err != nil || n < 0 {
		return 0, false, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: op, Message: fmt.Sprintf("the answer %.40q is not a count", body)}
	}
	if n < countCap {
		return n, true, nil
	}
	u := c.apiURL + "RetrieveTotalRecordCount(EntityNames=@p1)?@p1=" + url.QueryEscape(`["`+strings.ToLower(entity)+`"]`)
	_, body, err = c.call(ctx, op+" (RetrieveTotalRecordCount)", http.MethodGet, u, nil, nil)
	if err != nil {
		c.log.Debug("dynamics: RetrieveTotalRecordCount failed; no total for the progress line", "entity", entity, "error", err)
		return 0, false, nil
	}
	var resp struct {
		EntityRecordCountCollection struct {
			Keys   []string `json:"Keys"`
			Values []int64  `json:"Values"`
		} `json:"EntityRecordCountCollection"`
	}
	if json.Unmarshal(body, &resp) != nil {
		return 0, false, nil
	}
	rc := resp.EntityRecordCountCollection
	for i, k := range rc.Keys {
		if strings.EqualFold(k, entity) && i < len(rc.Values) {
			return max(int(rc.Values[i]), countCap), false, nil
		}
	}
	return 0, false, nil
}
