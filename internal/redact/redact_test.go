package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

const secret = `s3cr3t+/=&"<é>x`

func TestStringMasksEveryForm(t *testing.T) {
	var g Registry
	g.Register(secret)
	for _, in := range []string{
		"raw " + secret,
		"form client_secret=" + url.QueryEscape(secret) + "&grant_type=client_credentials",
		"path /" + url.PathEscape(secret),
		`json {"client_secret":` + string(must(json.Marshal(secret))) + `}`,
		`ascii "s3cr3t+/=&\"<\u00e9>x"`,
		`json {"client_secret":"s3cr3t+/=&\"<é>x"}`,
		"go " + strings.TrimSuffix(strings.TrimPrefix(`"s3cr3t+/=&\"<é>x"`, `"`), `"`),
	} {
		out := g.String(in)
		if !strings.Contains(out, Mask) || strings.Contains(out, "s3cr3t") {
			t.Errorf("String(%q) = %q, want the secret masked", in, out)
		}
	}
}

func TestShortAndNil(t *testing.T) {
	var g Registry
	g.Register("", "abc")
	if got := g.String("abc abc"); got != "abc abc" {
		t.Errorf("a value shorter than MinLen was registered: %q", got)
	}
	var nilg *Registry
	nilg.Register(secret)
	if got := nilg.String(secret); got != secret {
		t.Errorf("nil registry changed the text: %q", got)
	}
}

func TestLongestFirst(t *testing.T) {
	var g Registry
	g.Register("abcdef", "abcdefghij")
	if got := g.String("x abcdefghij y"); got != "x "+Mask+" y" {
		t.Errorf("got %q", got)
	}
}

func TestRegisterURL(t *testing.T) {
	var g Registry
	g.RegisterURL("https://alice:hunter22@example.com/x")
	if got := g.String("password hunter22"); strings.Contains(got, "hunter22") {
		t.Errorf("userinfo password not registered: %q", got)
	}
}

func TestWriterAndHandler(t *testing.T) {
	var g Registry
	g.Register(secret)
	var buf bytes.Buffer
	w := g.Writer(&buf)
	n, err := w.Write([]byte("x " + secret + "\n"))
	if err != nil || n != len("x "+secret+"\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	log := slog.New(g.Handler(slog.NewJSONHandler(&buf, nil)))
	log.With("token", secret).Error("failed "+secret, "error", errors.New("body: "+secret+" \x1b[31m\u202e"),
		slog.Group("g", "v", secret), "list", []string{secret})
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Errorf("secret leaked:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "\u202e") || !strings.Contains(buf.String(), `\\x1b[31m`) {
		t.Errorf("control characters in a log line are not escaped:\n%s", buf.String())
	}
	if c := strings.Count(buf.String(), Mask); c != 6 {
		t.Errorf("%d masks, want 6:\n%s", c, buf.String())
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain é\ttab\nline":       "plain é\ttab\nline",
		"\x1b[2J\x07bell\rcr":      `\x1b[2J\abell\rcr`,
		"c1 \u009b31m":             `c1 \u009b31m`,
		"bidi \u202egnp.exe\u2066": `bidi \u202egnp.exe\u2066`,
		"bad \xff utf8":            `bad \xff utf8`,
		"del \x7f":                 `del \x7f`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Line("a\nb"); got != `a\nb` {
		t.Errorf("Line = %q", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestExpiringValuesAreBounded: tokens registered an hour apart for a
// year do not grow the registry; values registered to stay do stay.
func TestExpiringValuesAreBounded(t *testing.T) {
	var g Registry
	g.Register("setting-secret")
	for i := range 10 * MaxRecent {
		g.RegisterExpiring(fmt.Sprintf("token-%06d", i))
	}
	if len(g.recent) != MaxRecent {
		t.Errorf("%d expiring values kept, want %d", len(g.recent), MaxRecent)
	}
	last := fmt.Sprintf("token-%06d", 10*MaxRecent-1)
	if got := g.String("setting-secret " + last + " token-000000"); got != Mask+" "+Mask+" token-000000" {
		t.Errorf("got %q", got)
	}
}

// BenchmarkWriter: the cost of masking a log line with three secrets
// registered (a client secret, an API key, an access token).
func BenchmarkWriter(b *testing.B) {
	var g Registry
	g.Register(strings.Repeat("c", 40), strings.Repeat("k", 64))
	g.RegisterExpiring(strings.Repeat("t", 1200))
	line := []byte(`{"time":"2026-12-02T10:14:37Z","level":"INFO","msg":"pass finished","sync":"contacts","read":4000,"created":2666}` + "\n")
	for _, bc := range []struct {
		name string
		w    io.Writer
	}{{"raw", io.Discard}, {"masked", g.Writer(io.Discard)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.w.Write(line)
			}
		})
	}
}
