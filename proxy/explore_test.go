package proxy_test

import "testing"

func TestExplore(t *testing.T) {
	r := startRig(t, rigOptions{})
	for _, raw := range []string{
		"GET /api/v2/users/me?q=a%20b&x=%2F%3F HTTP/1.1\r\nx-CUSTOM-hdr: v1\r\nhost: client.example\r\nX-Dup: 1\r\nAccept: */*\r\nX-Dup: 2\r\nConnection: X-Foo, keep-alive\r\nX-Foo: bar\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic xx\r\n\r\n",
		"DELETE /api/v2/things/1 HTTP/1.1\r\nHost: c\r\n\r\n",
		"POST /api/v2/things HTTP/1.1\r\nHost: c\r\ncontent-type: text/plain\r\ncontent-LENGTH: 5\r\n\r\nhello",
		"PUT /api/v2/things HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /api/v2/things HTTP/1.1\r\nHost: c\r\nX-Forwarded-For: 1.2.3.4\r\nContent-Length: 0\r\n\r\n",
	} {
		resp := r.do(raw)
		t.Logf("resp:\n%s%s", resp.Raw, resp.Body)
	}
	for _, q := range r.api.Requests() {
		t.Logf("up:\n%s[%s] chunked=%v", q.Raw, q.Body, q.Chunked)
	}
}
