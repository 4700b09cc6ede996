package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

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
