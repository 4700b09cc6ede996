package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// drainClient is one client connection that sends call POSTs and reads
// the answers itself: nothing is retried or hidden, as net/http's
// Transport would for a request on a reused connection. It reconnects
// when callfix asks it to (Connection: close).
type drainClient struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// do sends one request and reports its status, or an error when no HTTP
// answer came; closeAsked is the answer's Connection: close.
func (d *drainClient) do(keepAlive bool) (status int, closeAsked bool, err error) {
	if d.c == nil {
		if d.c, err = net.DialTimeout("tcp", d.addr, 2*time.Second); err != nil {
			return 0, false, err
		}
		d.br = bufio.NewReader(d.c)
	}
	body := `{"phoneNumber":"3172224567"}`
	conn := ""
	if !keepAlive {
		conn = "Connection: close\r\n"
	}
	d.c.SetDeadline(time.Now().Add(5 * time.Second))
	req := fmt.Sprintf("POST /api/v2/conversations/calls HTTP/1.1\r\nHost: callfix\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", conn, len(body), body)
	if _, err = io.WriteString(d.c, req); err == nil {
		var resp *http.Response
		if resp, err = http.ReadResponse(d.br, nil); err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status, closeAsked = resp.StatusCode, resp.Close
		}
	}
	if err != nil || closeAsked || !keepAlive {
		d.c.Close()
		d.c = nil
	}
	return status, closeAsked, err
}

// SIGTERM under steady load, with clients that stop sending only once they
// see /readyz false (as Kubernetes stops routing some time after the pod
// is marked not ready): server.shutdown_delay keeps callfix accepting and
// serving meanwhile, so no request fails, and callfix exits 0. Keep-alive
// clients are asked to reconnect. With server.shutdown_delay=0 the same
// clients meet refused and closed connections (checked below too), which
// is the failure the delay exists to prevent.
func TestServe_SIGTERM_DrainUnderLoad_NoFailedRequests(t *testing.T) {
	up := upstreamtest.Start(t, func(q *upstreamtest.Request) upstreamtest.Response {
		resp := upstreamtest.OK(q)
		resp.Delay = 2 * time.Millisecond
		return resp
	})
	// lag stands for the time a load balancer takes to act on readiness:
	// the clients go on sending that long after they see /readyz false.
	const lag = 400 * time.Millisecond
	run := func(delay string) (ok, failed, afterNotReady, closeAsked int64, code int, exitAfter time.Duration, stderr string) {
		p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
			"--set", "server.shutdown_delay="+delay, "--set", "audit.enabled=false")
		addr := p.addr()
		var stop, notReady atomic.Bool
		var nOK, nFailed, nAfter, nClose atomic.Int64
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := &drainClient{addr: addr}
				defer func() {
					if d.c != nil {
						d.c.Close()
					}
				}()
				for !stop.Load() {
					after := notReady.Load()
					status, closeAsked, err := d.do(i%2 == 0)
					switch {
					case err == nil && status == 200:
						nOK.Add(1)
						if after {
							nAfter.Add(1)
						}
					default:
						nFailed.Add(1)
					}
					if closeAsked && i%2 == 0 {
						nClose.Add(1)
					}
				}
			}()
		}
		time.Sleep(500 * time.Millisecond) // steady load
		admin := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
		start := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		for time.Since(start) < 10*time.Second {
			resp, err := admin.Get("http://" + p.admin + "/readyz")
			if err != nil || resp.StatusCode != 200 {
				if resp != nil {
					resp.Body.Close()
				}
				break
			}
			resp.Body.Close()
			time.Sleep(50 * time.Millisecond)
		}
		notReady.Store(true)
		time.Sleep(lag)
		stop.Store(true)
		wg.Wait()
		code = p.wait(10 * time.Second)
		return nOK.Load(), nFailed.Load(), nAfter.Load(), nClose.Load(), code, time.Since(start), p.stderr.String()
	}

	ok, failed, after, closeAsked, code, exitAfter, stderr := run("1500ms")
	t.Logf("shutdown_delay 1500ms: %d answered 200 (%d after /readyz turned false), %d failed, %d Connection: close; exit %d after %s", ok, after, failed, closeAsked, code, exitAfter)
	if failed != 0 {
		t.Errorf("%d requests failed during the drain, want 0", failed)
	}
	if ok == 0 || after == 0 {
		t.Errorf("%d requests answered, %d of them after /readyz turned false; want both > 0 (the load did not reach the drain)", ok, after)
	}
	if closeAsked == 0 {
		t.Errorf("no keep-alive client was asked to reconnect (Connection: close) during the drain")
	}
	if code != 0 {
		t.Errorf("exit = %d (-1: still running), want 0:\n%s", code, stderr)
	}
	if exitAfter < 1500*time.Millisecond {
		t.Errorf("exited %s after SIGTERM, before the 1.5s shutdown delay ended", exitAfter)
	}
	if !strings.Contains(stderr, `"delay":"1.5s"`) {
		t.Errorf("the shutdown log line does not give the delay:\n%s", stderr)
	}

	// The same clients without a delay: requests fail. This is what the
	// test above would see if the delay were not honoured.
	_, failed, _, _, code, _, stderr = run("0s")
	t.Logf("shutdown_delay 0: %d failed; exit %d", failed, code)
	if failed == 0 {
		t.Errorf("without a shutdown delay no request failed: the load does not exercise the drain")
	}
	if code != 0 {
		t.Errorf("exit with shutdown_delay 0 = %d, want 0:\n%s", code, stderr)
	}
}

// A second SIGTERM ends the shutdown delay at once.
func TestServe_SecondSIGTERM_EndsTheShutdownDelay(t *testing.T) {
	up := upstreamtest.Start(t, nil)
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
		"--set", "server.shutdown_delay=1m")
	p.addr()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if code := p.wait(0); code != -1 {
		t.Fatalf("exited %d within 300ms of SIGTERM with a 1m shutdown delay, want still serving:\n%s", code, p.stderr.String())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit = %d (-1: still running) after a second SIGTERM, want 0:\n%s", code, p.stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped %s after the first SIGTERM, want well before the 1m delay", d)
	}
	if !strings.Contains(p.stderr.String(), "the shutdown delay ends now") {
		t.Errorf("the log does not say the second signal ended the delay:\n%s", p.stderr.String())
	}
}
