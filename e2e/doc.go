// Package e2e runs the real callfix binary between real Genesys Cloud SDK
// clients and recording upstreams, on loopback only.
//
// A [Rig] starts, for each [Variant], a login and an API upstream
// (internal/testsupport/upstreamtest: raw TCP, every request recorded byte for byte) and
// a `callfix serve` in front of them, plus a small control endpoint from
// which a test in any language reads what each upstream received:
//
//	GET /info                                  {"callfix":"ADDR","gateway":"ADDR",...}
//	GET /requests?instance=NAME&upstream=api   [{"method","target","headers":[{"name","value"}],"body"}, ...]
//	GET /log?instance=NAME                     callfix's log (for failure messages)
//
// The Go side owns every process: the rig kills callfix (SIGTERM, then
// SIGKILL) when it closes, and on Linux callfix and the node test runner
// die with the process that started them.
//
// The JavaScript test (sdk.test.js, the official purecloud-platform-client-v2
// pinned in package.json) is run by TestSDK_JavaScript in cmd/callfix, which
// starts a rig and runs `node --test e2e/*.test.js` with CALLFIX_RIG set to the
// control endpoint. Its dependencies come from `make e2e-deps`
// (`npm ci --prefix e2e`).
//
// To poke at a rig by hand:
//
//	go build -o /tmp/callfix ./cmd/callfix
//	go run ./e2e/rig -callfix /tmp/callfix                       # prints the addresses, stops on EOF or SIGTERM
//	go run ./e2e/rig -callfix /tmp/callfix -- node --test e2e/sdk.test.js   # runs a command against it, then stops
package e2e
