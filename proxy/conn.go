package proxy

import (
	"bytes"
	"errors"
	"net"
)

// errBareLF is the read error a watchConn gives fasthttp for a header block
// that ends in a bare-LF blank line: fasthttp would wait for a CRLFCRLF
// until server.read_timeout instead of answering.
var errBareLF = errors.New("the header block ends with a bare LF")

// watchListener gives fasthttp connections that follow each request's
// header block in the byte stream (after TLS, if any).
type watchListener struct {
	net.Listener
	max int // the most bytes of a header block kept: server.max_header_bytes
}

func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, max: l.max}, nil
}

// Phases of a watchConn.
const (
	phaseIdle = iota // before the first byte of the next header block
	phaseHead        // reading a header block
	phaseBody        // after it: a body, or the handler
	phaseLost        // where a block starts is unknown (a chunked body, pipelining)
)

// watchConn keeps a copy of the header block of the request being read, so
// that callfix can see what fasthttp hides or waits for:
//
//   - a block that ends in a bare LF blank line ("\n\n"): fasthttp waits for
//     a CRLFCRLF (RFC 9112 section 2.2 lets a server take a bare LF, and
//     another server would end the block there); the next read fails with
//     errBareLF, so the client gets 400 at once instead of a timeout;
//   - a bare LF on the request line, which fasthttp takes silently;
//   - the name of the header a parse error is about, which fasthttp's error
//     does not give (it quotes the value instead, which is never logged).
//
// Blocks are found exactly: the connection knows each request's header end
// and, from the handler, its Content-Length. After a chunked body or
// pipelined bytes it stops looking (phaseLost) for the rest of the
// connection. It is used by one goroutine, fasthttp's for the connection.
type watchConn struct {
	net.Conn
	max int

	phase     int
	pos       int64 // bytes Read has returned so far
	start     int64 // where the next header block begins; bytes before it are a body
	headStart int64 // where the current block began
	headEnd   int64 // after its blank line
	head      []byte
	bareLF    bool // a line of the block ends in LF alone
	bareEnd   bool // the block ends otherwise than in CRLFCRLF
	handling  bool
}

func (c *watchConn) Read(p []byte) (int, error) {
	if c.bareEnd && !c.handling && c.phase == phaseBody {
		// fasthttp wants more after a block it will not take, or reads the
		// body of a request callfix refuses: either way, stop here.
		return 0, errBareLF
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.phase < phaseBody {
		c.observe(p[:n], c.pos)
	}
	c.pos += int64(n)
	return n, err
}

// observe follows the header block in b, which begins at stream offset off.
func (c *watchConn) observe(b []byte, off int64) {
	if off < c.start { // the end of the previous request's body
		skip := c.start - off
		if skip >= int64(len(b)) {
			return
		}
		b, off = b[skip:], c.start
	}
	if c.phase == phaseIdle {
		// RFC 9112 section 2.2: empty lines before the request line are
		// ignored (fasthttp does too).
		i := 0
		for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i == len(b) {
			return
		}
		b, off = b[i:], off+int64(i)
		c.phase, c.headStart, c.head = phaseHead, off, c.head[:0]
	}
	// Bytes past server.max_header_bytes cannot belong to a block fasthttp
	// takes (it answers 431): a block not ended by then is not followed.
	cut := false
	if room := c.max - len(c.head); len(b) > room {
		b, cut = b[:max(room, 0)], true
	}
	from := len(c.head)
	c.head = append(c.head, b...)
	h := c.head
	for j := from; j < len(h); j++ {
		k := bytes.IndexByte(h[j:], '\n')
		if k < 0 {
			break
		}
		j += k
		if j == 0 || h[j-1] != '\r' {
			c.bareLF = true
		}
		// A blank line ends the block: "\n\n", or "\n\r\n".
		blank := j >= 1 && h[j-1] == '\n' || j >= 2 && h[j-1] == '\r' && h[j-2] == '\n'
		if !blank {
			continue
		}
		c.bareEnd = !(j >= 3 && h[j-3] == '\r' && h[j-2] == '\n' && h[j-1] == '\r')
		c.head = h[:j+1]
		c.headEnd = c.headStart + int64(j+1)
		c.phase = phaseBody
		return
	}
	if cut {
		c.phase = phaseLost
	}
}

// enter is called when the handler starts on a request; it reports whether
// the block followed is this request's, and if so whether it has a bare LF.
func (c *watchConn) enter() (tracked, bareLF bool) {
	c.handling = true
	if c.phase != phaseBody {
		c.phase = phaseLost
		return false, false
	}
	return true, c.bareLF
}

// leave is called when the handler is done with a request whose body has
// bodyLen bytes (-1 when chunked): the next block begins after them.
func (c *watchConn) leave(bodyLen int) {
	c.handling = false
	if c.phase != phaseBody || bodyLen < 0 {
		c.phase = phaseLost
		return
	}
	c.start = c.headEnd + int64(bodyLen)
	if c.pos > c.start {
		// The client sent more before the answer (pipelining): bytes the
		// connection saw while not looking.
		c.phase = phaseLost
		return
	}
	c.phase, c.bareLF, c.bareEnd = phaseIdle, false, false
	if cap(c.head) > 4<<10 {
		c.head = nil // an unusually large block: do not keep its buffer
	}
}

// badHeader returns the name of the first header whose value holds a
// character a value cannot (a control character, DEL, a bare CR), or the
// name continued by a folded line, from the block read so far: what a
// fasthttp parse error is about. It is "" when there is none, or when what
// precedes the colon is not a token (it may be a value).
func (c *watchConn) badHeader() string {
	if c.phase != phaseHead && c.phase != phaseBody {
		return ""
	}
	h := c.head
	i := bytes.IndexByte(h, '\n') // skip the request line
	if i < 0 {
		return ""
	}
	h = h[i+1:]
	var name []byte
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			return ""
		}
		value := line
		if line[0] == ' ' || line[0] == '\t' {
			if name != nil {
				return tokenOrEmpty(name)
			}
		} else if colon := bytes.IndexByte(line, ':'); colon > 0 {
			name, value = line[:colon], line[colon+1:]
		} else {
			return ""
		}
		for _, b := range value {
			if b < 0x20 && b != '\t' || b == 0x7f {
				return tokenOrEmpty(name)
			}
		}
	}
	return ""
}

// watchOf returns the watchConn under a request, or nil (a request built in
// memory, as tests do).
func watchOf(c net.Conn) *watchConn {
	wc, _ := c.(*watchConn)
	return wc
}
