package proxy

import "net"

// PathNotNormal exposes pathProblem to the socket-level tests (package
// proxy_test) without a seam in the package's API.
func PathNotNormal(path string) bool { return pathProblem([]byte(path)) != "" }

// NewWithDial is New with upstream connections opened by dial instead of
// TCP: the socket-level tests' faults (a dial that panics, an in-memory
// upstream) without a seam in the package's API.
func NewWithDial(opts Options, dial func(addr string) (net.Conn, error)) (*Server, error) {
	return newServer(opts, dial)
}

// Bodies in each content coding (codings_test.go).
var (
	Gzipped  = gzipped
	Zlibbed  = zlibbed
	Deflated = deflated
	Brotlied = brotlied
	Zstded   = zstded
)

// len returns the number of tokens cached (the tests' view of the bound
// country_lookup.max_entries).
func (c *countryCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// len returns the number of tokens mapped (the tests' view of the bound
// identity.max_tokens).
func (t *tokenMap) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
