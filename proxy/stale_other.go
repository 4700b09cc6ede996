//go:build !unix

package proxy

import "net"

// peekable leaves connections as they are without Unix sockets.
func peekable(c net.Conn, err error) (net.Conn, error) { return c, err }

// closedByPeer cannot peek without Unix sockets: a stale pooled connection
// is then found by the failed request (502, or one retry of a GET).
func closedByPeer(net.Conn) bool { return false }
