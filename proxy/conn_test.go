package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// chunkConn returns its input in the given pieces, one per Read.
type chunkConn struct {
	net.Conn
	pieces []string
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.pieces[0])
	if n < len(c.pieces[0]) {
		c.pieces[0] = c.pieces[0][n:]
	} else {
		c.pieces = c.pieces[1:]
	}
	return n, nil
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

// readAll reads wc until it fails, as fasthttp would while it waits.
func readAll(wc *watchConn) error {
	var buf [64]byte
	for {
		if _, err := wc.Read(buf[:]); err != nil {
			return err
		}
	}
}

// The end of a header block is found however the bytes arrive, and a
// block fasthttp would wait on (no CRLFCRLF) fails the next read.
func TestWatchConn_FindsTheBlockEnd(t *testing.T) {
	f := func(wantBare, wantBareEnd bool, pieces ...string) {
		t.Helper()
		wc := &watchConn{Conn: &chunkConn{pieces: append([]string(nil), pieces...)}, max: 16 << 10}
		err := readAll(wc)
		if wc.phase != phaseBody {
			t.Errorf("%q: phase = %d, want the block found", pieces, wc.phase)
		}
		if wc.bareLF != wantBare || wc.bareEnd != wantBareEnd {
			t.Errorf("%q: bareLF, bareEnd = %v, %v, want %v, %v", pieces, wc.bareLF, wc.bareEnd, wantBare, wantBareEnd)
		}
		if wantBareEnd != (err == errBareLF) {
			t.Errorf("%q: read error %v, want errBareLF: %v", pieces, err, wantBareEnd)
		}
	}
	f(false, false, "GET / HTTP/1.1\r\nHost: c\r\n\r\n")
	f(false, false, "GET / HTTP/1.1\r\nHost: c\r", "\n", "\r", "\n")
	f(false, false, "\r\n\r\nGET / HTTP/1.1\r\n\r\n") // leading empty lines are skipped
	f(false, false, "GET / HTTP/1.1\r\nHost: c\r\n\r\n{\n\n}")
	f(true, true, "GET / HTTP/1.1\nHost: c\n\n")
	f(true, true, "GET / HTTP/1.1\r\nHost: c\n", "\n")
	f(true, true, "GET / HTTP/1.1\r\nHost: c\n\r\n")
	f(true, true, "GET / HTTP/1.1\r\nHost: c\r\n\n")
	f(true, false, "GET / HTTP/1.1\nHost: c\r\n\r\n")
}

// After a request with a known body length the next block is found where
// it begins; a chunked body or bytes sent ahead stop the watching.
func TestWatchConn_FollowsKeepAlive(t *testing.T) {
	wc := &watchConn{Conn: &chunkConn{pieces: []string{"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "a\n\nbc", "GET / HTTP/1.1\nHost: c\n\n"}}, max: 16 << 10}
	var buf [64]byte
	wc.Read(buf[:])
	if tracked, bare := wc.enter(); !tracked || bare {
		t.Fatalf("first request: tracked, bare = %v, %v", tracked, bare)
	}
	wc.Read(buf[:]) // the body, read by the handler
	wc.leave(5)
	if err := readAll(wc); err != errBareLF {
		t.Errorf("second request: read error %v, want errBareLF", err)
	}

	wc = &watchConn{Conn: &chunkConn{pieces: []string{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET / HTTP/1.1\nHost: c\n\n"}}, max: 16 << 10}
	wc.Read(buf[:])
	wc.enter()
	wc.leave(-1)
	if wc.phase != phaseLost {
		t.Errorf("after a chunked body: phase = %d, want lost", wc.phase)
	}

	wc = &watchConn{Conn: &chunkConn{pieces: []string{"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"}}, max: 16 << 10}
	wc.Read(buf[:])
	wc.enter()
	wc.leave(0)
	if wc.phase != phaseLost {
		t.Errorf("after a pipelined request: phase = %d, want lost", wc.phase)
	}
}

// badHeader names the header a value error is about, never more than a
// token.
func TestWatchConn_BadHeader(t *testing.T) {
	f := func(head, want string) {
		t.Helper()
		wc := &watchConn{Conn: &chunkConn{pieces: []string{head}}, max: 16 << 10}
		var buf [256]byte
		wc.Read(buf[:])
		if got := wc.badHeader(); got != want {
			t.Errorf("%q: badHeader = %q, want %q", head, got, want)
		}
	}
	f("GET / HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer x\x00\r\n\r\n", "Authorization")
	f("GET / HTTP/1.1\r\nHost: c\r\nAuthorization: Basic x\ry\r\n\r\n", "Authorization")
	f("GET / HTTP/1.1\r\nX-A: a\r\n b\x01\r\n\r\n", "X-A")
	f("GET / HTTP/1.1\r\nHost: c\r\n\r\n", "")
	f("GET / HTTP/1.1\r\nBearer secret\x00\r\n\r\n", "")
	f("GET / HTTP/1.1\r\nBearer secret: x\x00\r\n\r\n", "")
}

// BenchmarkWatchConn_Head is what following a typical header block costs
// per request.
func BenchmarkWatchConn_Head(b *testing.B) {
	pieces := []string{string(passthroughRequest)}
	c := &chunkConn{}
	wc := &watchConn{Conn: c, max: 16 << 10}
	var buf [4096]byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.pieces = pieces
		wc.Read(buf[:])
		wc.enter()
		wc.leave(0)
	}
}

// BenchmarkInspect is what reading a typical request line and header
// block once costs.
func BenchmarkInspect(b *testing.B) {
	s := inmemProxy(b, nil)
	st := s.state.Load()
	ctx := acquireParsed(b, passthroughRequest)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var h head
		if r := s.inspect(&ctx.Request.Header, st, -2, &h); r.status != 0 {
			b.Fatal(r.msg)
		}
	}
}

// acquireParsed returns a request context holding raw, parsed.
func acquireParsed(tb testing.TB, raw []byte) *fasthttp.RequestCtx {
	tb.Helper()
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&fasthttp.Request{}, nil, nil)
	if err := ctx.Request.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
		tb.Fatal(err)
	}
	return ctx
}
