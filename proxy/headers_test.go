package proxy_test

import (
	"strings"
	"testing"
)

// RFC 9110, section 7.6.1: hop-by-hop headers, and the ones a Connection
// header names, are not forwarded.
func TestPassThrough_HopByHopRequestHeadersRemoved(t *testing.T) {
	r := startRig(t, rigOptions{})
	resp := r.do("GET /api/v2/users/me HTTP/1.1\r\n" +
		"Host: c\r\n" +
		"Connection: X-Foo, x-bar ,keep-alive\r\n" +
		"X-Foo: secret-for-this-hop\r\n" +
		"x-BAR: also\r\n" +
		"Keep-Alive: timeout=5, max=100\r\n" +
		"Proxy-Authorization: Basic cHJveHk6cGFzcw==\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"TE: trailers, deflate\r\n" +
		"Trailer: X-Checksum\r\n" +
		"Upgrade: h2c\r\n" +
		"X-Kept: yes\r\n" +
		"\r\n")
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200", resp.Status)
	}
	got := only(t, "api", r.api)
	for _, name := range []string{"Connection", "X-Foo", "X-Bar", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer", "Upgrade"} {
		if v := got.Get(name); len(v) > 0 {
			t.Errorf("upstream received %s: %q, want it removed", name, v)
		}
	}
	if v := got.Get("X-Kept"); len(v) != 1 || v[0] != "yes" {
		t.Errorf("X-Kept = %q, want [yes]", v)
	}
}

// X-Forwarded-For is appended to, never duplicated: the upstream sees one
// line with the client's address at the end.
func TestPassThrough_XForwardedFor_AppendedToExisting(t *testing.T) {
	f := func(in string, want []string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		r.do("GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n" + in + "\r\n")
		got := only(t, "api", r.api)
		if xff := got.Get("X-Forwarded-For"); strings.Join(xff, "|") != strings.Join(want, "|") {
			t.Errorf("%q: upstream X-Forwarded-For = %q, want %q", in, xff, want)
		}
	}
	f("", []string{"127.0.0.1"})
	f("X-Forwarded-For: 1.2.3.4\r\n", []string{"1.2.3.4, 127.0.0.1"})
	f("x-forwarded-for: 1.2.3.4, 10.0.0.1\r\n", []string{"1.2.3.4, 10.0.0.1, 127.0.0.1"})
	f("X-Forwarded-For: \r\n", []string{"127.0.0.1"})
}

// The client cannot choose X-Forwarded-Proto or X-Forwarded-Host: callfix
// sets each exactly once.
func TestPassThrough_XForwardedProtoAndHost_SetOnce(t *testing.T) {
	r := startRig(t, rigOptions{})
	r.do("GET /api/v2/users/me HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: real.example\r\nx-forwarded-host: evil.example\r\n\r\n")
	got := only(t, "api", r.api)
	if v := got.Get("X-Forwarded-Proto"); len(v) != 1 || v[0] != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want [http]", v)
	}
	if v := got.Get("X-Forwarded-Host"); len(v) != 1 || v[0] != "real.example" {
		t.Errorf("X-Forwarded-Host = %q, want [real.example]", v)
	}
}
