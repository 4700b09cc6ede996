package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// serveProc is a running `callfix serve`.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	srv    *testsupport.Serve
	stderr *testsupport.Buffer
	admin  string // the admin address, once addr has returned
}

// listenRe finds a listen address in the log.
var listenRe = regexp.MustCompile(`"listen":"(127\.0\.0\.1:\d+)"`)

// startServe runs `callfix serve` with args, without the test process's
// CALLFIX_* and OTEL_* variables. The process is killed when the test ends
// if it is still running.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{t: t, stderr: &testsupport.Buffer{}}
	p.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	p.cmd.Env = testsupport.CleanEnv(os.Environ())
	srv, err := testsupport.StartServe(p.cmd, func(line []byte) { p.stderr.Write(append(line, '\n')) })
	if err != nil {
		t.Fatalf("starting callfix serve: %v", err)
	}
	p.srv = srv
	t.Cleanup(srv.Kill)
	return p
}

// addr waits for the proxy's listen address in the log.
func (p *serveProc) addr() string {
	p.t.Helper()
	listen, admin, err := p.srv.Serving(10*time.Second, nil)
	if err != nil {
		p.t.Fatalf("callfix serve %v:\n%s", err, p.stderr.String())
	}
	p.admin = admin
	return listen
}

// wait waits up to d for the process to exit and returns its exit code,
// or -1 when it is still running.
func (p *serveProc) wait(d time.Duration) int { return p.srv.Wait(d) }

// memory returns VmHWM and VmRSS of the process, in bytes.
func (p *serveProc) memory() (hwm, rss int64) {
	p.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Skipf("cannot read the child's memory from /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmHWM":
			hwm = n << 10
		case "VmRSS":
			rss = n << 10
		}
	}
	if hwm == 0 || rss == 0 {
		p.t.Skipf("no VmHWM/VmRSS in /proc/%d/status", p.cmd.Process.Pid)
	}
	return hwm, rss
}

// slowUpstream answers every request as upstreamtest.OK does, after d.
func slowUpstream(t *testing.T, d time.Duration) *upstreamtest.Upstream {
	return upstreamtest.Start(t, func(q *upstreamtest.Request) upstreamtest.Response {
		resp := upstreamtest.OK(q)
		resp.Delay = d
		return resp
	})
}

// httpClient talks to loopback only, never through an environment proxy.
var httpClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}, Timeout: 60 * time.Second}

// patternSHA is the SHA-256 of n bytes of upstreamtest's BodyLen pattern.
func patternSHA(n int64) string {
	var chunk [32 << 10]byte
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}
	h := sha256.New()
	for left := n; left > 0; {
		k := min(left, int64(len(chunk)))
		h.Write(chunk[:k])
		left -= k
	}
	return hex.EncodeToString(h.Sum(nil))
}

// A 100 MiB upload and a 100 MiB download through the real binary stream:
// the process's peak memory rises by less than 16 MiB, and every byte
// arrives.
func TestServe_HundredMiBEachWay_StreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB")
	}
	const size = 100 << 20
	up := upstreamtest.Start(t, func(q *upstreamtest.Request) upstreamtest.Response {
		if q.Method == "GET" && q.Target == "/api/v2/downloads/big" {
			return upstreamtest.Response{Status: 200, Header: []upstreamtest.Header{{Name: "Content-Type", Value: "application/octet-stream"}}, BodyLen: size}
		}
		return upstreamtest.OK(q)
	})
	up.DiscardBodies = true
	up.Count() // publishes DiscardBodies to the connection goroutines
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
		"--set", "server.shutdown_delay=0")
	base := "http://" + p.addr()

	// Warm up: the first requests allocate the pools that later ones reuse.
	for range 3 {
		resp, err := httpClient.Get(base + "/api/v2/users/me")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond)
	hwm0, rss0 := p.memory()

	// Upload: generated on the fly, hashed as it is sent.
	sent := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size), sent)
	req, err := http.NewRequest("PUT", base+"/api/v2/blob", src)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, p.stderr.String())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("upload: status = %d, want 200", resp.StatusCode)
	}
	var got *upstreamtest.Request
	for _, q := range up.Requests() {
		if q.Method == "PUT" {
			got = &q
		}
	}
	if want := hex.EncodeToString(sent.Sum(nil)); got == nil || got.BodyLen != size || got.BodySHA256 != want {
		t.Errorf("upload: upstream received %+v, want %d bytes with sha %s", got, size, want)
	}
	hwm1, rss1 := p.memory()

	// Download: hashed as it arrives, never held.
	resp, err = httpClient.Get(base + "/api/v2/downloads/big")
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != size || hex.EncodeToString(h.Sum(nil)) != patternSHA(size) {
		t.Errorf("download: status %d, %d bytes, error %v, sha match %v; want 200, %d bytes, the upstream's bytes",
			resp.StatusCode, n, err, hex.EncodeToString(h.Sum(nil)) == patternSHA(size), size)
	}
	hwm2, rss2 := p.memory()

	const bound = 16 << 20
	t.Logf("VmHWM %d → %d → %d KiB, VmRSS %d → %d → %d KiB", hwm0>>10, hwm1>>10, hwm2>>10, rss0>>10, rss1>>10, rss2>>10)
	if rise := hwm2 - hwm0; rise >= bound {
		t.Errorf("peak memory (VmHWM) rose by %d KiB over 100 MiB each way, want under %d KiB", rise>>10, bound>>10)
	}
	if rise := rss2 - rss0; rise >= bound {
		t.Errorf("resident memory (VmRSS) rose by %d KiB over 100 MiB each way, want under %d KiB", rise>>10, bound>>10)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit after SIGTERM = %d, want 0:\n%s", code, p.stderr.String())
	}
}

// SIGTERM with nothing in flight and no shutdown delay: callfix exits 0
// at once.
func TestServe_SIGTERM_Idle_Exits0Within3s(t *testing.T) {
	up := upstreamtest.Start(t, nil)
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
		"--set", "server.shutdown_delay=0")
	addr := p.addr()
	if p.admin == "" {
		t.Errorf("the listen log line has no admin_listen address:\n%s", p.stderr.String())
	} else if resp, err := httpClient.Get("http://" + p.admin + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /readyz = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(3 * time.Second)
	if code != 0 {
		t.Errorf("exit = %d within 3s of SIGTERM (-1: still running), want 0:\n%s", code, p.stderr.String())
	}
	t.Logf("exited %s after SIGTERM", time.Since(start))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after exit", addr)
	}
}

// SIGTERM with a request in flight: it is answered, then callfix exits 0
// (the request outlasts the shutdown delay, and is still waited for).
func TestServe_SIGTERM_InFlightRequestFinishes(t *testing.T) {
	up := slowUpstream(t, 700*time.Millisecond)
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
		"--set", "server.shutdown_delay=200ms")
	base := "http://" + p.addr()
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := httpClient.Post(base+"/api/v2/conversations/calls", "application/json", strings.NewReader(`{"phoneNumber":"3172224567"}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, b, err}
	}()
	if !up.Wait(1, 10*time.Second) {
		t.Fatalf("the request did not reach the upstream:\n%s", p.stderr.String())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	res := <-done
	if res.err != nil || res.status != 200 {
		t.Errorf("in-flight request: %d %s %v, want 200", res.status, res.body, res.err)
	}
	if got := string(up.Requests()[0].Body); got != `{"phoneNumber":"tel:+13172224567"}` {
		t.Errorf("upstream body = %s, want the rewritten one", got)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit = %d, want 0:\n%s", code, p.stderr.String())
	}
}

// A configuration with problems: exit 2 before listening, every problem
// named.
func TestServe_BadConfig_Exits2(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		p := startServe(t, append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...)...)
		code := p.wait(10 * time.Second)
		if code != 2 || !strings.Contains(p.stderr.String(), want) {
			t.Errorf("serve %v: exit %d (-1: still running), stderr %q; want exit 2 and %q", args, code, p.stderr.String(), want)
		}
		if listenRe.MatchString(p.stderr.String()) {
			t.Errorf("serve %v: logged a listen address with a bad configuration", args)
		}
	}
	f(`mode (from --mode): "block" is not a mode`, "--mode", "block")
	f(`region (from --region): "mars-1" is not a Genesys Cloud region`, "--region", "mars-1")
	f(`upstream.api (from --upstream-api)`, "--upstream-api", "ftp://127.0.0.1:1")
	f(`upstream.api (from --upstream-api)`, "--upstream-api", "http://api.example.com")
	f(`limits.max_body_bytes`, "--set", "limits.max_body_bytes=lots")
	f(`flag provided but not defined: -nope`, "--nope")
	f(`unexpected argument`, "extra.yaml")
}

// A listen address that is taken: exit 1, not 2 (the configuration is
// fine).
func TestServe_ListenAddressInUse_Exits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up := upstreamtest.Start(t, nil)
	p := startServe(t, "--listen", ln.Addr().String(), "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL)
	if code := p.wait(10 * time.Second); code != 1 || !strings.Contains(p.stderr.String(), "cannot listen on "+ln.Addr().String()) {
		t.Errorf("exit %d (-1: still running), stderr %q; want exit 1 naming the address", code, p.stderr.String())
	}
}

// server.shutdown_grace bounds the wait for requests in flight: a request
// that outlasts it does not hold the process, which exits 1 and says so.
func TestServe_SIGTERM_ShutdownGraceEnds_Exits1(t *testing.T) {
	up := slowUpstream(t, 2*time.Second)
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
		"--set", "server.shutdown_grace=300ms", "--set", "server.shutdown_delay=0")
	base := "http://" + p.addr()
	go func() {
		if resp, err := httpClient.Get(base + "/api/v2/users/me"); err == nil {
			resp.Body.Close()
		}
	}()
	if !up.Wait(1, 10*time.Second) {
		t.Fatalf("the request did not reach the upstream:\n%s", p.stderr.String())
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	code := p.wait(1500 * time.Millisecond) // well before the 2s answer
	if code != 1 {
		t.Errorf("exit = %d, want 1 once the 300ms grace ended:\n%s", code, p.stderr.String())
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("exited %s after SIGTERM, before the 300ms grace ended", d)
	}
	if !strings.Contains(p.stderr.String(), "shutdown grace period ended") {
		t.Errorf("the log does not say the grace period ended:\n%s", p.stderr.String())
	}
}
