// Package upstreamtest is a recording HTTP/1.1 upstream for tests: a plain
// TCP server that keeps the exact bytes of every request it receives and
// answers as a test says (a canned Genesys-like reply, a fault, a slow or a
// huge response). It parses as little as it can, so that what it records is
// what crossed the socket.
package upstreamtest
