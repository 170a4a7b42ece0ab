package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServePassTimeout: a pass stuck on a Web API that never answers is
// stopped at --pass-timeout, fails with a message that says so, releases
// its lock, and the next interval runs a pass again (which is stopped the
// same way, not refused as locked).
func TestServePassTimeout(t *testing.T) {
	t.Parallel()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":3600}`))
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	w := newWorld(t, worldOptions{contacts: 2, files: map[string]string{
		"contacts.sync": strings.Replace(readExample(t, "contacts.sync"), "every 1m", "every 1s", 1),
	}})
	w.env["DYNAMICS_URL"], w.env["DYNAMICS_AUTHORITY"] = hang.URL, hang.URL
	base, sig, code, logs := w.serve(t, "serve", "--listen", "127.0.0.1:0", "--pass-timeout", "300ms")
	waitMetric(t, base, regexp.MustCompile(`synclang_passes_total\{outcome="failed",sync="contacts"\} (\d+)`), 2)
	sig <- os.Interrupt
	select {
	case <-code:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after an interrupt")
	}
	out := logs.String()
	if !strings.Contains(out, "ran longer than its time budget of 300ms (--pass-timeout)") || strings.Contains(out, "locked") {
		t.Errorf("logs:\n%s", out)
	}
}
