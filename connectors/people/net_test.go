package people

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/httpx"
	"github.com/synclang/synclang/connectors/internal/nettest"
)

const testKey = "the-api-key-0123"

func fakePeople(t *testing.T, srv *httptest.Server, tune tuning, extra map[string]string) *Conn {
	t.Helper()
	settings := map[string]string{SettingURL: srv.URL, SettingAPIKey: testKey}
	for k, v := range extra {
		settings[k] = v
	}
	var client *http.Client
	if srv.TLS != nil {
		client = srv.Client()
	}
	c, err := newConn(connector.Config{Name: "cdp", Settings: settings, HTTPClient: client, CacheDir: t.TempDir()}, tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func matchBody() any {
	return map[string]any{"persons": []any{map[string]any{"contactInformation": map[string]any{"email": []any{map[string]any{"address": "ann@example.com"}}}}}}
}

// A redirect to another host (302 or 307), or from https to plain http on
// the same host name, is not followed: the App key and the match body
// (email addresses) stay home, and the error says why.
func TestRedirectsKeepTheKeyAndBody(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		tls    bool
		sinkOn string
		status int
	}{
		{"302 to another host", false, "127.0.0.2:0", http.StatusFound},
		{"307 to another host", false, "127.0.0.2:0", http.StatusTemporaryRedirect},
		{"https to http on the same host", true, "127.0.0.1:0", http.StatusTemporaryRedirect},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := nettest.NewSinkOn(t, tt.sinkOn)
			var srv *httptest.Server
			if tt.tls {
				srv = httptest.NewTLSServer(nettest.Redirect(tt.status, sink.URL))
			} else {
				srv = httptest.NewServer(nettest.Redirect(tt.status, sink.URL))
			}
			t.Cleanup(srv.Close)
			c := fakePeople(t, srv, tuning{}, nil)
			_, err := c.call(testCtx(t), "match persons", http.MethodPost, "/people/2/persons/match", nil, matchBody(), nil)
			if got := sink.Requests(); len(got) != 0 {
				t.Fatalf("the other host got %+v", got)
			}
			if connector.KindOf(err) != connector.ErrorConfig || !errors.Is(err, httpx.ErrRedirect) || strings.Contains(err.Error(), testKey) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// The key goes only to the account's URL: a request for another host is
// refused before it is sent.
func TestKeyOnlyForTheAccount(t *testing.T) {
	t.Parallel()
	sink := nettest.NewSink(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	c := fakePeople(t, srv, tuning{}, nil)
	other, _ := url.Parse(sink.URL)
	c.base.Host = other.Host // as if a path had been resolved against another host
	_, err := c.call(testCtx(t), "read persons", http.MethodGet, "/people/2/persons", nil, nil, nil)
	if len(sink.Requests()) != 0 || connector.KindOf(err) != connector.ErrorConfig || !strings.Contains(err.Error(), "refusing to send credentials") {
		t.Fatalf("err %v; sink got %+v", err, sink.Requests())
	}
}

// A flooding answer is cut off at the endpoint's cap; the error names the
// endpoint and the cap.
func TestFloodingAnswerIsCapped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nettest.Flood(`{"persons":[`, 64<<20))
	t.Cleanup(srv.Close)
	c := fakePeople(t, srv, tuning{caps: answerCaps{get: 1 << 20, other: 1 << 20}}, nil)
	var out listAnswer
	_, err := c.call(testCtx(t), "read customer", http.MethodGet, "/people/2/persons", nil, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "the answer of GET /people/2/persons is larger than 1 MiB") {
		t.Fatalf("err %v", err)
	}
}

// A trickling answer fails within the retry budget.
func TestTricklingAnswerFails(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nettest.Trickle(`{"persons":[`, 20*time.Millisecond))
	t.Cleanup(srv.Close)
	c := fakePeople(t, srv, tuning{}, map[string]string{SettingRetryBudget: "1s"})
	var out listAnswer
	_, err := c.call(testCtx(t), "read customer", http.MethodGet, "/people/2/persons", nil, nil, &out)
	var te *httpx.TimeoutError
	if !errors.As(err, &te) || connector.KindOf(err) != connector.ErrorTransient {
		t.Fatalf("err %v, want a timeout", err)
	}
}

// A host that refuses connections fails after a few quick attempts, not
// after a minute of retries (issue 13).
func TestRefusingHostFailsFast(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	c := fakePeople(t, srv, tuning{}, nil)
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		if _, err := c.call(ctx, "read persons", http.MethodGet, "/people/2/persons", nil, nil, nil); connector.KindOf(err) != connector.ErrorTransient {
			t.Fatalf("err %v", err)
		}
	}
	if st := c.Stats(); st.Requests != 4 {
		t.Errorf("%d attempts for two requests to a refusing host, want 3 + 1", st.Requests)
	}
}

// A service that ignores the page number sends the same persons forever:
// the read stops with an error naming the entity, after a few requests
// (the same-second walk re-reads the second before the scan's guard stops it).
func TestEndlessPagingStops(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 50 {
			http.Error(w, "enough", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"persons":[{"id":1,"type":"CUSTOMER","modifiedAt":"2024-05-01T12:00:00"},{"id":2,"type":"CUSTOMER","modifiedAt":"2024-05-01T12:00:00"}]}`))
	}))
	t.Cleanup(srv.Close)
	c := fakePeople(t, srv, tuning{pageSize: 2}, nil)
	err := c.Read(testCtx(t), connector.ReadRequest{Entity: EntityCustomer}, func(connector.Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "reading customer: 3 pages in a row brought no new record") || hits.Load() > 20 {
		t.Fatalf("after %d requests: %v", hits.Load(), err)
	}
}

// What retrying cannot fix fails at the first attempt, as a configuration
// error: a host name that does not exist, a certificate that does not
// verify (issue 13: 46 s of silence before).
func TestUnfixableFailuresFailAtOnce(t *testing.T) {
	t.Parallel()
	nx := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "acme.api.infobip.com", IsNotFound: true}}
	}}
	c, err := newConn(connector.Config{Name: "cdp", Settings: map[string]string{SettingURL: "https://acme.api.infobip.com", SettingAPIKey: testKey},
		HTTPClient: &http.Client{Transport: nx}}, tuning{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.call(testCtx(t), "read persons", http.MethodGet, "/people/2/persons", nil, nil, nil)
	if connector.KindOf(err) != connector.ErrorConfig || !strings.Contains(err.Error(), "no such host") || c.Stats().Requests != 1 {
		t.Errorf("NXDOMAIN: %v after %d attempts", err, c.Stats().Requests)
	}

	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake error is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err = newConn(connector.Config{Name: "cdp", Settings: map[string]string{SettingURL: srv.URL, SettingAPIKey: testKey}, CacheDir: t.TempDir()}, tuning{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.call(testCtx(t), "read persons", http.MethodGet, "/people/2/persons", nil, nil, nil)
	if connector.KindOf(err) != connector.ErrorConfig || !strings.Contains(err.Error(), "certificate") || c.Stats().Requests != 1 {
		t.Errorf("untrusted certificate: %v after %d attempts", err, c.Stats().Requests)
	}
}
