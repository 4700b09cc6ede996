package testsupport

import (
	"fmt"
	"net"
	"sync"
)

// Conns is a TCP server on a loopback port that hands each connection to
// its serve function on a goroutine of its own, numbered from 1 in the
// order they were accepted: the part the raw-TCP rigs (upstreamtest, the
// fault campaign's upstream) share.
type Conns struct {
	// Addr is 127.0.0.1:PORT.
	Addr string

	ln     net.Listener
	serve  func(c net.Conn, n int)
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	n      int
	closed bool
	wg     sync.WaitGroup
}

// ListenConns listens on a free loopback port and serves every connection
// with serve, which may return at any time: the connection is closed
// after it.
func ListenConns(serve func(c net.Conn, n int)) (*Conns, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen on loopback: %w", err)
	}
	s := &Conns{Addr: ln.Addr().String(), ln: ln, serve: serve, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops accepting, closes every open connection and waits until
// every serve call has returned. It may be called more than once.
func (s *Conns) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Conns) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.n++
		n := s.n
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c, n)
		}()
	}
}
