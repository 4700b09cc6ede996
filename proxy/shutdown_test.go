package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
	"github.com/callfix/callfix/proxy"
)

// A request in flight when Shutdown starts is answered in full; readiness
// turns false as Shutdown starts; new connections are refused after.
func TestShutdown_InFlightRequestCompletes_ReadinessFalse_NewConnectionsRefused(t *testing.T) {
	const delay = 500 * time.Millisecond
	r := startRig(t, rigOptions{api: func(q *upstreamtest.Request) upstreamtest.Response {
		resp := upstreamtest.OK(q)
		resp.Delay = delay
		return resp
	}})
	if !r.srv.Ready() {
		t.Errorf("Ready() = false while serving, want true")
	}

	type result struct {
		resp *rawResponse
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	c := dialRaw(t, r.addr)
	defer c.Close()
	c.send(request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT))
	go func() {
		resp, err := c.readErr()
		done <- result{resp, err, time.Now()}
	}()
	if !r.api.Wait(1, ioTimeout) {
		t.Fatal("the request did not reach the upstream")
	}
	if n := r.srv.InFlight(); n != 1 {
		t.Errorf("InFlight() = %d with one request at the upstream, want 1", n)
	}

	shutdownDone := make(chan error, 1)
	var shutdownAt time.Time
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		err := r.srv.Shutdown(ctx)
		shutdownAt = time.Now()
		shutdownDone <- err
	}()
	notReady := waitFor(func() bool { return !r.srv.Ready() })
	select {
	case <-done:
		t.Errorf("the in-flight request finished before readiness was checked; the upstream delay is too short for this test")
	default:
	}
	if !notReady {
		t.Errorf("Ready() = true after Shutdown started, want false")
	}

	res := <-done
	if res.err != nil || res.resp.Status != 200 || !bytes.Equal(res.resp.Body, okBody) {
		t.Errorf("in-flight request: %+v, %v; want 200 with the upstream's body", res.resp, res.err)
	}
	if err := <-shutdownDone; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if shutdownAt.Before(res.at.Add(-50 * time.Millisecond)) {
		t.Errorf("Shutdown returned %s before the in-flight request was answered, want after", res.at.Sub(shutdownAt))
	}
	if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection after Shutdown was accepted, want it refused")
	}
	if r.srv.Ready() {
		t.Errorf("Ready() = true after Shutdown, want false")
	}
}

// Idle keep-alive connections do not hold Shutdown up: they are closed.
func TestShutdown_IdleKeepAliveConnectionsClosed(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	defer c.Close()
	c.send(request("GET", "/api/v2/users/me", nil))
	if resp := c.read(); resp.Status != 200 {
		t.Fatalf("status = %d, want 200", resp.Status)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %s with one idle connection, want under 1s", d)
	}
	if resp, err := c.readErr(); err == nil {
		t.Errorf("idle connection got a response %d after Shutdown, want it closed", resp.Status)
	}
}

// When the grace period ends first, Shutdown says so.
func TestShutdown_GraceEnds_ReturnsContextError(t *testing.T) {
	r := startRig(t, rigOptions{api: func(q *upstreamtest.Request) upstreamtest.Response {
		resp := upstreamtest.OK(q)
		resp.Delay = time.Second
		return resp
	}})
	c := dialRaw(t, r.addr)
	defer c.Close()
	c.send(request("GET", "/api/v2/users/me", nil))
	r.api.Wait(1, ioTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Shutdown returned after %s, want at the 200ms deadline", d)
	}
	c.readErr() // let the request finish before the rig stops
}

func TestReady_FalseBeforeServe(t *testing.T) {
	mgr, err := config.NewManager(config.Options{Flags: map[string]string{"upstream.api": "http://127.0.0.1:1", "upstream.login": "http://127.0.0.1:1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Options{Config: mgr})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Ready() {
		t.Errorf("Ready() = true before Serve, want false")
	}
	if srv.InFlight() != 0 {
		t.Errorf("InFlight() = %d before Serve, want 0", srv.InFlight())
	}
}

func TestNew_WithoutConfig_Fails(t *testing.T) {
	if _, err := proxy.New(proxy.Options{}); err == nil {
		t.Errorf("New(Options{}) succeeded, want an error naming Config")
	}
}

// The admin handler's /readyz follows Ready: 200 while serving, 503 from
// the start of Shutdown.
func TestAdmin_Endpoints(t *testing.T) {
	r := startRig(t, rigOptions{})
	h := r.srv.AdminHandler(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("# metrics\n") })
	get := func(path string) (int, string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(path)
		h(&ctx)
		return ctx.Response.StatusCode(), string(ctx.Response.Body())
	}
	f := func(path string, wantStatus int, wantBody string) {
		t.Helper()
		if status, body := get(path); status != wantStatus || body != wantBody {
			t.Errorf("GET %s = %d %q, want %d %q", path, status, body, wantStatus, wantBody)
		}
	}
	waitFor(r.srv.Ready)
	f("/healthz", 200, "ok\n")
	f("/readyz", 200, "ready\n")
	f("/metrics", 200, "# metrics\n")
	if status, _ := get("/nope"); status != 404 {
		t.Errorf("GET /nope = %d, want 404", status)
	}
	r.stop()
	f("/readyz", 503, "not ready\n")
	f("/healthz", 200, "ok\n")

	if status, _ := get("/metrics"); status != 200 {
		t.Errorf("GET /metrics = %d, want 200", status)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	r.srv.AdminHandler(nil)(&ctx)
	if ctx.Response.StatusCode() != 404 {
		t.Errorf("GET /metrics without a metrics handler = %d, want 404", ctx.Response.StatusCode())
	}
}
