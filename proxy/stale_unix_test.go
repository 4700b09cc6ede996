//go:build unix

package proxy

import (
	"net"
	"testing"
	"time"
)

// dialPair returns a dialed upstream-side connection, wrapped as the
// transport's dialer wraps it, and the accepted end standing for the
// upstream.
func dialPair(tb testing.TB) (client net.Conn, server *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = peekable(net.Dial("tcp", ln.Addr().String()))
	if err != nil {
		tb.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { client.Close(); sc.Close() })
	return client, sc.(*net.TCPConn)
}

// closedByPeer tells a live idle connection from one the upstream closed,
// reset or wrote to unasked, and consumes nothing.
func TestClosedByPeer(t *testing.T) {
	f := func(name string, upstream func(*net.TCPConn), want bool) {
		t.Helper()
		c, s := dialPair(t)
		if _, ok := c.(*peekConn); !ok {
			t.Fatalf("%s: the dialed connection is a %T, want *peekConn", name, c)
		}
		upstream(s)
		time.Sleep(20 * time.Millisecond) // loopback delivers the FIN or RST
		if got := closedByPeer(c); got != want {
			t.Errorf("%s: closedByPeer = %v, want %v", name, got, want)
		}
		if got := closedByPeer(c); got != want {
			t.Errorf("%s: closedByPeer a second time = %v, want %v (a peek consumes nothing)", name, got, want)
		}
	}
	f("idle", func(*net.TCPConn) {}, false)
	f("closed (FIN)", func(s *net.TCPConn) { s.Close() }, true)
	f("half-closed (FIN, still reading)", func(s *net.TCPConn) { s.CloseWrite() }, true)
	f("reset", func(s *net.TCPConn) { s.SetLinger(0); s.Close() }, true)
	f("wrote unasked", func(s *net.TCPConn) { s.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n")) }, true)

	// What was peeked is still there to read.
	c, s := dialPair(t)
	s.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	closedByPeer(c)
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(b[:]); n != 1 || b[0] != 'x' {
		t.Errorf("read after a peek = %d %q %v, want the byte peeked", n, b[:n], err)
	}
}

// Connections that are not TCP (in-memory ones in tests) are left alone.
func TestPeekable_OtherConnectionsUnchanged(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c, err := peekable(a, nil); c != a || err != nil {
		t.Errorf("peekable(pipe) = %T, %v; want the pipe itself", c, err)
	}
	if closedByPeer(a) {
		t.Errorf("closedByPeer(pipe) = true, want false")
	}
}

// BenchmarkStaleCheck: what the check of one pooled connection costs (a
// recvfrom with MSG_PEEK on a live loopback connection).
func BenchmarkStaleCheck(b *testing.B) {
	c, _ := dialPair(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if closedByPeer(c) {
			b.Fatal("a live connection looks closed")
		}
	}
}
