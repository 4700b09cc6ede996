package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
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
	// Config supplies the configuration the Server starts on; later
	// snapshots come through Apply. Required.
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
	draining atomic.Bool // see Drain
	inflight atomic.Int64

	idPrefix string
	idSeq    atomic.Uint64
	dial     func(addr string) (net.Conn, error)
	// countries are the organisations' countries learnt (country: auto).
	countries *countryCache

	// early holds the requests headerReceived refused before their body
	// was read, by header, until ServeHTTP answers them; earlyN counts
	// them, so that the common request does not look.
	early  sync.Map // *fasthttp.RequestHeader → *earlyRefusal
	earlyN atomic.Int64

	tokens *tokenMap // identity.go
}

// state is what one configuration snapshot needs at request time.
type state struct {
	snap          *config.Snapshot
	api, login    *upstream
	masker        telemetry.Masker
	apiPrefixes   [][]byte
	loginPrefixes [][]byte
	maxBody       int
	maxMethod     int
	maxCodings    int
	maxDetails    int
	timeout       time.Duration
	// lookup asks the API host for an organisation's country; nil unless
	// country is auto.
	lookup       *lookupClient
	trusted      []netip.Prefix // server.trusted_proxies
	maxUserAgent int            // identity.max_user_agent_bytes
}

// New builds a Server on the manager's current configuration. It does not
// follow reloads by itself: the wiring hands it each new snapshot with
// Apply (config.Manager.SetApply(srv.Apply)).
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("proxy: Options.Config is required")
	}
	s := &Server{mgr: opts.Config, log: opts.Logger, tel: opts.Telemetry, observer: opts.Observer, tls: opts.TLS, dial: opts.Dial,
		countries: newCountryCache()}
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
	if err := s.Apply(opts.Config.Current()); err != nil {
		return nil, err
	}
	c := &opts.Config.Current().Config
	s.srv = &fasthttp.Server{
		Handler:                       s.ServeHTTP,
		ErrorHandler:                  s.serverError,
		HeaderReceived:                s.headerReceived,
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

// Apply builds what snap needs at request time (its upstream clients; those
// whose settings did not change are kept, with their warm connections)
// and serves the next requests with it. On an error the running snapshot
// stays. Calls must not overlap: the manager makes them one reload at a
// time.
func (s *Server) Apply(snap *config.Snapshot) error {
	st, err := newState(snap, s.state.Load(), s.dial)
	if err != nil {
		return err
	}
	s.state.Store(st)
	s.logCountry(snap)
	return nil
}

// logCountry says, at start-up and on every reload, when national numbers
// are read in the region's default country rather than in one configured:
// it is a guess (many organisations live in a region outside their own
// country), and the line says how to set it. With country: auto it says
// that each new token costs one lookup.
func (s *Server) logCountry(snap *config.Snapshot) {
	switch {
	case snap.CountryAuto:
		s.log.Info("country is auto: national numbers are read in each organisation's country, learnt with one GET /api/v2/organizations/me per new bearer token; the region's country when that fails",
			"fallback_country", snap.Country, "region", snap.Region.Name)
	case snap.Sources["country"] == config.SourceRegion:
		s.log.Info("national numbers are read in the default country of the region, which may not be the organisation's: set country (CALLFIX_COUNTRY, --country) to it, set country: auto to learn it from Genesys, or send X-Callfix-Country per request",
			"country", snap.Country, "region", snap.Region.Name)
	}
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
	api, err := newUpstream("api", snap.API, c, pa, dial)
	if err != nil {
		return nil, err
	}
	login, err := newUpstream("login", snap.Login, c, pl, dial)
	if err != nil {
		return nil, err
	}
	mode, _ := telemetry.ParseMaskMode(snap.Mask.Mode) // validated: one of config.MaskModes
	st := &state{snap: snap, api: api, login: login, maxBody: int(c.Limits.MaxBodyBytes), timeout: c.Upstream.Timeout,
		maxMethod: c.Server.MaxMethodBytes, maxCodings: c.Limits.MaxContentCodings, maxDetails: c.Limits.MaxDetails,
		masker:  telemetry.Masker{Mode: mode, Key: []byte(snap.Mask.Key.Value())},
		trusted: snap.TrustedProxies(), maxUserAgent: c.Identity.MaxUserAgentBytes,
		apiPrefixes: snap.APIPrefixes, loginPrefixes: snap.LoginPrefixes}
	if snap.CountryAuto {
		var prevLookup *lookupClient
		if prev != nil {
			prevLookup = prev.lookup
		}
		st.lookup = newLookupClient(api, c.CountryLookup.Timeout, c.Upstream.DialTimeout, int(c.Limits.MaxBodyBytes), c.Upstream.MaxConns, c.Upstream.IdleTimeout, dial, prevLookup)
	}
	return st, nil
}

// Serve accepts connections on ln until Shutdown, at most server.max_conns
// at once. It marks the server ready.
func (s *Server) Serve(ln net.Listener) error {
	s.ready.Store(true)
	return s.srv.Serve(s.watch(s.limit(ln)))
}

// ServeTLS is Serve with TLS from the PEM files. callfix terminates TLS
// itself (rather than with fasthttp's ServeTLS) so that the header blocks
// watchConn follows are the decrypted ones.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate and key: %w", err)
	}
	s.ready.Store(true)
	return s.srv.Serve(s.watch(tls.NewListener(s.limit(ln), &tls.Config{Certificates: []tls.Certificate{cert}})))
}

func (s *Server) limit(ln net.Listener) net.Listener {
	c := &s.mgr.Current().Config.Server
	return newLimitListener(ln, c.MaxConns, int(c.MaxHeaderBytes), s.busyAnswer)
}

func (s *Server) watch(ln net.Listener) net.Listener {
	return watchListener{Listener: ln, max: int(s.mgr.Current().Config.Server.MaxHeaderBytes)}
}

// SetReady sets readiness, for a caller that has bound the listener and
// started Serve in another goroutine and wants /readyz true from now on.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Ready reports whether the server accepts traffic: false before Serve and
// from the start of Shutdown.
func (s *Server) Ready() bool { return s.ready.Load() }

// Shutdown turns readiness false, stops accepting connections, and waits
// for in-flight requests to finish until ctx is done. Call Drain first and
// wait server.shutdown_delay to let load balancers stop routing new
// connections here before they would be refused.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	s.draining.Store(true)
	return s.srv.ShutdownWithContext(ctx)
}

// InFlight returns the number of requests being handled.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// ServeHTTP handles one request. It is exported for in-memory tests.
func (s *Server) ServeHTTP(ctx *fasthttp.RequestCtx) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	st := s.state.Load()
	in := &ctx.Request.Header
	contentLength := in.ContentLength()
	if s.earlyN.Load() > 0 {
		if v, ok := s.early.LoadAndDelete(in); ok {
			// Refused from its headers alone (headerReceived): decided on
			// the snapshot and length it had then.
			s.earlyN.Add(-1)
			e := v.(*earlyRefusal)
			st, contentLength = e.st, e.contentLength
		}
	}
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
	if wc := watchOf(ctx.Conn()); wc != nil {
		tracked, bare := wc.enter()
		defer func() { wc.leave(bodyLength(in)) }()
		if tracked && bare {
			s.refuse(ctx, badRequest("bare_lf", "", "a line of the request ends in LF without CR: end every line with CRLF"))
			return
		}
	}

	var h head
	if ref := s.inspect(in, st, contentLength, &h); ref.status != 0 {
		if h.rule != nil {
			// Refused on a rule's route: recorded as an intercepted request.
			s.intercept(ctx, st, &h, ref)
			return
		}
		s.refuse(ctx, ref)
		return
	}
	if h.intercepted() {
		s.intercept(ctx, st, &h, refusal{})
		return
	}
	if h.up == st.login && isTokenExchange(in.Method(), h.path) {
		s.tokenExchange(ctx, st, h.up, h.target, h.path)
		return
	}
	if st.snap.Config.Tracing.Passthrough && s.tel.Tracing() {
		s.tracedPassthrough(ctx, st, h.up, h.target, h.path)
		return
	}
	start := time.Now()
	status := s.forward(ctx, st, h.up, h.target, nil, -1, false, nil)
	s.tel.Passthrough(s.tel.Upstream(h.up.name), status, time.Since(start))
}

// earlyRefusal is a request refused from its headers before its body was
// read: what ServeHTTP decides it on.
type earlyRefusal struct {
	st            *state
	contentLength int
}

// headerReceived runs when fasthttp has a request's headers and has read
// none of its body. A declared length above limits.max_body_bytes on an
// intercepted route is refused here, before the body is read (or asked
// for with 100 Continue): the request is made bodiless for fasthttp, its
// connection is closed after the answer, and ServeHTTP answers it. The
// common request costs one comparison.
func (s *Server) headerReceived(in *fasthttp.RequestHeader) fasthttp.RequestConfig {
	st := s.state.Load()
	n := in.ContentLength()
	if n <= st.maxBody {
		return fasthttp.RequestConfig{}
	}
	var h head
	if ref := s.inspect(in, st, n, &h); ref.status == 0 {
		return fasthttp.RequestConfig{}
	}
	s.early.Store(in, &earlyRefusal{st: st, contentLength: n})
	s.earlyN.Add(1)
	in.SetContentLength(0)
	in.Del("Expect")
	in.Del("expect")
	in.SetConnectionClose()
	return fasthttp.RequestConfig{}
}

// forgetEarly drops the early refusal of a request fasthttp answered
// itself (its handler will not run).
func (s *Server) forgetEarly(in *fasthttp.RequestHeader) {
	if s.earlyN.Load() > 0 {
		if _, ok := s.early.LoadAndDelete(in); ok {
			s.earlyN.Add(-1)
		}
	}
}

// bodyLength is the length of the body fasthttp reads for a request, -1
// when it is chunked.
func bodyLength(in *fasthttp.RequestHeader) int {
	switch n := in.ContentLength(); {
	case n == -1:
		return -1
	case n < 0:
		return 0
	default:
		return n
	}
}

// refuse answers a request callfix will not forward, logs why (a reason
// code and a header name, never a value) and closes the connection: what
// is left of the request is not read as another one.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, r refusal) {
	id := s.requestID(ctx)
	s.logRefusal("refused a request", id, r)
	s.answer(ctx, r.status, r.code, r.msg, id)
	ctx.SetConnectionClose()
}

func (s *Server) logRefusal(msg, id string, r refusal) {
	if r.header != "" {
		s.log.Info(msg, "request_id", id, "status", r.status, "reason", r.reason, "header", r.header)
	} else {
		s.log.Info(msg, "request_id", id, "status", r.status, "reason", r.reason)
	}
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
		id := s.requestID(ctx)
		if cb != nil && cb.err != nil {
			// The client, not the upstream, failed: its body stopped coming,
			// or broke its framing. The upstream got a cut-off request, never
			// a complete one. The error may quote a trailer's value: only its
			// reason is logged.
			r := clientBodyRefusal(cb.err)
			s.logRefusal("the client's request body failed; the upstream request was aborted", id, r)
			s.answer(ctx, r.status, r.code, r.msg, id)
			ctx.SetConnectionClose()
			return 0
		}
		status, code, msg := upstreamError(err, up.name)
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

// Read fails for good after the first error. fasthttp's request stream
// reports a chunk framing error once, with the chunk's bytes, and then
// parses on ("5\r\nhelloX5\r\nworld" reads as "hello", an error, "world"),
// and fasthttp's chunked writer sends the bytes and reads again: the
// upstream would get a spliced body as complete. Returning the error with
// no bytes, every time, makes the upstream exchange fail before its last
// chunk.
func (c *clientBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
		return 0, err
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

// answer writes a callfix error: in Genesys's API format, or in the OAuth
// format of Genesys's login host when the request was for it (/oauth/* and
// the login prefixes), where SDK token code reads errors.
func (s *Server) answer(ctx *fasthttp.RequestCtx, status int, code, msg, id string) {
	if s.loginRequest(ctx) {
		writeError(ctx, status, id, apierror.NewOAuth(status, msg).JSON())
		return
	}
	writeError(ctx, status, id, apierror.New(status, code, msg, id).JSON())
}

// writeError writes a callfix error body with the request ID in
// X-Request-Id and in ININ-Correlation-Id, the header Genesys's own errors
// carry and SDKs read into their errors (the Go SDK's shows it in brackets).
func writeError(ctx *fasthttp.RequestCtx, status int, id string, body []byte) {
	ctx.Response.Header.DisableNormalizing()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Request-Id", id)
	ctx.Response.Header.Set("ININ-Correlation-Id", id)
	ctx.SetBody(body)
}

// loginRequest reports whether the request is routed to the login host.
// A request line callfix cannot route counts as an API request.
func (s *Server) loginRequest(ctx *fasthttp.RequestCtx) bool {
	target, ok := originForm(ctx.Request.Header.RequestURI())
	if !ok {
		return false
	}
	path := target
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if pathProblem(path) != "" {
		return false // not routed at all: /oauth/../api/… is no login request
	}
	st := s.state.Load()
	up, _ := st.route(target)
	return up == st.login
}

// busyAnswer is the 503 for a connection beyond server.max_conns, given
// what the client sent of its request head: with the client's request ID
// when it sent a sane one, in the OAuth format on the login routes.
func (s *Server) busyAnswer(head []byte) []byte {
	const msg = "callfix is serving server.max_conns connections already; retry later"
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i+2]
	}
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	var clientID []byte
	for it := (headerIter{raw: rest}); it.next(); {
		if bytes.EqualFold(it.key, hdrRequestID) {
			clientID = it.value
			break
		}
	}
	id := s.idFrom(clientID)
	login := false
	if f := bytes.Fields(line); len(f) == 3 {
		if target, ok := originForm(f[1]); ok {
			st := s.state.Load()
			up, _ := st.route(target)
			login = up == st.login
		}
	}
	var body []byte
	if login {
		body = apierror.NewOAuth(503, msg).JSON()
	} else {
		body = apierror.New(503, apierror.CodeServerBusy, msg, id).JSON()
	}
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nX-Request-Id: " + id +
		"\r\nININ-Correlation-Id: " + id + "\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// serverError answers what fasthttp itself refuses (malformed requests,
// timeouts reading a request, oversized headers) in Genesys's format. The
// log says why with a reason code and, when the connection saw it, the
// header's name: fasthttp's error text quotes header values, so it is
// never logged.
func (s *Server) serverError(ctx *fasthttp.RequestCtx, err error) {
	s.forgetEarly(&ctx.Request.Header)
	id := s.requestID(ctx)
	r := requestErrorRefusal(err)
	if wc := watchOf(ctx.Conn()); wc != nil && r.header == "" && (r.reason == "invalid_header_value" || r.reason == "invalid_header_name") {
		r.header = wc.badHeader()
	}
	s.logRefusal("refused a malformed request", id, r)
	s.answer(ctx, r.status, r.code, r.msg, id)
	ctx.SetConnectionClose()
}

// requestErrorRefusal maps an error fasthttp met reading a request line,
// header block or body to the answer and a stable reason code. The error's
// text is matched, never repeated: it may quote a header value.
func requestErrorRefusal(err error) refusal {
	var sizeErr *fasthttp.ErrSmallBuffer
	var chunkErr fasthttp.ErrBrokenChunk
	text := err.Error()
	has := func(s string) bool { return strings.Contains(text, s) }
	switch {
	case isTimeout(err):
		return refusal{status: 408, code: apierror.CodeBadRequest, reason: "read_timeout", msg: "the request was not received within server.read_timeout"}
	case errors.As(err, &sizeErr):
		return refusal{status: 431, code: apierror.CodeBadRequest, reason: "headers_too_large", msg: "the request line and headers are larger than server.max_header_bytes"}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return refusal{status: 413, code: apierror.CodeBodyTooLarge, reason: "body_too_large", msg: "the request body is too large"}
	case errors.Is(err, errBareLF):
		return badRequest("bare_lf", "", "the request's header block ends with a bare LF: end every line with CRLF and the block with an empty CRLF line")
	case errors.Is(err, fasthttp.ErrDuplicateContentLength), errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		return badRequest("ambiguous_length", "", "the request's length is ambiguous (several Content-Length or Transfer-Encoding headers): send one")
	case errors.As(err, &chunkErr):
		return badRequest("bad_chunked_body", "", "the request's chunked body is malformed")
	case errors.Is(err, fasthttp.ErrBadTrailer), has("trailer"):
		return badRequest("invalid_trailer", "", "the request's chunked body has a trailer callfix does not accept")
	case has("invalid header value"):
		return badRequest("invalid_header_value", "", "a header value holds a control character or a bare CR")
	case has("invalid header key"), has("malformed mime header line"), has("cannot start with space"):
		return badRequest("invalid_header_name", "", "a header name holds whitespace or a character a name cannot have (RFC 9112 section 5.1)")
	case has("missing colon"):
		return badRequest("malformed_header_line", "", "a header line has no name and colon")
	case has("too many host headers"):
		return badRequest("duplicate_host", "Host", "the request has more than one Host header: send one")
	case has("http version"):
		return badRequest("unsupported_version", "", "callfix speaks HTTP/1.1: send the request as HTTP/1.1 (or HTTP/1.0)")
	case errors.Is(err, fasthttp.ErrMissingRequestMethod), errors.Is(err, fasthttp.ErrUnsupportedRequestMethod), has("request method"):
		return badRequest("invalid_method", "", "the request line has no valid method")
	case errors.Is(err, fasthttp.ErrEmptyRequestURI), errors.Is(err, fasthttp.ErrorInvalidURI), has("request uri"), has("first line"):
		return badRequest("invalid_target", "", "the request line has no valid target")
	case has("unexpected EOF"), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("truncated", "", "the connection closed before the whole request arrived")
	}
	return badRequest("malformed_request", "", "callfix could not read the request: it is not valid HTTP/1.1")
}

// clientBodyRefusal is the answer to a request whose body failed while
// callfix read it (to inspect it, or to stream it upstream).
func clientBodyRefusal(err error) refusal {
	r := requestErrorRefusal(err)
	switch r.reason {
	case "read_timeout":
		r.msg = "the request body was not received within server.read_timeout"
	case "malformed_request", "truncated":
		r.reason, r.msg = "body_incomplete", "callfix could not read the whole request body from the client"
	}
	return r
}

// requestID returns the client's X-Request-Id when it is a sane token, or
// callfix's own: 8 hex digits of this process and fasthttp's ID of the
// request (its connection and its number on it), the same every time it is
// asked for during one request, so that an error answered deep in the
// forwarding carries the ID its audit record has.
func (s *Server) requestID(ctx *fasthttp.RequestCtx) string {
	if v := header(&ctx.Request.Header, hdrRequestID); saneID(v) {
		return string(v)
	}
	return s.idPrefix + "-" + strconv.FormatUint(ctx.ID(), 16)
}

// idFrom returns the client's request ID v when it is a sane token, or a
// new one, for a connection refused before fasthttp saw it.
func (s *Server) idFrom(v []byte) string {
	if saneID(v) {
		return string(v)
	}
	return s.idPrefix + "-b" + strconv.FormatUint(s.idSeq.Add(1), 16)
}

func saneID(v []byte) bool { return len(v) > 0 && len(v) <= 128 && isToken(v) }

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

// fasthttpLogger takes fasthttp's own log lines. It logs their format
// only: the arguments are errors that may quote a header value.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, _ ...any) {
	l.log.Debug("fasthttp", "message", format)
}
