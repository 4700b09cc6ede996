//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// closedByPeer reports whether the upstream has closed (or written to) an
// idle pooled connection, with a non-blocking one-byte peek. Load
// balancers in front of Genesys close idle connections (AWS's after 60s);
// a request written to such a socket would fail without having been sent,
// so the transport takes another connection instead. That is not a retry:
// nothing has been written yet.
func closedByPeer(c net.Conn) bool {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	stale := false
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		stale = n > 0 || (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK)
		return true
	})
	return stale
}
