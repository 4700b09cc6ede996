package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeServer answers each connection's requests with the answers given,
// one per request, then closes it.
func fakeServer(t *testing.T, answers ...string) (addr string, conns chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = make(chan int, 16)
	go func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- n
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for _, a := range answers {
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					c.Write([]byte(a))
				}
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// The client keeps its connection, reconnects when asked to, and reports a
// connection that ends without an answer as an error.
func TestClient_KeepAliveReconnectAndNoAnswer(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	busy := "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 26\r\n\r\n{\"code\":\"callfix.busy\"}   "
	addr, conns := fakeServer(t, ok, ok, busy)
	cl := newClient(addr, true)
	cl.timeout = 2 * time.Second
	defer cl.Close()
	for i, want := range []int{200, 200, 503} {
		rep, err := cl.do(getRequest())
		if err != nil || rep.status != want {
			t.Fatalf("request %d: %v, %v; want %d", i, rep, err, want)
		}
		if want == 503 && (!rep.closeAsked || rep.code != "callfix.busy" || rep.retryAfter != "1") {
			t.Errorf("503: %+v; want Connection: close, its code and Retry-After", rep)
		}
	}
	if n := len(conns); n != 1 {
		t.Errorf("%d connections for three requests before a Connection: close, want 1", n)
	}
	if rep, err := cl.do(getRequest()); err != nil || rep.status != 200 {
		t.Errorf("after Connection: close: %v, %v; want a new connection and 200", rep, err)
	}
	if n := len(conns); n != 2 {
		t.Errorf("%d connections, want 2 after the server asked to reconnect", n)
	}

	addr, _ = fakeServer(t) // reads nothing, answers nothing, closes
	k := newClient(addr, true)
	k.timeout = 2 * time.Second
	if _, err := k.do(getRequest()); err == nil {
		t.Errorf("a connection closed without an answer is not an error")
	}
}

func TestRequest_Bytes(t *testing.T) {
	got := string(callRequest().marked("m-1", faultStall).bytes(false))
	want := "POST /api/v2/conversations/calls HTTP/1.1\r\nHost: callfix.chaos\r\nContent-Type: application/json\r\nAuthorization: Bearer chaos\r\n" +
		"X-Chaos-Id: m-1\r\nX-Chaos-Fault: stall\r\nConnection: close\r\nContent-Length: 32\r\n\r\n{\"phoneNumber\":\"(317) 222-4567\"}"
	if got != want {
		t.Errorf("request bytes:\n%q\nwant\n%q", got, want)
	}
	if g := string(getRequest().marked("m-2", faultAnswer).bytes(true)); strings.Contains(g, "Content-Length") || strings.Contains(g, hdrFault) {
		t.Errorf("a GET with the answer fault: %q; want neither a body length nor a fault header", g)
	}
}
