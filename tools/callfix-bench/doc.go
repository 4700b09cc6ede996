// Command callfix-bench measures callfix side by side with nginx and with
// no proxy at all, on loopback only:
//
//	go run ./tools/callfix-bench [-duration 5s] [-rounds 3] [-conns 64] [-scenarios get-small,call-rewrite]
//	    [-out-json bench-results.json] [-out-md FILE] [-callfix BIN] [-quick]
//	    [-generator auto|wrk|go] [-nginx auto|off|PATH] [-set KEY=VALUE] [-keep]
//
// (-help lists every flag.) -quick is the smoke run of the tests: one
// round of 150 ms per target and scenario with the Go generator, about
// five seconds in all.
//
// It starts, on 127.0.0.1:
//
//   - a fasthttp upstream that answers like Genesys Cloud (upstream.go):
//     small JSON with an ININ-Correlation-Id for GET /api/v2/users/me and
//     POST /api/v2/conversations/calls, PUT /api/v2/blob discarding the
//     upload, GET /api/v2/big with 10 MiB from one shared buffer. It counts
//     the call bodies that arrive with tel:+1 and "callerId":"+1, so that
//     the harness can prove callfix rewrote them;
//   - the real callfix binary in front of it (built with go build unless
//     -callfix names one), serve --mode enforce --set upstream.max_conns=1024;
//   - nginx in front of the same upstream when nginx is on PATH, from
//     tools/callfix-bench/assets/nginx.conf.tmpl rendered into a temporary directory
//     (the template explains each setting);
//
// and drives each target — "direct" (the upstream itself), "callfix",
// "nginx" — with the same load: wrk with the Lua scripts of tools/callfix-bench/assets
// when wrk is on PATH, else a built-in Go generator (gen.go). Each
// scenario starts with a short warm-up of every target whose effect on the
// upstream is checked (a callfix that does not rewrite stops the run),
// then -rounds rounds with the order of the targets rotating; the table
// shows medians. For callfix and nginx it also measures peak RSS and CPU
// time per request from /proc.
//
// Scenarios (scenarios.go): get-small, put-100k, call-rewrite (100,000
// distinct national numbers in phoneNumber and callerId), call-canonical
// (the same already canonical) and get-10m (8 connections).
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
