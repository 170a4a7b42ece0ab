package dynamics

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
	"github.com/synclang/synclang/connectors/internal/nettest"
)

const testSecret = "s3cr3t+Value/with=chars"

// fakeEnv is a server that is both the identity platform (token requests)
// and the Web API (api for everything else).
func fakeEnv(t *testing.T, tls bool, token, api http.Handler) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			token.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv
}

var goodToken = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"the-bearer-token","token_type":"Bearer","expires_in":3600}`))
})

func fakeConn(t *testing.T, srv *httptest.Server, extra map[string]string) *Conn {
	t.Helper()
	settings := map[string]string{"url": srv.URL, "authority": srv.URL, "tenant": "t", "client_id": "c",
		"client_secret": testSecret, "auth": AuthClientCredentials}
	for k, v := range extra {
		settings[k] = v
	}
	// The base transport trusts the test servers' certificate (httptest's
	// TLS servers share one).
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: nil}}
	if srv.TLS != nil {
		base = srv.Client().Transport.(*http.Transport).Clone()
	}
	c, err := New(context.Background(), connector.Config{Name: "crm", Settings: settings, HTTPClient: &http.Client{Transport: base}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*Conn)
}

// A redirect of the Web API to another host (302 or 307; from http, or
// from https to plain http) is not followed: the other host gets neither
// the bearer token nor the body, and the error says why.
func TestAPIRedirectToAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		tls    bool
		status int
	}{{"302", false, http.StatusFound}, {"307", false, http.StatusTemporaryRedirect}, {"https to http 307", true, http.StatusTemporaryRedirect}} {
		t.Run(tt.name, func(t *testing.T) {
			sink := nettest.NewSink(t)
			srv := fakeEnv(t, tt.tls, goodToken, nettest.Redirect(tt.status, sink.URL))
			c := fakeConn(t, srv, nil)
			_, _, err := c.call(testCtx(t), "create contact", http.MethodPost, c.apiURL+"contacts", map[string]any{"emailaddress1": "ann@example.com"}, nil)
			if got := sink.Requests(); len(got) != 0 {
				t.Fatalf("the other host got %+v", got)
			}
			if connector.KindOf(err) != connector.ErrorConfig || !errors.Is(err, httpx.ErrRedirect) || !strings.Contains(err.Error(), "redirected to http://127.0.0.2") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// A redirect on the same host is followed, with the token.
func TestAPIRedirectOnTheSameHostIsFollowed(t *testing.T) {
	t.Parallel()
	var auth atomic.Value
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old/contacts/$count" {
			http.Redirect(w, r, "/api/data/v9.2/contacts/$count", http.StatusFound)
			return
		}
		auth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("7"))
	})
	srv := fakeEnv(t, true, goodToken, api)
	c := fakeConn(t, srv, nil)
	_, body, err := c.call(testCtx(t), "count", http.MethodGet, srv.URL+"/old/contacts/$count", nil, nil)
	if err != nil || string(body) != "7" || auth.Load() != "Bearer the-bearer-token" {
		t.Fatalf("body %q, err %v, auth %v", body, err, auth.Load())
	}
}

// The token endpoint follows no redirect: a 307 would re-post the form
// with client_secret to the other host.
func TestTokenEndpointRedirectIsRefused(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		sink := nettest.NewSink(t)
		var apiHits atomic.Int64
		srv := fakeEnv(t, false, nettest.Redirect(status, sink.URL), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { apiHits.Add(1) }))
		c := fakeConn(t, srv, nil)
		_, _, err := c.call(testCtx(t), "count", http.MethodGet, c.apiURL+"contacts/$count", nil, nil)
		if got := sink.Requests(); len(got) != 0 {
			t.Fatalf("%d: the other host got %+v", status, got)
		}
		if connector.KindOf(err) != connector.ErrorConfig || !strings.Contains(err.Error(), "does not follow redirects of a token endpoint") || apiHits.Load() != 0 {
			t.Fatalf("%d: err %v, %d API requests", status, err, apiHits.Load())
		}
	}
}

// A requested URL on another host never gets the token, whatever produced
// it (authTransport is the last check).
func TestTokenOnlyForTheEnvironment(t *testing.T) {
	t.Parallel()
	sink := nettest.NewSink(t)
	srv := fakeEnv(t, false, goodToken, http.NotFoundHandler())
	c := fakeConn(t, srv, nil)
	_, _, err := c.call(testCtx(t), "count", http.MethodGet, sink.URL+"/api/data/v9.2/contacts/$count", nil, nil)
	if len(sink.Requests()) != 0 || connector.KindOf(err) != connector.ErrorConfig || !strings.Contains(err.Error(), "refusing to send credentials to http://127.0.0.2") {
		t.Fatalf("err %v; sink got %+v", err, sink.Requests())
	}
}

// A token-endpoint error that is not the documented JSON (here: a page
// echoing the request form) is shown as a short excerpt, with the client
// secret and other credential parameters removed and control characters
// escaped.
func TestTokenErrorBodyIsScrubbed(t *testing.T) {
	t.Parallel()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("\x1b[31mbad request\x07: " + r.PostForm.Encode() + " raw=" + testSecret + strings.Repeat(" padding", 100)))
	})
	srv := fakeEnv(t, false, echo, http.NotFoundHandler())
	c := fakeConn(t, srv, nil)
	_, _, err := c.call(testCtx(t), "count", http.MethodGet, c.apiURL+"contacts/$count", nil, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, leak := range []string{testSecret, "s3cr3t", "\x1b", "\x07"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the message contains %q: %s", leak, msg)
		}
	}
	if !strings.Contains(msg, "HTTP 400") || !strings.Contains(msg, `\x1b[31mbad request\x07`) || !strings.Contains(msg, "client_secret=[redacted]") || len(msg) > 700 {
		t.Errorf("message %q", msg)
	}
}

// A server that trickles its answer fails within the retry budget instead
// of holding the run for as long as it likes.
func TestTricklingAnswerFails(t *testing.T) {
	t.Parallel()
	srv := fakeEnv(t, false, goodToken, nettest.Trickle(`{"value":[`, 20*time.Millisecond))
	c := fakeConn(t, srv, map[string]string{SettingRetryBudget: "1s"})
	_, _, err := c.call(testCtx(t), "read contact", http.MethodGet, c.apiURL+"contacts", nil, nil)
	var te *httpx.TimeoutError
	if !errors.As(err, &te) || connector.KindOf(err) != connector.ErrorTransient {
		t.Fatalf("err %v, want a timeout", err)
	}
}

// A flooding answer is cut off at the endpoint's cap with an error naming
// both.
func TestFloodingAnswerIsCapped(t *testing.T) {
	t.Parallel()
	srv := fakeEnv(t, false, goodToken, nettest.Flood(`{"value":[`, 64<<20))
	c := fakeConn(t, srv, nil)
	c.caps = answerCaps{page: 1 << 20, batch: 1 << 20, other: 1 << 20}
	_, _, err := c.call(testCtx(t), "read contact", http.MethodGet, c.apiURL+"contacts?$select=fullname", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "the answer of GET contacts is larger than 1 MiB") {
		t.Fatalf("err %v", err)
	}
}

// A nextLink that repeats ends the read with an error naming the entity,
// after a bounded number of requests.
func TestRepeatedNextLinkStopsTheRead(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	var self string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 50 {
			http.Error(w, "too many", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":[{"contactid":"00000000-0000-0000-0000-000000000001","modifiedon":"2024-01-01T00:00:00Z"}],"@odata.nextLink":"` + self + `"}`))
	})
	srv := fakeEnv(t, false, goodToken, api)
	self = srv.URL + "/api/data/v9.2/contacts?$skiptoken=same"
	c := fakeConn(t, srv, nil)
	err := c.Read(testCtx(t), connector.ReadRequest{Entity: "contact"}, func(connector.Batch) error { return nil })
	// Discovery (RetrieveMetadataChanges, EntityDefinitions), then the
	// first page and its repeat.
	if err == nil || !strings.Contains(err.Error(), "reading contact: the service sent the same next-page link a second time") || hits.Load() > 4 {
		t.Fatalf("after %d requests: %v", hits.Load(), err)
	}
}

// An identity platform whose certificate does not verify, or a port where
// nothing listens, fails in a few quick attempts with a clear error (issue
// 13), not after a minute of retries.
func TestUnreachableIdentityPlatformFailsFast(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake error is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct {
		name, authority, want string
		kind                  connector.ErrorKind
	}{
		{"untrusted certificate", tlsSrv.URL, "certificate", connector.ErrorConfig},
		{"nothing listening", closed.URL, "connection refused", connector.ErrorTransient},
	} {
		var hits atomic.Int64
		base := &countingRT{base: http.DefaultTransport.(*http.Transport).Clone(), n: &hits}
		c, err := New(context.Background(), connector.Config{Name: "crm", HTTPClient: &http.Client{Transport: base}, CacheDir: t.TempDir(),
			Settings: map[string]string{"url": "https://org.crm4.dynamics.com", "authority": tt.authority, "tenant": "t", "client_id": "c", "client_secret": testSecret}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.(*Conn).call(testCtx(t), "count", http.MethodGet, c.(*Conn).apiURL+"contacts/$count", nil, nil)
		if connector.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) || hits.Load() > 3 {
			t.Errorf("%s: %v after %d attempts", tt.name, err, hits.Load())
		}
	}
}

type countingRT struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}
