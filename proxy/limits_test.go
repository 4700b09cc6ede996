package proxy_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// server.max_conns connections are served; one more is answered 503 in
// Genesys's format and closed; when one closes, a new one is served.
func TestLimits_ServerMaxConns_OneMoreGets503InGenesysFormat(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"server.max_conns": "2"}})
	addr := r.expand("{proxy}")
	get := func(c net.Conn, br *bufio.Reader) (*http.Response, []byte) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\n")); err != nil {
			t.Fatalf("write: %v", err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if resp, _ := get(c, bufio.NewReader(c)); resp.StatusCode != 200 {
			t.Fatalf("connection %d: status = %d, want 200", i+1, resp.StatusCode)
		}
		conns = append(conns, c)
	}
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	resp, body := get(c3, bufio.NewReader(c3))
	var e struct {
		Code, Message string
		Status        int
		Errors        []any
	}
	if resp.StatusCode != 503 || json.Unmarshal(body, &e) != nil || e.Code != "callfix.server.busy" || e.Status != 503 || e.Errors == nil {
		t.Errorf("third connection: %d %s, want 503 with a Genesys body coded callfix.server.busy", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("the 503 has no Retry-After")
	}
	// Closing one of the two makes room.
	conns[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := get(c, bufio.NewReader(c))
		c.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a connection closed, a new one still gets %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// upstream.max_conns caps the connections to an upstream: with a cap of
// one, two concurrent requests go out one after the other on the same
// connection, and both succeed within upstream.timeout.
func TestLimits_UpstreamMaxConns_RequestsWaitForAFreeConnection(t *testing.T) {
	r := startRig(t, rigOptions{
		flags: map[string]string{"upstream.max_conns": "1", "upstream.timeout": "5s"},
		api: func(*upstreamtest.Request) upstreamtest.Response {
			resp := upstreamtest.OK(nil)
			resp.Delay = 300 * time.Millisecond
			return resp
		},
	})
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = r.do(request("GET", "/api/v2/users/me", nil)).Status
		}(i)
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Errorf("statuses = %v, want [200 200]", statuses)
	}
	reqs := r.api.Requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream received %d requests, want 2", len(reqs))
	}
	if reqs[0].Conn != reqs[1].Conn {
		t.Errorf("requests came on connections %d and %d, want one connection (max_conns 1)", reqs[0].Conn, reqs[1].Conn)
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 250*time.Millisecond {
		t.Errorf("the second request arrived %s after the first, want after the first was answered (300ms)", gap)
	}
}

// server.max_header_bytes bounds the request line and headers with their
// final blank line: a block of exactly that size is served, one byte more
// is 431.
func TestLimits_MaxHeaderBytes_AtTheEdge(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"server.max_header_bytes": "1KiB"}})
	block := func(n int) string {
		head := "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nX-Pad: "
		return head + strings.Repeat("a", n-len(head)-4) + "\r\n\r\n"
	}
	if resp := r.do(block(1024)); resp.Status != 200 {
		t.Errorf("a 1024-byte header block: status = %d, want 200", resp.Status)
	}
	wantAPIError(t, "a 1025-byte header block", r.do(block(1025)), 431, "callfix.bad.request")
}

// server.idle_timeout closes a client's keep-alive connection idle that
// long, and only then.
func TestLimits_ServerIdleTimeout_ClosesIdleClientConnections(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"server.idle_timeout": "400ms"}})
	c := dialRaw(t, r.addr)
	defer c.Close()
	get := "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\n"
	c.send(get)
	c.read()
	time.Sleep(100 * time.Millisecond)
	c.send(get)
	if resp := c.read(); resp.Status != 200 {
		t.Fatalf("after 100ms idle: status = %d, want 200 on the same connection", resp.Status)
	}
	time.Sleep(900 * time.Millisecond)
	c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Errorf("after 900ms idle (idle_timeout 400ms): read = %v, want io.EOF (closed by callfix)", err)
	}
}

// upstream.idle_timeout closes pooled upstream connections idle that long:
// a request soon after another reuses the connection, one after a longer
// pause opens a new one.
func TestLimits_UpstreamIdleTimeout_ClosesIdlePooledConnections(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"upstream.idle_timeout": "300ms"}})
	get := request("GET", "/api/v2/users/me", nil)
	r.do(get)
	time.Sleep(50 * time.Millisecond)
	r.do(get)
	time.Sleep(1200 * time.Millisecond)
	r.do(get)
	reqs := r.api.Requests()
	if len(reqs) != 3 {
		t.Fatalf("upstream received %d requests, want 3", len(reqs))
	}
	if reqs[0].Conn != reqs[1].Conn {
		t.Errorf("after 50ms idle the request came on connection %d, want the pooled %d", reqs[1].Conn, reqs[0].Conn)
	}
	if reqs[2].Conn == reqs[1].Conn {
		t.Errorf("after 1.2s idle (idle_timeout 300ms) the request reused connection %d, want a new one", reqs[2].Conn)
	}
}

// blackholeListener is a loopback port whose accept queue is full and
// never drained: a new connection's handshake is not answered, as with an
// unreachable host. It returns the address.
func blackholeListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// upstream.dial_timeout bounds connecting to an upstream: an upstream that
// does not answer the handshake gives 504 after it, not after
// upstream.timeout.
func TestLimits_UpstreamDialTimeout_504(t *testing.T) {
	addr := blackholeListener(t)
	if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Skip("this kernel completes handshakes beyond a full accept queue: no unanswered port to dial")
	}
	r := startRig(t, rigOptions{flags: map[string]string{"upstream.api": "http://" + addr, "upstream.dial_timeout": "300ms", "upstream.timeout": "10s"}})
	start := time.Now()
	resp := r.do(request("GET", "/api/v2/users/me", nil))
	elapsed := time.Since(start)
	wantAPIError(t, "dial timeout", resp, 504, "callfix.upstream.timeout")
	if elapsed < 250*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("answered after %s, want about the 300ms dial timeout", elapsed)
	}
}
