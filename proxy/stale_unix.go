//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// peekConn is an upstream TCP connection with its file descriptor kept
// from the dial, so that closedByPeer costs one system call and no
// allocation (syscall.Conn's SyscallConn allocates on every call).
type peekConn struct {
	*net.TCPConn
	fd int
}

// peekable wraps a dialed TCP connection for closedByPeer; any other
// connection (in-memory ones in tests) is returned as it is.
func peekable(c net.Conn, err error) (net.Conn, error) {
	tc, ok := c.(*net.TCPConn)
	if err != nil || !ok {
		return c, err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return c, nil
	}
	return &peekConn{TCPConn: tc, fd: fd}, nil
}

// closedByPeer reports whether the upstream has closed (or written to) an
// idle pooled connection, with a non-blocking one-byte peek. Load
// balancers in front of Genesys close idle connections (AWS's after 60s),
// and any server may close one at any moment; a request written to such a
// socket would fail without having been sent, so the transport takes
// another connection instead. That is not a retry: nothing has been
// written yet.
//
// The descriptor is used without the runtime's lock on it: the caller
// holds the connection (taken from the pool), so nothing closes it
// meanwhile. A peek never blocks (MSG_DONTWAIT) and consumes nothing.
func closedByPeer(c net.Conn) bool {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		c = tc.NetConn()
	}
	pc, ok := c.(*peekConn)
	if !ok {
		return false
	}
	var b [1]byte
	n, _, err := syscall.Recvfrom(pc.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// n > 0: the upstream sent something unasked (such as a 408 before
	// closing); n == 0 without an error: its FIN; another error: a reset.
	return n > 0 || (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR)
}
