//go:build !unix

package proxy

import "net"

// closedByPeer cannot peek without Unix sockets: a stale pooled connection
// is then found by the failed request (502).
func closedByPeer(net.Conn) bool { return false }
