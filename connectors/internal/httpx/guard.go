package httpx

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Where credentials may go, and which redirects are followed (SPEC.md,
// "Connections at run time"). Go's http.Client follows up to 10 redirects
// to any host, re-sends the body of a 307/308 there, and a RoundTripper
// that sets Authorization itself sets it on every hop; so the connectors
// set CheckRedirect to NoRedirects (token endpoints) or SameHost (APIs),
// and attach credentials only where Secure and their own host rule agree.

// ErrRedirect is matched (errors.Is) by every refused redirect.
var ErrRedirect = errors.New("redirect refused")

// RedirectError is a redirect the client did not follow.
type RedirectError struct {
	Method string
	From   *url.URL
	To     *url.URL
	Why    string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the answer to %s %s://%s%s redirected to %s://%s, and %s", e.Method, e.From.Scheme, e.From.Host, Path(e.From),
		e.To.Scheme, e.To.Host, e.Why)
}

// Is makes errors.Is(err, ErrRedirect) true.
func (e *RedirectError) Is(target error) bool { return target == ErrRedirect }

// maxRedirects bounds the same-host redirects followed in a row.
const maxRedirects = 3

// NoRedirects is the CheckRedirect of token endpoints: an identity platform
// answers a token request itself, and a redirect would carry the client
// secret (a 307 re-posts the form) to wherever it points.
func NoRedirects(req *http.Request, via []*http.Request) error {
	return &RedirectError{Method: via[0].Method, From: via[0].URL, To: req.URL, Why: "synclang does not follow redirects of a token endpoint"}
}

// SameHost is the CheckRedirect of API clients: a redirect is followed only
// when it keeps the scheme and the host (and port) of the first request,
// at most three in a row. Anything else fails the request: no body is
// re-sent, and no header is copied, to another host.
func SameHost(req *http.Request, via []*http.Request) error {
	first := via[0]
	switch {
	case !strings.EqualFold(req.URL.Scheme, first.URL.Scheme) || !strings.EqualFold(req.URL.Host, first.URL.Host):
		return &RedirectError{Method: first.Method, From: first.URL, To: req.URL, Why: "synclang follows redirects only within the same scheme and host"}
	case len(via) > maxRedirects:
		return &RedirectError{Method: first.Method, From: first.URL, To: req.URL, Why: fmt.Sprintf("synclang follows at most %d redirects", maxRedirects)}
	}
	return nil
}

// Secure reports whether u may carry a credential at all: https, or plain
// http to a loopback host (the emulators, tests).
func Secure(u *url.URL) bool {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return true
	case "http":
		return isLoopback(u.Hostname())
	}
	return false
}

// SameOrigin reports whether u has the scheme, host and port of origin.
func SameOrigin(origin, u *url.URL) bool {
	return strings.EqualFold(u.Scheme, origin.Scheme) && strings.EqualFold(hostPort(u), hostPort(origin))
}

// MayCarry reports whether a request to u may carry the credential of the
// service at origin: the same origin, and Secure.
func MayCarry(origin, u *url.URL) bool { return SameOrigin(origin, u) && Secure(u) }

// ForeignHostError is a request the connector refused to send with its
// credential because it is not for the configured host.
type ForeignHostError struct {
	Service string
	URL     *url.URL
	Allowed string // the configured origin
}

func (e *ForeignHostError) Error() string {
	return fmt.Sprintf("%s: refusing to send credentials to %s://%s: they go only to %s over https (plain http only on loopback)",
		e.Service, e.URL.Scheme, e.URL.Host, e.Allowed)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
