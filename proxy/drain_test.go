package proxy_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// Drain turns readiness false but refuses no one: new connections are
// accepted and served, and every answer asks the client to reconnect
// (Connection: close), on new and on kept-alive connections alike, so
// that clients move to another instance before Shutdown closes anything.
func TestDrain_ReadinessFalse_StillServing_AsksClientsToReconnect(t *testing.T) {
	r := startRig(t, rigOptions{})
	kept := dialRaw(t, r.addr)
	defer kept.Close()
	kept.send(request("GET", "/api/v2/users/me", nil))
	if resp := kept.read(); resp.Status != 200 || resp.Get1(t, "Connection") != "" {
		t.Fatalf("before Drain: %d, Connection %q; want 200 and a kept-alive connection", resp.Status, resp.Get1(t, "Connection"))
	}

	r.srv.Drain()
	if r.srv.Ready() {
		t.Errorf("Ready() = true after Drain, want false")
	}
	if !r.srv.Draining() {
		t.Errorf("Draining() = false after Drain, want true")
	}
	f := func(name string, c *rawConn, raw string) {
		t.Helper()
		c.send(raw)
		resp := c.read()
		if resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200: %s", name, resp.Status, resp.Body)
		}
		if got := resp.Get1(t, "Connection"); !strings.EqualFold(got, "close") {
			t.Errorf("%s: Connection = %q, want close", name, got)
		}
		if next, err := c.readErr(); err == nil {
			t.Errorf("%s: the connection stayed open (read %d), want it closed after the answer", name, next.Status)
		}
	}
	f("kept-alive connection, pass-through", kept, request("GET", "/api/v2/users/me", nil))
	fresh := dialRaw(t, r.addr)
	defer fresh.Close()
	f("new connection, intercepted call", fresh, request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT))

	// Shutdown then closes the listener.
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection after Shutdown was accepted, want it refused")
	}
}
