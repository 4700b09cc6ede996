package proxy_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// The upstream must receive the client's header block byte for byte, less
// the hop-by-hop headers, with Host replaced by the upstream's and the
// X-Forwarded-* headers added at the end; the body must be the same bytes.
func TestPassThrough_RequestHeaderBlockAndBodyAreByteIdentical(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	f := func(name, in, want string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(in)
		if resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200", name, resp.Status)
		}
		got := only(t, "api", r.api)
		if want := r.expand(want); string(got.Raw) != want {
			t.Errorf("%s: upstream header block =\n%s\nwant\n%s", name, got.Raw, want)
		}
		_, inBody, _ := strings.Cut(in, "\r\n\r\n")
		if got.BodySHA256 != sha([]byte(inBody)) || got.BodyLen != int64(len(inBody)) {
			t.Errorf("%s: upstream body = %d bytes sha %s, want %d bytes sha %s", name, got.BodyLen, got.BodySHA256, len(inBody), sha([]byte(inBody)))
		}
	}

	// Odd name case, a repeated header, unusual order, encoded query.
	f("GET",
		"GET /api/v2/users/me?expand=presence%2Cstation&q=%E2%9C%93+a%20b&empty=&x=%3F%26%23 HTTP/1.1\r\n"+
			"x-CUSTOM-hdr: One\r\n"+
			"X-Dup: 1\r\n"+
			"accept: application/json\r\n"+
			"hOsT: client.example:8443\r\n"+
			"X-Dup: 2\r\n"+
			"Authorization: Bearer tok-123\r\n"+
			"cookie: a=b; c=d\r\n"+
			"USER-AGENT: legacy/1.0\r\n"+
			"\r\n",
		"GET /api/v2/users/me?expand=presence%2Cstation&q=%E2%9C%93+a%20b&empty=&x=%3F%26%23 HTTP/1.1\r\n"+
			"x-CUSTOM-hdr: One\r\n"+
			"X-Dup: 1\r\n"+
			"accept: application/json\r\n"+
			"hOsT: {api}\r\n"+
			"X-Dup: 2\r\n"+
			"Authorization: Bearer tok-123\r\n"+
			"cookie: a=b; c=d\r\n"+
			"USER-AGENT: legacy/1.0\r\n"+
			"X-Forwarded-For: 127.0.0.1\r\n"+
			"X-Forwarded-Proto: http\r\n"+
			"X-Forwarded-Host: client.example:8443\r\n"+
			"\r\n")

	// A JSON body on a path no rule matches, framing headers in odd case.
	f("POST",
		"POST /api/v2/analytics/conversations/details/query?pageSize=25 HTTP/1.1\r\n"+
			"content-LENGTH: 49\r\n"+
			"X-Dup: a\r\n"+
			"Host: c.example\r\n"+
			"content-type: application/json\r\n"+
			"X-Dup: b\r\n"+
			"\r\n"+
			`{"interval":"2024-01-01/2024-01-02","x":"\u00e9"}`,
		"POST /api/v2/analytics/conversations/details/query?pageSize=25 HTTP/1.1\r\n"+
			"content-LENGTH: 49\r\n"+
			"X-Dup: a\r\n"+
			"Host: {api}\r\n"+
			"content-type: application/json\r\n"+
			"X-Dup: b\r\n"+
			"X-Forwarded-For: 127.0.0.1\r\n"+
			"X-Forwarded-Proto: http\r\n"+
			"X-Forwarded-Host: c.example\r\n"+
			"\r\n")

	// Every byte value in the body.
	f("PUT",
		"PUT /api/v2/users/me/profile%20image HTTP/1.1\r\n"+
			"Host: c.example\r\n"+
			"CONTENT-TYPE: application/octet-stream\r\n"+
			"x-genesys-thing: ~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./\r\n"+
			"Content-Length: 256\r\n"+
			"\r\n"+
			string(binary),
		"PUT /api/v2/users/me/profile%20image HTTP/1.1\r\n"+
			"Host: {api}\r\n"+
			"CONTENT-TYPE: application/octet-stream\r\n"+
			"x-genesys-thing: ~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./\r\n"+
			"Content-Length: 256\r\n"+
			"X-Forwarded-For: 127.0.0.1\r\n"+
			"X-Forwarded-Proto: http\r\n"+
			"X-Forwarded-Host: c.example\r\n"+
			"\r\n")

	f("DELETE",
		"DELETE /api/v2/conversations/calls/abc/participants/def?force=true HTTP/1.1\r\n"+
			"Content-Length: 0\r\n"+
			"Host: c.example\r\n"+
			"if-MATCH: \"v7\"\r\n"+
			"\r\n",
		"DELETE /api/v2/conversations/calls/abc/participants/def?force=true HTTP/1.1\r\n"+
			"Content-Length: 0\r\n"+
			"Host: {api}\r\n"+
			"if-MATCH: \"v7\"\r\n"+
			"X-Forwarded-For: 127.0.0.1\r\n"+
			"X-Forwarded-Proto: http\r\n"+
			"X-Forwarded-Host: c.example\r\n"+
			"\r\n")

	// A path in normal form reaches the upstream as sent, its escapes of
	// reserved and non-ASCII characters and its query untouched. (A path
	// not in normal form is refused: TestPaths_NotInNormalForm_400AndNothingForwarded.)
	f("GET escaped path",
		"GET /api/v2/users/me%2Cx/%E2%9C%93%20y/?a=1&a=2&b=..%2F//%63 HTTP/1.1\r\nHost: c\r\n\r\n",
		"GET /api/v2/users/me%2Cx/%E2%9C%93%20y/?a=1&a=2&b=..%2F//%63 HTTP/1.1\r\nHost: {api}\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: c\r\n\r\n")
}

// Bodies above the size fasthttp reads at once stream through; they must
// arrive whole and unchanged, with Content-Length or chunked framing.
func TestPassThrough_LargeBodiesStreamUnchanged(t *testing.T) {
	body := make([]byte, 3<<20+17)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	r := startRig(t, rigOptions{discard: true})

	resp := r.do("PUT /api/v2/blob HTTP/1.1\r\nHost: c\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
	if resp.Status != 200 {
		t.Errorf("Content-Length upload: status = %d, want 200", resp.Status)
	}

	var chunked bytes.Buffer
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 10007)
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	chunked.WriteString("0\r\n\r\n")
	resp = r.do("POST /api/v2/blob HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n" + chunked.String())
	if resp.Status != 200 {
		t.Errorf("chunked upload: status = %d, want 200", resp.Status)
	}

	r.api.Wait(2, ioTimeout)
	reqs := r.api.Requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream received %d requests, want 2", len(reqs))
	}
	for i, got := range reqs {
		if got.BodyLen != int64(len(body)) || got.BodySHA256 != sha(body) {
			t.Errorf("%s: upstream body = %d bytes sha %s, want %d bytes sha %s", got.Method, got.BodyLen, got.BodySHA256, len(body), sha(body))
		}
		if te := got.Get("Transfer-Encoding"); i == 1 && (len(te) != 1 || te[0] != "chunked") {
			t.Errorf("chunked upload: upstream Transfer-Encoding = %q, want [chunked]", te)
		}
	}
}

// A chunked upload is re-framed (Transfer-Encoding is hop-by-hop) but the
// rest of the header block is the client's.
func TestPassThrough_ChunkedUpload_HeaderBlockKept(t *testing.T) {
	r := startRig(t, rigOptions{})
	resp := r.do("POST /api/v2/things HTTP/1.1\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nHost: c\r\nX-B: 2\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200", resp.Status)
	}
	got := only(t, "api", r.api)
	want := r.expand("POST /api/v2/things HTTP/1.1\r\nX-A: 1\r\nHost: {api}\r\nX-B: 2\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: c\r\nTransfer-Encoding: chunked\r\n\r\n")
	if string(got.Raw) != want {
		t.Errorf("upstream header block =\n%s\nwant\n%s", got.Raw, want)
	}
	if string(got.Body) != "hello world" {
		t.Errorf("upstream body = %q, want %q", got.Body, "hello world")
	}
}

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

// Keep-alive connections carry several requests, each forwarded once.
func TestPassThrough_KeepAlive_SeveralRequestsOnOneConnection(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	defer c.Close()
	for i := range 5 {
		c.send(fmt.Sprintf("POST /api/v2/things/%d HTTP/1.1\r\nHost: c\r\nContent-Length: 1\r\n\r\n%d", i, i))
		if resp := c.read(); resp.Status != 200 {
			t.Errorf("request %d: status = %d, want 200", i, resp.Status)
		}
	}
	r.api.Wait(5, ioTimeout)
	reqs := r.api.Requests()
	if len(reqs) != 5 {
		t.Fatalf("upstream received %d requests, want 5", len(reqs))
	}
	for i, q := range reqs {
		if want := fmt.Sprintf("/api/v2/things/%d", i); q.Target != want || string(q.Body) != strconv.Itoa(i) {
			t.Errorf("request %d: upstream got %s %q, want %s %q", i, q.Target, q.Body, want, strconv.Itoa(i))
		}
	}
}

// Pipelined requests, written at once, are answered in order.
func TestPassThrough_PipelinedRequests_AnsweredInOrder(t *testing.T) {
	r := startRig(t, rigOptions{api: func(q *upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Status: 200, Body: []byte(q.Target)}
	}})
	c := dialRaw(t, r.addr)
	defer c.Close()
	var all strings.Builder
	for i := range 4 {
		if i == 2 {
			all.WriteString(request("POST", callsPath+"?i=2", []byte(`{"phoneNumber":"5551234567"}`), jsonCT))
			continue
		}
		all.WriteString(request("GET", "/api/v2/things?i="+strconv.Itoa(i), nil))
	}
	c.send(all.String())
	for i := range 4 {
		want := "/api/v2/things?i=" + strconv.Itoa(i)
		if i == 2 {
			want = callsPath + "?i=2"
		}
		if resp := c.read(); resp.Status != 200 || string(resp.Body) != want {
			t.Errorf("response %d: %d %q, want 200 %q", i, resp.Status, resp.Body, want)
		}
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

// Concurrent requests on pooled buffers, readers and upstream connections
// never see each other's bytes: each client gets the body made for its own
// request, small (read whole) or large (streamed), and each intercepted
// body reaches the upstream rewritten from its own number.
func TestPassThrough_Concurrent_NoCrossTalk(t *testing.T) {
	r := startRig(t, rigOptions{api: func(q *upstreamtest.Request) upstreamtest.Response {
		if q.Method == "POST" {
			return upstreamtest.Response{Status: 200, Body: q.Body}
		}
		return upstreamtest.Response{Status: 200, Body: concurrentBody(q.Target)}
	}})
	const workers, each = 8, 12
	errs := make(chan string, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		c := dialRaw(t, r.addr) // here: Fatal only on the test's goroutine
		go func() {
			defer wg.Done()
			defer c.Close()
			for i := range each {
				var raw string
				var want []byte
				if i%2 == 0 {
					target := fmt.Sprintf("/api/v2/things/%d-%d?size=%d", w, i, []int{10, 70 << 10, 300 << 10}[i%3])
					raw, want = request("GET", target, nil), concurrentBody(target)
				} else {
					n := fmt.Sprintf("555%03d%04d", 200+w, i)
					raw = request("POST", callsPath, []byte(`{"phoneNumber":"`+n+`"}`), jsonCT)
					want = []byte(`{"phoneNumber":"tel:+1` + n + `"}`)
				}
				if _, err := io.WriteString(c.c, raw); err != nil {
					errs <- fmt.Sprintf("worker %d request %d: %v", w, i, err)
					return
				}
				resp, err := c.readErr()
				if err != nil {
					errs <- fmt.Sprintf("worker %d request %d: %v", w, i, err)
					return
				}
				if resp.Status != 200 || !bytes.Equal(resp.Body, want) {
					errs <- fmt.Sprintf("worker %d request %d: status %d, %d bytes (sha %s), want 200, %d bytes (sha %s)", w, i, resp.Status, len(resp.Body), sha(resp.Body), len(want), sha(want))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// concurrentBody is the body the upstream makes for a target: the target
// repeated up to the size its query asks for.
func concurrentBody(target string) []byte {
	_, q, _ := strings.Cut(target, "size=")
	n, _ := strconv.Atoi(q)
	b := bytes.Repeat([]byte(target+"|"), n/(len(target)+1)+1)
	return b[:n]
}

// Expect: 100-continue on a streamed pass-through upload: callfix answers
// 100 itself, then streams the body; the upstream gets no Expect.
func TestPassThrough_Expect100Continue_StreamedUpload(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	defer c.Close()
	body := bytes.Repeat([]byte("0123456789"), 20000)
	c.send("PUT /api/v2/blob HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	if interim := c.read(); interim.Status != 100 {
		t.Fatalf("status = %d, want 100 Continue before the body is sent", interim.Status)
	}
	c.send(string(body))
	if resp := c.read(); resp.Status != 200 {
		t.Errorf("status = %d, want 200", resp.Status)
	}
	got := only(t, "api", r.api)
	if !bytes.Equal(got.Body, body) {
		t.Errorf("upstream body = %d bytes sha %s, want %d bytes sha %s", len(got.Body), sha(got.Body), len(body), sha(body))
	}
	if v := got.Get("Expect"); len(v) != 0 {
		t.Errorf("upstream received Expect %q, want none", v)
	}
}
