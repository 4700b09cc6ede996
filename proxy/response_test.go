package proxy_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// Genesys's answers reach the client as sent: status, rate-limit and
// correlation headers, every Set-Cookie, and an encoded body untouched.
func TestPassThrough_ResponseStatusHeadersAndEncodedBodyUntouched(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"message":"Rate limit exceeded the maximum. Retry the request in [7] seconds","code":"too.many.requests","status":429}`))
	zw.Close()
	headers := []upstreamtest.Header{
		{Name: "Content-Type", Value: "application/json"},
		{Name: "Retry-After", Value: "7"},
		{Name: "ININ-Correlation-Id", Value: "0c7f6a1e-1b2c-4d3e-8f90-a1b2c3d4e5f6"},
		{Name: "inin-ratelimit-count", Value: "301"},
		{Name: "inin-ratelimit-allowed", Value: "300"},
		{Name: "inin-ratelimit-reset", Value: "7"},
		{Name: "Set-Cookie", Value: "ALB=abc; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/"},
		{Name: "Set-Cookie", Value: "ALBCORS=abc; Path=/; SameSite=None; Secure; HttpOnly"},
		{Name: "Content-Encoding", Value: "gzip"},
		{Name: "Vary", Value: "Accept-Encoding"},
		{Name: "x-amzn-RequestId", Value: "r-1"},
	}
	r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Status: 429, Header: headers, Body: gz.Bytes()}
	}})
	resp := r.do("GET /api/v2/users?pageSize=100 HTTP/1.1\r\nHost: c\r\nAccept-Encoding: gzip\r\n\r\n")
	if resp.Status != 429 {
		t.Errorf("status = %d, want 429", resp.Status)
	}
	for _, h := range headers {
		if h.Name == "Set-Cookie" {
			continue
		}
		found := false
		for _, g := range resp.Header {
			if g.Name == h.Name {
				found = true
				if g.Value != h.Value {
					t.Errorf("%s = %q, want %q", h.Name, g.Value, h.Value)
				}
			}
		}
		if !found {
			t.Errorf("response lacks %s (in this case): got headers %q", h.Name, resp.Header)
		}
	}
	wantCookies := []string{headers[6].Value, headers[7].Value}
	if got := resp.Get("Set-Cookie"); strings.Join(got, "\n") != strings.Join(wantCookies, "\n") {
		t.Errorf("Set-Cookie = %q, want %q", got, wantCookies)
	}
	if !bytes.Equal(resp.Body, gz.Bytes()) {
		t.Errorf("body = %d bytes sha %s, want the upstream's gzip bytes: %d bytes sha %s", len(resp.Body), sha(resp.Body), gz.Len(), sha(gz.Bytes()))
	}
}

// Each of these must reach the client with the upstream's status and body.
func TestPassThrough_ResponseStatusesAndBodies(t *testing.T) {
	f := func(status int, method string, body []byte, wantBody bool) {
		t.Helper()
		r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
			return upstreamtest.Response{Status: status, Header: []upstreamtest.Header{{Name: "Content-Type", Value: "application/json"}}, Body: body}
		}})
		c := dialRaw(t, r.addr)
		defer c.Close()
		c.send(method + " /api/v2/x HTTP/1.1\r\nHost: c\r\n\r\n")
		resp := c.read()
		if resp.Status != status {
			t.Errorf("%s answered %d: status = %d", method, status, resp.Status)
		}
		if wantBody && !bytes.Equal(resp.Body, body) {
			t.Errorf("%s answered %d: body = %q, want %q", method, status, resp.Body, body)
		}
		if method == "HEAD" {
			if cl := resp.Get1(t, "Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("HEAD: Content-Length = %q, want %d", cl, len(body))
			}
		}
		// The connection is still usable.
		c.send("GET /api/v2/y HTTP/1.1\r\nHost: c\r\n\r\n")
		if resp := c.read(); resp.Status != status {
			t.Errorf("%s answered %d: second request on the connection: status = %d", method, status, resp.Status)
		}
	}
	f(200, "GET", []byte(`{"ok":true}`), true)
	f(201, "GET", []byte(`{"id":"x"}`), true)
	f(204, "GET", nil, false)
	f(400, "GET", []byte(`{"message":"bad","code":"bad.request","status":400}`), true)
	f(401, "GET", []byte(`{"message":"unauthorized","code":"authentication.required","status":401}`), true)
	f(404, "GET", []byte(`{"code":"not.found"}`), true)
	f(500, "GET", []byte(`{"code":"internal.server.error"}`), true)
	f(503, "GET", []byte(`{"code":"service.unavailable"}`), true)
	f(200, "HEAD", []byte(`{"ok":true}`), false)
}

// An upstream body that is chunked, or framed by closing the connection,
// still reaches the client whole.
func TestPassThrough_ChunkedAndUntilCloseResponseBodies(t *testing.T) {
	f := func(name, raw, want string) {
		t.Helper()
		r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
			return upstreamtest.Response{Raw: []byte(raw)}
		}})
		resp := r.do("GET /api/v2/x HTTP/1.1\r\nHost: c\r\n\r\n")
		if resp.Status != 200 || string(resp.Body) != want {
			t.Errorf("%s: status %d body %q, want 200 %q", name, resp.Status, resp.Body, want)
		}
	}
	f("chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n", "abcdefg")
	f("until close", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end", "until the end")
	f("after interim responses", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal", "final")
}

func TestPassThrough_HopByHopResponseHeadersRemoved(t *testing.T) {
	r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Status: 200, Body: []byte("ok"), Header: []upstreamtest.Header{
			{Name: "Connection", Value: "X-Up-Foo, keep-alive"},
			{Name: "X-Up-Foo", Value: "for-this-hop"},
			{Name: "Keep-Alive", Value: "timeout=5"},
			{Name: "Proxy-Authenticate", Value: "Basic realm=\"upstream\""},
			{Name: "Upgrade", Value: "h2c"},
			{Name: "Trailer", Value: "X-Checksum"},
			{Name: "Proxy-Connection", Value: "keep-alive"},
			{Name: "X-Kept", Value: "yes"},
		}}
	}})
	resp := r.do("GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\n")
	if resp.Status != 200 || string(resp.Body) != "ok" {
		t.Errorf("status %d body %q, want 200 %q", resp.Status, resp.Body, "ok")
	}
	for _, name := range []string{"X-Up-Foo", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer", "Proxy-Connection"} {
		if v := resp.Get(name); len(v) > 0 {
			t.Errorf("client received %s: %q, want it removed", name, v)
		}
	}
	for _, v := range resp.Get("Connection") {
		if !strings.EqualFold(v, "close") {
			t.Errorf("client received Connection: %q, want the upstream's Connection header removed", v)
		}
	}
	if v := resp.Get("X-Kept"); len(v) != 1 || v[0] != "yes" {
		t.Errorf("X-Kept = %q, want [yes]", v)
	}
}

// A 1 MiB download streams back byte for byte.
func TestPassThrough_LargeDownload(t *testing.T) {
	const size = 1<<20 + 3
	r := startRig(t, rigOptions{api: func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Status: 200, BodyLen: size}
	}})
	resp := r.do("GET /api/v2/downloads/x HTTP/1.1\r\nHost: c\r\n\r\n")
	want := make([]byte, size)
	for i := range want {
		want[i] = byte('a' + i%(32<<10)%26)
	}
	if resp.Status != 200 || len(resp.Body) != size || sha(resp.Body) != sha(want) {
		t.Errorf("status %d, %d bytes sha %s, want 200, %d bytes sha %s", resp.Status, len(resp.Body), sha(resp.Body), size, sha(want))
	}
}

// upstream.timeout bounds the exchange up to the response headers
// (docs/CONFIG.md), and then each read of a streamed body: a body that
// keeps arriving must reach the client whole even when all of it takes
// longer than the timeout.
func TestPassThrough_SlowResponseBody_NotCutByUpstreamTimeout(t *testing.T) {
	f := func(size int) {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			buf := make([]byte, 4096)
			c.Read(buf)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", len(body))
			// Four pieces 150ms apart: 450ms in all, each gap well
			// under the 300ms timeout.
			for i := range 4 {
				if i > 0 {
					time.Sleep(150 * time.Millisecond)
				}
				c.Write(body[i*len(body)/4 : (i+1)*len(body)/4])
			}
		}()
		defer func() { ln.Close(); <-done }()
		r := startRig(t, rigOptions{flags: map[string]string{"upstream.api": "http://" + ln.Addr().String(), "upstream.timeout": "300ms"}})
		defer r.stop()
		c := dialRaw(t, r.addr)
		defer c.Close()
		c.send("GET /api/v2/downloads/slow HTTP/1.1\r\nHost: c\r\n\r\n")
		resp, err := c.readErr()
		if err != nil || resp.Status != 200 || !bytes.Equal(resp.Body, body) {
			status, n := 0, 0
			if resp != nil {
				status, n = resp.Status, len(resp.Body)
			}
			t.Errorf("%d bytes in 4 pieces 150ms apart: client got status %d, %d bytes, error %v; want 200 and %d bytes", len(body), status, n, err, len(body))
			t.Log(r.logs.String())
		}
	}
	f(32)        // read whole by the transport
	f(512 << 10) // streamed
}
