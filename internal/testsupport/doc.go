// Package testsupport holds the helpers that the tests of several packages
// share, so that each exists once: [CleanEnv] (the environment for a child
// process under test), [Buffer] (a byte buffer safe for concurrent writers)
// [ParseMetrics] / [ScrapeMetrics] (Prometheus text exposition into
// metric families) and [Conns] (a loopback TCP server of numbered
// connections, under the raw-TCP rigs) and [StartServe] (a running
// `callfix serve` whose log is read line by line, for the binary's tests,
// the e2e rig and the fault campaign).
//
// The test rigs live beside it: upstreamtest (a recording upstream over raw
// TCP) and otlptest (an in-process OTLP receiver).
//
// Only tests, test rigs (e2e) and tooling apart from the product (tools/)
// may import this package or the rigs below it; product code must not. TestProductDoesNotImportTestSupport holds that.
package testsupport
