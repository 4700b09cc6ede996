package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/callfix/callfix/config"
)

// inmemProxy is a Server in front of an in-memory fasthttp upstream that
// answers a small Genesys-like JSON body: no sockets, so the proxy's own
// work is what is measured.
func inmemProxy(tb testing.TB, extra map[string]string) *Server {
	tb.Helper()
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if bytes.Contains(ctx.PostBody(), []byte("tel:+1")) {
			rewrittenSeen.Add(1)
		}
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("ININ-Correlation-Id", "c0ffee00-0000-4000-8000-000000000001")
		ctx.SetBodyString(`{"id":"3f1a9c2e-0000-4000-8000-000000000009","selfUri":"/api/v2/conversations/calls/3f1a9c2e"}`)
	}, NoDefaultServerHeader: true, NoDefaultDate: true}
	go up.Serve(ln)
	tb.Cleanup(func() { up.Shutdown(); ln.Close() })
	flags := map[string]string{"upstream.api": "http://127.0.0.1:1", "upstream.login": "http://127.0.0.2:1"}
	for k, v := range extra {
		flags[k] = v
	}
	mgr, err := config.NewManager(config.Options{Flags: flags}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := newServer(Options{Config: mgr}, func(string) (net.Conn, error) { return ln.Dial() })
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// inmemRoundTrip returns a function that runs raw through s's handler and
// writes the answer (streaming the upstream body) as the fasthttp server
// would, failing unless the status is wantStatus. Everything it uses is
// reused between calls, so what it allocates is the proxy's doing.
func inmemRoundTrip(tb testing.TB, s *Server, raw []byte, wantStatus int) func() {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5000}, nil)
	w := bufio.NewWriter(io.Discard)
	r := &byteReader{}
	br := bufio.NewReader(r)
	return func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		r.b, r.i = raw, 0
		br.Reset(r)
		if err := ctx.Request.Read(br); err != nil {
			tb.Fatal(err)
		}
		s.serveHTTP(&ctx)
		if ctx.Response.StatusCode() != wantStatus {
			tb.Fatalf("status = %d, want %d: %s", ctx.Response.StatusCode(), wantStatus, ctx.Response.Body())
		}
		if err := ctx.Response.Write(w); err != nil {
			tb.Fatal(err)
		}
		w.Flush()
		ctx.Response.Reset() // closes the body stream, releasing the upstream response
	}
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// rewrittenSeen counts bodies the in-memory upstream received already
// repaired, so that a benchmark can prove it measured a rewrite.
var rewrittenSeen atomic.Int64

var passthroughRequest = []byte("GET /api/v2/users/me?expand=presence HTTP/1.1\r\nHost: callfix.local\r\n" +
	"Authorization: Bearer abc.def.ghi\r\nAccept: application/json\r\nUser-Agent: PureCloud SDK/go\r\nX-Request-Id: r-1\r\n\r\n")

// The pass-through request path allocates nothing per request once warm,
// as fasthttp's own allocation_test.go asserts for its hot paths.
func TestPassthrough_ZeroAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items); `make test` runs this without -race")
	}
	run := inmemRoundTrip(t, inmemProxy(t, nil), passthroughRequest, 200)
	for i := 0; i < 100; i++ {
		run()
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("pass-through allocations per request = %v, want 0", n)
	}
}
