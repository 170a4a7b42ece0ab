package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/runtime/state"
)

// echoSecret is a client secret with characters a form body encodes.
const echoSecret = "Zx9~echo+Secret/value=0123456789"

// echoingIdentity is a token endpoint whose error body echoes the request,
// as a misbehaving proxy or identity platform may: client_secret=... in a
// non-JSON 400.
func echoingIdentity(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad request: "+string(body)+" (raw "+echoSecret+")")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSecretsNeverLeave: a token endpoint that echoes the client secret
// (form-encoded and raw) in its error body. The secret appears in none of
// stderr, the JSON log, the state database's bytes, status --json or
// /healthz.
func TestSecretsNeverLeave(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 2})
	id := echoingIdentity(t)
	w.env["AZURE_CLIENT_SECRET"] = echoSecret
	w.env["DYNAMICS_AUTHORITY"] = id.URL
	leak := func(where, text string) {
		t.Helper()
		for _, s := range []string{echoSecret, "Zx9~echo", "Zx9%7Eecho", "echo%2BSecret"} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the secret (%q):\n%s", where, s, text)
			}
		}
	}

	r := w.synclang("run", "--log-level", "debug", w.dir)
	if r.code != exitError || !strings.Contains(r.err, "connection crm (dynamics)") {
		t.Fatalf("run against an echoing token endpoint: %s", r)
	}
	if !strings.Contains(r.err, "[redacted]") {
		t.Errorf("the echoed secret was not masked (or not echoed at all, and this test proves nothing):\n%s", r)
	}
	leak("run's output", r.out+r.err)

	base, sig, code, logs := w.serve(t, "serve", "--listen", "127.0.0.1:0")
	deadline := time.Now().Add(30 * time.Second)
	var hbody string
	for !strings.Contains(hbody, `"lastError"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no lastError in /healthz: %s", hbody)
		}
		time.Sleep(20 * time.Millisecond)
		_, hbody = get(t, base+"/healthz")
	}
	sig <- os.Interrupt
	select {
	case <-code:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	leak("/healthz", hbody)
	leak("serve's log", logs.String())
	if !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("serve's log shows no masked secret:\n%s", logs.String())
	}

	st := w.synclang("status", "--json", w.dir)
	if st.code != exitOK || !regexp.MustCompile(`"error": "`).MatchString(st.out) {
		t.Errorf("status --json shows no failed run: %s", st)
	}
	leak("status --json", st.out+st.err)
	files, _ := filepath.Glob(filepath.Join(w.dir, stateDir, "*"))
	if len(files) == 0 {
		t.Fatal("no state files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		leak(f, string(b))
	}
}

// hostileText is what a misbehaving service may write: an escape sequence
// that recolours the terminal and sets its title, a bell, a carriage
// return that overwrites the line, a C1 CSI and a bidi override, around a
// record's email address.
const hostileText = "\x1b[31m\x1b]0;owned\x07Destination(email) alice.hostile@example.com already exists.\r\u009b2J\u202egnp.exe"

func rawControls(s string) bool {
	return strings.ContainsAny(s, "\x1b\x07\r\u009b\u202e")
}

// TestServiceTextIsEscaped: control characters a service wrote reach
// neither the terminal (run's errors and rejects, `synclang rejects`,
// `synclang status`) raw, and a service's reason (which may quote the
// record) is not written to a stderr that is a log.
func TestServiceTextIsEscaped(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 4})
	target, _ := url.Parse(w.env["INFOBIP_BASE_URL"])
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.Method != http.MethodGet {
			body, _ := json.Marshal(map[string]any{"requestError": map[string]any{"serviceException": map[string]any{
				"messageId": "BAD_REQUEST", "text": hostileText}}})
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusBadRequest)
			rw.Write(body)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.env["INFOBIP_BASE_URL"] = srv.URL
	refuse.Store(true)

	r := w.synclang("run", w.dir)
	if r.code == exitOK {
		t.Fatalf("the service refused every write, yet: %s", r)
	}
	if rawControls(r.out + r.err) {
		t.Errorf("run printed raw control characters:\n%q", r.out+r.err)
	}
	if !strings.Contains(r.out+r.err, `\x1b[31m`) && !strings.Contains(r.out+r.err, "synclang rejects") {
		t.Errorf("run shows neither the escaped service text nor where to find it:\n%s", r)
	}
	// The reject's reason is the service's; the failure line that stopped
	// a sync quotes the service (it is what to act on), escaped.
	if i := strings.Index(r.err, "[rejected-service]"); i < 0 {
		t.Errorf("no service reject on stderr:\n%s", r.err)
	} else if rej, _, _ := strings.Cut(r.err[i:], "synclang run:"); strings.Contains(rej, "alice.hostile@example.com") || !strings.Contains(rej, "synclang rejects") {
		t.Errorf("a service's reject reason quoting the record reached stderr (a log here):\n%s", rej)
	}

	// What the state remembers is escaped when printed.
	st, err := state.Open(context.Background(), filepath.Join(w.dir, stateDir, stateFile), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := st.Acquire(ctx, "contacts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, l, &state.Changes{Sync: "contacts", PutRejects: []state.Reject{{Flow: "left-to-right", Key: "k\x1b[2J",
		Kind: "service", Reason: hostileText}}}); err != nil {
		t.Fatal(err)
	}
	id, err := st.StartRun(ctx, l, state.Run{Sync: "contacts"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, l, state.Run{ID: id, Sync: "contacts", Status: "failed", Error: hostileText}); err != nil {
		t.Fatal(err)
	}
	st.Release(ctx, l)
	st.Close()
	for _, args := range [][]string{{"rejects"}, {"status"}} {
		r := w.synclang(append(args, w.dir)...)
		if r.code != exitOK || rawControls(r.out+r.err) || !strings.Contains(r.out, `\x1b[31m`) {
			t.Errorf("synclang %s: %q", args[0], r.out+r.err)
		}
	}
}

// TestTokensAreMasked: an API that echoes the request's Authorization
// header in its error: the access token the connector obtained is masked
// in the output and the state.
func TestTokensAreMasked(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 2})
	var token atomic.Value
	echo := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") || !strings.Contains(r.URL.Path, "contacts") {
			return http.DefaultTransport.RoundTrip(r)
		}
		token.Store(strings.TrimPrefix(auth, "Bearer "))
		body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": "0x80040220", "message": "request with " + auth + " refused"}})
		return &http.Response{StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Request: r,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(string(body)))}, nil
	})
	var out, errb syncBuffer
	s := w.stdio(&out, &errb)
	s.HTTPClient = &http.Client{Transport: echo}
	code := Main([]string{"run", "--sync", "contacts", w.dir}, s)
	r := result{code, out.String(), errb.String()}
	tok, _ := token.Load().(string)
	if tok == "" || r.code != exitError {
		t.Fatalf("the API was not asked with a token, or the run did not fail: %s", r)
	}
	if strings.Contains(r.out+r.err, tok) || !strings.Contains(r.err, "Bearer [redacted]") {
		t.Errorf("the access token is not masked:\n%s", r)
	}
	st := w.synclang("status", "--json", w.dir)
	if strings.Contains(st.out, tok) {
		t.Errorf("status --json holds the token:\n%s", st.out)
	}
	b, _ := os.ReadFile(filepath.Join(w.dir, stateDir, stateFile))
	wal, _ := os.ReadFile(filepath.Join(w.dir, stateDir, stateFile+"-wal"))
	if strings.Contains(string(b)+string(wal), tok) {
		t.Error("the state holds the token")
	}
}

// TestStatusMasksSecretsOfOldStates: a state written before masking may
// hold a secret; status and rejects mask the project's secrets set in the
// environment without opening a connection.
func TestStatusMasksSecretsOfOldStates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{contacts: 1})
	secret := w.env["AZURE_CLIENT_SECRET"]
	st, err := state.Open(context.Background(), filepath.Join(w.dir, stateDir, stateFile), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, _ := st.Acquire(ctx, "contacts", time.Minute)
	id, _ := st.StartRun(ctx, l, state.Run{Sync: "contacts"})
	if err := st.FinishRun(ctx, l, state.Run{ID: id, Sync: "contacts", Status: "failed", Error: "echo client_secret=" + url.QueryEscape(secret)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, l, &state.Changes{Sync: "contacts", PutRejects: []state.Reject{{Flow: "left-to-right", Key: "k1", Kind: "service", Reason: "key " + secret}}}); err != nil {
		t.Fatal(err)
	}
	st.Release(ctx, l)
	st.Close()
	for _, args := range [][]string{{"status", "--json"}, {"status"}, {"rejects"}} {
		r := w.synclang(append(args, w.dir)...)
		if r.code != exitOK || strings.Contains(r.out+r.err, secret) || strings.Contains(r.out+r.err, url.QueryEscape(secret)) || !strings.Contains(r.out, "[redacted]") {
			t.Errorf("synclang %v: %s", args, r)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
