package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// server, upstream client and body stream must be shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's coarse clock and idle-connection cleaners are
		// process-wide and start on first use.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		// fasthttp's shared dialer cleans its DNS cache in the background.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).startTCPAddrsClean"),
		// A stopped fasthttp.Server's worker cleaner notices the stop after
		// its current sleep (fasthttp's MaxIdleWorkerDuration, 10s).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// fasthttp's compressors (the tests' encoded bodies) run on a
		// process-wide pool of stackless workers.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp/stackless.funcWorker"),
	)
}
