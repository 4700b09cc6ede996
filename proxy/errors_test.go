package proxy_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// errorRoutes are the routes callfix's own errors are checked on: the API
// (Genesys's error body), the login host, and the login host behind a
// gateway prefix (the OAuth error body).
var errorRoutes = []struct {
	name, path string
	login      bool
}{
	{"api", "/api/v2/analytics/conversations/details/query", false},
	{"login", "/oauth/token", true},
	{"gateway login", "/login/oauth/token", true},
}

var gatewayFlags = map[string]string{"gateway.login_prefixes": "/login"}

func withFlags(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range gatewayFlags {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Every error callfix answers itself carries ININ-Correlation-Id, equal to
// X-Request-Id and to contextId (the client's X-Request-Id when it sent a
// sane one), as Genesys's errors do; on the login routes the body is the
// OAuth error body, elsewhere Genesys's API error body.
func TestErrors_CorrelationIDAndShape_EveryStatusEveryRoute(t *testing.T) {
	post := func(path, id string, extra ...string) string {
		h := append([]string{"Content-Type: application/x-www-form-urlencoded", "X-Request-Id: " + id}, extra...)
		return request("POST", path, []byte("grant_type=client_credentials"), h...)
	}
	check := func(name string, resp *rawResponse, login bool, status int, code, id string) {
		t.Helper()
		wantError(t, name, resp, login, status, code)
		if got := resp.Get1(t, "ININ-Correlation-Id"); got != id {
			t.Errorf("%s: ININ-Correlation-Id = %q, want the client's X-Request-Id %q", name, got, id)
		}
	}
	for _, rt := range errorRoutes {
		t.Run(rt.name, func(t *testing.T) {
			// 400: ambiguous framing, refused before routing to an upstream.
			r := startRig(t, rigOptions{flags: gatewayFlags})
			c := dialRaw(t, r.addr)
			c.send("POST " + rt.path + " HTTP/1.1\r\nHost: c\r\nX-Request-Id: e400\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
			check("400", c.read(), rt.login, 400, "callfix.bad.request", "e400")
			c.Close()

			// 408: a streamed body that stops coming. (A body small enough
			// for fasthttp to read before the handler is dropped with its
			// headers when it times out: that 408 has callfix's own ID and
			// the API format.)
			r = startRig(t, rigOptions{flags: withFlags(map[string]string{"server.read_timeout": "300ms"})})
			c = dialRaw(t, r.addr)
			c.send("POST " + rt.path + " HTTP/1.1\r\nHost: c\r\nX-Request-Id: e408\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("a", 70000))
			check("408", c.read(), rt.login, 408, "callfix.bad.request", "e408")
			c.Close()

			// 502: the upstream refuses connections.
			key := "upstream.api"
			if rt.login {
				key = "upstream.login"
			}
			r = startRig(t, rigOptions{flags: withFlags(map[string]string{key: "http://" + closedPort(t)})})
			check("502", r.do(post(rt.path, "e502")), rt.login, 502, "callfix.upstream.unavailable", "e502")

			// 504: the upstream does not answer in time.
			slow := func(*upstreamtest.Request) upstreamtest.Response {
				return upstreamtest.Response{Delay: 600 * time.Millisecond}
			}
			o := rigOptions{api: slow, flags: withFlags(map[string]string{"upstream.timeout": "200ms"})}
			if rt.login {
				o = rigOptions{login: slow, flags: o.flags}
			}
			r = startRig(t, o)
			check("504", r.do(post(rt.path, "e504")), rt.login, 504, "callfix.upstream.timeout", "e504")

			// 500: callfix itself fails (here, while connecting upstream).
			r = startRig(t, rigOptions{flags: gatewayFlags, dial: func(string) (net.Conn, error) { panic("dial exploded") }})
			resp := r.do(post(rt.path, "e500"))
			check("500", resp, rt.login, 500, "callfix.internal", "e500")
			if strings.Contains(string(resp.Body), "exploded") {
				t.Errorf("500: the body holds the panic: %s", resp.Body)
			}

			// 503: beyond server.max_conns.
			r = startRig(t, rigOptions{flags: withFlags(map[string]string{"server.max_conns": "1"})})
			held := dialRaw(t, r.addr)
			defer held.Close()
			held.send(request("GET", "/api/v2/users/me", nil))
			if got := held.read(); got.Status != 200 {
				t.Fatalf("the first connection: status = %d, want 200", got.Status)
			}
			busy := dialRaw(t, r.addr)
			defer busy.Close()
			busy.send(post(rt.path, "e503"))
			resp = busy.read()
			check("503", resp, rt.login, 503, "callfix.server.busy", "e503")
			if resp.Get1(t, "Retry-After") != "1" {
				t.Errorf("503: Retry-After = %q, want 1", resp.Get1(t, "Retry-After"))
			}
		})
	}
}

// The errors answered on the intercepted path: a bad X-Callfix-Country
// (400), a body over limits.max_body_bytes (413) and an address enforce
// mode cannot repair (400), each with ININ-Correlation-Id; a request
// without an X-Request-Id gets callfix's own, the same in all three places.
func TestErrors_Intercepted_CorrelationID(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"limits.max_body_bytes": "64"}})
	f := func(name string, raw string, status int, code string) {
		t.Helper()
		resp := r.do(raw)
		b := wantAPIError(t, name, resp, status, code)
		if got := resp.Get1(t, "ININ-Correlation-Id"); got == "" || got != b.ContextID {
			t.Errorf("%s: ININ-Correlation-Id = %q, contextId %q", name, got, b.ContextID)
		}
	}
	f("bad country", request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT, "X-Callfix-Country: USA"), 400, "callfix.bad.request")
	f("too large", request("POST", callsPath, []byte(`{"phoneNumber":"5551234567","callerIdName":"`+strings.Repeat("x", 64)+`"}`), jsonCT), 413, "callfix.body.too.large")
	f("unfixable", request("POST", callsPath, []byte(`{"phoneNumber":"5551234"}`), jsonCT), 400, "callfix.invalid.address")
	none(t, "api", r.api)
}

// A refused connection that sends nothing within a second still gets its
// 503 (in Genesys's API format, with a request ID of callfix's).
func TestErrors_Busy_SilentClientStillAnswered(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"server.max_conns": "1"}})
	held := dialRaw(t, r.addr)
	defer held.Close()
	held.send(request("GET", "/api/v2/users/me", nil))
	if got := held.read(); got.Status != 200 {
		t.Fatalf("the first connection: status = %d, want 200", got.Status)
	}
	c, err := net.DialTimeout("tcp", r.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	start := time.Now()
	resp, err := readHead(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("reading the 503: %v", err)
	}
	if resp.Status != 503 || resp.Get1(t, "ININ-Correlation-Id") == "" || resp.Get1(t, "ININ-Correlation-Id") != resp.Get1(t, "X-Request-Id") {
		t.Errorf("status %d, headers %v: want 503 with equal ININ-Correlation-Id and X-Request-Id", resp.Status, resp.Header)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("answered after %s, want within about a second", d)
	}
}

// An intercepted request without an X-Request-Id that fails upstream gets
// the request ID its record has: one ID per request, however often asked.
func TestErrors_InterceptedUpstreamFailure_ContextIDIsTheRecordsID(t *testing.T) {
	obs := &recorder{}
	r := startRig(t, rigOptions{observer: obs, flags: map[string]string{"upstream.api": "http://" + closedPort(t)}})
	resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT))
	b := wantAPIError(t, "refused", resp, 502, "callfix.upstream.unavailable")
	recs := obs.records()
	if len(recs) != 1 || recs[0].RequestID != b.ContextID {
		t.Errorf("records = %+v, want one with request ID %q (the contextId)", recs, b.ContextID)
	}
}
