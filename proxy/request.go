package proxy

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/rewrite"
)

// head is the request-scoped value: what callfix reads from a request line
// and header block before it decides anything, and what it derives from
// that once (as net/http/httputil's ProxyRequest holds In and Out). inspect
// fills it; routing, interception, the answers, the logs, the spans and the
// audit record all read it, and none computes these again.
type head struct {
	up     *upstream
	target []byte // origin-form, gateway prefix stripped, in normal form
	path   []byte // target without its query
	// login says the request is routed to the login host: its errors are
	// in the OAuth format. It is set even when inspect refuses the request,
	// unless its target cannot be routed.
	login bool
	// rule is the rewrite rule the method and path match (nil when none);
	// the request is intercepted when the body is also JSON.
	rule *rewrite.Route
	json bool
	// country is X-Callfix-Country, encoding Content-Encoding, auth
	// Authorization (for country: auto and identity; never logged), ua
	// User-Agent, xff the first X-Forwarded-For line (for identity) and
	// clientID the first X-Request-Id, as sent.
	country, encoding, auth, ua, xff, clientID []byte
	// codings is how many content codings encoding lists that callfix
	// undoes, on a rule's route with a JSON body.
	codings int
	// headersRead says inspect read the whole header block (clientID is
	// then the first X-Request-Id, or nil when there is none).
	headersRead bool
	// id is the request ID, once requestID made it.
	id string
}

// intercepted reports whether callfix reads and rewrites the body.
func (h *head) intercepted() bool { return h.rule != nil && h.json }

var (
	http11 = []byte("HTTP/1.1")
	http10 = []byte("HTTP/1.0")
	hdrTE  = []byte("Transfer-Encoding")
)

// inspect reads the request line and header block of in and fills h. It
// returns the refusal callfix answers with instead of forwarding, if any:
// malformed framing or header lines (RFC 9112 sections 5 and 6), a bad
// Host, a path that is not in normal form, and on intercepted routes
// duplicate Content-Type or Content-Encoding headers, codings callfix
// cannot undo, and a declared length above limits.max_body_bytes.
// contentLength is the declared length (in.ContentLength(), unless the
// headers-only check already changed it). It does not allocate unless it
// refuses.
func (s *Server) inspect(in *fasthttp.RequestHeader, st *state, contentLength int, h *head) refusal {
	// Routed first, so that every refusal knows the format of its answer;
	// a target callfix does not route is refused after the header block.
	ref := h.routeTarget(st, in.RequestURI())
	if p := in.Protocol(); !bytes.Equal(p, http11) && !bytes.Equal(p, http10) && (len(p) != 8 || p[5] != '1') {
		// fasthttp takes any HTTP/x.y; this listener speaks HTTP/1.x only
		// (RFC 9110 section 2.5: minor versions are compatible).
		return badRequest("unsupported_version", "", "callfix speaks HTTP/1.1: send the request as HTTP/1.1 (or HTTP/1.0)")
	}
	if len(in.Method()) > st.maxMethod {
		return badRequest("method_too_long", "", "the request method is longer than server.max_method_bytes ("+strconv.Itoa(st.maxMethod)+" bytes)")
	}

	var blk headerBlock
	if r := blk.read(in.RawHeaders(), h); r.status != 0 {
		return r
	}
	if r := blk.framing(); r.status != 0 {
		return r
	}
	if ref.status != 0 {
		return ref
	}
	if h.up != st.api {
		return refusal{}
	}
	h.rule = st.snap.Engine.Match(b2s(in.Method()), b2s(h.path))
	if h.rule == nil {
		return refusal{}
	}
	return blk.interceptable(st, h, contentLength)
}

// headerBlock is what inspect counts and keeps of a header block besides
// what head holds.
type headerBlock struct {
	host, contentType, te []byte
	nCT, nCE, nCL, nTE    int
}

// read reads a raw header block line by line, refusing lines that some
// parsers read differently from others, and fills h with the headers
// callfix reads (each the first of its name).
func (b *headerBlock) read(raw []byte, h *head) refusal {
	var prev []byte // the name of the previous header line
	for len(raw) > 0 {
		var line []byte
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i], raw[i+1:]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		} else if i >= 0 {
			// RFC 9112 section 2.2: a bare LF is a line ending some parsers
			// take and others do not; between two of them a request splits
			// differently. fasthttp takes it inside the block.
			return badRequest("bare_lf", "", "a header line ends in LF without CR: end every line with CRLF")
		}
		if len(line) == 0 {
			break // the blank line ending the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 9112 section 5.2: obs-fold. fasthttp joins it into the
			// previous value, but forwarded raw, " Transfer-Encoding:
			// chunked" is a header of its own to an upstream that trims.
			return badRequest("obs_fold", tokenOrEmpty(prev), "a header line starts with whitespace (obs-fold, RFC 9112 section 5.2): send each header on one line")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return badRequest("malformed_header_line", "", "a header line has no name and colon")
		}
		name := line[:colon]
		if !isTokenName(name) {
			// RFC 9112 section 5.1: no whitespace in or before a name
			// ("Transfer-Encoding : chunked").
			return badRequest("invalid_header_name", tokenOrEmpty(bytes.TrimSpace(name)), "a header name holds whitespace or a character a name cannot have (RFC 9112 section 5.1)")
		}
		prev = name
		b.take(h, name, trimOWS(line[colon+1:]))
	}
	h.headersRead = true
	return refusal{}
}

// take keeps a header line's value when callfix reads the header.
func (b *headerBlock) take(h *head, name, value []byte) {
	switch name[0] | 0x20 {
	case 'h':
		if bytes.EqualFold(name, hdrHost) {
			b.host = value
		}
	case 'c':
		switch {
		case bytes.EqualFold(name, hdrContentType):
			if b.nCT++; b.nCT == 1 {
				b.contentType = value
			}
		case bytes.EqualFold(name, hdrContentEncode):
			if b.nCE++; b.nCE == 1 {
				h.encoding = value
			}
		case bytes.EqualFold(name, hdrContentLength):
			b.nCL++
		}
	case 't':
		if bytes.EqualFold(name, hdrTE) {
			b.nTE++
			b.te = value
		}
	case 'x':
		switch {
		case h.country == nil && bytes.EqualFold(name, hdrCountry):
			h.country = value
		case h.xff == nil && bytes.EqualFold(name, hdrXForwardedFor):
			h.xff = value
		case h.clientID == nil && bytes.EqualFold(name, hdrRequestID):
			h.clientID = value
		}
	case 'u':
		if h.ua == nil && bytes.EqualFold(name, hdrUserAgent) {
			h.ua = value
		}
	case 'a':
		if h.auth == nil && bytes.EqualFold(name, hdrAuthorization) {
			h.auth = value
		}
	}
}

// framing refuses a request whose length or Host is ambiguous.
func (b *headerBlock) framing() refusal {
	// RFC 9112 section 6.3: a length both ways, or a Transfer-Encoding other
	// than chunked, is ambiguous. fasthttp refuses several of either, and
	// takes chunked with a Content-Length, or identity, as it likes.
	if b.nTE > 0 && b.nCL > 0 {
		return badRequest("ambiguous_length", "", "the request has both Content-Length and Transfer-Encoding: send one")
	}
	if b.nTE > 0 && !bytes.EqualFold(b.te, []byte("chunked")) {
		return badRequest("ambiguous_length", "Transfer-Encoding", "the request's Transfer-Encoding is not chunked: send chunked or a Content-Length")
	}
	if msg := hostProblem(b.host); msg != "" {
		return badRequest("invalid_host", "Host", msg)
	}
	return refusal{}
}

// interceptable decides, for a request on a rule's route, whether its body
// is JSON callfix reads (h.json), and refuses one callfix cannot read:
// duplicate Content-Type or Content-Encoding headers, codings callfix
// cannot undo, a declared length above limits.max_body_bytes.
func (b *headerBlock) interceptable(st *state, h *head, contentLength int) refusal {
	// RFC 9110 sections 8.3 and 8.4: one of each. With two Content-Types,
	// callfix and Genesys may each read a different one; two
	// Content-Encodings stack codings.
	if b.nCT > 1 {
		return badRequest("duplicate_content_type", "Content-Type", "the request has more than one Content-Type header: send one")
	}
	if b.nCE > 1 {
		return badRequest("duplicate_content_encoding", "Content-Encoding", "the request has more than one Content-Encoding header: list the codings in one, in the order applied")
	}
	h.json = isJSON(b.contentType)
	if !h.json {
		return refusal{}
	}
	n, known := countCodings(h.encoding)
	h.codings = n
	if !known {
		return refusal{status: 415, code: apierror.CodeBadRequest, reason: "unsupported_content_encoding", header: "Content-Encoding",
			msg: "the request's Content-Encoding names a coding callfix cannot undo to inspect the body: send gzip, deflate, br, zstd or identity"}
	}
	if n > st.maxCodings {
		return refusal{status: 415, code: apierror.CodeBadRequest, reason: "too_many_content_codings", header: "Content-Encoding",
			msg: "the request's Content-Encoding lists more codings than limits.max_content_codings (" + strconv.Itoa(st.maxCodings) + ")"}
	}
	if contentLength > st.maxBody {
		return tooLarge("request body", st.maxBody)
	}
	return refusal{}
}

// routeTarget reads a request target into h: its upstream, the target
// less any gateway prefix, its path, and login. It returns the refusal of
// a target callfix does not route: not a path, a fragment, a path not in
// normal form (login is then false, unless only the fragment is wrong).
func (h *head) routeTarget(st *state, uri []byte) refusal {
	target, ok := originForm(uri)
	if !ok {
		return badRequest("invalid_target", "", "the request target is not a path: send origin-form (/api/v2/...) or an absolute URI")
	}
	path, fragment := target, false
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		fragment = path[i] == '#'
		path = path[:i]
	}
	reason := pathProblem(path)
	if reason == "" {
		h.up, h.target = st.route(target)
		h.login = h.up == st.login
	}
	switch {
	case fragment:
		return badRequest("invalid_target", "", "the request target holds a fragment (#): a request target has none (RFC 9112 section 3.2)")
	case reason != "":
		return badRequest("path_not_normal", "", pathMessage(reason))
	}
	h.path = h.target
	if i := bytes.IndexByte(h.path, '?'); i >= 0 {
		h.path = h.path[:i]
	}
	return refusal{}
}

// tchar is RFC 9110's token characters (section 5.6.2).
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTokenName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// tokenOrEmpty returns b as a header name for a log line: b when it is a
// short token, else "" (what is not a name may be a value).
func tokenOrEmpty(b []byte) string {
	if len(b) > 64 || !isTokenName(b) {
		return ""
	}
	return string(b)
}

// hostProblem says what is wrong with a Host header value, or "" when it
// is a host and an optional port (RFC 9112 section 3.2, RFC 3986 section
// 3.2.2). An empty Host is allowed. The Host never selects the upstream;
// it is refused because an upstream or a log reader may trust it.
func hostProblem(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	host, port := v, []byte(nil)
	if v[0] == '[' {
		end := bytes.IndexByte(v, ']')
		if end < 0 {
			return "the Host header's IPv6 address has no closing ]: send host[:port]"
		}
		for _, c := range v[1:end] {
			if !isHex(c) && c != ':' && c != '.' {
				return "the Host header's IPv6 address is not one: send host[:port]"
			}
		}
		rest := v[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return "the Host header has something after its IPv6 address: send host[:port]"
			}
			port = rest[1:]
		}
		host = nil
	} else if i := bytes.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
	}
	for _, c := range host {
		if c == '@' {
			return "the Host header holds userinfo (user@): send host[:port] only"
		}
		if !regName[c] {
			return "the Host header holds a character a host name cannot have: send host[:port]"
		}
	}
	if port != nil {
		if len(port) > 5 {
			return "the Host header's port is out of range: use 1 to 65535"
		}
		p := 0
		for _, c := range port {
			if c < '0' || c > '9' {
				return "the Host header's port is not a number: send host[:port]"
			}
			p = p*10 + int(c-'0')
		}
		if p > 65535 {
			return "the Host header's port is out of range: use 1 to 65535"
		}
	}
	return ""
}

// regName is RFC 3986's reg-name characters: unreserved, sub-delims and
// the percent sign of pct-encoded.
var regName = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = unreserved(byte(c))
	}
	for _, c := range "!$&'()*+,;=%" {
		t[c] = true
	}
	return t
}()

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// PathRefusal returns the message of the 400 callfix.bad.request callfix
// answers, in every mode, to a request whose path (the part of target
// before any query) is not in normal form, or "" when it is. callfix check
// uses it.
func PathRefusal(target string) string {
	path := []byte(target)
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		if path[i] == '#' {
			return "the request target holds a fragment (#): a request target has none (RFC 9112 section 3.2)"
		}
		path = path[:i]
	}
	if reason := pathProblem(path); reason != "" {
		return pathMessage(reason)
	}
	return ""
}

func pathMessage(reason string) string {
	return "the request path is not in normal form (" + reason + "): callfix routes and inspects requests by path, so it forwards only a path every server reads the same way; send it as the API reference writes it"
}

// pathProblem says how path is not in normal form, or returns "". Normal
// form is what RFC 3986 section 6.2.2 normalisation leaves unchanged (no
// percent-encoded unreserved character, no dot segment), plus what some
// servers read into a path and others do not: no empty segment (//), no
// ;parameters, no encoded or literal backslash, no encoded slash, percent
// sign or control character. Such a path means the same to callfix and to
// any upstream, so routing and rule matching cannot be walked around.
func pathProblem(path []byte) string {
	if len(path) == 0 || path[0] != '/' {
		return "it does not start with /"
	}
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			switch c := path[i]; c {
			case ';':
				return "a ;parameter"
			case '\\':
				return "a backslash"
			case '%':
				if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
					return "a % that does not start an escape"
				}
				d := unhex(path[i+1])<<4 | unhex(path[i+2])
				switch {
				case unreserved(d):
					return "an escaped letter, digit or -._~"
				case d == '/' || d == '\\':
					return "an escaped slash or backslash"
				case d == '%':
					return "an escaped %"
				case d < 0x20 || d == 0x7f:
					return "an escaped control character"
				}
			}
			continue
		}
		// A segment ends at i.
		seg := path[segStart:i]
		switch {
		case len(seg) == 0 && i < len(path):
			return "an empty segment (//)"
		case len(seg) == 1 && seg[0] == '.', len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			return "a dot segment"
		}
		segStart = i + 1
	}
	return ""
}

// countCodings returns how many codings a Content-Encoding list names that
// callfix undoes (identity does not count), and false when it names one
// callfix does not know.
func countCodings(v []byte) (int, bool) {
	n := 0
	for len(v) > 0 {
		var c []byte
		c, v = nextListItem(v)
		switch coding(c) {
		case codingIdentity:
		case codingUnknown:
			return n, false
		default:
			n++
		}
	}
	return n, true
}

type codingKind uint8

const (
	codingIdentity codingKind = iota // also an empty list element (RFC 9110 section 5.6.1)
	codingGzip
	codingDeflate
	codingBrotli
	codingZstd
	codingUnknown
)

func coding(c []byte) codingKind {
	switch {
	case len(c) == 0, bytes.EqualFold(c, []byte("identity")):
		return codingIdentity
	case bytes.EqualFold(c, []byte("gzip")), bytes.EqualFold(c, []byte("x-gzip")):
		return codingGzip
	case bytes.EqualFold(c, []byte("deflate")):
		return codingDeflate
	case bytes.EqualFold(c, []byte("br")):
		return codingBrotli
	case bytes.EqualFold(c, []byte("zstd")):
		return codingZstd
	}
	return codingUnknown
}
