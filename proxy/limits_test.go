package proxy_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/upstreamtest"
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
