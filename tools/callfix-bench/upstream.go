package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// upstream is the stand-in for Genesys Cloud that every target forwards
// to (and the "direct" target itself): a fasthttp server on loopback that
// answers like the Platform API and counts what it received, so that the
// harness can check what the proxies really forwarded.
type upstream struct {
	ln  net.Listener
	srv *fasthttp.Server
	big []byte // the 10 MiB answer of GET /api/v2/big, built once and shared

	requests atomic.Int64 // every request answered
	inflight atomic.Int64 // requests being handled now
	calls    atomic.Int64 // POST /api/v2/conversations/calls bodies
	telPlus1 atomic.Int64 // … of them containing tel:+1 (phoneNumber rewritten or canonical)
	callerE1 atomic.Int64 // … of them with "callerId":"+1 (callerId rewritten or canonical)
	exact    atomic.Int64 // … of them byte for byte the canonical body (callBody(k, true))
	puts     atomic.Int64 // PUT /api/v2/blob bodies received whole
	putBad   atomic.Int64 // … received short or long
	bigs     atomic.Int64 // GET /api/v2/big answered
	notFound atomic.Int64 // anything else
	seq      atomic.Uint64

	// The TLS listener (startTLS), nil without one: connections accepted
	// and handshakes completed, full and resumed.
	tls *tlsCounters

	// probe is the last call body that arrived with the X-Bench-Probe
	// header (the fidelity check of fidelity.go).
	probeMu sync.Mutex
	probe   []byte

	done chan struct{}
}

// upstreamCounts is a snapshot of the upstream's counters.
type upstreamCounts struct {
	Requests   int64 `json:"requests"`
	Calls      int64 `json:"calls"`
	TelPlus1   int64 `json:"calls_with_tel_plus1"`
	CallerE164 int64 `json:"calls_with_callerid_plus1"`
	Puts       int64 `json:"puts_whole"`
	PutBad     int64 `json:"puts_bad"`
	Bigs       int64 `json:"big_sent"`
	NotFound   int64 `json:"not_found"`
	// Exact counts the call bodies that arrived as the canonical body
	// byte for byte: same key order, same escaping, same numbers.
	Exact int64 `json:"calls_exact"`
	// TLS: connections accepted on the TLS listener and handshakes
	// completed there (resumed ones among them).
	TLSConns      int64 `json:"tls_conns,omitempty"`
	TLSHandshakes int64 `json:"tls_handshakes,omitempty"`
	TLSResumed    int64 `json:"tls_resumed,omitempty"`
}

func (c upstreamCounts) add(o upstreamCounts) upstreamCounts {
	neg := upstreamCounts{}.sub(o)
	return c.sub(neg)
}

func (c upstreamCounts) sub(o upstreamCounts) upstreamCounts {
	return upstreamCounts{c.Requests - o.Requests, c.Calls - o.Calls, c.TelPlus1 - o.TelPlus1, c.CallerE164 - o.CallerE164,
		c.Puts - o.Puts, c.PutBad - o.PutBad, c.Bigs - o.Bigs, c.NotFound - o.NotFound, c.Exact - o.Exact,
		c.TLSConns - o.TLSConns, c.TLSHandshakes - o.TLSHandshakes, c.TLSResumed - o.TLSResumed}
}

var (
	usersMeBody = []byte(`{"id":"2ca3b6e8-0000-4000-8000-000000000001","name":"Bench User","state":"active","version":3}`)
	callBodyOK  = []byte(`{"id":"0c3e7a54-6d29-4d6f-9a4e-000000000042","selfUri":"/api/v2/conversations/calls/0c3e7a54"}`)
	blobOK      = []byte(`{"status":"stored","bytes":102400,"id":"b7e0c9d2-0000-4000-8000-000000000007"}`)
	notFoundMsg = []byte(`{"message":"not found","code":"not.found","status":404}`)
	badBlobMsg  = []byte(`{"message":"the body was not 102400 bytes","code":"bad.request","status":400}`)
	jsonCT      = []byte("application/json")
	corrHeader  = []byte("ININ-Correlation-Id")
	telPlus1    = []byte("tel:+1")
	callerE164  = []byte(`"callerId":"+1`)
)

var discardBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// startUpstream listens on a free loopback port and serves until Close.
func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{ln: ln, done: make(chan struct{})}
	u.big = make([]byte, bigBodySize)
	for i := range u.big {
		u.big[i] = 'A' + byte(i%26)
	}
	u.srv = &fasthttp.Server{
		Handler:               u.handle,
		Name:                  "",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// Uploads stream into a pooled buffer and are discarded: the
		// upstream never holds a 100 KiB body per request.
		StreamRequestBody:  true,
		MaxRequestBodySize: 64 << 10,
		ReadTimeout:        60 * time.Second,
		WriteTimeout:       60 * time.Second,
		IdleTimeout:        120 * time.Second,
		Concurrency:        100_000,
		CloseOnShutdown:    true,
		Logger:             discardLogger{},
	}
	go func() {
		defer close(u.done)
		_ = u.srv.Serve(ln)
	}()
	return u, nil
}

func (u *upstream) Addr() string { return u.ln.Addr().String() }

// Close stops the server and waits (bounded) for Serve to return.
func (u *upstream) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = u.srv.ShutdownWithContext(ctx)
	select {
	case <-u.done:
	case <-time.After(3 * time.Second):
	}
}

func (u *upstream) counts() upstreamCounts {
	c := upstreamCounts{Requests: u.requests.Load(), Calls: u.calls.Load(), TelPlus1: u.telPlus1.Load(), CallerE164: u.callerE1.Load(),
		Puts: u.puts.Load(), PutBad: u.putBad.Load(), Bigs: u.bigs.Load(), NotFound: u.notFound.Load(), Exact: u.exact.Load()}
	if u.tls != nil {
		c.TLSConns, c.TLSHandshakes, c.TLSResumed = u.tls.conns.Load(), u.tls.handshakes.Load(), u.tls.resumed.Load()
	}
	return c
}

// quiesce waits until no request is being handled and none has arrived
// for 25 ms (a proxy may still be forwarding requests a generator sent
// before it stopped), at most max. It reports whether the upstream went
// quiet.
func (u *upstream) quiesce(max time.Duration) bool {
	deadline := time.Now().Add(max)
	last, since := u.requests.Load(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n := u.requests.Load()
		if n != last || u.inflight.Load() != 0 {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) >= 25*time.Millisecond {
			return true
		}
	}
	return false
}

func (u *upstream) handle(ctx *fasthttp.RequestCtx) {
	u.inflight.Add(1)
	defer u.inflight.Add(-1)
	u.requests.Add(1)
	h := &ctx.Response.Header
	// A Genesys-looking correlation id, made without allocating.
	var idb [36]byte
	id := append(idb[:0], "5e1c0d2a-0000-4000-8000-"...)
	n := u.seq.Add(1)
	var hex [12]byte
	for i := len(hex) - 1; i >= 0; i-- {
		hex[i] = "0123456789abcdef"[n&15]
		n >>= 4
	}
	id = append(id, hex[:]...)
	h.SetBytesKV(corrHeader, id)

	path := ctx.Path()
	switch {
	case ctx.IsGet() && bytes.Equal(path, []byte("/api/v2/users/me")):
		h.SetContentTypeBytes(jsonCT)
		ctx.SetBody(usersMeBody)
	case ctx.IsPost() && bytes.Equal(path, []byte("/api/v2/conversations/calls")):
		body := ctx.Request.Body()
		u.calls.Add(1)
		if bytes.Contains(body, telPlus1) {
			u.telPlus1.Add(1)
		}
		if bytes.Contains(body, callerE164) {
			u.callerE1.Add(1)
		}
		if isCanonicalCallBody(body) {
			u.exact.Add(1)
		}
		if len(ctx.Request.Header.Peek(probeHeader)) > 0 {
			u.probeMu.Lock()
			u.probe = append(u.probe[:0], body...)
			u.probeMu.Unlock()
		}
		h.SetContentTypeBytes(jsonCT)
		ctx.SetBody(callBodyOK)
	case ctx.IsPut() && bytes.Equal(path, []byte("/api/v2/blob")):
		bp := discardBufs.Get().(*[]byte)
		var got int64
		if r := ctx.RequestBodyStream(); r != nil {
			got, _ = io.CopyBuffer(io.Discard, onlyReader{r}, *bp)
		} else {
			got = int64(len(ctx.Request.Body()))
		}
		discardBufs.Put(bp)
		h.SetContentTypeBytes(jsonCT)
		if got != putBodySize {
			u.putBad.Add(1)
			ctx.SetStatusCode(400)
			ctx.SetBody(badBlobMsg)
			return
		}
		u.puts.Add(1)
		ctx.SetBody(blobOK)
	case ctx.IsGet() && bytes.Equal(path, []byte("/api/v2/big")):
		u.bigs.Add(1)
		h.SetContentType("application/octet-stream")
		// The one shared buffer, written as it is: nothing is copied or
		// allocated per request.
		ctx.Response.SetBodyRaw(u.big)
	default:
		u.notFound.Add(1)
		ctx.SetStatusCode(404)
		h.SetContentTypeBytes(jsonCT)
		ctx.SetBody(notFoundMsg)
	}
}

// isCanonicalCallBody reports whether body is callBody(k, true) for the
// k its phoneNumber names, byte for byte: what a proxy that changes only
// the two numbers forwards for a call-rewrite body. It allocates nothing.
func isCanonicalCallBody(body []byte) bool {
	const at = len(callBodyPrefix + "tel:+131755")
	if len(body) < at+5 || !bytes.HasPrefix(body, []byte(callBodyPrefix+"tel:+131755")) {
		return false
	}
	k := 0
	for _, c := range body[at : at+5] {
		if c < '0' || c > '9' {
			return false
		}
		k = k*10 + int(c-'0')
	}
	var buf [512]byte
	want := appendCallBody(buf[:0], k, true)
	return bytes.Equal(body, want)
}

// lastProbe returns the last probe body received (nil before any).
func (u *upstream) lastProbe() []byte {
	u.probeMu.Lock()
	defer u.probeMu.Unlock()
	if u.probe == nil {
		return nil
	}
	return append([]byte(nil), u.probe...)
}

// onlyReader hides WriterTo/ReaderFrom so that io.CopyBuffer uses the
// pooled buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
