package proxy_test

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
	"github.com/callfix/callfix/proxy"
)

// faultPaths are the kinds of POST a fault must be handled the same for:
// intercepted, passed through, and to the login host.
var faultPaths = []struct {
	name, raw string
	login     bool
}{
	{"intercepted", request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT), false},
	{"pass-through", request("POST", "/api/v2/analytics/conversations/details/query", []byte(`{"interval":"x"}`), jsonCT), false},
	{"login", request("POST", "/oauth/token", []byte("grant_type=client_credentials"), "Content-Type: application/x-www-form-urlencoded"), true},
}

// posts counts the POSTs an upstream received, after giving the proxy time
// to send a retry it should not send.
func posts(u *upstreamtest.Upstream) int {
	time.Sleep(100 * time.Millisecond)
	n := 0
	for _, q := range u.Requests() {
		if q.Method == "POST" {
			n++
		}
	}
	return n
}

// When the upstream fails, the client gets a 502 or 504 in Genesys's
// format, no Go error text, and the POST was sent exactly once: a second
// POST /api/v2/conversations/calls would place a second real call.
func TestFaults_UpstreamFailure_GenesysErrorAndExactlyOnePOST(t *testing.T) {
	f := func(name string, resp upstreamtest.Response, flags map[string]string, wantStatus int, wantCode string) {
		t.Helper()
		for _, p := range faultPaths {
			h := func(*upstreamtest.Request) upstreamtest.Response { return resp }
			o := rigOptions{api: h, flags: flags}
			if p.login {
				o = rigOptions{login: h, flags: flags}
			}
			r := startRig(t, o)
			start := time.Now()
			got := r.do(p.raw)
			elapsed := time.Since(start)
			wantError(t, name+", "+p.name, got, p.login, wantStatus, wantCode)
			up := r.api
			if p.login {
				up = r.login
			}
			if n := posts(up); n != 1 {
				t.Errorf("%s, %s: upstream received %d POSTs, want exactly 1", name, p.name, n)
			}
			if resp.Delay > 0 && elapsed >= resp.Delay {
				t.Errorf("%s, %s: answered after %s, want before the upstream's delay of %s", name, p.name, elapsed, resp.Delay)
			}
			r.stop()
		}
	}
	f("reset", upstreamtest.Response{Reset: true}, nil, 502, "callfix.upstream.unavailable")
	f("closed without answering", upstreamtest.Response{Close: true}, nil, 502, "callfix.upstream.unavailable")
	f("garbage", upstreamtest.Response{Raw: []byte("SSH-2.0-OpenSSH_9.6\r\n\r\n")}, nil, 502, "callfix.upstream.unavailable")
	f("bad status line", upstreamtest.Response{Raw: []byte("HTTP/1.1 abc Nope\r\n\r\n")}, nil, 502, "callfix.upstream.unavailable")
	f("binary", upstreamtest.Response{Raw: []byte{0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x00}}, nil, 502, "callfix.upstream.unavailable")
	f("truncated small body", upstreamtest.Response{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":")}, nil, 502, "callfix.upstream.unavailable")
	f("timeout", upstreamtest.Response{Delay: 600 * time.Millisecond}, map[string]string{"upstream.timeout": "200ms"}, 504, "callfix.upstream.timeout")
}

// A refused connection is a 502 too; nothing was sent.
func TestFaults_UpstreamRefuses_502(t *testing.T) {
	for _, p := range faultPaths {
		key := "upstream.api"
		if p.login {
			key = "upstream.login"
		}
		r := startRig(t, rigOptions{flags: map[string]string{key: "http://" + closedPort(t)}})
		got := r.do(p.raw)
		msg := ""
		if p.login {
			msg = wantOAuthError(t, p.name, got, 502, "temporarily_unavailable").Description
		} else {
			msg = wantAPIError(t, p.name, got, 502, "callfix.upstream.unavailable").Message
		}
		if !strings.Contains(msg, "Genesys Cloud") {
			t.Errorf("%s: message = %q, want it to say which host could not be reached", p.name, msg)
		}
		if strings.Contains(r.logs.String(), `"Bearer`) {
			t.Errorf("%s: the log holds a token", p.name)
		}
		r.stop()
	}
}

// A connection from the pool that the upstream breaks must not make
// callfix send the POST again on a fresh one.
func TestFaults_WarmPool_UpstreamFailsPOST_NotRetried(t *testing.T) {
	f := func(name string, fault upstreamtest.Response) {
		t.Helper()
		r := startRig(t, rigOptions{})
		if resp := r.do(request("GET", "/api/v2/users/me", nil)); resp.Status != 200 {
			t.Fatalf("%s: warm-up status = %d", name, resp.Status)
		}
		r.api.SetHandler(func(*upstreamtest.Request) upstreamtest.Response { return fault })
		got := r.do(faultPaths[0].raw)
		wantAPIError(t, name, got, 502, "callfix.upstream.unavailable")
		if n := posts(r.api); n != 1 {
			t.Errorf("%s: upstream received %d POSTs, want exactly 1", name, n)
		}
		// The proxy recovers: the next request works.
		r.api.SetHandler(upstreamtest.OK)
		if resp := r.do(request("GET", "/api/v2/users/me", nil)); resp.Status != 200 {
			t.Errorf("%s: request after the fault: status = %d, want 200", name, resp.Status)
		}
		r.stop()
	}
	f("reset", upstreamtest.Response{Reset: true})
	f("close", upstreamtest.Response{Close: true})
}

// A streamed body the upstream cuts short must not look complete to the
// client: the proxy closes the connection before the promised length.
func TestFaults_TruncatedStreamedBody_ClientSeesTruncation(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 100<<10)
	r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Raw: append([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 204800\r\n\r\n"), body...)}
	}})
	c := dialRaw(t, r.addr)
	defer c.Close()
	c.send(request("GET", "/api/v2/downloads/x", nil))
	resp, err := c.readErr()
	if err == nil {
		t.Errorf("client read a complete response (status %d, %d bytes, chunked %v), want the connection closed before the end", resp.Status, len(resp.Body), resp.Chunked)
	}
}

// A client that goes away mid-download frees the upstream connection, and
// the proxy keeps serving.
func TestFaults_ClientGoesAwayMidDownload(t *testing.T) {
	r := startRig(t, rigOptions{api: func(q *upstreamtest.Request) upstreamtest.Response {
		if strings.HasPrefix(q.Target, "/api/v2/downloads/") {
			return upstreamtest.Response{Status: 200, BodyLen: 64 << 20}
		}
		return upstreamtest.OK(q)
	}})
	c := dialRaw(t, r.addr)
	c.send(request("GET", "/api/v2/downloads/big", nil))
	if _, err := readHead(c.br); err != nil {
		t.Fatalf("reading the response head: %v", err)
	}
	io.CopyN(io.Discard, c.br, 1<<20)
	c.Close()
	if resp := r.do(request("GET", "/api/v2/users/me", nil)); resp.Status != 200 {
		t.Errorf("after a client went away: status = %d, want 200", resp.Status)
	}
	deadline := time.Now().Add(ioTimeout)
	for r.srv.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.srv.InFlight(); n != 0 {
		t.Errorf("InFlight = %d after the client went away, want 0", n)
	}
}

// RFC 9112, section 6.3 and 11.2: a request whose length is ambiguous is
// refused with 400 and the connection closed; nothing of it (or of a
// request smuggled in its body) reaches an upstream.
func TestFaults_AmbiguousFraming_400AndNothingForwarded(t *testing.T) {
	smuggled := "GET /api/v2/smuggled HTTP/1.1\r\nHost: c\r\n\r\n"
	f := func(name, head, body string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		c := dialRaw(t, r.addr)
		defer c.Close()
		c.send("POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n" + head + "\r\n" + body)
		resp := c.read()
		if resp.Status != 400 {
			t.Errorf("%s: status = %d, want 400: %s", name, resp.Status, resp.Body)
		} else {
			wantAPIError(t, name, resp, 400, "callfix.bad.request")
		}
		if next, err := c.readErr(); err == nil {
			t.Errorf("%s: a second response (%d) came on the connection, want it closed after the 400", name, next.Status)
		}
		none(t, "api", r.api)
		none(t, "login", r.login)
	}
	f("Content-Length and Transfer-Encoding", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled)
	f("Transfer-Encoding and Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 48\r\n", "0\r\n\r\n"+smuggled)
	f("two Content-Lengths, same value", "Content-Length: 2\r\nContent-Length: 2\r\n", "{}")
	f("two Content-Lengths, different values", "Content-Length: 2\r\nContent-Length: 50\r\n", "{}"+smuggled)
	f("a Content-Length list", "Content-Length: 2, 2\r\n", "{}")
	f("two Transfer-Encodings", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")
	f("Transfer-Encoding not chunked, and Content-Length", "Transfer-Encoding: gzip\r\nContent-Length: 2\r\n", "{}")
	f("space before the colon", "Transfer-Encoding : chunked\r\nContent-Length: 2\r\n", "{}")
	f("a negative Content-Length", "Content-Length: -1\r\n", "{}")
	f("a Content-Length that is not a number", "Content-Length: 0x2\r\n", "{}")
}

// panicObserver stands for a telemetry backend with a bug.
type panicObserver struct{}

func (panicObserver) Intercepted(*proxy.Record) { panic("observer exploded on tel:+15551234567") }

// A panic in the observer is recovered: the process keeps serving, no
// panic text reaches the client, and the client gets the answer the
// request earned. The observer runs after the upstream answered; turning
// Genesys's 200 into a 500 would invite the client to retry a call that
// was already placed.
func TestPanic_InObserver_Recovered_ClientKeepsItsAnswer(t *testing.T) {
	r := startRig(t, rigOptions{observer: panicObserver{}})
	f := func(name, body string, wantStatus int) {
		t.Helper()
		resp := r.do(request("POST", callsPath, []byte(body), jsonCT))
		if resp.Status != wantStatus {
			t.Errorf("%s: status = %d, want %d: %s", name, resp.Status, wantStatus, resp.Body)
		}
		if resp.Status == 500 {
			// At the least, the recovery answers in Genesys's format.
			wantAPIError(t, name, resp, 500, "callfix.internal")
		}
		for _, leak := range []string{"exploded", "goroutine", "panic", ".go:"} {
			if bytes.Contains(resp.Body, []byte(leak)) {
				t.Errorf("%s: body holds %q: %s", name, leak, resp.Body)
			}
		}
	}
	f("forwarded", `{"phoneNumber":"5551234567"}`, 200)
	f("rejected", `{"phoneNumber":"5551234"}`, 400)
	if n := posts(r.api); n != 1 {
		t.Errorf("upstream received %d POSTs, want 1", n)
	}
	if resp := r.do(request("GET", "/api/v2/users/me", nil)); resp.Status != 200 {
		t.Errorf("after the panics: status = %d, want 200", resp.Status)
	}
	if logs := r.logs.String(); !strings.Contains(logs, "panic") {
		t.Errorf("the log does not record the panic:\n%s", logs)
	}
}

// Headers larger than server.max_header_bytes: 431 in Genesys's format.
func TestFaults_OversizedHeaders_431(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"server.max_header_bytes": "1KiB"}})
	resp := r.do(request("GET", "/api/v2/users/me", nil, "X-Big: "+strings.Repeat("a", 2000)))
	wantAPIError(t, "oversized", resp, 431, "callfix.bad.request")
	none(t, "api", r.api)
}

// A client that stops sending within server.read_timeout gets 408; it is
// the client that was slow, not Genesys, so the answer must not be a 504
// "the Genesys Cloud api host did not answer in time".
func TestFaults_SlowClient_408(t *testing.T) {
	f := func(name, raw string) {
		t.Helper()
		r := startRig(t, rigOptions{flags: map[string]string{"server.read_timeout": "300ms"}})
		c := dialRaw(t, r.addr)
		defer c.Close()
		c.send(raw)
		resp, err := c.readErr()
		if err != nil {
			t.Errorf("%s: %v, want a 408", name, err)
			return
		}
		wantAPIError(t, name, resp, 408, "callfix.bad.request")
		if r.api.Count() != 0 {
			t.Errorf("%s: the upstream recorded a complete request %s", name, targets(r.api.Requests()))
		}
	}
	f("headers unfinished", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n")
	f("small body unfinished", "POST /api/v2/things HTTP/1.1\r\nHost: c\r\nContent-Length: 10\r\n\r\nabc")
	f("intercepted body unfinished", "POST "+callsPath+" HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"phoneNumber\":\"")
	f("streamed body unfinished", "PUT /api/v2/blob HTTP/1.1\r\nHost: c\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("a", 200000))
}

// An upstream (or the load balancer in front of Genesys) closes keep-alive
// connections that sit idle: AWS load balancers after 60s, while callfix
// keeps them pooled for upstream.idle_timeout (90s by default). The next
// request must go out on a live connection, not fail with a 502; the
// request had not been sent, so taking a fresh connection is no retry.
func TestFaults_UpstreamClosedIdlePooledConnection_NextRequestSucceeds(t *testing.T) {
	f := func(method string) {
		t.Helper()
		// Each answer is complete and keep-alive, then the connection is
		// closed: as an idle timeout would, just sooner.
		r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
			return upstreamtest.Response{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")}
		}})
		for i := range 3 {
			resp := r.do(request(method, "/api/v2/analytics/x", []byte(`{"n":`+strconv.Itoa(i)+`}`), jsonCT))
			if resp.Status != 200 {
				t.Errorf("%s %d: status = %d, want 200: %s", method, i, resp.Status, resp.Body)
			}
			time.Sleep(50 * time.Millisecond) // the upstream's FIN arrives
		}
		reqs := r.api.Requests()
		if len(reqs) != 3 {
			t.Errorf("%s: upstream received %d requests, want 3 (each once): %s", method, len(reqs), targets(reqs))
		}
		r.stop()
	}
	f("GET")
	f("POST")
}
