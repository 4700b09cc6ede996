// Package proxy is the callfix reverse proxy: a fasthttp server that
// forwards every request to the configured Genesys Cloud upstream (API or
// login host) byte for byte, less hop-by-hop headers, plus X-Forwarded-*,
// and intercepts the requests a rewrite rule matches to repair their
// addresses. It answers its own errors in Genesys's error format and never
// contacts a host it was not configured with. It sends no request twice,
// but for a bodyless GET, HEAD or OPTIONS whose pooled connection the
// upstream closed before answering (once, on a new connection).
//
// The request path, file by file: server.go (the Server, serveHTTP),
// request.go (inspect, which computes the request-scoped head once),
// routing.go, intercept.go (read, decode, rewrite, decide, respond),
// outbound.go (forward) with its header policy in headers.go, response.go
// (the upstream's answer to the client) and errors.go (every failure as a
// typed error, statusFor, and fail, which writes callfix's answers).
package proxy
