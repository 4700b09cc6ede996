// Package rewrite repairs the addresses in Genesys Cloud call requests.
//
// It is pure: a compiled, immutable [Engine] maps (method, path) to a [Route]
// and rewrites a JSON body into a new one plus the list of what changed
// ([Change]) and what could not be fixed ([Problem]). Values are spliced into
// the original bytes, never re-encoded, so every byte outside a changed value
// is identical. The package does no I/O and imports neither fasthttp, otel nor
// config; an Engine is safe for concurrent use.
package rewrite
