package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/config"
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
	// dial, if not nil, opens connections to upstreams instead of TCP with
	// upstream.dial_timeout: the tests' in-memory upstreams and faults
	// (export_test.go).
	dial func(addr string) (net.Conn, error)
	// countries are the organisations' countries learnt (country: auto).
	countries *countryCache

	// early holds the requests headerReceived refused before their body
	// was read, by header, until serveHTTP answers them; earlyN counts
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
	// lookup asks the API host for an organisation's country; nil unless
	// country is auto.
	lookup       *lookupClient
	trusted      []netip.Prefix // server.trusted_proxies
	maxUserAgent int            // identity.max_user_agent_bytes
}

// New builds a Server on the manager's current configuration. It does not
// follow reloads by itself: the wiring hands it each new snapshot with
// Apply (config.Manager.SetApply(srv.Apply)).
func New(opts Options) (*Server, error) { return newServer(opts, nil) }

// newServer is New with upstream connections opened by dial (nil: TCP).
func newServer(opts Options, dial func(addr string) (net.Conn, error)) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("proxy: Options.Config is required")
	}
	s := &Server{mgr: opts.Config, log: opts.Logger, tel: opts.Telemetry, observer: opts.Observer, tls: opts.TLS, dial: dial,
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
		Handler:                       s.serveHTTP,
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
	st, err := newState(snap, s.state.Load(), s.tel, s.dial)
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

func newState(snap *config.Snapshot, prev *state, tel *telemetry.Telemetry, dial func(string) (net.Conn, error)) (*state, error) {
	c := &snap.Config
	var pa, pl *upstream
	if prev != nil {
		pa, pl = prev.api, prev.login
	}
	api, err := newUpstream("api", tel.Upstream("api"), snap.API, c, pa, dial)
	if err != nil {
		return nil, err
	}
	login, err := newUpstream("login", tel.Upstream("login"), snap.Login, c, pl, dial)
	if err != nil {
		return nil, err
	}
	mode, _ := telemetry.ParseMaskMode(snap.Mask.Mode) // validated: one of config.MaskModes
	st := &state{snap: snap, api: api, login: login, maxBody: int(c.Limits.MaxBodyBytes),
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

// serveHTTP handles one request: inspect computes its head once, and the
// head decides the way it takes (refused, intercepted, a token exchange,
// or passed through).
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
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
	var h head
	defer func() {
		if r := recover(); r != nil {
			if h.up == nil { // before inspect routed it
				h.routeTarget(st, in.RequestURI())
			}
			s.fail(ctx, &h, &panicError{value: r, stack: debug.Stack()}, "")
		}
	}()
	if wc := watchOf(ctx.Conn()); wc != nil {
		tracked, bare := wc.enter()
		defer func() { wc.leave(bodyLength(in)) }()
		if tracked && bare {
			h.routeTarget(st, in.RequestURI())
			s.fail(ctx, &h, badRequest("bare_lf", "", "a line of the request ends in LF without CR: end every line with CRLF"), "refused a request")
			return
		}
	}

	if ref := s.inspect(in, st, contentLength, &h); ref.status != 0 {
		if h.rule != nil {
			// Refused on a rule's route: recorded as an intercepted request.
			s.intercept(ctx, st, &h, ref)
			return
		}
		s.fail(ctx, &h, ref, "refused a request")
		return
	}
	switch {
	case h.intercepted():
		s.intercept(ctx, st, &h, refusal{})
	case h.login && isTokenExchange(in.Method(), h.path):
		s.tokenExchange(ctx, st, &h)
	default:
		s.passOn(ctx, st, &h, nil)
	}
}

// earlyRefusal is a request refused from its headers before its body was
// read: what serveHTTP decides it on.
type earlyRefusal struct {
	st            *state
	contentLength int
}

// headerReceived runs when fasthttp has a request's headers and has read
// none of its body. A declared length above limits.max_body_bytes on an
// intercepted route is refused here, before the body is read (or asked
// for with 100 Continue): the request is made bodiless for fasthttp, its
// connection is closed after the answer, and serveHTTP answers it. The
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
