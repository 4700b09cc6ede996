package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/upstreamtest"
	"github.com/callfix/callfix/proxy"
)

// ioTimeout bounds every socket operation of a test: a proxy that hangs
// fails the test instead of the package timeout.
const ioTimeout = 10 * time.Second

// rig is a proxy.Server on a loopback port in front of two recording
// upstreams, one for the API host and one for the login host.
type rig struct {
	t          testing.TB
	srv        *proxy.Server
	mgr        *config.Manager
	addr       string // the proxy's host:port
	api, login *upstreamtest.Upstream
	logs       *logBuffer

	serveErr chan error
	stopOnce sync.Once
}

// rigOptions configure startRig. The zero value works: both upstreams
// answer upstreamtest.OK and the configuration is the default one.
type rigOptions struct {
	// flags are config overrides by key name (limits.max_body_bytes=256).
	// upstream.api and upstream.login are set to the recording upstreams
	// unless given here.
	flags map[string]string
	// api and login answer the requests; nil means upstreamtest.OK.
	api, login upstreamtest.Handler
	// discard makes the upstreams keep only the length and hash of bodies.
	discard bool
	// observer is passed to proxy.Options.
	observer proxy.Observer
}

// startRig starts the upstreams and the proxy; everything is shut down
// when the test ends (the proxy first, so that it can finish its work).
func startRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, logs: &logBuffer{}}
	r.api = upstreamtest.Start(t, o.api)
	r.login = upstreamtest.Start(t, o.login)
	r.api.DiscardBodies, r.login.DiscardBodies = o.discard, o.discard
	flags := map[string]string{
		"upstream.api":   r.api.URL,
		"upstream.login": r.login.URL,
	}
	for k, v := range o.flags {
		flags[k] = v
	}
	mgr, err := config.NewManager(config.Options{Flags: flags}, nil)
	if err != nil {
		t.Fatalf("config.NewManager(%v): %v", flags, err)
	}
	r.mgr = mgr
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := proxy.New(proxy.Options{Config: mgr, Logger: log, Observer: o.observer})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	r.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen on loopback: %v", err)
	}
	r.addr = ln.Addr().String()
	r.serveErr = make(chan error, 1)
	go func() { r.serveErr <- srv.Serve(ln) }()
	t.Cleanup(r.stop)
	return r
}

// stop shuts the proxy down and waits for Serve to return. It may be
// called more than once.
func (r *rig) stop() {
	r.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			r.t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-r.serveErr:
			if err != nil {
				r.t.Errorf("Serve returned %v, want nil after Shutdown", err)
			}
		case <-time.After(ioTimeout):
			r.t.Errorf("Serve did not return within %s of Shutdown", ioTimeout)
		}
	})
}

// do sends raw on a new connection and reads one response.
func (r *rig) do(raw string) *rawResponse {
	r.t.Helper()
	c := dialRaw(r.t, r.addr)
	defer c.Close()
	c.send(raw)
	return c.read()
}

// expand replaces {api}, {login} and {proxy} by the host:port of the API
// upstream, the login upstream and the proxy.
func (r *rig) expand(s string) string {
	return strings.NewReplacer("{api}", r.api.Addr, "{login}", r.login.Addr, "{proxy}", r.addr).Replace(s)
}

// only returns the one request the upstream received, failing the test
// when it received another number.
func only(t testing.TB, name string, u *upstreamtest.Upstream) upstreamtest.Request {
	t.Helper()
	u.Wait(1, ioTimeout)
	reqs := u.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%s upstream received %d requests, want 1: %s", name, len(reqs), targets(reqs))
	}
	return reqs[0]
}

// none fails the test when the upstream received anything. It gives the
// proxy a moment to forward what it should not have.
func none(t testing.TB, name string, u *upstreamtest.Upstream) {
	t.Helper()
	if u.Wait(1, 100*time.Millisecond) {
		t.Errorf("%s upstream received %s, want nothing", name, targets(u.Requests()))
	}
}

func targets(reqs []upstreamtest.Request) string {
	var s []string
	for _, r := range reqs {
		s = append(s, r.Method+" "+r.Target)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// rawConn is a client connection that writes exact bytes and parses
// responses itself, keeping header names in their case and order.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
	// head makes read expect no body (the request was HEAD).
	head bool
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	return &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

func (c *rawConn) Close() error { return c.c.Close() }

func (c *rawConn) send(raw string) {
	c.t.Helper()
	c.head = strings.HasPrefix(raw, "HEAD ")
	if _, err := io.WriteString(c.c, raw); err != nil {
		c.t.Fatalf("writing the request: %v", err)
	}
}

// rawResponse is one response as it arrived.
type rawResponse struct {
	Proto  string
	Status int
	// Raw is the status line and header block with the blank line.
	Raw     []byte
	Header  []upstreamtest.Header
	Body    []byte
	Chunked bool
}

// Get returns the values of every header named name (case-insensitively).
func (r *rawResponse) Get(name string) []string {
	var out []string
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Get1 returns the single value of a header, "" when absent; it fails the
// test when there are several.
func (r *rawResponse) Get1(t testing.TB, name string) string {
	t.Helper()
	v := r.Get(name)
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	t.Errorf("response has %d %s headers (%q), want at most 1", len(v), name, v)
	return v[0]
}

func (c *rawConn) read() *rawResponse {
	c.t.Helper()
	r, err := c.readErr()
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	return r
}

func (c *rawConn) readErr() (*rawResponse, error) {
	r, err := readHead(c.br)
	if err != nil {
		return nil, err
	}
	body, err := readBody(c.br, r, c.head)
	r.Body = body
	return r, err
}

// readHead reads a status line and header block.
func readHead(br *bufio.Reader) (*rawResponse, error) {
	var raw bytes.Buffer
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("status line: %w", err)
	}
	raw.WriteString(line)
	proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil {
		return nil, fmt.Errorf("status line %q: %w", line, err)
	}
	r := &rawResponse{Proto: proto, Status: status}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		raw.WriteString(line)
		l := strings.TrimRight(line, "\r\n")
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("header line %q has no colon", l)
		}
		r.Header = append(r.Header, upstreamtest.Header{Name: name, Value: strings.TrimSpace(value)})
	}
	r.Raw = raw.Bytes()
	return r, nil
}

// readBody reads the body by the response's framing: chunked,
// Content-Length, or until the connection closes.
func readBody(br *bufio.Reader, r *rawResponse, head bool) ([]byte, error) {
	if head || r.Status == 204 || r.Status == 304 || r.Status < 200 {
		return nil, nil
	}
	for _, te := range r.Get("Transfer-Encoding") {
		if strings.EqualFold(te, "chunked") {
			r.Chunked = true
		}
	}
	if r.Chunked {
		var body bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return body.Bytes(), fmt.Errorf("chunk size: %w", err)
			}
			size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
			n, err := strconv.ParseInt(size, 16, 64)
			if err != nil {
				return body.Bytes(), fmt.Errorf("chunk size %q: %w", line, err)
			}
			if n == 0 {
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return body.Bytes(), err
					}
					if strings.TrimRight(l, "\r\n") == "" {
						return body.Bytes(), nil
					}
				}
			}
			if _, err := io.CopyN(&body, br, n); err != nil {
				return body.Bytes(), err
			}
			if _, err := br.Discard(2); err != nil {
				return body.Bytes(), err
			}
		}
	}
	if cl := r.Get("Content-Length"); len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("Content-Length %q: %w", cl[0], err)
		}
		body := make([]byte, n)
		_, err = io.ReadFull(br, body)
		return body, err
	}
	return io.ReadAll(br)
}

// apiError is the Genesys Cloud error body callfix answers with.
type apiError struct {
	Message           string            `json:"message"`
	Code              string            `json:"code"`
	Status            int               `json:"status"`
	MessageWithParams string            `json:"messageWithParams"`
	MessageParams     map[string]string `json:"messageParams"`
	ContextID         string            `json:"contextId"`
	Details           []struct {
		ErrorCode string `json:"errorCode"`
		FieldName string `json:"fieldName"`
	} `json:"details"`
	Errors []json.RawMessage `json:"errors"`
}

// goErrorText are fragments of Go error strings that must never reach a
// client.
var goErrorText = []string{"dial tcp", "connection refused", "connection reset", "EOF", "timeout", "i/o", "read tcp", "write tcp", "127.0.0.1", "fasthttp", "error when", "broken pipe"}

// wantAPIError checks that resp is a callfix error with the status and
// code, in Genesys's format, with contextId equal to X-Request-Id and no
// Go error text; it returns the decoded body.
func wantAPIError(t testing.TB, resp *rawResponse, status int, code string) apiError {
	t.Helper()
	if resp.Status != status {
		t.Errorf("status = %d, want %d; body %s", resp.Status, status, resp.Body)
	}
	if ct := resp.Get1(t, "Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want %q", ct, "application/json")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &keys); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, resp.Body)
	}
	for _, k := range []string{"message", "code", "status", "messageWithParams", "messageParams", "contextId", "details", "errors"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("body lacks %q: %s", k, resp.Body)
		}
	}
	var b apiError
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		t.Fatalf("body does not have the Genesys error shape: %v: %s", err, resp.Body)
	}
	if b.Code != code || b.Status != status {
		t.Errorf("code, status = %q, %d, want %q, %d", b.Code, b.Status, code, status)
	}
	id := resp.Get1(t, "X-Request-Id")
	if id == "" || b.ContextID != id {
		t.Errorf("contextId = %q, X-Request-Id = %q, want them equal and not empty", b.ContextID, id)
	}
	if b.Message == "" || b.MessageWithParams == "" {
		t.Errorf("message = %q, messageWithParams = %q, want both set", b.Message, b.MessageWithParams)
	}
	if b.Errors == nil || len(b.Errors) != 0 {
		t.Errorf("errors = %v, want []", b.Errors)
	}
	for _, frag := range goErrorText {
		if bytes.Contains(bytes.ToLower(resp.Body), []byte(strings.ToLower(frag))) {
			t.Errorf("body contains Go error text %q: %s", frag, resp.Body)
		}
	}
	return b
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// logBuffer collects the proxy's log lines; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// isClosed reports whether err says the peer closed or refused.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "broken pipe")
}
