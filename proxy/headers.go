package proxy

import (
	"bytes"
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
		if i := bytes.IndexByte(value, ','); i >= 0 {
			tok, value = value[:i], value[i+1:]
		} else {
			tok, value = value, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) == 0 {
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
