package dynamics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/wire"
)

// Writes go through the bulk messages CreateMultiple and UpdateMultiple
// (reference §10) in batches of up to maxBulk records. Standard tables run
// a bulk message in one transaction, so one bad record fails the whole
// request and nothing is written; the connector then resends that batch as
// a $batch with odata.continue-on-error, one request per record, so every
// other record is written and each gets its own result. Tables without the
// bulk messages use $batch from the start. Updates never create: each
// $batch PATCH carries If-Match: *, and UpdateMultiple fails for a missing
// row.
//
// Creates do not go through UpsertMultiple by alternate key, on purpose
// (the emulator implements it for other clients). The engine pairs every
// record before writing (link field, then match keys, reporting ambiguous
// or already linked targets instead of guessing) and sends a create only
// when nothing was found; an upsert would instead merge into whichever row
// holds the key value at write time, past those checks, possibly a row
// linked to another record. UpsertMultiple also answers 204 without the
// new rows' ids (reference §10), which a create must return for the link to
// be written back, and stock contact and lead have no alternate key
// (emailaddress1 is one only where an admin defined it, reference §6). A
// create that collides with an alternate key fails for that record alone
// (0x80060892 or 0x80040237) with the hint to match on the key instead.

// maxBulk is the largest bulk request (reference §10: start around 1,000
// for standard tables; $batch allows 1000 requests).
const (
	maxBulk = 1000
	minBulk = 10
	// slowBulk: a bulk request slower than this halves the batch size
	// (client timeouts are 2 to 4 minutes; reference §10).
	slowBulk = 60 * time.Second
)

func (c *Conn) shrinkBulk() {
	for {
		cur := c.bulkSize.Load()
		n := max(minBulk, cur/2)
		if n == cur || c.bulkSize.CompareAndSwap(cur, n) {
			return
		}
	}
}

func (c *Conn) growBulk() {
	for {
		cur := c.bulkSize.Load()
		n := min(maxBulk, cur*2)
		if n == cur || c.bulkSize.CompareAndSwap(cur, n) {
			return
		}
	}
}

// writeOp is one record to write.
type writeOp struct {
	idx  int    // index in the request
	key  string // the record's id (updates)
	body map[string]any
	op   string // "create contact (record 3)", "update contact <id>"
}

func failed(key string, err error) connector.WriteResult {
	return connector.WriteResult{Key: key, Effect: connector.Failed, Err: err}
}

func invalidRecord(op, format string, args ...any) *connector.Error {
	return &connector.Error{Kind: connector.ErrorInvalid, Service: "dynamics", Op: op, Message: fmt.Sprintf(format, args...)}
}

// wireBody converts a record's fields to a request body, checking names,
// read-only columns, types, lengths and options before anything is sent.
func wireBody(ent *connector.Entity, op string, fields map[string]any) (map[string]any, error) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	body := make(map[string]any, len(fields))
	for _, n := range names {
		f, ok := ent.Field(n)
		if !ok {
			return nil, &connector.Error{Kind: connector.ErrorInvalid, Service: "dynamics", Op: op,
				Message: fmt.Sprintf("table %s has no column %q", ent.Name, n), Hint: "check the column name (names are case-sensitive), or run `synclang schema pull`"}
		}
		if f.ReadOnly {
			return nil, invalidRecord(op, "column %s is read-only (set by Dynamics)", n)
		}
		v, err := toWire(f, fields[n])
		if err != nil {
			return nil, invalidRecord(op, "column %s: %v", n, err)
		}
		body[n] = v
	}
	return body, nil
}

// Upsert creates records without a key and updates records with one.
func (c *Conn) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Records))}
	if err := ctx.Err(); err != nil {
		return failAll(res, nil, err), err
	}
	ti, err := c.table(ctx, req.Entity)
	if err != nil {
		return failAll(res, nil, err), err
	}
	var creates, updates []writeOp
	for i, rec := range req.Records {
		op := fmt.Sprintf("create %s (record %d)", ti.ent.Name, i+1)
		if rec.Key != "" {
			op = fmt.Sprintf("update %s %s", ti.ent.Name, rec.Key)
		}
		body, err := wireBody(ti.ent, op, rec.Fields)
		switch {
		case err != nil:
			res.Results[i] = failed(rec.Key, err)
		case rec.Key == "":
			creates = append(creates, writeOp{idx: i, body: body, op: op})
		case !wire.IsGUID(rec.Key):
			res.Results[i] = failed(rec.Key, &connector.Error{Kind: connector.ErrorNotFound, Service: "dynamics", Op: op,
				Message: fmt.Sprintf("%q is not a %s id (a GUID), so no such record exists", rec.Key, ti.ent.Name)})
		case len(body) == 0:
			res.Results[i] = connector.WriteResult{Key: rec.Key, Effect: connector.Unchanged}
		default:
			updates = append(updates, writeOp{idx: i, key: strings.ToLower(rec.Key), body: body, op: op})
		}
	}
	if err := c.writeOps(ctx, ti, creates, true, &res); err != nil {
		failAll(res, updates, err)
		return res, err
	}
	if err := c.writeOps(ctx, ti, updates, false, &res); err != nil {
		return res, err
	}
	return res, nil
}

// failAll marks ops (every result when ops is nil) as failed with err.
func failAll(res connector.BatchResult, ops []writeOp, err error) connector.BatchResult {
	if ops == nil {
		for i := range res.Results {
			if res.Results[i].Effect == "" {
				res.Results[i] = failed("", err)
			}
		}
		return res
	}
	for _, o := range ops {
		res.Results[o.idx] = failed(o.key, err)
	}
	return res
}

func (c *Conn) writeOps(ctx context.Context, ti *tableInfo, ops []writeOp, create bool, res *connector.BatchResult) error {
	for start := 0; start < len(ops); {
		if err := ctx.Err(); err != nil {
			failAll(*res, ops[start:], err)
			return err
		}
		n := min(int(c.bulkSize.Load()), len(ops)-start)
		chunk := ops[start : start+n]
		c.mu.Lock()
		noBulk := ti.noBulk
		c.mu.Unlock()
		if noBulk {
			if err := c.batchWrite(ctx, ti, chunk, create, res); err != nil {
				failAll(*res, ops[start:], err)
				return err
			}
			start += n
			continue
		}
		began := time.Now()
		err := c.bulkWrite(ctx, ti, chunk, create, res)
		var ce *connector.Error
		errors.As(err, &ce)
		switch {
		case err == nil:
			if time.Since(began) > slowBulk {
				c.shrinkBulk()
			} else if n == int(c.bulkSize.Load()) {
				c.growBulk()
			}
			start += n
		case ce != nil && ce.Status == http.StatusRequestEntityTooLarge && n > minBulk:
			c.shrinkBulk() // retry the same records in smaller requests
		case bulkUnsupported(ce):
			c.mu.Lock()
			ti.noBulk = true
			c.mu.Unlock()
			c.log.Info("table lacks bulk messages; writing through $batch", "table", ti.ent.Name)
		case connector.RecordLevel(err) || (ce != nil && ce.Status == http.StatusRequestEntityTooLarge):
			// One or more records were rejected and the transaction rolled
			// back: write the batch again record by record.
			if err := c.batchWrite(ctx, ti, chunk, create, res); err != nil {
				failAll(*res, ops[start:], err)
				return err
			}
			start += n
		default:
			failAll(*res, ops[start:], err)
			return err
		}
	}
	return nil
}

// bulkUnsupported reports an answer saying the table has no bulk message.
func bulkUnsupported(e *connector.Error) bool {
	if e == nil {
		return false
	}
	if e.Status == http.StatusNotFound && (e.Code == codeResourceNotFound || e.Code == "") {
		return true
	}
	msg := strings.ToLower(e.Message)
	return e.Status == http.StatusBadRequest && (strings.Contains(msg, "multiple") && (strings.Contains(msg, "not supported") || strings.Contains(msg, "not yet been implemented") || strings.Contains(msg, "is not enabled")))
}

// bulkWrite sends one CreateMultiple or UpdateMultiple and records the
// results on success.
func (c *Conn) bulkWrite(ctx context.Context, ti *tableInfo, chunk []writeOp, create bool, res *connector.BatchResult) error {
	action, op := "UpdateMultiple", fmt.Sprintf("update %d %s records", len(chunk), ti.ent.Name)
	if create {
		action, op = "CreateMultiple", fmt.Sprintf("create %d %s records", len(chunk), ti.ent.Name)
	}
	targets := make([]map[string]any, len(chunk))
	typ := "Microsoft.Dynamics.CRM." + ti.ent.Name
	for i, o := range chunk {
		t := make(map[string]any, len(o.body)+2)
		for k, v := range o.body {
			t[k] = v
		}
		t["@odata.type"] = typ // required on every target (reference §10)
		if !create {
			t[ti.ent.Key] = o.key
		}
		targets[i] = t
	}
	_, data, err := c.call(ctx, op, http.MethodPost, c.apiURL+ti.set+"/Microsoft.Dynamics.CRM."+action, map[string]any{"Targets": targets}, nil)
	if err != nil {
		return err
	}
	if !create {
		for _, o := range chunk {
			res.Results[o.idx] = connector.WriteResult{Key: o.key, Effect: connector.Updated}
		}
		return nil
	}
	var out struct {
		IDs []string `json:"Ids"`
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.IDs) != len(chunk) {
		// The records were created but their ids are unknown: report it
		// as a whole-call failure rather than guess.
		return &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: op,
			Message: fmt.Sprintf("CreateMultiple answered with %d ids for %d records", len(out.IDs), len(chunk))}
	}
	for i, o := range chunk {
		res.Results[o.idx] = connector.WriteResult{Key: strings.ToLower(out.IDs[i]), Effect: connector.Created}
	}
	return nil
}

// batchWrite sends the records as one $batch with odata.continue-on-error,
// one top-level request per record, and records each one's result.
func (c *Conn) batchWrite(ctx context.Context, ti *tableInfo, chunk []writeOp, create bool, res *connector.BatchResult) error {
	reqs := make([]batchReq, len(chunk))
	for i, o := range chunk {
		body, err := json.Marshal(o.body)
		if err != nil {
			return &connector.Error{Kind: connector.ErrorInvalid, Service: "dynamics", Op: o.op, Message: err.Error()}
		}
		if create {
			reqs[i] = batchReq{method: http.MethodPost, url: c.apiURL + ti.set, body: body}
		} else {
			reqs[i] = batchReq{method: http.MethodPatch, url: c.apiURL + ti.set + "(" + o.key + ")", body: body,
				header: http.Header{"If-Match": {"*"}}} // update only, never create
		}
	}
	resps, err := c.sendBatch(ctx, fmt.Sprintf("write %d %s records", len(chunk), ti.ent.Name), reqs)
	if err != nil {
		return err
	}
	for i, o := range chunk {
		if i >= len(resps) {
			res.Results[o.idx] = failed(o.key, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: o.op, Message: "the $batch answer has no result for this record"})
			continue
		}
		r := resps[i]
		if r.status >= 200 && r.status < 300 {
			if create {
				id := entityIDFrom(r.header)
				if id == "" {
					res.Results[o.idx] = failed("", &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: o.op, Message: "the create was answered without the new record's id"})
					continue
				}
				res.Results[o.idx] = connector.WriteResult{Key: id, Effect: connector.Created}
			} else {
				res.Results[o.idx] = connector.WriteResult{Key: o.key, Effect: connector.Updated}
			}
			continue
		}
		e := c.apiError(o.op, r.status, r.header, r.body, nil)
		if !connector.RecordLevel(e) && e.Kind != connector.ErrorConfig {
			// An auth or throttling failure inside the batch concerns the
			// whole call.
			return e
		}
		res.Results[o.idx] = failed(o.key, e)
	}
	return nil
}

// sendBatch posts a $batch with odata.continue-on-error and returns its
// responses in request order.
func (c *Conn) sendBatch(ctx context.Context, op string, reqs []batchReq) ([]batchResp, error) {
	ct, body := buildBatch(reqs)
	resp, data, err := c.send(ctx, op, http.MethodPost, c.apiURL+"$batch", ct, body, http.Header{"Prefer": {"odata.continue-on-error"}})
	if err != nil {
		return nil, err
	}
	out, perr := parseBatchResponse(resp.Header.Get("Content-Type"), data)
	if perr != nil {
		return nil, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: op, Message: perr.Error()}
	}
	return out, nil
}

// Delete removes records by id; a missing record fails with ErrorNotFound
// for that key only.
func (c *Conn) Delete(ctx context.Context, req connector.DeleteRequest) (connector.BatchResult, error) {
	res := connector.BatchResult{Results: make([]connector.WriteResult, len(req.Keys))}
	if err := ctx.Err(); err != nil {
		return failAll(res, nil, err), err
	}
	ti, err := c.table(ctx, req.Entity)
	if err != nil {
		return failAll(res, nil, err), err
	}
	var ops []writeOp
	for i, k := range req.Keys {
		op := fmt.Sprintf("delete %s %s", ti.ent.Name, k)
		if !wire.IsGUID(k) {
			res.Results[i] = failed(k, &connector.Error{Kind: connector.ErrorNotFound, Service: "dynamics", Op: op,
				Message: fmt.Sprintf("%q is not a %s id (a GUID), so no such record exists", k, ti.ent.Name)})
			continue
		}
		ops = append(ops, writeOp{idx: i, key: strings.ToLower(k), op: op})
	}
	if len(ops) == 1 {
		o := ops[0]
		_, _, err := c.call(ctx, o.op, http.MethodDelete, c.apiURL+ti.set+"("+o.key+")", nil, nil)
		switch {
		case err == nil:
			res.Results[o.idx] = connector.WriteResult{Key: req.Keys[o.idx], Effect: connector.Deleted}
		case connector.RecordLevel(err):
			res.Results[o.idx] = failed(req.Keys[o.idx], err)
		default:
			res.Results[o.idx] = failed(req.Keys[o.idx], err)
			return res, err
		}
		return res, nil
	}
	for start := 0; start < len(ops); start += maxBulk {
		chunk := ops[start:min(len(ops), start+maxBulk)]
		reqs := make([]batchReq, len(chunk))
		for i, o := range chunk {
			reqs[i] = batchReq{method: http.MethodDelete, url: c.apiURL + ti.set + "(" + o.key + ")"}
		}
		resps, err := c.sendBatch(ctx, fmt.Sprintf("delete %d %s records", len(chunk), ti.ent.Name), reqs)
		if err != nil {
			failAll(res, ops[start:], err)
			return res, err
		}
		for i, o := range chunk {
			key := req.Keys[o.idx]
			if i >= len(resps) {
				res.Results[o.idx] = failed(key, &connector.Error{Kind: connector.ErrorTransient, Service: "dynamics", Op: o.op, Message: "the $batch answer has no result for this record"})
				continue
			}
			if r := resps[i]; r.status >= 200 && r.status < 300 {
				res.Results[o.idx] = connector.WriteResult{Key: key, Effect: connector.Deleted}
			} else {
				res.Results[o.idx] = failed(key, c.apiError(o.op, r.status, r.header, r.body, nil))
			}
		}
	}
	return res, nil
}

// EstimateUpsert is the number of requests Upsert(req) would send
// (connector.Estimator): creates and updates each go in bulk requests of
// the current bulk size (CreateMultiple/UpdateMultiple, or $batch for
// tables without them; either counts as one request against the service
// protection limits). An update without fields sends nothing. Retries and a
// bulk request that fails and is written again record by record are not
// counted.
func (c *Conn) EstimateUpsert(req connector.UpsertRequest) int {
	var creates, updates int
	for _, r := range req.Records {
		switch {
		case r.Key == "":
			creates++
		case len(r.Fields) > 0:
			updates++
		}
	}
	bulk := int(c.bulkSize.Load())
	return chunks(creates, bulk) + chunks(updates, bulk)
}

// EstimateDelete is the number of requests Delete(req) would send: one
// DELETE for a single record, else one $batch per 1000.
func (c *Conn) EstimateDelete(req connector.DeleteRequest) int {
	if len(req.Keys) == 1 {
		return 1
	}
	return chunks(len(req.Keys), maxBulk)
}

// chunks is the number of requests n items take at per items a request.
func chunks(n, per int) int {
	if n <= 0 {
		return 0
	}
	return (n + per - 1) / per
}
