package proxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
)

// Client identity (docs/AUDIT.md): callfix sees the token exchanges on
// /oauth/token, the client ID they authenticate with (HTTP Basic, or a
// client_id form field, RFC 6749 §2.3.1) and the access_token Genesys
// answers; it keeps a map from a keyed hash of each token (never the
// token) to its client ID until the token expires. A request whose token
// this replica did not see issued gets only a token ID: the same keyed
// hash, short, the same on every replica with the same identity.token_key.

// tokenIDPrefix starts every token ID, so that a clients: key says what it
// is.
const tokenIDPrefix = "tok-"

// maxClientID bounds a client ID learned from a token exchange: Genesys's
// are UUIDs; a longer one is not learned.
const maxClientID = 128

type tokenKey [16]byte

type tokenEntry struct {
	client  string
	expires time.Time
}

// tokenMap maps keyed hashes of access tokens to client IDs, at most max
// entries, each until its token expires.
type tokenMap struct {
	max  int
	now  func() time.Time
	macs sync.Pool // *keyedMAC

	mu sync.Mutex
	m  map[tokenKey]tokenEntry
}

// newTokenMap returns a map keyed by key, or by a random key when key is
// empty (token IDs then differ between processes).
func newTokenMap(key []byte, max int) *tokenMap {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	key = bytes.Clone(key)
	t := &tokenMap{max: max, now: time.Now, m: make(map[tokenKey]tokenEntry)}
	t.macs.New = func() any { return &keyedMAC{h: hmac.New(sha256.New, key)} }
	return t
}

// keyedMAC is a pooled HMAC with room for its sum, so that hashing a token
// allocates nothing.
type keyedMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// hash returns the map key of token and its token ID.
func (t *tokenMap) hash(token []byte) (tokenKey, string) {
	mac := t.macs.Get().(*keyedMAC)
	mac.h.Reset()
	mac.h.Write(token)
	mac.h.Sum(mac.sum[:0])
	var k tokenKey
	copy(k[:], mac.sum[:])
	var id [len(tokenIDPrefix) + 16]byte
	copy(id[:], tokenIDPrefix)
	hex.Encode(id[len(tokenIDPrefix):], mac.sum[:8])
	t.macs.Put(mac)
	return k, string(id[:])
}

// learn maps token to client until expiresIn from now. When the map is
// full, expired entries go first, then the one that expires soonest.
func (t *tokenMap) learn(token []byte, client string, expiresIn time.Duration) {
	k, _ := t.hash(token)
	now := t.now()
	e := tokenEntry{client: client, expires: now.Add(expiresIn)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[k]; !ok && len(t.m) >= t.max {
		var soonest tokenKey
		first := true
		for key, v := range t.m {
			if !v.expires.After(now) {
				delete(t.m, key)
				continue
			}
			if first || v.expires.Before(t.m[soonest].expires) {
				soonest, first = key, false
			}
		}
		if len(t.m) >= t.max {
			delete(t.m, soonest)
		}
	}
	t.m[k] = e
}

// lookup returns the client ID of a token's key, if it is known and has
// not expired.
func (t *tokenMap) lookup(k tokenKey) (string, bool) {
	t.mu.Lock()
	e, ok := t.m[k]
	if ok && !e.expires.After(t.now()) {
		delete(t.m, k)
		ok = false
	}
	t.mu.Unlock()
	return e.client, ok
}

var (
	hdrAuthorization = []byte("Authorization")
	hdrUserAgent     = []byte("User-Agent")
	pathToken        = []byte("/oauth/token")
)

// identify returns who sent an intercepted request: the client ID of its
// bearer token (when this replica saw the exchange) and the token ID, the
// client address and the user agent. It reads the headers inspect took in
// its one pass over them.
func (s *Server) identify(ctx *fasthttp.RequestCtx, st *state, h *head) telemetry.Client {
	var c telemetry.Client
	if token := bearer(h.auth); len(token) > 0 {
		k, id := s.tokens.hash(token)
		c.TokenID = id
		c.ID, _ = s.tokens.lookup(k)
	}
	c.Address = clientAddress(ctx.RemoteIP(), h.xff, st.trusted)
	c.UserAgent = truncateUTF8(h.ua, st.maxUserAgent)
	return c
}

// bearer returns the token of an Authorization: Bearer header (the scheme
// is case-insensitive, RFC 6750 §2.1), or nil.
func bearer(auth []byte) []byte {
	const scheme = "bearer "
	if len(auth) <= len(scheme) || !bytes.EqualFold(auth[:len(scheme)], []byte(scheme)) {
		return nil
	}
	return bytes.TrimSpace(auth[len(scheme):])
}

// clientAddress is the peer's address, or the first X-Forwarded-For hop
// when the peer is a trusted proxy and the hop is an address.
func clientAddress(peer net.IP, xff []byte, trusted []netip.Prefix) string {
	addr, ok := netip.AddrFromSlice(peer)
	if !ok {
		return ""
	}
	addr = addr.Unmap()
	if len(xff) > 0 && len(trusted) > 0 && inPrefixes(addr, trusted) {
		first := xff
		if i := bytes.IndexByte(first, ','); i >= 0 {
			first = first[:i]
		}
		if hop, ok := parseHop(string(bytes.TrimSpace(first))); ok {
			return hop.String()
		}
	}
	var buf [64]byte
	return string(addr.AppendTo(buf[:0]))
}

// parseHop reads an X-Forwarded-For entry: an address, perhaps with a port
// (192.0.2.1:4711, [2001:db8::1]:4711).
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// truncateUTF8 returns at most max bytes of b as a string, cut before a
// rune that would not fit.
func truncateUTF8(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut])
}

// isTokenExchange reports whether a request to the login host is an OAuth
// token request.
func isTokenExchange(method, path []byte) bool {
	return bytes.Equal(method, []byte("POST")) && (bytes.Equal(path, pathToken) || bytes.Equal(path, []byte("/oauth/token/")))
}

// tokenExchange forwards a token request like any pass-through request,
// and learns which client the issued token belongs to: the client ID of
// its HTTP Basic credentials, or of its client_id form field (read when the
// body is at most limits.max_body_bytes), and the access_token and
// expires_in of a 200 answer read whole (up to 64 KiB with a
// Content-Length, gzip, deflate or br decoded; a chunked answer is
// forwarded without being learnt). The secret is never kept, and nothing of
// the exchange is logged.
func (s *Server) tokenExchange(ctx *fasthttp.RequestCtx, st *state, h *head) {
	in := &ctx.Request.Header
	client := basicClientID(h.auth)
	var body []byte
	if client == "" && isForm(in.ContentType()) {
		buf := bytebufferpool.Get()
		defer bytebufferpool.Put(buf)
		var err error
		if body, err = tokenRequestBody(ctx, buf, st.maxBody); err != nil {
			s.fail(ctx, h, err, "")
			return
		}
		client = formClientID(body)
	}
	status := s.passOn(ctx, st, h, body)
	if client == "" || status != 200 || ctx.Response.IsBodyStream() {
		return
	}
	answer := ctx.Response.Body()
	if enc := ctx.Response.Header.ContentEncoding(); len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
		// SDKs ask for compression: the answer is read as the client will.
		dec := bytebufferpool.Get()
		defer bytebufferpool.Put(dec)
		if decode(dec, enc, answer, st.maxBody) != nil { // an encoding callfix cannot read: not learnt
			return
		}
		answer = dec.B
	}
	var tok struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
	}
	if json.Unmarshal(answer, &tok) != nil || tok.AccessToken == "" || tok.ExpiresIn <= 0 {
		return
	}
	// Bounded by a year: a longer lifetime is a wrong answer, not a token.
	s.tokens.learn([]byte(tok.AccessToken), client, time.Duration(min(tok.ExpiresIn, 366*86400)*float64(time.Second)))
}

// tokenRequestBody returns the body of a form token request, read into
// buf when it streams and is at most limit bytes long (nil when it is
// longer, or chunked: it then streams through unread).
func tokenRequestBody(ctx *fasthttp.RequestCtx, buf *bytebufferpool.ByteBuffer, limit int) ([]byte, error) {
	src := ctx.RequestBodyStream()
	if src == nil {
		return ctx.Request.Body(), nil
	}
	if n := ctx.Request.Header.ContentLength(); n <= 0 || n > limit {
		return nil, nil
	}
	if err := readLimited(buf, src, limit); err != nil {
		r := refusal{status: 400, code: apierror.CodeBadRequest, reason: "body_incomplete", msg: "callfix could not read the whole token request body from the client"}
		if err == errTooLarge {
			r.status = 413
		}
		return nil, r
	}
	return buf.B, nil
}

// basicClientID returns the client ID of HTTP Basic credentials, which
// OAuth form-encodes (RFC 6749 §2.3.1), or "".
func basicClientID(auth []byte) string {
	const scheme = "basic "
	if len(auth) <= len(scheme) || !bytes.EqualFold(auth[:len(scheme)], []byte(scheme)) {
		return ""
	}
	dec, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(auth[len(scheme):])))
	if err != nil {
		return ""
	}
	id, _, ok := bytes.Cut(dec, []byte(":"))
	if !ok {
		return ""
	}
	s, err := url.QueryUnescape(string(id))
	if err != nil {
		return ""
	}
	return saneClientID(s)
}

// formClientID returns the client_id field of a form body, or "".
func formClientID(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	return saneClientID(v.Get("client_id"))
}

// saneClientID keeps a client ID that can be a label and a record field:
// printable, at most maxClientID bytes.
func saneClientID(s string) string {
	if s == "" || len(s) > maxClientID || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return s
}

func isForm(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(ct), []byte("application/x-www-form-urlencoded"))
}
