package proxy

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener caps the client connections served at once
// (server.max_conns). A connection beyond the cap is answered 503 in
// Genesys's error format and closed, rather than with fasthttp's plain-text
// refusal, so that SDK error handling reads it like any Genesys error.
type limitListener struct {
	net.Listener
	max     int64
	active  atomic.Int64
	headMax int
	// busy builds the 503 from what the client sent of its request head.
	busy func(head []byte) []byte
}

func newLimitListener(ln net.Listener, max, headMax int, busy func(head []byte) []byte) *limitListener {
	return &limitListener{Listener: ln, max: int64(max), headMax: headMax, busy: busy}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.max {
			l.active.Add(-1)
			go l.refuse(c)
			continue
		}
		return &limitConn{Conn: c, l: l}, nil
	}
}

// refuse answers one connection beyond the cap without blocking Accept.
// It reads the request head first (at most server.max_header_bytes, for at
// most a second), so that the answer carries the client's X-Request-Id and
// takes the OAuth format on the login routes.
func (l *limitListener) refuse(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	head := make([]byte, 0, min(l.headMax, 4<<10))
	for len(head) < l.headMax && !bytes.Contains(head, []byte("\r\n\r\n")) {
		if len(head) == cap(head) {
			head = append(head, 0)[:len(head)]
		}
		n, err := c.Read(head[len(head):min(cap(head), l.headMax)])
		head = head[:len(head)+n]
		if err != nil {
			break
		}
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(l.busy(head))
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	// Let the client read the answer before the connection goes: a close
	// with its request unread would reset it.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	var b [512]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			break
		}
	}
	c.Close()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.active.Add(-1) })
	return c.Conn.Close()
}
