package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// transport is the fasthttp.RoundTripper of callfix's upstream clients. It
// differs from fasthttp's own in four ways that a proxy needs:
//
//   - A response body up to smallBody bytes is read whole and the
//     connection returned to the pool at once; a larger (or chunked, or
//     until-close) body is streamed to the client through a pooled reader
//     that returns the connection when the client has it all. fasthttp's
//     streaming allocates four objects per response; this allocates none.
//   - timeout bounds the exchange up to the end of the response headers;
//     a streamed body is bounded per read instead (a 100 MiB download may
//     take longer than a call request may wait for its answer).
//   - Every pooled connection it takes is checked for a close by the
//     upstream before anything is written to it (closedByPeer), and a
//     closed one is replaced: that costs one system call per request.
//   - It retries only what net/http's Transport retries: a GET, HEAD or
//     OPTIONS without a body that failed on a reused connection before any
//     byte of the response arrived (the upstream closed the connection as
//     the request went out) is sent once more, on a new connection (retry),
//     within the same timeout. Nothing else is sent twice: a POST is never
//     retried, whatever happens, since a second POST
//     /api/v2/conversations/calls would place a second call.
//
// C is fasthttp's unexported connection type, captured by inference from
// the HostClient's methods.
type transport[C pooledConn] struct {
	hc      *fasthttp.HostClient
	acquire func(time.Duration, bool) (C, error)
	release func(C)
	close   func(C)
	timeout time.Duration
	pool    sync.Pool
	// retry, when not nil, sends the one retry of a replayable request. Its
	// connections are never pooled (fresh), so each retry dials anew.
	retry *transport[C]
	fresh bool
}

// pooledConn is what the transport needs of fasthttp's connection type.
type pooledConn interface {
	Conn() net.Conn
	// LastUseTime is zero for a connection that has not been used (dialed
	// for this request), and when it was last released otherwise.
	LastUseTime() time.Time
}

// smallBody is the largest response body read whole (when it has arrived
// with the headers).
const smallBody = 64 << 10

// errBadResponse stands for a response that is not HTTP.
var errBadResponse = errors.New("upstream answered with something that is not an HTTP/1.1 response")

func newTransport[C pooledConn](hc *fasthttp.HostClient, acquire func(time.Duration, bool) (C, error), release, closeConn func(C), timeout time.Duration) *transport[C] {
	t := &transport[C]{hc: hc, acquire: acquire, release: release, close: closeConn, timeout: timeout}
	t.pool.New = func() any { return &bodyReader[C]{t: t} }
	return t
}

// withRetry makes t send the retry of a replayable request through a
// transport on hc, a HostClient of the same upstream whose connections
// are closed after one exchange, so that its pool stays empty and every
// retry goes out on a connection dialed for it.
func (t *transport[C]) withRetry(hc *fasthttp.HostClient, acquire func(time.Duration, bool) (C, error), release, closeConn func(C)) {
	t.retry = newTransport(hc, acquire, release, closeConn, t.timeout)
	t.retry.fresh = true
}

func (t *transport[C]) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	deadline := time.Now().Add(t.timeout)
	cc, err := t.acquireLive(req, t.timeout, deadline)
	if err != nil {
		return false, err
	}
	// Decided before the exchange: writing a request consumes its body
	// stream, after which it would look bodyless.
	retry := t.retry != nil && !cc.LastUseTime().IsZero() && replayable(req)
	unanswered, err := t.exchange(hc, cc, req, resp, deadline)
	if err != nil && unanswered && retry && time.Now().Before(deadline) {
		_, err = t.retry.send(req, resp, deadline)
	}
	return false, err
}

// send is one exchange on a connection of t's own (the retry transport's).
func (t *transport[C]) send(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (bool, error) {
	cc, err := t.acquireLive(req, time.Until(deadline), deadline)
	if err != nil {
		return false, err
	}
	return t.exchange(t.hc, cc, req, resp, deadline)
}

// replayable reports whether req may be sent a second time: a GET, HEAD or
// OPTIONS without a body (RFC 9110, section 9.2.2; net/http's Transport
// retries the same).
func replayable(req *fasthttp.Request) bool {
	h := &req.Header
	return (h.IsGet() || h.IsHead() || h.IsOptions()) && !req.IsBodyStream() && len(req.Body()) == 0
}

// acquireLive takes a connection and replaces every pooled one the upstream
// has closed while it was idle, however many there are, before anything
// is written: an upstream (or the load balancer in front of Genesys) may
// close an idle keep-alive connection at any moment, and a request written
// to it would fail without having been sent. A new connection is not
// checked: nothing can have closed it yet. wait bounds the wait for a
// free connection (the time left before deadline).
func (t *transport[C]) acquireLive(req *fasthttp.Request, wait time.Duration, deadline time.Time) (C, error) {
	for {
		cc, err := t.acquire(wait, t.fresh || req.ConnectionClose())
		if err != nil || cc.LastUseTime().IsZero() || !closedByPeer(cc.Conn()) {
			return cc, err
		}
		t.close(cc)
		if wait = time.Until(deadline); wait <= 0 {
			var zero C
			return zero, fasthttp.ErrTimeout
		}
	}
}

// exchange writes req on cc and reads the response head (and a small
// body). unanswered reports a failure before any byte of the response
// arrived, the only failure after which a replayable request is retried.
func (t *transport[C]) exchange(hc *fasthttp.HostClient, cc C, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) (unanswered bool, err error) {
	conn := cc.Conn()
	// One deadline for writing the request and reading the response
	// headers: one runtime timer update instead of two.
	if err := conn.SetDeadline(deadline); err != nil {
		t.close(cc)
		return true, err
	}
	bw := hc.AcquireWriter(conn)
	if !req.IsBodyStream() && len(req.Body()) == 0 {
		// No body: the header block exactly as built, without the
		// Content-Length: 0 that fasthttp's Write adds to every method but
		// GET and HEAD (the client did not send one).
		_, err = bw.Write(req.Header.AppendBytes(bw.AvailableBuffer()))
	} else {
		err = req.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		t.close(cc)
		if isTimeout(err) {
			return false, fasthttp.ErrTimeout
		}
		return true, err
	}
	br := hc.AcquireReader(conn)
	resp.Header.DisableNormalizing()
	// The first byte is waited for apart, so that a connection closed
	// before the upstream answered anything is told from a broken answer.
	if _, err := br.Peek(1); err != nil {
		hc.ReleaseReader(br)
		t.close(cc)
		// A passed deadline is the reliable sign of a timeout, whatever
		// error type the read returned.
		if isTimeout(err) || !time.Now().Before(deadline) {
			return false, fasthttp.ErrTimeout
		}
		if err == io.EOF {
			return true, fasthttp.ErrConnectionClosed
		}
		return true, err
	}
	if err := readResponseHeader(resp, br); err != nil {
		hc.ReleaseReader(br)
		t.close(cc)
		if isTimeout(err) || !time.Now().Before(deadline) {
			return false, fasthttp.ErrTimeout
		}
		return false, errBadResponse
	}
	keep := !t.fresh && !req.ConnectionClose() && !resp.ConnectionClose()
	status := resp.StatusCode()
	if req.Header.IsHead() || status == 204 || status == 304 {
		resp.SkipBody = true
		t.done(cc, br, keep)
		return false, nil
	}
	n := resp.Header.ContentLength()
	if n >= 0 && n <= smallBody {
		// A small body is read whole before the client gets anything, so
		// that a truncated one is still a clean 502, and the connection is
		// freed at once. Each read may wait up to the timeout: a slow body
		// is bounded per read, not by the header deadline.
		if err := readSmallBody(resp, br, conn, n, t.timeout); err != nil {
			hc.ReleaseReader(br)
			t.close(cc)
			if isTimeout(err) || errors.Is(err, os.ErrDeadlineExceeded) {
				return false, fasthttp.ErrTimeout
			}
			return false, errBadResponse
		}
		t.done(cc, br, keep)
		return false, nil
	}
	b := t.pool.Get().(*bodyReader[C])
	b.cc, b.br, b.left, b.keep, b.eof = cc, br, int64(n), keep && n != -2, false
	b.chunked, b.chunkLeft = n == -1, 0
	resp.SetBodyStream(b, n)
	return false, nil
}

func (t *transport[C]) done(cc C, br *bufio.Reader, keep bool) {
	t.hc.ReleaseReader(br)
	if keep {
		t.release(cc)
	} else {
		t.close(cc)
	}
}

func readSmallBody(resp *fasthttp.Response, br *bufio.Reader, conn net.Conn, n int, timeout time.Duration) error {
	w := resp.BodyWriter()
	for left := n; left > 0; {
		if br.Buffered() == 0 {
			if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
				return err
			}
			if _, err := br.Peek(1); err != nil {
				return err
			}
		}
		chunk := min(left, br.Buffered())
		b, err := br.Peek(chunk)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if _, err := br.Discard(chunk); err != nil {
			return err
		}
		left -= chunk
	}
	return nil
}

func readResponseHeader(resp *fasthttp.Response, br *bufio.Reader) error {
	for i := 0; ; i++ {
		if err := resp.Header.Read(br); err != nil {
			return err
		}
		s := resp.StatusCode()
		if s < 100 || s > 199 || s == 101 {
			return nil
		}
		if i > 10 { // interim responses without end
			return errBadResponse
		}
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}

// bodyReader streams one upstream response body: Content-Length framed
// (left bytes), chunked, or until the upstream closes (left < -1). Each
// read may wait up to the transport's timeout.
type bodyReader[C pooledConn] struct {
	t         *transport[C]
	cc        C
	br        *bufio.Reader
	left      int64
	chunked   bool
	chunkLeft int64
	keep      bool
	eof       bool
}

func (b *bodyReader[C]) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if err := b.cc.Conn().SetReadDeadline(time.Now().Add(b.t.timeout)); err != nil {
		return 0, err
	}
	switch {
	case b.chunked:
		return b.readChunked(p)
	case b.left >= 0:
		if b.left == 0 {
			b.eof = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := b.br.Read(p)
		b.left -= int64(n)
		if b.left == 0 {
			b.eof = true
		}
		if err == io.EOF && !b.eof {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	default: // until close
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.eof = true
		}
		return n, err
	}
}

func (b *bodyReader[C]) readChunked(p []byte) (int, error) {
	if b.chunkLeft == 0 {
		size, err := readChunkSize(b.br)
		if err != nil {
			return 0, err
		}
		if size == 0 {
			// Trailers, then the blank line. They are not forwarded: the
			// response headers have gone already.
			for {
				line, err := b.br.ReadSlice('\n')
				if err != nil {
					return 0, err
				}
				if len(line) <= 2 {
					break
				}
			}
			b.eof = true
			return 0, io.EOF
		}
		b.chunkLeft = size
	}
	if int64(len(p)) > b.chunkLeft {
		p = p[:b.chunkLeft]
	}
	n, err := b.br.Read(p)
	b.chunkLeft -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if b.chunkLeft == 0 && err == nil {
		if c, err := b.br.ReadByte(); err != nil || (c == '\r' && !expectByte(b.br, '\n')) || (c != '\r' && c != '\n') {
			return n, errBadResponse
		}
	}
	return n, err
}

func expectByte(br *bufio.Reader, want byte) bool {
	c, err := br.ReadByte()
	return err == nil && c == want
}

func readChunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	var n int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			d = c | 0x20 - 'a' + 10
		default:
			if digits == 0 || (c != ';' && c != '\r' && c != '\n' && c != ' ' && c != '\t') {
				return 0, errBadResponse
			}
			return n, nil
		}
		if digits++; digits > 15 {
			return 0, errBadResponse
		}
		n = n<<4 | int64(d)
	}
	return 0, errBadResponse
}

// Close returns the connection to the pool when the body was read to its
// end, and closes it otherwise (a client that went away mid-body).
func (b *bodyReader[C]) Close() error {
	if b.br == nil {
		return nil
	}
	t := b.t
	t.hc.ReleaseReader(b.br)
	if b.eof && b.keep {
		_ = b.cc.Conn().SetReadDeadline(time.Time{})
		t.release(b.cc)
	} else {
		t.close(b.cc)
	}
	var zero C
	b.cc, b.br = zero, nil
	t.pool.Put(b)
	return nil
}
