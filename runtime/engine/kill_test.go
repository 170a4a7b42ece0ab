//go:build unix

package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/dynamics"
	"github.com/synclang/synclang/connectors/memory"
	"github.com/synclang/synclang/internal/testkit"
	"github.com/synclang/synclang/runtime/state"
)

// The kill -9 tests run the engine in a child process (this test binary
// re-executed) against two memory services that live in the parent and
// are reached over loopback HTTP, with the state in a SQLite file: what a
// killed process leaves is exactly what it committed, in the services and
// in the state. The child is killed at a deterministic point, never after
// a sleep: either by itself, from the engine's testHook at a commit point
// (SYNCLANG_KILL_AT="right-to-left/targets-recorded"), or by the parent's
// service, which applies (or not) the first create of a side and kills the
// child before answering (SYNCLANG_KILL_AT="service/crm/applied"). Then
// children without a kill point run until a pass writes nothing, and the
// test counts duplicates and losses.

// rpcCall is one connector call sent to the parent's services.
type rpcCall struct {
	Conn   string                   `json:"conn"`
	Op     string                   `json:"op"`
	Read   *connector.ReadRequest   `json:"read,omitempty"`
	Lookup *connector.LookupRequest `json:"lookup,omitempty"`
	Upsert *connector.UpsertRequest `json:"upsert,omitempty"`
	Delete *connector.DeleteRequest `json:"delete,omitempty"`
}

type rpcResult struct {
	Kind    connector.ErrorKind  `json:"kind,omitempty"`
	Error   string               `json:"error,omitempty"`
	Batches []connector.Batch    `json:"batches,omitempty"`
	Found   [][]connector.Record `json:"found,omitempty"`
	Results []rpcWrite           `json:"results,omitempty"`
}

type rpcWrite struct {
	Key   string              `json:"key"`
	Op    connector.Effect    `json:"op"`
	Kind  connector.ErrorKind `json:"kind,omitempty"`
	Error string              `json:"error,omitempty"`
}

// services are the parent's two memory services, served over HTTP.
type services struct {
	conns map[string]*memory.Conn
	mu    sync.Mutex // one call at a time, like a service's own lock
	// killAt ("crm/applied", "infobip/unapplied") kills child at the first
	// Upsert of that service that creates records.
	killAt  string
	killNth int64
	creates atomic.Int64 // creating upserts of killAt's service so far
	child   *os.Process
	killed  atomic.Bool
}

func (s *services) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c rpcCall
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn := s.conns[c.Conn]
	ctx := context.Background()
	var res rpcResult
	var err error
	switch c.Op {
	case "read":
		err = conn.Read(ctx, *c.Read, func(b connector.Batch) error { res.Batches = append(res.Batches, b); return nil })
	case "lookup":
		var lr connector.LookupResult
		lr, err = conn.Lookup(ctx, *c.Lookup)
		res.Found = lr.Records
	case "upsert":
		creates := false
		for _, rec := range c.Upsert.Records {
			creates = creates || rec.Key == ""
		}
		mine := creates && strings.HasPrefix(s.killAt, c.Conn+"/") && s.creates.Add(1) == s.killNth
		if mine && s.killAt == c.Conn+"/unapplied" && s.kill() {
			return // the request reached the service, which did nothing
		}
		var ur connector.BatchResult
		ur, err = conn.Upsert(ctx, *c.Upsert)
		if mine && s.killAt == c.Conn+"/applied" && s.kill() {
			return // applied; the answer never reaches the child
		}
		for _, wr := range ur.Results {
			x := rpcWrite{Key: wr.Key, Op: wr.Effect}
			if wr.Err != nil {
				x.Kind, x.Error = connector.KindOf(wr.Err), wr.Err.Error()
			}
			res.Results = append(res.Results, x)
		}
	case "delete":
		var ur connector.BatchResult
		ur, err = conn.Delete(ctx, *c.Delete)
		for _, wr := range ur.Results {
			x := rpcWrite{Key: wr.Key, Op: wr.Effect}
			if wr.Err != nil {
				x.Kind, x.Error = connector.KindOf(wr.Err), wr.Err.Error()
			}
			res.Results = append(res.Results, x)
		}
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	if err != nil {
		res.Kind, res.Error = connector.KindOf(err), err.Error()
	}
	json.NewEncoder(w).Encode(res)
}

// kill kills the child once; it reports whether it did.
func (s *services) kill() bool {
	if s.child == nil || !s.killed.CompareAndSwap(false, true) {
		return false
	}
	s.child.Signal(syscall.SIGKILL)
	return true
}

// rpcConn is the child's connector to one of the parent's services.
type rpcConn struct {
	name   string
	url    string
	schema *connector.Schema
	rate   float64 // ReadRate; 0: unknown
}

// ReadRate lets a trial declare People slower to read than Dynamics, as the
// real connectors do, so the first run goes right to left first.
func (c *rpcConn) ReadRate(string) float64 { return c.rate }

func (c *rpcConn) call(ctx context.Context, in rpcCall) (*rpcResult, error) {
	in.Conn = c.name
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, "POST", c.url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &connector.Error{Kind: connector.ErrorTransient, Service: c.name, Message: err.Error()}
	}
	defer resp.Body.Close()
	var out rpcResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, &connector.Error{Kind: connector.ErrorTransient, Service: c.name, Message: err.Error()}
	}
	if out.Error != "" {
		return nil, &connector.Error{Kind: out.Kind, Service: c.name, Message: out.Error}
	}
	return &out, nil
}

// fix turns JSON values back into the fields' canonical types.
func (c *rpcConn) fix(entity string, recs []connector.Record) {
	e, _ := c.schema.Entity(entity)
	for i := range recs {
		for name, v := range recs[i].Fields {
			if f, ok := e.Field(name); ok && v != nil {
				if cv, err := connector.Canonical(f.Type, v); err == nil {
					recs[i].Fields[name] = cv
				}
			}
		}
	}
}

func (c *rpcConn) Discover(ctx context.Context) (*connector.Schema, error) {
	return c.schema.Clone(), nil
}
func (c *rpcConn) Close() error { return nil }

func (c *rpcConn) Read(ctx context.Context, req connector.ReadRequest, emit func(connector.Batch) error) error {
	out, err := c.call(ctx, rpcCall{Op: "read", Read: &req})
	if err != nil {
		return err
	}
	for _, b := range out.Batches {
		c.fix(req.Entity, b.Records)
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

func (c *rpcConn) Lookup(ctx context.Context, req connector.LookupRequest) (connector.LookupResult, error) {
	out, err := c.call(ctx, rpcCall{Op: "lookup", Lookup: &req})
	if err != nil {
		return connector.LookupResult{}, err
	}
	for _, recs := range out.Found {
		c.fix(req.Entity, recs)
	}
	return connector.LookupResult{Records: out.Found}, nil
}

func (c *rpcConn) results(out *rpcResult) connector.BatchResult {
	var res connector.BatchResult
	for _, w := range out.Results {
		wr := connector.WriteResult{Key: w.Key, Effect: w.Op}
		if w.Error != "" {
			wr.Err = &connector.Error{Kind: w.Kind, Service: c.name, Message: w.Error}
		}
		res.Results = append(res.Results, wr)
	}
	return res
}

func (c *rpcConn) Upsert(ctx context.Context, req connector.UpsertRequest) (connector.BatchResult, error) {
	out, err := c.call(ctx, rpcCall{Op: "upsert", Upsert: &req})
	if err != nil {
		return connector.BatchResult{}, err
	}
	return c.results(out), nil
}

func (c *rpcConn) Delete(ctx context.Context, req connector.DeleteRequest) (connector.BatchResult, error) {
	out, err := c.call(ctx, rpcCall{Op: "delete", Delete: &req})
	if err != nil {
		return connector.BatchResult{}, err
	}
	return c.results(out), nil
}

// TestKillChild is the child of TestKill9: one pass of the contacts sync
// against the parent's services, killed at SYNCLANG_KILL_AT if set. It
// prints the writes of the pass on a line "writes N".
func TestKillChild(t *testing.T) {
	url := os.Getenv("SYNCLANG_KILL_URL")
	if url == "" {
		t.Skip("run by TestKill9")
	}
	if at := os.Getenv("SYNCLANG_KILL_AT"); at != "" {
		point, nth := killPoint(at)
		var seen atomic.Int64
		testHook = func(p string) {
			if p == point && seen.Add(1) == nth {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // never returns
			}
		}
	}
	ctx := context.Background()
	st, err := state.Open(ctx, os.Getenv("SYNCLANG_KILL_STATE"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conns := map[string]connector.Connector{
		"crm":     &rpcConn{name: "crm", url: url, schema: dynamics.StandardSchema()},
		"infobip": &rpcConn{name: "infobip", url: url, schema: peopleSchema()},
	}
	if os.Getenv("SYNCLANG_KILL_SLOW_RIGHT") != "" {
		conns["crm"].(*rpcConn).rate, conns["infobip"].(*rpcConn).rate = 100_000, 5_000
	}
	inFlight := 2
	if os.Getenv("SYNCLANG_KILL_SERIAL") != "" {
		inFlight = 1
	}
	rep, err := Run(ctx, contactsPlan(spec{noWhere: true}), Env{Connectors: conns, Store: st}, Options{BatchSize: 2, InFlight: inFlight})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("writes %d\n", writes(rep))
}

// killPoint splits "point#n" (the n-th time the point is reached; n is 1
// without "#").
func killPoint(at string) (string, int64) {
	point, n, ok := strings.Cut(at, "#")
	if !ok {
		return at, 1
	}
	var nth int64
	fmt.Sscan(n, &nth)
	return point, nth
}

// killTrial is one kill -9 trial: the initial load of seed, killed at at.
type killTrial struct {
	seed string // "no-keys" or "emails"
	at   string
	// edit: the records the killed run created are edited before the
	// next run.
	edit bool
	// slowRight: People is slower to read, so the killed first run went
	// right to left first (runner.slowerSideFirst).
	slowRight bool
}

// killOutcome is what a trial left after recovery.
type killOutcome struct {
	killed               bool
	duplicates, lost     int
	rejects, recoverRuns int
	contacts, customers  int
}

// seedKill seeds both services: People-only persons and Dynamics-only
// contacts, two of each with the same name, with emails or without any
// match key.
func seedKill(t *testing.T, crm, ppl *memory.Conn, emails bool) {
	t.Helper()
	email := func(s string) any {
		if emails {
			return strings.ToLower(s) + "@example.com"
		}
		return nil
	}
	for _, n := range []string{"Ivo", "Eva", "Eva", "Tin"} {
		upsert(t, crm, "contact", connector.Record{Fields: F{"firstname": n, "lastname": "Crm", "emailaddress1": email(n + ".crm" + fmt.Sprint(len(crm.Records("contact"))))}})
	}
	for _, n := range []string{"Ana", "Leo", "Leo", "Mia", "Zoe"} {
		upsert(t, ppl, "customer", connector.Record{Fields: F{"firstName": n, "lastName": "People", "email": email(n + ".ppl" + fmt.Sprint(len(ppl.Records("customer"))))}})
	}
}

func runKillTrial(t *testing.T, tr killTrial) killOutcome {
	t.Helper()
	svc := &services{conns: map[string]*memory.Conn{"crm": memory.New(dynamics.StandardSchema()), "infobip": memory.New(peopleSchema())}}
	seedKill(t, svc.conns["crm"], svc.conns["infobip"], tr.seed == "emails")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: svc}
	go srv.Serve(ln)
	defer srv.Close()
	statePath := filepath.Join(t.TempDir(), "state.db")

	child := func(at string) (killed bool, writes int) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v", "-test.count=1")
		cmd.Env = testkit.ChildEnv("SYNCLANG_KILL_URL=http://"+ln.Addr().String(), "SYNCLANG_KILL_STATE="+statePath, "SYNCLANG_KILL_AT=", "SYNCLANG_KILL_SERIAL=", "SYNCLANG_KILL_SLOW_RIGHT=")
		if tr.slowRight {
			cmd.Env = append(cmd.Env, "SYNCLANG_KILL_SLOW_RIGHT=1")
		}
		if tr.edit {
			// One batch written at a time, so no other batch's create is
			// between the service and the recording of its key when the
			// child dies (the window SPEC does not promise across edits).
			cmd.Env = append(cmd.Env, "SYNCLANG_KILL_SERIAL=1")
		}
		if at != "" && !strings.HasPrefix(at, "service/") {
			cmd.Env = append(cmd.Env, "SYNCLANG_KILL_AT="+at)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		svc.mu.Lock()
		svc.killAt, svc.killNth = killPoint(strings.TrimPrefix(at, "service/"))
		svc.child = nil
		svc.creates.Store(0)
		svc.killed.Store(false)
		if !strings.HasPrefix(at, "service/") {
			svc.killAt = ""
		}
		svc.mu.Unlock()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		svc.mu.Lock()
		svc.child = cmd.Process
		svc.mu.Unlock()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
		select {
		case werr = <-done:
		case <-time.After(3 * time.Minute):
			cmd.Process.Kill()
			<-done
			t.Fatalf("the child ran for 3 minutes:\n%s", out.String())
		}
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				return true, 0
			}
		}
		if werr != nil {
			t.Fatalf("child (kill at %q): %v\n%s", at, werr, out.String())
		}
		if _, err := fmt.Sscanf(out.String()[strings.Index(out.String(), "writes "):], "writes %d", &writes); err != nil {
			t.Fatalf("child output: %v\n%s", err, out.String())
		}
		return false, writes
	}

	var o killOutcome
	o.killed, _ = child(tr.at)
	if tr.edit {
		// Someone edits the contacts the killed run created (from People
		// profiles) before the next run, in a field the create wrote.
		crm := svc.conns["crm"]
		for _, c := range crm.Records("contact") {
			if c.Fields["lastname"] == "People" {
				upsert(t, crm, "contact", connector.Record{Key: c.Key, Fields: F{"address1_city": "Edited"}})
			}
		}
	}
	for o.recoverRuns = 1; o.recoverRuns <= 5; o.recoverRuns++ {
		if _, w := child(""); w == 0 {
			break
		}
	}
	if o.recoverRuns > 5 {
		t.Errorf("%s at %s: five passes after the kill still write", tr.seed, tr.at)
	}
	// Duplicates and losses: each seeded name once on each side.
	crm, ppl := svc.conns["crm"].Records("contact"), svc.conns["infobip"].Records("customer")
	o.contacts, o.customers = len(crm), len(ppl)
	count := func(recs []connector.Record, first, last string) map[string]int {
		m := map[string]int{}
		for _, r := range recs {
			m[fmt.Sprint(r.Fields[first], " ", r.Fields[last])]++
		}
		return m
	}
	want := map[string]int{"Ivo Crm": 1, "Eva Crm": 2, "Tin Crm": 1, "Ana People": 1, "Leo People": 2, "Mia People": 1, "Zoe People": 1}
	for _, have := range []map[string]int{count(crm, "firstname", "lastname"), count(ppl, "firstName", "lastName")} {
		for name, n := range want {
			switch {
			case have[name] > n:
				o.duplicates += have[name] - n
			case have[name] < n:
				o.lost += n - have[name]
			}
		}
	}
	st, err := state.Open(context.Background(), statePath, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rj, _ := st.Rejects(context.Background(), state.RejectQuery{})
	o.rejects = len(rj)
	// Linked one to one by externalId.
	byExt := map[string]int{}
	for _, p := range ppl {
		byExt[fmt.Sprint(p.Fields["externalId"])]++
	}
	for _, c := range crm {
		if byExt[c.Key] != 1 {
			t.Errorf("%s at %s: contact %s has %d People profiles", tr.seed, tr.at, c.Key, byExt[c.Key])
		}
	}
	return o
}

// TestKill9 kills a two-way initial load (records with no match key at
// all, and records with emails) at every commit point of both directions
// and at the service between a create and its answer, then recovers and
// counts duplicates and losses: none of either, nothing rejected.
func TestKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns processes")
	}
	var points []string
	for _, f := range []string{lr, rl} {
		for _, p := range []string{"target-written", "batch-committed"} {
			points = append(points, f+"/"+p)
		}
	}
	// Only People -> Dynamics creates need intents (Dynamics assigns the
	// key) and a write-back (Dynamics -> People creates carry the link).
	points = append(points, rl+"/intents-recorded", rl+"/targets-recorded", rl+"/source-written")
	for _, side := range []string{"crm", "infobip"} {
		points = append(points, "service/"+side+"/unapplied", "service/"+side+"/applied")
	}
	// Each point the first time it is reached, and the second (another
	// batch, possibly one written concurrently with the first).
	for _, p := range points[:len(points):len(points)] {
		points = append(points, p+"#2")
	}
	total := map[string]*killOutcome{}
	// "slow-right": the services declare People slower to read, so the
	// killed first run went right to left first.
	for _, seed := range []string{"no-keys", "emails", "no-keys/slow-right", "emails/slow-right"} {
		total[seed] = &killOutcome{}
		for _, at := range points {
			t.Run(seed+"/"+strings.ReplaceAll(at, "#", "/nth"), func(t *testing.T) {
				base, slow := strings.CutSuffix(seed, "/slow-right")
				o := runKillTrial(t, killTrial{seed: base, at: at, slowRight: slow})
				if !o.killed {
					t.Errorf("the child was never killed at %s", at)
				}
				if o.duplicates != 0 || o.lost != 0 || o.rejects != 0 {
					t.Errorf("after the kill: %d duplicates, %d lost, %d rejects (%d contacts, %d customers, %d recovery passes)",
						o.duplicates, o.lost, o.rejects, o.contacts, o.customers, o.recoverRuns)
				}
				s := total[seed]
				s.recoverRuns++ // trials
				s.duplicates += o.duplicates
				s.lost += o.lost
				s.rejects += o.rejects
			})
		}
	}
	// Edited after the kill, once the new contacts' keys were recorded: the
	// key still finds them. (Killed before that, an edit defeats the
	// fingerprint: SPEC says so, and it is not tested as a guarantee.)
	total["no-keys, edited after the kill"] = &killOutcome{}
	for _, at := range []string{rl + "/targets-recorded", rl + "/targets-recorded#2", rl + "/source-written", rl + "/batch-committed"} {
		t.Run("no-keys-edited/"+strings.ReplaceAll(at, "#", "/nth"), func(t *testing.T) {
			o := runKillTrial(t, killTrial{seed: "no-keys", at: at, edit: true})
			if !o.killed || o.duplicates != 0 || o.lost != 0 || o.rejects != 0 {
				t.Errorf("after the kill and an edit: killed %v, %d duplicates, %d lost, %d rejects", o.killed, o.duplicates, o.lost, o.rejects)
			}
			s := total["no-keys, edited after the kill"]
			s.recoverRuns++
			s.duplicates += o.duplicates
			s.lost += o.lost
			s.rejects += o.rejects
		})
	}
	for seed, s := range total {
		t.Logf("%s: %d kill -9 trials, %d duplicates, %d lost, %d rejects", seed, s.recoverRuns, s.duplicates, s.lost, s.rejects)
	}
}
