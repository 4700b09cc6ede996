package proxy

import (
	"bytes"
)

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

// loginTarget reports whether a request target is routed to the login
// host, for an answer made without inspect (fasthttp refused the request,
// or the connection is over server.max_conns). A target callfix cannot
// route, or whose path is not in normal form, counts as an API request:
// /oauth/../api/… is no login request.
func (st *state) loginTarget(uri []byte) bool {
	var h head
	h.routeTarget(st, uri)
	return h.login
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
