package proxy

import (
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// An entry lives exactly as long as the token's expires_in.
func TestTokenMap_EntryExpiresWithTheToken(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	m := newTokenMap([]byte("k"), 10)
	m.now = clk.now
	m.learn([]byte("AT1"), "crm", 10*time.Second)
	k, _ := m.hash([]byte("AT1"))
	clk.t = clk.t.Add(10*time.Second - time.Nanosecond)
	if id, ok := m.lookup(k); !ok || id != "crm" {
		t.Errorf("just before expiry: %q, %v; want crm", id, ok)
	}
	clk.t = clk.t.Add(time.Nanosecond)
	if id, ok := m.lookup(k); ok {
		t.Errorf("at expiry: %q still known", id)
	}
	if m.len() != 0 {
		t.Errorf("the expired entry is still held: %d entries", m.len())
	}
}

// identity.max_tokens at its edge: max entries fit; one more drops the
// entry that expires first, after any expired one.
func TestTokenMap_BoundedByMaxTokens(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	m := newTokenMap([]byte("k"), 3)
	m.now = clk.now
	known := func(tok string) bool { k, _ := m.hash([]byte(tok)); _, ok := m.lookup(k); return ok }
	m.learn([]byte("a"), "A", 3*time.Hour)
	m.learn([]byte("b"), "B", 1*time.Hour) // expires first
	m.learn([]byte("c"), "C", 2*time.Hour)
	if m.len() != 3 || !known("a") || !known("b") || !known("c") {
		t.Fatalf("3 tokens in a map of 3: %d entries", m.len())
	}
	m.learn([]byte("a"), "A", 4*time.Hour) // a token learnt again replaces its entry
	if m.len() != 3 {
		t.Errorf("relearning a token grew the map to %d", m.len())
	}
	m.learn([]byte("d"), "D", 5*time.Hour)
	if m.len() != 3 || known("b") || !known("a") || !known("c") || !known("d") {
		t.Errorf("after a 4th token: %d entries, b known %v; want 3 and b (expiring first) gone", m.len(), known("b"))
	}
	// An expired entry goes before a live one.
	clk.t = clk.t.Add(2*time.Hour + time.Second) // c expired
	m.learn([]byte("e"), "E", time.Minute)
	if known("c") || !known("a") || !known("d") || !known("e") {
		t.Errorf("after c expired and e came: a %v, c %v, d %v, e %v", known("a"), known("c"), known("d"), known("e"))
	}
}

// The token ID is a keyed fingerprint: the same for the same key on any
// replica, different for another key, never the token.
func TestTokenMap_TokenIDIsStableForAKey(t *testing.T) {
	_, a := newTokenMap([]byte("shared-key"), 1).hash([]byte("AT1"))
	_, b := newTokenMap([]byte("shared-key"), 1).hash([]byte("AT1"))
	_, c := newTokenMap([]byte("other-key"), 1).hash([]byte("AT1"))
	_, d := newTokenMap([]byte("shared-key"), 1).hash([]byte("AT2"))
	_, r1 := newTokenMap(nil, 1).hash([]byte("AT1"))
	_, r2 := newTokenMap(nil, 1).hash([]byte("AT1"))
	if a != b || a == c || a == d || r1 == r2 {
		t.Errorf("token IDs: same key %q %q, other key %q, other token %q, random keys %q %q", a, b, c, d, r1, r2)
	}
	if len(a) != len("tok-")+16 || !strings.HasPrefix(a, "tok-") || strings.Contains(a, "AT1") {
		t.Errorf("token ID %q: want tok- and 16 hex digits", a)
	}
}

// Hashing a token allocates only the token ID string; make test-alloc runs
// this without -race.
func TestTokenMap_Hash_ZeroAllocationsButTheID(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	m := newTokenMap([]byte("k"), 1)
	tok := []byte("AT1")
	m.hash(tok)
	if n := testing.AllocsPerRun(100, func() { m.hash(tok) }); n > 1 {
		t.Errorf("hash allocates %v times, want at most 1 (the token ID string)", n)
	}
}

func TestBasicClientID(t *testing.T) {
	f := func(auth, want string) {
		t.Helper()
		if got := basicClientID([]byte(auth)); got != want {
			t.Errorf("basicClientID(%q) = %q, want %q", auth, got, want)
		}
	}
	f("Basic Y3JtLWxlZ2FjeTpzM2NyZXQ=", "crm-legacy")  // crm-legacy:s3cret
	f("basic Y3JtLWxlZ2FjeTpzM2NyZXQ=", "crm-legacy")  // the scheme is case-insensitive
	f("Basic YSUzQWI6cw==", "a:b")                     // a%3Ab:s, form-encoded (RFC 6749 §2.3.1)
	f("Basic bm9jb2xvbg==", "")                        // nocolon
	f("Basic !!!", "")                                 // not base64
	f("Bearer Y3JtLWxlZ2FjeTpzM2NyZXQ=", "")           // not Basic
	f("Basic "+b64(strings.Repeat("x", 129)+":s"), "") // longer than maxClientID
	f("Basic "+b64(strings.Repeat("x", 128)+":s"), strings.Repeat("x", 128))
	f("Basic "+b64("a\nb:s"), "") // a control character
}

func TestFormClientID(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		if got := formClientID([]byte(body)); got != want {
			t.Errorf("formClientID(%q) = %q, want %q", body, got, want)
		}
	}
	f("grant_type=client_credentials&client_id=form-client&client_secret=s", "form-client")
	f("client_id=a%20b", "a b")
	f("grant_type=client_credentials", "")
	f("%zz", "")
	f("", "")
}

func TestBearer(t *testing.T) {
	f := func(auth, want string) {
		t.Helper()
		if got := string(bearer([]byte(auth))); got != want {
			t.Errorf("bearer(%q) = %q, want %q", auth, got, want)
		}
	}
	f("Bearer AT1", "AT1")
	f("bearer  AT1 ", "AT1")
	f("Basic AT1", "")
	f("Bearer", "")
	f("", "")
}

// server.trusted_proxies: the first X-Forwarded-For hop only when the peer
// is trusted, and only when it is an address.
func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	f := func(peer, xff string, want string) {
		t.Helper()
		addr, _ := net.ResolveTCPAddr("tcp", peer)
		if got := clientAddress(addr.IP, []byte(xff), trusted); got != want {
			t.Errorf("clientAddress(%s, %q) = %q, want %q", peer, xff, got, want)
		}
	}
	f("10.1.2.3:5000", "203.0.113.9, 10.1.2.3", "203.0.113.9")
	f("10.1.2.3:5000", " 203.0.113.9 ", "203.0.113.9")
	f("10.1.2.3:5000", "203.0.113.9:4711", "203.0.113.9")
	f("10.1.2.3:5000", "[2001:db8::9]:4711, 10.0.0.1", "2001:db8::9")
	f("10.1.2.3:5000", "::ffff:203.0.113.9", "203.0.113.9")
	f("10.1.2.3:5000", "unknown", "10.1.2.3") // not an address: the peer
	f("10.1.2.3:5000", "", "10.1.2.3")        // no header: the peer
	f("192.0.2.7:5000", "203.0.113.9", "203.0.113.9")
	f("192.0.2.8:5000", "203.0.113.9", "192.0.2.8") // just outside the /32
	f("11.0.0.1:5000", "203.0.113.9", "11.0.0.1")   // just outside 10.0.0.0/8
	f("9.255.255.255:5000", "203.0.113.9", "9.255.255.255")
	f("[2001:db8::1]:5000", "203.0.113.9", "203.0.113.9")
	f("[2001:db9::1]:5000", "203.0.113.9", "2001:db9::1")
	addr, _ := net.ResolveTCPAddr("tcp", "10.1.2.3:5000")
	if got := clientAddress(addr.IP, []byte("203.0.113.9"), nil); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: %q, want the peer", got)
	}
}

// identity.max_user_agent_bytes at its edge, cut at a UTF-8 boundary.
func TestTruncateUTF8(t *testing.T) {
	f := func(in string, max int, want string) {
		t.Helper()
		if got := truncateUTF8([]byte(in), max); got != want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", in, max, got, want)
		}
	}
	f("Agent", 5, "Agent")
	f("Agent/", 5, "Agent")
	f("Agent", 0, "")
	f("ab€", 5, "ab€") // € is 3 bytes: exactly 5
	f("ab€", 4, "ab")
	f("ab€", 3, "ab")
	f("", 5, "")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// BenchmarkIdentify: what client identity adds to an intercepted request
// once inspect has taken its headers: an HMAC of the bearer token, a map
// lookup, the address and user agent strings.
func BenchmarkIdentify(b *testing.B) {
	s := &Server{tokens: newTokenMap([]byte("k"), 10000)}
	s.tokens.learn([]byte("abc.def.ghi"), "crm-legacy", time.Hour)
	st := &state{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, maxUserAgent: 256}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}, nil)
	h := &head{auth: []byte("Bearer abc.def.ghi"), ua: []byte("PureCloud SDK/go"), xff: []byte("203.0.113.9")}
	b.ReportAllocs()
	for b.Loop() {
		if c := s.identify(&ctx, st, h); c.ID != "crm-legacy" || c.Address != "203.0.113.9" {
			b.Fatalf("identify = %+v", c)
		}
	}
}
