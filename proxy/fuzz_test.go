package proxy

// FuzzServe feeds raw bytes, as the whole input of one client connection,
// to a Server in memory, in front of in-memory upstreams that parse what
// they receive strictly:
//
//	go test ./proxy -run '^$' -fuzz '^FuzzServe$' -fuzztime 60s
//
// It asserts that nothing panics (a recovered panic is logged, and fails
// the run), that one client request never makes more than one upstream
// request, and that no forwarded request has obs-fold, a bare LF, a header
// name that is not a token, or ambiguous framing (RFC 9112 sections 5 and
// 6): what callfix sends must be read the same way by any HTTP/1.1 parser.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/callfix/callfix/config"
)

var fuzzSeeds = []string{
	"GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\n",
	"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n{\"phoneNumber\":\"5551234567\"}",
	"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1c\r\n{\"phoneNumber\":\"5551234567\"}\r\n0\r\n\r\n",
	"POST /oauth/token HTTP/1.1\r\nHost: c\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials",
	"POST /api/v2/x HTTP/1.1\r\nHost: c\r\nX-Fold: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 47\r\n\r\n0\r\n\r\nGET /api/v2/smuggled HTTP/1.1\r\nHost: c\r\n\r\n",
	"POST /api/v2/x HTTP/1.1\r\nHost: c\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v2/smuggled HTTP/1.1\r\nHost: c\r\n\r\n",
	"POST /api/v2/x HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX5\r\nworld\r\n0\r\n\r\n",
	"POST /api/v2/x HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Auth: a\x01\r\n\r\n",
	"GET /api/v2/users/me HTTP/1.1\nHost: c\n\n",
	"GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nX: y\n\nGET /api/v2/x HTTP/1.1\r\nHost: c\r\n\r\n",
	"GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\nGET /api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\n",
	"POST /api/v2/conversations/%63alls HTTP/1.1\r\nHost: c\r\nContent-Length: 2\r\n\r\n{}",
	"POST /oauth/../api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Length: 2\r\n\r\n{}",
	"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Encoding: identity, gzip\r\nContent-Length: 2\r\n\r\n{}",
	"POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
	"GET http://elsewhere/api/v2/users/me HTTP/1.1\r\nHost: user@elsewhere:99999\r\n\r\n",
	"GET /api/v2/users/me HTTP/2.0\r\nHost: c\r\n\r\n",
	"GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nX A: b\r\n\r\n",
	"\r\n\r\nGET /api/v2/users/me HTTP/1.0\r\n\r\n",
	"PUT /api/v2/x HTTP/1.1\r\nHost: c\r\nConnection: close, X-A\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc",
}

func FuzzServe(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	fx := newFuzzRig(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		fx.run(t, raw)
	})
}

// fuzzRig is a Server listening in memory, in front of strict in-memory
// upstreams, shared by every input of a fuzzing run.
type fuzzRig struct {
	srv     *Server
	ln      *fuzzListener
	handled atomic.Int64 // client requests that reached the handler
	sent    atomic.Int64 // complete requests the upstreams parsed
	twice   atomic.Int64 // handler runs during which two requests went upstream
	panics  atomic.Int64

	mu      sync.Mutex
	bad     []string // what the upstreams found wrong in a request
	upConns sync.WaitGroup
}

func newFuzzRig(tb testing.TB) *fuzzRig {
	fx := &fuzzRig{ln: newFuzzListener()}
	flags := map[string]string{"upstream.api": "http://127.0.0.1:1", "upstream.login": "http://127.0.0.2:1",
		"upstream.timeout": "2s", "server.read_timeout": "2s", "limits.max_body_bytes": "4KiB"}
	mgr, err := config.NewManager(config.Options{Flags: flags}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(fuzzPanicHandler{&fx.panics})
	srv, err := newServer(Options{Config: mgr, Logger: log}, fx.dial)
	if err != nil {
		tb.Fatal(err)
	}
	fx.srv = srv
	srv.srv.Handler = func(ctx *fasthttp.RequestCtx) {
		fx.handled.Add(1)
		before := fx.sent.Load()
		srv.serveHTTP(ctx)
		// The upstream parsed this request before it answered, and callfix
		// waits for the answer; a second one is a request too many.
		if fx.sent.Load()-before > 1 {
			fx.twice.Add(1)
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(fx.ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		fx.ln.Close()
		<-done
	})
	return fx
}

// run serves raw as one connection and checks what reached the upstreams.
func (fx *fuzzRig) run(t *testing.T, raw []byte) {
	handled, sent := fx.handled.Load(), fx.sent.Load()
	c := &fuzzConn{in: bytes.NewReader(raw), closed: make(chan struct{})}
	fx.ln.conns <- c
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the connection was not closed 10s after its input ended: %q", raw)
	}
	// Close the pooled upstream connections and let the upstreams parse
	// everything they were sent (a request smuggled behind another).
	st := fx.srv.state.Load()
	st.api.client.CloseIdleConnections()
	st.login.client.CloseIdleConnections()
	waited := make(chan struct{})
	go func() { fx.upConns.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatalf("upstream connections still open 10s after the client's closed: %q", raw)
	}

	if n := fx.panics.Swap(0); n > 0 {
		t.Fatalf("%d panics (recovered) serving %q", n, raw)
	}
	if n := fx.twice.Swap(0); n > 0 {
		t.Fatalf("one client request sent two requests upstream: %q", raw)
	}
	if h, s := fx.handled.Load()-handled, fx.sent.Load()-sent; s > h {
		t.Fatalf("%d client requests handled, %d requests upstream: %q", h, s, raw)
	}
	fx.mu.Lock()
	bad := fx.bad
	fx.bad = nil
	fx.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("forwarded %q as: %v", raw, bad)
	}
}

// dial connects the proxy to a strict in-memory upstream.
func (fx *fuzzRig) dial(string) (net.Conn, error) {
	pc := fasthttputil.NewPipeConns()
	fx.upConns.Add(1)
	go func() {
		defer fx.upConns.Done()
		c := pc.Conn2()
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			err := readStrict(br)
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttputil.ErrConnectionClosed) {
				return // the end, or a request cut off: never complete
			}
			if err != nil {
				fx.mu.Lock()
				fx.bad = append(fx.bad, err.Error())
				fx.mu.Unlock()
				return
			}
			fx.sent.Add(1)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
				return
			}
		}
	}()
	return pc.Conn1(), nil
}

// readStrict reads one request as a strict HTTP/1.1 parser would, and
// fails on anything two parsers could read differently.
func readStrict(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if len(line) > 0 && err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) || bytes.Count(line, []byte(" ")) != 2 {
		return fmt.Errorf("request line %q", line)
	}
	cl, te := -1, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) || bytes.IndexByte(line[:len(line)-2], '\r') >= 0 {
			return fmt.Errorf("header line %q does not end in one CRLF", line)
		}
		line = line[:len(line)-2]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fmt.Errorf("obs-fold %q", line)
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isTokenName(line[:colon]) {
			return fmt.Errorf("header name in %q", line)
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return fmt.Errorf("control character in %q", line)
			}
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if cl >= 0 || err != nil || n < 0 {
				return fmt.Errorf("Content-Length %q (another: %v)", value, cl >= 0)
			}
			cl = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if te || !bytes.Equal(value, []byte("chunked")) {
				return fmt.Errorf("Transfer-Encoding %q", value)
			}
			te = true
		}
	}
	if te && cl >= 0 {
		return errors.New("both Content-Length and Transfer-Encoding")
	}
	if !te {
		if cl > 0 {
			if _, err := io.CopyN(io.Discard, br, int64(cl)); err != nil {
				return io.ErrUnexpectedEOF
			}
		}
		return nil
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return io.ErrUnexpectedEOF
		}
		size, err := strconv.ParseUint(string(bytes.TrimSuffix(line, []byte("\r\n"))), 16, 32)
		if err != nil || !bytes.HasSuffix(line, []byte("\r\n")) {
			return fmt.Errorf("chunk size line %q", line)
		}
		if size == 0 {
			if line, err = br.ReadSlice('\n'); err != nil {
				return io.ErrUnexpectedEOF
			}
			if string(line) != "\r\n" {
				return fmt.Errorf("trailer %q", line)
			}
			return nil
		}
		if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
			return io.ErrUnexpectedEOF
		}
		var crlf [2]byte
		if _, err := io.ReadFull(br, crlf[:]); err != nil {
			return io.ErrUnexpectedEOF
		}
		if string(crlf[:]) != "\r\n" {
			return fmt.Errorf("chunk not followed by CRLF: %q", crlf)
		}
	}
}

// fuzzPanicHandler counts the log records of recovered panics.
type fuzzPanicHandler struct{ n *atomic.Int64 }

func (h fuzzPanicHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h fuzzPanicHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return nil
}
func (h fuzzPanicHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h fuzzPanicHandler) WithGroup(string) slog.Handler      { return h }

// fuzzListener hands the server the connections run makes.
type fuzzListener struct {
	conns chan *fuzzConn
	done  chan struct{}
	once  sync.Once
}

func newFuzzListener() *fuzzListener {
	return &fuzzListener{conns: make(chan *fuzzConn), done: make(chan struct{})}
}

func (l *fuzzListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fuzzListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *fuzzListener) Addr() net.Addr { return fuzzAddr{} }

// fuzzConn is a client that sends its input, then closes its side: reads
// return the input, then EOF; what the server writes is dropped.
type fuzzConn struct {
	in     *bytes.Reader
	closed chan struct{}
	once   sync.Once
}

func (c *fuzzConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fuzzConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return fuzzAddr{} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4000} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "memory" }
func (fuzzAddr) String() string  { return "memory" }
