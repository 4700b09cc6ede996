package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
)

// Options configure a Server. Only Config is required.
type Options struct {
	// Config supplies the running configuration; the Server follows its
	// reloads. Required.
	Config *config.Manager
	// Logger receives operational logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Telemetry records spans, metrics and the audit log. If nil, metrics
	// go to a private registry and nothing is traced.
	Telemetry *telemetry.Telemetry
	// Observer, if not nil, is also told about every intercepted request
	// once it is answered. A panic in it is recovered and logged.
	Observer Observer
	// TLS reports that the listener serves HTTPS, for X-Forwarded-Proto.
	TLS bool
	// Dial, if not nil, opens connections to upstreams instead of TCP with
	// upstream.dial_timeout (in-memory tests and benchmarks use it).
	Dial func(addr string) (net.Conn, error)
}

// Observer receives a record of every intercepted request. Records hold
// copies: nothing in one refers to fasthttp's buffers.
type Observer interface {
	Intercepted(r *Record)
}

// Record describes one intercepted request after it was answered.
type Record = telemetry.Record

// Server is the callfix reverse proxy.
type Server struct {
	mgr      *config.Manager
	log      *slog.Logger
	tel      *telemetry.Telemetry
	observer Observer
	tls      bool
	state    atomic.Pointer[state]
	srv      *fasthttp.Server
	ready    atomic.Bool
	inflight atomic.Int64

	idPrefix string
	idSeq    atomic.Uint64
	dial     func(addr string) (net.Conn, error)
	tokens   *tokenMap // identity.go
}

// state is what one configuration snapshot needs at request time.
type state struct {
	snap          *config.Snapshot
	api, login    *upstream
	masker        telemetry.Masker
	apiPrefixes   [][]byte
	loginPrefixes [][]byte
	maxBody       int
	timeout       time.Duration
	trusted       []netip.Prefix // server.trusted_proxies
	maxUserAgent  int            // identity.max_user_agent_bytes
}

// New builds a Server on the manager's current configuration and follows
// its reloads: each new snapshot gets its upstream clients built before it
// is swapped in (clients whose settings did not change are kept).
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("proxy: Options.Config is required")
	}
	s := &Server{mgr: opts.Config, log: opts.Logger, tel: opts.Telemetry, observer: opts.Observer, tls: opts.TLS, dial: opts.Dial}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.tel == nil {
		s.tel = telemetry.Disabled()
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.idPrefix = hex.EncodeToString(b[:])
	id := &opts.Config.Current().Config.Identity
	s.tokens = newTokenMap([]byte(id.TokenKey.Value()), id.MaxTokens)
	st, err := newState(opts.Config.Current(), nil, s.dial)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	opts.Config.SetApply(func(snap *config.Snapshot) error {
		st, err := newState(snap, s.state.Load(), s.dial)
		if err != nil {
			return err
		}
		s.state.Store(st)
		return nil
	})
	c := &opts.Config.Current().Config
	s.srv = &fasthttp.Server{
		Handler:                       s.ServeHTTP,
		ErrorHandler:                  s.serverError,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		StreamRequestBody:             true,
		// Bodies up to this size arrive in one read; larger ones stream.
		MaxRequestBodySize: streamThreshold,
		ReadBufferSize:     int(c.Server.MaxHeaderBytes),
		WriteBufferSize:    16 << 10,
		ReadTimeout:        c.Server.ReadTimeout,
		WriteTimeout:       c.Server.WriteTimeout,
		IdleTimeout:        c.Server.IdleTimeout,
		// The limit listener enforces server.max_conns with a Genesys-format
		// 503; fasthttp's own limit, which answers in plain text, stays above it.
		Concurrency:           c.Server.MaxConns + 1024,
		CloseOnShutdown:       true,
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{s.log},
	}
	return s, nil
}

// streamThreshold is the body size fasthttp reads before calling the
// handler; larger bodies stream through with bounded memory.
const streamThreshold = 64 << 10

func newState(snap *config.Snapshot, prev *state, dial func(string) (net.Conn, error)) (*state, error) {
	c := &snap.Config
	var pa, pl *upstream
	if prev != nil {
		pa, pl = prev.api, prev.login
	}
	api, err := newUpstream("api", c.Upstream.API, c, pa, dial)
	if err != nil {
		return nil, err
	}
	login, err := newUpstream("login", c.Upstream.Login, c, pl, dial)
	if err != nil {
		return nil, err
	}
	mode, _ := telemetry.ParseMaskMode(c.Mask)
	st := &state{snap: snap, api: api, login: login, maxBody: int(c.Limits.MaxBodyBytes), timeout: c.Upstream.Timeout,
		masker:  telemetry.Masker{Mode: mode, Key: []byte(c.MaskKey.Value())},
		trusted: snap.TrustedProxies(), maxUserAgent: c.Identity.MaxUserAgentBytes}
	for _, p := range c.Gateway.APIPrefixes {
		st.apiPrefixes = append(st.apiPrefixes, []byte(p))
	}
	for _, p := range c.Gateway.LoginPrefixes {
		st.loginPrefixes = append(st.loginPrefixes, []byte(p))
	}
	return st, nil
}

// Serve accepts connections on ln until Shutdown, at most server.max_conns
// at once. It marks the server ready.
func (s *Server) Serve(ln net.Listener) error {
	s.ready.Store(true)
	return s.srv.Serve(s.limit(ln))
}

// ServeTLS is Serve with TLS from the PEM files.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	s.ready.Store(true)
	return s.srv.ServeTLS(s.limit(ln), certFile, keyFile)
}

func (s *Server) limit(ln net.Listener) net.Listener {
	return newLimitListener(ln, s.mgr.Current().Config.Server.MaxConns)
}

// SetReady sets readiness, for a caller that has bound the listener and
// started Serve in another goroutine and wants /readyz true from now on.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Ready reports whether the server accepts traffic: false before Serve and
// from the start of Shutdown.
func (s *Server) Ready() bool { return s.ready.Load() }

// Shutdown turns readiness false, stops accepting connections, and waits
// for in-flight requests to finish until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	return s.srv.ShutdownWithContext(ctx)
}

// InFlight returns the number of requests being handled.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// ServeHTTP handles one request. It is exported for in-memory tests.
func (s *Server) ServeHTTP(ctx *fasthttp.RequestCtx) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	st := s.state.Load()
	defer func() {
		if r := recover(); r != nil {
			id := s.requestID(ctx)
			// The panic's value may quote request data (a phone number): its
			// type and the stack locate the bug without it.
			s.log.Error("panic while handling a request", "request_id", id, "panic_type", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
			ctx.Response.Reset()
			s.answer(ctx, 500, apierror.CodeInternal, "callfix failed to handle the request; the request was not forwarded if the failure came first", id)
			ctx.SetConnectionClose()
		}
	}()

	in := &ctx.Request.Header
	if msg := framingProblem(in); msg != "" {
		s.answer(ctx, 400, apierror.CodeBadRequest, msg, s.requestID(ctx))
		ctx.SetConnectionClose()
		return
	}
	target, ok := originForm(in.RequestURI())
	if !ok {
		s.answer(ctx, 400, apierror.CodeBadRequest, "the request target is not a path: send origin-form (/api/v2/...) or an absolute URI", s.requestID(ctx))
		return
	}
	up, target := st.route(target)
	path := target
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if up == st.api {
		if rt := st.snap.Engine.Match(b2s(in.Method()), b2s(path)); rt != nil && isJSON(in.ContentType()) {
			s.intercept(ctx, st, up, target, rt)
			return
		}
	}
	if up == st.login && isTokenExchange(in.Method(), path) {
		s.tokenExchange(ctx, st, up, target, path)
		return
	}
	if st.snap.Config.Tracing.Passthrough && s.tel.Tracing() {
		s.tracedPassthrough(ctx, st, up, target, path)
		return
	}
	start := time.Now()
	status := s.forward(ctx, st, up, target, nil, -1, false, nil)
	s.tel.Passthrough(up == st.login, status, time.Since(start))
}

// route picks the upstream for an origin-form target and strips a gateway
// prefix: /oauth/* and the login prefixes go to the login host, the rest
// to the API host.
func (st *state) route(target []byte) (*upstream, []byte) {
	for _, p := range st.loginPrefixes {
		if t, ok := stripPrefix(target, p); ok {
			return st.login, t
		}
	}
	for _, p := range st.apiPrefixes {
		// Stripped only when what is left is itself a Genesys path: a
		// client without the gateway prefix (/api/v2/...) shares the same
		// callfix and must not lose its own /api.
		if t, ok := stripPrefix(target, p); ok && (segmentPrefix(t, pathAPI) || segmentPrefix(t, pathOAuth)) {
			target = t
			break
		}
	}
	if bytes.HasPrefix(target, []byte("/oauth/")) || bytes.Equal(target, []byte("/oauth")) || bytes.HasPrefix(target, []byte("/oauth?")) {
		return st.login, target
	}
	return st.api, target
}

var (
	pathAPI   = []byte("/api")
	pathOAuth = []byte("/oauth")
)

// segmentPrefix reports whether t is p, or starts with p followed by / or ?.
func segmentPrefix(t, p []byte) bool {
	return bytes.HasPrefix(t, p) && (len(t) == len(p) || t[len(p)] == '/' || t[len(p)] == '?')
}

// stripPrefix removes p from target when it is a whole path segment prefix:
// /api/v2 → /v2 for /api, but not /apix.
func stripPrefix(target, p []byte) ([]byte, bool) {
	if !bytes.HasPrefix(target, p) {
		return nil, false
	}
	rest := target[len(p):]
	switch {
	case len(rest) == 0:
		return []byte("/"), true
	case rest[0] == '/':
		return rest, true
	case rest[0] == '?':
		return append([]byte("/"), rest...), true
	}
	return nil, false
}

// originForm returns the path and query of a request target. An absolute
// URI (GET http://elsewhere/x) is reduced to its path: callfix only ever
// talks to its configured upstreams, whatever the request line names.
func originForm(uri []byte) ([]byte, bool) {
	if len(uri) > 0 && uri[0] == '/' {
		return uri, true
	}
	for _, scheme := range [][]byte{[]byte("http://"), []byte("https://")} {
		if len(uri) >= len(scheme) && bytes.EqualFold(uri[:len(scheme)], scheme) {
			rest := uri[len(scheme):]
			if i := bytes.IndexAny(rest, "/?"); i >= 0 {
				if rest[i] == '?' {
					return append([]byte("/"), rest[i:]...), true
				}
				return rest[i:], true
			}
			return []byte("/"), true
		}
	}
	return nil, false
}

// framingProblem finds requests whose length is ambiguous: both
// Content-Length and Transfer-Encoding (the request smuggling of RFC 9112,
// section 6.3). Such requests are refused, never forwarded. fasthttp itself
// refuses several Content-Lengths, several Transfer-Encodings and any
// Transfer-Encoding but chunked, and accepts a chunked request that also
// has a Content-Length; so only chunked requests are scanned, and the
// common request costs nothing here.
func framingProblem(h *fasthttp.RequestHeader) string {
	if h.ContentLength() != -1 {
		return ""
	}
	it := headerIter{raw: h.RawHeaders()}
	for it.next() {
		if bytes.EqualFold(it.key, hdrContentLength) {
			return "the request has both Content-Length and Transfer-Encoding: send one"
		}
	}
	return ""
}

// headerIter walks a raw header block in order, names in their original
// case. It does not allocate.
type headerIter struct {
	raw        []byte
	key, value []byte
}

func (it *headerIter) next() bool {
	for len(it.raw) > 0 {
		line := it.raw
		if i := bytes.IndexByte(it.raw, '\n'); i >= 0 {
			line, it.raw = it.raw[:i], it.raw[i+1:]
		} else {
			it.raw = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		it.key = bytes.TrimRight(line[:colon], " \t")
		it.value = bytes.Trim(line[colon+1:], " \t")
		return true
	}
	return false
}

// forward sends the request upstream and streams the answer back. body,
// when not nil, replaces the client's body; newLen >= 0 replaces the
// Content-Length; dropEncoding removes Content-Encoding (a decoded body).
func (s *Server) forward(ctx *fasthttp.RequestCtx, st *state, up *upstream, target, body []byte, newLen int, dropEncoding bool, inj *traceHeaders) int {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	s.buildRequest(ctx, st, up, req, target, newLen, dropEncoding, inj)
	in := &ctx.Request
	var cb *clientBody
	switch {
	case body != nil:
		req.SetBodyRaw(body)
	case in.Header.ContentLength() != 0 && !in.Header.IsGet() && !in.Header.IsHead() || in.Header.ContentLength() > 0:
		if ctx.RequestBodyStream() == nil {
			// fasthttp read the body whole: forward those bytes.
			req.SetBodyRaw(in.Body())
			break
		}
		cb = clientBodyPool.Get().(*clientBody)
		cb.r, cb.err = ctx.RequestBodyStream(), nil
		defer func() { cb.r, cb.err = nil, nil; clientBodyPool.Put(cb) }()
		req.SetBodyStream(cb, in.Header.ContentLength())
	}
	resp := fasthttp.AcquireResponse()
	if err := up.client.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		status, code, msg := upstreamError(err, up.name)
		if cb != nil && cb.err != nil {
			// The client, not the upstream, failed: its body stopped coming.
			status, code, msg = 400, apierror.CodeBadRequest, "callfix could not read the whole request body from the client"
			if isTimeout(cb.err) {
				status, msg = 408, "the request body was not received within server.read_timeout"
			}
			err = cb.err
		}
		id := s.requestID(ctx)
		s.log.Warn("upstream request failed", "request_id", id, "upstream", up.name, "status", status, "error", err.Error())
		s.answer(ctx, status, code, msg, id)
		return 0
	}
	status := resp.StatusCode()
	copyResponse(ctx, resp, in.Header.IsHead())
	return status
}

// buildRequest writes the outbound request line and headers: the client's
// headers in their order and case, less the hop-by-hop ones and
// X-Callfix-Country, with Host set to the upstream's, X-Forwarded-For
// appended to, and X-Forwarded-Proto and X-Forwarded-Host set.
func (s *Server) buildRequest(ctx *fasthttp.RequestCtx, st *state, up *upstream, req *fasthttp.Request, target []byte, newLen int, dropEncoding bool, inj *traceHeaders) {
	in := &ctx.Request.Header
	out := &req.Header
	out.DisableSpecialHeader()
	out.DisableNormalizing()
	out.SetMethodBytes(in.Method())
	out.SetRequestURIBytes(target)
	if !in.IsHTTP11() {
		out.SetProtocol("HTTP/1.1")
	}

	var conn connectionTokens
	xff := 0
	raw := in.RawHeaders()
	it := headerIter{raw: raw}
	for it.next() {
		switch {
		case bytes.EqualFold(it.key, hopHeaders[0]):
			conn.add(it.value)
		case bytes.EqualFold(it.key, hdrXForwardedFor):
			xff++
		}
	}
	hadXFF := xff > 0
	var clientHost []byte
	hostDone := false
	var ipBuf [64]byte
	ip := appendIP(ipBuf[:0], ctx.RemoteIP())
	it = headerIter{raw: raw}
	for it.next() {
		k, v := it.key, it.value
		switch {
		case isHop(k) || conn.has(k) || bytes.EqualFold(k, hdrCountry) || bytes.EqualFold(k, hdrExpect):
		case inj != nil && (bytes.EqualFold(k, hdrTraceparent) || bytes.EqualFold(k, hdrTracestate)):
			// Replaced by callfix's own span context below.
		case bytes.EqualFold(k, hdrHost):
			if !hostDone {
				clientHost = v
				out.AddBytesKV(k, up.host)
				hostDone = true
			}
		case bytes.EqualFold(k, hdrXForwardedProt), bytes.EqualFold(k, hdrXForwardedHost):
			// Set below, once.
		case bytes.EqualFold(k, hdrXForwardedFor):
			xff--
			if xff == 0 { // the last one: append the client's address
				var buf [256]byte
				val := append(append(append(buf[:0], v...), ", "...), ip...)
				if len(v) == 0 {
					val = ip
				}
				out.AddBytesKV(k, val)
			} else {
				out.AddBytesKV(k, v)
			}
		case newLen >= 0 && bytes.EqualFold(k, hdrContentLength):
			var nb [20]byte
			out.AddBytesKV(k, strconv.AppendInt(nb[:0], int64(newLen), 10))
			newLen = -2 // written
		case dropEncoding && bytes.EqualFold(k, hdrContentEncode):
		default:
			out.AddBytesKV(k, v)
		}
	}
	if !hostDone {
		out.AddBytesKV(hdrHost, up.host)
	}
	if newLen >= 0 {
		var nb [20]byte
		out.AddBytesKV(hdrContentLength, strconv.AppendInt(nb[:0], int64(newLen), 10))
	}
	if !hadXFF {
		out.AddBytesKV(hdrXForwardedFor, ip)
	}
	if s.tls {
		out.AddBytesKV(hdrXForwardedProt, []byte("https"))
	} else {
		out.AddBytesKV(hdrXForwardedProt, []byte("http"))
	}
	if len(clientHost) > 0 {
		out.AddBytesKV(hdrXForwardedHost, clientHost)
	}
	if inj != nil {
		if inj.traceparent != "" {
			out.AddBytesKV(hdrTraceparent, []byte(inj.traceparent))
		}
		if inj.tracestate != "" {
			out.AddBytesKV(hdrTracestate, []byte(inj.tracestate))
		}
	}
	uri := req.URI()
	uri.SetScheme(up.scheme)
	uri.SetHostBytes(up.host)
}

func appendIP(dst []byte, ip net.IP) []byte {
	if ip4 := ip.To4(); ip4 != nil {
		for i, b := range ip4 {
			if i > 0 {
				dst = append(dst, '.')
			}
			dst = strconv.AppendUint(dst, uint64(b), 10)
		}
		return dst
	}
	return append(dst, ip.String()...)
}

// copyResponse hands the upstream's answer to the client: status, headers
// less the hop-by-hop ones, and the body as a stream that releases the
// upstream response (and its connection) when done.
func copyResponse(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, head bool) {
	out := &ctx.Response
	out.Header.DisableNormalizing()
	out.Header.SetNoDefaultContentType(true)
	out.SetStatusCode(resp.StatusCode())
	var conn connectionTokens
	for k, v := range resp.Header.All() {
		if bytes.EqualFold(k, hopHeaders[0]) {
			conn.add(v)
		}
	}
	for k, v := range resp.Header.All() {
		switch {
		case isHop(k) || conn.has(k):
		case bytes.EqualFold(k, hdrContentLength):
		case bytes.EqualFold(k, hdrContentType):
			out.Header.SetContentTypeBytes(v)
		case bytes.EqualFold(k, hdrContentEncode):
			out.Header.SetContentEncodingBytes(v)
		default:
			out.Header.AddBytesKV(k, v)
		}
	}
	status := resp.StatusCode()
	if head || status == 204 || status == 304 || status < 200 {
		out.SkipBody = true
		if n := resp.Header.ContentLength(); n >= 0 && head {
			out.Header.SetContentLength(n)
		}
		fasthttp.ReleaseResponse(resp)
		return
	}
	if resp.BodyStream() == nil {
		// A small body, read whole: copy it and free the upstream response.
		out.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
		return
	}
	rb := bodyPool.Get().(*releasingBody)
	rb.resp = resp
	n := resp.Header.ContentLength()
	if n < 0 {
		n = -1 // chunked or until close upstream: chunked to the client
	}
	out.SetBodyStream(rb, n)
}

var bodyPool = sync.Pool{New: func() any { return new(releasingBody) }}

// clientBody is the client's request body as it streams upstream. It keeps
// the client-side read error, so that a client that stops sending is not
// blamed on the upstream.
type clientBody struct {
	r   io.Reader
	err error
}

var clientBodyPool = sync.Pool{New: func() any { return new(clientBody) }}

func (c *clientBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// releasingBody streams an upstream response body and releases the
// response (returning or closing its connection) when fasthttp closes it:
// after the last byte, or when the client went away.
type releasingBody struct {
	resp *fasthttp.Response
}

func (b *releasingBody) Read(p []byte) (int, error) { return b.resp.BodyStream().Read(p) }

func (b *releasingBody) Close() error {
	if b.resp != nil {
		fasthttp.ReleaseResponse(b.resp)
		b.resp = nil
		bodyPool.Put(b)
	}
	return nil
}

// upstreamError maps an upstream failure to the status, code and message
// the client gets. Go's error text never reaches the client (it is logged).
func upstreamError(err error, name string) (int, string, string) {
	switch {
	case isTimeout(err), errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, context.DeadlineExceeded):
		return 504, apierror.CodeUpstreamTimeout, "the Genesys Cloud " + name + " host did not answer in time"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return 502, apierror.CodeUpstreamUnavailable, "callfix has no free connection to the Genesys Cloud " + name + " host: too many requests at once"
	}
	return 502, apierror.CodeUpstreamUnavailable, "callfix could not reach the Genesys Cloud " + name + " host, or it answered with something that is not HTTP"
}

// answer writes a callfix error in Genesys's format.
func (s *Server) answer(ctx *fasthttp.RequestCtx, status int, code, msg, id string) {
	ctx.Response.Header.DisableNormalizing()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Request-Id", id)
	ctx.SetBody(apierror.New(status, code, msg, id).JSON())
}

// serverError answers what fasthttp itself refuses (malformed requests,
// timeouts reading a request, oversized headers) in Genesys's format.
func (s *Server) serverError(ctx *fasthttp.RequestCtx, err error) {
	id := s.requestID(ctx)
	status, code, msg := 400, apierror.CodeBadRequest, "callfix could not read the request: it is not valid HTTP/1.1"
	var sizeErr *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &sizeErr):
		status, code, msg = 431, apierror.CodeBadRequest, "the request line and headers are larger than server.max_header_bytes"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, msg = 413, apierror.CodeBodyTooLarge, "the request body is too large"
	case errors.Is(err, fasthttp.ErrDuplicateContentLength), errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		msg = "the request's length is ambiguous (several Content-Length or Transfer-Encoding headers): send one"
	}
	if isTimeout(err) {
		status, msg = 408, "the request was not received within server.read_timeout"
	}
	s.log.Info("refused a malformed request", "request_id", id, "status", status, "error", err.Error())
	s.answer(ctx, status, code, msg, id)
	ctx.SetConnectionClose()
}

// requestID returns the client's X-Request-Id when it is a sane token, or
// a new one: 8 hex digits of this process and a sequence number.
func (s *Server) requestID(ctx *fasthttp.RequestCtx) string {
	if v := header(&ctx.Request.Header, hdrRequestID); len(v) > 0 && len(v) <= 128 && isToken(v) {
		return string(v)
	}
	return s.idPrefix + "-" + strconv.FormatUint(s.idSeq.Add(1), 16)
}

// header returns the first value of the request header name, matched
// without regard to case (the server keeps names as sent, so fasthttp's
// Peek would match case-sensitively).
func header(h *fasthttp.RequestHeader, name []byte) []byte {
	it := headerIter{raw: h.RawHeaders()}
	for it.next() {
		if bytes.EqualFold(it.key, name) {
			return it.value
		}
	}
	return nil
}

func isToken(v []byte) bool {
	for _, c := range v {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isJSON reports whether a Content-Type is application/json (any
// parameters) or absent: the bodies callfix rewrites.
func isJSON(ct []byte) bool {
	if len(ct) == 0 {
		return true
	}
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(ct), []byte("application/json"))
}

func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp", "message", fmt.Sprintf(format, args...))
}
