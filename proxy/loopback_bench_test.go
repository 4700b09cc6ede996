package proxy

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/config"
)

// loopbackProxy is a Server in front of a fasthttp upstream on a loopback
// TCP port: unlike inmemProxy, the upstream connections are real sockets,
// so the system calls made on them (the stale-connection check among
// them) are part of what is measured.
func loopbackProxy(tb testing.TB) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("ININ-Correlation-Id", "c0ffee00-0000-4000-8000-000000000001")
		ctx.SetBodyString(`{"id":"3f1a9c2e-0000-4000-8000-000000000009","selfUri":"/api/v2/conversations/calls/3f1a9c2e"}`)
	}, NoDefaultServerHeader: true, NoDefaultDate: true}
	go up.Serve(ln)
	tb.Cleanup(func() { up.Shutdown() })
	url := "http://" + ln.Addr().String()
	mgr, err := config.NewManager(config.Options{Flags: map[string]string{"upstream.api": url, "upstream.login": url}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Options{Config: mgr})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkProxy_PassthroughLoopback: BenchmarkProxy_Passthrough with the
// upstream on a loopback socket. Each request takes the one pooled
// connection back, so it shows what checking a pooled connection costs.
func BenchmarkProxy_PassthroughLoopback(b *testing.B) {
	run := inmemRoundTrip(b, loopbackProxy(b), passthroughRequest, 200)
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}
