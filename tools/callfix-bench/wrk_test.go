package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The samples in testdata are wrk 4.1.0's real output, captured against a
// small server: a clean run, one with 503s, read errors and timeouts, one
// whose latencies are in seconds (with wrk's trailing space), one without
// --latency, and a refused connection.
func TestParseWrk_Samples(t *testing.T) {
	cases := []struct {
		file               string
		requests           int64
		rps                float64
		p50, p99           time.Duration
		non2xx, socketErrs int64
		elapsed            time.Duration
	}{
		{"wrk-ok.txt", 34439, 31230.73, 387 * time.Microsecond, 20430 * time.Microsecond, 0, 0, 1100 * time.Millisecond},
		{"wrk-errors.txt", 15968, 7966.61, 68 * time.Microsecond, 1580 * time.Microsecond, 2281, 16 + 16, 2 * time.Second},
		{"wrk-seconds.txt", 8, 2.66, 1200 * time.Millisecond, 1200 * time.Millisecond, 0, 0, 3010 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseWrk(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != c.requests || r.RPS != c.rps || r.P50 != c.p50 || r.P99 != c.p99 || r.Non2xx != c.non2xx || r.SocketErrors != c.socketErrs || r.Elapsed != c.elapsed {
				t.Errorf("got requests %d rps %v p50 %v p99 %v non2xx %d socket %d elapsed %v\nwant %d %v %v %v %d %d %v",
					r.Requests, r.RPS, r.P50, r.P99, r.Non2xx, r.SocketErrors, r.Elapsed,
					c.requests, c.rps, c.p50, c.p99, c.non2xx, c.socketErrs, c.elapsed)
			}
			if r.Errors() != c.non2xx+c.socketErrs {
				t.Errorf("Errors() = %d, want non-2xx + socket errors = %d", r.Errors(), c.non2xx+c.socketErrs)
			}
		})
	}
}

func TestParseWrk_RejectsIncompleteOutput(t *testing.T) {
	for file, want := range map[string]string{
		"wrk-no-latency.txt": "latency distribution",
		"wrk-refused.txt":    "Requests/sec",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseWrk(string(b)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one mentioning %q", file, err, want)
		}
	}
	if _, err := parseWrk(""); err == nil {
		t.Error("empty output parsed")
	}
}

// Only the 50% and 99% lines of the distribution count: the Thread Stats
// "Latency" line above it must not be taken for them.
func TestParseWrk_PercentilesOnlyFromDistribution(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:1/x
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50m    99.00%   2.00h   50.00%
    Req/Sec     1.00k     0.00     1.00k   99.00%
  Latency Distribution
     50%    1.50m
     75%    1.60m
     90%    1.70m
     99%    1.00h
  1000 requests in 5.00s, 1.00MB read
Requests/sec:    200.00
Transfer/sec:    200.00KB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.P50 != 90*time.Second || r.P99 != time.Hour {
		t.Errorf("p50 %v p99 %v, want 1m30s and 1h", r.P50, r.P99)
	}
}

func TestWrkArgs(t *testing.T) {
	g := &wrkGen{bin: "wrk", scripts: "/s"}
	got := strings.Join(g.args(load{BaseURL: "http://127.0.0.1:9", Sc: allScenarios[2], Conns: 64, Threads: 2, Duration: 1500 * time.Millisecond}), " ")
	want := "-t2 -c64 -d2s --latency -s /s/call.lua http://127.0.0.1:9/api/v2/conversations/calls -- national"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	got = strings.Join(g.args(load{BaseURL: "http://h", Sc: allScenarios[0], Conns: 1, Threads: 2, Duration: time.Millisecond}), " ")
	if want := "-t1 -c1 -d1s --latency -s /s/get.lua http://h/api/v2/users/me"; got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
}

// recorder is an in-process server that keeps what wrk sends.
type recorder struct {
	mu      sync.Mutex
	bodies  map[string]int
	methods map[string]int
	ctypes  map[string]int
	auth    map[string]int
	n       int
}

func startRecorder(t *testing.T) string {
	t.Helper()
	rec := &recorder{bodies: map[string]int{}, methods: map[string]int{}, ctypes: map[string]int{}, auth: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		rec.mu.Lock()
		rec.n++
		if rec.n <= 20000 {
			rec.bodies[string(ctx.Request.Body())]++
		}
		rec.methods[string(ctx.Method())+" "+string(ctx.Path())]++
		rec.ctypes[string(ctx.Request.Header.ContentType())]++
		rec.auth[string(ctx.Request.Header.Peek("Authorization"))]++
		rec.mu.Unlock()
		ctx.SetBodyString(`{}`)
	}, Logger: discardLogger{}}
	go srv.Serve(ln)
	t.Cleanup(func() { _ = srv.Shutdown() })
	recorders.Store(ln.Addr().String(), rec)
	return "http://" + ln.Addr().String()
}

var recorders sync.Map

// The Lua scripts of tools/callfix-bench/assets, run by the real wrk for a second each:
// the call bodies are exactly the Go generator's (callBody), thousands of
// distinct ones, and every request has the method, path and headers of
// its scenario.
func TestWrk_LuaScripts(t *testing.T) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not on PATH")
	}
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	ps := newProcSet()
	t.Cleanup(ps.stopAll)
	g := &wrkGen{bin: bin, scripts: filepath.Join(root, "tools", "callfix-bench", "assets"), ps: ps}
	want := map[bool]map[string]bool{false: {}, true: {}}
	for k := 0; k < distinctNumbers; k++ {
		want[false][string(callBody(k, false))] = true
		want[true][string(callBody(k, true))] = true
	}
	put := string(putBody())
	for _, sc := range allScenarios {
		if sc.WantBody > 0 {
			continue // the same script as get-small
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			url := startRecorder(t)
			r, err := g.Run(context.Background(), load{BaseURL: url, Sc: sc, Conns: 4, Threads: 2, Duration: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := recorders.Load(strings.TrimPrefix(url, "http://"))
			rec := v.(*recorder)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if r.Requests == 0 || r.Errors() != 0 {
				t.Fatalf("wrk: %d requests, %d errors", r.Requests, r.Errors())
			}
			if len(rec.methods) != 1 || rec.methods[sc.Method+" "+sc.Path] == 0 {
				t.Errorf("requests: %v, want only %s %s", rec.methods, sc.Method, sc.Path)
			}
			if len(rec.auth) != 1 || rec.auth["Bearer bench.token.value"] == 0 {
				t.Errorf("Authorization: %v", rec.auth)
			}
			if len(rec.ctypes) != 1 || rec.ctypes[sc.ContentType] == 0 {
				t.Errorf("Content-Type: %v, want %q", rec.ctypes, sc.ContentType)
			}
			switch {
			case sc.Call:
				for body := range rec.bodies {
					if !want[sc.Canonical][body] {
						t.Fatalf("a body call.lua sent is not one of callBody(k, %v):\n%s", sc.Canonical, body)
					}
				}
				if n := len(rec.bodies); n < 1000 && n < rec.n/2 {
					t.Errorf("only %d distinct bodies in %d requests", n, rec.n)
				}
			case sc.Put:
				if len(rec.bodies) != 1 || rec.bodies[put] == 0 {
					t.Errorf("put-100k.lua sent %d distinct bodies, want the one of putBody()", len(rec.bodies))
				}
			default:
				if len(rec.bodies) != 1 || rec.bodies[""] == 0 {
					t.Errorf("GET with a body")
				}
			}
		})
	}
}

func TestCallBody(t *testing.T) {
	got := string(callBody(12345, false))
	want := `{"phoneNumber":"(317) 551-2345","callerId":"(317) 556-2345","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}]}`
	if got != want {
		t.Errorf("national:\n got %s\nwant %s", got, want)
	}
	got = string(callBody(distinctNumbers+7, true))
	if !strings.HasPrefix(got, `{"phoneNumber":"tel:+13175500007","callerId":"+13175550007",`) {
		t.Errorf("canonical: %s", got)
	}
	// The numbers are exactly call.lua's string.format patterns.
	for k := 0; k < distinctNumbers; k += 7 {
		if n, want := nationalNumber(k), fmt.Sprintf("(317) 55%d-%04d", k/10000, k%10000); n != want {
			t.Fatalf("nationalNumber(%d) = %s, want %s", k, n, want)
		}
		if n, want := e164Number(k), fmt.Sprintf("+131755%d%04d", k/10000, k%10000); n != want {
			t.Fatalf("e164Number(%d) = %s, want %s", k, n, want)
		}
	}
	seen := map[string]bool{}
	for _, b := range callBodies(false) {
		seen[string(b)] = true
	}
	if len(seen) != distinctNumbers {
		t.Errorf("%d distinct bodies, want %d", len(seen), distinctNumbers)
	}
	if !bytes.Equal(putBody()[:27], []byte("abcdefghijklmnopqrstuvwxyza")) || len(putBody()) != 102400 {
		t.Error("putBody")
	}
}
