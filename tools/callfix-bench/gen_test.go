package main

import (
	"context"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The Go generator against the harness's own upstream, in process, for
// 200 ms per scenario: requests complete without errors, the latencies
// are ordered, the upstream got what the scenario sends, and the run ends
// on time.
func TestGoGen_AgainstUpstream(t *testing.T) {
	up, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	g := newGoGen()
	for _, sc := range allScenarios {
		t.Run(sc.Name, func(t *testing.T) {
			conns := 4
			if sc.WantBody > 0 {
				conns = 2
			}
			up.quiesce(time.Second)
			before := up.counts()
			start := time.Now()
			r, err := g.Run(context.Background(), load{BaseURL: "http://" + up.Addr(), Sc: sc, Conns: conns, Duration: 200 * time.Millisecond})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			up.quiesce(time.Second)
			got := up.counts().sub(before)
			if took > 200*time.Millisecond+5*time.Second {
				t.Errorf("a 200ms run took %v", took)
			}
			if r.Requests == 0 || r.Errors() != 0 {
				t.Fatalf("%d requests, %d errors", r.Requests, r.Errors())
			}
			if r.P50 <= 0 || r.P50 > r.P99 || r.RPS <= 0 {
				t.Errorf("p50 %v p99 %v rps %v", r.P50, r.P99, r.RPS)
			}
			if got.Requests != r.Requests || got.NotFound != 0 {
				t.Errorf("upstream saw %d requests (%d not found), the generator counted %d", got.Requests, got.NotFound, r.Requests)
			}
			switch {
			case sc.Call:
				want := int64(0)
				if sc.Canonical {
					want = got.Calls
				}
				if got.Calls != r.Requests || got.TelPlus1 != want || got.CallerE164 != want {
					t.Errorf("calls %d, with tel:+1 %d, with callerId +1 %d; want %d, %d, %d", got.Calls, got.TelPlus1, got.CallerE164, r.Requests, want, want)
				}
			case sc.Put:
				if got.Puts != r.Requests || got.PutBad != 0 {
					t.Errorf("uploads: %d whole, %d not, want %d whole", got.Puts, got.PutBad, r.Requests)
				}
			case sc.WantBody > 0:
				if got.Bigs != r.Requests {
					t.Errorf("10 MiB answers: %d sent, %d read", got.Bigs, r.Requests)
				}
			}
		})
	}
}

// Answers that are not 2xx/3xx are errors, and so is a body shorter than
// the scenario wants.
func TestGoGen_CountsErrors(t *testing.T) {
	var n atomic.Int64
	addr := serveFunc(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1)%2 == 0 {
			ctx.SetStatusCode(503)
		}
		ctx.SetBodyString("short")
	})
	g := newGoGen()
	r, err := g.Run(context.Background(), load{BaseURL: "http://" + addr, Sc: allScenarios[0], Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Non2xx == 0 || r.Non2xx > r.Requests/2+1 || r.SocketErrors != 0 {
		t.Errorf("%d requests: %d non-2xx, %d socket errors; want about half non-2xx", r.Requests, r.Non2xx, r.SocketErrors)
	}
	r, err = g.Run(context.Background(), load{BaseURL: "http://" + addr, Sc: allScenarios[4], Conns: 1, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.SocketErrors != r.Requests || r.Requests == 0 {
		t.Errorf("get-10m answered with 5 bytes: %d requests, %d errors; want all errors", r.Requests, r.SocketErrors)
	}
}

// A target that is not there: every attempt is a socket error, the run
// still ends on time, and the loop does not spin.
func TestGoGen_TargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	r, err := newGoGen().Run(context.Background(), load{BaseURL: "http://" + addr, Sc: allScenarios[0], Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v", took)
	}
	if r.SocketErrors == 0 || r.SocketErrors != r.Requests || r.Requests > 2*200 {
		t.Errorf("%d requests, %d socket errors", r.Requests, r.SocketErrors)
	}
}

// A cancelled context stops the workers at once.
func TestGoGen_Cancel(t *testing.T) {
	addr := serveFunc(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("{}") })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := newGoGen().Run(ctx, load{BaseURL: "http://" + addr, Sc: allScenarios[0], Conns: 2, Duration: time.Minute})
	if err == nil {
		t.Error("no error from a cancelled run")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a run cancelled after 50ms took %v", took)
	}
}

func serveFunc(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, Logger: discardLogger{}}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func TestHistogram(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("empty histogram")
	}
	// 1..10000 µs, uniformly: p50 ≈ 5 ms, p99 ≈ 9.9 ms, within 2%.
	for us := 1; us <= 10000; us++ {
		h.add(time.Duration(us) * time.Microsecond)
	}
	for q, want := range map[float64]float64{0.5: 5e6, 0.99: 9.9e6, 1: 10e6} {
		got := float64(h.quantile(q))
		if math.Abs(got-want)/want > 0.02 {
			t.Errorf("q%v = %v, want %v ±2%%", q, time.Duration(got), time.Duration(want))
		}
	}
	var o histogram
	o.add(time.Hour * 2)
	o.add(-time.Second)
	h.merge(&o)
	if h.total != 10002 {
		t.Errorf("total %d", h.total)
	}
	for _, ns := range []uint64{0, 1, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345} {
		i := histIndex(ns)
		v := histValue(i)
		if ns >= 128 && math.Abs(float64(v)-float64(ns))/float64(ns) > 1.0/64 {
			t.Errorf("%d lands in bucket %d of value %d", ns, i, v)
		}
		if ns < 128 && v != ns {
			t.Errorf("%d: bucket value %d", ns, v)
		}
	}
}
