package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// Why proxy/transport.go exists: each test below runs one scenario through
// callfix's upstream client (newUpstream: a fasthttp.HostClient with
// callfix's transport) and through a fasthttp.HostClient set up as fasthttp
// is used without it, and fails when fasthttp behaves as callfix must, so
// that the piece of the transport it holds can go.

// callfixClient is the HostClient callfix forwards to url with, with the
// given upstream.timeout.
func callfixClient(t *testing.T, rawURL string, timeout time.Duration, dial func(string) (net.Conn, error)) *fasthttp.HostClient {
	t.Helper()
	c := config.Defaults()
	c.Upstream.Timeout = timeout
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	up, err := newUpstream("api", telemetry.Upstream{}, u, &c, nil, dial)
	if err != nil {
		t.Fatal(err)
	}
	return up.client
}

// plainClient is fasthttp's own client as a proxy would set it up:
// streaming bodies, one timeout for reading the answer, the header bytes
// as they are.
func plainClient(addr string, timeout time.Duration, dial func(string) (net.Conn, error)) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		Dial:                          dial,
		StreamResponseBody:            true,
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		MaxConnWaitTimeout:            timeout,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
	}
}

func newRequest(method, addr, path string, body []byte) *fasthttp.Request {
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost(addr)
	if body != nil {
		req.SetBody(body)
		req.Header.SetContentType("application/json")
	}
	return req
}

// drainBody reads and closes resp's body, streamed or not.
func drainBody(resp *fasthttp.Response) (int64, error) {
	if !resp.IsBodyStream() {
		return int64(len(resp.Body())), nil
	}
	n, err := io.Copy(io.Discard, resp.BodyStream())
	if cerr := resp.CloseBodyStream(); err == nil {
		err = cerr
	}
	return n, err
}

// upstream.timeout bounds the exchange up to the response headers; a
// body is bounded per read. fasthttp's ReadTimeout (and a request's own
// timeout) holds for the whole body, so a 10 MiB download that takes
// longer than a call request may wait for its answer is cut off.
func TestTransport_WhatFasthttpDoesNot_BoundOnlyTheHeaders(t *testing.T) {
	const (
		chunks  = 10
		chunk   = 1 << 20
		timeout = 500 * time.Millisecond
		pause   = 150 * time.Millisecond // the pauses add up to 2.7 times the timeout
	)
	block := bytes.Repeat([]byte("a"), chunk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(chunks*chunk))
		for i := range chunks {
			if i > 0 {
				time.Sleep(pause)
			}
			if _, err := w.Write(block); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	download := func(hc *fasthttp.HostClient, req *fasthttp.Request) (int64, time.Duration, error) {
		resp := &fasthttp.Response{}
		start := time.Now()
		if err := hc.Do(req, resp); err != nil {
			return 0, time.Since(start), err
		}
		n, err := drainBody(resp)
		return n, time.Since(start), err
	}

	n, took, err := download(callfixClient(t, srv.URL, timeout, nil), newRequest("GET", addr, "/download", nil))
	if err != nil || n != chunks*chunk {
		t.Errorf("callfix: %d bytes in %v, %v; want all %d bytes", n, took, err, chunks*chunk)
	}
	if took < timeout {
		t.Errorf("callfix: the download took %v, not longer than the timeout %v: the test proves nothing", took, timeout)
	}

	n, took, err = download(plainClient(addr, timeout, nil), newRequest("GET", addr, "/download", nil))
	if err == nil || n == chunks*chunk {
		t.Errorf("fasthttp with ReadTimeout %v read the %v download whole (%d bytes, %v): callfix's header-only bound may not be needed any more", timeout, took, n, err)
	} else if !isTimeout(err) {
		t.Errorf("fasthttp with ReadTimeout: %v, want a timeout", err)
	}

	plain := plainClient(addr, 0, nil)
	req := newRequest("GET", addr, "/download", nil)
	req.SetTimeout(timeout)
	n, took, err = download(plain, req)
	if err == nil || n == chunks*chunk {
		t.Errorf("fasthttp with a request timeout of %v read the %v download whole (%d bytes, %v): callfix's header-only bound may not be needed any more", timeout, took, n, err)
	} else if !isTimeout(err) {
		t.Errorf("fasthttp with a request timeout: %v, want a timeout", err)
	}
}

// staleUpstream answers every request and closes the connection at once,
// without Connection: close, as a server (or the load balancer in front of
// Genesys) does when its keep-alive timeout runs out: the connection the
// client pools is closed by the time it is used again.
func staleUpstream(t *testing.T) *upstreamtest.Upstream {
	return upstreamtest.Start(t, func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")}
	})
}

// Every pooled connection is checked for a close by the upstream before
// anything is written to it, and a closed one replaced, so a POST after an
// idle moment reaches the upstream once. fasthttp writes the POST to the
// dead connection and fails, and rightly does not retry a POST.
func TestTransport_WhatFasthttpDoesNot_StaleConnectionCheck(t *testing.T) {
	post := func(name string, hc *fasthttp.HostClient, u *upstreamtest.Upstream) ([]upstreamtest.Request, error) {
		t.Helper()
		warm := newRequest("GET", u.Addr, "/api/v2/users/me", nil)
		resp := &fasthttp.Response{}
		if err := hc.Do(warm, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%s: warm-up: %d, %v", name, resp.StatusCode(), err)
		}
		if _, err := drainBody(resp); err != nil {
			t.Fatalf("%s: warm-up body: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond) // the upstream's FIN arrives
		err := hc.Do(newRequest("POST", u.Addr, "/api/v2/conversations/calls", []byte(`{"phoneNumber":"+13172224567"}`)), resp)
		if err == nil {
			_, err = drainBody(resp)
		}
		time.Sleep(50 * time.Millisecond)
		return u.Requests()[1:], err
	}

	u := staleUpstream(t)
	reqs, err := post("callfix", callfixClient(t, u.URL, time.Second, nil), u)
	if err != nil {
		t.Errorf("callfix: POST after the pooled connection was closed: %v, want the upstream's answer", err)
	}
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Conn != 2 {
		t.Errorf("callfix: upstream received %d requests after the warm-up, want one POST on a new connection", len(reqs))
	}

	u = staleUpstream(t)
	reqs, err = post("fasthttp", plainClient(u.Addr, time.Second, nil), u)
	if err == nil {
		t.Errorf("fasthttp sent the POST on a new connection after the pooled one was closed: callfix's stale check may not be needed any more")
	}
	if len(reqs) != 0 {
		t.Errorf("fasthttp: upstream received %d requests after the warm-up, want none (the POST went to the closed connection)", len(reqs))
	}
}

// closesOnReuse answers the first request of each connection and closes
// every connection without a word on its second request: what a stale
// connection looks like when the upstream's close races the request. With
// always set it closes on every request.
func closesOnReuse(t *testing.T, always bool) *upstreamtest.Upstream {
	var mu sync.Mutex
	seen := map[int]bool{}
	return upstreamtest.Start(t, func(q *upstreamtest.Request) upstreamtest.Response {
		mu.Lock()
		defer mu.Unlock()
		if always || seen[q.Conn] {
			return upstreamtest.Response{Close: true}
		}
		seen[q.Conn] = true
		return upstreamtest.OK(q)
	})
}

// Only a GET, HEAD or OPTIONS without a body is sent twice, once, on a new
// connection, and only when it failed on a reused connection before any
// answer. fasthttp's default retries also a PUT and a GET with a body,
// up to five times; and even its RetryIfErr set to callfix's rule cannot
// tell a reused connection from a new one, so it retries an upstream that
// fails on every connection.
func TestTransport_WhatFasthttpDoesNot_RetryOnlyABodylessReadOnce(t *testing.T) {
	sent := func(hc *fasthttp.HostClient, u *upstreamtest.Upstream, warm bool, method string, body []byte) (int, error) {
		t.Helper()
		resp := &fasthttp.Response{}
		if warm {
			if err := hc.Do(newRequest("GET", u.Addr, "/warm", nil), resp); err != nil {
				t.Fatalf("warm-up: %v", err)
			}
			drainBody(resp)
		}
		before := u.Count()
		err := hc.Do(newRequest(method, u.Addr, "/api/v2/users/u1", body), resp)
		if err == nil {
			drainBody(resp)
		}
		time.Sleep(50 * time.Millisecond)
		return u.Count() - before, err
	}
	onceRule := func(req *fasthttp.Request, attempts int, _ error) (bool, bool) {
		return false, attempts == 1 && replayable(req)
	}

	for _, c := range []struct {
		name             string
		method           string
		body             []byte
		always           bool
		callfix, plain   int // requests the upstream receives
		configured       int // through fasthttp with RetryIfErr set to callfix's rule
		callfixErr, fErr bool
	}{
		{name: "PUT on a reused connection", method: "PUT", body: []byte(`{}`), callfix: 1, plain: 2, configured: 1, callfixErr: true},
		{name: "GET with a body on a reused connection", method: "GET", body: []byte(`{}`), callfix: 1, plain: 2, configured: 1, callfixErr: true},
		{name: "GET, every connection closes", method: "GET", always: true, callfix: 1, plain: fasthttp.DefaultMaxIdemponentCallAttempts, configured: 2, callfixErr: true, fErr: true},
	} {
		u := closesOnReuse(t, c.always)
		n, err := sent(callfixClient(t, u.URL, time.Second, nil), u, !c.always, c.method, c.body)
		if n != c.callfix || (err != nil) != c.callfixErr {
			t.Errorf("callfix, %s: upstream received %d, error %v; want %d", c.name, n, err, c.callfix)
		}
		u = closesOnReuse(t, c.always)
		n, err = sent(plainClient(u.Addr, time.Second, nil), u, !c.always, c.method, c.body)
		if n != c.plain || (err != nil) != c.fErr {
			t.Errorf("fasthttp, %s: upstream received %d, error %v; want %d: if fasthttp no longer retries this, its retries may do for callfix", c.name, n, err, c.plain)
		}
		u = closesOnReuse(t, c.always)
		hc := plainClient(u.Addr, time.Second, nil)
		hc.RetryIfErr = onceRule
		n, _ = sent(hc, u, !c.always, c.method, c.body)
		if n != c.configured {
			t.Errorf("fasthttp with callfix's rule, %s: upstream received %d, want %d", c.name, n, c.configured)
		}
	}
}

// A body larger than smallBody is streamed through a pooled reader and
// costs no allocation; fasthttp's streaming allocates for every response
// (its clientStreamBody and the closures that release the connection).
func TestTransport_WhatFasthttpDoesNot_StreamWithZeroAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items); `make test` runs this without -race")
	}
	body := bytes.Repeat([]byte("a"), 4*smallBody)
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }, NoDefaultServerHeader: true, NoDefaultDate: true, NoDefaultContentType: true}
	go up.Serve(ln)
	defer func() { up.Shutdown(); ln.Close() }()
	dial := func(string) (net.Conn, error) { return ln.Dial() }

	allocs := func(hc *fasthttp.HostClient) float64 {
		req := newRequest("GET", "upstream.test", "/download", nil)
		resp := &fasthttp.Response{}
		run := func() {
			if err := hc.Do(req, resp); err != nil {
				t.Fatal(err)
			}
			if !resp.IsBodyStream() {
				t.Fatal("the body was not streamed")
			}
			if n, err := drainBody(resp); err != nil || n != int64(len(body)) {
				t.Fatalf("body: %d bytes, %v", n, err)
			}
		}
		for range 100 {
			run()
		}
		return testing.AllocsPerRun(500, run)
	}
	if n := allocs(callfixClient(t, "http://upstream.test", time.Second, dial)); n != 0 {
		t.Errorf("callfix: %v allocations per streamed response, want 0", n)
	}
	n := allocs(plainClient("upstream.test", time.Second, dial))
	if n == 0 {
		t.Errorf("fasthttp streamed a response without allocating: callfix's own body reader may not be needed any more")
	}
	t.Logf("fasthttp: %v allocations per streamed response", n)
}

// A body up to smallBody is read whole before the client gets anything,
// so that one cut off by the upstream is still a clean error answer (502)
// and not a 200 whose body breaks off. fasthttp's streaming streams every
// body, however small: Do succeeds and the client would get the headers
// before the break.
func TestTransport_WhatFasthttpDoesNot_ReadSmallBodiesWhole(t *testing.T) {
	u := upstreamtest.Start(t, func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Raw: []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":\"cut off")}
	})
	resp := &fasthttp.Response{}
	if err := callfixClient(t, u.URL, time.Second, nil).Do(newRequest("GET", u.Addr, "/api/v2/users/me", nil), resp); err == nil {
		t.Errorf("callfix: a small body cut off by the upstream: Do succeeded (status %d), want an error before the client gets anything", resp.StatusCode())
	}
	resp = &fasthttp.Response{}
	err := plainClient(u.Addr, time.Second, nil).Do(newRequest("GET", u.Addr, "/api/v2/users/me", nil), resp)
	if err != nil {
		t.Errorf("fasthttp's streaming client read a small body whole (%v): callfix's small-body read may not be needed any more", err)
	} else if _, err := drainBody(resp); err == nil {
		t.Errorf("fasthttp: the cut-off body read without an error")
	}
}
