package main

import (
	"context"
	"errors"
	"io"
	"math/bits"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// load is one run of a generator against one target.
type load struct {
	BaseURL  string // http://127.0.0.1:PORT
	Sc       *scenario
	Conns    int
	Threads  int // wrk's -t
	Duration time.Duration
}

// loadResult is what a generator measured.
type loadResult struct {
	Requests     int64         `json:"requests"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	RPS          float64       `json:"rps"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	Non2xx       int64         `json:"non_2xx_3xx"`
	SocketErrors int64         `json:"socket_errors"`
}

// Errors is what the table shows: answers that were not 2xx/3xx plus
// connection, read, write and timeout errors.
func (r loadResult) Errors() int64 { return r.Non2xx + r.SocketErrors }

// generator drives load; wrk and the built-in Go one implement it.
type generator interface {
	Name() string
	// MinDuration is the shortest run it can do (wrk counts whole seconds).
	MinDuration() time.Duration
	Run(ctx context.Context, l load) (loadResult, error)
}

// maxRequestsPerRun bounds a Go generator run in count as well as in time.
const maxRequestsPerRun = 50_000_000

// goGen is the built-in generator: one fasthttp.HostClient with a single
// connection per worker, each worker sending its next request when the
// previous answer has been read whole, until the duration or the request
// cap is reached. Latencies go into a log-linear histogram (1.6% buckets).
type goGen struct {
	mu     sync.Mutex
	bodies map[bool][][]byte // call bodies by canonical, built once
	put    []byte
}

func newGoGen() *goGen { return &goGen{bodies: map[bool][][]byte{}} }

func (g *goGen) Name() string               { return "built-in Go generator (fasthttp.HostClient per connection)" }
func (g *goGen) MinDuration() time.Duration { return time.Millisecond }

func (g *goGen) callBodies(canonical bool) [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bodies[canonical] == nil {
		g.bodies[canonical] = callBodies(canonical)
	}
	return g.bodies[canonical]
}

func (g *goGen) putBody() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.put == nil {
		g.put = putBody()
	}
	return g.put
}

func (g *goGen) Run(ctx context.Context, l load) (loadResult, error) {
	u, err := url.Parse(l.BaseURL)
	if err != nil {
		return loadResult{}, err
	}
	conns := max(l.Conns, 1)
	var bodies [][]byte
	var put []byte
	switch {
	case l.Sc.Call:
		bodies = g.callBodies(l.Sc.Canonical)
	case l.Sc.Put:
		put = g.putBody()
	}
	perWorker := int64(maxRequestsPerRun / conns)
	type workerResult struct {
		hist         histogram
		n, non2xx    int64
		socketErrors int64
	}
	results := make([]workerResult, conns)
	start := time.Now()
	deadline := start.Add(l.Duration)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			res := &results[w]
			hc := &fasthttp.HostClient{
				Addr:                          u.Host,
				MaxConns:                      1,
				MaxIdemponentCallAttempts:     1,
				RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
				ReadTimeout:                   10 * time.Second,
				WriteTimeout:                  10 * time.Second,
				MaxIdleConnDuration:           time.Minute,
				NoDefaultUserAgentHeader:      true,
				DisableHeaderNamesNormalizing: true,
				StreamResponseBody:            l.Sc.WantBody > 0,
			}
			defer hc.CloseIdleConnections()
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(l.BaseURL + l.Sc.Path)
			req.Header.SetMethod(l.Sc.Method)
			req.Header.Set("Authorization", "Bearer bench.token.value")
			if l.Sc.ContentType != "" {
				req.Header.SetContentType(l.Sc.ContentType)
			}
			if put != nil {
				req.SetBodyRaw(put)
			}
			buf := make([]byte, 64<<10)
			// Workers start at different numbers: all of them together walk
			// through the distinct numbers, not the same few.
			k := w * (distinctNumbers / conns)
			for res.n < perWorker && ctx.Err() == nil {
				now := time.Now()
				if !now.Before(deadline) {
					break
				}
				if bodies != nil {
					req.SetBodyRaw(bodies[k%len(bodies)])
					k++
				}
				t0 := now
				err := hc.Do(req, resp)
				ok := err == nil
				if ok && l.Sc.WantBody > 0 {
					var got int64
					if bs := resp.BodyStream(); bs != nil {
						got, err = io.CopyBuffer(io.Discard, onlyReader{bs}, buf)
						_ = resp.CloseBodyStream()
					} else {
						got = int64(len(resp.Body()))
					}
					ok = err == nil && got == int64(l.Sc.WantBody)
				}
				d := time.Since(t0)
				res.n++
				switch {
				case !ok:
					res.socketErrors++
					if err != nil && !errors.Is(err, fasthttp.ErrConnectionClosed) {
						// Do not spin on a target that is down.
						time.Sleep(time.Millisecond)
					}
				case resp.StatusCode() > 399:
					res.non2xx++
					res.hist.add(d)
				default:
					res.hist.add(d)
				}
				resp.Reset()
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var r loadResult
	var h histogram
	for i := range results {
		h.merge(&results[i].hist)
		r.Requests += results[i].n
		r.Non2xx += results[i].non2xx
		r.SocketErrors += results[i].socketErrors
	}
	r.Elapsed = elapsed
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	r.P50, r.P99 = h.quantile(0.50), h.quantile(0.99)
	return r, ctx.Err()
}

// histogram is a log-linear latency histogram in nanoseconds: exact below
// 128 ns, then 64 buckets per power of two (at most 1.6% off).
type histogram struct {
	counts [64 * 64]uint64
	total  uint64
}

func histIndex(ns uint64) int {
	if ns < 128 {
		return int(ns)
	}
	shift := bits.Len64(ns) - 7
	return 64*(shift+1) + int(ns>>uint(shift)) - 64
}

// histValue is the middle of bucket i.
func histValue(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	shift := i/64 - 1
	m := uint64(i%64 + 64)
	return m<<uint(shift) + (uint64(1)<<uint(shift))/2
}

func (h *histogram) add(d time.Duration) {
	ns := uint64(max(d, 0))
	i := histIndex(ns)
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the latency below which a share q of the samples lie.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(histValue(i))
		}
	}
	return time.Duration(histValue(len(h.counts) - 1))
}
