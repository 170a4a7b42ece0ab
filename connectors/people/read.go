package people

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
)

// Read emits the persons of the entity's type.
//
// People has no change feed, so reads walk GET
// /people/2/persons?orderBy=modifiedAt:desc filtered by type. A full read
// (no cursor) pages the whole list by page number with includeTotalCount,
// following the count (walkFull): persons written during the read (a
// two-way sync writes links back into the persons it has read) shift none
// of the pages still to read, so each page is asked for once. Its cursor
// starts two seconds before the read began, with the versions read from
// then on. An incremental read, and a full read when the account sends no
// totalCount, narrows by modifiedAt >= the cursor's watermark second:
//
//   - The walk never pages through a range that can shift under it: each
//     request asks for page 1 of [watermark, upper] and, when the page is
//     full, the next request lowers upper to the oldest second on the page.
//     Persons deleted or changed meanwhile cannot push others past a page
//     boundary unseen.
//   - Only a second holding more persons than a page (bulk writes put
//     5000 in one second) is paged; its pages carry includeTotalCount, and
//     the second is walked again if its count changed or does not match the
//     persons seen.
//   - modifiedAt has second precision, so the cursor keeps the watermark
//     second and a hash of every person read in it. The next read asks for
//     modifiedAt >= that second again and skips a person only if its hash is
//     unchanged: nobody changed in the same second is skipped, nobody
//     unchanged is re-emitted. Once the service's clock (the Date header of
//     the walk's first answer) is two seconds past the watermark second,
//     nobody can be modified in it any more: the cursor then moves to the
//     next second and holds no hashes. A poll with no change costs one
//     request (more only while over 1000 persons share a watermark second
//     that is not over yet, as after a bulk write; the cursor then also
//     holds their ids, about 30 bytes each).
//
// The watermark never passes the service's own clock: a person whose
// modifiedAt is ahead of the Date of the answer that carried it (clock skew,
// a bad import: modifiedAt 2099) is emitted, with a warning naming it by
// id, but does not move the cursor, or every later change of any other
// person would sit below the watermark and never be read again. The cursor
// keeps such persons' hashes, so each is emitted again only when it changes
// (and warned about only then). A saved cursor ahead of the service's clock
// is refused with ErrorExpiredCursor before anything is emitted (the engine
// then reads in full): it can only come from a read before this rule or a
// clock set back, and continuing from it would skip every change until the
// clock caught up.
//
// The walk assumes a person becomes visible in the list in the second its
// modifiedAt names. Should the list lag behind writes (a search index
// refreshed later), a person written just before a poll could appear after
// the watermark passed its second; the reference documents no such lag.
//
// Batches are emitted as pages arrive, with a zero Next (the walk goes
// newest first, so no earlier point is a checkpoint); the last batch
// carries the cursor. When the account refuses or ignores modifiedAt filters
// (the reference marks them UNCERTAIN), the connector falls back to paging
// the type-filtered list newest first until it passes the watermark; that
// fallback can miss a person when others are deleted during the walk.
func (c *Conn) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	typ, err := personType(req.Entity)
	if err != nil {
		return err
	}
	cur, err := decodeCursor(req.Since, req.Entity)
	if err != nil {
		return err
	}
	defs, err := c.attributes(ctx)
	if err != nil {
		return err
	}
	size := req.BatchSize
	if size <= 0 || size > c.tune.pageSize {
		size = c.tune.pageSize
	}
	w := &walker{c: c, ctx: ctx, entity: req.Entity, typ: typ, fields: req.Fields, defs: defs, emit: emit, size: size,
		limit: c.tune.pageSize, done: map[int64]doneEntry{}, atMax: map[int64]uint64{}}
	if cur.Watermark != "" {
		w.lower, _ = time.Parse(timeLayout, cur.Watermark)
		w.hasLower = true
		w.prev = cur.Seen
		w.maxMod = w.lower
	}
	w.prevAhead = cur.Ahead
	if err := w.run(); err != nil {
		return err
	}
	return w.finish()
}

// cursor is the decoded Cursor token.
type cursor struct {
	Version int    `json:"v"`
	Entity  string `json:"e"`
	// Watermark is the newest modifiedAt second read (yyyy-MM-ddTHH:mm:ss,
	// UTC); "" when nothing was read yet.
	Watermark string `json:"w,omitempty"`
	// Seen maps the ids of the persons read in the watermark second (after
	// a full read: from it on) to a hash of what was read.
	Seen map[int64]uint64 `json:"s,omitempty"`
	// Ahead maps the ids of the persons read whose modifiedAt was ahead
	// of the service's clock to a hash of what was read.
	Ahead map[int64]uint64 `json:"f,omitempty"`
}

func decodeCursor(c connector.Cursor, entity string) (cursor, error) {
	if c.IsZero() {
		return cursor{}, nil
	}
	bad := func(why string) error {
		return &connector.Error{Kind: connector.ErrorExpiredCursor, Service: service, Op: "read " + entity,
			Message: "the saved cursor is not valid: " + why, Hint: "reset the sync's cursor to read everything again"}
	}
	data, err := base64.RawURLEncoding.DecodeString(c.Token)
	if err != nil {
		return cursor{}, bad("not base64")
	}
	var cur cursor
	if err := json.Unmarshal(data, &cur); err != nil {
		return cursor{}, bad("not JSON")
	}
	if cur.Version != 1 {
		return cursor{}, bad(fmt.Sprintf("version %d is not supported", cur.Version))
	}
	if cur.Entity != entity {
		return cursor{}, bad(fmt.Sprintf("it belongs to entity %q", cur.Entity))
	}
	if cur.Watermark != "" {
		if _, err := time.Parse(timeLayout, cur.Watermark); err != nil {
			return cursor{}, bad("bad watermark")
		}
	}
	return cur, nil
}

func (cur cursor) encode() connector.Cursor {
	cur.Version = 1
	data, _ := json.Marshal(cur)
	return connector.Cursor{Token: base64.RawURLEncoding.EncodeToString(data)}
}

// walker is the state of one Read.
type walker struct {
	c      *Conn
	ctx    context.Context
	entity string
	typ    string
	fields []string
	defs   map[string]string
	emit   func(connector.Batch) error
	size   int // records per emitted batch
	limit  int // persons per request

	hasLower bool
	lower    time.Time        // the cursor's watermark second
	prev     map[int64]uint64 // the cursor's Seen

	done    map[int64]doneEntry // persons read in this walk that it may meet again
	maxMod  time.Time           // newest second read
	atMax   map[int64]uint64    // persons read in maxMod
	cap     time.Time           // when set, a second whose completeness could not be verified
	pending []connector.Record
	rejects []connector.RecordError // persons read that cannot be converted
	// began is the service's time (Date header) of the walk's first
	// answer; zero when unknown.
	began time.Time
	// ahead holds the persons read whose modifiedAt is ahead of the
	// service's clock (see Read); prevAhead is the cursor's.
	ahead, prevAhead map[int64]uint64
	// unverified says a full walk could not verify it read everyone: the
	// cursor then makes the next read a full one.
	unverified bool
	// cut is a full walk's fullCut, and fromCut the persons it read
	// modified from then on, with the hash of the version read.
	cut     time.Time
	fromCut map[int64]uint64
}

// errNoDateFilter says the account does not filter by modifiedAt.
var errNoDateFilter = errors.New("modifiedAt filter not supported")

func (w *walker) run() error {
	if !w.hasLower && !w.c.noTotalCount.Load() {
		err := w.walkFull()
		if !errors.Is(err, errNoTotalCount) {
			return err
		}
		w.c.noTotalCount.Store(true)
		w.c.logger.Warn("people: the account sends no totalCount with persons; full reads walk by modifiedAt ranges")
	}
	if !w.c.noDateFilter.Load() {
		err := w.walkRanges()
		if !errors.Is(err, errNoDateFilter) {
			return err
		}
		w.c.noDateFilter.Store(true)
		w.c.logger.Warn("people: the account does not filter persons by modifiedAt; reading newest first without the filter")
	}
	return w.walkScan()
}

// errNoTotalCount says list answers carry no totalCount.
var errNoTotalCount = errors.New("no totalCount in list answers")

// walkFull is the full read (no cursor): the type-filtered list newest
// first, page after page, each page with includeTotalCount.
//
// Call the persons modified before cut (two seconds before the service's
// clock on the first answer, the margin of closed) the old part of the
// list. The old part follows every person modified since (the list goes
// newest first), keeps its order, and nobody enters it: a create, a
// change, a type changed into the entity all land in front of it. It only
// loses persons (deleted, changed, or of another type now). So between two
// answers the position of the first old person not yet read moves by the
// persons that landed in front minus the ones that left before it, and the
// count moves by the persons that landed minus every one that left: the
// count's change never overstates the move. The walk moves its place by
// the count's change and, when the page asked for starts past that place,
// goes back for the persons it may have shifted past, as walkSecond does.
// Persons modified during the walk (a two-way sync writing links back into
// the persons it has read) move from before the place to the front: the
// count does not change and neither does the place, so the walk reads
// each page once, where the narrowing walk pages a bulk-written second
// again for every person that leaves it. Persons in front of the old part
// can be shifted past unseen, so the cursor is capped at cut (see capAt):
// the next read emits everyone modified from then on again, and the
// engine counts the unchanged ones unchanged.
//
// Requests are bounded (four times the pages, plus four); past that, or
// when the service stops sending totalCount, the read cannot be verified
// and the cursor makes the next read a full one. A first answer without
// totalCount returns errNoTotalCount before anything is emitted.
func (w *walker) walkFull() error {
	started := time.Now()
	offset, prev, budget := 0, -1, -1
	pages := w.pages()
	// The walk goes back at most a page or two: done keeps the persons of
	// the last two answers only, so memory does not grow with the list.
	// (Anyone re-read past that is emitted again and found unchanged.)
	lastSeen := map[int64]int{}
	var recent [][]int64
	for req := 0; ; req++ {
		if budget >= 0 && req >= budget {
			w.unverified = true
			break
		}
		page := offset/w.limit + 1
		start := (page - 1) * w.limit
		items, count, err := w.fetch(nil, nil, page, true)
		if err != nil {
			return err
		}
		if count < 0 {
			if req == 0 {
				return errNoTotalCount
			}
			w.unverified = true
			count = prev
		}
		if budget < 0 {
			budget = 4*(count/w.limit+1) + 4
		}
		if err := w.progress(&pages, items); err != nil {
			return err
		}
		// Where the first old person not yet read can be now, at the
		// earliest.
		known := offset
		if prev >= 0 {
			known = max(0, offset+count-prev)
		}
		prev = count
		ids := make([]int64, len(items))
		for i, p := range items {
			ids[i] = p.ID
			lastSeen[p.ID] = req
		}
		recent = append(recent, ids)
		if len(recent) > 2 {
			for _, id := range recent[0] {
				if lastSeen[id] <= req-2 {
					delete(lastSeen, id)
					delete(w.done, id)
				}
			}
			recent = recent[1:]
		}
		if req == 0 {
			w.cut = w.fullCut(started)
			w.fromCut = map[int64]uint64{}
		}
		for _, p := range items {
			if !p.ahead && !p.Modified.Before(w.cut) {
				w.fromCut[p.ID] = p.hash
			}
		}
		if err := w.consumeAll(items); err != nil {
			return err
		}
		if start > known {
			offset = known
			continue
		}
		offset = max(known, start+len(items))
		if len(items) < w.limit || offset >= count {
			break
		}
	}
	return nil
}

// fullCut is the second before which a full walk's first answer was
// certainly given: two seconds before its Date (the margin of closed), or
// without a Date five minutes before the walk started, for skew.
func (w *walker) fullCut(started time.Time) time.Time {
	if w.began.IsZero() {
		return started.Add(-5 * time.Minute).UTC().Truncate(time.Second)
	}
	return w.began.Add(-2 * time.Second).UTC().Truncate(time.Second)
}

// walkRanges is the narrowing walk (see Read).
func (w *walker) walkRanges() error {
	var upper *time.Time
	pages := w.pages()
	for {
		lo := w.lowerPtr()
		items, _, err := w.fetch(lo, upper, 1, false)
		if err != nil {
			return err
		}
		if err := w.progress(&pages, items); err != nil {
			return err
		}
		if err := w.consumeAll(items); err != nil {
			return err
		}
		if len(items) < w.limit {
			return nil
		}
		top, bottom := items[0].Modified, items[len(items)-1].Modified
		if !top.Equal(bottom) {
			// Everything newer than bottom is read; bottom's second may
			// continue on the next page, so the next request starts at its
			// top.
			upper = &bottom
			w.forgetAfter(bottom)
			continue
		}
		if err := w.walkSecond(bottom); err != nil {
			return err
		}
		if w.hasLower && !bottom.After(w.lower) {
			return nil
		}
		next := bottom.Add(-time.Second)
		upper = &next
		w.forgetAfter(next)
	}
}

// doneEntry is a person read in the walk: the hash of the version read
// and its modifiedAt second (Unix).
type doneEntry struct {
	hash uint64
	mod  int64
}

// forgetAfter drops the persons read in seconds after upper from done: the
// walk's requests from now on ask for modifiedAt <= upper, and a person
// changed meanwhile moves to a newer second, so none of them comes back.
// done then holds about a second's worth of persons, not every person
// read: a full read of a million persons would otherwise keep a million
// entries. (The scan without modifiedAt filters keeps them all: its pages
// shift.)
func (w *walker) forgetAfter(upper time.Time) {
	u := upper.Unix()
	for id, d := range w.done {
		if d.mod > u {
			delete(w.done, id)
		}
	}
}

func (w *walker) lowerPtr() *time.Time {
	if w.hasLower {
		return &w.lower
	}
	return nil
}

// walkSecond reads every person modified in second s, paging, and checks
// with the total count that nobody moved during the pages.
//
// Persons leave the second while it is paged (a two-way sync writes links
// back into the persons it has read, which moves them to a later second),
// and each one that leaves from before the current page shifts the rest
// of the list forward by one: paging by page number alone would skip as
// many persons as left. So the walk keeps how long a prefix of the second's
// list it has read, shortens it by the drop in the total count at each
// answer, and asks next for the page holding the end of that prefix,
// stepping back over persons it may have missed. In a second that is over
// (see closed) nobody enters, the count drops by exactly the persons who
// left, and one walk reads everyone. In a second still under way persons
// may also enter, hiding departures in the count: the walk then checks the
// persons seen against the count and walks again, up to three times, then
// caps the cursor at s, so the next read starts there again (re-emitting
// rather than skipping). The requests are bounded (four times the pages
// of the second, plus four); past that the cursor is capped as well.
func (w *walker) walkSecond(s time.Time) error {
	closed := w.closed(s)
	for attempt := 0; attempt < 3; attempt++ {
		seen := map[int64]bool{}
		total, stable := -1, true
		offset, prev, budget := 0, -1, -1
		for req := 0; ; req++ {
			if budget >= 0 && req >= budget {
				w.capAt(s)
				return nil
			}
			page := offset/w.limit + 1
			start := (page - 1) * w.limit
			items, count, err := w.fetch(&s, &s, page, true)
			if err != nil {
				return err
			}
			// No progress guard here: going back a page is how this walk
			// recovers persons that left the second, and budget bounds it.
			if total < 0 {
				total = count
				budget = 4*(count/w.limit+1) + 4
			} else if count != total {
				stable = false
			}
			// The prefix read so far, in the list as it is now.
			known := offset
			if prev >= 0 && count >= 0 && count < prev {
				known = max(0, offset-(prev-count))
			}
			prev = count
			for _, p := range items {
				if p.Modified.Equal(s) {
					seen[p.ID] = true
				}
			}
			if err := w.consumeAll(items); err != nil {
				return err
			}
			if start > known {
				// Persons left before this page: go back for those
				// it shifted past.
				offset = known
				continue
			}
			offset = max(known, start+len(items))
			// A short page ends the second; so does reaching its count,
			// which saves an empty request when bulk writes put an exact
			// multiple of the page size in one second.
			if len(items) < w.limit || (count >= 0 && offset >= count) {
				break
			}
		}
		if total < 0 {
			// The service sent no totalCount: the pages cannot be
			// verified, and re-reading them would not tell more.
			return nil
		}
		if closed || (stable && len(seen) == total) {
			return nil
		}
	}
	w.capAt(s)
	return nil
}

// capAt caps the cursor at second s, whose completeness could not be
// verified: the next read starts there again.
func (w *walker) capAt(s time.Time) {
	if w.cap.IsZero() || s.Before(w.cap) {
		w.cap = s
	}
}

// walkScan pages the type-filtered list newest first and stops at the
// first person older than the watermark. Pages can shift when persons are
// deleted meanwhile; the scan restarts (up to three times) when the total
// count changes between pages.
func (w *walker) walkScan() error {
	for attempt := 0; attempt < 3; attempt++ {
		total, stable := -1, true
		pages := w.pages()
		for page := 1; ; page++ {
			items, count, err := w.fetch(nil, nil, page, true)
			if err != nil {
				return err
			}
			if err := w.progress(&pages, items); err != nil {
				return err
			}
			if total < 0 {
				total = count
			} else if count != total {
				stable = false
			}
			older := false
			var keep []*apiPerson
			for _, p := range items {
				if w.hasLower && p.Modified.Before(w.lower) {
					older = true
					continue
				}
				keep = append(keep, p)
			}
			if err := w.consumeAll(keep); err != nil {
				return err
			}
			if older || len(items) < w.limit {
				break
			}
		}
		if stable {
			return nil
		}
	}
	return nil
}

// pages is a guard for one paging loop of the walk.
func (w *walker) pages() httpx.Pages { return httpx.Pages{What: w.entity} }

// progress checks a page against its loop's guard: People pages by number,
// so a service that ignores the page (or the range) sends the same persons
// again and again; three pages in a row without a person the previous page
// did not have end the read with an error naming the entity, instead of
// requests without end.
func (w *walker) progress(p *httpx.Pages, items []*apiPerson) error {
	if len(items) < w.limit {
		return nil // a short page ends its loop anyway
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = strconv.FormatInt(it.ID, 10)
	}
	if err := p.Next("", keys); err != nil {
		return &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: "read " + w.entity, Message: err.Error(), Err: err}
	}
	return nil
}

// fetch requests one page of the entity's persons with modifiedAt in
// [lower, upper] (nil: unbounded), newest first.
func (w *walker) fetch(lower, upper *time.Time, page int, withTotal bool) ([]*apiPerson, int, error) {
	clauses := []any{map[string]any{"type": w.typ}}
	if lower != nil {
		clauses = append(clauses, map[string]any{"#gte": map[string]any{"modifiedAt": lower.UTC().Format(timeLayout)}})
	}
	if upper != nil {
		clauses = append(clauses, map[string]any{"#lte": map[string]any{"modifiedAt": upper.UTC().Format(timeLayout)}})
	}
	var filter any = clauses[0]
	if len(clauses) > 1 {
		filter = map[string]any{"#and": clauses}
	}
	dated := lower != nil || upper != nil
	items, total, date, err := w.c.list(w.ctx, "read "+w.entity, filter, "modifiedAt:desc", page, w.limit, withTotal)
	if err == nil && w.began.IsZero() {
		w.began = date
		if w.hasLower && w.lower.After(serviceNow(date)) {
			return nil, 0, &connector.Error{Kind: connector.ErrorExpiredCursor, Service: service, Op: "read " + w.entity,
				Message: fmt.Sprintf("the saved cursor is at %s, ahead of People's clock (%s); continuing from it would skip every change until then",
					w.lower.UTC().Format(timeLayout), serviceNow(date).UTC().Format(timeLayout)),
				Hint: "the sync reads everything again (unchanged records are not written)"}
		}
	}
	if err == nil {
		now := serviceNow(date)
		for _, p := range items {
			p.ahead = p.Modified.After(now)
		}
	}
	if err != nil {
		if dated && connector.KindOf(err) == connector.ErrorInvalid && w.c.probeNoDateFilter(w.ctx, w.typ) {
			return nil, 0, errNoDateFilter
		}
		return nil, 0, err
	}
	for _, p := range items {
		if p.Type != w.typ || (lower != nil && p.Modified.Before(*lower)) || (upper != nil && p.Modified.After(*upper)) {
			if dated {
				// The filter was ignored: fall back to the scan.
				return nil, 0, errNoDateFilter
			}
			return nil, 0, &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: "read " + w.entity,
				Message: fmt.Sprintf("People returned person %d of type %s for a filter on type %s", p.ID, p.Type, w.typ),
				Hint:    "the account does not filter persons by type; report this to the synclang maintainers"}
		}
	}
	return items, total, nil
}

// probeNoDateFilter tells whether a 400 on a dated list request came from
// the modifiedAt filter: the same request without it succeeds.
func (c *Conn) probeNoDateFilter(ctx context.Context, typ string) bool {
	_, _, _, err := c.list(ctx, "read persons", map[string]any{"type": typ}, "modifiedAt:desc", 1, 1, false)
	return err == nil
}

// list is one GET /people/2/persons request for a page of a filtered list;
// it returns the persons, the total count (-1 when not asked or not sent)
// and the service's time of the answer (zero when unknown).
func (c *Conn) list(ctx context.Context, op string, filter any, orderBy string, page, limit int, withTotal bool) ([]*apiPerson, int, time.Time, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "page": {strconv.Itoa(page)}}
	if orderBy != "" {
		q.Set("orderBy", orderBy)
	}
	if filter != nil {
		f, _ := json.Marshal(filter)
		q.Set("filter", string(f))
	}
	if withTotal {
		q.Set("includeTotalCount", "true")
	}
	var resp listAnswer
	if _, err := c.call(ctx, op, http.MethodGet, "/people/2/persons", q, nil, &resp); err != nil {
		return nil, 0, time.Time{}, err
	}
	out := make([]*apiPerson, 0, len(resp.Persons))
	unreadable := func(err error) error {
		return &connector.Error{Kind: connector.ErrorTransient, Service: service, Op: op, Message: err.Error(),
			Hint: "People answered with a person the connector cannot read; run again later"}
	}
	good := -1
	for _, raw := range resp.Persons {
		p, err := parsePerson(raw)
		if p == nil {
			return nil, 0, time.Time{}, unreadable(err)
		}
		if err != nil {
			p.bad = err
		} else if good < 0 {
			good = len(out)
		}
		out = append(out, p)
	}
	// A person whose modifiedAt cannot be read sits where the service's
	// order put it: it takes the second of the person before it (or, first
	// on the page, after it), so the walk's ranges hold, and is rejected
	// alone when read.
	for i, p := range out {
		switch {
		case p.bad == nil:
		case good < 0:
			return nil, 0, time.Time{}, unreadable(fmt.Errorf("person %d: %v", p.ID, p.bad))
		case i > 0:
			p.Modified = out[i-1].Modified
		default:
			p.Modified = out[good].Modified
		}
	}
	total := -1
	if n, err := resp.TotalCount.Int64(); err == nil {
		total = int(n)
	}
	return out, total, resp.date, nil
}

// listAnswer is a page of the person list, with the service's clock when
// it answered (zero when it sent no Date).
type listAnswer struct {
	Persons    []json.RawMessage `json:"persons"`
	TotalCount json.Number       `json:"totalCount"`
	date       time.Time
}

func (a *listAnswer) setDate(t time.Time) { a.date = t }

func (w *walker) consumeAll(items []*apiPerson) error {
	for _, p := range items {
		if err := w.consume(p); err != nil {
			return err
		}
	}
	return nil
}

// consume records a person read and queues it for emission unless it is a
// version already emitted (in this walk, or in the cursor's second).
func (w *walker) consume(p *apiPerson) error {
	if p.ahead {
		return w.consumeAhead(p)
	}
	if p.Modified.After(w.maxMod) {
		w.maxMod = p.Modified
		w.atMax = map[int64]uint64{}
	}
	if p.Modified.Equal(w.maxMod) {
		w.atMax[p.ID] = p.hash
	}
	if d, ok := w.done[p.ID]; ok && d.hash == p.hash {
		return nil
	}
	w.done[p.ID] = doneEntry{hash: p.hash, mod: p.Modified.Unix()}
	if w.hasLower && !p.Modified.Before(w.lower) {
		// Seen holds the versions read at or after the watermark second
		// (hashes cover modifiedAt, so a later version never matches).
		if h, ok := w.prev[p.ID]; ok && h == p.hash {
			return nil
		}
	}
	return w.queue(p)
}

// queue converts a person for emission (a reject when it cannot be
// converted) and flushes a full batch.
func (w *walker) queue(p *apiPerson) error {
	rec, err := p.record(w.fields, w.defs)
	if p.bad != nil {
		rec, err = connector.Record{Key: p.key()}, p.bad
	}
	if err != nil {
		ae, _ := err.(*attrError)
		field := ""
		if ae != nil {
			field = ae.attr
		}
		w.rejects = append(w.rejects, connector.RecordError{Key: rec.Key, Field: field, Modified: p.Modified,
			Err: &connector.Error{Kind: connector.ErrorInvalid, Service: service, Op: "read " + w.entity, Message: err.Error(),
				Hint: "correct the value in People, then run again"}})
	} else {
		w.pending = append(w.pending, rec)
	}
	if len(w.pending)+len(w.rejects) >= w.size {
		return w.flush(connector.Cursor{})
	}
	return nil
}

// consumeAhead handles a person whose modifiedAt is ahead of the
// service's clock: emitted unless the cursor holds this version, never
// moving the watermark, and warned about (by id only) when emitted.
func (w *walker) consumeAhead(p *apiPerson) error {
	if w.ahead == nil {
		w.ahead = map[int64]uint64{}
	}
	if _, dup := w.ahead[p.ID]; dup {
		return nil
	}
	w.ahead[p.ID] = p.hash
	if h, ok := w.prevAhead[p.ID]; ok && h == p.hash {
		return nil
	}
	w.c.logger.Warn("people: a person's modifiedAt is ahead of People's clock; it is read, but the cursor does not move past the service's time",
		"entity", w.entity, "person", p.ID, "modifiedAt", p.ModifiedAt, "service time", w.began.UTC().Format(timeLayout))
	return w.queue(p)
}

// serviceNow is the latest modifiedAt an answer sent at date (its Date
// header) can legitimately carry: date plus a second for the header's
// truncation. Without a Date header the local clock stands in, with five
// minutes for skew; a bound too low only re-reads persons, it never skips
// one.
func serviceNow(date time.Time) time.Time {
	if date.IsZero() {
		return time.Now().Add(5 * time.Minute)
	}
	return date.Add(time.Second)
}

func (w *walker) flush(next connector.Cursor) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	b := connector.Batch{Records: w.pending, Rejects: w.rejects, Next: next}
	w.pending, w.rejects = nil, nil
	return w.emit(b)
}

// finish emits the last batch with the new cursor.
func (w *walker) finish() error {
	next := cursor{Entity: w.entity, Ahead: w.ahead}
	switch {
	case w.unverified:
		// No watermark: the next read reads everyone again.
	case w.fromCut != nil && w.maxMod.After(w.cut):
		// A full walk can shift past persons modified from cut on (see
		// walkFull): the next read starts there, and skips the versions
		// this one read.
		next.Watermark = w.cut.Format(timeLayout)
		next.Seen = w.fromCut
	case !w.cap.IsZero() && (w.maxMod.IsZero() || w.cap.Before(w.maxMod)):
		// A second could not be verified: start there next time, and
		// re-emit what it holds rather than risk skipping.
		next.Watermark = w.cap.UTC().Format(timeLayout)
	case !w.maxMod.IsZero() && w.closed(w.maxMod):
		// Nobody can be modified in that second any more: the next read
		// starts after it, and does not read its persons again.
		next.Watermark = w.maxMod.Add(time.Second).UTC().Format(timeLayout)
	case !w.maxMod.IsZero():
		next.Watermark = w.maxMod.UTC().Format(timeLayout)
		next.Seen = w.atMax
	}
	return w.flush(next.encode())
}

// Count returns the number of persons of an entity's type with one list
// request asking for includeTotalCount (connector.Counter). People documents
// the parameter; when an answer carries no totalCount (the reference marks
// the field UNCERTAIN for persons), Count fails with ErrUnsupported.
func (c *Conn) Count(ctx context.Context, entity string) (int, bool, error) {
	typ, err := personType(entity)
	if err != nil {
		return 0, false, err
	}
	_, total, _, err := c.list(ctx, "count persons", map[string]any{"type": typ}, "", 1, 1, true)
	if err != nil {
		return 0, false, err
	}
	if total < 0 {
		return 0, false, fmt.Errorf("people: count %s: the answer has no totalCount: %w", entity, connector.ErrUnsupported)
	}
	return total, true, nil
}

// closed reports whether second s was over, with a second to spare, when
// the walk began by the service's clock: a person modified from then on
// has a later modifiedAt, and (as Read assumes) every person of s was in
// the list by the end of s, so the walk saw them all. The margin covers
// the Date header's truncation to the second and the time the service
// took to answer.
func (w *walker) closed(s time.Time) bool {
	return !w.began.IsZero() && !s.After(w.began.Add(-2*time.Second))
}
