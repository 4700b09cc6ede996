package proxy

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/version"
	"github.com/callfix/callfix/rewrite"
)

// Country learning (country: auto). Many organisations live in a region
// outside their own country, so the region's country is a guess; Genesys
// knows each organisation's own (defaultCountryCode). On the first
// intercepted request with a bearer token callfix has not seen, it asks
// GET /api/v2/organizations/me at the API host with that token, and reads
// national numbers in the answer's country from then on. The lookup:
//
//   - is a request of its own, on a connection pool of its own, bounded by
//     country_lookup.timeout: the call POST is forwarded exactly once,
//     whatever the lookup does, and is never retried;
//   - is made once for concurrent first requests with the same token (they
//     wait for the one lookup); requests with other tokens never wait for it;
//   - is cached by an HMAC of the Authorization header under a key drawn at
//     start, never the token itself, for at most country_lookup.max_age and
//     country_lookup.max_entries tokens (the least recently used goes);
//   - on any failure (timeout, no answer, a status other than 2xx, an
//     answer without a known defaultCountryCode) leaves the request with
//     the configured country, counts the failure in
//     callfix_country_lookups_total{result} and remembers nothing, so that
//     a passing failure does not stick to a token for max_age.
//
// X-Callfix-Country, when sent, wins and no lookup is made.

// orgPath is the Genesys Cloud resource that names the organisation of a
// token, with its defaultCountryCode.
const orgPath = "/api/v2/organizations/me"

// originLearnt is where the country came from when it was learnt.
const originLearnt = "the default country of the organisation in Genesys Cloud (country: auto); send `X-Callfix-Country` to choose another"

// tokenHash is the HMAC-SHA256 of an Authorization header value.
type tokenHash [sha256.Size]byte

// countryCache holds the learnt countries and the lookups in flight.
type countryCache struct {
	key     [32]byte
	now     func() time.Time
	mu      sync.Mutex
	entries map[tokenHash]*list.Element // of *countryEntry
	lru     list.List                   // most recently used first
	flights map[tokenHash]*countryFlight
}

type countryEntry struct {
	key     tokenHash
	country string
	learnt  time.Time
}

// countryFlight is a lookup in flight; done is closed when country is set
// ("" after a failure).
type countryFlight struct {
	done    chan struct{}
	country string
}

func newCountryCache() *countryCache {
	c := &countryCache{now: time.Now, entries: map[tokenHash]*list.Element{}, flights: map[tokenHash]*countryFlight{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ crashes
		// the program instead); a fixed key would still never store tokens.
		copy(c.key[:], "callfix country cache key")
	}
	return c
}

func (c *countryCache) hash(auth []byte) tokenHash {
	mac := hmac.New(sha256.New, c.key[:])
	mac.Write(auth)
	var h tokenHash
	mac.Sum(h[:0])
	return h
}

// claim returns the country cached for k when it is younger than maxAge;
// else the lookup in flight to wait for; else a new flight that the caller
// leads: it must call finish.
func (c *countryCache) claim(k tokenHash, maxAge time.Duration) (country string, f *countryFlight, lead bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*countryEntry)
		if c.now().Sub(e.learnt) < maxAge {
			c.lru.MoveToFront(el)
			return e.country, nil, false
		}
		c.lru.Remove(el)
		delete(c.entries, k)
	}
	if f, ok := c.flights[k]; ok {
		return "", f, false
	}
	f = &countryFlight{done: make(chan struct{})}
	c.flights[k] = f
	return "", f, true
}

// finish ends a flight: country ("" after a failure) goes to its waiters
// and, when not empty, into the cache, which then holds at most maxEntries
// tokens.
func (c *countryCache) finish(k tokenHash, f *countryFlight, country string, maxEntries int) {
	c.mu.Lock()
	delete(c.flights, k)
	if country != "" {
		if el, ok := c.entries[k]; ok {
			c.lru.Remove(el)
		}
		c.entries[k] = c.lru.PushFront(&countryEntry{key: k, country: country, learnt: c.now()})
		for len(c.entries) > maxEntries {
			el := c.lru.Back()
			delete(c.entries, el.Value.(*countryEntry).key)
			c.lru.Remove(el)
		}
	}
	c.mu.Unlock()
	f.country = country
	close(f.done)
}

// learnCountry returns the country of the organisation whose bearer token
// is in auth (the Authorization header's value), from the cache or by a
// lookup; ok is false when the lookup failed.
func (s *Server) learnCountry(sctx context.Context, st *state, auth []byte, requestID string) (string, bool) {
	lc := &st.snap.Config.CountryLookup
	k := s.countries.hash(auth)
	cc, f, lead := s.countries.claim(k, lc.MaxAge)
	switch {
	case f == nil:
		return cc, true
	case !lead:
		<-f.done // bounded by the leader's country_lookup.timeout
		return f.country, f.country != ""
	}
	cc = ""
	// Whatever happens, the waiters are released.
	defer func() { s.countries.finish(k, f, cc, lc.MaxEntries) }()
	cc, result, status, err := s.lookupCountry(sctx, st, auth)
	s.tel.CountryLookup(result)
	if result != telemetry.LookupSuccess {
		attrs := []any{"request_id", requestID, "result", result, "fallback_country", st.snap.Country}
		if status != 0 {
			attrs = append(attrs, "status", status)
		}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		s.log.Warn("cannot learn the organisation's country from Genesys (country: auto); national numbers of this request are read in the fallback country", attrs...)
		cc = ""
	}
	return cc, cc != ""
}

// lookupCountry asks the API host for the organisation of the token in
// auth. It returns the country, or the failure's result
// (callfix_country_lookups_total), the status and the error.
func (s *Server) lookupCountry(sctx context.Context, st *state, auth []byte) (string, string, int, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.DisableNormalizing()
	req.Header.SetMethod("GET")
	req.SetRequestURI(st.api.scheme + "://" + string(st.api.host) + orgPath)
	req.Header.SetBytesKV([]byte("Authorization"), auth)
	req.Header.Set("Accept", "application/json")
	var span trace.Span
	if s.tel.Tracing() {
		var cctx context.Context
		cctx, span = s.tel.Tracer().Start(sctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			semconv.HTTPRequestMethodGet,
			semconv.ServerAddress(string(st.api.host)),
			semconv.URLPath(orgPath),
			attribute.String("callfix.upstream", st.api.name),
		))
		h := &traceHeaders{}
		s.tel.Propagator().Inject(cctx, h)
		if h.traceparent != "" {
			req.Header.Set("traceparent", h.traceparent)
		}
		if h.tracestate != "" {
			req.Header.Set("tracestate", h.tracestate)
		}
	}
	cc, result, status, err := st.lookup.do(req, resp)
	if span != nil {
		endWithStatus(span, status)
	}
	return cc, result, status, err
}

// lookupClient is the connection pool of the lookups, apart from the API
// upstream's so that a lookup never takes a connection a call waits for.
type lookupClient struct {
	client  *fasthttp.HostClient
	api     *upstream
	timeout time.Duration
	maxBody int
}

// newLookupClient builds the lookups' client to the API upstream api, or
// keeps prev when nothing it depends on changed.
func newLookupClient(api *upstream, timeout, dialTimeout time.Duration, maxBody, maxConns int, idle time.Duration, dial func(string) (net.Conn, error), prev *lookupClient) *lookupClient {
	if prev != nil && prev.api == api && prev.timeout == timeout && prev.maxBody == maxBody {
		return prev
	}
	d := min(dialTimeout, timeout)
	hc := &fasthttp.HostClient{
		Addr:                          api.client.Addr,
		Name:                          "callfix/" + version.Version,
		IsTLS:                         api.client.IsTLS,
		TLSConfig:                     api.client.TLSConfig,
		MaxConns:                      maxConns,
		MaxIdleConnDuration:           idle,
		MaxResponseBodySize:           maxBody,
		ReadBufferSize:                16 << 10,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		// The lookup is made once: on a failure the request goes on with
		// the configured country.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		Dial: func(addr string) (net.Conn, error) {
			return fasthttp.DialTimeout(addr, d)
		},
	}
	if dial != nil {
		hc.Dial = dial
	}
	return &lookupClient{client: hc, api: api, timeout: timeout, maxBody: maxBody}
}

// do sends the lookup and reads the organisation's defaultCountryCode.
func (l *lookupClient) do(req *fasthttp.Request, resp *fasthttp.Response) (string, string, int, error) {
	if err := l.client.DoTimeout(req, resp, l.timeout); err != nil {
		if isTimeout(err) || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
			return "", telemetry.LookupTimeout, 0, err
		}
		return "", telemetry.LookupError, 0, err
	}
	status := resp.StatusCode()
	if status < 200 || status > 299 {
		return "", telemetry.LookupStatus, status, nil
	}
	var org struct {
		DefaultCountryCode string `json:"defaultCountryCode"`
	}
	if err := json.Unmarshal(resp.Body(), &org); err != nil {
		return "", telemetry.LookupInvalid, status, errors.New("the answer is not a JSON organisation")
	}
	cc := strings.ToUpper(strings.TrimSpace(org.DefaultCountryCode))
	if !rewrite.KnownCountry(cc) {
		if len(cc) > 8 {
			cc = cc[:8] + "..."
		}
		return "", telemetry.LookupInvalid, status, errors.New("the organisation's defaultCountryCode " + strconv.Quote(cc) + " is not a country callfix has a numbering plan for")
	}
	return cc, telemetry.LookupSuccess, status, nil
}

// bearerHeader returns the Authorization header value when it holds a
// bearer token (bearer, in identity.go, finds it), or nil: the lookup sends
// the header as the client sent it.
func bearerHeader(auth []byte) []byte {
	if len(bearer(auth)) == 0 {
		return nil
	}
	return auth
}
