package testsupport_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// Connections are numbered from 1 in accept order, and Close closes the
// open ones and returns only after every serve call has.
func TestConns_NumbersAndCloseWaits(t *testing.T) {
	var mu sync.Mutex
	var got []int
	ended := 0
	s, err := testsupport.ListenConns(func(c net.Conn, n int) {
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		io.Copy(io.Discard, c) // until Close closes it
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		ended++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == i+1 || time.Now().After(deadline) {
				break
			}
		}
	}
	s.Close()
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("connections numbered %v, want [1 2 3]", got)
	}
	if ended != 3 {
		t.Errorf("Close returned with %d of 3 serve calls ended", ended)
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Errorf("dial after Close succeeded")
	}
}
