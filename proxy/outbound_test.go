package proxy_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
)

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
