package upstreamtest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The upstream records the exact bytes of a request, de-chunks bodies and
// answers as its handler says.
func TestUpstream_RecordsExactBytesAndDechunks(t *testing.T) {
	u := Start(t, nil)
	c, err := net.Dial("tcp", u.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw := "POST /x?y=1 HTTP/1.1\r\nhOsT: a\r\nTransfer-Encoding: chunked\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
	c.Write([]byte(raw))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("ININ-Correlation-Id") == "" {
		t.Errorf("response = %d %v", resp.StatusCode, resp.Header)
	}
	if !u.Wait(1, time.Second) {
		t.Fatal("no request recorded")
	}
	r := u.Requests()[0]
	if want := raw[:strings.Index(raw, "\r\n\r\n")+4]; string(r.Raw) != want {
		t.Errorf("Raw = %q, want %q", r.Raw, want)
	}
	if string(r.Body) != "abcde" || !r.Chunked || r.BodyLen != 5 {
		t.Errorf("Body = %q chunked=%v len=%d, want abcde", r.Body, r.Chunked, r.BodyLen)
	}
	if got := r.Get("x-dup"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("Get(x-dup) = %q", got)
	}
	if r.Method != "POST" || r.Target != "/x?y=1" || r.Proto != "HTTP/1.1" || r.Conn != 1 {
		t.Errorf("request line = %s %s %s conn %d", r.Method, r.Target, r.Proto, r.Conn)
	}
}

// A body cut off before its end is not recorded as a request: a chunked
// one that stops at a chunk boundary, before the last chunk, included.
func TestUpstream_CutOffBody_NotRecorded(t *testing.T) {
	u := Start(t, nil)
	for _, raw := range []string{
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello",
	} {
		c, err := net.Dial("tcp", u.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(raw))
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
	}
	if u.Wait(1, 100*time.Millisecond) {
		t.Errorf("recorded %d cut-off requests, want none", u.Count())
	}
}

func TestUpstream_FaultsAndLargeBodies(t *testing.T) {
	u := Start(t, func(r *Request) Response {
		switch r.Target {
		case "/close":
			return Response{Close: true}
		case "/big":
			return Response{Status: 200, BodyLen: 1 << 20}
		}
		return Response{Raw: []byte("garbage")}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	if _, err := client.Get(u.URL + "/close"); err == nil {
		t.Error("a closed connection gave no error")
	}
	resp, err := client.Get(u.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 1<<20 {
		t.Errorf("big body = %d bytes, want %d", n, 1<<20)
	}
	if _, err := client.Get(u.URL + "/raw"); err == nil {
		t.Error("a garbage answer gave no error")
	}
	if u.Count() != 3 {
		t.Errorf("Count = %d, want 3", u.Count())
	}
}
