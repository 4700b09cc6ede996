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
