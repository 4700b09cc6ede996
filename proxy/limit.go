package proxy

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callfix/callfix/internal/apierror"
)

// limitListener caps the client connections served at once
// (server.max_conns). A connection beyond the cap is answered 503 in
// Genesys's error format and closed, rather than with fasthttp's plain-text
// refusal, so that SDK error handling reads it like any Genesys error.
type limitListener struct {
	net.Listener
	max    int64
	active atomic.Int64
	busy   []byte
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	body := apierror.New(503, apierror.CodeServerBusy, "callfix is serving server.max_conns connections already; retry later", "").JSON()
	resp := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	return &limitListener{Listener: ln, max: int64(max), busy: []byte(resp)}
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
func (l *limitListener) refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(l.busy)
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
