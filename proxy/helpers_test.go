package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
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
	logs       *testsupport.Buffer
	file       string // the config file, when rigOptions.file was set

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
	// dial, when set, opens the upstream connections (proxy.NewWithDial).
	dial func(addr string) (net.Conn, error)
	// telemetry, when set, builds the proxy's telemetry from the loaded
	// configuration; it is wired as callfix serve wires it (reload counts)
	// and shut down after the proxy.
	telemetry func(*config.Config) *telemetry.Telemetry
	// file, when set, returns the YAML of a config file given the
	// upstreams' URLs; the upstream URLs are then the file's business and
	// are not set as flags. The file is r.file, for reload tests.
	file func(api, login string) string
}

// startRig starts the upstreams and the proxy; everything is shut down
// when the test ends (the proxy first, so that it can finish its work).
func startRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, logs: &testsupport.Buffer{}}
	r.api = upstreamtest.Start(t, o.api)
	r.login = upstreamtest.Start(t, o.login)
	r.api.DiscardBodies, r.login.DiscardBodies = o.discard, o.discard
	// Publish the settings to the upstreams' connection goroutines: they
	// take the same lock before they start.
	r.api.Count()
	r.login.Count()
	flags := map[string]string{
		"upstream.api":   r.api.URL,
		"upstream.login": r.login.URL,
	}
	var file string
	if o.file != nil {
		flags = map[string]string{}
		r.file = filepath.Join(t.TempDir(), "callfix.yaml")
		r.writeFile(o.file(r.api.URL, r.login.URL))
		file = r.file
	}
	// The rigs' numbers are 555 test numbers, which are possible but not
	// assigned: validation possible, as for any test rig, unless a test
	// asks for a level itself.
	if _, ok := flags["validation"]; !ok && o.file == nil {
		flags["validation"] = "possible"
	}
	for k, v := range o.flags {
		flags[k] = v
	}
	mgr, err := config.NewManager(config.Options{File: file, Flags: flags}, nil)
	if err != nil {
		t.Fatalf("config.NewManager(%v): %v", flags, err)
	}
	r.mgr = mgr
	var tel *telemetry.Telemetry
	if o.telemetry != nil {
		c := mgr.Current().Config
		tel = o.telemetry(&c)
		mgr.OnReload(tel.ConfigReloaded)
		t.Cleanup(func() { // after r.stop, registered below
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tel.Shutdown(ctx)
		})
	}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := proxy.NewWithDial(proxy.Options{Config: mgr, Logger: log, Observer: o.observer, Telemetry: tel}, o.dial)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	mgr.SetApply(srv.Apply) // as internal/cli wires it
	r.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot listen on loopback: %v", err)
	}
	r.addr = ln.Addr().String()
	r.serveErr = make(chan error, 1)
	go func() { r.serveErr <- srv.Serve(ln) }()
	t.Cleanup(r.stop)
	if !waitFor(srv.Ready) {
		t.Fatalf("the proxy is not ready a second after Serve")
	}
	return r
}

// writeFile replaces the config file's contents.
func (r *rig) writeFile(yaml string) {
	r.t.Helper()
	if err := os.WriteFile(r.file, []byte(yaml), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// stop shuts the proxy down and waits for Serve to return. It may be
// called more than once, and after the test called Shutdown itself.
func (r *rig) stop() {
	r.stopOnce.Do(func() {
		deadline := time.Now().Add(ioTimeout)
		for {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			err := r.srv.Shutdown(ctx)
			cancel()
			if err != nil {
				r.t.Errorf("Shutdown: %v", err)
			}
			select {
			case err := <-r.serveErr:
				if err != nil {
					r.t.Errorf("Serve returned %v, want nil after Shutdown", err)
				}
				return
			case <-time.After(100 * time.Millisecond):
				// Shutdown ran before Serve had registered its listener:
				// fasthttp then returns at once and Serve carries on.
			}
			if time.Now().After(deadline) {
				r.t.Errorf("Serve did not return within %s of Shutdown", ioTimeout)
				return
			}
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
		m, err := io.ReadFull(br, body)
		return body[:m], err
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
var goErrorText = []string{"dial tcp", "connection refused", "connection reset", "EOF", "i/o timeout", "read tcp", "write tcp", "readfrom tcp",
	"broken pipe", "use of closed network connection", "context deadline exceeded", "127.0.0.1", "fasthttp", "error when", "x509", "tls:"}

// wantAPIError checks that resp is a callfix error with the status and
// code, in Genesys's format, with contextId equal to X-Request-Id and no
// Go error text; it returns the decoded body. name prefixes the messages.
func wantAPIError(t testing.TB, name string, resp *rawResponse, status int, code string) apiError {
	t.Helper()
	if resp.Status != status {
		t.Errorf("%s: status = %d, want %d; body %s", name, resp.Status, status, resp.Body)
	}
	if ct := resp.Get1(t, "Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type = %q, want %q", name, ct, "application/json")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &keys); err != nil {
		t.Errorf("%s: body is not JSON: %v: %q", name, err, resp.Body)
		return apiError{}
	}
	for _, k := range []string{"message", "code", "status", "messageWithParams", "messageParams", "contextId", "details", "errors"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("%s: body lacks %q: %s", name, k, resp.Body)
		}
	}
	var b apiError
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		t.Errorf("%s: body does not have the Genesys error shape: %v: %s", name, err, resp.Body)
		return apiError{}
	}
	if b.Code != code || b.Status != status {
		t.Errorf("%s: code, status = %q, %d, want %q, %d", name, b.Code, b.Status, code, status)
	}
	id := resp.Get1(t, "X-Request-Id")
	if id == "" || b.ContextID != id {
		t.Errorf("%s: contextId = %q, X-Request-Id = %q, want them equal and not empty", name, b.ContextID, id)
	}
	if corr := resp.Get1(t, "ININ-Correlation-Id"); corr != b.ContextID {
		t.Errorf("%s: ININ-Correlation-Id = %q, want the contextId %q (SDKs read it into their errors)", name, corr, b.ContextID)
	}
	if b.Message == "" || b.MessageWithParams == "" {
		t.Errorf("%s: message = %q, messageWithParams = %q, want both set", name, b.Message, b.MessageWithParams)
	}
	if b.Errors == nil || len(b.Errors) != 0 {
		t.Errorf("%s: errors = %s, want []", name, keys["errors"])
	}
	for _, frag := range goErrorText {
		if bytes.Contains(bytes.ToLower(resp.Body), []byte(strings.ToLower(frag))) {
			t.Errorf("%s: body contains Go error text %q: %s", name, frag, resp.Body)
		}
	}
	return b
}

// oauthError is the login host's error body.
type oauthError struct {
	Error            string `json:"error"`
	Description      string `json:"description"`
	ErrorDescription string `json:"error_description"`
}

// wantOAuthError checks that resp is a callfix error with the status in
// the OAuth format of Genesys's login host: exactly error (code),
// description and error_description (the same message), with X-Request-Id
// and ININ-Correlation-Id equal and not empty, and no Go error text.
func wantOAuthError(t testing.TB, name string, resp *rawResponse, status int, code string) oauthError {
	t.Helper()
	if resp.Status != status {
		t.Errorf("%s: status = %d, want %d; body %s", name, resp.Status, status, resp.Body)
	}
	if ct := resp.Get1(t, "Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type = %q, want %q", name, ct, "application/json")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &keys); err != nil {
		t.Errorf("%s: body is not JSON: %v: %q", name, err, resp.Body)
		return oauthError{}
	}
	if len(keys) != 3 {
		t.Errorf("%s: body has %d fields, want error, description and error_description: %s", name, len(keys), resp.Body)
	}
	var b oauthError
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		t.Errorf("%s: body does not have the OAuth error shape: %v: %s", name, err, resp.Body)
		return oauthError{}
	}
	if b.Error != code {
		t.Errorf("%s: error = %q, want %q: %s", name, b.Error, code, resp.Body)
	}
	if b.Description == "" || b.ErrorDescription != b.Description {
		t.Errorf("%s: description = %q, error_description = %q, want the same message in both", name, b.Description, b.ErrorDescription)
	}
	id := resp.Get1(t, "X-Request-Id")
	if corr := resp.Get1(t, "ININ-Correlation-Id"); id == "" || corr != id {
		t.Errorf("%s: X-Request-Id = %q, ININ-Correlation-Id = %q, want them equal and not empty", name, id, corr)
	}
	for _, frag := range goErrorText {
		if bytes.Contains(bytes.ToLower(resp.Body), []byte(strings.ToLower(frag))) {
			t.Errorf("%s: body contains Go error text %q: %s", name, frag, resp.Body)
		}
	}
	return b
}

// wantError is wantAPIError, or wantOAuthError with the OAuth code for the
// status when login is true.
func wantError(t testing.TB, name string, resp *rawResponse, login bool, status int, code string) {
	t.Helper()
	if !login {
		wantAPIError(t, name, resp, status, code)
		return
	}
	oauth := "invalid_request"
	switch {
	case status == 502 || status == 503 || status == 504:
		oauth = "temporarily_unavailable"
	case status >= 500:
		oauth = "server_error"
	}
	wantOAuthError(t, name, resp, status, oauth)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
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

// request returns a request with the headers in the order given, a Host
// header first, and a Content-Length for body unless a header names the
// framing already.
func request(method, target string, body []byte, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: client.example\r\n")
	framed := false
	for _, h := range headers {
		name, _, _ := strings.Cut(h, ":")
		if strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") {
			framed = true
		}
		b.WriteString(h + "\r\n")
	}
	if !framed && (body != nil || method == "POST" || method == "PUT") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.String()
}

// chunk frames body in chunks of at most n bytes.
func chunk(body []byte, n int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		k := min(len(body), n)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// recorder is an Observer that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []proxy.Record
}

func (o *recorder) Intercepted(r *proxy.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recs = append(o.recs, *r)
}

func (o *recorder) records() []proxy.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]proxy.Record(nil), o.recs...)
}

// waitFor polls cond for up to a second.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// wantErrorForRaw is wantAPIError, or wantOAuthError when raw's request
// target is a login route (/oauth/…): callfix answers each route in its
// host's error shape. For a login route the returned apiError holds only
// the message (the OAuth description).
func wantErrorForRaw(t testing.TB, name string, resp *rawResponse, raw string, status int, code string) apiError {
	t.Helper()
	line, _, _ := strings.Cut(raw, "\r\n")
	_, target, _ := strings.Cut(line, " ")
	path, _, _ := strings.Cut(target, "?")
	if !strings.HasPrefix(target, "/oauth/") || pathProblemForTest(path) {
		// Not routed to the login host: a path not in normal form is not
		// routed at all.
		return wantAPIError(t, name, resp, status, code)
	}
	wantError(t, name, resp, true, status, code)
	var o oauthError
	_ = json.Unmarshal(resp.Body, &o)
	return apiError{Message: o.Description}
}

// pathProblemForTest reports whether a path is not in normal form, as the
// proxy decides it (the tests are in package proxy_test).
func pathProblemForTest(path string) bool { return proxy.PathNotNormal(path) }
