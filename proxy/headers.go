package proxy

import (
	"bytes"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"
)

// hopHeaders are the hop-by-hop headers of RFC 9110, section 7.6.1 (and the
// older ones RFC 2616 listed), removed before forwarding in either
// direction. The Connection header may name more; those are removed too.
var hopHeaders = [][]byte{
	[]byte("Connection"),
	[]byte("Proxy-Connection"), // non-standard, sent by old clients
	[]byte("Keep-Alive"),
	[]byte("Proxy-Authenticate"),
	[]byte("Proxy-Authorization"),
	[]byte("TE"),
	[]byte("Trailer"), // not trailers themselves: the header announcing them
	[]byte("Transfer-Encoding"),
	[]byte("Upgrade"),
}

// Headers callfix treats specially on requests.
var (
	hdrHost           = []byte("Host")
	hdrXForwardedFor  = []byte("X-Forwarded-For")
	hdrXForwardedProt = []byte("X-Forwarded-Proto")
	hdrXForwardedHost = []byte("X-Forwarded-Host")
	hdrContentLength  = []byte("Content-Length")
	hdrContentEncode  = []byte("Content-Encoding")
	hdrContentType    = []byte("Content-Type")
	hdrCountry        = []byte("X-Callfix-Country")
	hdrRequestID      = []byte("X-Request-Id")
	// Expect: 100-continue was answered by callfix itself when it read the
	// body; the upstream gets the body at once.
	hdrExpect = []byte("Expect")
	// W3C trace context: continued, and replaced by callfix's client span
	// on traced requests.
	hdrTraceparent = []byte("traceparent")
	hdrTracestate  = []byte("tracestate")
)

func isHop(name []byte) bool {
	for _, h := range hopHeaders {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// connectionTokens holds the header names a Connection header lists, which
// are hop-by-hop for this connection only (RFC 9110, section 7.6.1).
type connectionTokens struct {
	list [8][]byte
	n    int
	more [][]byte
}

func (c *connectionTokens) add(value []byte) {
	for len(value) > 0 {
		var tok []byte
		if tok, value = nextListItem(value); len(tok) == 0 {
			continue
		}
		if c.n < len(c.list) {
			c.list[c.n] = tok
			c.n++
		} else {
			c.more = append(c.more, tok)
		}
	}
}

func (c *connectionTokens) has(name []byte) bool {
	for i := 0; i < c.n; i++ {
		if bytes.EqualFold(c.list[i], name) {
			return true
		}
	}
	for _, t := range c.more {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// The request header policy: what callfix sends upstream in place of the
// client's header block.

// writeHeader writes the outbound request line and headers of o into out:
// the client's headers (in) in their order and case, less the hop-by-hop
// ones (and what Connection names), X-Callfix-Country and Expect; Host set
// to the upstream's; X-Forwarded-For appended to (the last line) or added,
// X-Forwarded-Proto and X-Forwarded-Host set once; Content-Length set to
// a rewritten body's length and Content-Encoding dropped from a decoded
// one; traceparent and tracestate replaced by o.trace's. It does not
// allocate on pass-through.
func (o *outbound) writeHeader(out, in *fasthttp.RequestHeader, remote net.IP, tls bool) {
	out.DisableSpecialHeader()
	out.DisableNormalizing()
	out.SetMethodBytes(in.Method())
	out.SetRequestURIBytes(o.target)
	if !in.IsHTTP11() {
		out.SetProtocol("HTTP/1.1")
	}
	raw := in.RawHeaders()
	conn, xff := connectionAndForwarded(raw)
	hadXFF := xff > 0
	var ipBuf [64]byte
	ip := appendIP(ipBuf[:0], remote)
	var clientHost []byte
	hostDone, lengthDone := false, false
	for it := (headerIter{raw: raw}); it.next(); {
		k, v := it.key, it.value
		switch {
		case isHop(k) || conn.has(k) || bytes.EqualFold(k, hdrCountry) || bytes.EqualFold(k, hdrExpect):
		case o.trace != nil && (bytes.EqualFold(k, hdrTraceparent) || bytes.EqualFold(k, hdrTracestate)):
			// Replaced by callfix's own span context below.
		case bytes.EqualFold(k, hdrHost):
			if !hostDone {
				clientHost = v
				out.AddBytesKV(k, o.up.host)
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
		case o.rewritten && !lengthDone && bytes.EqualFold(k, hdrContentLength):
			o.addLength(out, k)
			lengthDone = true
		case o.decoded && bytes.EqualFold(k, hdrContentEncode):
		default:
			out.AddBytesKV(k, v)
		}
	}
	if !hostDone {
		out.AddBytesKV(hdrHost, o.up.host)
	}
	if o.rewritten && !lengthDone {
		o.addLength(out, hdrContentLength)
	}
	if !hadXFF {
		out.AddBytesKV(hdrXForwardedFor, ip)
	}
	if tls {
		out.AddBytesKV(hdrXForwardedProt, []byte("https"))
	} else {
		out.AddBytesKV(hdrXForwardedProt, []byte("http"))
	}
	if len(clientHost) > 0 {
		out.AddBytesKV(hdrXForwardedHost, clientHost)
	}
	if o.trace != nil {
		if o.trace.traceparent != "" {
			out.AddBytesKV(hdrTraceparent, []byte(o.trace.traceparent))
		}
		if o.trace.tracestate != "" {
			out.AddBytesKV(hdrTracestate, []byte(o.trace.tracestate))
		}
	}
}

// addLength adds the rewritten body's Content-Length under the name k.
func (o *outbound) addLength(out *fasthttp.RequestHeader, k []byte) {
	var nb [20]byte
	out.AddBytesKV(k, strconv.AppendInt(nb[:0], int64(len(o.body)), 10))
}

// connectionAndForwarded returns the names the Connection headers of a
// raw header block list, and how many X-Forwarded-For lines it has.
func connectionAndForwarded(raw []byte) (connectionTokens, int) {
	var conn connectionTokens
	xff := 0
	for it := (headerIter{raw: raw}); it.next(); {
		switch {
		case bytes.EqualFold(it.key, hopHeaders[0]):
			conn.add(it.value)
		case bytes.EqualFold(it.key, hdrXForwardedFor):
			xff++
		}
	}
	return conn, xff
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
		it.key = trimRightOWS(line[:colon])
		it.value = trimOWS(line[colon+1:])
		return true
	}
	return false
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

// nextListItem splits the first element off a comma-separated header list
// (RFC 9110 section 5.6.1), without its optional whitespace; an empty
// element comes back empty.
func nextListItem(v []byte) (item, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}

// trimOWS removes optional whitespace (SP and HTAB, RFC 9110 section
// 5.6.3) from both ends of v: bytes.Trim with a cutset, without building
// the cutset's table on every header line.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return trimRightOWS(v)
}

// trimRightOWS removes SP and HTAB from the end of v. A header name is
// trimmed on the right only: a line that starts with whitespace is an
// obs-fold, not a header of that name.
func trimRightOWS(v []byte) []byte {
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}
