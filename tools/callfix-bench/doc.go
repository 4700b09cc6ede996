// Command callfix-bench measures callfix side by side with the proxies a
// user would pick instead, and with no proxy at all, on loopback only:
//
//	go run ./tools/callfix-bench [-duration 5s] [-rounds 3] [-conns 64] [-scenarios get-small,call-rewrite]
//	    [-out-json bench-results.json] [-out-md FILE] [-callfix BIN] [-quick]
//	    [-generator auto|wrk|go] [-nginx auto|off|PATH] [-nginx-lua auto|off]
//	    [-haproxy auto|off|PATH] [-caddy auto|off|PATH] [-require-peers]
//	    [-set KEY=VALUE] [-variant NAME:KEY=VALUE;env:NAME=VALUE] [-keep]
//
// (-help lists every flag.) -quick is the smoke run of the tests: one
// round of 150 ms per target and scenario with the Go generator, about
// fifteen seconds in all.
//
// It starts, on 127.0.0.1:
//
//   - a fasthttp upstream that answers like Genesys Cloud (upstream.go):
//     small JSON with an ININ-Correlation-Id for GET /api/v2/users/me and
//     POST /api/v2/conversations/calls, PUT /api/v2/blob discarding the
//     upload, GET /api/v2/big with 10 MiB from one shared buffer. It counts
//     the call bodies that arrive with tel:+1 and "callerId":"+1, and those
//     that are the canonical body byte for byte, so that the harness can
//     prove what each proxy forwarded. For the TLS scenarios it serves the
//     same over TLS with a certificate from a CA made for the run
//     (tlsup.go), counting connections and handshakes (full and resumed);
//   - the real callfix binary in front of it (built with go build unless
//     -callfix names one), serve --mode enforce --set upstream.max_conns=1024,
//     and one more callfix per -variant (other settings or environment);
//   - the peers found (peers.go), each from its template in
//     tools/callfix-bench/assets rendered into its own temporary directory
//     (the templates explain each setting: keep-alive to the upstream, no
//     access log, workers or threads = GOMAXPROCS): nginx; nginx-lua, nginx
//     with Debian's Lua module and lua-cjson rewriting the calls route as
//     an OpenResty or Kong user would (assets/rewrite.lua); HAProxy; Caddy;
//
// and drives each target — "direct" (the upstream itself), "callfix",
// the peers — with the same load: wrk with the Lua scripts of
// tools/callfix-bench/assets when wrk is on PATH, else a built-in Go
// generator (gen.go). Before the scenarios it records each proxy's time
// from start to its first forwarded answer and its idle RSS, and sends a
// probe through every rewriting target to show what reaches the upstream
// besides the two numbers (fidelity.go: cjson loses key order, escapes
// "/", turns [] into {} and big integers into doubles; callfix must be
// byte-exact). Each scenario starts with a short warm-up of every target
// whose effect on the upstream is checked (a callfix that does not
// rewrite stops the run), then -rounds rounds with the order of the
// targets rotating; the table shows medians. For every proxy it also
// measures peak RSS and CPU time per request from /proc, and reports
// callfix's ratios to each.
//
// Scenarios (scenarios.go): get-small, put-100k, call-rewrite (100,000
// distinct national numbers in phoneNumber and callerId), call-canonical
// (the same already canonical), get-10m (8 connections), and over a TLS
// upstream get-small-tls and call-rewrite-tls (with TLS handshakes per
// 1,000 requests).
//
// Every process the harness starts runs in its own process group and is
// stopped at the end, on an error and on Ctrl-C; a second Ctrl-C kills
// them at once. Each load run is bounded in time (and the Go generator in
// request count too); wrk is killed if it overruns by 20s.
//
// Loopback benchmarks put the load generator, the proxy and the upstream
// on the same CPUs: the numbers compare proxies on one machine, they are
// not capacity figures. CPU time per request is the steadier comparison
// when the machine has few cores.
package main
