package proxy

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// outboundBlock runs the outbound header policy on a raw client request
// and returns the request head callfix sends upstream.
func outboundBlock(t *testing.T, raw string, o outbound, remote net.IP, tls bool) string {
	t.Helper()
	var in fasthttp.RequestHeader
	in.DisableNormalizing()
	if err := in.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("reading %q: %v", raw, err)
	}
	var req fasthttp.Request
	if o.up == nil {
		o.up = &upstream{name: "api", scheme: "https", host: []byte("api.example.com")}
	}
	o.writeHeader(&req.Header, &in, remote, tls)
	return string(req.Header.Header())
}

var client = net.IPv4(192, 0, 2, 7)

// A pass-through request keeps the client's header lines in their order
// and case; Host becomes the upstream's, X-Forwarded-* are added once.
func TestOutboundHeader_PassThrough_OrderCaseHostForwarded(t *testing.T) {
	got := outboundBlock(t, "GET /api/v2/users/me?x=1 HTTP/1.1\r\naccept: */*\r\nHOST: callfix.local:8080\r\nX-Custom: a\r\nx-custom: b\r\n\r\n",
		outbound{target: []byte("/api/v2/users/me?x=1")}, client, false)
	want := "GET /api/v2/users/me?x=1 HTTP/1.1\r\naccept: */*\r\nHOST: api.example.com\r\nX-Custom: a\r\nx-custom: b\r\n" +
		"X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: callfix.local:8080\r\n\r\n"
	if got != want {
		t.Errorf("outbound =\n%q\nwant\n%q", got, want)
	}
}

// Hop-by-hop headers, the ones Connection names, X-Callfix-Country and
// Expect are removed; the client's X-Forwarded-Proto and -Host are
// replaced; the last X-Forwarded-For line gets the client's address.
func TestOutboundHeader_RemovesHopByHopAndCallfixHeaders(t *testing.T) {
	raw := "POST /api/v2/x HTTP/1.1\r\nHost: c\r\nConnection: keep-alive, X-Secret-Hop\r\nKeep-Alive: timeout=5\r\nX-Secret-Hop: 1\r\n" +
		"Proxy-Authorization: Basic abc\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Callfix-Country: GB\r\nexpect: 100-continue\r\n" +
		"X-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 198.51.100.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n" +
		"Content-Length: 2\r\n\r\n"
	got := outboundBlock(t, raw, outbound{target: []byte("/api/v2/x")}, client, true)
	want := "POST /api/v2/x HTTP/1.1\r\nHost: api.example.com\r\nX-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 198.51.100.2, 192.0.2.7\r\n" +
		"Content-Length: 2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: c\r\n\r\n"
	if got != want {
		t.Errorf("outbound =\n%q\nwant\n%q", got, want)
	}
}

// A rewritten body gets its own Content-Length in the client's line; a
// decoded one loses Content-Encoding; a body forwarded as sent keeps both.
func TestOutboundHeader_RewrittenBody_LengthAndEncoding(t *testing.T) {
	raw := "POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\ncontent-length: 30\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n\r\n"
	body := []byte(`{"phoneNumber":"tel:+13172224567"}`)
	f := func(o outbound, want string) {
		t.Helper()
		o.target = []byte("/api/v2/conversations/calls")
		if got := outboundBlock(t, raw, o, client, false); got != want {
			t.Errorf("outbound =\n%q\nwant\n%q", got, want)
		}
	}
	tail := "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: c\r\n\r\n"
	f(outbound{body: body, rewritten: true, decoded: true},
		"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: api.example.com\r\ncontent-length: 34\r\nContent-Type: application/json\r\n"+tail)
	f(outbound{body: body, rewritten: true},
		"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: api.example.com\r\ncontent-length: 34\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"+tail)
	f(outbound{body: []byte("sent as it came")},
		"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: api.example.com\r\ncontent-length: 30\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"+tail)
}

// Without a Host or Content-Length line of its own, the request gets the
// upstream's Host and, when rewritten, a Content-Length; an HTTP/1.0
// request goes upstream as HTTP/1.1.
func TestOutboundHeader_AddsMissingHostAndLength(t *testing.T) {
	got := outboundBlock(t, "POST /x HTTP/1.0\r\nAccept: */*\r\n\r\n",
		outbound{target: []byte("/x"), body: []byte("{}"), rewritten: true}, net.ParseIP("2001:db8::1"), false)
	want := "POST /x HTTP/1.1\r\nAccept: */*\r\nHost: api.example.com\r\nContent-Length: 2\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: http\r\n\r\n"
	if got != want {
		t.Errorf("outbound =\n%q\nwant\n%q", got, want)
	}
}

// On a traced request the client's traceparent and tracestate are replaced
// by callfix's client span's; otherwise they pass as sent.
func TestOutboundHeader_TraceContext(t *testing.T) {
	raw := "GET /x HTTP/1.1\r\nHost: c\r\ntraceparent: 00-client-01\r\ntracestate: a=1\r\n\r\n"
	tail := "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: c\r\n"
	got := outboundBlock(t, raw, outbound{target: []byte("/x")}, client, false)
	if want := "GET /x HTTP/1.1\r\nHost: api.example.com\r\ntraceparent: 00-client-01\r\ntracestate: a=1\r\n" + tail + "\r\n"; got != want {
		t.Errorf("untraced outbound =\n%q\nwant\n%q", got, want)
	}
	got = outboundBlock(t, raw, outbound{target: []byte("/x"), trace: &traceHeaders{traceparent: "00-callfix-01"}}, client, false)
	if want := "GET /x HTTP/1.1\r\nHost: api.example.com\r\n" + tail + "traceparent: 00-callfix-01\r\n\r\n"; got != want {
		t.Errorf("traced outbound =\n%q\nwant\n%q", got, want)
	}
}

// The Connection header's tokens hold more names than its fixed array.
func TestConnectionTokens_ManyNames(t *testing.T) {
	var c connectionTokens
	c.add([]byte("a, b,c ,, d,e,f,g,h,i, J"))
	for _, n := range []string{"A", "b", "c", "d", "i", "j"} {
		if !c.has([]byte(n)) {
			t.Errorf("has(%q) = false, want true", n)
		}
	}
	if c.has([]byte("k")) || c.has([]byte("")) {
		t.Errorf("has a name the header does not list")
	}
}

// Values lose their optional whitespace at both ends; names only at the
// end, so that a folded line (" X-Request-Id: abc") is never read as the
// header it spells.
func TestHeaderIter_TrimsValuesBothEnds_NamesOnTheRight(t *testing.T) {
	it := headerIter{raw: []byte("A \t:  1 \t\r\n X-Request-Id: abc\r\nB:\t\r\n\r\n")}
	var got []string
	for it.next() {
		got = append(got, "["+string(it.key)+"]=["+string(it.value)+"]")
	}
	want := []string{"[A]=[1]", "[ X-Request-Id]=[abc]", "[B]=[]"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("headers = %q, want %q", got, want)
	}
	for in, want := range map[string]string{"": "", " \t": "", "\ta b ": "a b", "x": "x"} {
		if got := string(trimOWS([]byte(in))); got != want {
			t.Errorf("trimOWS(%q) = %q, want %q", in, got, want)
		}
	}
}

// A header list splits at commas, each element without its optional
// whitespace, empty elements kept empty (RFC 9110 section 5.6.1).
func TestNextListItem(t *testing.T) {
	var got []string
	for v := []byte(" gzip ,\t, br,identity ,"); len(v) > 0; {
		var item []byte
		item, v = nextListItem(v)
		got = append(got, "["+string(item)+"]")
	}
	if want := "[gzip] [] [br] [identity]"; strings.Join(got, " ") != want {
		t.Errorf("items = %s, want %s", strings.Join(got, " "), want)
	}
}
